// What the experiments share: a server in a `netmodels serve` process of its
// own, its counters read from that process (SIGUSR2 makes `serve` print
// `STATS <json>`), its CPU time read from /proc, and the load generator in
// this process.
import { AsyncLocalStorage } from 'node:async_hooks';

import { fmt, round } from '../../format';
import { loadgenReport as loadgen, type LoadgenOptions, type LoadProgress, type LoadReport } from '../../loadgen';
import { nativeModels } from '../../models/index';
import type { ServerStats, SyscallStats } from '../../server';
import { CLK_TCK, COARSE_TICKS, residentMiB, treeTicks } from '../proc';
import { Progress, START_STOP_MS } from '../progress';
import { figure, interleaved, loadFailed, medianOf, medianRound, rangeText, type Figure } from '../rounds';
import { notBuilt, selectTargets, startTarget, type RunningTarget, type Target } from '../targets';

export type TableFormat = 'table' | 'md' | 'csv';

export interface ExperimentOptions {
  /** Measured window per run (blocking: how long the second client waits). */
  durationMs: number;
  warmupMs: number;
  messageSize: number;
  /**
   * 'full': every point; 'claims': the lists the claims report needs;
   * 'quick': the fewest and smallest points that still run every model and
   * path (the CLI tests, `--quick`).
   */
  scale?: 'full' | 'claims' | 'quick';
  /** Every point this many times, in interleaved rounds; a point is its median round, with the spread of the rounds (default 1). */
  rounds?: number;
}

/** One experiment: runs, then renders its points as a table and a chart. */
export interface Experiment<P = unknown> {
  name: string;
  /** One line: what it shows (bench --help, the header). */
  summary: string;
  run(options: ExperimentOptions): Promise<P[]>;
  table(points: P[], format: TableFormat): string;
  svg(points: P[]): string;
  /** Why a point failed (not run, errors), one line each; empty when all ran. */
  failures(points: P[]): string[];
}

const SYSCALL_NAMES: readonly (keyof SyscallStats)[] = ['accept', 'recv', 'send', 'wait', 'ctl', 'eagain', 'fork', 'clone'];

/** The counters an experiment divides by requests. */
export interface Counters {
  accepted: number;
  closed: number;
  rejected: number;
  reaped: number;
  reads: number;
  writes: number;
  wakeups: number;
  syscalls: SyscallStats;
  /** sigio: real-time signal queue overflows. */
  overflows?: number;
}


/** b - a for every counter. */
export function countersBetween(a: ServerStats, b: ServerStats): Counters {
  const out: Counters = {
    accepted: b.accepted - a.accepted,
    closed: b.closed - a.closed,
    rejected: b.rejected - a.rejected,
    reaped: b.reaped - a.reaped,
    reads: b.reads - a.reads,
    writes: b.writes - a.writes,
    wakeups: b.wakeups - a.wakeups,
    syscalls: Object.fromEntries(SYSCALL_NAMES.map((k) => [k, b.syscalls[k] - a.syscalls[k]])) as unknown as SyscallStats,
  };
  if (b.overflows !== undefined) out.overflows = b.overflows - (a.overflows ?? 0);
  return out;
}

const readers = new WeakMap<RunningTarget, { waiting: ((s: ServerStats) => void)[] }>();

/**
 * The server's stats(), read from its process: SIGUSR2 makes `netmodels
 * serve` print one `STATS <json>` line. Null if none comes within `timeoutMs`.
 */
export function serverStats(server: RunningTarget, timeoutMs = 3000): Promise<ServerStats | null> {
  let reader = readers.get(server);
  if (!reader) {
    const r = { waiting: [] as ((s: ServerStats) => void)[] };
    reader = r;
    readers.set(server, r);
    let text = '';
    server.child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (line.startsWith('STATS ')) {
          const stats = JSON.parse(line.slice(6)) as ServerStats;
          for (const resolve of r.waiting.splice(0)) resolve(stats);
        }
      }
    });
  }
  const r = reader;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      r.waiting = r.waiting.filter((w) => w !== done);
      resolve(null);
    }, timeoutMs);
    const done = (s: ServerStats) => {
      clearTimeout(timer);
      resolve(s);
    };
    r.waiting.push(done);
    server.child.kill('SIGUSR2');
  });
}

