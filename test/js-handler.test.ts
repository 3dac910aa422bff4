// The JavaScript handler beyond the conformance suite (which runs a JS
// uppercase echo on every model that takes one): backpressure both ways,
// half-close, destroy, exceptions, lifecycle, pipeline, and refusal by the
// process models.
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { pipeline, Transform } from 'node:stream';
import { Worker } from 'node:worker_threads';

import { afterEach, describe, expect, it } from 'vitest';

import { Connection, createServer, ForkServer, nativeModels, PreforkServer, type ModelName } from '../lib/index';
import { Client } from './client';
import { cleanup, delay, MiB, randomPayload, toUpperAscii, trackServer, waitFor, waitForPlateau } from './helpers';
import { fdSnapshot, newFds, threadCount, warmUpThreadPool } from './proc';

const DIST = path.join(__dirname, '..', 'dist', 'index.js');
// uring only where the build has it (test/uring.test.ts covers a build without).
// The models whose handler takes connections (udp's takes datagrams: test/udp.test.ts).
const MODELS: Exclude<ModelName, 'udp'>[] = ['epoll', 'poll', 'thread', 'iterative', ...(nativeModels().includes('uring') ? ['uring' as const] : [])];

function rssBytes(): number {
  return process.memoryUsage().rss;
}

