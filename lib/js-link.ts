// The JS side of the JS-handler bridge (native/js/bridge_wrap.cc): turns each
// native batch (one per loop round) into Connection objects and events, and
// sends the connections' writes and flow control back once per JS turn.
import { Connection, OpKind, type ConnectionLink } from './connection';
import { OpBatch, throwLater, type JsOpsSink } from './op-batch';
import { EVENT_STRIDE, EventKind } from './wire';

export type { JsOpsSink } from './op-batch';

// Event kinds of a batch: EVENT_STRIDE numbers per event (kind, fd, generation, a, b).
const { opened: OPENED, data: DATA, ended: ENDED, drained: DRAINED, closed: CLOSED, shut: SHUT } = EventKind;

export class JsLink implements ConnectionLink {
  readonly #handler: (conn: Connection) => void;
  readonly #onConnection: (conn: Connection) => void;
  readonly #highWaterMark: number;
  // One map per loop, by fd; the generation tells a reused fd apart.
  readonly #conns: Map<number, Connection>[] = [];
  // Connections with input taken and not reported yet (reported at flush).
  readonly #owing = new Set<Connection>();
  readonly #ops = new OpBatch(() => {
    for (const conn of this.#owing) {
      if (conn.owesMuch()) this.op(conn, OpKind.Consumed);
    }
    this.#owing.clear();
  });

  constructor(handler: (conn: Connection) => void, onConnection: (conn: Connection) => void, highWaterMark: number) {
    this.#handler = handler;
    this.#onConnection = onConnection;
    this.#highWaterMark = highWaterMark;
  }

  /** Binds the link to a started server's native side. */
  attach(native: JsOpsSink): void {
    this.#ops.attach(native);
  }

  /** The batch callback handed to the native start(). */
  readonly onBatch = (loop: number, meta: Float64Array, bytes: Buffer, peers: string[]): void => {
    const conns = (this.#conns[loop] ??= new Map());
    let thrown: { error: unknown } | null = null;
    for (let i = 0; i + EVENT_STRIDE <= meta.length; i += EVENT_STRIDE) {
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
    this.#ops.flushSoon();
    throwLater(thrown);
  };

  op(conn: Connection, kind: OpKind, data?: Buffer, notify = false, value = 0): void {
    this.#ops.push(conn.loop, conn.fd, conn.generation, kind, conn.takeTaken(), value, notify, data);
  }

  /** After stop(): every connection still open is closed ('close' fires on each). */
  closeAll(): void {
    this.#ops.close();
    for (const conns of this.#conns.filter(Boolean)) {
      for (const conn of conns.values()) conn.onClosed();
      conns.clear();
    }
  }
}