export interface Measured {
  report: LoadReport;
  /**
   * Server CPU (every thread, live child and reaped child) over the window,
   * microseconds; undefined when the run ended without reporting its window
   * (stopped during set-up).
   */
  cpuUs?: number;
  /** The same in USER_HZ ticks (10 ms each): below COARSE_TICKS the figure is coarse. */
  cpuTicks?: number;
  /** The server's counters over the same window; undefined if it did not answer. */
  counters?: Counters;
  /** The server's stats() at the end. */
  stats?: ServerStats;
  /** The server process's resident memory at the end of the load, MiB (what a fork() copies the page tables of). */
  residentMiB?: number;
  /** Why the window may not measure what was asked (see MeasureOptions.expectOpen); a failure. */
  note?: string;
}

export interface MeasureOptions {
  /** `serve` arguments beside the target's own. */
  extra?: string[];
  /** After the load ends, wait this long before the last sample (a fork server reaping its last children). */
  settleMs?: number;
  /** With a server already started (and stopped by the caller). */
  server?: RunningTarget;
  /**
   * Connections the server must hold open when the measured window begins
   * (rr: all of them; hold: the idle ones). The load generator has them all
   * established by then, but a server may still have some in its accept
   * queue: after a warm-up, one that holds fewer is too slow to accept (or
   * refuses them) and its window measures accepting too, which `note`
   * says. Without a warm-up, accepting is in the window by choice: no note.
   */
  expectOpen?: number;
}

/**
 * One load run against a fresh server of `target` (or options.server): the
 * load generator's report, and the server's CPU and counters over the
 * measured window. The start sample is taken when the load generator reports
 * that its window has begun (its first progress in phase 'measure', after
 * set-up and warm-up), the end sample once the run is over (plus `settleMs`).
 */
export async function measureLoad(target: Target, load: Omit<LoadgenOptions, 'port'>, options: MeasureOptions = {}): Promise<Measured> {
  const server = options.server ?? (await startTarget(target, ['--backlog', '8192', ...(options.extra ?? [])]));
  const pid = server.child.pid!;
  try {
    // The stats first: a pre-forked pool's worker pids come with them.
    const sample = async () => {
      const stats = await serverStats(server);
      const workers = (stats?.workers ?? []).map((w) => w.pid).filter((p): p is number => p !== undefined);
      return { ticks: treeTicks(pid, workers), stats };
    };
    let begin: ReturnType<typeof sample> | undefined;
    const onProgress = (p: LoadProgress): void => {
      if (p.phase === 'measure' && !begin) begin = sample();
      load.onProgress?.(p);
    };
    const report = await loadgen({ ...load, port: server.port, onProgress });
    const resident = residentMiB(pid);
    if (options.settleMs) await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    const end = await sample();
    const start = await begin;
    const measured: Measured = { report, stats: end.stats ?? undefined, residentMiB: resident };
    if (start) {
      const ticks = end.ticks - start.ticks;
      measured.cpuUs = (ticks * 1e6) / CLK_TCK;
      measured.cpuTicks = ticks;
      if (start.stats && end.stats) measured.counters = countersBetween(start.stats, end.stats);
      const open = start.stats ? start.stats.accepted - start.stats.closed : undefined;
      if (options.expectOpen !== undefined && (load.warmupMs ?? 0) > 0 && open !== undefined && open < options.expectOpen) {
        measured.note = `the server held ${open} of ${options.expectOpen} connections when the window began`;
      }
    }
    return measured;
  } finally {
    if (!options.server) await server.stop();
  }
}

/**
 * A bench row by its `--models` name ('epoll-level', 'fork'), and whether
 * this build has it. `defaults`: a model's own defaults instead of the row's
 * options (the bench sizes the pools for 64 busy connections: 'prefork 64').
 */