describe('JS handler', () => {
  afterEach(cleanup);

  for (const model of MODELS) {
    describe(model, () => {
      it("is called once per connection with a Connection, also emitted as 'connection'; addresses are set", async () => {
        const seen: Connection[] = [];
        const server = trackServer(createServer(model, { handler: (conn) => { seen.push(conn); conn.pipe(conn); } }));
        const emitted: Connection[] = [];
        server.on('connection', (c: Connection) => emitted.push(c));
        const { port } = await server.start();
        const client = await Client.connect(port);
        client.write('hi there');
        expect((await client.read(8)).toString()).toBe('hi there');
        expect(seen).toHaveLength(1);
        expect(emitted).toEqual(seen);
        const conn = seen[0];
        expect(conn).toBeInstanceOf(Connection);
        expect(conn).toMatchObject({ remoteAddress: '127.0.0.1', remoteFamily: 'IPv4', localAddress: '127.0.0.1', localPort: port });
        expect(conn.remotePort).toBeGreaterThan(0);
        expect(conn.bytesRead).toBe(8);
        expect(conn.bytesWritten).toBe(8);
        client.end();
        await client.readToEnd();
        await waitFor(() => conn.destroyed, "the connection's 'close'");
        await server.stop();
      });

      it('a handler that pauses and never resumes keeps memory bounded: native reading stops', async () => {
        const highWaterMark = 256 * 1024;
        const server = trackServer(createServer(model, { highWaterMark, handler: (conn) => conn.pause() }));
        const { port } = await server.start();
        const socket = net.connect(port, '127.0.0.1');
        await new Promise((r) => socket.once('connect', r));
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        const pump = () => {
          while (sent < 64 * MiB && socket.write(chunk)) sent += chunk.length;
        };
        socket.on('drain', pump);
        pump();
        const rss0 = rssBytes();
        const plateau = await waitForPlateau(() => server.stats().bytesIn, 'the server to stop reading', { stableMs: 500 });
        // What the server read is bounded by its mark (plus a read and a
        // batch in flight), however much the client keeps sending.
        expect(plateau).toBeLessThanOrEqual(highWaterMark + 2 * 64 * 1024);
        expect(sent).toBeGreaterThan(plateau);
        expect(rssBytes() - rss0).toBeLessThan(64 * MiB);
        socket.destroy();
        await server.stop();
      });

      it("a client that never reads: write() returns false and the handler waits; 'drain' fires as it reads", async () => {
        let falses = 0;
        let drains = 0;
        let written = 0;
        const total = 32 * MiB;
        const server = trackServer(
          createServer(model, {
            highWaterMark: 256 * 1024,
            handler: (conn) => {
              const piece = Buffer.alloc(256 * 1024, 0x62);
              const more = () => {
                while (written < total) {
                  written += piece.length;
                  if (!conn.write(piece)) {
                    falses++;
                    conn.once('drain', () => {
                      drains++;
                      more();
                    });
                    return;
                  }
                }
                conn.end();
              };
              more();
            },
          }),
        );
        const { port } = await server.start();
        const client = await Client.connect(port, '127.0.0.1', { reading: false });
        // The kernel's buffers take a few MiB; then the handler is held back.
        const stalled = await waitForPlateau(() => written, 'the handler to be held back', { stableMs: 500 });
        expect(falses).toBeGreaterThan(0);
        expect(stalled).toBeLessThan(total);
        const drainsBefore = drains;
        client.resume();
        const got = await client.readToEnd(30_000);
        expect(got.length).toBe(total);
        expect(drains).toBeGreaterThan(drainsBefore);
        await server.stop();
      });

      it("end() half-closes after the output is flushed; the peer's half-close is 'end'", async () => {
        let ended = false;
        const server = trackServer(
          createServer(model, {
            handler: (conn) => {
              conn.setEncoding('latin1');
              let text = '';
              conn.on('data', (d: string) => (text += d));
              conn.on('end', () => {
                ended = true;
                conn.end(`got ${text.length}: ${text.toUpperCase()}`);
              });
            },
          }),
        );
        const { port } = await server.start();
        const client = await Client.connect(port);
        client.write('abc');
        client.end();
        const got = await client.readToEnd();
        expect(got.toString()).toBe('got 3: ABC');
        expect(ended).toBe(true);
        await waitFor(() => server.stats().closed === 1, 'closed');
        await server.stop();
      });

      it('destroy() mid-transfer closes the connection at once; the server keeps serving', async () => {
        const server = trackServer(
          createServer(model, {
            handler: (conn) => {
              conn.on('data', () => conn.destroy());
            },
          }),
        );
        const { port } = await server.start();
        const client = await Client.connect(port);
        client.write(randomPayload(1 * MiB));
        await client.waitClosed();
        await waitFor(() => server.stats().active === 0, 'nothing active');
        await server.stop();
      });

      it('pipeline(conn, transform, conn) works', async () => {
        const server = trackServer(
          createServer(model, {
            handler: (conn) => {
              const upper = new Transform({ transform: (chunk: Buffer, _e, cb) => cb(null, toUpperAscii(chunk)) });
              pipeline(conn, upper, conn, () => {});
            },
          }),
        );
        const { port } = await server.start();
        const client = await Client.connect(port);
        const payload = randomPayload(2 * MiB);
        client.write(payload);
        const got = await client.read(payload.length);
        expect(got.equals(toUpperAscii(payload))).toBe(true);
        client.end();
        await client.readToEnd();
        await server.stop();
      });
    });
  }

  it('a handler that throws is an uncaught exception; other connections and the server carry on, nothing leaks', async () => {
    await warmUpThreadPool();
    const fds = fdSnapshot();
    const threads = threadCount();
    const errors: unknown[] = [];
    const onUncaught = (err: unknown) => errors.push(err);
    // vitest installs its own listener; ours records the error first.
    process.prependListener('uncaughtException', onUncaught);
    try {
      let n = 0;
      const server = trackServer(
        createServer('epoll', {
          handler: (conn) => {
            if (n++ === 0) throw new Error('boom from the handler');
            conn.pipe(conn);
          },
        }),
      );
      const { port } = await server.start();
      const first = await Client.connect(port);
      await waitFor(() => errors.length === 1, 'the uncaught exception');
      expect((errors[0] as Error).message).toBe('boom from the handler');
      const second = await Client.connect(port);
      second.write('still');
      expect((await second.read(5)).toString()).toBe('still');
      first.destroy();
      second.destroy();
      await server.stop();
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    await waitFor(() => newFds(fds).length === 0, 'no fd left', 5000, () => newFds(fds).join(', '));
    await waitFor(() => threadCount() <= threads, 'threads joined');
  });

  it("stop() destroys live connections ('close' on each) and leaves nothing", async () => {
    const conns: Connection[] = [];
    const server = trackServer(createServer('poll', { loops: 2, handler: (conn) => conns.push(conn) }));
    const { port } = await server.start();
    const clients = await Promise.all([1, 2, 3].map(() => Client.connect(port)));
    await waitFor(() => conns.length === 3, 'three connections');
    const closed = conns.map((c) => new Promise((r) => c.once('close', r)));
    await server.stop();
    await Promise.all(closed);
    for (const c of clients) await c.waitClosed();
  });

  it('fork and prefork refuse a function, saying why', () => {
    for (const Class of [ForkServer, PreforkServer]) {
      expect(() => new Class({ handler: (() => {}) as never })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(/forked child cannot run JavaScript.*exec/) }),
      );
    }
  });

  it('a Worker terminated mid-traffic, and process.exit() with live connections, exit cleanly', async () => {
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads');
      const { createServer } = require(${JSON.stringify(DIST)});
      createServer('epoll', { handler: (c) => c.pipe(c) }).start().then(({ port }) => parentPort.postMessage(port));
      `,
      { eval: true },
    );
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const clients = await Promise.all([1, 2, 3, 4].map(() => Client.connect(port)));
    const traffic = clients.map(async (c) => {
      for (let i = 0; i < 1000; i++) c.write(randomPayload(4096));
    });
    await delay(20);
    await worker.terminate();
    await Promise.all(traffic);
    for (const c of clients) await c.waitClosed();

    const script = `
      const net = require('node:net');
      const { createServer } = require(${JSON.stringify(DIST)});
      createServer('thread', { handler: (c) => c.pipe(c) }).start().then(({ port }) => {
        const s = net.connect(port, '127.0.0.1', () => { s.write('x'.repeat(100000)); setTimeout(() => process.exit(0), 20); });
      });
    `;
    const code = await new Promise<number | null>((resolve) => {
      execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0));
    });
    expect(code).toBe(0);
  });

  it('unref() lets the process exit with the server running; ref() keeps it alive again', async () => {
    const script = (call: string) => `
      const { createServer } = require(${JSON.stringify(DIST)});
      const s = createServer('epoll', { handler: (c) => c.pipe(c) });
      s.start().then(() => { ${call}; setTimeout(() => { console.log('still alive'); process.exit(0); }, 1500).unref(); });
    `;
    const run = (call: string) =>
      new Promise<string>((resolve) => execFile(process.execPath, ['-e', script(call)], { timeout: 20_000 }, (_e, out) => resolve(out)));
    expect(await run('s.unref()')).toBe('');
    expect(await run('s.unref(); s.ref()')).toBe('still alive\n');
  });
});
