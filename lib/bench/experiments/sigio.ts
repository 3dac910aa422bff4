// Signal-driven I/O against epoll and poll: the same 64 B round trips, busy
// and beside idle connections; then sigio with RLIMIT_SIGPENDING lowered
// (prlimit on the server's process), where its queue overflows and each
// overflow costs a drain and a poll() rescan.
import { execFileSync } from 'node:child_process';

import { columns, csv, fmt, grid, round } from '../../format';
import { COARSE_TICKS } from '../proc';
import { Progress, START_STOP_MS } from '../progress';
import { barChartSvg, type BarPanel } from '../svg';
import { startTarget } from '../targets';
import { COARSE_NOTE, wakeupsPerReq } from './busy';
import { cpuFigure, errorsOf, measuredPoint, measureLoad, per, sweepFailures, target, type Experiment, type ExperimentOptions, type LoadPoint, type TableFormat } from './runner';

export const SIGIO_MODELS = ['sigio', 'sigio-signalfd', 'epoll-level', 'poll'];
const SIGIO_ROWS = ['sigio', 'sigio-signalfd'];
/** Busy connections; and idle ones beside one active. */
export const SIGIO_BUSY = [64, 1000];
export const SIGIO_IDLE = 1000;
/** RLIMIT_SIGPENDING for the overflow points, at 1000 busy connections. */
export const SIGIO_LIMIT = 64;

export interface SigioPoint extends LoadPoint {
  load: 'busy' | 'idle';
  /** RLIMIT_SIGPENDING of the server's process, when lowered. */
  limit?: number;
  /** Rounds measured; the point is the one with the median CPU per request. */
  rounds?: number;
}

interface Case {
  name: string;
  load: 'busy' | 'idle';
  x: number;
  limit?: number;
}

function cases(o: ExperimentOptions): Case[] {
  const quick = o.scale === 'quick';
  const busy = quick ? [64] : SIGIO_BUSY;
  return [
    ...busy.flatMap((x) => SIGIO_MODELS.map((name) => ({ name, load: 'busy' as const, x }))),
    ...(quick ? [] : SIGIO_MODELS.map((name) => ({ name, load: 'idle' as const, x: SIGIO_IDLE }))),
    ...SIGIO_ROWS.map((name) => ({ name, load: 'busy' as const, x: quick ? 64 : 1000, limit: SIGIO_LIMIT })),
  ];
}

