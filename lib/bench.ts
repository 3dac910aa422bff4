// The benchmark: every model under the same load, side by side with node:net
// and a minimal C epoll server (the ceiling).
//
// Each server runs in a process of its own (the models through `netmodels
// serve`, node:net through dist/node-server.js, the ceiling as a C binary),
// so it has its own fd table and its own threads; the load generator runs in
// this process on native threads.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { csv, fmt, grid, round, type Column, type GridRow } from './format';
import { errorCauses, LOAD_EXPECTS, loadgenReport as loadgen, type LoadExpect, type LoadProgress, type LoadReport } from './loadgen';
import { MODEL_TABLE, MODELS, nativeModels, type ModelName } from './models/index';
import { benchVariants, flagName } from './spec';
import { CLK_TCK, statTicks, treeTicks } from './experiments/cpu';
import { figure, figureText, interleaved, loadFailed, medianRound, type WithRuns } from './experiments/rounds';
import { barChartSvg, lineChartSvg, type BarPanel } from './svg';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(__dirname, 'cli.js');
const NODE_SERVER = path.join(__dirname, 'node-server.js');
const BENCH_HANDLER = path.join(__dirname, 'bench-handler.js');
const BENCH_HTTP_APP = path.join(__dirname, 'bench-http-app.js');
const NODE_HTTP_SERVER = path.join(__dirname, 'node-http-server.js');
const CEILING_SOURCE = path.join(ROOT, 'scripts', 'ceiling.c');

export interface Target {
  /** Row label: 'epoll edge', 'node:net', 'C ceiling', '127.0.0.1:8000'. */
  label: string;
  /** external: a server already running at host:port, not started by the bench. */
  kind: 'model' | 'node' | 'ceiling' | 'external';
  model?: ModelName;
  args?: string[];
  /** Event models and the ceiling: this many loops (default 1). */
  loops?: number;
  /** The row serves the bench's node:http app (bench-http-app.ts) and is driven in http mode. */
  http?: boolean;
  /** external: where it listens and how its replies are checked. */
  host?: string;
  port?: number;
  expect?: LoadExpect;
}

