// What the experiments share: a server in a `netmodels serve` process of its
// own, its counters read from that process (SIGUSR2 makes `serve` print
// `STATS <json>`), its CPU time read from /proc, and the load generator in
// this process.
import { loadgen, type LoadgenOptions, type LoadProgress, type LoadReport } from '../loadgen';
import { nativeModels } from '../models/index';
import type { ServerStats } from '../server';
import { notBuilt, Progress, selectTargets, startTarget, START_STOP_MS, type RunningTarget, type Target } from '../bench';
import { CLK_TCK, treeTicks } from './cpu';

export type TableFormat = 'table' | 'md' | 'csv';

export interface ExperimentOptions {
  /** Measured window per run (blocking: how long the second client waits). */
  durationMs: number;
  warmupMs: number;
  messageSize: number;
  /** The short lists the claims report uses. */
  quick?: boolean;
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

/** The counters an experiment divides by requests; `syscalls` once the server has them. */
export interface Counters {
  accepted: number;
  closed: number;
  rejected: number;
  reaped: number;
  reads: number;
  writes: number;
  wakeups: number;
  syscalls?: Record<string, number>;
}

type StatsWithSyscalls = ServerStats & { syscalls?: Record<string, number> };

/** b - a for every counter. */
export function countersBetween(a: StatsWithSyscalls, b: StatsWithSyscalls): Counters {
  const out: Counters = {
    accepted: b.accepted - a.accepted,
    closed: b.closed - a.closed,
    rejected: b.rejected - a.rejected,
    reaped: b.reaped - a.reaped,
    reads: b.reads - a.reads,
    writes: b.writes - a.writes,
    wakeups: b.wakeups - a.wakeups,
  };
  if (a.syscalls && b.syscalls) {
    out.syscalls = Object.fromEntries(Object.keys(b.syscalls).map((k) => [k, b.syscalls![k] - (a.syscalls![k] ?? 0)]));
  }
  return out;
}

const readers = new WeakMap<RunningTarget, { waiting: ((s: StatsWithSyscalls) => void)[] }>();

/**
 * The server's stats(), read from its process: SIGUSR2 makes `netmodels
 * serve` print one `STATS <json>` line. Null if none comes within `timeoutMs`.
 */
export function serverStats(server: RunningTarget, timeoutMs = 3000): Promise<StatsWithSyscalls | null> {
  let reader = readers.get(server);
  if (!reader) {
    const r = { waiting: [] as ((s: StatsWithSyscalls) => void)[] };
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
          const stats = JSON.parse(line.slice(6)) as StatsWithSyscalls;
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
    const done = (s: StatsWithSyscalls) => {
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
  /** The server's counters over the same window; undefined if it did not answer. */
  counters?: Counters;
  /** The server's stats() at the end. */
  stats?: StatsWithSyscalls;
}

export interface MeasureOptions {
  /** `serve` arguments beside the target's own. */
  extra?: string[];
  /** After the load ends, wait this long before the last sample (a fork server reaping its last children). */
  settleMs?: number;
  /** With a server already started (and stopped by the caller). */
  server?: RunningTarget;
}

/**
 * One load run against a fresh server of `target`: the load generator's
 * report, and the server's CPU and counters over the measured window (from
 * the end of the warm-up to the end of the run, plus `settleMs`).
 */
export async function measureLoad(target: Target, load: Omit<LoadgenOptions, 'port'>, options: MeasureOptions = {}): Promise<Measured> {
  const server = options.server ?? (await startTarget(target, ['--backlog', '8192', ...(options.extra ?? [])]));
  const pid = server.child.pid!;
  try {
    const sample = async () => ({ ticks: treeTicks(pid), stats: await serverStats(server) });
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
    return {
      report,
      cpuUs: ((end.ticks - start.ticks) * 1e6) / CLK_TCK,
      counters: start.stats && end.stats ? countersBetween(start.stats, end.stats) : undefined,
      stats: end.stats ?? undefined,
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
      points.push({ ...base, report: m.report, cpuUsPerReq: per(m.cpuUs, m.report.requests), counters: m.counters });
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
    .map((p) => `${what(p)}: ${p.report ? `${errorsOf(p.report)} errors` : `skipped: ${p.skipped}`}`);
}
