// Shared test utilities: buffered socket clients, bounded waits, byte checks,
// HTTP response parsing, and process-level leak probes (/proc/self/fd, tasks,
// child processes). Everything here waits with a bound; nothing sleeps to
// decide a result.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as crypto from 'node:crypto';

import type { ServerStats } from '../lib/index';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** How long a client waits without receiving a byte before it gives up on a reply. */
export const STALL_MS = 10_000;

// ---------------------------------------------------------------------------
// Bounded waiting

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

/** The stats shape the library promises (DESIGN section 1). */
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
// A buffered client

export interface ConnectOptions {
  /** When false, the client does not consume incoming data until resume(). */
  reading?: boolean;
  timeoutMs?: number;
}

/**
 * A TCP client that keeps everything it receives in order, so a test can
 * await exact byte counts one after another without losing data between
 * listeners. It records end/close/error instead of throwing.
 */
export class Client {
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** Bytes received over the client's lifetime (consumed or not). */
  received = 0;
  ended = false;
  closed = false;
  error: (Error & { code?: string }) | null = null;
  private waiters = new Set<() => void>();
  private reading = false;
  private lastDataAt = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.notify();
    });
  }

  static connect(port: number, host = '127.0.0.1', options: ConnectOptions = {}): Promise<Client> {
    const { reading = true, timeoutMs = 10_000 } = options;
    return new Promise((resolve, reject) => {
      const socket = trackSocket(net.connect({ port, host }));
      const client = new Client(socket);
      if (!reading) socket.pause();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        if (reading) client.resume();
        resolve(client);
      });
    });
  }

  /** Starts (or restarts) consuming incoming data. */
  resume(): void {
    if (!this.reading) {
      this.reading = true;
      this.socket.on('data', (chunk: Buffer) => {
        this.chunks.push(chunk);
        this.bufferedBytes += chunk.length;
        this.received += chunk.length;
        this.lastDataAt = Date.now();
        this.notify();
      });
    }
    this.socket.resume();
  }

  get buffered(): number {
    return this.bufferedBytes;
  }

  write(data: Buffer | string): boolean {
    return this.socket.write(data);
  }

  /** Resolves once `data` has been handed to the kernel. */
  writeAll(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  end(data?: Buffer | string): void {
    if (data !== undefined) this.socket.end(data);
    else this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * Waits until `pred()` holds, re-checking on every socket event. Fails after
   * `timeoutMs` in all, or after `stallMs` without a byte arriving, so a
   * reply that lost bytes fails fast instead of running into the test timeout.
   */
  private until(pred: () => boolean, what: string, timeoutMs: number, stallMs = STALL_MS): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        if (pred()) {
          this.waiters.delete(check);
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(() => {
        const now = Date.now();
        const stalled = now - Math.max(started, this.lastDataAt) >= stallMs;
        if (now - started >= timeoutMs || stalled) {
          this.waiters.delete(check);
          clearInterval(timer);
          const why = stalled ? `nothing arrived for ${stallMs} ms` : `timed out after ${timeoutMs} ms`;
          reject(new Error(`${why} waiting for ${what} (${this.state()})`));
        }
      }, 100);
      this.waiters.add(check);
    });
  }

  state(): string {
    const err = this.error ? `, error ${this.error.code ?? this.error.message}` : '';
    return `received ${this.received} bytes, ${this.bufferedBytes} unconsumed, ended ${this.ended}, closed ${this.closed}${err}`;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bufferedBytes);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return out;
  }

  /** Everything received and not yet consumed (does not consume it). */
  peek(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bufferedBytes);
  }

  /** Resolves with exactly `n` bytes; rejects if the connection ends first. */
  async read(n: number, timeoutMs = 30_000, stallMs = STALL_MS): Promise<Buffer> {
    await this.until(
      () => this.bufferedBytes >= n || this.ended || this.closed,
      `${n} bytes`,
      timeoutMs,
      stallMs,
    );
    if (this.bufferedBytes < n) {
      throw new Error(`connection ended before ${n} bytes arrived (${this.state()})`);
    }
    return this.take(n);
  }

  /** Waits until `pred(unconsumed bytes)` holds (or the connection ends). */
  async waitForData(pred: (data: Buffer) => boolean, what: string, timeoutMs = 10_000): Promise<Buffer> {
    await this.until(() => pred(this.peek()) || this.ended || this.closed, what, timeoutMs);
    const data = this.peek();
    if (!pred(data)) throw new Error(`connection ended before ${what} (${this.state()})`);
    return data;
  }

  /** Resolves with every remaining byte once the peer has closed its side. */
  async readToEnd(timeoutMs = 30_000): Promise<Buffer> {
    if (!this.reading) this.resume();
    await this.until(() => this.ended || this.closed, 'the peer to close', timeoutMs);
    return this.take(this.bufferedBytes);
  }

  /** Resolves once the socket emitted 'close'. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await this.until(() => this.closed, "the socket's 'close' event", timeoutMs);
  }
}

/** Connects and expects the connection to be refused. Resolves with the error code. */
export function connectError(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = trackSocket(net.connect({ port, host }));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} neither failed nor succeeded within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('CONNECTED');
    });
    socket.once('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

// ---------------------------------------------------------------------------
// Bytes

/** ASCII toupper: only a-z change, every other byte value is kept. */
export function toUpperAscii(input: Buffer): Buffer {
  const out = Buffer.from(input);
  for (let i = 0; i < out.length; i++) {
    const b = out[i];
    if (b >= 0x61 && b <= 0x7a) out[i] = b - 0x20;
  }
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

// ---------------------------------------------------------------------------
// HTTP

export interface HttpResponse {
  statusLine: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Bytes this response took on the wire. */
  size: number;
}

/**
 * Parses the complete HTTP/1.1 responses at the start of `data` (each framed
 * by Content-Length). Returns them and the incomplete or unparsable rest.
 */
export function parseHttpResponses(data: Buffer): { responses: HttpResponse[]; rest: Buffer } {
  const responses: HttpResponse[] = [];
  let offset = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', offset, 'latin1');
    if (headEnd < 0) break;
    const lines = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const statusLine = lines[0];
    const match = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!match) break;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length']);
    if (!Number.isInteger(length) || length < 0) break;
    const bodyStart = headEnd + 4;
    if (data.length < bodyStart + length) break;
    responses.push({
      statusLine,
      status: Number(match[1]),
      headers,
      body: Buffer.from(data.subarray(bodyStart, bodyStart + length)),
      size: bodyStart + length - offset,
    });
    offset = bodyStart + length;
  }
  return { responses, rest: data.subarray(offset) };
}

