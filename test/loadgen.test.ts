import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { EpollServer, IterativeServer, loadgen, sys, type LoadProgress, type LoadReport } from '../lib';
import { binding } from '../lib/binding';
import { cleanup, emptyRun, trackServer } from './helpers';

const ROOT = path.join(__dirname, '..');

interface TestServer {
  port: number;
  close(): Promise<void>;
}

const open: TestServer[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await cleanup();
});

// A node:net server on 127.0.0.1 whose connections all run `onConnection`.
// close() also destroys the connections still open, so nothing outlives a test.
async function startServer(onConnection: (socket: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // churn resets its connections; RST is an ordinary end here.
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  const s: TestServer = {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  open.push(s);
  return s;
}

function upper(data: Buffer): Buffer {
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) {
    if (out[i] >= 0x61 && out[i] <= 0x7a) out[i] -= 0x20;
  }
  return out;
}

const uppercaseServer = () => startServer((s) => s.on('data', (d: Buffer) => s.write(upper(d))));
const echoServer = () => startServer((s) => s.on('data', (d: Buffer) => s.write(d)));

function expectOrderedLatency(r: LoadReport): void {
  const l = r.latencyUs;
  expect(l.p50).toBeGreaterThan(0);
  const ordered = [l.min, l.p50, l.p75, l.p90, l.p975, l.p99, l.p999, l.p9999, l.max];
  expect(ordered).toEqual([...ordered].sort((a, b) => a - b));
  expect(l.min).toBeGreaterThan(0);
  expect(l.mean).toBeGreaterThanOrEqual(l.min);
  expect(l.mean).toBeLessThanOrEqual(l.max);
  expect(l.stdev).toBeGreaterThanOrEqual(0);
  expect(l.stdev).toBeLessThanOrEqual(l.max - l.min);
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

const countDir = (dir: string) => fs.readdirSync(dir).length;

/**
 * A loopback listener with backlog 1 that never accepts: the kernel completes
 * about two handshakes, then drops every SYN, so further connects stay pending.
 */
async function withDeafListener(body: (port: number) => Promise<void>): Promise<void> {
  const fd = sys.socket('ipv4', 'stream');
  try {
    sys.bind(fd, '127.0.0.1', 0);
    sys.listen(fd, 1);
    await body(sys.getsockname(fd).port);
  } finally {
    sys.close(fd);
  }
}

/** Requests made, every reply right, no error. */
function expectClean(r: LoadReport): void {
  expect(r.requests).toBeGreaterThan(0);
  expect(r.mismatches).toBe(0);
  expect(r.errors).toBe(0);
}

describe('loadgen rr', () => {
  it('drives an uppercase server with verified replies', async () => {
    const server = await uppercaseServer();
    const r = await loadgen({ port: server.port, connections: 8, durationMs: 500 });
    expect(r.requests).toBeGreaterThan(0);
    expect(r.mismatches).toBe(0);
    expect(r.errors).toBe(0);
    expect(r.errorCodes).toEqual({});
    expect(r.connected).toBe(8);
    expect(r.rps).toBeGreaterThan(0);
    expect(r.bytesPerSec).toBeCloseTo((r.rps * 2 * 64), 0);
    // Read and written apart: each is one direction (wrk's Transfer/sec is the read side).
    expect(r.readBytesPerSec).toBeCloseTo(r.rps * 64, 0);
    expect(r.writtenBytesPerSec).toBeCloseTo(r.rps * 64, 0);
    expect(r.readBytesPerSec + r.writtenBytesPerSec).toBeCloseTo(r.bytesPerSec, 0);
    expect(Date.parse(r.finishedAt) - Date.parse(r.startedAt)).toBeGreaterThanOrEqual(500);
    expect(r.durationMs).toBeGreaterThanOrEqual(500);
    expect(r.durationMs).toBeLessThan(1000);
    expectOrderedLatency(r);
  });

  it('min, mean and stdev are exact: a server that answers every request 20 ms late', async () => {
    const server = await startServer((s) => s.on('data', (d: Buffer) => setTimeout(() => s.write(upper(d)), 20)));
    const r = await loadgen({ port: server.port, connections: 4, durationMs: 400 });
    expect(r.requests).toBeGreaterThan(4);
    // libuv measures timers from the loop's cached time, so one can fire a
    // little under 20 ms after the request arrived; never far under.
    expect(r.latencyUs.min).toBeGreaterThanOrEqual(15_000);
    expect(r.latencyUs.stdev).toBeLessThan(r.latencyUs.mean);
    expect(r.latencyUs.mean).toBeGreaterThanOrEqual(r.latencyUs.min);
    // Histogram midpoints would put these within 0.4 %; exact sums agree with the bounds.
    expect(r.latencyUs.mean).toBeLessThanOrEqual(r.latencyUs.max);
    expectOrderedLatency(r);
  });

  it('open loop: holds a fixed rate within 2% on a server that keeps up', async () => {
    const server = trackServer(new EpollServer());
    const { port } = await server.start();
    const r = await loadgen({ port, connections: 20, rate: 2000, durationMs: 1000 });
    expect(r.errors + r.mismatches).toBe(0);
    expect(r.requests).toBeGreaterThanOrEqual(2000 * 0.98);
    expect(r.requests).toBeLessThanOrEqual(2000 * 1.02);
    expectOrderedLatency(r);
  });

  it('open loop: latency counts from the intended send time, so a stall shows in the tail', async () => {
    // A server that holds every reply for 600 ms once, 300 ms after the
    // first progress report of the 2 s window (reports come every 250 ms,
    // later on a loaded machine: the stall still ends inside the window).
    let stallFrom = Infinity;
    const stallMs = 600;
    const server = await startServer((s) =>
      s.on('data', (d: Buffer) => {
        const now = Date.now();
        const wait = now >= stallFrom && now < stallFrom + stallMs ? stallFrom + stallMs - now : 0;
        if (wait > 0) setTimeout(() => s.write(upper(d)), wait);
        else s.write(upper(d));
      }),
    );
    const onProgress = (p: LoadProgress) => {
      if (p.phase === 'measure' && stallFrom === Infinity) stallFrom = Date.now() + 300;
    };
    const r = await loadgen({ port: server.port, connections: 10, rate: 1000, durationMs: 2000, onProgress });
    expect(r.errors + r.mismatches).toBe(0);
    // Requests meant for the 600 ms of the stall (30% of the window) all
    // wait for its end: a quarter of all of them by 100 ms or more. A closed
    // loop would charge the stall to the 10 requests in flight only.
    expect(r.latencyUs.max).toBeGreaterThanOrEqual(500_000);
    expect(r.latencyUs.p90).toBeGreaterThanOrEqual(100_000);
  });

  it('set-up has a budget: once the server stops accepting, the connections not yet tried are dropped and the run says so', async () => {
    // One client at a time, a backlog of 4: the other connects wait for
    // SYN-ACKs that never come. Without the budget all 600 would be tried,
    // 128 at a time, each timing out.
    const server = trackServer(new IterativeServer({ backlog: 4 }));
    const { port } = await server.start();
    const r = await loadgen({ port, connections: 600, connectTimeoutMs: 400, durationMs: 100 });
    expect(r.setupCut).toBe(true);
    expect(r.unstarted).toBeGreaterThan(0);
    expect(r.connected).toBeLessThan(600);
    expect(r.connected + r.unstarted + (r.errorCodes.ETIMEDOUT ?? 0)).toBeGreaterThanOrEqual(600);
    // A server that keeps accepting is never cut.
    const epoll = trackServer(new EpollServer({ backlog: 16 }));
    const fine = await loadgen({ port: (await epoll.start()).port, connections: 600, durationMs: 100 });
    expect(fine.setupCut).toBe(false);
    expect(fine.connected).toBe(600);
    expect(fine.unstarted).toBe(0);
  });

  it("rate is rr's only; a bad rate is a Node-style error", async () => {
    await expect(loadgen({ port: 1, mode: 'churn', rate: 10 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(loadgen({ port: 1, rate: -1 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(loadgen({ port: 1, rate: 1.5 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });

  it('excludes the warm-up from the counts', async () => {
    const server = await uppercaseServer();
    const started = Date.now();
    const r = await loadgen({ port: server.port, connections: 4, durationMs: 300, warmupMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    expect(r.durationMs).toBeGreaterThanOrEqual(300);
    expect(r.durationMs).toBeLessThan(600);
    expect(r.requests).toBeGreaterThan(0);
    expect(r.mismatches).toBe(0);
  });

  it("verifies an echo server with expect: 'echo'", async () => {
    const server = await echoServer();
    expectClean(await loadgen({ port: server.port, connections: 4, durationMs: 300, expect: 'echo' }));
  });

  it("only counts bytes with expect: 'none'", async () => {
    const server = await startServer((s) => s.on('data', (d: Buffer) => s.write(Buffer.alloc(d.length, 0x2a))));
    const r = await loadgen({ port: server.port, connections: 4, durationMs: 300, expect: 'none' });
    expect(r.requests).toBeGreaterThan(0);
    expect(r.mismatches).toBe(0);
  });

  it('reports wrong replies as mismatches', async () => {
    const server = await echoServer(); // lowercase back where uppercase is expected
    const r = await emptyRun(loadgen({ port: server.port, connections: 4, durationMs: 300 }));
    expect(r.mismatches).toBeGreaterThan(0);
    expect(r.requests).toBe(0);
    expect(r.errors).toBe(0);
  });

  it('a run that counted no request rejects, naming its causes', async () => {
    const failure = async (options: Parameters<typeof loadgen>[0]) => {
      const err = (await loadgen(options).then(
        () => null,
        (e: unknown) => e,
      )) as (Error & { code: string; report: LoadReport }) | null;
      expect(err, JSON.stringify(options)).toBeInstanceOf(Error);
      expect(err!.code).toBe('ERR_LOADGEN_NO_REQUESTS');
      expect(err!.report.requests).toBe(0);
      return err!;
    };
    const echo = await echoServer();
    const mismatched = await failure({ port: echo.port, connections: 4, durationMs: 200 });
    expect(mismatched.message).toMatch(/^loadgen: no request completed in \d+ ms; mismatch [\d,]+: does the server speak another protocol\? \(expect: echo\|none\)$/);
    expect(mismatched.report.mismatches).toBeGreaterThan(0);

    const mute = await startServer(() => undefined);
    const silent = await failure({ port: mute.port, connections: 2, durationMs: 200 });
    expect(silent.message).toMatch(/no error: the server never answered/);

    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const closed = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refused = await failure({ port: closed, connections: 2, durationMs: 200 });
    expect(refused.message).toMatch(/; ECONNREFUSED [\d,]+$/);
    expect(refused.report.errorCodes.ECONNREFUSED).toBeGreaterThan(0);
  });

  it('catches a stale reply (the previous request echoed again)', async () => {
    // Replies to request n with the uppercase of request n-1 (the first one right).
    const server = await startServer((s) => {
      let previous: Buffer | undefined;
      s.on('data', (d: Buffer) => {
        s.write(upper(previous ?? d));
        previous = d;
      });
    });
    const r = await loadgen({ port: server.port, connections: 1, durationMs: 300 });
    expect(r.mismatches).toBeGreaterThan(0);
  });

  it('verifies 64 KiB messages end to end', async () => {
    const server = await uppercaseServer();
    expectClean(await loadgen({ port: server.port, connections: 4, messageSize: 65536, durationMs: 500 }));
  });

  // Connecting is set-up: the clock starts once every connection is open,
  // so a window far shorter than it takes to connect them still ends with
  // every one connected and no error (1000 x 64 KiB once reported about
  // 110 ETIMEDOUT/UNSTARTED errors when the window began at once).
  it('connects every connection before the window, however short', async () => {
    const server = trackServer(new EpollServer({ maxConnections: 4000 }));
    const { port } = await server.start();
    for (const threads of [1, 3]) {
      // A 1 ms window may count no request: loadgen() then rejects, with the report.
      const r = await loadgen({ port, connections: 1000, messageSize: 65536, durationMs: 1, threads }).catch(
        (err: Error & { code?: string; report?: LoadReport }) => {
          if (err.code !== 'ERR_LOADGEN_NO_REQUESTS') throw err;
          return err.report!;
        },
      );
      expect(r.errorCodes).toEqual({});
      expect(r.errors).toBe(0);
      expect(r.unstarted).toBe(0);
      expect(r.connected).toBe(1000);
      expect(r.mismatches).toBe(0);
    }
  });

  it('splits connections across threads', async () => {
    const server = await uppercaseServer();
    const r = await loadgen({ port: server.port, connections: 6, threads: 3, durationMs: 300 });
    expect(r.connected).toBe(6);
    expectClean(r);
  });
});

describe('loadgen failures', () => {
  it('counts refused connections and returns on time', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const started = Date.now();
    const r = await emptyRun(loadgen({ port, connections: 4, durationMs: 300 }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.errors).toBeGreaterThan(0);
    expect(r.errorCodes.ECONNREFUSED).toBe(r.errors);
    expect(r.requests).toBe(0);
    expect(r.connected).toBe(0);
    expect(r.unstarted).toBe(0);
  });

  // A listener with backlog 1 that never accepts: the kernel completes about
  // two handshakes, then drops every SYN, so connect() stays pending (the
  // first retransmission is a second away). A pending connect fails with
  // ETIMEDOUT after connectTimeoutMs, which settles it and lets set-up end;
  // none of the connections may vanish from the report: 30,000 connections
  // over 8 s once reported 8,616 connected and 0 errors.
  it('times out connects that stay pending, and only those', async () => {
    await withDeafListener(async (port) => {
      const sum = (r: LoadReport) => Object.values(r.errorCodes).reduce((a, b) => a + b, 0);

      // A wave of 128 connects times out with none established: the server
      // has stopped accepting, so set-up's budget drops the connections not
      // yet tried (unstarted) instead of timing them out wave after wave;
      // then the window.
      const rr = await emptyRun(loadgen({ port, connections: 300, durationMs: 50, connectTimeoutMs: 100 }));
      expect(rr.connected).toBeLessThan(10);
      expect(rr.setupCut).toBe(true);
      expect(rr.unstarted).toBeGreaterThan(0);
      expect(rr.unstarted).toBeLessThanOrEqual(300 - 128);
      expect(Object.keys(rr.errorCodes)).toEqual(['ETIMEDOUT']);
      // Each one tried and never established timed out at least once during
      // set-up; some retries time out again within the window.
      expect(rr.errorCodes.ETIMEDOUT).toBeGreaterThanOrEqual(300 - rr.unstarted - rr.connected);
      expect(rr.errors).toBe(sum(rr));
      expect(rr.requests).toBe(0);
      expect(rr.durationMs).toBeGreaterThan(0);

      // hold: the idle connects time out during set-up; the active one is
      // launched after it and still pending when the window (50 ms, shorter
      // than the timeout) ends: the end interrupts it, no error.
      const hold = await emptyRun(loadgen({ port, mode: 'hold', idle: 20, durationMs: 50, connectTimeoutMs: 100 }));
      expect(hold.connected).toBeLessThan(10);
      // Twenty fit in one wave: none waited for a slot, nothing to cut.
      expect(hold.setupCut).toBe(false);
      expect(hold.unstarted).toBe(0);
      expect(hold.errorCodes).toEqual({ ETIMEDOUT: 20 - hold.connected });
      expect(hold.errors).toBe(20 - hold.connected);
      expect(hold.requests).toBe(0);
    });
  });

  // A run stopped during set-up (connects pending, far from their timeout):
  // neither the interrupted connects nor the ones never tried are errors;
  // `unstarted` says how many were never tried, and there was no window.
  it('does not count the end of a run as an error', async () => {
    await withDeafListener(async (port) => {
      const run = binding.loadgenStart({ port, connections: 300, durationMs: 50, connectTimeoutMs: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      run.stop();
      const r = await run;
      expect(r.errors).toBe(0);
      expect(r.errorCodes).toEqual({});
      expect(r.durationMs).toBe(0);
      expect(r.requests).toBe(0);
      expect(r.connected).toBeLessThan(10);
      // At most 128 connects in flight: the rest were never tried.
      expect(r.unstarted).toBeGreaterThanOrEqual(300 - 128 - r.connected);
      expect(r.unstarted).toBeLessThanOrEqual(300 - r.connected);
    });
  });

  it('counts a server that closes mid-request as an error', async () => {
    const server = await startServer((s) => s.once('data', () => s.end()));
    const started = Date.now();
    const r = await emptyRun(loadgen({ port: server.port, connections: 2, durationMs: 300 }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.errors).toBeGreaterThan(0);
    expect(r.errorCodes.EOF).toBeGreaterThan(0);
    expect(r.requests).toBe(0);
  });

  it('rejects invalid options with Node-style errors', async () => {
    const cases: [unknown, string, ErrorConstructor][] = [
      [undefined, 'ERR_INVALID_ARG_TYPE', TypeError],
      [null, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{}, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ port: '80' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ port: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 65536 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80.5 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, host: 5 }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ port: 80, host: 'localhost' }, 'ERR_INVALID_ARG_VALUE', RangeError],
      [{ port: 80, mode: 'burst' }, 'ERR_INVALID_ARG_VALUE', RangeError],
      [{ port: 80, mode: 1 }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ port: 80, expect: 'lower' }, 'ERR_INVALID_ARG_VALUE', RangeError],
      [{ port: 80, connections: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, connections: '4' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ port: 80, messageSize: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, durationMs: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, warmupMs: -1 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, connectTimeoutMs: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, connectTimeoutMs: '1' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ port: 80, idle: -1 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, threads: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ port: 80, onProgress: 'x' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ port: 80, conections: 4 }, 'ERR_INVALID_ARG_VALUE', RangeError],
      // A 1-byte datagram numbers 10 in flight at most.
      [{ port: 80, mode: 'udp', messageSize: 1, pipeline: 11 }, 'ERR_OUT_OF_RANGE', RangeError],
    ];
    for (const [options, code, kind] of cases) {
      let promise: Promise<unknown> | undefined;
      // Never a synchronous throw: always a rejected promise.
      expect(() => {
        promise = loadgen(options as never);
      }).not.toThrow();
      const err = await promise!.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(options)).toBeInstanceOf(kind);
      expect((err as { code?: string }).code, JSON.stringify(options)).toBe(code);
    }
  });
});

describe('loadgen hold and churn', () => {
  it('holds idle connections beside one active connection', async () => {
    const server = await uppercaseServer();
    const r = await loadgen({ port: server.port, mode: 'hold', idle: 200, durationMs: 500 });
    expect(r.connected).toBe(201);
    expect(r.requests).toBeGreaterThan(0);
    expect(r.mismatches).toBe(0);
    expect(r.errors).toBe(0);
  });

  it('counts idle connections the server drops', async () => {
    let accepted = 0;
    const server = await startServer((s) => {
      if (++accepted > 10) s.destroy();
      else s.on('data', (d: Buffer) => s.write(upper(d)));
    });
    const r = await emptyRun(loadgen({ port: server.port, mode: 'hold', idle: 50, durationMs: 500 }));
    // The first 10 idle connections are kept; the other 40 are dropped and,
    // being idle, never retried. The active one (accepted 51st) keeps being
    // dropped and retried, so when the run ends it may be between a connect
    // and the server's destroy(): connected then counts it too.
    expect(r.connected).toBeGreaterThanOrEqual(10);
    expect(r.connected).toBeLessThanOrEqual(11);
    // destroy() closes gracefully or, with unread data, resets.
    expect((r.errorCodes.EOF ?? 0) + (r.errorCodes.ECONNRESET ?? 0)).toBe(r.errors);
    expect(r.errors).toBeGreaterThan(40);
    expect(r.requests).toBe(0);
  });

  it('counts connect-request-close cycles in churn mode', async () => {
    let accepted = 0;
    const server = await startServer((s) => {
      accepted++;
      s.on('data', (d: Buffer) => s.write(upper(d)));
    });
    const r = await loadgen({ port: server.port, mode: 'churn', connections: 4, durationMs: 500 });
    expect(r.requests).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThanOrEqual(r.requests);
    expect(r.mismatches).toBe(0);
    expect(r.errors).toBe(0);
    expectOrderedLatency(r);
  });
});

describe('loadgen progress and resources', () => {
  it('calls onProgress a few times a second', async () => {
    const server = await uppercaseServer();
    const seen: LoadProgress[] = [];
    const r = await loadgen({
      port: server.port,
      connections: 4,
      durationMs: 1500,
      onProgress: (p) => seen.push(p),
    });
    expect(seen.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i].elapsedMs).toBeGreaterThan(seen[i - 1].elapsedMs);
      expect(seen[i].requests).toBeGreaterThanOrEqual(seen[i - 1].requests);
    }
    expect(seen.at(-1)!.requests).toBeLessThanOrEqual(r.requests);
    expect(seen.some((p) => p.rps > 0)).toBe(true);
  });

  // The window starts after set-up and warm-up; the first 'measure'
  // snapshot is emitted as it starts, so a caller can sample the server then.
  // One thread: the loop that reports is the one that ends set-up, so its
  // last 'setup' snapshot precedes the window's start by construction.
  it('reports the phases in order, the window once set-up and warm-up are over', async () => {
    const server = trackServer(new EpollServer({ maxConnections: 4000 }));
    const { port } = await server.start();
    const seen: LoadProgress[] = [];
    const warmupMs = 50;
    const r = await loadgen({ port, connections: 1000, warmupMs, durationMs: 300, onProgress: (p) => seen.push({ ...p }) });
    expect(r.errors).toBe(0);
    expect(r.requests).toBeGreaterThan(0);
    const order = ['setup', 'warmup', 'measure'];
    expect(seen[0].phase).toBe('setup');
    expect([...new Set(seen.map((p) => p.phase))]).toEqual(order);
    for (let i = 1; i < seen.length; i++) {
      expect(order.indexOf(seen[i].phase)).toBeGreaterThanOrEqual(order.indexOf(seen[i - 1].phase));
    }
    const lastSetup = seen.filter((p) => p.phase === 'setup').at(-1)!;
    const firstMeasure = seen.find((p) => p.phase === 'measure')!;
    expect(firstMeasure.elapsedMs).toBeGreaterThanOrEqual(lastSetup.elapsedMs + warmupMs);
    // Emitted as the window begins: nothing counted yet.
    expect(firstMeasure.requests).toBe(0);
    expect(seen.filter((p) => p.phase !== 'measure').every((p) => p.requests === 0)).toBe(true);

    // Churn has no set-up; without a warm-up it starts measuring at once.
    const churn: LoadProgress[] = [];
    await loadgen({ port, mode: 'churn', connections: 2, durationMs: 100, onProgress: (p) => churn.push({ ...p }) });
    expect(churn[0].phase).toBe('measure');
    expect(churn.every((p) => p.phase === 'measure')).toBe(true);
  });

  it('rejects with the error onProgress threw, after the run', async () => {
    const server = await uppercaseServer();
    const boom = new Error('boom');
    let calls = 0;
    const err = await loadgen({
      port: server.port,
      connections: 2,
      durationMs: 600,
      onProgress: () => {
        calls++;
        throw boom;
      },
    }).catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(calls).toBe(1);
  });

  it('leaves no thread and no fd behind', async () => {
    const server = await uppercaseServer();
    // A first run lets Node start whatever it starts lazily.
    await loadgen({ port: server.port, connections: 4, durationMs: 100 });
    const fdsBefore = countDir('/proc/self/fd');
    const tasksBefore = countDir('/proc/self/task');
    await loadgen({ port: server.port, connections: 16, threads: 3, durationMs: 300, onProgress: () => {} });
    // The server's ends of the connections close asynchronously on this thread.
    expect(await waitFor(() => countDir('/proc/self/task') <= tasksBefore, 3000)).toBe(true);
    expect(await waitFor(() => countDir('/proc/self/fd') <= fdsBefore, 3000)).toBe(true);
  });

  function runNode(script: string, timeoutMs: number): Promise<{ code: number | null; out: string; ms: number }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, out, ms: Date.now() - started });
      });
    });
  }

  const preamble = `
    const net = require('node:net');
    const binding = require('node-gyp-build')(process.env.NETMODELS_BINDING_DIR || process.cwd());
    const server = net.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write(d)); });
  `;

  it('does not keep the process alive after a run', async () => {
    const script = `${preamble}
      server.listen(0, '127.0.0.1', async () => {
        const r = await binding.loadgenStart(
          { port: server.address().port, connections: 2, durationMs: 300, expect: 'echo' }, () => {});
        server.close();
        console.log('done', r.requests > 0, r.mismatches);
      });
      server.on('connection', (s) => s.unref());
    `;
    const { code, out, ms } = await runNode(script, 10_000);
    expect(out.trim()).toBe('done true 0');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });

  it('stops a run at once when the process exits', async () => {
    const script = `${preamble}
      server.listen(0, '127.0.0.1', () => {
        binding.loadgenStart({ port: server.address().port, connections: 8, threads: 2, durationMs: 20000, expect: 'echo' }, () => {});
        setTimeout(() => { console.log('exiting'); process.exit(0); }, 300);
      });
    `;
    const { code, out, ms } = await runNode(script, 15_000);
    expect(out.trim()).toBe('exiting');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });

  it('stops a run when a worker thread is terminated', async () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const w = new Worker(\`${preamble.replace(/`/g, '\\`')}
        server.listen(0, '127.0.0.1', () => {
          binding.loadgenStart({ port: server.address().port, connections: 4, durationMs: 20000, expect: 'echo' }, () => {});
          require('node:worker_threads').parentPort.postMessage('running');
        });\`, { eval: true });
      w.once('message', () => setTimeout(() => w.terminate().then(() => console.log('terminated')), 200));
    `;
    const { code, out, ms } = await runNode(script, 15_000);
    expect(out.trim()).toBe('terminated');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });
});

describe('loadgen against the C ceiling server', () => {
  let dir: string;
  let ceiling: ReturnType<typeof spawn> | undefined;
  let port = 0;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-ceiling-'));
    const binary = path.join(dir, 'ceiling');
    execFileSync('sh', [path.join(ROOT, 'scripts', 'build-ceiling.sh'), binary], { stdio: 'pipe' });
    const child = spawn(binary, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    ceiling = child;
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.once('exit', (c) => reject(new Error(`ceiling exited (${c})`)));
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /^PORT (\d+)$/m.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
  });

  afterAll(async () => {
    const child = ceiling;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.removeAllListeners('exit');
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('verifies 64-byte replies from 64 connections', async () => {
    const r = await loadgen({ port, connections: 64, durationMs: 500 });
    expect(r.connected).toBe(64);
    expect(r.requests).toBeGreaterThan(0);
    expect(r.mismatches).toBe(0);
    expect(r.errors).toBe(0);
    expectOrderedLatency(r);
  });

  it('verifies 64 KiB replies (partial writes on both sides)', async () => {
    const r = await loadgen({ port, connections: 16, messageSize: 65536, durationMs: 500 });
    expect(r.requests).toBeGreaterThan(0);
    expect(r.mismatches).toBe(0);
    expect(r.errors).toBe(0);
  });
});
