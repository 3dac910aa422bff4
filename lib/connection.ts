// The connection a JavaScript handler gets: a stream.Duplex over a socket the
// model's own threads read and write. Bytes arrive in batches from the
// native loops (one call per loop round) and writes go back in batches (one
// native call per JS turn); see JsLink in server.ts.
import { Duplex } from 'node:stream';
import { getSystemErrorName } from 'node:util';

/** What a Connection asks of its server's native side; batched by the server. */
export interface ConnectionLink {
  /** Queues one op for this connection (kinds as in native JsOps::Kind). */
  op(conn: Connection, kind: OpKind, data?: Buffer, notify?: boolean, value?: number): void;
}

/** native/core/js_sink.h JsOps::Kind. */
export const enum OpKind {
  Write = 0,
  End = 1,
  Destroy = 2,
  Pause = 3,
  Resume = 4,
  Consumed = 5,
  NoDelay = 6,
  KeepAlive = 7,
}

export interface ConnectionAddresses {
  remoteAddress: string;
  remoteFamily: 'IPv4' | 'IPv6';
  remotePort: number;
  localAddress: string;
  localPort: number;
}

/**
 * One client connection served by a JavaScript handler. Behaves like a
 * `net.Socket` where it can: `'data'`, `'end'` (the peer half-closed),
 * `'close'`, `'error'`, `'drain'`; `write()` returns false above the
 * high-water mark; `end()` half-closes once the output is flushed;
 * `destroy()`; `pause()` / `resume()` stop and restart reading natively.
 * What node's stacks (http, tls, http2) call on a socket works with
 * `net.Socket`'s semantics: `setTimeout()` (a timer restarted by every read
 * and write; `'timeout'` only, no close), `setNoDelay()` and `setKeepAlive()`
 * (socket options set on the loop's thread), `destroySoon()`,
 * `ref()` / `unref()`, `address()`, `readyState`, `pending`, `bufferSize`.
 * A connection the peer reset ends with `'error'` (`ECONNRESET`) and
 * `'close'` with `hadError` true; with no `'error'` listener, with
 * `'close'` (hadError true) alone, never an uncaught exception. The
 * server's `idleTimeoutMs` applies too.
 */
export class Connection extends Duplex {
  readonly remoteAddress: string;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  #bytesRead = 0;
  #bytesWritten = 0;

  /** @internal Where the connection lives natively: loop, fd, generation. */
  readonly loop: number;
  /** @internal */
  readonly fd: number;
  /** @internal */
  readonly generation: number;

  readonly #link: ConnectionLink;
  // Flow control, both in bytes: input the stream has taken and the native
  // side has not been told of yet (it stops reading while what it sent
  // minus what it was told reaches its high-water mark), and input pushed
  // while the readable buffer was full (taken once the stream asks for more).
  #taken = 0;
  #held = 0;
  readonly #ackEvery: number;
  // Bytes written since the native side last reported its output flushed.
  // Past the high-water mark, write callbacks wait for that report, so the
  // Writable buffers and write() returns false until 'drain'.
  #unflushed = 0;
  readonly #highWaterMark: number;
  #waiting: Array<(err?: Error | null) => void> = [];
  #closedNatively = false;
  // end(): 'finish' waits until the output is flushed and the write side shut.
  #finalCallback: ((error?: Error | null) => void) | null = null;
  #brokenBy = 0;  // the errno that broke the connection, when no 'error' listener was told
  #timeoutMs = 0;
  #timer: NodeJS.Timeout | null = null;

  /** @internal Created by the server for each accepted connection. */
  constructor(link: ConnectionLink, loop: number, fd: number, generation: number, addresses: ConnectionAddresses, highWaterMark: number) {
    // allowHalfOpen false: as net.Server's sockets, the writable side ends
    // once the peer's 'end' was read, unless the handler ended it already.
    // emitClose false: 'close' is emitted by _destroy, with hadError as
    // net.Socket gives it.
    super({ allowHalfOpen: false, decodeStrings: true, emitClose: false });
    this.#link = link;
    this.loop = loop;
    this.fd = fd;
    this.generation = generation;
    this.remoteAddress = addresses.remoteAddress;
    this.remoteFamily = addresses.remoteFamily;
    this.remotePort = addresses.remotePort;
    this.localAddress = addresses.localAddress;
    this.localPort = addresses.localPort;
    this.#ackEvery = Math.max(1, Math.min(64 * 1024, highWaterMark >> 2));
    this.#highWaterMark = highWaterMark;
  }

  /** Always false: a Connection is connected when the handler gets it (`net.Socket.pending`). */
  readonly pending = false;
  /** Always false (`net.Socket.connecting`). */
  readonly connecting = false;

  /** `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as `net.Socket.readyState`. */
  get readyState(): 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** Bytes written and not yet handed to the native side (`net.Socket.bufferSize`). */
  get bufferSize(): number {
    return this.writableLength;
  }