// ---------------------------------------------------------------------------
// Process-level leak probes

/** fd number -> link target for every fd of this process. */
export function fdSnapshot(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${name}`);
      // The directory fd readdirSync itself used shows up as /proc/<pid>/fd.
      if (target.startsWith('/proc/')) continue;
      out.set(Number(name), target);
    } catch {
      // The fd was closed between readdir and readlink.
    }
  }
  return out;
}

/** The fds open now that were not open (with the same target) in `before`. */
export function newFds(before: Map<number, string>): string[] {
  const added: string[] = [];
  for (const [fd, target] of fdSnapshot()) {
    if (before.get(fd) !== target) added.push(`${fd} -> ${target}`);
  }
  return added;
}

/** Fails unless, within `timeoutMs`, no fd is open that was not open in `before`. */
export async function expectNoNewFds(before: Map<number, string>, timeoutMs = 5000): Promise<void> {
  await waitFor(() => newFds(before).length === 0, 'no fd left open beyond the snapshot', timeoutMs, () =>
    newFds(before).join(', '),
  );
}

/** Number of threads in this process. */
export function threadCount(): number {
  return fs.readdirSync('/proc/self/task').length;
}

/** Pids (with state) of the processes whose parent is this process. */
export function childProcesses(): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue;
    }
    // Fields after the parenthesised comm (which may itself contain spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid) out.push(`${name}:${fields[0]}`);
  }
  return out;
}

/**
 * Makes sure libuv's threadpool exists before a thread count is taken, so a
 * later first use of it does not look like a thread leaked by a server.
 */
export async function warmUpThreadPool(): Promise<void> {
  await Promise.all(Array.from({ length: 8 }, () => fs.promises.stat('/proc/self')));
}

/** True if this host can bind and connect on ::1. */
export function hasIPv6Loopback(): boolean {
  try {
    return fs.readFileSync('/proc/net/if_inet6', 'latin1').includes('00000000000000000000000000000001');
  } catch {
    return false;
  }
}
