// sys async waits: selectAsync, pollAsync and Epoll#waitAsync resolve on
// readiness, and on cancellation (AbortSignal, Epoll#close) without leaving a
// thread or an fd behind. Each wait runs on a thread named 'nm-sys-wait'.
import { existsSync, promises as fsp, readdirSync, readFileSync } from 'node:fs';
import { once, setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { sys } from '../lib/index';

const openFds = (): number => readdirSync('/proc/self/fd').length;
const tasks = (): string[] => readdirSync('/proc/self/task');
const waitThreads = (): number =>
  tasks().filter((tid) => {
    try {
      return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'nm-sys-wait';
    } catch {
      return false; // the thread ended while we looked
    }
  }).length;

// Bounded wait for a condition that other threads make true.
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 10) {
    if (check()) return;
    await sleep(10);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

let fdsBefore = 0;
let tasksBefore = 0;

beforeAll(async () => {
  // libuv starts its whole threadpool on first use; start it now so it is
  // part of the baseline and not mistaken for a leak.
  await Promise.all(Array.from({ length: 8 }, () => fsp.stat('/proc/self')));
});
beforeEach(() => {
  fdsBefore = openFds();
  tasksBefore = tasks().length;
});
afterEach(async () => {
  await until(() => waitThreads() === 0, 'the wait threads to end');
  await until(() => tasks().length <= tasksBefore, 'the thread count to return to its baseline');
  expect(openFds()).toBe(fdsBefore);
});

// Runs body with fresh fds and closes them however it ends.
async function withPair<T>(body: (a: number, b: number) => Promise<T>): Promise<T> {
  const [a, b] = sys.socketpair({ nonBlocking: true });
  try {
    return await body(a, b);
  } finally {
    sys.close(a);
    sys.close(b);
  }
}

const x = Buffer.from('x');

/** `body` with a socket pair and an Epoll, closed after. */
async function withEpoll(body: (ep: sys.Epoll, a: number, b: number) => Promise<void>): Promise<void> {
  await withPair(async (a, b) => {
    const ep = new sys.Epoll();
    try {
      await body(ep, a, b);
    } finally {
      ep.close();
    }
  });
}

/** A wait on `ep` with no timeout resolves once `b` sends to `a`. */
async function expectWokenBySend(ep: sys.Epoll, a: number, b: number): Promise<void> {
  const pending = ep.waitAsync(8, -1);
  await sleep(20);
  sys.send(b, x);
  await expect(pending).resolves.toEqual([{ fd: a, events: sys.EPOLLIN }]);
}

describe('async waits resolve on readiness without blocking the event loop', () => {
  it('selectAsync', async () => {
    await withPair(async (a, b) => {
      const pending = sys.selectAsync([a], [], [], 10_000);
      await until(() => waitThreads() === 1, 'the wait thread to start');
      let ticked = false;
      await sleep(20).then(() => (ticked = true)); // the loop keeps running meanwhile
      expect(ticked).toBe(true);
      sys.send(b, x);
      await expect(pending).resolves.toEqual({ readable: [a], writable: [], exceptional: [] });
    });
  });

  it('pollAsync', async () => {
    await withPair(async (a, b) => {
      const pending = sys.pollAsync([{ fd: a, events: sys.POLLIN }], -1);
      await sleep(20);
      sys.send(b, x);
      await expect(pending).resolves.toEqual([{ fd: a, events: sys.POLLIN, revents: sys.POLLIN }]);
      // Already ready: resolves at once; a closed fd shows as POLLNVAL.
      await expect(sys.pollAsync([{ fd: a, events: sys.POLLIN }])).resolves.toHaveLength(1);
      await expect(sys.pollAsync([{ fd: 99_999, events: sys.POLLIN }], 0)).resolves.toEqual([
        { fd: 99_999, events: sys.POLLIN, revents: sys.POLLNVAL },
      ]);
    });
  });

  it('Epoll#waitAsync, and timeouts resolve empty', async () => {
    await withEpoll(async (ep, a, b) => {
      ep.add(a, sys.EPOLLIN);
      await expect(ep.waitAsync(8, 20)).resolves.toEqual([]);
      await expect(sys.selectAsync([a], [], [], 20)).resolves.toEqual({ readable: [], writable: [], exceptional: [] });
      await expect(sys.pollAsync([{ fd: a, events: sys.POLLIN }], 20)).resolves.toEqual([]);
      await expectWokenBySend(ep, a, b);
    });
  });

  it('edge-triggered: an async wait after the edge was reported waits for new data', async () => {
    await withEpoll(async (ep, a, b) => {
      ep.add(a, sys.EPOLLIN | sys.EPOLLET);
      sys.send(b, Buffer.from('abc'));
      await expect(ep.waitAsync(8, -1)).resolves.toEqual([{ fd: a, events: sys.EPOLLIN }]);
      // Data remains unread, but there is no new edge.
      await expect(ep.waitAsync(8, 50)).resolves.toEqual([]);
      await expectWokenBySend(ep, a, b);
    });
  });

  it('a wait failing in its thread rejects with a Node-style error', async () => {
    // A high fd that is not open: a just-closed low one would be reused by
    // the wait's own eventfd.
    const closed = 1000;
    expect(existsSync(`/proc/self/fd/${closed}`)).toBe(false);
    await expect(sys.selectAsync([closed], [], [], 0)).rejects.toMatchObject({ code: 'EBADF', syscall: 'select', errno: -9 });
  });
});

// The soft RLIMIT_NOFILE; the next test needs room for fds past FD_SETSIZE.
const openFileLimit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);

