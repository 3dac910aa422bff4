// `loops: N` for the event models: how each balance spreads connections, the
// totals against the parts, limits that hold across loops, and bad input.
// (The conformance suite runs every model with loops: 3 in each balance.)
import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';

import { afterEach, describe, expect, it } from 'vitest';

import { EpollServer, PollServer, SelectServer, ThreadServer, ForkServer, MODEL_TABLE, createServer, nativeModels } from '../lib/index';
import { modelOptions } from '../lib/spec';
import type { ServerStats, WorkerStats } from '../lib/index';
import { cleanup, trackServer, waitForStats } from './helpers';
import { threadCount } from './proc';
import { closeAll, openMany, roundTripAll, serverClosed } from './scale';

// The readiness loops that take a balance (select, poll, epoll): a new one is picked up here.
const EVENT_MODELS = nativeModels().filter((m) => MODEL_TABLE[m].spec.waits === 'readiness' && 'balance' in modelOptions(MODEL_TABLE[m].spec));

function sum(workers: WorkerStats[], key: keyof WorkerStats): number {
  return workers.reduce((n, w) => n + (w[key] as number), 0);
}

function expectTotalsAreSums(s: ServerStats): void {
  const w = s.workers!;
  expect(s.accepted).toBe(sum(w, 'accepted'));
  expect(s.active).toBe(sum(w, 'active'));
  expect(s.bytesIn).toBe(sum(w, 'bytesIn'));
  expect(s.bytesOut).toBe(sum(w, 'bytesOut'));
  expect(s.closed).toBe(sum(w, 'served'));
}

describe('loops: N', () => {
  afterEach(cleanup);

  it('some readiness loop takes a balance', () => expect(EVENT_MODELS.length).toBeGreaterThan(0));

  for (const model of EVENT_MODELS) {
    it(`${model}: handoff spreads 300 connections round-robin (±1) over 3 loops; totals are the sums`, async () => {
      const server = trackServer(createServer(model, { loops: 3, balance: 'handoff' }));
      const { port } = await server.start();
      const sockets = await openMany(port, 300);
      await roundTripAll(sockets, 'rr');
      const s = await waitForStats(server, (x) => x.active === 300, '300 active');
      expect(s.workers).toHaveLength(3);
      for (const w of s.workers!) expect(Math.abs(w.accepted - 100)).toBeLessThanOrEqual(1);
      expectTotalsAreSums(s);
      await closeAll(sockets);
      const end = await waitForStats(server, (x) => x.active === 0 && x.closed === 300, 'all closed');
      expectTotalsAreSums(end);
      await server.stop();
    });

    it(`${model}: reuseport gives every loop some of 300 connections`, async () => {
      const server = trackServer(createServer(model, { loops: 3 }));
      const { port } = await server.start();
      const sockets = await openMany(port, 300);
      await roundTripAll(sockets, 'rr');
      const s = await waitForStats(server, (x) => x.active === 300, '300 active');
      for (const w of s.workers!) expect(w.accepted).toBeGreaterThan(0);
      expectTotalsAreSums(s);
      await closeAll(sockets);
      await server.stop();
    });
  }

  it('shared: every connection is served exactly once; stats show how the loops took them', async () => {
    for (const model of EVENT_MODELS) {
      const server = trackServer(createServer(model, { loops: 3, balance: 'shared' }));
      const { port } = await server.start();
      const sockets = await openMany(port, 90);
      await roundTripAll(sockets, 'rr');
      const s = await waitForStats(server, (x) => x.active === 90, '90 active');
      expect(s.accepted).toBe(90);
      expect(s.rejected).toBe(0);
      expectTotalsAreSums(s);
      await closeAll(sockets);
      await server.stop();
    }
  });

  it('maxConnections holds across loops (one count for the server, not per loop)', async () => {
    const server = trackServer(new EpollServer({ loops: 3, balance: 'handoff', maxConnections: 10 }));
    const { port } = await server.start();
    const kept = await openMany(port, 10);
    await roundTripAll(kept, 'kept');
    const extra = await openMany(port, 6);
    await Promise.all(extra.map(serverClosed));
    const s = await waitForStats(server, (x) => x.rejected === 6, '6 rejected');
    expect(s.active).toBe(10);
    expect(s.peakActive).toBe(10);
    expect(s.accepted).toBe(16);
    await closeAll([...kept, ...extra]);
    await server.stop();
  });

  it('select: each loop still rejects fds >= FD_SETSIZE', async () => {
    const fillers: number[] = [];
    try {
      const server = trackServer(new SelectServer({ loops: 2, balance: 'handoff' }));
      const { port } = await server.start();
      const low = await openMany(port, 2);
      await roundTripAll(low, 'low');
      for (;;) {
        const fd = fs.openSync('/dev/null', 'r');
        fillers.push(fd);
        if (fd >= 1024 + 64) break;
      }
      const high = await openMany(port, 4);
      await Promise.all(high.map(serverClosed));
      const s = await waitForStats(server, (x) => x.rejected === 4, '4 rejected');
      expect(s.workers!.map((w) => w.accepted - w.active - w.served)).toEqual([2, 2]);
      await roundTripAll(low, 'still');
      await closeAll([...low, ...high]);
      await server.stop();
    } finally {
      for (const fd of fillers) fs.closeSync(fd);
    }
  });

  it("stop() joins every loop thread; 'auto' means the CPUs this process may use", async () => {
    const before = threadCount();
    const server = trackServer(new PollServer({ loops: 'auto' }));
    const { port } = await server.start();
    const sockets = await openMany(port, 20);
    await roundTripAll(sockets, 'x');
    expect(server.stats().workers).toHaveLength(availableParallelism());
    await closeAll(sockets);
    await server.stop();
    expect(threadCount()).toBe(before);
  });

  it('a second server on a port in use fails with EADDRINUSE, even with reuseport', async () => {
    const first = trackServer(new EpollServer({ loops: 2 }));
    const { port } = await first.start();
    const second = trackServer(new EpollServer({ loops: 2, port }));
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'listen', port });
    await first.stop();
  });

  it('rejects bad loops and balance values, Node style', () => {
    for (const loops of [0, -1, 1.5]) {
      expect(() => new EpollServer({ loops })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
    expect(() => new EpollServer({ loops: 'many' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new EpollServer({ balance: 'x' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => new ThreadServer({ loops: 2 } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => new ForkServer({ balance: 'handoff' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
