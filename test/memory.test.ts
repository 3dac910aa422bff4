// Memory a burst of slow clients leaves behind: 2,000 connections that send
// but never read, each making the server hold a highWaterMark of output,
// opened and abandoned three times. Freed output must go back to the system
// (glibc keeps it otherwise), so the process's resident size returns near
// where it started. Real sockets on 127.0.0.1; bounded (under 30 s on an
// idle machine).
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { createServer, EpollServer, MODEL_TABLE, MODELS, nativeModels, sys, type Connection } from '../lib/index';
import { cleanup, KiB, MiB, trackServer, trackSocket, waitFor, waitForStats, withTimeout } from './helpers';

const CLIENTS = 2000;
const REPLY = 256 * KiB;
// What the server must be seen holding at once (the kernel takes a little
// of each reply): most of it.
const HELD = CLIENTS * REPLY * 0.8;

const open = new Set<number>();
afterEach(async () => {
  for (const fd of open) sys.close(fd);
  open.clear();
  await cleanup();
});

/** Resident set size of this process, in bytes, as the kernel counts it. */
function rss(): number {
  const line = fs.readFileSync('/proc/self/status', 'latin1').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')![1]) * 1024;
}

/**
 * A client that never reads, with a receive buffer of a few KiB: the
 * server's replies soon wait in the server, not in the kernel. Raw fds, so
 * this process holds no client-side buffers of its own.
 */
function deafClient(port: number): number {
  const fd = sys.socket('ipv4');
  open.add(fd);
  sys.setsockopt(fd, 'SO_RCVBUF', 4 * KiB);
  sys.connect(fd, '127.0.0.1', port);
  sys.setNonBlocking(fd);
  return fd;
}

describe('memory after a burst of clients that never read', () => {
  it('2,000 never-reading connections opened and abandoned three times: RSS returns within 1.5x of where it started', { timeout: 90_000 }, async () => {
    // Each client sends more than the server may hold for it and never
    // reads: the server keeps up to highWaterMark of replies in the loop's
    // memory, then stops reading from it.
    const request = Buffer.alloc(2 * REPLY, 'a');
    // A listener with a small send buffer, which accepted sockets inherit
    // (and with it no autotuning): the kernel takes a few KiB of each reply.
    const listener = sys.socket('ipv4');
    open.add(listener);
    sys.setsockopt(listener, 'SO_SNDBUF', 4 * KiB);
    sys.bind(listener, '127.0.0.1', 0);
    sys.listen(listener, 4096); // every client's connect() completes at once
    const server = trackServer(new EpollServer({ fd: listener, highWaterMark: REPLY }));
    const { port } = await server.start();
    const before = rss();
    const peaks: number[] = [];
    const after: number[] = [];
    for (let round = 0; round < 3; round++) {
      const fds = Array.from({ length: CLIENTS }, () => deafClient(port));
      for (const fd of fds) sys.send(fd, request);
      await waitForStats(server, (x) => x.accepted === (round + 1) * CLIENTS, `round ${round}: every client accepted`, 20_000);
      // The replies held in the server: handed over, not taken by the kernel.
      await waitFor(() => rss() - before > HELD, `round ${round}: the server to hold the replies`, 20_000, () => `${rss()}`);
      peaks.push(rss());
      for (const fd of fds) {
        sys.close(fd);
        open.delete(fd);
      }
      await waitForStats(server, (x) => x.active === 0, `round ${round}: every connection closed`, 20_000);
      after.push(rss());
    }
    const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`;
    const report = `before ${mb(before)}, peaks ${peaks.map(mb).join(' ')}, after ${after.map(mb).join(' ')}`;
    expect(Math.max(...after), report).toBeLessThan(before * 1.5);
    await server.stop();
  });

});

// The event models: each has its own output queue (Connection's, or the
// ring's), which must hold a large JS write without copying it.
const EVENT_MODELS = MODELS.filter((m) => MODEL_TABLE[m].spec.family === 'event' && nativeModels().includes(m));

describe('memory of a large JS write', () => {
  it.each(EVENT_MODELS)('%s: a 256 MiB write() in flight to a slow reader is held once, not copied: RSS rises by < 1.5x the buffer; every byte arrives', { timeout: 90_000 }, async (model) => {
    const SIZE = 256 * MiB;
    const before = rss();
    const big = Buffer.allocUnsafe(SIZE);
    // A pattern with no period a lost or repeated block could hide behind:
    // each 4-byte word holds its own offset (a typed array: 64M
    // writeUInt32LE() calls took a second per model).
    const words = new Int32Array(big.buffer, big.byteOffset, SIZE / 4);
    for (let i = 0; i < words.length; i++) words[i] = i * 4;
    const filled = rss();
    let written = false;
    const server = trackServer(
      createServer(model, {
        handler(conn: Connection) {
          conn.on('error', () => {});
          conn.end(big);
          written = true;
        },
      }),
    );
    const { port } = await server.start();
    const socket = trackSocket(net.connect(port, '127.0.0.1'));
    socket.pause(); // reads only what fills its readable buffer, then stops
    await waitFor(() => written, 'the write handed over');
    // The loop takes the write within a turn and stalls on the reader
    // (uring counts bytesOut only as sends complete): a copy would be made
    // as the write is taken, so a second of samples past it shows one.
    let peak = 0;
    for (let i = 0; i < 50; i++) {
      peak = Math.max(peak, rss());
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(server.stats().bytesOut).toBeLessThan(SIZE / 4); // still in flight
    const mb = (n: number) => `${Math.round(n / MiB)} MB`;
    const report = `RSS ${mb(before)} before, ${mb(filled)} with the buffer, ${mb(peak)} at the peak`;
    expect(peak - before, report).toBeLessThan(1.5 * SIZE);
    // Beyond the buffer itself: a copy would be another SIZE.
    expect(peak - filled, report).toBeLessThan(0.5 * SIZE);
    let offset = 0;
    let mismatch = -1;
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        if (mismatch < 0 && !chunk.equals(big.subarray(offset, offset + chunk.length))) mismatch = offset;
        offset += chunk.length;
      });
      socket.on('end', () => resolve());
      socket.on('error', reject);
    });
    socket.resume();
    await withTimeout(done, 60_000, 'the whole reply');
    expect(mismatch).toBe(-1);
    expect(offset).toBe(SIZE);
    await server.stop();
  });
});
