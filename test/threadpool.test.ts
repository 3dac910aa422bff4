// ThreadPoolServer: what only the thread pool does: a bounded queue in front
// of a pool that grows to maxThreads and shrinks back to `threads`.
import { availableParallelism } from 'node:os';
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { ThreadPoolServer, createServer, loadgen, type WorkerStats } from '../lib/index';
import { resolveOptions } from '../lib/options';
import { cleanup, delay, trackServer, waitFor, waitForStats } from './helpers';
import { threadCount, warmUpThreadPool } from './proc';
import { closeAll, openMany, roundTripAll } from './scale';

const workers = (server: ThreadPoolServer): WorkerStats[] => server.stats().workers ?? [];
const states = (server: ThreadPoolServer): string[] => workers(server).map((w) => w.state as string).sort();

/** Resolves once the server closed `socket` without sending anything. */
function closedEmpty(socket: net.Socket): Promise<number> {
  let got = 0;
  socket.on('data', (d: Buffer) => (got += d.length));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve(got)));
}

afterEach(cleanup);

describe('ThreadPoolServer options', () => {
  it('rejects bad options Node style; maxThreads follows threads by default', () => {
    const code = (code: string) => expect.objectContaining({ code });
    expect(() => new ThreadPoolServer({ queue: -1 })).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new ThreadPoolServer({ growDelayMs: -1 })).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new ThreadPoolServer({ growDelayMs: 1.5 })).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new ThreadPoolServer({ threads: 0 })).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new ThreadPoolServer({ threads: 'many' as never })).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => new ThreadPoolServer({ threads: 8, maxThreads: 4 })).toThrow(
      /"options\.maxThreads" is out of range\. It must be >= options\.threads \(8\)\. Received 4/,
    );
    expect(() => new ThreadPoolServer({ handler: 'nope' as never })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    expect(() => new ThreadPoolServer({ workers: 2 } as never)).toThrow(code('ERR_INVALID_ARG_VALUE'));
    // The ceiling the native side gets when none is given: 256, or threads if that is more.
    const native = (given: Record<string, unknown>) => resolveOptions(ThreadPoolServer.spec, given, 'ThreadPoolServer').native;
    expect(native({ threads: 300 }).maxThreads).toBe(300);
    expect(native({ threads: 2 }).maxThreads).toBe(256);
    expect(native({ threads: 8, maxThreads: 8 }).maxThreads).toBe(8);
    expect(new ThreadPoolServer({ threads: 300 })).toBeInstanceOf(ThreadPoolServer);
    expect(createServer('threadpool', { threads: 2, queue: 0 })).toBeInstanceOf(ThreadPoolServer);
  });

  it('starts twice as many threads as CPUs by default, all idle', async () => {
    const server = trackServer(new ThreadPoolServer());
    await server.start();
    expect(states(server)).toEqual(Array(2 * availableParallelism()).fill('idle'));
    await server.stop();
  });
});

