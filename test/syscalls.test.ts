// stats().syscalls: the system calls each model makes for one known
// exchange, counted exactly (or within a stated bound where the exchange
// itself can race with the loop), and the process and thread counters.
//
// The exchange: one client connects, sends 10 requests of 64 B one after
// another, each after the reply to the one before, then half-closes and
// waits for the server to close. Every count is taken as a difference from
// just after start() to once the server is quiescent (connection closed,
// counters no longer moving).
import { afterEach, describe, expect, it } from 'vitest';

import { createServer, nativeModels } from '../lib/index';
import type { ServerStats, SyscallStats } from '../lib/index';
import { Client } from './client';
import { cleanup, toUpperAscii, trackServer, waitForPlateau, waitQuiescent } from './helpers';

const URING = nativeModels().includes('uring');
const REQUESTS = 10;
const KEYS = ['accept', 'recv', 'send', 'wait', 'ctl', 'eagain', 'fork', 'clone'] as const;

type Expected = { [K in keyof SyscallStats]?: number | [min: number, max: number] };

interface Case {
  label: string;
  model: string;
  options?: Record<string, unknown>;
  /** Differences over the exchange. */
  delta: Expected;
  /** Level-triggered: every recv returns data, EAGAIN or (once) EOF. */
  level?: boolean;
}

// Blocking models: one accept, a blocking recv per request plus the one that
// reads EOF, a send per reply; they never wait nor register anything.
const BLOCKING = { accept: 1, recv: REQUESTS + 1, send: REQUESTS, wait: 0, ctl: 0, eagain: 0, fork: 0, clone: 0 };
// Edge-triggered: accept until EAGAIN; per request one wakeup and one short
// read (it drains the socket); one more of each for EOF; the connection is
// watched once and forgotten once.
const EDGE = { accept: 2, recv: REQUESTS + 1, send: REQUESTS, wait: REQUESTS + 2, ctl: 2, eagain: 1, fork: 0, clone: 0 };
// Level-triggered: the same calls as edge-triggered for this exchange. One
// read per connection per round, and no second read in a round of its own:
// the kernel reports a socket that still holds data again at the next wait.
const LEVEL = EDGE;
// io_uring: one multishot accept completion, one multishot recv armed (ctl),
// a recv completion per request and one for EOF, a send completion per
// reply. io_uring_enter: 2 per request (the recv's completion; then the
// send's, submitted with that wait), one for the accept, one for EOF;
// fewer when completions arrive together.
const URING_EXPECT = {
  accept: 1,
  recv: REQUESTS + 1,
  send: REQUESTS,
  wait: [REQUESTS + 1, 2 * REQUESTS + 2] as [number, number],
  ctl: 1,
  eagain: 0,
  fork: 0,
  clone: 0,
};

const CASES: Case[] = [
  { label: 'iterative', model: 'iterative', delta: BLOCKING },
  { label: 'thread', model: 'thread', delta: { ...BLOCKING, clone: 1 } },
  { label: 'threadpool', model: 'threadpool', delta: BLOCKING },
  { label: 'fork', model: 'fork', delta: { ...BLOCKING, fork: 1 } },
  // Its children were forked at start(), before the first count.
  { label: 'prefork', model: 'prefork', options: { workers: 2 }, delta: { ...BLOCKING, fork: [0, 2] } },
  { label: 'select', model: 'select', delta: LEVEL, level: true },
  { label: 'poll', model: 'poll', delta: LEVEL, level: true },
  { label: 'epoll level', model: 'epoll', options: { trigger: 'level' }, delta: LEVEL, level: true },
  { label: 'epoll edge', model: 'epoll', options: { trigger: 'edge' }, delta: EDGE },
  // One loop serves the connection; the others see nothing of it.
  { label: 'epoll edge x3 reuseport', model: 'epoll', options: { trigger: 'edge', loops: 3, balance: 'reuseport' }, delta: EDGE },
  // The acceptor: one poll() wakeup, accept until EAGAIN; the loop wakes
  // for the connection posted to its inbox instead of for the listener.
  {
    label: 'epoll edge x3 handoff',
    model: 'epoll',
    options: { trigger: 'edge', loops: 3, balance: 'handoff' },
    delta: { ...EDGE, wait: REQUESTS + 3 },
  },
  { label: 'poll x3 reuseport', model: 'poll', options: { loops: 3, balance: 'reuseport' }, delta: LEVEL, level: true },
  ...(URING
    ? [
        { label: 'uring', model: 'uring', delta: URING_EXPECT },
        { label: 'uring x3 reuseport', model: 'uring', options: { loops: 3, balance: 'reuseport' }, delta: URING_EXPECT },
      ]
    : []),
];

