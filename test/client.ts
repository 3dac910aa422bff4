// A buffered TCP client for tests, and a probe for refused connections. Every
// wait is bounded; sockets are tracked so that cleanup() destroys them.
import * as net from 'node:net';

import { trackSocket } from './helpers';

/** How long a client waits without receiving a byte before it gives up on a reply. */
export const STALL_MS = 10_000;

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
