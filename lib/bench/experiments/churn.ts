// Claim 2: connect, one request, close, as fast as possible. What each
// model pays per connection: fork + exit, a thread's start and join, or
// nothing beyond accept and close (a pool, an event loop).
import { availableParallelism } from 'node:os';

import { csv, fmt, grid, pivot, round, type Column, type GridRow } from '../../format';
import type { LoadReport } from '../../loadgen';
import { MODEL_TABLE, MODELS } from '../../models/index';
import { benchVariants, modelOptions } from '../../spec';
import { COARSE_TICKS } from '../proc';
import { Progress, START_STOP_MS } from '../progress';
import { figure, figureText, interleaved, loadFailed, medianRound, type Figure } from '../rounds';
import { lineChartSvg } from '../svg';
import { rowName, type Target } from '../targets';
import { COARSE_NOTE } from './busy';
import { cpuRangeFigure, errorText, errorsOf, measureLoad, roundsNote, roundsOf, spreadCsv, SPREAD_CSV, target, whisker, type Counters, type Experiment, type ExperimentOptions, type TableFormat } from './runner';

/**
 * The classic texts' ways of taking connections, one row each: a process
 * or thread per connection, a pool of them, a readiness loop. Each runs as
 * a user gets it: its first bench row where that row only spells out the
 * model's defaults ('epoll level'), else the model's defaults (the pools
 * sized by the CPUs, not the bench's 64).
 */
function churnRows(): { target: Target; built: boolean; why?: string }[] {
  return MODELS.filter((m) => {
    const s = MODEL_TABLE[m].spec;
    return s.family !== 'datagram' && !s.serial && (s.waits === 'blocking' || s.waits === 'readiness');
  }).map((m) => {
    const spec = MODEL_TABLE[m].spec;
    const first = benchVariants(spec)[0];
    const options = modelOptions(spec);
    const asDefault = !first.js && Object.entries(first.options).every(([k, v]) => options[k]?.check(k, undefined) === v);
    return asDefault ? target(rowName(first.label)) : target(m, true);
  });
}
export const CHURN_CLIENTS = [1, 16, 64];
const QUICK_CLIENTS = [16];

export interface ChurnPoint {
  model: string;
  clients: number;
  report: LoadReport | null;
  /** Server CPU per accepted connection (a fork server's children included), microseconds. */
  cpuUsPerConn?: number;
  /** The server CPU it comes from, in 10 ms ticks: below COARSE_TICKS, coarse. */
  cpuTicks?: number;
  counters?: Counters;
  /** The server process's resident memory, MiB: what a fork server's fork() copies the page tables of. */
  residentMiB?: number;
  skipped?: string;
  unavailable?: boolean;
  /** Every round, when there were several (the point is the median one). */
  runs?: ChurnPoint[];
  /** With several rounds: connections/s and CPU per connection, median, lowest and highest. */
  spread?: { connPerS?: Figure; cpuUsPerConn?: Figure };
}

/** A point's connections/s over its rounds. */
export const connsOf = (p: ChurnPoint | undefined) => figure(p, (r) => r.report?.rps);
/** A point's server CPU per connection over its rounds. */
export const cpuOf = (p: ChurnPoint | undefined) => figure(p, (r) => r.cpuUsPerConn);

/**
 * Load-generator threads for churn: one per CPU (at most one per client). A
 * churning client pays a TCP handshake and teardown per request, and on
 * loopback the kernel runs most of the server's half of them in the client's
 * system calls: one generator thread spends ~45 us per connection and caps
 * every server near 25k connections/s on 2 cores, hiding what the servers
 * themselves cost (the rr bench's 1 thread per 4 CPUs suits requests that
 * cost the client a send and a recv).
 */
export function churnLoadThreads(clients: number): number {
  return Math.max(1, Math.min(availableParallelism(), clients));
}

/** A fork server's last children are reaped (their CPU moves to cutime) within this. */
const SETTLE_MS = 200;

async function run(o: ExperimentOptions): Promise<ChurnPoint[]> {
  const rows = churnRows();
  const clientCounts = o.scale === 'quick' ? QUICK_CLIENTS : CHURN_CLIENTS;
  const rounds = roundsOf(o);
  const cases = clientCounts.flatMap((clients) => rows.map((row) => ({ clients, ...row })));
  const runnable = cases.filter((c) => c.built).length;
  const progress = new Progress(runnable * rounds, o.warmupMs + o.durationMs + SETTLE_MS + START_STOP_MS);
  let step = 0;
  const tries = await interleaved(cases, rounds, async ({ clients, target: t, built, why }, i, round): Promise<ChurnPoint> => {
    if (i === 0) step = 0;
    if (!built) return { model: t.label, clients, report: null, skipped: why, unavailable: true };
    progress.begin(`${t.label}, ${clients} clients`, ++step, runnable, round, rounds);
    const point = await measure(t, clients, o, progress);
    progress.end();
    return point;
  });
  return tries.map((t) => {
    if (t[0].unavailable) return t[0];
    const p = medianRound(t, (r) => r.report!.rps, loadFailed);
    // The CPU of the point is the rounds' median, not the median round's.
    if (!p.runs) return p;
    const cpu = cpuOf(p);
    return { ...p, cpuUsPerConn: cpu?.median, spread: { connPerS: connsOf(p), cpuUsPerConn: cpu } };
  });
}

