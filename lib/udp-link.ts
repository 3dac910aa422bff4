// The JS side of a UDP server's JS handler: each native batch (one per loop
// round) becomes one handler call per datagram; replies, and what the
// handler took (the native side's bound on datagrams handed over and not
// yet taken), go back once per JS turn. Same bridge as the TCP handler
// (native/js/bridge_wrap.cc), datagrams instead of connections.
import { OpKind } from './connection';
import { invalidArgType } from './errors';
import { OpBatch, throwLater, type JsOpsSink } from './op-batch';
import { EVENT_STRIDE, EventKind } from './wire';

/** The sender of a datagram, as node:dgram's `rinfo`. */
export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  /** The datagram's size in bytes. */
  size: number;
}

/**
 * Answers the datagram to its sender, once, now or later (after an await):
 * a reply that comes after 8,192 later datagrams of its loop finds its
 * sender forgotten and is counted in `lateReplies` (the datagram already
 * was, in `unanswered`).
 */
export type Reply = (data: Buffer | Uint8Array | string) => void;

/** Your UDP protocol in JavaScript: called once per datagram, on the JS thread. */
export type DatagramHandler = (msg: Buffer, rinfo: RemoteInfo, reply: Reply) => void;

// native/js/bridge_wrap.cc's event kind of a datagram: EVENT_STRIDE numbers
// per event (kind, sender index, seq, offset, length).
const DATAGRAM = EventKind.datagram;

interface Sender {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export class UdpLink {
  readonly #handler: DatagramHandler;
  readonly #ops = new OpBatch();

  constructor(handler: DatagramHandler) {
    this.#handler = handler;
  }

  attach(native: JsOpsSink): void {
    this.#ops.attach(native);
  }

  readonly onBatch = (loop: number, meta: Float64Array, bytes: Buffer, peers: string[]): void => {
    const senders = peers.map((p): Sender => {
      const [address, port, family] = p.split(',');
      return { address, port: Number(port), family: family === '6' ? 'IPv6' : 'IPv4' };
    });
    let taken = 0;
    let takenBytes = 0;
    let thrown: { error: unknown } | null = null;
    for (let i = 0; i + EVENT_STRIDE <= meta.length; i += EVENT_STRIDE) {
      if (meta[i] !== DATAGRAM) continue;
      const sender = senders[meta[i + 1]];
      const size = meta[i + 4];
      // A view: the batch's buffer is a fresh copy, never reused.
      const msg = bytes.subarray(meta[i + 3], meta[i + 3] + size);
      taken++;
      takenBytes += size;
      try {
        this.#handler(msg, { address: sender.address, family: sender.family, port: sender.port, size }, this.#reply(loop, meta[i + 2]));
      } catch (error) {
        // The other datagrams of the batch are still handled first.
        thrown ??= { error };
      }
    }
    this.#op(loop, 0, OpKind.Consumed, takenBytes, taken);
    throwLater(thrown);
  };

  #reply(loop: number, seq: number): Reply {
    let replied = false;
    return (data) => {
      let buf: Buffer;
      if (typeof data === 'string') buf = Buffer.from(data);
      else if (Buffer.isBuffer(data)) buf = data;
      else if (data instanceof Uint8Array) buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      else throw invalidArgType('data', 'of type string or an instance of Buffer or Uint8Array', data);
      if (replied) {
        throw Object.assign(new Error('The datagram was already answered'), { code: 'ERR_SOCKET_DGRAM_REPLIED' });
      }
      replied = true;
      this.#op(loop, seq, OpKind.Write, 0, 0, buf);
    };
  }

  // An op as JsBridge::Dispatch reads it: the fd is unused, the generation
  // is the datagram's seq, the index (kConsumed) the datagrams taken.
  #op(loop: number, seq: number, kind: OpKind, consumed: number, index: number, data?: Buffer): void {
    this.#ops.push(loop, 0, seq, kind, consumed, index, false, data);
  }

  closeAll(): void {
    this.#ops.close();
  }
}
