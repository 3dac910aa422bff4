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

import { loadgen, type LoadReport } from './loadgen';
import { MODEL_TABLE, MODELS, nativeModels, type ModelName } from './models/index';
import { benchVariants, flagName } from './spec';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(__dirname, 'cli.js');
const NODE_SERVER = path.join(__dirname, 'node-server.js');
const BENCH_HANDLER = path.join(__dirname, 'bench-handler.js');
const CEILING_SOURCE = path.join(ROOT, 'scripts', 'ceiling.c');

export interface Target {
  /** Row label: 'epoll edge', 'node:net', 'C ceiling'. */
  label: string;
  kind: 'model' | 'node' | 'ceiling';
  model?: ModelName;
  args?: string[];
  /** Event models and the ceiling: this many loops (default 1). */
  loops?: number;
}

export interface BenchRow {
  label: string;
  kind: Target['kind'];
  report: RrRun | null;
  /** Why there is no report (the target could not run). */
  skipped?: string;
  vsNode?: number;
  vsCeiling?: number;
  /** Every run, when there were several rounds. */
  runs?: RrRun[];
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
  return MODELS.flatMap((model) => {
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

/** The C ceiling as `loops` processes sharing the port with SO_REUSEPORT. */
export function ceilingTarget(loops = 1): Target {
  return { label: loops > 1 ? `C ceiling x${loops}` : 'C ceiling', kind: 'ceiling', loops };
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

/** `--models` names: a model (all its rows), or one row: epoll-level, epoll+js... */
export function selectTargets(names: string[] | undefined, loops = 1): Target[] {
  const all = modelTargets(loops);
  if (!names) return all;
  const out: Target[] = [];
  for (const name of names) {
    const found = all.filter((t) => rowName(t.label) === name || t.model === name);
    if (found.length === 0) {
      throw Object.assign(new RangeError(`unknown model '${name}' (known: ${all.map((t) => rowName(t.label)).join(', ')})`), {
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
 * Builds scripts/ceiling.c once per source version into the temp directory
 * (a cache shared by runs); null if there is no C compiler.
 */
export function buildCeiling(): string | null {
  const source = fs.readFileSync(CEILING_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const out = path.join(os.tmpdir(), `netmodels-ceiling-${hash}`);
  if (fs.existsSync(out)) return out;
  const partial = `${out}.${process.pid}`;
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O3', '-o', partial, CEILING_SOURCE], { stdio: 'pipe' });
    fs.renameSync(partial, out);
    return out;
  } catch {
    fs.rmSync(partial, { force: true });
    return null;
  }
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
    child = spawn(process.execPath, [NODE_SERVER, '127.0.0.1', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  } else {
    const binary = buildCeiling();
    if (!binary) throw new Error('no C compiler (cc) to build the ceiling server');
    child = spawn(binary, ['0', '127.0.0.1', String(target.loops ?? 1)], { stdio: ['ignore', 'pipe', 'inherit'] });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${target.label}: no port within 10 s`)), 10_000);
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
      reject(new Error(`${target.label}: server exited with code ${code} before listening`));
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

function progress(label: string) {
  if (!process.stderr.isTTY) return undefined;
  return (p: { elapsedMs: number; rps: number }) => {
    process.stderr.write(`\r\x1b[K  ${label}: ${(p.elapsedMs / 1000).toFixed(1)} s  ${Math.round(p.rps).toLocaleString('en-US')} req/s`);
  };
}

function clearProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

export interface RrConfig {
  connections: number;
  messageSize: number;
  durationMs: number;
  warmupMs: number;
  /** Each target runs this many times, round-robin (default 1). */
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

const CLK_TCK = 100; // USER_HZ: the unit of /proc/<pid>/stat times on Linux

/** utime + stime (+ cutime + cstime with `reaped`) of a /proc stat line, in ticks. */
function statTicks(file: string, reaped: boolean): number {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 14-17 of stat(5), counted from after the command name.
    return Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
  } catch {
    return 0; // the process or thread is gone
  }
}

/** CPU ticks of a process, its reaped children, and its live descendants. */
function treeTicks(pid: number): number {
  let ticks = statTicks(`/proc/${pid}/stat`, true);
  let children: string[] = [];
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      children = children.concat(fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean));
    }
  } catch {
    // gone
  }
  for (const child of children) ticks += treeTicks(Number(child));
  return ticks;
}

async function measureRr(target: Target, config: RrConfig): Promise<RrRun> {
  const server = await startTarget(target, ['--backlog', '4096']);
  const pid = server.child.pid!;
  const sample = () => ({ all: treeTicks(pid), js: statTicks(`/proc/${pid}/task/${pid}/stat`, false) });
  // The CPU window is the measured one: from the end of the warm-up on.
  let start: { all: number; js: number } | null = null;
  const timer = setTimeout(() => (start = sample()), config.warmupMs);
  try {
    const report: RrRun = await loadgen({
      port: server.port,
      mode: 'rr',
      connections: config.connections,
      messageSize: config.messageSize,
      durationMs: config.durationMs,
      warmupMs: config.warmupMs,
      threads: config.threads ?? defaultLoadThreads(target.loops),
      expect: 'uppercase',
      onProgress: progress(target.label),
    });
    const end = sample();
    const begin = start as { all: number; js: number } | null;
    if (begin && report.requests > 0) {
      report.cpuUsPerReq = ((end.all - begin.all) * 1e6) / CLK_TCK / report.requests;
      report.jsUsPerReq = ((end.js - begin.js) * 1e6) / CLK_TCK / report.requests;
    }
    return report;
  } finally {
    clearTimeout(timer);
    clearProgress();
    await server.stop();
  }
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Why a model's row is skipped when this build lacks it. */
function notBuilt(model: ModelName): string {
  const requires = MODEL_TABLE[model].spec.requires;
  return requires ? `not built: ${requires} was missing when netmodels was compiled` : 'not built';
}

/**
 * Runs the rr load against each target in turn, `config.rounds` times
 * round-robin. A row shows the target's median run; its ratios are the
 * medians of the ratios measured within each round, so that a noisy moment
 * on a shared machine weighs on both sides of a ratio alike.
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
  for (let round = 0; round < rounds; round++) {
    for (const target of targets) {
      if (skipped.has(target)) continue;
      try {
        runs.get(target)!.push(await measureRr(target, config));
      } catch (err) {
        skipped.set(target, (err as Error).message);
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
      return { label: target.label, kind: target.kind, report: null, skipped: skipped.get(target) ?? 'no run' };
    }
    const byRps = [...reports].sort((a, b) => a.rps - b.rps);
    const row: BenchRow = { label: target.label, kind: target.kind, report: byRps[(byRps.length - 1) >> 1] };
    if (rounds > 1) row.runs = reports;
    row.vsNode = ratio(target, node);
    row.vsCeiling = ratio(target, ceilingFor(target));
    // CPU per request is steadier than req/s on a shared machine: the median
    // of the rounds, each measured over its own window.
    row.cpuUsPerReq = median(reports.map((r) => r.cpuUsPerReq).filter((v): v is number => v !== undefined));
    row.jsUsPerReq = median(reports.map((r) => r.jsUsPerReq).filter((v): v is number => v !== undefined));
    return row;
  });
}

function pad(text: string, width: number, right = true): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function rrTable(rows: BenchRow[]): string {
  const header = [
    pad('server', 16, false), pad('req/s', 11), pad('MB/s', 8), pad('p50 us', 8), pad('p99 us', 8),
    pad('x node:net', 11), pad('x C', 6), pad('cpu us/req', 10), pad('js us/req', 9), pad('errors', 7),
  ];
  const lines = [header.join('  ')];
  for (const r of rows) {
    if (!r.report) {
      lines.push(`${pad(r.label, 16, false)}  skipped: ${r.skipped}`);
      continue;
    }
    const x = r.report;
    lines.push(
      [
        pad(r.label, 16, false),
        pad(fmt(x.rps), 11),
        pad(fmt(x.bytesPerSec / 1e6, 1), 8),
        pad(fmt(x.latencyUs.p50), 8),
        pad(fmt(x.latencyUs.p99), 8),
        pad(r.vsNode === undefined ? '-' : `${fmt(r.vsNode, 2)}x`, 11),
        pad(r.vsCeiling === undefined ? '-' : `${fmt(r.vsCeiling, 2)}x`, 6),
        pad(fmt(r.cpuUsPerReq, 2), 10),
        pad(fmt(r.jsUsPerReq, 2), 9),
        pad(fmt(x.errors + x.mismatches), 7),
      ].join('  '),
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// The idle-connections experiment

export const IDLE_COUNTS = [0, 250, 500, 1000, 5000];

export interface IdlePoint {
  model: string;
  idle: number;
  report: LoadReport | null;
  skipped?: string;
}

/** Latency of one active connection while `idle` idle ones are open. */
export async function runIdle(config: { durationMs: number; warmupMs: number; messageSize: number; counts: number[] }): Promise<IdlePoint[]> {
  const targets = selectTargets(['select', 'poll', 'epoll-level', 'uring']);
  const built = new Set(nativeModels());
  const points: IdlePoint[] = [];
  for (const target of targets) {
    if (!built.has(target.model!)) {
      for (const idle of config.counts) points.push({ model: target.label, idle, report: null, skipped: notBuilt(target.model!) });
      continue;
    }
    for (const idle of config.counts) {
      // select cannot watch fds >= FD_SETSIZE, so it stops at 1000 idle.
      if (target.model === 'select' && idle > 1000) continue;
      const server = await startTarget(target, ['--backlog', '8192']);
      try {
        const report = await loadgen({
          port: server.port,
          mode: 'hold',
          idle,
          messageSize: config.messageSize,
          durationMs: config.durationMs,
          warmupMs: config.warmupMs,
          expect: 'uppercase',
          onProgress: progress(`${target.label} with ${idle} idle`),
        });
        points.push({ model: target.label, idle, report });
      } catch (err) {
        points.push({ model: target.label, idle, report: null, skipped: (err as Error).message });
      } finally {
        clearProgress();
        await server.stop();
      }
    }
  }
  return points;
}

export function idleTable(points: IdlePoint[]): string {
  const models = [...new Set(points.map((p) => p.model))];
  const counts = [...new Set(points.map((p) => p.idle))].sort((a, b) => a - b);
  const lines = [[pad('idle', 6), ...models.map((m) => pad(`${m} p50/p99 us (req/s)`, 34))].join('  ')];
  for (const idle of counts) {
    const cells = models.map((m) => {
      const p = points.find((x) => x.model === m && x.idle === idle);
      if (!p) return pad('-', 34);
      if (!p.report) return pad(`skipped: ${p.skipped}`, 34);
      const r = p.report;
      const held = r.connected < idle + 1 ? ` held ${r.connected}` : '';
      return pad(`${fmt(r.latencyUs.p50)}/${fmt(r.latencyUs.p99)} (${fmt(r.rps)})${held}`, 34);
    });
    lines.push([pad(String(idle), 6), ...cells].join('  '));
  }
  return lines.join('\n');
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
export async function runCores(config: RrConfig & { counts: number[] }): Promise<CoresPoint[]> {
  const points: CoresPoint[] = [];
  const once = [...selectTargets(['thread']), { label: 'node:net', kind: 'node' as const }];
  const max = Math.max(...config.counts);
  const measure = async (target: Target, loops: number) => {
    try {
      points.push({ label: target.label.replace(/ x\d+$/, ''), loops, report: await measureRr(target, { ...config, threads: config.threads ?? defaultLoadThreads(max) }) });
    } catch (err) {
      points.push({ label: target.label.replace(/ x\d+$/, ''), loops, report: null, skipped: (err as Error).message });
    }
  };
  for (const loops of config.counts) {
    await measure(selectTargets(['epoll-level'], loops)[0], loops);
    await measure(ceilingTarget(loops), loops);
  }
  for (const target of once) await measure(target, 0);
  return points;
}

export function coresTable(points: CoresPoint[]): string {
  const loops = [...new Set(points.filter((p) => p.loops > 0).map((p) => p.loops))].sort((a, b) => a - b);
  const labels = [...new Set(points.filter((p) => p.loops > 0).map((p) => p.label))];
  const lines = [[pad('loops', 6), ...labels.map((l) => pad(`${l} req/s`, 20)), pad('x C', 6)].join('  ')];
  for (const n of loops) {
    const cells = labels.map((l) => {
      const p = points.find((x) => x.label === l && x.loops === n);
      return pad(p?.report ? fmt(p.report.rps) : `skipped`, 20);
    });
    const model = points.find((x) => x.loops === n && x.label !== 'C ceiling');
    const ceiling = points.find((x) => x.loops === n && x.label === 'C ceiling');
    const ratio = model?.report && ceiling?.report ? model.report.rps / ceiling.report.rps : undefined;
    lines.push([pad(String(n), 6), ...cells, pad(fmt(ratio, 2), 6)].join('  '));
  }
  for (const p of points.filter((x) => x.loops === 0)) {
    lines.push(`${pad(p.label, 12, false)}  ${p.report ? `${fmt(p.report.rps)} req/s (no loops)` : `skipped: ${p.skipped}`}`);
  }
  return lines.join('\n');
}