async function measure(t: Target, clients: number, o: ExperimentOptions, progress: Progress): Promise<ChurnPoint> {
  try {
    const m = await measureLoad(
      t,
      { mode: 'churn', connections: clients, threads: churnLoadThreads(clients), messageSize: o.messageSize, durationMs: o.durationMs, warmupMs: o.warmupMs, onProgress: progress.update },
      { settleMs: SETTLE_MS },
    );
    // Per connection the server accepted in the window (the load
    // generator's count leaves out the cycles cut off at its end).
    const conns = m.counters?.accepted ?? m.report.requests;
    return {
      model: t.label,
      clients,
      report: m.report,
      cpuUsPerConn: conns > 0 && m.cpuUs !== undefined ? m.cpuUs / conns : undefined,
      cpuTicks: m.cpuTicks,
      counters: m.counters,
      residentMiB: m.residentMiB,
    };
  } catch (err) {
    return { model: t.label, clients, report: null, skipped: (err as Error).message };
  }
}

function table(points: ChurnPoint[], format: TableFormat): string {
  if (format === 'csv') {
    return csv(
      ['model', 'clients', 'conn_per_s', 'cpu_us_per_conn', 'p50_us', 'errors', 'skipped', ...SPREAD_CSV],
      points.map((p) => [p.model, p.clients, round(p.report?.rps, 0), round(p.cpuUsPerConn, 1), p.report?.latencyUs.p50, p.report ? errorsOf(p.report) : undefined, p.skipped, ...spreadCsv(connsOf(p), cpuOf(p), 1)]),
    );
  }
  const t = pivot(points, (p) => p.model, (p) => p.clients);
  const spread = points.some((p) => p.runs);
  const columns: Column[] = [
    { title: 'model', width: 12, left: true },
    ...t.cols.map((c) => ({ title: `${c} client${c > 1 ? 's' : ''}: conn/s (cpu us/conn)${spread ? ' [range]' : ''}`, width: spread ? 44 : 32 })),
  ];
  const rows: GridRow[] = t.rows.map((m) => {
    const mine = points.filter((p) => p.model === m);
    if (mine.every((p) => p.unavailable)) return { label: m, note: `skipped: ${mine[0].skipped}` };
    return [
      m,
      ...t.cols.map((c) => {
        const p = t.at(m, c);
        if (!p?.report) return `skipped: ${p?.skipped ?? '-'}`;
        const errors = errorsOf(p.report);
        return `${figureText(connsOf(p))} (${cpuRangeFigure(cpuOf(p), p.cpuTicks, 0)})${errors ? ` ${errors} errors` : ''}`;
      }),
    ];
  });
  const notes = [spread ? roundsNote(points) : undefined, forkNote(points), points.some((p) => p.report && p.cpuTicks !== undefined && p.cpuTicks < COARSE_TICKS) ? COARSE_NOTE : undefined];
  return `${grid(format, columns, rows)}${notes.filter(Boolean).map((n) => `\n${n}`).join('')}`;
}

/**
 * Where fork's time per connection goes, with this run's figures: the
 * parent's fork() copies the page tables of its whole resident memory and
 * write-protects it; the child faults in copy-on-write pages, serves, exits
 * (tearing the copy down) and is reaped. A pool pays that once per worker.
 */
export function forkNote(points: ChurnPoint[]): string | undefined {
  const fork = points.filter((p) => p.model === 'fork' && p.report && p.cpuUsPerConn !== undefined);
  const resident = fork.map((p) => p.residentMiB).find((r) => r !== undefined);
  if (fork.length === 0 || resident === undefined) return undefined;
  const cpu = fork.map((p) => p.cpuUsPerConn!);
  const [lo, hi] = [Math.min(...cpu), Math.max(...cpu)];
  const span = Math.round(lo) === Math.round(hi) ? fmt(lo) : `${fmt(lo)}-${fmt(hi)}`;
  return (
    `fork: ${span} us of CPU per connection in a ${fmt(resident)} MiB server process: the parent's fork() copies the page tables of all its ` +
    'resident memory and write-protects it, the child takes copy-on-write faults, serves, exits (tearing the copy down) and is reaped; ' +
    'the accept thread cannot accept while it forks. The cost grows with the resident memory of the process that forks (bench/RESULTS.md: ' +
    '179 connections/s at 305 MiB). prefork pays it once per worker process, threadpool a thread start once per thread.'
  );
}

function svg(points: ChurnPoint[]): string {
  const models = [...new Set(points.map((p) => p.model))];
  const panel = (yLabel: string, y: (p: ChurnPoint) => Figure | undefined) => ({
    yLabel,
    series: models
      .map((name) => ({
        name,
        points: points.filter((p) => p.model === name && p.report && y(p) !== undefined).map((p) => ({ x: p.clients, ...whisker(y(p)!) })),
      }))
      .filter((s) => s.points.length > 0),
  });
  return lineChartSvg('Churn: connect, one request, close', 'concurrent clients', [
    panel('connections/s', connsOf),
    panel('server CPU per connection (us)', cpuOf),
  ]);
}

export const churn: Experiment<ChurnPoint> = {
  name: 'churn',
  summary: 'connect, one request, close at 1/16/64 clients: connections/s and server CPU per connection',
  run,
  table,
  svg,
  failures: (points) =>
    points.filter((p) => (!p.report && !p.unavailable) || errorsOf(p.report) > 0).map((p) => `${p.model}, ${p.clients} clients: ${p.report ? errorText(p.report) : `skipped: ${p.skipped}`}`),
};