export function target(name: string, defaults = false): { target: Target; built: boolean; why?: string } {
  const row = selectTargets([name])[0];
  const t: Target = defaults ? { label: row.model!, kind: 'model', model: row.model, args: [] } : row;
  const built = nativeModels().includes(t.model!);
  return { target: t, built, why: built ? undefined : notBuilt(t.model!) };
}

/** Per request, or undefined without requests. */
export function per(total: number | undefined, n: number): number | undefined {
  return total === undefined || n <= 0 ? undefined : total / n;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Errors of a report, one number. */
export function errorsOf(r: LoadReport | null | undefined): number {
  return r ? r.errors + r.mismatches : 0;
}

/** A point of a sweep: one model at one x (connections, idle count...). */
export interface LoadPoint {
  model: string;
  x: number;
  /** Message size, where the sweep varies it. */
  size?: number;
  report: LoadReport | null;
  /** Server CPU per counted request, microseconds. */
  cpuUsPerReq?: number;
  /** The server CPU it comes from, in 10 ms ticks: below COARSE_TICKS, coarse. */
  cpuTicks?: number;
  counters?: Counters;
  skipped?: string;
  unavailable?: boolean;
  /** Measured, but not what was asked: see Measured.note. */
  note?: string;
  /** Every round, when there were several (the point is the median one). */
  runs?: LoadPoint[];
  /** With several rounds: req/s and CPU per request, median, lowest and highest. */
  spread?: { rps?: Figure; cpuUsPerReq?: Figure };
}

/** What a point takes from a measured run. */
export function measuredPoint(m: Measured): Omit<LoadPoint, 'model' | 'x'> {
  return {
    report: m.report,
    cpuUsPerReq: per(m.cpuUs, m.report.requests),
    cpuTicks: m.cpuTicks,
    counters: m.counters,
    ...(m.note ? { note: m.note } : {}),
  };
}

export interface SweepCase {
  name: string;
  x: number;
  size?: number;
}

// The rounds of the experiment being run: set once by runExperiment() (or
// withRounds()), read by sweep() and the experiments' own loops, so an
// experiment built on them gets rounds without a line of its own.
const roundsContext = new AsyncLocalStorage<number>();

/** Runs `fn` with `rounds` as the rounds of every sweep in it. */
export function withRounds<T>(rounds: number, fn: () => Promise<T>): Promise<T> {
  return roundsContext.run(rounds, fn);
}

/** The rounds asked for: `options.rounds`, else those of the run in progress (withRounds), else 1. */
export function roundsOf(options?: { rounds?: number }): number {
  return options?.rounds ?? roundsContext.getStore() ?? 1;
}

/** An experiment's points in `options.rounds` interleaved rounds (its sweeps read them). */
export function runExperiment<P>(exp: Experiment<P>, options: ExperimentOptions): Promise<P[]> {
  return withRounds(roundsOf(options), () => exp.run(options));
}

/**
 * Runs `load(case)` on a fresh server for every case, in order, with
 * progress on stderr, in interleaved rounds (roundsOf(): every case once per
 * round); a point is its median round by req/s, with every round in `runs`
 * and its CPU per request the median of the rounds'. A model this build
 * lacks is skipped, marked unavailable.
 */
export async function sweep(
  cases: SweepCase[],
  runMs: number,
  load: (c: SweepCase, onProgress: (p: LoadProgress) => void) => { load: Omit<LoadgenOptions, 'port'>; options?: MeasureOptions; label: string },
): Promise<LoadPoint[]> {
  const rounds = roundsOf();
  const resolved = cases.map((c) => ({ c, ...target(c.name) }));
  const runnable = resolved.filter((r) => r.built).length;
  const progress = new Progress(runnable * rounds, runMs + START_STOP_MS);
  let step = 0;
  const tries = await interleaved(resolved, rounds, async ({ c, target: t, built, why }, i, round): Promise<LoadPoint> => {
    if (i === 0) step = 0;
    const base = { model: t.label, x: c.x, ...(c.size !== undefined ? { size: c.size } : {}) };
    if (!built) return { ...base, report: null, skipped: why, unavailable: true };
    const { load: l, options, label } = load(c, progress.update);
    progress.begin(label, ++step, runnable, round, rounds);
    try {
      const m = await measureLoad(t, { ...l, onProgress: progress.update }, options);
      return { ...base, ...measuredPoint(m) };
    } catch (err) {
      return { ...base, report: null, skipped: (err as Error).message };
    } finally {
      progress.end();
    }
  });
  return tries.map((t) => {
    if (t[0].unavailable) return t[0];
    const p = medianRound(t, (r) => r.report!.rps, (r) => loadFailed(r) || r.note !== undefined);
    if (!p.runs) return p;
    // The CPU of the point is the rounds' median, not the median round's.
    const cpu = figure(p, (r) => r.cpuUsPerReq);
    const ticks = medianOf(p.runs.map((r) => r.cpuTicks ?? 0));
    return { ...p, cpuUsPerReq: cpu?.median, cpuTicks: ticks, spread: { rps: rpsOf(p), cpuUsPerReq: cpu } };
  });
}

/** The failed points of a sweep, one line each. */
export function sweepFailures(points: LoadPoint[], what: (p: LoadPoint) => string): string[] {
  return points
    .filter((p) => (!p.report && !p.unavailable) || errorsOf(p.report) > 0 || p.note)
    .map((p) => `${what(p)}: ${p.report ? [errorsOf(p.report) > 0 ? errorText(p.report) : '', p.note ?? ''].filter(Boolean).join('; ') : `skipped: ${p.skipped}`}`);
}

/** `N errors (CODE n, ...)`: what the load generator saw, so a failure says what failed. */
export function errorText(r: LoadReport): string {
  const codes = Object.entries(r.errorCodes)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return `${errorsOf(r)} errors${codes ? ` (${codes}${r.mismatches ? `, ${r.mismatches} mismatched replies` : ''})` : r.mismatches ? ` (${r.mismatches} mismatched replies)` : ''}`;
}

/** A point's req/s over its rounds. */
export function rpsOf(p: LoadPoint | undefined): Figure | undefined {
  return figure(p, (r) => r.report?.rps);
}

/** A point's server CPU per request over its rounds. */
export function cpuOf(p: LoadPoint | undefined): Figure | undefined {
  return figure(p, (r) => r.cpuUsPerReq);
}

/** The spread columns of a CSV, after the others: lowest and highest round of req/s and of CPU per request. */
export const SPREAD_CSV = ['rps_min', 'rps_max', 'cpu_min', 'cpu_max'];
export function spreadCsv(rps: Figure | undefined, cpu: Figure | undefined, cpuDigits: number): (number | undefined)[] {
  const many = (f: Figure | undefined) => (f && f.n > 1 ? f : undefined);
  return [round(many(rps)?.min, 0), round(many(rps)?.max, 0), round(many(cpu)?.min, cpuDigits), round(many(cpu)?.max, cpuDigits)];
}

/** Under a table with ranges: what the brackets hold. */
export function roundsNote(points: { runs?: unknown[] }[]): string {
  const n = Math.max(0, ...points.map((p) => p.runs?.length ?? 0));
  return `[a-b]: the lowest and highest of ${n} interleaved rounds; the figure before it is the median.`;
}

/** A chart point from a figure: the median, and a whisker over the rounds when there were several. */
export function whisker(f: Figure): { y: number; min?: number; max?: number } {
  return f.n > 1 ? { y: f.median, min: f.min, max: f.max } : { y: f.median };
}

/** A CPU figure with its rounds' range: `3.21 [3.02-3.40]`, `~` when coarse (see cpuFigure). */
export function cpuRangeFigure(f: Figure | undefined, ticks: number | undefined, digits: number): string {
  const text = cpuFigure(f?.median, ticks, digits);
  return f && f.n > 1 ? `${text} [${rangeText(f, digits)}]` : text;
}

/** A CPU figure, marked `~` when it rests on fewer than COARSE_TICKS ticks. */
export function cpuFigure(v: number | undefined, ticks: number | undefined, digits: number): string {
  if (v === undefined) return '-';
  const text = fmt(v, digits);
  return ticks !== undefined && ticks < COARSE_TICKS ? `~${text}` : text;
}
