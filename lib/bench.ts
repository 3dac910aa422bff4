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
const CEILING_SOURCE = path.join(ROOT, 'scripts', 'ceiling.c');

export interface Target {
  /** Row label: 'epoll edge', 'node:net', 'C ceiling'. */
  label: string;
  kind: 'model' | 'node' | 'ceiling';
  model?: ModelName;
  args?: string[];
}

export interface BenchRow {
  label: string;
  kind: Target['kind'];
  report: LoadReport | null;
  /** Why there is no report (the target could not run). */
  skipped?: string;
  vsNode?: number;
  vsCeiling?: number;
  /** Every run, when there were several rounds. */
  runs?: LoadReport[];
}

/** Every model's bench rows, from the model table (epoll: one per trigger). */
export function modelTargets(): Target[] {
  return MODELS.flatMap((model) =>
    benchVariants(MODEL_TABLE[model].spec).map((v) => ({
      label: v.label,
      kind: 'model' as const,
      model,
      args: Object.entries(v.options).flatMap(([key, value]) => [`--${flagName(key)}`, String(value)]),
    })),
  );
}

/** `--models` names: a model, or epoll-level / epoll-edge for one trigger. */
export function selectTargets(names: string[] | undefined): Target[] {
  const all = modelTargets();
  if (!names) return all;
  const out: Target[] = [];
  for (const name of names) {
    const found = all.filter((t) => t.label.replace(' ', '-') === name || t.model === name);
    if (found.length === 0) {
      throw Object.assign(new RangeError(`unknown model '${name}' (known: ${all.map((t) => t.label.replace(' ', '-')).join(', ')})`), {
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
    child = spawn(binary, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
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
}

async function measureRr(target: Target, config: RrConfig): Promise<LoadReport> {
  const server = await startTarget(target, ['--backlog', '4096']);
  try {
    return await loadgen({
      port: server.port,
      mode: 'rr',
      connections: config.connections,
      messageSize: config.messageSize,
      durationMs: config.durationMs,
      warmupMs: config.warmupMs,
      expect: 'uppercase',
      onProgress: progress(target.label),
    });
  } finally {
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
  const runs = new Map<Target, (LoadReport | null)[]>();
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
  const ceiling = targets.find((t) => t.kind === 'ceiling');
  const ratio = (target: Target, base: Target | undefined): number | undefined => {
    if (!base || skipped.has(base)) return undefined;
    const mine = runs.get(target)!;
    const theirs = runs.get(base)!;
    return median(mine.map((r, i) => (r && theirs[i] ? r.rps / theirs[i]!.rps : NaN)).filter(Number.isFinite));
  };
  return targets.map((target) => {
    const reports = runs.get(target)!.filter((r): r is LoadReport => r !== null);
    if (skipped.has(target) || reports.length === 0) {
      return { label: target.label, kind: target.kind, report: null, skipped: skipped.get(target) ?? 'no run' };
    }
    const byRps = [...reports].sort((a, b) => a.rps - b.rps);
    const row: BenchRow = { label: target.label, kind: target.kind, report: byRps[(byRps.length - 1) >> 1] };
    if (rounds > 1) row.runs = reports;
    row.vsNode = ratio(target, node);
    row.vsCeiling = ratio(target, ceiling);
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
  const header = [pad('server', 12, false), pad('req/s', 11), pad('MB/s', 8), pad('p50 us', 8), pad('p99 us', 8), pad('x node:net', 11), pad('x C', 6), pad('errors', 7)];
  const lines = [header.join('  ')];
  for (const r of rows) {
    if (!r.report) {
      lines.push(`${pad(r.label, 12, false)}  skipped: ${r.skipped}`);
      continue;
    }
    const x = r.report;
    lines.push(
      [
        pad(r.label, 12, false),
        pad(fmt(x.rps), 11),
        pad(fmt(x.bytesPerSec / 1e6, 1), 8),
        pad(fmt(x.latencyUs.p50), 8),
        pad(fmt(x.latencyUs.p99), 8),
        pad(r.vsNode === undefined ? '-' : `${fmt(r.vsNode, 2)}x`, 11),
        pad(r.vsCeiling === undefined ? '-' : fmt(r.vsCeiling, 2), 6),
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