async function exchange(port: number): Promise<void> {
  const client = await Client.connect(port);
  for (let i = 0; i < REQUESTS; i++) {
    const msg = Buffer.alloc(64, 97 + i);
    client.write(msg);
    expect(await client.read(64)).toEqual(toUpperAscii(msg));
  }
  client.end();
  expect((await client.readToEnd()).length).toBe(0);
}

function total(s: SyscallStats): number {
  return KEYS.reduce((n, k) => n + s[k], 0);
}

/** Once `closed` reached `closed`, until no counter moves any more. */
async function settled(server: ReturnType<typeof trackServer>, closed: number): Promise<ServerStats> {
  await waitQuiescent(server, closed);
  await waitForPlateau(() => total(server.stats().syscalls), 'syscalls', { stableMs: 200 });
  return server.stats();
}

/** After start(), once the loops have started and stopped moving. */
async function settledIdle(server: ReturnType<typeof trackServer>): Promise<ServerStats> {
  await waitForPlateau(() => total(server.stats().syscalls), 'syscalls at start', { stableMs: 200 });
  return server.stats();
}

function diff(after: SyscallStats, before: SyscallStats): SyscallStats {
  const d = { ...after };
  for (const k of KEYS) d[k] = after[k] - before[k];
  return d;
}

function start(model: string, options: Record<string, unknown> = {}) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return trackServer(createServer(model as any, options as any));
}

