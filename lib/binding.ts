// Loads the native addon (prebuilt or built at install) through node-gyp-build.
import * as path from 'node:path';

import type { LoadProgress, LoadReport } from './loadgen';
import type { NativeServer } from './server';
import type { AcceptResult, EpollEvent, SelectResult, SocketAddress } from './sys';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

// NETMODELS_BINDING_DIR names another package-like directory to load the
// addon from (its build/Release): `npm run test:sanitize` points it at the
// sanitizer build in build-sanitize/. Nothing falls back to the normal build
// when it is set, so a run never tests the wrong addon unknowingly.
const dir = process.env.NETMODELS_BINDING_DIR || path.join(__dirname, '..');

function loadAddon(): unknown {
  try {
    return load(dir);
  } catch (err) {
    // node-gyp-build's message says what it looked for; ours, what to do.
    const e = err as Error;
    e.message +=
      `\nnetmodels: no addon for ${process.platform}-${process.arch} (Node ${process.version}) in ${dir}: ` +
      'install a C++ compiler, make and Python 3 (Debian/Ubuntu: build-essential python3) and run ' +
      '`npm rebuild netmodels` (the npm package carries prebuilds for Linux x64 and arm64, glibc 2.28 or newer).';
    throw e;
  }
}

/** A native wait's callback: once, after its thread was joined; `cancelReason` is one of `constants.kClosed`, `kAborted` or 0. */
export type WaitCallback = (err: Error | null, result: unknown, cancelReason: number) => void;

/** The native Epoll object behind sys.Epoll (an epoll fd; -1 once closed). */
export interface NativeEpoll {
  readonly fd: number;
  add(fd: number, events: number): void;
  modify(fd: number, events: number): void;
  remove(fd: number): void;
  wait(maxEvents: number, timeoutMs: number): EpollEvent[];
  /** Waits on a native thread; returns the cancel function. */
  waitAsync(maxEvents: number, timeoutMs: number, callback: WaitCallback): () => void;
  close(): void;
}

/** The raw syscalls behind lib/sys.ts, which checks every argument first: 0 / a value, or a thrown system error. */
export interface SysAddon {
  readonly constants: Readonly<Record<string, number>>;
  socket(domain: number, type: number, nonBlocking: boolean): number;
  bind(fd: number, address: string, port: number): void;
  listen(fd: number, backlog: number): void;
  accept(fd: number, nonBlocking: boolean): AcceptResult | null;
  connect(fd: number, address: string, port: number): boolean;
  getsockname(fd: number): SocketAddress;
  getpeername(fd: number): SocketAddress;
  recv(fd: number, buffer: ArrayBufferView): number | null;
  send(fd: number, buffer: ArrayBufferView): number | null;
  read(fd: number, buffer: ArrayBufferView): number | null;
  write(fd: number, buffer: ArrayBufferView): number | null;
  shutdown(fd: number, how: number): void;
  close(fd: number): void;
  setNonBlocking(fd: number, nonBlocking: boolean): void;
  socketpair(nonBlocking: boolean): [number, number];
  pipe(nonBlocking: boolean): [number, number];
  setsockopt(fd: number, option: string, value: number): void;
  getsockopt(fd: number, option: string): number;
  select(readFds: number[], writeFds: number[], exceptFds: number[], timeoutMs: number): SelectResult;
  selectAsync(readFds: number[], writeFds: number[], exceptFds: number[], timeoutMs: number, callback: WaitCallback): () => void;
  poll(fds: number[], events: number[], timeoutMs: number): number[];
  pollAsync(fds: number[], events: number[], timeoutMs: number, callback: WaitCallback): () => void;
  Epoll: new () => NativeEpoll;
}

/** The addon, as each part of the library uses it. */
export interface Addon {
  /** A model's server: `new NativeServer(model, options)` with every option checked and defaulted (lib/options.ts). */
  NativeServer: new (model: string, options: Record<string, unknown>) => NativeServer;
  /** The models compiled into this build. */
  readonly nativeModels: readonly string[];
  readonly sys: SysAddon;
  /** The load generator; the promise's stop() ends the run early (it still resolves, with what was measured). */
  loadgenStart(options: object, onProgress?: (p: LoadProgress) => void): Promise<Omit<LoadReport, 'startedAt' | 'finishedAt'>> & { stop(): void };
  /** The stats() keys the native side reports (native/core/stats.h's lists), held against ServerStats by a test. */
  readonly statsKeys: { stats: string[]; syscalls: string[]; worker: string[] };
  /** The JS <-> native wire format (lib/wire.ts), held against lib's by a test. */
  readonly wire: { eventStride: number; opStride: number; events: Record<string, number>; ops: Record<string, number> };
  /** Test-only: the built-in HTTP handler run on `bytes`, cut at `splits` (native/http_probe_wrap.cc). */
  httpFrame(bytes: Buffer, splits?: number[]): { output: Buffer; closed: boolean; ends: number[]; consumed: number };
}

export const binding = loadAddon() as Addon;