export interface BenchRow {
  label: string;
  kind: Target['kind'];
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

/**
 * Every model's bench rows, from the model table (epoll: one per trigger).
 * With `loops` > 1 the event models run that many loops ('epoll level x4').
 */
export function modelTargets(loops = 1): Target[] {
  // Datagram models have a bench of their own (lib/bench-udp.ts).
  return MODELS.filter((model) => MODEL_TABLE[model].spec.family !== 'datagram').flatMap((model) => {
    const spec = MODEL_TABLE[model].spec;
    const multi = loops > 1 && spec.family === 'event';
    return benchVariants(spec).map((v) => ({
      label: multi ? v.label.replace(/^(\S+(?: (?:level|edge))?)/, `$1 x${loops}`) : v.label,
      kind: 'model' as const,
      model,
      args: [
        ...Object.entries(v.options).flatMap(([key, value]) => [`--${flagName(key)}`, String(value)]),
        ...(multi ? ['--loops', String(loops)] : []),
        ...(v.js ? ['--handler', BENCH_HANDLER] : []),
      ],
      ...(multi ? { loops } : {}),
    }));
  });
}

/**
 * The http rows: the same node:http app hosted by epoll (with `loops` > 1
 * also by that many loops) and on node's own listen(), the baseline.
 */
export function httpTargets(loops = 1): Target[] {
  const hosted = (n: number): Target => ({
    label: n > 1 ? `epoll x${n} + node:http` : 'epoll + node:http',
    kind: 'model',
    model: 'epoll',
    args: ['--handler', BENCH_HTTP_APP, ...(n > 1 ? ['--loops', String(n)] : [])],
    http: true,
    ...(n > 1 ? { loops: n } : {}),
  });
  return [hosted(1), ...(loops > 1 ? [hosted(loops)] : []), { label: 'node:http', kind: 'node', http: true }];
}

/** The C ceiling as `loops` processes sharing the port with SO_REUSEPORT. */
export function ceilingTarget(loops = 1): Target {
  return { label: loops > 1 ? `C ceiling x${loops}` : 'C ceiling', kind: 'ceiling', loops };
}

/** A server already running at host:port. */
export function externalTarget(host: string, port: number, expect: LoadExpect = 'uppercase'): Target {
  return { label: `${host.includes(':') ? `[${host}]` : host}:${port}`, kind: 'external', host, port, expect };
}

/**
 * Load-generator threads when none are asked for: enough that the generator
 * is not what limits the servers. Measured on 2 cores, one thread beats two
 * (the kernel's loopback work already fills both cores); on 16 cores one
 * thread per 4 CPUs drove a single loop, and a multi-loop server needs about
 * one per loop, up to half the CPUs.
 */
export function defaultLoadThreads(loops = 1): number {
  const cpus = os.availableParallelism();
  return Math.max(1, Math.floor(cpus / 4), Math.min(loops, Math.floor(cpus / 2)));
}

/** A row's `--models` name: 'epoll level x4' -> 'epoll-level', 'epoll + js' -> 'epoll+js'. */
export function rowName(label: string): string {
  return label.replace(/ x\d+/, '').replace(/ \+ /g, '+').replace(/ /g, '-');
}

/** Every `--models` name: the models and the rows that are not a whole model. */
export function targetNames(loops = 1): string[] {
  return [...new Set(modelTargets(loops).flatMap((t) => [t.model!, rowName(t.label)]))];
}

/**
 * `--models` names: a model (all its rows), or one row: epoll-level, epoll+js...
 * Throws a RangeError (ERR_INVALID_ARG_VALUE) naming the known ones for an unknown name.
 */
export function selectTargets(names: string[] | undefined, loops = 1): Target[] {
  const all = modelTargets(loops);
  if (!names) return all;
  const out: Target[] = [];
  for (const name of names) {
    const found = all.filter((t) => rowName(t.label) === name || t.model === name);
    if (found.length === 0) {
      throw Object.assign(new RangeError(`unknown model '${name}' (known: ${targetNames(loops).join(', ')})`), {
        code: 'ERR_INVALID_ARG_VALUE',
      });
    }
    for (const t of found) if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** A server process started for one measurement. */
export interface RunningTarget {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The private cache directory: $XDG_CACHE_HOME/netmodels or
 * ~/.cache/netmodels, created 0700. Null unless it is a real directory (not
 * a link) owned by this user; access by others is taken away. What another
 * user could write is never run from here.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  const dir = path.join(base, 'netmodels');
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid!()) return null;
    if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
    return dir;
  } catch {
    return null;
  }
}

/** A regular file of this user's that nobody else can write. */
function ownedFile(file: string): boolean {
  try {
    const st = fs.lstatSync(file);
    return st.isFile() && st.uid === process.getuid!() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

// By source file: the binary, or null (then its error) once tried.
const ceilingBinaries = new Map<string, string | null>();
let ceilingError = '';

/**
 * Builds scripts/ceiling.c (or another C server beside it: `source`) once
 * per source version into the private cache directory (reused by later
 * runs), or, where there is none, into a fresh temporary directory removed
 * at exit. Null if it cannot be built ({@link ceilingBuildError} says why).
 */
export function buildCeiling(sourceFile = CEILING_SOURCE): string | null {
  const known = ceilingBinaries.get(sourceFile);
  if (known !== undefined) return known;
  const ceilingBinary = buildC(sourceFile);
  ceilingBinaries.set(sourceFile, ceilingBinary);
  return ceilingBinary;
}

/** Why the last {@link buildCeiling} that failed did. */
export function ceilingBuildError(): string {
  return ceilingError;
}

function buildC(sourceFile: string): string | null {
  let ceilingBinary: string | null;
  const source = fs.readFileSync(sourceFile);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  let dir = cacheDir();
  if (dir === null) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-ceiling-'));
    const temp = dir;
    process.once('exit', () => fs.rmSync(temp, { recursive: true, force: true }));
  }
  const out = path.join(dir, `${path.basename(sourceFile, '.c')}-${hash}`);
  if (ownedFile(out)) return out;
  const partial = `${out}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'cc';
  try {
    execFileSync(cc, ['-O3', '-o', partial, sourceFile], { stdio: 'pipe' });
    fs.chmodSync(partial, 0o700);
    fs.renameSync(partial, out);
    ceilingBinary = out;
  } catch (err) {
    fs.rmSync(partial, { force: true });
    const e = err as Error & { code?: string; stderr?: Buffer };
    ceilingError =
      e.code === 'ENOENT'
        ? `no C compiler (${cc}) to build the ceiling server: install one (Debian: build-essential) or pass --no-ceiling`
        : `${cc} failed to build the ceiling server: ${e.stderr?.toString().trim().split('\n')[0] ?? e.message}`;
    ceilingBinary = null;
  }
  return ceilingBinary;
}

/**
 * Starts a target's server and resolves once it printed its port. `extra`
 * adds `serve` arguments (backlog for the idle experiment).
 */
export async function startTarget(target: Target, extra: string[] = []): Promise<RunningTarget> {
  let child: ChildProcess;
  if (target.kind === 'model') {
    child = spawn(process.execPath, [CLI, 'serve', '--model', target.model!, '--port', '0', '--quiet', ...(target.args ?? []), ...extra], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  } else if (target.kind === 'node') {
    child = spawn(process.execPath, [target.http ? NODE_HTTP_SERVER : NODE_SERVER, '127.0.0.1', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  } else if (target.kind === 'ceiling') {
    const binary = buildCeiling();
    if (!binary) throw new Error(ceilingError);
    child = spawn(binary, ['0', '127.0.0.1', String(target.loops ?? 1)], { stdio: ['ignore', 'pipe', 'inherit'] });
  } else {
    throw new Error(`${target.label}: an external server is not started by the bench`);
  }
  return serverProcess(child, target.label);
}

/** A server process just spawned: resolves once it printed its port ('PORT n' or 'listening on host:n'). */
export async function serverProcess(child: ChildProcess, label: string): Promise<RunningTarget> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${label}: no port within 10 s`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /PORT (\d+)|listening on \S+:(\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] ?? m[2]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label}: server exited with code ${code} before listening`));
    });
  });
  child.stdout!.resume();
  return {
    port,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `41 s`, `2 min 5 s`. */
function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Where a run is in the whole bench: `target 7/13, round 2/3, ETA 41 s`. */
export function progressPrefix(target: number, targets: number, round: number, rounds: number, etaMs: number): string {
  return `target ${target}/${targets}, round ${round}/${rounds}, ETA ${duration(etaMs)}`;
}

/**
 * Progress on stderr: which run of how many, and the time left, estimated
 * from the runs so far (from the configured times before the first one
 * ends). On a terminal one line rewritten as the run goes; elsewhere (a
 * pipe, a CI log) one line per run as it starts, so a long run is never
 * silent.
 */
export class Progress {
  readonly #enabled = process.stderr.isTTY === true;
  readonly #lines = !this.#enabled && process.env.NETMODELS_PROGRESS !== '0';
  readonly #total: number;
  #done = 0;
  #spentMs = 0;
  readonly #guessMs: number;
  #runStart = 0;
  #prefix = '';

  /** `runs` in all, each expected to take about `runMs` (the guess until one has run). */
  constructor(runs: number, runMs: number) {
    this.#total = runs;
    this.#guessMs = runMs;
  }

  /** The runs in all. */
  get total(): number {
    return this.#total;
  }

  /** A run starts: `label`, target i of n, round r of rs. */
  begin(label: string, target: number, targets: number, round: number, rounds: number): void {
    this.#runStart = Date.now();
    const perRun = this.#done > 0 ? this.#spentMs / this.#done : this.#guessMs;
    this.#prefix = `${progressPrefix(target, targets, round, rounds, perRun * (this.#total - this.#done))}  ${label}`;
    if (this.#lines) process.stderr.write(`  ${this.#prefix}\n`);
    this.#write('');
  }

  /** The load generator's progress during the run. */
  readonly update = (p: LoadProgress): void => {
    this.#write(`: ${(p.elapsedMs / 1000).toFixed(1)} s  ${Math.round(p.rps).toLocaleString('en-US')} req/s`);
  };

  /** The run is over (measured or not). */
  end(): void {
    this.#done++;
    this.#spentMs += Date.now() - this.#runStart;
    if (this.#enabled) process.stderr.write('\r\x1b[K');
  }

  #write(detail: string): void {
    if (this.#enabled) process.stderr.write(`\r\x1b[K  ${this.#prefix}${detail}`);
  }
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

/** Why a model's row is skipped when this build lacks it. */
export function notBuilt(model: ModelName): string {
  const requires = MODEL_TABLE[model].spec.requires;
  return requires ? `not built: ${requires} was missing when netmodels was compiled` : 'not built';
}

/** A run takes about this long beside its load: starting and stopping the server. */
export const START_STOP_MS = 300;

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
      return { label: target.label, kind: target.kind, report: null, skipped: skipped.get(target) ?? 'no run', ...(unavailable ? { unavailable } : {}) };
    }
    const byRps = [...reports].sort((a, b) => a.rps - b.rps);
    const row: BenchRow = { label: target.label, kind: target.kind, report: byRps[(byRps.length - 1) >> 1] };
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

// ---------------------------------------------------------------------------
// The idle-connections experiment

export const IDLE_COUNTS = [0, 250, 500, 1000, 5000];

export interface IdlePoint {
  model: string;
  idle: number;
  report: LoadReport | null;
  skipped?: string;
  /** Skipped because this build lacks the model. */
  unavailable?: boolean;
}

/** Latency of one active connection while `idle` idle ones are open. */
export async function runIdle(config: { durationMs: number; warmupMs: number; messageSize: number; counts: number[]; rounds?: number }): Promise<WithRuns<IdlePoint>[]> {
  const targets = selectTargets(['select', 'poll', 'epoll-level', 'uring']);
  const built = new Set(nativeModels());
  const rounds = config.rounds ?? 1;
  // select cannot watch fds >= FD_SETSIZE, so it stops at 1000 idle.
  const countsOf = (t: Target) => config.counts.filter((idle) => t.model !== 'select' || idle <= 1000);
  const cases = targets.filter((t) => built.has(t.model!)).flatMap((target) => countsOf(target).map((idle) => ({ target, idle })));
  const progress = new Progress(cases.length * rounds, config.warmupMs + config.durationMs + START_STOP_MS);
  const tries = await interleaved(cases, rounds, async ({ target, idle }, i, round): Promise<IdlePoint> => {
    progress.begin(`${target.label} with ${idle} idle`, i + 1, cases.length, round, rounds);
    let server: RunningTarget | undefined;
    try {
      server = await startTarget(target, ['--backlog', '8192']);
      const report = await loadgen({
        port: server.port,
        mode: 'hold',
        idle,
        messageSize: config.messageSize,
        durationMs: config.durationMs,
        warmupMs: config.warmupMs,
        expect: 'uppercase',
        onProgress: progress.update,
      });
      return { model: target.label, idle, report };
    } catch (err) {
      return { model: target.label, idle, report: null, skipped: (err as Error).message };
    } finally {
      progress.end();
      await server?.stop();
    }
  });
  const measured = tries.map((t) => medianRound(t, (p) => p.report?.rps ?? 0, loadFailed));
  const unavailable = targets
    .filter((t) => !built.has(t.model!))
    .flatMap((t) => config.counts.map((idle): IdlePoint => ({ model: t.label, idle, report: null, skipped: notBuilt(t.model!), unavailable: true })));
  // In the targets' order, as the table reads them.
  return targets.flatMap((t) => [...measured, ...unavailable].filter((p) => p.model === t.label));
}

/** One cell per model and idle count: `p50/p99 (req/s)`; CSV: one record per point. */
export function idleTable(points: IdlePoint[], format: 'table' | 'md' | 'csv' = 'table'): string {
  if (format === 'csv') {
    return csv(
      ['model', 'idle', 'p50_us', 'p99_us', 'rps', 'connected', 'errors', 'skipped'],
      points.map((p) => [
        p.model,
        p.idle,
        p.report?.latencyUs.p50,
        p.report?.latencyUs.p99,
        round(p.report?.rps, 0),
        p.report?.connected,
        p.report ? p.report.errors + p.report.mismatches : undefined,
        p.skipped,
      ]),
    );
  }
  const models = [...new Set(points.map((p) => p.model))];
  const counts = [...new Set(points.map((p) => p.idle))].sort((a, b) => a - b);
  const columns: Column[] = [{ title: 'idle', width: 6 }, ...models.map((m) => ({ title: `${m} p50/p99 us (req/s)`, width: 34 }))];
  const rows: GridRow[] = counts.map((idle) => [
    String(idle),
    ...models.map((m) => {
      const p = points.find((x) => x.model === m && x.idle === idle);
      if (!p) return '-';
      if (!p.report) return `skipped: ${p.skipped}`;
      const r = p.report;
      const held = r.connected < idle + 1 ? ` held ${r.connected}` : '';
      return `${fmt(r.latencyUs.p50)}/${fmt(r.latencyUs.p99)} (${figureText(figure(p, (q) => q.report?.rps))})${held}`;
    }),
  ]);
  return grid(format, columns, rows);
}

// ---------------------------------------------------------------------------
// The cores experiment

export interface CoresPoint {
  label: string;
  loops: number;
  report: LoadReport | null;
  skipped?: string;
}

/** 1, 2, 4, ... up to `cpus` (always ending at `cpus`). */
export function loopCounts(cpus = os.availableParallelism()): number[] {
  const counts: number[] = [];
  for (let n = 1; n < cpus; n *= 2) counts.push(n);
  counts.push(cpus);
  return counts;
}

/**
 * req/s of epoll and the C ceiling at 1, 2, 4 ... loops, beside the thread
 * model and node:net (which have no loops), under the same rr load.
 */
export async function runCores(config: RrConfig & { counts: number[] }): Promise<WithRuns<CoresPoint>[]> {
  const max = Math.max(...config.counts);
  const rounds = config.rounds ?? 1;
  const cases = [
    ...config.counts.flatMap((loops) => [
      { target: selectTargets(['epoll-level'], loops)[0], loops },
      { target: ceilingTarget(loops), loops },
    ]),
    ...[...selectTargets(['thread']), { label: 'node:net', kind: 'node' as const }].map((target: Target) => ({ target, loops: 0 })),
  ];
  const progress = new Progress(cases.length * rounds, config.warmupMs + config.durationMs + START_STOP_MS);
  const tries = await interleaved(cases, rounds, async ({ target, loops }, i, round): Promise<CoresPoint> => {
    const label = target.label.replace(/ x\d+$/, '');
    progress.begin(target.label, i + 1, cases.length, round, rounds);
    try {
      return { label, loops, report: await measureRr(target, { ...config, threads: config.threads ?? defaultLoadThreads(max) }, progress.update) };
    } catch (err) {
      return { label, loops, report: null, skipped: (err as Error).message };
    } finally {
      progress.end();
    }
  });
  return tries.map((t) => medianRound(t, (p) => p.report?.rps ?? 0, loadFailed));
}

/** req/s per loop count for epoll and the ceiling, and their ratio; CSV: one record per point. */
export function coresTable(points: CoresPoint[], format: 'table' | 'md' | 'csv' = 'table'): string {
  if (format === 'csv') {
    return csv(
      ['server', 'loops', 'rps', 'p50_us', 'p99_us', 'errors', 'skipped'],
      points.map((p) => [
        p.label,
        p.loops === 0 ? undefined : p.loops,
        round(p.report?.rps, 0),
        p.report?.latencyUs.p50,
        p.report?.latencyUs.p99,
        p.report ? p.report.errors + p.report.mismatches : undefined,
        p.skipped,
      ]),
    );
  }
  const loops = [...new Set(points.filter((p) => p.loops > 0).map((p) => p.loops))].sort((a, b) => a - b);
  const labels = [...new Set(points.filter((p) => p.loops > 0).map((p) => p.label))];
  const columns: Column[] = [
    { title: 'loops', width: 6 },
    ...labels.map((l) => ({ title: `${l} req/s`, width: 20 })),
    { title: 'x C', width: 6 },
  ];
  const rows: GridRow[] = loops.map((n) => {
    const model = points.find((x) => x.loops === n && x.label !== 'C ceiling');
    const ceiling = points.find((x) => x.loops === n && x.label === 'C ceiling');
    const ratio = model?.report && ceiling?.report ? model.report.rps / ceiling.report.rps : undefined;
    return [
      String(n),
      ...labels.map((l) => {
        const p = points.find((x) => x.label === l && x.loops === n);
        return p?.report ? figureText(figure(p as WithRuns<CoresPoint>, (q) => q.report?.rps)) : 'skipped';
      }),
      ratio === undefined ? '-' : `${fmt(ratio, 2)}x`,
    ];
  });
  for (const p of points.filter((x) => x.loops === 0)) {
    rows.push({ label: p.label, note: p.report ? `${fmt(p.report.rps)} req/s (no loops)` : `skipped: ${p.skipped}` });
  }
  return grid(format, columns, rows);
}

// ---------------------------------------------------------------------------
// Charts

/** The rr rows: req/s with the rounds' spread, and the ratios to the C ceiling and node:net. */
export function rrChartSvg(rows: BenchRow[], config: Pick<RrConfig, 'connections' | 'messageSize'>): string {
  const measured = rows.filter((r) => r.report);
  const spread = (r: BenchRow) => {
    const rps = r.runs?.map((x) => x.rps) ?? [];
    return rps.length > 1 ? { min: r.rpsMin ?? Math.min(...rps), max: r.rpsMax ?? Math.max(...rps) } : {};
  };
  const panels: BarPanel[] = [
    {
      axis: 'requests/s (whiskers: slowest and fastest round)',
      bars: measured.map((r) => ({ label: r.label, value: r.report!.rps, ...spread(r) })),
    },
  ];
  const ratio = (axis: string, value: (r: BenchRow) => number | undefined) => {
    const bars = measured.filter((r) => value(r) !== undefined).map((r) => ({ label: r.label, value: value(r)! }));
    if (bars.length > 0) panels.push({ axis, bars, reference: 1, label: (v) => `${v.toFixed(2)}x` });
  };
  ratio('x C ceiling (same-round ratios)', (r) => r.vsCeiling);
  ratio('x node:net (same-round ratios)', (r) => r.vsNode);
  return barChartSvg(`rr: ${config.connections} connections, ${config.messageSize}-byte messages`, panels);
}

/** The idle experiment: p50, p99 and req/s of the active connection against the idle count. */
export function idleChartSvg(points: IdlePoint[]): string {
  const models = [...new Set(points.map((p) => p.model))];
  const panel = (yLabel: string, y: (r: LoadReport) => number) => ({
    yLabel,
    series: models
      .map((name) => ({ name, points: points.filter((p) => p.model === name && p.report).map((p) => ({ x: p.idle, y: y(p.report!) })) }))
      .filter((line) => line.points.length > 0),
  });
  return lineChartSvg('One active connection beside N idle ones', 'idle connections', [
    panel('p50 latency (us)', (r) => r.latencyUs.p50),
    panel('p99 latency (us)', (r) => r.latencyUs.p99),
    panel('requests/s', (r) => r.rps),
  ]);
}

/** The cores experiment: req/s against loops; the models without loops as flat lines. */
export function coresChartSvg(points: CoresPoint[], counts: number[]): string {
  const series = [...new Set(points.filter((p) => p.loops > 0).map((p) => p.label))].map((label) => ({
    name: label,
    points: points.filter((p) => p.label === label && p.report).map((p) => ({ x: p.loops, y: p.report!.rps })),
  }));
  for (const p of points.filter((x) => x.loops === 0 && x.report)) {
    series.push({ name: p.label, points: counts.map((x) => ({ x, y: p.report!.rps })) });
  }
  return lineChartSvg('requests/s vs event loops', 'loops', [{ yLabel: 'requests/s', series }]);
}
