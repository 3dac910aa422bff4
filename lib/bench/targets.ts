// The bench's targets: which servers it runs (every model's rows from the
// model table, node:net, node:http, the C ceiling, a server already
// running) and how one is started and stopped.
//
// Each server runs in a process of its own (the models through `netmodels
// serve`, node:net through dist/node-server.js, the ceiling as a C binary),
// so it has its own fd table and its own threads; the load generator runs in
// the bench's process on native threads.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { LoadExpect } from '../loadgen';
import { MODEL_TABLE, MODELS, type ModelName } from '../models/index';
import { benchVariants, flagName, type ModelSpec } from '../spec';

// dist/ (the compiled lib/) and the package root above it.
export const DIST = path.join(__dirname, '..');
export const ROOT = path.join(DIST, '..');
export const CLI = path.join(DIST, 'cli.js');
const NODE_SERVER = path.join(DIST, 'node-server.js');
const BENCH_HANDLER = path.join(DIST, 'bench-handler.js');
const BENCH_HTTP_APP = path.join(DIST, 'bench-http-app.js');
const NODE_HTTP_SERVER = path.join(DIST, 'node-http-server.js');
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

/**
 * Every model's bench rows, from the model table (epoll: one per trigger).
 * With `loops` > 1 the event models run that many loops ('epoll level x4').
 */
export function modelTargets(loops = 1): Target[] {
  // Datagram models have a bench of their own (lib/bench/udp.ts).
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
 * The `--models` name of the first bench row of every model whose spec
 * passes `pick`, in the table's order ('epoll-level' for epoll): how an
 * experiment picks its models by what they can do, never by name.
 */
export function modelRows(pick: (spec: ModelSpec) => boolean): string[] {
  return MODELS.filter((model) => MODEL_TABLE[model].spec.family !== 'datagram' && pick(MODEL_TABLE[model].spec)).map((model) =>
    rowName(benchVariants(MODEL_TABLE[model].spec)[0].label),
  );
}

/** The spec of the model a row belongs to, by its label ('epoll level', 'prefork 64'), its `--models` name or its model's. */
export function specOfRow(row: string): ModelSpec {
  const t = modelTargets().find((x) => x.label === row || rowName(x.label) === row || x.model === row);
  if (!t) throw new RangeError(`no bench row '${row}'`);
  return MODEL_TABLE[t.model!].spec;
}

/** Descriptors a server process holds beside its connections: stdio, the listener, the runtime's own. */
const OWN_FDS = 24;

/** Whether a model can watch `idle` connections and an active one (select: FD_SETSIZE). */
export function holdsIdle(row: string, idle: number): boolean {
  const max = specOfRow(row).maxFd;
  return max === undefined || idle + OWN_FDS <= max;
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

/** Why a model's row is skipped when this build lacks it. */
export function notBuilt(model: ModelName): string {
  const requires = MODEL_TABLE[model].spec.requires;
  return requires ? `not built: ${requires} was missing when netmodels was compiled` : 'not built';
}