describe('selectAsync and FD_SETSIZE', () => {
  it.skipIf(openFileLimit < 1100)('rejects with EMFILE when no fd below FD_SETSIZE is free for its eventfd', async () => {
    const opened: number[] = [];
    try {
      // Bounded: fds are numbered from the lowest free one.
      for (let i = 0; i < sys.FD_SETSIZE && (opened.length === 0 || opened[opened.length - 1] < sys.FD_SETSIZE); i++) {
        opened.push(...sys.pipe());
      }
      expect(opened[opened.length - 1]).toBeGreaterThanOrEqual(sys.FD_SETSIZE - 1);
      // Every fd below the limit is taken now, so the eventfd lands above it.
      const low = opened[0];
      await expect(sys.selectAsync([low], [], [], 0)).rejects.toMatchObject({ code: 'EMFILE', syscall: 'select' });
      await expect(sys.pollAsync([{ fd: low, events: sys.POLLIN }], 0)).resolves.toEqual([]);
    } finally {
      for (const fd of opened) sys.close(fd);
    }
  });
});

describe('cancellation', () => {
  const isAbortError = (reason: unknown) => ({
    name: 'AbortError',
    code: 'ABORT_ERR',
    message: 'The operation was aborted',
    cause: reason,
  });

  it('an AbortSignal cancels each kind of wait, without leaving a thread', async () => {
    await withPair(async (a) => {
      const ep = new sys.Epoll();
      try {
        ep.add(a, sys.EPOLLIN);
        const ac = new AbortController();
        const waits = [
          sys.selectAsync([a], [], [], -1, { signal: ac.signal }),
          sys.pollAsync([{ fd: a, events: sys.POLLIN }], -1, { signal: ac.signal }),
          ep.waitAsync(8, -1, { signal: ac.signal }),
        ];
        await until(() => waitThreads() === 3, 'three wait threads');
        expect(tasks().length).toBe(tasksBefore + 3);
        const reason = new Error('enough');
        ac.abort(reason);
        const results = await Promise.allSettled(waits);
        for (const r of results) {
          expect(r.status).toBe('rejected');
          expect((r as PromiseRejectedResult).reason).toBeInstanceOf(sys.AbortError);
          expect((r as PromiseRejectedResult).reason).toMatchObject(isAbortError(reason));
        }
        // Each thread is joined before its Promise settles.
        expect(waitThreads()).toBe(0);
      } finally {
        ep.close();
      }
    });
  });

  it('an already-aborted signal rejects at once and starts nothing', async () => {
    await withPair(async (a) => {
      const signal = AbortSignal.abort('stop');
      const ep = new sys.Epoll();
      try {
        await expect(sys.selectAsync([a], [], [], -1, { signal })).rejects.toMatchObject(isAbortError('stop'));
        await expect(sys.pollAsync([{ fd: a, events: sys.POLLIN }], -1, { signal })).rejects.toMatchObject(
          isAbortError('stop'),
        );
        await expect(ep.waitAsync(8, -1, { signal })).rejects.toMatchObject(isAbortError('stop'));
        expect(waitThreads()).toBe(0);
      } finally {
        ep.close();
      }
    });
  });

  it('an abort after the wait resolved changes nothing', async () => {
    await withPair(async (a, b) => {
      const ac = new AbortController();
      sys.send(b, x);
      await expect(sys.pollAsync([{ fd: a, events: sys.POLLIN }], -1, { signal: ac.signal })).resolves.toHaveLength(1);
      ac.abort();
    });
  });

  it('closing an Epoll resolves its in-flight waits with [] and then closes its fd', async () => {
    await withPair(async (a) => {
      const ep = new sys.Epoll();
      ep.add(a, sys.EPOLLIN);
      const waits = [ep.waitAsync(), ep.waitAsync(8, -1), ep.waitAsync(1, 60_000)];
      await until(() => waitThreads() === 3, 'three wait threads');
      ep.close();
      expect(ep.closed).toBe(true);
      await expect(Promise.all(waits)).resolves.toEqual([[], [], []]);
      // By now no thread waits on it, and the epoll fd is closed (afterEach
      // checks the fd count too).
      expect(waitThreads()).toBe(0);
      await expect(ep.waitAsync()).rejects.toMatchObject({ code: 'EBADF', syscall: 'epoll_wait' });
    });
  });

  it('many waits cancelled together leave no thread behind', async () => {
    await withPair(async (a) => {
      const ac = new AbortController();
      // Sixteen listeners on one signal on purpose: past Node's default of 10 it warns.
      setMaxListeners(16, ac.signal);
      const waits = Array.from({ length: 16 }, (_, i) =>
        i % 2 === 0
          ? sys.pollAsync([{ fd: a, events: sys.POLLIN }], -1, { signal: ac.signal })
          : sys.selectAsync([a], [], [], -1, { signal: ac.signal }),
      );
      await until(() => waitThreads() === 16, 'sixteen wait threads');
      ac.abort();
      const results = await Promise.allSettled(waits);
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
    });
  });
});

