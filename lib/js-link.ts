// The JS side of the JS-handler bridge (native/js/bridge_wrap.cc): turns each
// native batch (one per loop round) into Connection objects and events, and
// sends the connections' writes and flow control back once per JS turn.
import { Connection, OpKind, type ConnectionLink } from './connection';

/** What a model's native side offers the link. */
export interface JsOpsSink {
  jsOps(meta: Float64Array, buffers: Buffer[]): void;
}

// Event kinds of a batch: five numbers per event (kind, fd, generation, a, b).
const OPENED = 0;
const DATA = 1;
const ENDED = 2;
const DRAINED = 4;
const CLOSED = 5;
const SHUT = 6;

export class JsLink implements ConnectionLink {
  readonly #handler: (conn: Connection) => void;
  readonly #onConnection: (conn: Connection) => void;
  readonly #highWaterMark: number;
  #native: JsOpsSink | null = null;
  // One map per loop, by fd; the generation tells a reused fd apart.
  readonly #conns: Map<number, Connection>[] = [];
  // Seven numbers per op, written in place: the native side copies what it
  // needs during jsOps(), so the array is reused from turn to turn.
  #meta = new Float64Array(7 * 64);
  #metaLength = 0;
  #buffers: Buffer[] = [];
  #flushQueued = false;
  // Connections with input taken and not reported yet (reported at flush).
  readonly #owing = new Set<Connection>();

  constructor(handler: (conn: Connection) => void, onConnection: (conn: Connection) => void, highWaterMark: number) {
    this.#handler = handler;
    this.#onConnection = onConnection;
    this.#highWaterMark = highWaterMark;
  }

  /** Binds the link to a started server's native side. */
  attach(native: JsOpsSink): void {
    this.#native = native;
  }

  /** The batch callback handed to the native start(). */
  readonly onBatch = (loop: number, meta: Float64Array, bytes: Buffer, peers: string[]): void => {
    const conns = (this.#conns[loop] ??= new Map());
    let thrown: { error: unknown } | null = null;
    for (let i = 0; i + 5 <= meta.length; i += 5) {
      const kind = meta[i];
      const fd = meta[i + 1];
      const generation = meta[i + 2];
      try {
        if (kind === OPENED) {
          const [remoteAddress, remotePort, family, localAddress, localPort] = peers[meta[i + 3]].split(',');
          const conn = new Connection(this, loop, fd, generation, {
            remoteAddress,
            remotePort: Number(remotePort),
            remoteFamily: family === '6' ? 'IPv6' : 'IPv4',
            localAddress,
            localPort: Number(localPort),
          }, this.#highWaterMark);
          conns.set(fd, conn);
          this.#handler(conn);
          this.#onConnection(conn);
          continue;
        }
        const conn = conns.get(fd);
        if (!conn || conn.generation !== generation) continue;
        switch (kind) {
          case DATA:
            conn.onData(bytes.subarray(meta[i + 3], meta[i + 3] + meta[i + 4]));
            if (conn.owesMuch()) this.#owing.add(conn);
            break;
          case ENDED:
            conn.onEnd();
            break;
          case DRAINED:
            conn.onDrained();
            break;
          case SHUT:
            conn.onShut();
            break;
          case CLOSED:
            conns.delete(fd);
            this.#owing.delete(conn);
            conn.onClosed(meta[i + 3]);
            break;
        }
      } catch (error) {
        // A throwing handler or listener must not cost the other connections
        // their events: the rest of the batch is delivered first.
        thrown ??= { error };
      }
    }
    this.#scheduleFlush();
    // Thrown from a tick of its own, it is the process's uncaught exception,
    // as from a net.Server 'connection' listener. (Thrown from this native
    // callback, Node 20 would only print a deprecation warning.)
    if (thrown) {
      const { error } = thrown;
      process.nextTick(() => {
        throw error;
      });
    }
  };

  op(conn: Connection, kind: OpKind, data?: Buffer, notify = false, value = 0): void {
    let index = value;
    if (data) {
      index = this.#buffers.length;
      this.#buffers.push(data);
    }
    if (this.#metaLength + 7 > this.#meta.length) {
      const grown = new Float64Array(this.#meta.length * 2);
      grown.set(this.#meta);
      this.#meta = grown;
    }
    const m = this.#meta;
    const at = this.#metaLength;
    m[at] = conn.loop;
    m[at + 1] = conn.fd;
    m[at + 2] = conn.generation;
    m[at + 3] = kind;
    m[at + 4] = conn.takeTaken();
    m[at + 5] = index;
    m[at + 6] = notify ? 1 : 0;
    this.#metaLength = at + 7;
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    process.nextTick(this.#flush);
  }

  // One native call per JS turn for every op of every connection.
  readonly #flush = (): void => {
    // Still queued while the owed acknowledgements are added: they go in this flush.
    for (const conn of this.#owing) {
      if (conn.owesMuch()) this.op(conn, OpKind.Consumed);
    }
    this.#owing.clear();
    this.#flushQueued = false;
    if (this.#metaLength === 0) return;
    const meta = this.#meta.subarray(0, this.#metaLength);
    const buffers = this.#buffers;
    this.#metaLength = 0;
    this.#buffers = [];
    this.#native?.jsOps(meta, buffers);
  };

  /** After stop(): every connection still open is closed ('close' fires on each). */
  closeAll(): void {
    this.#native = null;
    this.#metaLength = 0;
    this.#buffers = [];
    for (const conns of this.#conns.filter(Boolean)) {
      for (const conn of conns.values()) conn.onClosed();
      conns.clear();
    }
  }
}
