// PreforkServer: what only the process pool does. Real processes, 127.0.0.1 only.
import { execFile, spawn } from 'node:child_process';
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import { connect } from 'node:net';
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { PreforkServer, createServer, type DropInfo, type PreforkServerOptions, type WorkerStats } from '../lib/index';
import { resolveOptions } from '../lib/options';
import { cleanup, delay, trackServer, trackSocket, waitFor, waitForStats } from './helpers';
import { childProcesses, expectNoNewFds, fdSnapshot } from './proc';
import { closeAll, openMany, roundTripAll } from './scale';

type Reaper = NonNullable<PreforkServerOptions['reaper']>;
const REAPERS: Reaper[] = ['pidfd', 'sigchld'];

const pids = (): number[] => childProcesses().map((c) => Number(c.split(':')[0]));
const zombies = (): string[] => childProcesses().filter((c) => c.endsWith(':Z'));
const workers = (server: PreforkServer): WorkerStats[] => server.stats().workers ?? [];
const workerPids = (server: PreforkServer): number[] => workers(server).map((w) => w.pid as number).sort();

/** A server with `n` children up and accepting. */
async function started(options: PreforkServerOptions): Promise<{ server: PreforkServer; port: number }> {
  const server = trackServer(new PreforkServer(options));
  const { port } = await server.start();
  const n = options.workers ?? 1;
  await waitFor(() => workers(server).length === n, `${n} children forked`, 10_000);
  return { server, port };
}

function exitCode(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

function execFileCode(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) => execFile(cmd, args, (err) => resolve(err ? Number((err as { code?: unknown }).code) : 0)));
}

afterEach(cleanup);

const DIST = path.join(__dirname, '..', 'dist');

/** True once no process has the pid any more. */
const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

describe('PreforkServer options', () => {
  it('rejects bad options Node style; maxWorkers follows workers by default', () => {
    const code = (code: string) => expect.objectContaining({ code });
    expect(() => new PreforkServer({ workers: 0 })).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new PreforkServer({ workers: 1.5 })).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new PreforkServer({ workers: '2' as never })).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => new PreforkServer({ minSpareWorkers: 5, maxSpareWorkers: 4 })).toThrow(
      /"options\.minSpareWorkers" is out of range\. It must be <= options\.maxSpareWorkers \(4\)\. Received 5/,
    );
    expect(() => new PreforkServer({ workers: 8, maxWorkers: 4 })).toThrow(
      /"options\.maxWorkers" is out of range\. It must be >= options\.workers \(8\)\. Received 4/,
    );
    expect(() => new PreforkServer({ workers: 8, maxWorkers: 4 })).toThrow(RangeError);
    expect(() => new PreforkServer({ maxRequestsPerChild: -1 })).toThrow(code('ERR_OUT_OF_RANGE'));
    expect(() => new PreforkServer({ reaper: 'wait' as never })).toThrow(code('ERR_INVALID_ARG_VALUE'));
    // A forked child cannot run JavaScript.
    expect(() => new PreforkServer({ handler: (() => {}) as never })).toThrow(TypeError);
    expect(() => new PreforkServer({ threads: 2 } as never)).toThrow(code('ERR_INVALID_ARG_VALUE'));
    // Defaults that depend on another option are not out of range: the
    // values the native side gets.
    const native = (given: Record<string, unknown>) => resolveOptions(PreforkServer.spec, given, 'PreforkServer').native;
    expect(native({ workers: 300 })).toMatchObject({ workers: 300, maxWorkers: 300 });
    expect(native({ workers: 2 })).toMatchObject({ workers: 2, maxWorkers: 256 });
    const spares = { minSpareWorkers: 10, maxSpareWorkers: 10, maxWorkers: 1, workers: 1 };
    expect(native(spares)).toMatchObject(spares);
    expect(new PreforkServer({ workers: 300 })).toBeInstanceOf(PreforkServer);
    expect(new PreforkServer(spares)).toBeInstanceOf(PreforkServer);
    expect(createServer('prefork', { workers: 2 })).toBeInstanceOf(PreforkServer);
  });

  it('forks one child per CPU this process may use by default', async () => {
    const n = availableParallelism();
    const server = trackServer(new PreforkServer());
    await server.start();
    await waitFor(() => workers(server).length === n, `${n} children`, 10_000);
    await server.stop();
  });
});