describe('ThreadPoolServer', () => {
  it('serves maxThreads clients, queues `queue` more, rejects the rest and counts them', async () => {
    const server = trackServer(new ThreadPoolServer({ threads: 2, maxThreads: 3, queue: 2 }));
    const { port } = await server.start();
    const served = await openMany(port, 3);
    await roundTripAll(served, 'served');
    expect(states(server)).toEqual(['busy', 'busy', 'busy']);
    // Two wait in the queue: connected, not answered yet.
    const queued = await openMany(port, 2);
    for (const s of queued) s.write('queued');
    await delay(200);
    // Two more find the queue full: closed at once, unanswered.
    const over = await openMany(port, 2);
    const overClosed = over.map(closedEmpty);
    for (const s of over) s.write('over');
    expect(await Promise.all(overClosed)).toEqual([0, 0]);
    expect(server.stats()).toMatchObject({ accepted: 5, active: 3, rejected: 2 });
    // The served ones leave; the queued ones get their threads and answers.
    const replies = queued.map(
      (s) => new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString()))),
    );
    await closeAll(served);
    expect(await Promise.all(replies)).toEqual(['QUEUED', 'QUEUED']);
    await closeAll(queued);
    const s = await waitForStats(server, (x) => x.active === 0 && x.closed === 5, 'all closed');
    expect(s).toMatchObject({ accepted: 7, closed: 5, rejected: 2, errors: 0 });
    expect(workers(server).length).toBeLessThanOrEqual(3);
    await server.stop();
  });

  it('grows while every thread is busy, up to maxThreads, and retires the extra threads once idle', async () => {
    await warmUpThreadPool();
    const baseline = threadCount();
    const server = trackServer(new ThreadPoolServer({ threads: 2, maxThreads: 6 }));
    const { port } = await server.start();
    expect(states(server)).toEqual(['idle', 'idle']);
    // Accept thread + 2 pool threads + the manager that grows the pool.
    expect(threadCount()).toBe(baseline + 4);
    const held = await openMany(port, 6);
    await roundTripAll(held, 'grow');
    expect(states(server)).toEqual(Array(6).fill('busy'));
    expect(threadCount()).toBe(baseline + 8);
    // Per-thread counters: each served one client of 'grow-i-abc...z'.
    for (const w of workers(server)) expect(w).toMatchObject({ accepted: 1, active: 1, served: 0 });
    await closeAll(held);
    await waitFor(() => workers(server).length === 2, 'the pool back to 2 threads', 10_000);
    await waitFor(() => threadCount() === baseline + 4, 'retired threads joined', 5000);
    const s = await waitForStats(server, (x) => x.closed === 6, 'six closed');
    expect(s.bytesIn).toBe(s.bytesOut);
    await server.stop();
    expect(threadCount()).toBe(baseline);
  });

  it('grows for a connection once it has waited growDelayMs, and at once when the queue is full', async () => {
    const server = trackServer(new ThreadPoolServer({ threads: 2, maxThreads: 3, growDelayMs: 3000 }));
    const { port } = await server.start();
    const held = await openMany(port, 2);
    await roundTripAll(held, 'held');
    const [late] = await openMany(port, 1);
    let reply = '';
    late.on('data', (d: Buffer) => (reply += d.toString()));
    late.write('late');
    await delay(250);
    // Queued, not answered, the pool not grown yet.
    expect(reply).toBe('');
    expect(states(server)).toEqual(['busy', 'busy']);
    await waitFor(() => reply === 'LATE', 'the late client answered by a new thread', 10_000);
    expect(states(server)).toEqual(['busy', 'busy', 'busy']);
    await closeAll([...held, late]);
    await server.stop();

    // queue: 0 leaves no room to wait: the pool grows for it now, not in a minute.
    const full = trackServer(new ThreadPoolServer({ threads: 1, maxThreads: 2, queue: 0, growDelayMs: 60_000 }));
    const { port: port2 } = await full.start();
    const two = await openMany(port2, 2);
    await roundTripAll(two, 'full');
    expect(states(full)).toEqual(['busy', 'busy']);
    await closeAll(two);
    await full.stop();
  });

  it('a churning load is served by the threads it has; growDelayMs: 0 grows the pool as soon as one waits', async () => {
    // Threads started: the model's, the pool's, and (with a delay) the manager.
    const started: number[] = [];
    for (const growDelayMs of [5000, 0]) {
      const server = trackServer(new ThreadPoolServer({ threads: 2, maxThreads: 64, growDelayMs }));
      const { port } = await server.start();
      const r = await loadgen({ port, mode: 'churn', connections: 16, messageSize: 16, durationMs: 400 });
      expect(r.errors + r.mismatches).toBe(0);
      expect(r.requests).toBeGreaterThan(100);
      if (growDelayMs > 0) expect(workers(server)).toHaveLength(2);
      started.push(server.stats().syscalls.clone);
      await server.stop();
    }
    expect(started[0]).toBe(1 + 2 + 1);
    expect(started[1]).toBeGreaterThan(1 + 2);
  });

  it('stop() with every worker busy and clients queued wakes and joins them all', async () => {
    await warmUpThreadPool();
    const baseline = threadCount();
    const server = trackServer(new ThreadPoolServer({ threads: 3, maxThreads: 3 }));
    const { port } = await server.start();
    const busy = await openMany(port, 3);
    await roundTripAll(busy, 'busy');
    const queued = await openMany(port, 4);
    await waitForStats(server, (x) => x.wakeups >= 7, 'seven accepted');
    const closed = [...busy, ...queued].map(closedEmpty);
    const t0 = Date.now();
    await server.stop();
    expect(Date.now() - t0).toBeLessThan(5000);
    await Promise.all(closed);
    expect(threadCount()).toBe(baseline);
    // The queued ones were never served: rejected, so the counters still add up.
    expect(server.stats()).toMatchObject({ accepted: 7, active: 0, closed: 3, rejected: 4 });
  });
});
