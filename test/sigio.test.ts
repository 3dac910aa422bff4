// What only SigioServer does: readiness arrives as real-time signals queued
// for the loop's thread, the queue can overflow (and the loop recovers with a
// poll() rescan), and no signal may reach Node's own threads.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { SigioServer, loadgen } from '../lib/index';
import { Client } from './client';
import { assertBytesEqual, cleanup, toUpperAscii, trackServer } from './helpers';
import { expectNoNewFds, fdSnapshot, steadyThreadCount } from './proc';

const FIXTURE = path.join(__dirname, 'fixtures', 'sigio-overflow.cjs');

interface Snapshot {
  blocked: string;
  caught: string;
  ignored: string;
  threads: number;
  fds: number;
}

interface OverflowReport {
  limit: string;
  sent: number;
  stats: ReturnType<SigioServer['stats']>;
  final: ReturnType<SigioServer['stats']>;
  before: Snapshot;
  after: Snapshot;
  pending: { thread: string; process: string };
}

/** Runs the fixture in a fresh Node process, with RLIMIT_SIGPENDING lowered to `limit` when given. */
function runFixture(dequeue: string, loops: number, limit?: number): Promise<OverflowReport> {
  const node = [process.execPath, FIXTURE, dequeue, String(loops)];
  const [file, args] = limit === undefined ? [node[0], node.slice(1)] : ['bash', ['-c', `ulimit -i ${limit} && exec "$0" "$@"`, ...node]];
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout: 90_000 }, (err, out, errOut) =>
      err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(JSON.parse(out) as OverflowReport),
    ),
  );
}

/** A field of /proc/self/status for every thread of this process. */
function everyThread(key: string): string[] {
  return fs.readdirSync('/proc/self/task').map((tid) => {
    try {
      return new RegExp(`${key}:\\s*(\\S+)`).exec(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1];
    } catch {
      return '0000000000000000'; // the thread ended meanwhile
    }
  });
}

function mainThread(key: string): string {
  return new RegExp(`${key}:\\s*(\\S+)`).exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
}

describe('SigioServer', () => {
  afterEach(cleanup);

  for (const [dequeue, loops] of [['sigwait', 1], ['signalfd', 1], ['signalfd', 3]] as const) {
    it(`${dequeue}${loops > 1 ? ` x${loops}` : ''}: with RLIMIT_SIGPENDING at 4, 200 clients are served byte-exact through queue overflows; nothing left after stop()`, async () => {
      const r = await runFixture(dequeue, loops, 4);
      expect(r.limit).toMatch(/Max pending signals\s+4\s+4/);
      // Every byte each client sent came back uppercased (checked in the
      // fixture), and the counters agree with what was sent.
      expect(r.stats).toMatchObject({ accepted: 200, closed: 200, active: 0, rejected: 0, errors: 0, bytesIn: r.sent, bytesOut: r.sent });
      expect(r.stats.overflows).toBeGreaterThan(0);
      // Each overflow costs one poll() rescan beside the dequeues.
      expect(r.stats.syscalls.wait).toBeGreaterThan(r.stats.overflows!);
      expect(r.final.overflows).toBeGreaterThanOrEqual(r.stats.overflows!);
      expect(r.after).toEqual(r.before);
      expect(r.pending).toEqual({ thread: '0000000000000000', process: '0000000000000000' });
    });
  }

  it('at the default RLIMIT_SIGPENDING the same load never overflows', async () => {
    const r = await runFixture('sigwait', 1);
    expect(r.stats).toMatchObject({ accepted: 200, closed: 200, errors: 0, bytesIn: r.sent, bytesOut: r.sent, overflows: 0 });
  });

  it("no signal escapes: two servers under load beside process.on('SIGIO'), child_process and timers; stop() leaves no thread, fd or pending signal", async () => {
    let sigio = 0;
    const onSigio = () => sigio++;
    process.on('SIGIO', onSigio);
    try {
      const mask = { blocked: mainThread('SigBlk'), caught: mainThread('SigCgt'), ignored: mainThread('SigIgn') };
      const threads = await steadyThreadCount();
      const fds = fdSnapshot();
      const a = trackServer(new SigioServer());
      const b = trackServer(new SigioServer({ dequeue: 'signalfd', loops: 2 }));
      const [pa, pb] = [(await a.start()).port, (await b.start()).port];
      const timer = new Promise<number>((resolve) => {
        const t0 = Date.now();
        setTimeout(() => resolve(Date.now() - t0), 50);
      });
      const child = new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['-e', 'process.stdout.write("child ok")'], (err, out) => (err ? reject(err) : resolve(out))),
      );
      const [ra, rb, waited, out] = await Promise.all([
        loadgen({ port: pa, connections: 64, durationMs: 600 }),
        loadgen({ port: pb, connections: 64, durationMs: 600 }),
        timer,
        child,
      ]);
      for (const r of [ra, rb]) {
        expect(r.requests).toBeGreaterThan(0);
        expect(r).toMatchObject({ errors: 0, mismatches: 0 });
      }
      expect(waited).toBeGreaterThanOrEqual(49);
      expect(out).toBe('child ok');
      // One server stopping leaves the other serving.
      await a.stop();
      const again = await loadgen({ port: pb, connections: 16, durationMs: 200 });
      expect(again).toMatchObject({ errors: 0, mismatches: 0 });
      expect(again.requests).toBeGreaterThan(0);
      await b.stop();
      expect(sigio).toBe(0);
      expect({ blocked: mainThread('SigBlk'), caught: mainThread('SigCgt'), ignored: mainThread('SigIgn') }).toEqual(mask);
      expect(mainThread('ShdPnd')).toBe('0000000000000000');
      for (const pending of everyThread('SigPnd')) expect(pending).toBe('0000000000000000');
      expect(await steadyThreadCount()).toBe(threads);
      await expectNoNewFds(fds);
    } finally {
      process.off('SIGIO', onSigio);
    }
  });

  for (const dequeue of ['sigwait', 'signalfd'] as const) {
    it(`${dequeue}: 5 clients at once, 8 MiB each, 4 times: all of it comes back (a read stopped by backpressure resumes in the round whose write drained the output)`, async () => {
      // Once every byte has arrived no signal is left to come: a read that
      // stopped at the high-water mark and was not revisited stalled here.
      const server = trackServer(new SigioServer({ dequeue }));
      const { port } = await server.start();
      const size = 8 << 20;
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          Array.from({ length: 5 }, async (_, i) => {
            const client = await Client.connect(port);
            const payload = Buffer.alloc(size, 0x61 + ((round + i) % 26));
            client.write(payload);
            if ((round + i) % 2) client.end();
            assertBytesEqual(await client.read(size, 60_000), toUpperAscii(payload), `client ${i}, round ${round}`);
            client.destroy();
          }),
        );
      }
      await server.stop();
    });
  }

  it('bad options: dequeue and a shared listener', () => {
    expect(() => new SigioServer({ dequeue: 'x' as 'sigwait' })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => new SigioServer({ dequeue: 1 as unknown as 'sigwait' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new SigioServer({ loops: 3, balance: 'shared' as 'handoff' })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/one thread/) }),
    );
  });
});