describe('async argument errors reject, Node-style', () => {
  it('rejects instead of throwing', async () => {
    await expect(sys.selectAsync([sys.FD_SETSIZE])).rejects.toMatchObject({
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await expect(sys.pollAsync([], 0, { signal: 'no' as any })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await expect(sys.pollAsync([], 0, { timeout: 5 } as any)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
    });
    const ep = new sys.Epoll();
    ep.close();
    await expect(ep.waitAsync(0)).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(ep.waitAsync(8, 0)).rejects.toMatchObject({ code: 'EBADF' });
  });
});

describe('environment teardown', () => {
  it('terminating a Worker with waits in flight ends their threads and closes their fds', async () => {
    // The raw binding, so the Worker needs no TypeScript: this checks the
    // native cleanup (each wait is woken, joined and its eventfd closed; the
    // collected Epoll closes its fd).
    const root = join(__dirname, '..');
    const code = `
      const { parentPort } = require('node:worker_threads');
      const s = require(${JSON.stringify(require.resolve('node-gyp-build'))})(${JSON.stringify(root)}).sys;
      const [a, b] = s.socketpair(false);
      const ep = new s.Epoll();
      ep.add(a, s.constants.EPOLLIN);
      const never = () => { throw new Error('a wait settled'); };
      ep.waitAsync(8, -1, never);
      s.pollAsync([a], [s.constants.POLLIN], -1, never);
      s.selectAsync([a], [], [], -1, never);
      parentPort.postMessage([a, b]);
    `;
    const worker = new Worker(code, { eval: true });
    const [a, b] = (await once(worker, 'message'))[0] as [number, number];
    try {
      await until(() => waitThreads() === 3, 'three wait threads');
      await worker.terminate();
      expect(waitThreads()).toBe(0);
    } finally {
      sys.close(a);
      sys.close(b);
    }
    // afterEach: the Worker's own threads are gone and every fd it opened
    // (epoll fd, three eventfds) is closed.
  });
});