describe('stats().syscalls', () => {
  afterEach(cleanup);

  for (const c of CASES) {
    it(`${c.label}: counts the calls of one client's 10 requests`, async () => {
      const server = start(c.model, c.options);
      const { port } = await server.start();
      // Loops start their threads and arm their listeners after start().
      const before = await settledIdle(server);
      for (const k of KEYS) expect(typeof before.syscalls[k], k).toBe('number');
      await exchange(port);
      const after = await settled(server, 1);
      const d = diff(after.syscalls, before.syscalls);
      const what = `${c.label}: ${JSON.stringify(d)}`;
      for (const k of KEYS) {
        const want = c.delta[k];
        if (want === undefined) continue;
        if (typeof want === 'number') {
          expect(d[k], `${k} in ${what}`).toBe(want);
        } else {
          expect(d[k], `${k} in ${what}`).toBeGreaterThanOrEqual(want[0]);
          expect(d[k], `${k} in ${what}`).toBeLessThanOrEqual(want[1]);
        }
      }
      const reads = after.reads - before.reads;
      expect(reads).toBe(REQUESTS);
      expect(after.writes - before.writes).toBe(REQUESTS);
      // Every recv returned data, EAGAIN or (once) EOF.
      if (c.level) expect(d.recv, what).toBe(reads + d.eagain);
      if (after.workers) {
        // A part counts its own calls; the totals are their sums. With
        // reuseport nothing else accepts or waits; a pool's acceptor is not
        // a part, and a handoff acceptor neither.
        const keys = c.options?.balance === 'reuseport' ? (['accept', 'recv', 'send', 'wait', 'ctl', 'eagain'] as const) : (['recv', 'send'] as const);
        for (const k of keys) {
          expect(after.workers.reduce((n, w) => n + w.syscalls[k], 0), `workers' ${k}`).toBe(after.syscalls[k]);
        }
      }
    });
  }

  it('epoll edge: eagain grows with the recvs that drain a socket (a request read with a full buffer)', async () => {
    // 4 MiB in one write: a full 64 KiB read cannot tell the socket is
    // empty, so edge mode reads on until EAGAIN (or until a short read, or
    // until the kernel's count of bytes left says it is empty).
    const server = start('epoll', { trigger: 'edge', handler: 'discard' });
    const { port } = await server.start();
    const before = (await settledIdle(server)).syscalls;
    const client = await Client.connect(port);
    const big = Buffer.alloc(4 << 20, 120);
    await client.writeAll(big);
    client.end();
    await client.readToEnd();
    const after = await settled(server, 1);
    const d = diff(after.syscalls, before);
    expect(after.bytesIn).toBe(big.length);
    // accept's EAGAIN, and at most one recv per wakeup meets it.
    expect(d.eagain).toBeGreaterThanOrEqual(1);
    expect(d.eagain).toBeLessThanOrEqual(1 + d.wait);
    expect(d.recv).toBe(after.reads + 1 + (d.eagain - 1));
  });

  // 64 KiB requests fill the loop's 64 KiB read buffer exactly, so a read
  // alone cannot tell the socket is empty; the kernel's count of bytes
  // left (TCP_INQ) does. Without it every request cost edge mode one more
  // recv that found EAGAIN. At most one such recv per connection: the
  // count is asked for once a read has filled the buffer.
  for (const c of [
    { label: 'epoll edge', options: { trigger: 'edge' } },
    { label: 'epoll edge x3 reuseport', options: { trigger: 'edge', loops: 3, balance: 'reuseport' } },
    { label: 'epoll edge x3 shared', options: { trigger: 'edge', loops: 3, balance: 'shared' } },
    { label: 'epoll edge x3 handoff', options: { trigger: 'edge', loops: 3, balance: 'handoff' } },
    { label: 'epoll level', options: { trigger: 'level' } },
  ]) {
    it(`${c.label}: 64 KiB requests cost no recv that finds nothing, but once per connection`, async () => {
      const server = start('epoll', c.options);
      const { port } = await server.start();
      const before = await settledIdle(server);
      const client = await Client.connect(port);
      for (let i = 0; i < REQUESTS; i++) {
        const msg = Buffer.alloc(64 << 10, 97 + i);
        client.write(msg);
        expect(await client.read(msg.length)).toEqual(toUpperAscii(msg));
      }
      client.end();
      expect((await client.readToEnd()).length).toBe(0);
      const after = await settled(server, 1);
      const d = diff(after.syscalls, before.syscalls);
      const reads = after.reads - before.reads;
      const what = `${c.label}: ${JSON.stringify(d)}, reads ${reads}`;
      expect(after.bytesIn - before.bytesIn).toBe(REQUESTS << 16);
      // Besides the reads that returned data and the one that read EOF.
      const empty = d.recv - reads - 1;
      expect(empty, what).toBeLessThanOrEqual(1);
      // accept's EAGAIN (edge, and a handoff acceptor's), and those recvs.
      expect(d.eagain, what).toBeLessThanOrEqual(1 + empty);
    });
  }

  it('fork: one fork() per connection, and one thread (the reaper) besides the model thread', async () => {
    const server = start('fork');
    const { port } = await server.start();
    expect(server.stats().syscalls).toMatchObject({ fork: 0, clone: 2 });
    for (let i = 0; i < 3; i++) await exchange(port);
    const s = await settled(server, 3);
    expect(s.syscalls).toMatchObject({ fork: 3, clone: 2, accept: 3 });
  });

  it('prefork: one fork() per child started', async () => {
    const server = start('prefork', { workers: 3, minSpareWorkers: 0 });
    await server.start();
    const s = await waitForPlateau(() => server.stats().syscalls.fork, 'forks', { stableMs: 300 });
    expect(s).toBe(3);
    expect(server.stats().syscalls.clone).toBe(2);
  });

  it('thread: one thread per connection besides the model thread; threadpool: its threads', async () => {
    const thread = start('thread');
    const { port } = await thread.start();
    expect(thread.stats().syscalls.clone).toBe(1);
    for (let i = 0; i < 3; i++) await exchange(port);
    expect((await settled(thread, 3)).syscalls.clone).toBe(4);

    // The model thread, two pool threads and the manager that grows the pool.
    const pool = start('threadpool', { threads: 2 });
    await pool.start();
    expect(pool.stats().syscalls.clone).toBe(4);
    const fixed = start('threadpool', { threads: 2, maxThreads: 2 });
    await fixed.start();
    expect(fixed.stats().syscalls.clone).toBe(3);
  });

  it('loops: the loop threads, and a handoff acceptor counted in the totals only', async () => {
    const reuse = start('epoll', { loops: 3, balance: 'reuseport' });
    await reuse.start();
    expect((await settledIdle(reuse)).syscalls.clone).toBe(3);
    const handoff = start('epoll', { loops: 3, balance: 'handoff' });
    const { port } = await handoff.start();
    expect((await settledIdle(handoff)).syscalls.clone).toBe(4);
    await exchange(port);
    const s = await settled(handoff, 1);
    expect(s.workers!.reduce((n, w) => n + w.syscalls.accept, 0)).toBe(0);
    expect(s.syscalls.accept).toBe(2);
  });
});
