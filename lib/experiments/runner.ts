// What the experiments share: a server in a `netmodels serve` process of its
// own, its counters read from that process (SIGUSR2 makes `serve` print
// `STATS <json>`), its CPU time read from /proc, and the load generator in
// this process.
import { loadgen, type LoadgenOptions, type LoadProgress, type LoadReport } from '../loadgen';
import { nativeModels } from '../models/index';
import type { ServerStats, SyscallStats } from '../server';
import { notBuilt, Progress, selectTargets, startTarget, START_STOP_MS, type RunningTarget, type Target } from '../bench';
import { fmt } from '../format';
import { CLK_TCK, COARSE_TICKS, treeTicks } from './cpu';

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
  /** Server CPU (every thread, live child and reaped child) over the window, microseconds. */
  cpuUs: number;
  /** The same in USER_HZ ticks (10 ms each): below COARSE_TICKS the figure is coarse. */
  cpuTicks: number;
  /** The warm-up the run finally had (longer than asked when set-up overran it). */
  warmupMs: number;
  /** The server's counters over the same window; undefined if it did not answer. */
  counters?: Counters;
  /** The server's stats() at the end. */
  stats?: ServerStats;
}

export interface MeasureOptions {
  /** `serve` arguments beside the target's own. */
  extra?: string[];
  /** After the load ends, wait this long before the last sample (a fork server reaping its last children). */
  settleMs?: number;
  /** With a server already started (and stopped by the caller). */
  server?: RunningTarget;
  /**
   * Connections the server must hold open when the warm-up ends (rr: all of
   * them; hold: the idle ones). If it holds fewer, set-up overran the
   * warm-up and the window would measure a server still accepting (and the
   * load generator would count the connects still in flight at the end as
   * errors): the run is repeated on a fresh server with a longer warm-up.
   */
  expectOpen?: number;
}

/** Warm-ups tried when set-up overruns one: each at least double the last. */
const MAX_SETUP_RETRIES = 3;
const MIN_RETRY_WARMUP_MS = 500;

/**
 * One load run against a fresh server of `target`: the load generator's
 * report, and the server's CPU and counters over the measured window (from
 * the end of the warm-up to the end of the run, plus `settleMs`).
 */
export async function measureLoad(target: Target, load: Omit<LoadgenOptions, 'port'>, options: MeasureOptions = {}): Promise<Measured> {
  let warmupMs = load.warmupMs ?? 0;
  for (let attempt = 0; ; attempt++) {
    const m = await measureOnce(target, { ...load, warmupMs }, options);
    const retry = options.expectOpen !== undefined && warmupMs > 0 && !options.server && attempt < MAX_SETUP_RETRIES;
    if (!retry || m.openAtStart === undefined || m.openAtStart >= options.expectOpen!) return m.measured;
    warmupMs = Math.max(2 * warmupMs, MIN_RETRY_WARMUP_MS);
  }
}

async function measureOnce(target: Target, load: Omit<LoadgenOptions, 'port'>, options: MeasureOptions): Promise<{ measured: Measured; openAtStart?: number }> {
  const server = options.server ?? (await startTarget(target, ['--backlog', '8192', ...(options.extra ?? [])]));
  const pid = server.child.pid!;
  try {
    // The stats first: a pre-forked pool's worker pids come with them.
    const sample = async () => {
      const stats = await serverStats(server);
      const workers = (stats?.workers ?? []).map((w) => w.pid).filter((p): p is number => p !== undefined);
      return { ticks: treeTicks(pid, workers), stats };
    };
    let begin: Promise<Awaited<ReturnType<typeof sample>>>;
    let timer: NodeJS.Timeout | undefined;
    if ((load.warmupMs ?? 0) > 0) {
      begin = new Promise((resolve) => (timer = setTimeout(() => resolve(sample()), load.warmupMs)));
    } else {
      begin = sample();
      await begin;
    }
    const report = await loadgen({ ...load, port: server.port });
    clearTimeout(timer);
    if (options.settleMs) await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    const end = await sample();
    const start = await begin;
    const ticks = end.ticks - start.ticks;
    return {
      measured: {
        report,
        cpuUs: (ticks * 1e6) / CLK_TCK,
        cpuTicks: ticks,
        warmupMs: load.warmupMs ?? 0,
        counters: start.stats && end.stats ? countersBetween(start.stats, end.stats) : undefined,
        stats: end.stats ?? undefined,
      },
      openAtStart: start.stats ? start.stats.accepted - start.stats.closed : undefined,
    };
  } finally {
    if (!options.server) await server.stop();
  }
}

/** A bench row by its `--models` name ('epoll-level', 'fork'), and whether this build has it. */
export function target(name: string): { target: Target; built: boolean; why?: string } {
  const t = selectTargets([name])[0];
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
}

export interface SweepCase {
  name: string;
  x: number;
  size?: number;
}

/**
 * Runs `load(case)` on a fresh server for every case, in order, with
 * progress on stderr; a model this build lacks is skipped, marked unavailable.
 */
export async function sweep(
  cases: SweepCase[],
  runMs: number,
  load: (c: SweepCase, onProgress: (p: LoadProgress) => void) => { load: Omit<LoadgenOptions, 'port'>; options?: MeasureOptions; label: string },
): Promise<LoadPoint[]> {
  const points: LoadPoint[] = [];
  const resolved = cases.map((c) => ({ c, ...target(c.name) }));
  const progress = new Progress(resolved.filter((r) => r.built).length, runMs + START_STOP_MS);
  let step = 0;
  for (const { c, target: t, built, why } of resolved) {
    const base = { model: t.label, x: c.x, ...(c.size !== undefined ? { size: c.size } : {}) };
    if (!built) {
      points.push({ ...base, report: null, skipped: why, unavailable: true });
      continue;
    }
    const { load: l, options, label } = load(c, progress.update);
    progress.begin(label, ++step, progress.total, 1, 1);
    try {
      const m = await measureLoad(t, { ...l, onProgress: progress.update }, options);
      points.push({ ...base, report: m.report, cpuUsPerReq: per(m.cpuUs, m.report.requests), cpuTicks: m.cpuTicks, counters: m.counters });
    } catch (err) {
      points.push({ ...base, report: null, skipped: (err as Error).message });
    } finally {
      progress.end();
    }
  }
  return points;
}

/** The failed points of a sweep, one line each. */
export function sweepFailures(points: LoadPoint[], what: (p: LoadPoint) => string): string[] {
  return points
    .filter((p) => (!p.report && !p.unavailable) || errorsOf(p.report) > 0)
    .map((p) => `${what(p)}: ${p.report ? errorText(p.report) : `skipped: ${p.skipped}`}`);
}

/** `N errors (CODE n, ...)`: what the load generator saw, so a failure says what failed. */
export function errorText(r: LoadReport): string {
  const codes = Object.entries(r.errorCodes)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return `${errorsOf(r)} errors${codes ? ` (${codes}${r.mismatches ? `, ${r.mismatches} mismatched replies` : ''})` : r.mismatches ? ` (${r.mismatches} mismatched replies)` : ''}`;
}

/** A CPU figure, marked `~` when it rests on fewer than COARSE_TICKS ticks. */
export function cpuFigure(v: number | undefined, ticks: number | undefined, digits: number): string {
  if (v === undefined) return '-';
  const text = fmt(v, digits);
  return ticks !== undefined && ticks < COARSE_TICKS ? `~${text}` : text;
}
