// The connection a JavaScript handler gets: a stream.Duplex over a socket the
// model's own threads read and write. Bytes arrive in batches from the
// native loops (one call per loop round) and writes go back in batches (one
// native call per JS turn); see JsLink in server.ts.
import { Duplex } from 'node:stream';

/** What a Connection asks of its server's native side; batched by the server. */
export interface ConnectionLink {
  /** Queues one op for this connection (kinds as in native JsOps::Kind). */
  op(conn: Connection, kind: OpKind, data?: Buffer, notify?: boolean): void;
}

/** native/core/js_sink.h JsOps::Kind. */
export const enum OpKind {
  Write = 0,
  End = 1,
  Destroy = 2,
  Pause = 3,
  Resume = 4,
  Consumed = 5,
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
 * The server's `idleTimeoutMs` applies (there is no `setTimeout`).
 */
export class Connection extends Duplex {
  readonly remoteAddress: string;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Bytes received from the peer. */
  bytesRead = 0;
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

  /** @internal Created by the server for each accepted connection. */
  constructor(link: ConnectionLink, loop: number, fd: number, generation: number, addresses: ConnectionAddresses, highWaterMark: number) {
    // allowHalfOpen false: as net.Server's sockets, the writable side ends
    // once the peer's 'end' was read, unless the handler ended it already.
    super({ allowHalfOpen: false, decodeStrings: true });
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
    this.bytesRead += chunk.length;
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

  /** @internal The native side closed the connection (or the server stopped). */
  onClosed(): void {
    this.#closedNatively = true;
    this.onDrained();
    this.onShut();
    if (!this.destroyed) this.destroy();
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
    if (!this.#closedNatively) {
      this.#closedNatively = true;
      this.#link.op(this, OpKind.Destroy);
    }
    for (const cb of this.#waiting.splice(0)) cb(error ?? undefined);
    callback(error);
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
