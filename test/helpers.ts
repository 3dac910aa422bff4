// Shared test utilities: bounded waits, server and socket tracking for
// cleanup, byte checks and HTTP response parsing. The buffered client lives in
// client.ts, the /proc probes in proc.ts. Everything here waits with a bound;
// nothing sleeps to decide a result.
import * as net from 'node:net';
import * as crypto from 'node:crypto';

import type { LoadReport, ServerStats } from '../lib/index';

export const KiB = 1024;
export const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------
// Bounded waiting

/**
 * How much slower than a plain build this run's native code is allowed to be:
 * scripts/sanitize.sh sets NETMODELS_TEST_TIME_SCALE (ASan and UBSan run the
 * addon 2-5x slower, on two busy cores). A test whose claim is an order of
 * real times (traffic every `gap` keeps alive what `timeout` would close)
 * scales both with `scaled()`, so the order is what it asserts, not the
 * speed of the machine.
 */
export const TIME_SCALE = Number(process.env.NETMODELS_TEST_TIME_SCALE ?? '1') || 1;

export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `cond` until it returns a truthy value and returns that value. Fails
 * after `timeoutMs` with `what` and, if given, a description of the last state.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  what: string,
  timeoutMs = 5000,
  describe?: () => string,
  intervalMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await cond();
    if (value) return value;
    if (Date.now() >= deadline) {
      const state = describe ? `; last state: ${describe()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
    }
    await delay(intervalMs);
  }
}

/** Rejects if `promise` has not settled within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until `sample()` has not changed for `stableMs` and returns the value.
 * Used to find where a counter stops growing (backpressure plateau).
 */
export async function waitForPlateau(
  sample: () => number,
  what: string,
  { stableMs = 750, timeoutMs = 20_000, intervalMs = 50 } = {},
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = sample();
  let since = Date.now();
  for (;;) {
    await delay(intervalMs);
    const now = sample();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= stableMs) {
      return now;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} to stop changing (last ${last})`);
    }
  }
}

// ---------------------------------------------------------------------------
// Servers and cleanup

/** The part of the server API the tests use (kept structural on purpose). */
export interface ServerLike {
  readonly model: string;
  start(): Promise<{ address: string; family: string; port: number }>;
  stop(): Promise<void>;
  stats(): StatsLike;
  address(): { address: string; family: string; port: number } | null;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** The stats shape the library promises: the same for every model. */
export type StatsLike = ServerStats;

const liveServers = new Set<ServerLike>();
const liveSockets = new Set<net.Socket>();

/** Registers a server so that `cleanup()` stops it even if the test failed. */
export function trackServer<S extends ServerLike>(server: S): S {
  liveServers.add(server);
  return server;
}

/** Registers a socket so that `cleanup()` destroys it even if the test failed. */
export function trackSocket(socket: net.Socket): net.Socket {
  liveSockets.add(socket);
  socket.once('close', () => liveSockets.delete(socket));
  return socket;
}

/**
 * Destroys every tracked socket and stops every tracked server that is still
 * running. Meant for afterEach: it never throws for a server that was already
 * stopped, and it bounds a hanging stop() so the next test still runs.
 */
export async function cleanup(): Promise<void> {
  for (const socket of liveSockets) socket.destroy();
  liveSockets.clear();
  const failures: string[] = [];
  for (const server of liveServers) {
    let running = false;
    try {
      running = server.address() !== null || server.stats().running;
    } catch {
      running = true;
    }
    if (!running) continue;
    try {
      await withTimeout(server.stop(), 15_000, `cleanup stop() of a ${server.model} server`);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_SERVER_NOT_RUNNING') failures.push(String(err));
    }
  }
  liveServers.clear();
  if (failures.length > 0) throw new Error(`cleanup failed: ${failures.join('; ')}`);
}

/** Reads stats until `pred` holds; fails with the last snapshot otherwise. */
export async function waitForStats(
  server: ServerLike,
  pred: (s: StatsLike) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<StatsLike> {
  return waitFor(
    () => {
      const s = server.stats();
      return pred(s) ? s : null;
    },
    `stats: ${what}`,
    timeoutMs,
    () => JSON.stringify(server.stats()),
  ) as Promise<StatsLike>;
}

/** Waits until every accepted connection is accounted for and `closed` reached `closed`. */
export function waitQuiescent(server: ServerLike, closed: number, timeoutMs = 5000): Promise<StatsLike> {
  return waitForStats(
    server,
    (s) => s.active === 0 && s.closed >= closed && s.accepted === s.active + s.closed + s.rejected,
    `active 0, closed >= ${closed}, accepted = active + closed + rejected`,
    timeoutMs,
  );
}

// ---------------------------------------------------------------------------
// Bytes

/** ASCII toupper: only a-z change, every other byte value is kept. */
export function toUpperAscii(input: Buffer): Buffer {
  const out = Buffer.from(input);
  const upper = (i: number) => {
    const b = out[i];
    if (b >= 0x61 && b <= 0x7a) out[i] = b - 0x20;
  };
  // Four bytes at a time (a 32 MiB expected reply is built per test, in
  // every config: 2.5x less CPU than byte by byte). Per byte b, h = b & 0x7f:
  // h + 0x1f has its top bit set iff h >= 'a', h + 0x05 iff h > 'z'; no sum
  // carries into the next byte. A byte with its own top bit set is no
  // letter. 0x80 >> 2 is the case bit, 0x20.
  const head = Math.min(out.length, (4 - (out.byteOffset & 3)) & 3);
  for (let i = 0; i < head; i++) upper(i);
  const words = new Int32Array(out.buffer, out.byteOffset + head, (out.length - head) >>> 2);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const h = w & 0x7f7f7f7f;
    words[i] = w ^ (((h + 0x1f1f1f1f) & ~(h + 0x05050505) & ~w & 0x80808080) >>> 2);
  }
  for (let i = head + words.length * 4; i < out.length; i++) upper(i);
  return out;
}

/** Random bytes that contain every byte value 0-255 (at the start and the end). */
export function randomPayload(n: number): Buffer {
  const buf = crypto.randomBytes(n);
  if (n >= 512) {
    for (let i = 0; i < 256; i++) {
      buf[i] = i;
      buf[n - 256 + i] = 255 - i;
    }
  } else {
    for (let i = 0; i < n; i++) buf[i] = i & 0xff;
  }
  return buf;
}

/** Throws a readable error (first differing offset, lengths) unless the buffers are equal. */
export function assertBytesEqual(actual: Buffer, expected: Buffer, what = 'bytes'): void {
  if (actual.length === expected.length && actual.equals(expected)) return;
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  const window = (b: Buffer) => b.subarray(Math.max(0, i - 8), i + 8).toString('hex');
  throw new Error(
    `${what} differ: got ${actual.length} bytes, expected ${expected.length}; ` +
      `first difference at offset ${i} (got ${window(actual)}, expected ${window(expected)})`,
  );
}

/**
 * A loadgen() run expected to count no request: it must reject with
 * ERR_LOADGEN_NO_REQUESTS; resolves with the report the error carries.
 */
export async function emptyRun(run: Promise<LoadReport>): Promise<LoadReport> {
  const outcome = await run.then(
    (report) => ({ resolved: report }),
    (err: unknown) => ({ err: err as Error & { code?: string; report?: LoadReport } }),
  );
  if ('resolved' in outcome) throw new Error(`loadgen() resolved with ${outcome.resolved.requests} requests: expected none`);
  if (outcome.err.code !== 'ERR_LOADGEN_NO_REQUESTS' || !outcome.err.report) throw outcome.err;
  return outcome.err.report;
}
