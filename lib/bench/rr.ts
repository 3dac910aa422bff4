// The benchmark: every model under the same load, side by side with node:net
// and a minimal C epoll server (the ceiling).
//
// A row runs the rr load (each connection sends a message and waits for its
// echo) against one target, in interleaved rounds; the row shows the median
// round, the rounds' spread, the ratios to node:net and the ceiling measured
// within each round, and the server's CPU per request.
import { csv, fmt, grid, round, type Column, type GridRow } from '../format';
import { errorCauses, LOAD_EXPECTS, loadgenReport as loadgen, type LoadProgress, type LoadReport } from '../loadgen';
import { nativeModels, type ModelName } from '../models/index';
import { CLK_TCK, statTicks, treeTicks } from './proc';
import { Progress, START_STOP_MS } from './progress';
import { defaultLoadThreads, notBuilt, startTarget, type Target } from './targets';

export interface BenchRow {
  label: string;
  kind: Target['kind'];
  /** The model a 'model' row runs. */
  model?: ModelName;
  /** The median run (by req/s). */
  report: RrRun | null;
  /** Why there is no report (the target could not run). */
  skipped?: string;
  /** Skipped because this build or machine lacks it (a model not compiled in), not because it failed. */
  unavailable?: boolean;
  vsNode?: number;
  vsCeiling?: number;
  /** Every run, when there were several rounds. */
  runs?: RrRun[];
  /** The slowest and fastest round, req/s. */
  rpsMin?: number;
  rpsMax?: number;
  /** (rpsMax - rpsMin) / median req/s: how much the rounds disagree. */
  spread?: number;
  /** Errors and mismatches over every round. */
  errors?: number;
  /** `errors` by cause, over every round: libuv error names, 'EOF', and 'mismatch' (a reply that did not verify). */
  errorCauses?: Record<string, number>;
  /** Verified requests over every round: 0 with no error is still a failure (a server that never answers). */
  requestsTotal?: number;
  /** Median server CPU per request (every thread and child), microseconds. */
  cpuUsPerReq?: number;
  /** Median CPU of the server's JS (main) thread per request, microseconds. */
  jsUsPerReq?: number;
}
export interface RrConfig {
  connections: number;
  messageSize: number;
  durationMs: number;
  warmupMs: number;
  /** Each target runs this many times, interleaved (default 1). */
  rounds?: number;
  /** Load-generator threads (default: defaultLoadThreads()). */
  threads?: number;
}

/** One measured run: the load generator's report and the server's CPU time. */
export interface RrRun extends LoadReport {
  /** Server CPU (every thread and child process) per request, microseconds. */
  cpuUsPerReq?: number;
  /** CPU of the server's JS thread (its main thread) per request, microseconds. */
  jsUsPerReq?: number;
}