function prlimit(pid: number, limit: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--sigpending=${limit}:${limit}`], { stdio: 'ignore' });
}

async function measure(c: Case, o: ExperimentOptions, onProgress: Progress['update']): Promise<SigioPoint> {
  const { target: t, built, why } = target(c.name);
  const base = { model: t.label, x: c.x, load: c.load, ...(c.limit !== undefined ? { limit: c.limit } : {}) };
  if (!built) return { ...base, report: null, skipped: why, unavailable: true };
  const load =
    c.load === 'busy'
      ? { mode: 'rr' as const, connections: c.x, messageSize: o.messageSize, durationMs: o.durationMs, warmupMs: o.warmupMs }
      : { mode: 'hold' as const, idle: c.x, messageSize: o.messageSize, durationMs: o.durationMs, warmupMs: o.warmupMs };
  const server = await startTarget(t, ['--backlog', '8192']);
  try {
    if (c.limit !== undefined) prlimit(server.child.pid!, c.limit);
    const m = await measureLoad(t, { ...load, onProgress }, { server, expectOpen: c.load === 'busy' ? c.x : c.x + 1 });
    return { ...base, ...measuredPoint(m) };
  } catch (err) {
    return { ...base, report: null, skipped: (err as Error).message };
  } finally {
    await server.stop();
  }
}

/** Every case once per round, rounds interleaved; a case's point is its median round by CPU per request. */
async function run(o: ExperimentOptions): Promise<SigioPoint[]> {
  const all = cases(o);
  const rounds = o.rounds ?? 1;
  const progress = new Progress(all.length * rounds, o.warmupMs + o.durationMs + START_STOP_MS);
  const runs: SigioPoint[][] = all.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of all.entries()) {
      progress.begin(`${c.name}, ${c.x} ${c.load}${c.limit ? `, RLIMIT_SIGPENDING ${c.limit}` : ''}`, i + 1, all.length, r + 1, rounds);
      runs[i].push(await measure(c, o, progress.update));
      progress.end();
    }
  }
  return runs.map((points) => {
    const ran = points.filter((p) => p.report && p.cpuUsPerReq !== undefined).sort((a, b) => a.cpuUsPerReq! - b.cpuUsPerReq!);
    // A failed round is shown, not hidden behind the others.
    const failed = points.find((p) => !p.report || errorsOf(p.report) > 0);
    const point = failed ?? ran[(ran.length - 1) >> 1] ?? points[0];
    return { ...point, rounds: points.length };
  });
}

const overflowsPer1k = (p: SigioPoint) => per(p.counters?.overflows !== undefined ? p.counters.overflows * 1000 : undefined, p.report?.requests ?? 0);
const labelOf = (p: SigioPoint) => `${p.model} ${p.load === 'busy' ? `${p.x} busy` : `1 + ${p.x} idle`}${p.limit ? ` lim ${p.limit}` : ''}`;

function table(points: SigioPoint[], format: TableFormat): string {
  if (format === 'csv') {
    return csv(
      ['model', 'load', 'connections', 'sigpending_limit', 'rps', 'cpu_us_per_req', 'wakeups_per_req', 'overflows', 'overflows_per_1k_req', 'errors', 'skipped'],
      points.map((p) => [p.model, p.load, p.x, p.limit, round(p.report?.rps, 0), round(p.cpuUsPerReq, 2), round(wakeupsPerReq(p), 3), p.counters?.overflows, round(overflowsPer1k(p), 2), p.report ? errorsOf(p.report) : undefined, p.skipped]),
    );
  }
  const body = grid(
    format,
    columns(['model', 'load', 'sigpending', 'req/s', 'cpu us/req', 'wakeups/req', 'overflows', 'ovf/1k req'], 2),
    points.map((p) => {
      const load = p.load === 'busy' ? `${p.x} busy` : `1 + ${p.x} idle`;
      if (!p.report) return { label: p.model, note: `${load}: skipped: ${p.skipped}` };
      const sigio = p.counters?.overflows !== undefined;
      return [p.model, load, p.limit ? String(p.limit) : sigio ? 'default' : '-', fmt(p.report.rps), cpuFigure(p.cpuUsPerReq, p.cpuTicks, 2), fmt(wakeupsPerReq(p), 2), sigio ? String(p.counters!.overflows) : '-', sigio ? fmt(overflowsPer1k(p), 2) : '-'];
    }),
  );
  return points.some((p) => p.report && p.cpuTicks !== undefined && p.cpuTicks < COARSE_TICKS) ? `${body}\n${COARSE_NOTE}` : body;
}

function svg(points: SigioPoint[]): string {
  const ran = points.filter((p) => p.report);
  const panels: BarPanel[] = [
    { axis: 'requests/s', bars: ran.map((p) => ({ label: labelOf(p), value: p.report!.rps })) },
    { axis: 'server CPU per request (us)', bars: ran.filter((p) => p.cpuUsPerReq !== undefined).map((p) => ({ label: labelOf(p), value: p.cpuUsPerReq! })), label: (v) => v.toFixed(1) },
    { axis: 'wakeups per request', bars: ran.filter((p) => wakeupsPerReq(p) !== undefined).map((p) => ({ label: labelOf(p), value: wakeupsPerReq(p)! })), label: (v) => v.toFixed(2) },
  ];
  const ovf = ran.filter((p) => overflowsPer1k(p) !== undefined);
  if (ovf.length) panels.push({ axis: 'queue overflows per 1000 requests', bars: ovf.map((p) => ({ label: labelOf(p), value: overflowsPer1k(p)! })), label: (v) => v.toFixed(1) });
  return barChartSvg('Signal-driven I/O (sigio) against epoll and poll', panels.filter((p) => p.bars.length > 0));
}

export const sigio: Experiment<SigioPoint> = {
  name: 'sigio',
  summary: `64 B round trips at ${SIGIO_BUSY.join('/')} busy and 1 beside ${SIGIO_IDLE} idle: sigio (sigwait, signalfd), epoll, poll; then sigio with RLIMIT_SIGPENDING ${SIGIO_LIMIT}: req/s, CPU, wakeups per request, queue overflows`,
  run,
  table,
  svg,
  failures: (points) => sweepFailures(points, (p) => labelOf(p as SigioPoint)),
};
