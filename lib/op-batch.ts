// What both JS-handler links (js-link.ts: connections, udp-link.ts:
// datagrams) send back to the native bridge (native/js/bridge_wrap.cc):
// ops of OP_STRIDE numbers, as JsBridge::Dispatch reads them (loop, fd,
// generation, kind, consumed, index, notify), and the buffers they index,
// in one native call per JS turn.
import type { OpKind } from './connection';
import { OP_STRIDE } from './wire';

/** What a model's native side offers the link. */
export interface JsOpsSink {
  jsOps(meta: Float64Array, buffers: Buffer[]): void;
}

export class OpBatch {
  // Written in place: the native side copies what it needs during jsOps(),
  // so the array is reused from turn to turn.
  #meta = new Float64Array(OP_STRIDE * 64);
  #length = 0;
  #buffers: Buffer[] = [];
  #queued = false;
  #native: JsOpsSink | null = null;
  readonly #beforeFlush: (() => void) | undefined;

  /** `beforeFlush` runs first at each flush; the ops it pushes go in that flush. */
  constructor(beforeFlush?: () => void) {
    this.#beforeFlush = beforeFlush;
  }

  /** Binds the batch to a started server's native side. */
  attach(native: JsOpsSink): void {
    this.#native = native;
  }

  /** Queues one op; with `data`, the op's index is that buffer's. */
  push(loop: number, fd: number, generation: number, kind: OpKind, consumed: number, index: number, notify: boolean, data?: Buffer): void {
    if (data) index = this.#buffers.push(data) - 1;
    if (this.#length + OP_STRIDE > this.#meta.length) {
      const grown = new Float64Array(this.#meta.length * 2);
      grown.set(this.#meta);
      this.#meta = grown;
    }
    const m = this.#meta;
    const at = this.#length;
    m[at] = loop;
    m[at + 1] = fd;
    m[at + 2] = generation;
    m[at + 3] = kind;
    m[at + 4] = consumed;
    m[at + 5] = index;
    m[at + 6] = notify ? 1 : 0;
    this.#length = at + OP_STRIDE;
    this.flushSoon();
  }

  /** Flushes on the next tick, once however often it is asked. */
  flushSoon(): void {
    if (this.#queued) return;
    this.#queued = true;
    process.nextTick(this.#flush);
  }

  // Still queued while beforeFlush adds ops: they go in this flush.
  readonly #flush = (): void => {
    this.#beforeFlush?.();
    this.#queued = false;
    if (this.#length === 0) return;
    const meta = this.#meta.subarray(0, this.#length);
    const buffers = this.#buffers;
    this.#length = 0;
    this.#buffers = [];
    this.#native?.jsOps(meta, buffers);
  };

  /** After stop(): nothing more goes to the native side. */
  close(): void {
    this.#native = null;
    this.#length = 0;
    this.#buffers = [];
  }
}

/**
 * The first error a batch's handlers threw, thrown from a tick of its own:
 * the process's uncaught exception, as from a net.Server or dgram listener.
 * (Thrown from the native callback, Node 20 would only print a deprecation
 * warning.)
 */
export function throwLater(thrown: { error: unknown } | null): void {
  if (!thrown) return;
  const { error } = thrown;
  process.nextTick(() => {
    throw error;
  });
}
