// Claim 8's first half: with every connection active, does epoll process
// data faster than select and poll? req/s and CPU per request at 16 ... 1000
// busy connections.
import { csv, grid, pivot, round, type Column, type GridRow } from '../../format';
import { lineChartSvg } from '../svg';
import { COARSE_TICKS } from '../proc';

/** Under a table with a coarse CPU figure. */
export const COARSE_NOTE = `~: less than ${COARSE_TICKS * 10} ms of server CPU in the window: coarse.`;
import { figureText, type Figure } from '../rounds';
import { cpuOf, cpuRangeFigure, errorsOf, per, roundsNote, rpsOf, spreadCsv, SPREAD_CSV, sweep, sweepFailures, whisker, type Experiment, type ExperimentOptions, type LoadPoint, type TableFormat } from './runner';

export const BUSY_MODELS = ['select', 'poll', 'epoll-level'];
/** select stops short of FD_SETSIZE (1024) with the server's own fds. */
export const BUSY_COUNTS = [16, 64, 256, 1000];
const CLAIMS_COUNTS = [16, 256, 1000];
const QUICK_COUNTS = [16, 64];

function run(o: ExperimentOptions): Promise<LoadPoint[]> {
  const counts = o.scale === 'quick' ? QUICK_COUNTS : o.scale === 'claims' ? CLAIMS_COUNTS : BUSY_COUNTS;
  const cases = counts.flatMap((x) => BUSY_MODELS.map((name) => ({ name, x })));
  return sweep(cases, o.warmupMs + o.durationMs, (c) => ({
    label: `${c.name}, ${c.x} busy connections`,
    load: { mode: 'rr', connections: c.x, messageSize: o.messageSize, durationMs: o.durationMs, warmupMs: o.warmupMs },
    options: { expectOpen: c.x },
  }));
}

/** Wakeups (returns from the wait syscall) per request. */
export function wakeupsPerReq(p: LoadPoint): number | undefined {
  return per(p.counters?.syscalls.wait, p.report?.requests ?? 0);
}

export function connectionsTable(points: LoadPoint[], format: TableFormat, xTitle: string, extra?: (p: LoadPoint) => string): string {
  if (format === 'csv') {
    return csv(
      ['model', xTitle.replace(/ /g, '_'), 'rps', 'cpu_us_per_req', 'wakeups_per_req', 'p50_us', 'p99_us', 'connected', 'errors', 'skipped', ...SPREAD_CSV],
      points.map((p) => [
        p.model,
        p.x,
        round(p.report?.rps, 0),
        round(p.cpuUsPerReq, 2),
        round(wakeupsPerReq(p), 3),
        p.report?.latencyUs.p50,
        p.report?.latencyUs.p99,
        p.report?.connected,
        p.report ? errorsOf(p.report) : undefined,
        p.skipped,
        ...spreadCsv(rpsOf(p), cpuOf(p), 2),
      ]),
    );
  }
  const t = pivot(points, (p) => p.x, (p) => p.model, { rows: true });
  const spread = points.some((p) => p.runs);
  const columns: Column[] = [{ title: xTitle, width: 8 }, ...t.cols.map((m) => ({ title: `${m}: req/s (cpu us/req)${spread ? ' [range]' : ''}`, width: spread ? 44 : 30 }))];
  const rows: GridRow[] = t.cells(String, (p) => {
    if (!p.report) return `skipped: ${p.skipped}`;
    const errors = errorsOf(p.report);
    return `${figureText(rpsOf(p))} (${cpuRangeFigure(cpuOf(p), p.cpuTicks, 2)})${extra ? extra(p) : ''}${errors ? ` ${errors} errors` : ''}`;
  });
  const notes = [spread ? roundsNote(points) : '', points.some((p) => p.report && p.cpuTicks !== undefined && p.cpuTicks < COARSE_TICKS) ? COARSE_NOTE : ''];
  return `${grid(format, columns, rows)}${notes.filter(Boolean).map((n) => `\n${n}`).join('')}`;
}

export function connectionsSvg(points: LoadPoint[], title: string, xLabel: string): string {
  const models = [...new Set(points.map((p) => p.model))];
  const panel = (yLabel: string, y: (p: LoadPoint) => Figure | undefined) => ({
    yLabel,
    series: models
      .map((name) => ({ name, points: points.filter((p) => p.model === name && p.report && y(p) !== undefined).map((p) => ({ x: p.x, ...whisker(y(p)!) })) }))
      .filter((s) => s.points.length > 0),
  });
  return lineChartSvg(title, xLabel, [panel('requests/s', rpsOf), panel('server CPU per request (us)', cpuOf)]);
}

export const busy: Experiment<LoadPoint> = {
  name: 'busy',
  summary: 'N = 16 ... 1000 connections, all active (rr): req/s and CPU per request for select, poll, epoll',
  run,
  table: (points, format) => connectionsTable(points, format, 'busy'),
  svg: (points) => connectionsSvg(points, 'Every connection busy (rr)', 'busy connections'),
  failures: (points) => sweepFailures(points, (p) => `${p.model}, ${p.x} busy`),
};