  /** The local end, as `net.Socket.address()`. */
  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number } {
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort };
  }

  /**
   * After `ms` without a read or a write, emits `'timeout'` (and calls
   * `callback`, added as a once listener); the connection stays open, as
   * with `net.Socket`. 0 turns it off (and removes `callback`).
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw Object.assign(new RangeError(`The value of "msecs" is out of range. It must be a non-negative finite number. Received ${String(ms)}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    if (callback !== undefined && typeof callback !== 'function') {
      throw Object.assign(new TypeError('The "callback" argument must be of type function.'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    this.#timeoutMs = Math.trunc(ms);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#timeoutMs === 0) {
      if (callback) this.removeListener('timeout', callback);
      return this;
    }
    if (callback) this.once('timeout', callback);
    if (!this.destroyed) this.#timer = setTimeout(this.#onTimeout, this.#timeoutMs).unref();
    return this;
  }

  /** The `setTimeout()` value in ms (0: none), as `net.Socket.timeout`. */
  get timeout(): number | undefined {
    return this.#timeoutMs || undefined;
  }

  // The timer is kept once it fired: activity re-arms it (refresh()), as
  // net.Socket's does, so an idle spell after new traffic times out again.
  readonly #onTimeout = (): void => {
    if (this.destroyed) return;
    this.emit('timeout');
  };

  // Activity restarts the timer (net.Socket's _unrefTimer).
  #touch(): void {
    this.#timer?.refresh();
  }

  /** TCP_NODELAY on (default true) or off, set on the loop's thread. */
  setNoDelay(noDelay = true): this {
    if (!this.#closedNatively) this.#link.op(this, OpKind.NoDelay, undefined, Boolean(noDelay));
    return this;
  }

  /** SO_KEEPALIVE on or off, and TCP_KEEPIDLE (whole seconds of `initialDelay` ms, when > 0), set on the loop's thread. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const seconds = Math.max(0, Math.trunc(Number(initialDelay) / 1000) || 0);
    if (!this.#closedNatively) this.#link.op(this, OpKind.KeepAlive, undefined, Boolean(enable), Math.min(seconds, 2 ** 31 - 1));
    return this;
  }

  /** Ends the writable side, then destroys once it finished (`net.Socket.destroySoon()`). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Kept for `net.Socket` compatibility: the server, not a connection, keeps the process alive (see `Server.unref()`). */
  ref(): this {
    return this;
  }

  /** As `ref()`. */
  unref(): this {
    return this;
  }

  /** Bytes received from the peer. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes handed to the server for sending. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** @internal Input taken since the last op, to ride on the next one. */
  takeTaken(): number {
    const n = this.#taken;
    this.#taken = 0;
    return n;
  }

  /** @internal Whether unreported input is large enough to report on its own. */
  owesMuch(): boolean {
    return this.#taken >= this.#ackEvery;
  }

  /** @internal */
  onData(chunk: Buffer): void {
    if (this.destroyed) return;
    this.#bytesRead += chunk.length;
    this.#touch();
    if (this.push(chunk)) {
      this.#taken += chunk.length;
    } else {
      this.#held += chunk.length;
    }
  }

  /** @internal */
  onEnd(): void {
    if (!this.destroyed) this.push(null);
  }

  /** @internal Everything written so far has reached the kernel. */
  onDrained(): void {
    this.#unflushed = 0;
    for (const cb of this.#waiting.splice(0)) cb();
  }

  /** @internal The output is flushed and the write side shut (after end()). */
  onShut(): void {
    const cb = this.#finalCallback;
    this.#finalCallback = null;
    cb?.();
  }

  /** @internal The native side closed the connection (or the server stopped); `errno`: what broke it, or 0. */
  onClosed(errno = 0): void {
    this.#closedNatively = true;
    this.onDrained();
    this.onShut();
    if (this.destroyed) return;
    if (errno > 0 && this.listenerCount('error') > 0) {
      // As net.Socket reports a reset: `read ECONNRESET`, then 'close' with hadError.
      const code = getSystemErrorName(-errno);
      this.destroy(Object.assign(new Error(`read ${code}`), { code, errno: -errno, syscall: 'read' }));
    } else {
      // Unlike net.Socket, a reset with no 'error' listener is not the
      // process's uncaught exception: any client could end a server that
      // way. 'close' still says hadError.
      this.#brokenBy = errno;
      this.destroy();
    }
  }

  override _read(): void {
    // The stream wants more: everything delivered so far is taken.
    if (this.#held > 0) {
      this.#taken += this.#held;
      this.#held = 0;
      if (!this.#closedNatively) this.#link.op(this, OpKind.Consumed);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#closedNatively) {
      callback(Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE' }));
      return;
    }
    this.#bytesWritten += chunk.length;
    this.#touch();
    this.#unflushed += chunk.length;
    if (this.#unflushed < this.#highWaterMark) {
      this.#link.op(this, OpKind.Write, chunk);
      callback();
    } else {
      // Asks the native side to report once its output is all sent.
      this.#link.op(this, OpKind.Write, chunk, true);
      this.#waiting.push(callback);
    }
  }

  // Chunks written while corked (node:http's head and body, say) leave as
  // one op: one copy across threads and one send() instead of one each.
  override _writev(chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    this._write(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), chunks[0].encoding, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#closedNatively) {
      callback();
      return;
    }
    // As net.Socket: 'finish' comes once the peer can have everything, so
    // the destroy that follows (autoDestroy) never drops unsent output.
    this.#finalCallback = callback;
    this.#link.op(this, OpKind.End);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#closedNatively) {
      this.#closedNatively = true;
      this.#link.op(this, OpKind.Destroy);
    }
    for (const cb of this.#waiting.splice(0)) cb(error ?? undefined);
    callback(error);
    // After the 'error' that callback queued, as net.Socket orders them.
    process.nextTick(() => this.emit('close', error != null || this.#brokenBy > 0));
  }

  /** Stops reading, natively: the peer's data waits in the kernel. */
  override pause(): this {
    if (!this.#closedNatively && !this.isPaused()) this.#link.op(this, OpKind.Pause);
    return super.pause();
  }

  /** Reads again after pause(). */
  override resume(): this {
    if (!this.#closedNatively && this.isPaused()) this.#link.op(this, OpKind.Resume);
    return super.resume();
  }
}
