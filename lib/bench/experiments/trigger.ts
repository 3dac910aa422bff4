// Claim 9: level- vs edge-triggered epoll. Per request: returns from
// epoll_wait, recv and send calls, and recv calls that found nothing (EAGAIN).
import { csv, fmt, grid, round, type Column } from '../../format';
import { COARSE_TICKS } from '../proc';
import { figureText, type Figure } from '../rounds';
import { barChartSvg, type BarPanel } from '../svg';
import { COARSE_NOTE } from './busy';
import { cpuOf, cpuRangeFigure, per, roundsNote, rpsOf, spreadCsv, SPREAD_CSV, sweep, sweepFailures, errorsOf, type Experiment, type ExperimentOptions, type LoadPoint, type TableFormat } from './runner';

/** A bar from a figure: the median, with a whisker over the rounds. */
const bar = (f: Figure) => (f.n > 1 ? { value: f.median, min: f.min, max: f.max } : { value: f.median });

export const TRIGGER_CONNECTIONS = [1, 64, 1000];
export const TRIGGER_SIZES = [64, 65536];
const QUICK_CONNECTIONS = [1, 64];

export interface PerRequest {
  wakeups?: number;
  recv?: number;
  send?: number;
  eagain?: number;
}

/** A point's syscalls per request (stats().syscalls: every call, EAGAIN ones included). */
export function perRequest(p: LoadPoint): PerRequest {
  const n = p.report?.requests ?? 0;
  const s = p.counters?.syscalls;
  return { wakeups: per(s?.wait, n), recv: per(s?.recv, n), send: per(s?.send, n), eagain: per(s?.eagain, n) };
}

function run(o: ExperimentOptions): Promise<LoadPoint[]> {
  const cases = TRIGGER_SIZES.flatMap((size) =>
    (o.scale === 'quick' ? QUICK_CONNECTIONS : TRIGGER_CONNECTIONS).flatMap((x) => ['epoll-level', 'epoll-edge'].map((name) => ({ name, x, size }))),
  );
  return sweep(cases, o.warmupMs + o.durationMs, (c) => ({
    label: `${c.name}, ${c.x} connections, ${c.size} B`,
    load: { mode: 'rr', connections: c.x, messageSize: c.size!, durationMs: o.durationMs, warmupMs: o.warmupMs },
    options: { expectOpen: c.x },
  }));
}

const size = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

function table(points: LoadPoint[], format: TableFormat): string {
  if (format === 'csv') {
    return csv(
      ['trigger', 'connections', 'size', 'rps', 'cpu_us_per_req', 'wakeups_per_req', 'recv_per_req', 'send_per_req', 'eagain_per_req', 'errors', 'skipped', ...SPREAD_CSV],
      points.map((p) => {
        const r = perRequest(p);
        return [p.model, p.x, p.size, round(p.report?.rps, 0), round(p.cpuUsPerReq, 2), round(r.wakeups, 3), round(r.recv, 3), round(r.send, 3), round(r.eagain, 3), p.report ? errorsOf(p.report) : undefined, p.skipped, ...spreadCsv(rpsOf(p), cpuOf(p), 2)];
      }),
    );
  }
  const spread = points.some((p) => p.runs);
  const columns: Column[] = [
    { title: 'trigger', width: 11, left: true },
    { title: 'conns', width: 5 },
    { title: 'size', width: 6 },
    { title: spread ? 'req/s [range]' : 'req/s', width: spread ? 22 : 9 },
    { title: spread ? 'cpu us/req [range]' : 'cpu us/req', width: spread ? 22 : 10 },
    { title: 'wakeups/req', width: 11 },
    { title: 'recv/req', width: 11 },
    { title: 'send/req', width: 11 },
    { title: 'eagain/req', width: 10 },
  ];
  const coarse = points.some((p) => p.report && p.cpuTicks !== undefined && p.cpuTicks < COARSE_TICKS);
  const body = grid(
    format,
    columns,
    points.map((p) => {
      if (!p.report) return { label: p.model, note: `${p.x} connections, ${size(p.size!)}: skipped: ${p.skipped}` };
      const r = perRequest(p);
      return [p.model, String(p.x), size(p.size!), figureText(rpsOf(p)), cpuRangeFigure(cpuOf(p), p.cpuTicks, 2), fmt(r.wakeups, 2), fmt(r.recv, 2), fmt(r.send, 2), fmt(r.eagain, 2)];
    }),
  );
  return [body, spread ? roundsNote(points) : '', coarse ? COARSE_NOTE : ''].filter(Boolean).join('\n');
}

function svg(points: LoadPoint[]): string {
  const ran = points.filter((p) => p.report);
  const label = (p: LoadPoint) => `${p.model.replace('epoll ', '')} ${p.x}c ${size(p.size!)}`;
  const panels: BarPanel[] = [{ axis: 'requests/s', bars: ran.map((p) => ({ label: label(p), ...bar(rpsOf(p)!) })) }];
  const add = (axis: string, v: (r: PerRequest) => number | undefined) => {
    const bars = ran.filter((p) => v(perRequest(p)) !== undefined).map((p) => ({ label: label(p), value: v(perRequest(p))! }));
    if (bars.length) panels.push({ axis, bars, label: (x) => x.toFixed(2) });
  };
  add('wakeups per request', (r) => r.wakeups);
  add('recv calls per request', (r) => r.recv);
  add('EAGAIN per request', (r) => r.eagain);
  return barChartSvg('epoll: level- vs edge-triggered', panels);
}

export const trigger: Experiment<LoadPoint> = {
  name: 'trigger',
  summary: 'epoll level vs edge at 1/64/1000 connections, 64 B and 64 KiB: req/s, wakeups, recv, send, EAGAIN per request',
  run,
  table,
  svg,
  failures: (points) => sweepFailures(points, (p) => `${p.model}, ${p.x} connections, ${p.size} B`),
};