describe.each(REAPERS)('PreforkServer (reaper: %s)', (reaper) => {
  it('children accept and serve, the parent never does; totals are the sum of the children', async () => {
    const { server, port } = await started({ reaper, workers: 3 });
    expect(server.stats().reaper).toBe(reaper);
    const list = workers(server);
    expect(list.map((w) => w.state)).toEqual(['idle', 'idle', 'idle']);
    expect(workerPids(server)).toEqual(pids().sort());
    for (let round = 0; round < 10; round++) {
      const sockets = await openMany(port, 3);
      await roundTripAll(sockets, `round${round}`);
      await closeAll(sockets);
    }
    const s = await waitForStats(server, (x) => x.closed === 30 && x.active === 0, '30 closed');
    const sum = (k: 'accepted' | 'served' | 'bytesIn' | 'bytesOut') =>
      workers(server).reduce((n, w) => n + w[k], 0);
    expect(sum('accepted')).toBe(30);
    expect(sum('served')).toBe(30);
    expect(sum('bytesIn')).toBe(s.bytesIn);
    expect(sum('bytesOut')).toBe(s.bytesOut);
    expect(s.bytesIn).toBe(s.bytesOut);
    expect(s).toMatchObject({ accepted: 30, rejected: 0, reaped: 0, errors: 0 });
    // The same three children served everything.
    expect(workers(server)).toHaveLength(3);
    await server.stop();
    expect(pids()).toEqual([]);
  });

  it('replaces a busy child killed with SIGKILL; other clients go on; no zombie; counted as an error', async () => {
    const { server, port } = await started({ reaper, workers: 2 });
    const [a, b] = await openMany(port, 2);
    await roundTripAll([a, b], 'held');
    const busy = workers(server).filter((w) => w.state === 'busy');
    expect(busy).toHaveLength(2);
    const victim = busy[0].pid as number;
    const aClosed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    const bClosed = new Promise<void>((resolve) => b.once('close', () => resolve()));
    a.on('error', () => {});
    b.on('error', () => {});
    process.kill(victim, 'SIGKILL');
    const s = await waitForStats(server, (x) => x.reaped === 1 && (x.workers?.length ?? 0) === 2, 'killed child replaced');
    expect(s).toMatchObject({ accepted: 2, active: 1, closed: 1, errors: 1 });
    expect(workerPids(server)).not.toContain(victim);
    expect(zombies()).toEqual([]);
    // One of the two clients lost its server; the other is still served.
    const alive = await Promise.race([aClosed.then(() => b), bClosed.then(() => a)]);
    await roundTripAll([alive], 'still');
    // The new child serves too.
    const [c] = await openMany(port, 1);
    await roundTripAll([c], 'new');
    await closeAll([a, b, c]);
    await waitForStats(server, (x) => x.active === 0 && x.closed === 3, 'all closed');
    await server.stop();
    expect(pids()).toEqual([]);
  });

  it('maxRequestsPerChild: 5 rotates the children; a clean exit is no error', async () => {
    const { server, port } = await started({ reaper, workers: 1, maxRequestsPerChild: 5 });
    const seen = new Set<number>(workerPids(server));
    for (let i = 0; i < 17; i++) {
      const [s] = await openMany(port, 1);
      await roundTripAll([s], `r${i}`);
      await closeAll([s]);
      await waitForStats(server, (x) => x.closed === i + 1, `${i + 1} closed`);
      for (const p of workerPids(server)) seen.add(p);
    }
    // 17 connections, 5 a child: the fourth child serves the last two.
    await waitForStats(server, (x) => x.reaped === 3 && (x.workers?.length ?? 0) === 1, 'three children retired');
    for (const p of workerPids(server)) seen.add(p);
    expect(seen.size).toBe(4);
    expect(server.stats()).toMatchObject({ accepted: 17, closed: 17, errors: 0 });
    expect(zombies()).toEqual([]);
    await server.stop();
  });

  it("keeps Node's child_process exit codes right while children rotate beside it", async () => {
    const { server, port } = await started({ reaper, workers: 2, maxRequestsPerChild: 2 });
    let churning = true;
    let served = 0;
    const churn = (async () => {
      while (churning) {
        const sockets = await openMany(port, 2);
        await roundTripAll(sockets, 'c');
        await closeAll(sockets);
        served += 2;
      }
    })();
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push((await exitCode('true', [])) ?? -1);
      codes.push((await exitCode('sh', ['-c', 'exit 3'])) ?? -1);
      codes.push(await execFileCode('sh', ['-c', 'exit 4']));
    }
    churning = false;
    await churn;
    expect(codes).toEqual(Array.from({ length: 6 }, () => [0, 3, 4]).flat());
    expect(served).toBeGreaterThan(0);
    const s = await waitForStats(server, (x) => x.active === 0 && x.closed === served, 'all served');
    expect(s.reaped).toBeGreaterThan(0);
    expect(s.errors).toBe(0);
    await server.stop();
    expect(zombies()).toEqual([]);
  });

  it('stop() with busy and idle children leaves none behind, alive or zombie, and the port closed', async () => {
    const { server, port } = await started({ reaper, workers: 4 });
    const held = await openMany(port, 2);
    await roundTripAll(held, 'held');
    expect(pids()).toHaveLength(4);
    const t0 = Date.now();
    await server.stop();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(pids()).toEqual([]);
    await Promise.all(held.map((s) => new Promise((resolve) => (s.destroyed ? resolve(null) : s.once('close', resolve)))));
    expect(server.stats()).toMatchObject({ accepted: 2, active: 0, closed: 2, reaped: 4, errors: 0, running: false });
    await expect(openMany(port, 1)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('PreforkServer spare rules', () => {
  it('forks more while too few are idle, up to maxWorkers, then retires idle ones down to maxSpareWorkers', async () => {
    const server = trackServer(new PreforkServer({ workers: 1, minSpareWorkers: 2, maxSpareWorkers: 2, maxWorkers: 4 }));
    const { port } = await server.start();
    // One child at start, a second as soon as the rules first run.
    await waitFor(() => workers(server).length === 2, 'a second idle child', 5000);
    const held: net.Socket[] = [];
    // Every child taken makes the pool fork another, until maxWorkers.
    while (held.length < 4) {
      await waitFor(() => workers(server).some((w) => w.state === 'idle'), 'an idle child', 10_000);
      const [s] = await openMany(port, 1);
      await roundTripAll([s], 'hold');
      held.push(s);
    }
    await waitForStats(server, (s) => s.active === 4, 'four served');
    // All busy, none idle, and no fifth child: maxWorkers holds.
    await delay(2500);
    expect(workers(server).map((w) => w.state)).toEqual(['busy', 'busy', 'busy', 'busy']);
    expect(pids()).toHaveLength(4);
    // Released: four idle, two more than maxSpareWorkers; one retires a second.
    await closeAll(held);
    await waitFor(() => workers(server).length === 2, 'the pool back to maxSpareWorkers', 10_000);
    await delay(2500);
    expect(workers(server)).toHaveLength(2);
    expect(pids()).toHaveLength(2);
    expect(server.stats()).toMatchObject({ accepted: 4, closed: 4, active: 0, reaped: 2, errors: 0 });
    await server.stop();
    expect(pids()).toEqual([]);
  });
});

describe('PreforkServer and the life of its process', () => {
  // exit: the environment cleanup hook stops the server; SIGKILL: nothing
  // runs in the parent, and PR_SET_PDEATHSIG (armed by the thread that forked
  // the children, which lives as long as they do) takes them down.
  it.each(['exit', 'SIGKILL'])('a Node process that ends with %s leaves no child serving', async (how) => {
    const script = `
      const { PreforkServer } = require(${JSON.stringify(DIST)});
      const net = require('node:net');
      (async () => {
        const server = new PreforkServer({ workers: 3 });
        const { port } = await server.start();
        while ((server.stats().workers || []).length < 3) await new Promise((r) => setTimeout(r, 10));
        const s = net.connect(port, '127.0.0.1');
        await new Promise((r) => s.on('data', r).write('x'));
        process.stdout.write(server.stats().workers.map((w) => w.pid).join(' ') + '\\n', () => {
          if (${JSON.stringify(how)} === 'exit') process.exit(0);
          else process.kill(process.pid, 'SIGKILL');
        });
      })();
    `;
    const out = await new Promise<string>((resolve) => {
      execFile(process.execPath, ['-e', script], { timeout: 30_000 }, (_err, stdout) => resolve(stdout));
    });
    const children = out.trim().split(/\s+/).filter(Boolean).map(Number);
    expect(children).toHaveLength(3);
    await waitFor(() => children.every(gone), 'every child of the ended process gone', 10_000);
  });
});

/** Connects, sends a ping; true once the reply comes, false if the server closed first. */
function served(port: number, sockets: net.Socket[]): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = trackSocket(connect(port, '127.0.0.1'));
    sockets.push(socket);
    const timer = setTimeout(() => reject(new Error('no answer')), 10_000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      resolve(ok);
    };
    socket.on('connect', () => socket.write('ping'));
    socket.once('data', () => done(true));
    socket.on('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

describe('PreforkServer limits, enforced where the children accept', () => {
  it('maxConnections: 2 holds for 8 clients at once, round after round: never 3 served (peakActive 2)', async () => {
    const ROUNDS = 100;
    const { server, port } = await started({ workers: 8, maxConnections: 2 });
    for (let round = 0; round < ROUNDS; round++) {
      const sockets: net.Socket[] = [];
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => served(port, sockets)));
      const s = server.stats();
      expect(outcomes.filter(Boolean).length, `round ${round}`).toBeLessThanOrEqual(2);
      expect(s.peakActive, `round ${round}`).toBeLessThanOrEqual(2);
      sockets.forEach((c) => c.destroy());
      await waitForStats(server, (x) => x.active === 0 && x.accepted === x.closed + x.rejected, `round ${round} over`);
    }
    const s = server.stats();
    expect(s.peakActive).toBe(2);
    expect(s.accepted).toBe(ROUNDS * 8);
    await server.stop();
  });

  it('children that die young are replaced after a growing delay (a kill loop forks about once a second), said in stats()', async () => {
    const { server, port } = await started({ workers: 2 });
    const forksBefore = server.stats().syscalls.fork;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      for (const pid of workerPids(server)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await delay(2);
    }
    const s = server.stats();
    // Without a delay every kill was answered by a fork at once: hundreds a second.
    expect(s.syscalls.fork - forksBefore).toBeLessThan(40);
    expect(s.diedYoung).toBeGreaterThanOrEqual(5);
    expect(s.respawnDelayMs).toBeGreaterThanOrEqual(320);
    expect(s.errors).toBe(s.diedYoung);
    // Left alone, the pool comes back and serves; the delay is forgotten.
    await waitFor(() => workers(server).length === 2, 'the pool back', 10_000);
    const sockets: net.Socket[] = [];
    expect(await served(port, sockets)).toBe(true);
    sockets.forEach((c) => c.destroy());
    await waitForStats(server, (x) => x.respawnDelayMs === 0, 'the delay forgotten', 10_000);
    await server.stop();
    expect(zombies()).toEqual([]);
  });
});

describe("PreforkServer 'drop': each child hands the connections it refuses to the parent", () => {
  it.each(REAPERS)("maxConnections: 3 and 3 + 5 clients: five 'drop' events naming each refused client, as stats() counts them (reaper: %s)", async (reaper) => {
    const fdsBefore = fdSnapshot();
    const { server, port } = await started({ reaper, workers: 8, maxConnections: 3 });
    const drops: DropInfo[] = [];
    server.on('drop', (d) => drops.push(d));
    const held = await openMany(port, 3);
    await roundTripAll(held, 'held');
    await waitForStats(server, (s) => s.active === 3, 'three served');
    const over = await openMany(port, 5);
    const overPorts = over.map((s) => s.localPort).sort();
    await waitForStats(server, (s) => s.rejected === 5, 'five refused');
    await waitFor(() => drops.length === 5, "five 'drop' events");
    expect(drops.map((d) => d.remotePort).sort()).toEqual(overPorts);
    for (const d of drops) {
      expect(d).toEqual({ localAddress: '127.0.0.1', localPort: port, remoteAddress: '127.0.0.1', remotePort: d.remotePort, remoteFamily: 'IPv4' });
    }
    // The children that refused went back to accept: the held clients are
    // still served, and one more gets in once a slot is free.
    await roundTripAll(held, 'still');
    await closeAll([held[0], ...over]);
    await waitForStats(server, (s) => s.active === 2, 'a slot free');
    const [late] = await openMany(port, 1);
    await roundTripAll([late], 'late');
    await closeAll([...held.slice(1), late]);
    const s = await waitForStats(server, (x) => x.active === 0 && x.closed === 4, 'all served');
    expect(s).toMatchObject({ accepted: 9, closed: 4, rejected: 5, dropEventsLost: 0, errors: 0 });
    expect(drops).toHaveLength(5);
    await server.stop();
    expect(pids()).toEqual([]);
    await expectNoNewFds(fdsBefore);
  });

  it("a refusal is reported while the pool is still being forked, not once all of it is", async () => {
    const server = trackServer(new PreforkServer({ workers: 256, maxConnections: 1 }));
    const forkedAtDrop: number[] = [];
    server.on('drop', () => forkedAtDrop.push(workers(server).length));
    const { port } = await server.start();
    const [held] = await openMany(port, 1);
    await roundTripAll([held], 'held');
    const [over] = await openMany(port, 1);
    await waitFor(() => forkedAtDrop.length === 1, "'drop'", 30_000);
    expect(forkedAtDrop[0]).toBeLessThan(256);
    await closeAll([held, over]);
    await server.stop();
    expect(pids()).toEqual([]);
  });

  it("only the refusals made while someone listens are emitted", async () => {
    const { server, port } = await started({ workers: 4, maxConnections: 1 });
    const [held] = await openMany(port, 1);
    await roundTripAll([held], 'held');
    await waitForStats(server, (s) => s.active === 1, 'one served');
    const unheard = await openMany(port, 20);
    await waitForStats(server, (s) => s.rejected === 20, 'twenty refused, unheard');
    const drops: DropInfo[] = [];
    server.on('drop', (d) => drops.push(d));
    const [heard] = await openMany(port, 1);
    const heardPort = heard.localPort;
    await waitForStats(server, (s) => s.rejected === 21, 'one more refused');
    await waitFor(() => drops.length === 1, "one 'drop'");
    await delay(200);
    expect(drops.map((d) => d.remotePort)).toEqual([heardPort]);
    expect(server.stats().dropEventsLost).toBe(0);
    await closeAll([held, heard, ...unheard]);
    await server.stop();
  });

  it("a burst of refused connections: every one is a 'drop' or counted in dropEventsLost, and the children keep accepting", async () => {
    const { server, port } = await started({ workers: 4, maxConnections: 1 });
    const drops: DropInfo[] = [];
    server.on('drop', (d) => drops.push(d));
    const [held] = await openMany(port, 1);
    await roundTripAll([held], 'held');
    await waitForStats(server, (s) => s.active === 1, 'one served');
    const BURST = 1500;
    const over = await openMany(port, BURST);
    await waitForStats(server, (x) => x.rejected === BURST, 'the burst refused', 30_000);
    await waitFor(() => drops.length + (server.stats().dropEventsLost ?? 0) === BURST, "every refusal a 'drop' or counted lost", 10_000);
    expect(new Set(drops.map((d) => d.remotePort)).size).toBe(drops.length);
    await roundTripAll([held], 'still served');
    await closeAll([held, ...over]);
    await server.stop();
    expect(pids()).toEqual([]);
  });
});