export async function measureRr(target: Target, config: RrConfig, onProgress?: (p: LoadProgress) => void): Promise<RrRun> {
  const load = {
    mode: target.http ? ('http' as const) : ('rr' as const),
    connections: config.connections,
    messageSize: config.messageSize,
    durationMs: config.durationMs,
    warmupMs: config.warmupMs,
    threads: config.threads ?? defaultLoadThreads(target.loops),
    onProgress,
  };
  if (target.kind === 'external') {
    return loadgen({ ...load, host: target.host, port: target.port!, expect: target.expect ?? 'uppercase' });
  }
  const server = await startTarget(target, ['--backlog', '4096']);
  const pid = server.child.pid!;
  const sample = () => ({ all: treeTicks(pid), js: statTicks(`/proc/${pid}/task/${pid}/stat`, false) });
  // The CPU window is the measured one: from the load generator's report
  // that it has begun (after set-up and warm-up) to the end of the run.
  let start: { all: number; js: number } | undefined;
  const onWindow = (p: LoadProgress): void => {
    if (p.phase === 'measure' && !start) start = sample();
    onProgress?.(p);
  };
  try {
    const report: RrRun = await loadgen({ ...load, port: server.port, expect: 'uppercase', onProgress: onWindow });
    const end = sample();
    if (start && report.requests > 0) {
      report.cpuUsPerReq = ((end.all - start.all) * 1e6) / CLK_TCK / report.requests;
      report.jsUsPerReq = ((end.js - start.js) * 1e6) / CLK_TCK / report.requests;
    }
    return report;
  } finally {
    await server.stop();
  }
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
/**
 * Runs the rr load against each target in turn, `config.rounds` times,
 * interleaved (every target once per round). A row shows the target's median
 * run and the spread of its rounds; its ratios are the medians of the ratios
 * measured within each round, so that a noisy moment on a shared machine
 * weighs on both sides of a ratio alike.
 */
export async function runRr(targets: Target[], config: RrConfig): Promise<BenchRow[]> {
  const built = new Set(nativeModels());
  const runs = new Map<Target, (RrRun | null)[]>();
  const skipped = new Map<Target, string>();
  for (const target of targets) {
    runs.set(target, []);
    if (target.kind === 'model' && !built.has(target.model!)) skipped.set(target, notBuilt(target.model!));
  }
  const rounds = config.rounds ?? 1;
  const active = targets.filter((t) => !skipped.has(t));
  const progress = new Progress(active.length * rounds, config.warmupMs + config.durationMs + START_STOP_MS);
  for (let round = 0; round < rounds; round++) {
    for (const [i, target] of active.entries()) {
      if (skipped.has(target)) continue;
      progress.begin(target.label, i + 1, active.length, round + 1, rounds);
      try {
        runs.get(target)!.push(await measureRr(target, config, progress.update));
      } catch (err) {
        skipped.set(target, (err as Error).message);
      } finally {
        progress.end();
      }
    }
  }
  const node = targets.find((t) => t.kind === 'node');
  // Each row is compared with the ceiling of as many loops, if there is one.
  const ceilingFor = (t: Target) =>
    targets.find((c) => c.kind === 'ceiling' && (c.loops ?? 1) === (t.loops ?? 1)) ??
    targets.find((c) => c.kind === 'ceiling');
  const ratio = (target: Target, base: Target | undefined): number | undefined => {
    if (!base || skipped.has(base)) return undefined;
    const mine = runs.get(target)!;
    const theirs = runs.get(base)!;
    return median(mine.map((r, i) => (r && theirs[i] ? r.rps / theirs[i]!.rps : NaN)).filter(Number.isFinite));
  };
  return targets.map((target) => {
    const reports = runs.get(target)!.filter((r): r is RrRun => r !== null);
    if (skipped.has(target) || reports.length === 0) {
      const unavailable = target.kind === 'model' && !built.has(target.model!);
      return { label: target.label, kind: target.kind, model: target.model, report: null, skipped: skipped.get(target) ?? 'no run', ...(unavailable ? { unavailable } : {}) };
    }
    const byRps = [...reports].sort((a, b) => a.rps - b.rps);
    const row: BenchRow = { label: target.label, kind: target.kind, model: target.model, report: byRps[(byRps.length - 1) >> 1] };
    if (rounds > 1) {
      row.runs = reports;
      row.rpsMin = byRps[0].rps;
      row.rpsMax = byRps[byRps.length - 1].rps;
      const mid = median(reports.map((r) => r.rps))!;
      row.spread = mid > 0 ? (row.rpsMax - row.rpsMin) / mid : undefined;
    }
    row.errors = reports.reduce((sum, r) => sum + r.errors + r.mismatches + (r.non2xx ?? 0) + (r.timeouts ?? 0), 0);
    row.errorCauses = errorCauses(reports);
    row.requestsTotal = reports.reduce((sum, r) => sum + r.requests, 0);
    row.vsNode = target === node ? 1 : ratio(target, node);
    row.vsCeiling = ratio(target, ceilingFor(target));
    // CPU per request is steadier than req/s on a shared machine: the median
    // of the rounds, each measured over its own window.
    row.cpuUsPerReq = median(reports.map((r) => r.cpuUsPerReq).filter((v): v is number => v !== undefined));
    row.jsUsPerReq = median(reports.map((r) => r.jsUsPerReq).filter((v): v is number => v !== undefined));
    return row;
  });
}

/**
 * Why a bench row failed, in words, or null if it did not: its errors by
 * cause ('ECONNREFUSED 640, mismatch 28,471'), with a hint when replies did
 * not match; a run that completed no request is a failure even with no error.
 */
export function rowFailure(row: BenchRow, expect?: string): string | null {
  if (row.skipped) return `skipped: ${row.skipped}`;
  const causes = Object.entries(row.errorCauses ?? {}).sort(([, a], [, b]) => b - a);
  if ((row.errors ?? 0) > 0) {
    const list = causes.map(([code, n]) => `${code} ${n.toLocaleString('en-US')}`).join(', ');
    const others = LOAD_EXPECTS.filter((e) => e !== (expect ?? 'uppercase')).join('|');
    const hint = row.errorCauses?.mismatch ? `: does the server speak another protocol? (--expect ${others})` : '';
    return `${row.errors!.toLocaleString('en-US')} errors (${list})${hint}`;
  }
  if (row.report && row.requestsTotal === 0) {
    return 'no request completed and no error: the server never answered (is it a discard server? a request of this size too large for it?)';
  }
  return null;
}

/** What a reader must know of a row that is not a failure: set-up cut short (the server stopped accepting). */
export function rowNote(row: BenchRow, connections: number): string | null {
  const cut = (row.runs ?? (row.report ? [row.report] : [])).filter((r) => r.setupCut);
  if (cut.length === 0) return null;
  const connected = Math.min(...cut.map((r) => r.connected));
  return (
    `set-up cut short in ${cut.length} round${cut.length > 1 ? 's' : ''}: the server stopped accepting ` +
    `(${connected} of ${connections} connections; the rest never tried)`
  );
}

/** Above this, a row's spread or a model's lead over the ceiling says the machine was busy. */
export const NOISE = 0.1;

/**
 * The noise warning, or null: rows whose rounds disagree by more than 10%
 * of their median, and models that beat the C ceiling by more than 10% (a
 * correct server cannot: the machine's load moved under the runs).
 */
export function noiseWarning(rows: BenchRow[], rounds: number): string | null {
  const spread = rows.filter((r) => r.spread !== undefined && r.spread > NOISE);
  const above = rows.filter((r) => r.kind !== 'ceiling' && r.vsCeiling !== undefined && r.vsCeiling > 1 + NOISE);
  if (spread.length === 0 && above.length === 0) return null;
  const why = [
    spread.length ? `rounds differ by over ${NOISE * 100}%: ${spread.map((r) => `${r.label} ${fmt(r.spread! * 100)}%`).join(', ')}` : '',
    above.length ? `above the C ceiling: ${above.map((r) => `${r.label} ${fmt(r.vsCeiling, 2)}x`).join(', ')}` : '',
  ].filter(Boolean);
  const advice = rounds < 7 ? 'rerun with --rounds 7' : `rerun on a quieter machine, or with a longer --duration`;
  return `warning: the machine is noisy: ${advice} (${why.join('; ')})`;
}

/** The rr columns: the same in the text and Markdown tables and, raw, in CSV. */
const RR_COLUMNS_NET: (Column & { csv: string; value(r: BenchRow): number | undefined; digits: number; suffix?: string })[] = [
  { title: 'req/s', csv: 'rps', width: 11, digits: 0, value: (r) => r.report?.rps },
  { title: 'spread', csv: 'spread_pct', width: 6, digits: 0, suffix: '%', value: (r) => (r.spread === undefined ? undefined : r.spread * 100) },
  // Bytes read, as wrk's Transfer/sec counts them (both directions would be twice that).
  { title: 'read MB/s', csv: 'read_mb_per_s', width: 9, digits: 1, value: (r) => (r.report ? r.report.readBytesPerSec / 1e6 : undefined) },
  { title: 'p50 us', csv: 'p50_us', width: 7, digits: 0, value: (r) => r.report?.latencyUs.p50 },
  { title: 'p99 us', csv: 'p99_us', width: 7, digits: 0, value: (r) => r.report?.latencyUs.p99 },
  { title: 'x node:net', csv: 'x_node', width: 10, digits: 2, suffix: 'x', value: (r) => r.vsNode },
  { title: 'x C', csv: 'x_ceiling', width: 6, digits: 2, suffix: 'x', value: (r) => r.vsCeiling },
  { title: 'cpu us/req', csv: 'cpu_us_per_req', width: 10, digits: 2, value: (r) => r.cpuUsPerReq },
  { title: 'js us/req', csv: 'js_us_per_req', width: 9, digits: 2, value: (r) => r.jsUsPerReq },
  { title: 'errors', csv: 'errors', width: 6, digits: 0, value: (r) => r.errors },
];

/**
 * The rr rows as a text table, Markdown or CSV. `spread` is (max - min) /
 * median of the rounds' req/s; `errors` counts every round.
 */
export function rrTable(rows: BenchRow[], format: 'table' | 'md' | 'csv' = 'table', baseline = 'node:net'): string {
  // The ratio column names the baseline row (node:http for the http rows).
  const RR_COLUMNS = RR_COLUMNS_NET.map((c) => (c.csv === 'x_node' ? { ...c, title: `x ${baseline}` } : c));
  if (format === 'csv') {
    return csv(
      ['server', ...RR_COLUMNS.map((c) => c.csv), 'rps_min', 'rps_max', 'skipped'],
      rows.map((r) => [
        r.label,
        ...RR_COLUMNS.map((c) => round(c.value(r), c.digits + 1)),
        round(r.rpsMin, 0),
        round(r.rpsMax, 0),
        r.skipped,
      ]),
    );
  }
  const columns: Column[] = [{ title: 'server', width: 16, left: true }, ...RR_COLUMNS];
  const cells: GridRow[] = rows.map((r) =>
    r.report
      ? [r.label, ...RR_COLUMNS.map((c) => (c.value(r) === undefined ? '-' : `${fmt(c.value(r), c.digits)}${c.suffix ?? ''}`))]
      : { label: r.label, note: `skipped: ${r.skipped}` },
  );
  return grid(format, columns, cells);
}
