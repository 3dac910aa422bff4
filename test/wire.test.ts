// The JS-handler bridge's wire format is written on both sides: lib's
// (lib/wire.ts, OpKind in lib/connection.ts) must be the addon's
// (binding.wire), and the addon refuses an op it does not know rather than
// apply it as something else.
import * as net from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { binding } from '../lib/binding';
import { OpKind } from '../lib/connection';
import { MODEL_TABLE, createServer, nativeModels, type Connection } from '../lib/index';
import { EVENT_STRIDE, EventKind, OP_STRIDE } from '../lib/wire';
import { cleanup, trackServer, trackSocket } from './helpers';

afterEach(cleanup);

const wire = binding.wire;

describe('the JS <-> native wire format', () => {
  it("lib's strides and event kinds are the addon's", () => {
    expect(wire.eventStride).toBe(EVENT_STRIDE);
    expect(wire.opStride).toBe(OP_STRIDE);
    expect(wire.events).toEqual({ ...EventKind });
  });

  it("lib's op kinds are the addon's", () => {
    expect(wire.ops).toEqual({
      write: OpKind.Write,
      end: OpKind.End,
      destroy: OpKind.Destroy,
      pause: OpKind.Pause,
      resume: OpKind.Resume,
      consumed: OpKind.Consumed,
      noDelay: OpKind.NoDelay,
      keepAlive: OpKind.KeepAlive,
    });
  });

  it('jsOps throws on an unknown op kind, a partial op or a write without its buffer, and the server serves on', async () => {
    // The native object the server drives, caught as lib makes it.
    const Native = binding.NativeServer;
    let native: { jsOps(meta: Float64Array, buffers: Buffer[]): void } | undefined;
    binding.NativeServer = function (model: string, options: Record<string, unknown>) {
      native = new Native(model, options);
      return native;
    } as unknown as typeof Native;
    const model = nativeModels().find((m) => MODEL_TABLE[m].spec.family === 'event')!;
    let server;
    try {
      server = trackServer(
        createServer(model, { handler: (conn: Connection) => conn.on('data', (d: Buffer) => conn.write(d)) }),
      );
    } finally {
      binding.NativeServer = Native;
    }
    const { port } = await server.start();
    const op = (kind: number, index = 0) => new Float64Array([0, -1, 0, kind, 0, index, 0]);
    expect(() => native!.jsOps(op(OpKind.KeepAlive + 1), [])).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => native!.jsOps(op(-1), [])).toThrow(RangeError);
    expect(() => native!.jsOps(op(1.5), [])).toThrow(RangeError);
    expect(() => native!.jsOps(op(OpKind.Pause).subarray(0, OP_STRIDE - 1), [])).toThrow(RangeError);
    expect(() => native!.jsOps(op(OpKind.Write, 3), [Buffer.from('x')])).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );

    const client = trackSocket(net.connect(port, '127.0.0.1'));
    client.write('still here');
    const [reply] = (await new Promise((resolve) => client.once('data', (d) => resolve([d])))) as [Buffer];
    expect(reply.toString()).toBe('still here');
    client.destroy();
    await server.stop();
  });
});
