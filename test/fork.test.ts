// ForkServer: what only the fork model does. Real processes, 127.0.0.1 only.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { ForkServer, createServer, type ForkServerOptions } from '../lib';

type Reaper = NonNullable<ForkServerOptions['reaper']>;
const REAPERS: Reaper[] = ['pidfd', 'sigchld'];

const servers: ForkServer[] = [];
function track(server: ForkServer): ForkServer {
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const server of servers.splice(0)) {
    if (server.stats().running) await server.stop();
  }
});

interface Proc {
  pid: number;
  state: string;
}

/** Every child of this process (from /proc/<pid>/stat: its state and ppid). */
function children(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // it went away meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === process.pid) out.push({ pid: Number(name), state: fields[0] });
  }
  return out;
}

const zombies = (): Proc[] => children().filter((c) => c.state === 'Z');

async function until(predicate: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Exchange {
  sent: number;
  received: number;
}

/** Connects, sends `size` lowercase bytes, checks the uppercase reply, closes. */
function exchange(port: number, size = 1 + Math.floor(Math.random() * 20_000)): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.alloc(size, 'abcdefghijklmnopqrstuvwxyz');
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = net.connect(port, '127.0.0.1', () => socket.write(payload));
    socket.setTimeout(20_000, () => socket.destroy(new Error('client timed out')));
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      if (received >= size) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const reply = Buffer.concat(chunks);
      if (!reply.equals(Buffer.from(payload.toString('latin1').toUpperCase(), 'latin1'))) {
        reject(new Error(`bad reply: ${reply.length} of ${size} bytes`));
      } else {
        resolve({ sent: size, received });
      }
    });
  });
}

/** A client that stays connected after one round trip; resolves once its child serves it. */
async function holdOpen(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => socket.write('ping'));
    socket.once('data', () => resolve());
  });
  return socket;
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
}

function spawnExit(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

function execFileExit(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) =>
    execFile(cmd, args, (err) => resolve(err ? Number((err as { code?: unknown }).code) : 0)),
  );
}

describe('ForkServer options', () => {
  it('validates maxChildren and reaper, Node style', () => {
    expect(() => new ForkServer({ maxChildren: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => new ForkServer({ maxChildren: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => new ForkServer({ maxChildren: '2' as never })).toThrow(TypeError);
    expect(() => new ForkServer({ reaper: 'wait' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => new ForkServer({ trigger: 'edge' } as never)).toThrow();
    const server = createServer('fork', { maxChildren: 8, reaper: 'sigchld' });
    expect(server).toBeInstanceOf(ForkServer);
    expect(server.model).toBe('fork');
  });
});

describe.each(REAPERS)('ForkServer (reaper: %s)', (reaper) => {
  it('serves 300 clients, some in parallel, and leaves no zombie; reaped === accepted; bytes are exact', async () => {
    const server = track(new ForkServer({ reaper }));
    const { port } = await server.start();
    let sent = 0;
    let received = 0;
    const count = (e: Exchange) => {
      sent += e.sent;
      received += e.received;
    };
    for (let i = 0; i < 100; i++) count(await exchange(port));
    for (let batch = 0; batch < 8; batch++) {
      (await Promise.all(Array.from({ length: 25 }, () => exchange(port)))).forEach(count);
    }
    await until(() => server.stats().reaped === 300, 10_000, 'every child reaped');
    const s = server.stats();
    expect(s).toMatchObject({ accepted: 300, reaped: 300, closed: 300, active: 0, rejected: 0, errors: 0 });
    // The reaper really in use: this kernel has pidfds, so nothing fell back.
    expect(s.reaper).toBe(reaper);
    expect(s.peakActive).toBeGreaterThan(1);
    expect(s.bytesIn).toBe(sent);
    expect(s.bytesOut).toBe(received);
    expect(sent).toBe(received);
    expect(zombies()).toEqual([]);
    expect(children()).toEqual([]);
    await server.stop();
    expect(children()).toEqual([]);
  });

  it("keeps Node's child_process working while clients come and go", async () => {
    // libuv watches children already here (its handler came first: ours chains to it).
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    const sleeperExit = new Promise<string | null>((resolve) => sleeper.on('exit', (_, signal) => resolve(signal)));
    const server = track(new ForkServer({ reaper }));
    const { port } = await server.start();
    let churning = true;
    let served = 0;
    const churn = (async () => {
      while (churning) {
        await Promise.all([exchange(port, 100), exchange(port, 5000)]);
        served += 2;
      }
    })();
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      codes.push((await spawnExit('true', [])) ?? -1);
      codes.push((await spawnExit('sh', ['-c', 'exit 3'])) ?? -1);
      codes.push(await execFileExit('true', []));
      codes.push(await execFileExit('sh', ['-c', 'exit 3']));
    }
    churning = false;
    await churn;
    expect(codes).toEqual(Array.from({ length: 8 }, () => [0, 3, 0, 3]).flat());
    expect(served).toBeGreaterThan(0);
    await until(() => server.stats().reaped === server.stats().accepted, 5000, 'every child reaped');
    await server.stop();
    // stop() gave libuv its handler back: it still hears its own child exit.
    sleeper.kill('SIGTERM');
    expect(await sleeperExit).toBe('SIGTERM');
    expect(zombies()).toEqual([]);
  });

  it('keeps working when the first child_process spawn comes after start (fresh Node process)', async () => {
    const script = path.join(__dirname, 'fixtures', 'fork-late-spawn.cjs');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [script, reaper], { timeout: 50_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
    const r = JSON.parse(stdout);
    const ours = reaper === 'sigchld';
    expect(r.caught).toMatchObject({
      atStart: false, // nothing caught SIGCHLD before the first server
      twoServers: ours, // one shared installation...
      oneServer: ours,
      noServer: false, // ...restored to SIG_DFL by the last stop()
    });
    // Whatever caught SIGCHLD while libuv watched a child (libuv 1.46 does, by
    // signal) is back after stop(). (In between, libuv replaced ours and reset
    // SIG_DFL once its child was gone: reaping went on by the sweep.)
    expect(r.caught.libuvRestored).toBe(r.caught.libuvWatching);
    expect(r.twoServers).toEqual([
      { accepted: 20, reaped: 20 },
      { accepted: 30, reaped: 30 },
    ]);
    expect(r.codes).toEqual(Array.from({ length: 5 }, () => [0, 3, 3, 0]).flat());
    expect(r.settled).toBe(true);
    expect(r.zombies).toBe(0);
    expect(r.lateCode).toBe(4);
    expect(r.sleeperSignal).toBe('SIGTERM');
    expect(r.finalCode).toBe(5);
    expect(r.childrenAfterStop).toBe(0);
    for (const s of [r.stats, r.late]) {
      expect(s.reaped).toBe(s.accepted);
      expect(s.active).toBe(0);
      expect(s.bytesIn).toBe(s.bytesOut);
    }
  });

  it('reaps and counts a child killed with SIGKILL, and keeps serving', async () => {
    const server = track(new ForkServer({ reaper }));
    const { port } = await server.start();
    expect(children()).toEqual([]);
    const socket = await holdOpen(port);
    const [child] = children();
    expect(child).toBeDefined();
    // The child exists a moment before the accept thread has counted it.
    await until(() => server.stats().active === 1, 5000, 'the child counted as active');
    process.kill(child.pid, 'SIGKILL');
    await closed(socket);
    await until(() => server.stats().reaped === 1, 5000, 'the killed child reaped');
    expect(server.stats()).toMatchObject({ accepted: 1, active: 0, closed: 1, reaped: 1 });
    expect(zombies()).toEqual([]);
    await exchange(port, 1000);
    await until(() => server.stats().reaped === 2, 5000, 'the next child reaped');
    expect(children()).toEqual([]);
  });

  it('stop() with live children leaves none behind, alive or zombie', async () => {
    const server = track(new ForkServer({ reaper }));
    const { port } = await server.start();
    const sockets = await Promise.all(Array.from({ length: 6 }, () => holdOpen(port)));
    expect(children()).toHaveLength(6);
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(children()).toEqual([]);
    await Promise.all(sockets.map(closed));
    expect(server.stats()).toMatchObject({ accepted: 6, active: 0, closed: 6, reaped: 6, running: false });
    // The port is really closed: nobody (no child either) still listens on it.
    await expect(exchange(port, 10)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('rejects connections beyond maxChildren', async () => {
    const server = track(new ForkServer({ reaper, maxChildren: 3 }));
    const { port } = await server.start();
    const held = await Promise.all([0, 1, 2].map(() => holdOpen(port)));
    // The fourth is closed at once without a child: no reply, just the end.
    const extra = net.connect(port, '127.0.0.1');
    extra.on('connect', () => extra.write('ping'));
    const data: Buffer[] = [];
    extra.on('data', (d: Buffer) => data.push(d));
    await closed(extra);
    expect(Buffer.concat(data).length).toBe(0);
    expect(server.stats()).toMatchObject({ accepted: 4, active: 3, rejected: 1 });
    expect(children()).toHaveLength(3);
    held[0].end();
    await until(() => server.stats().reaped === 1, 5000, 'one child reaped');
    await exchange(port, 500);
    held.slice(1).forEach((s) => s.end());
    await until(() => server.stats().reaped === 4, 5000, 'every child reaped');
    const s = server.stats();
    expect(s.accepted).toBe(s.active + s.closed + s.rejected);
    await server.stop();
    expect(children()).toEqual([]);
  });

  it('runs beside other ForkServers, in both modes at once', async () => {
    const other: Reaper = reaper === 'pidfd' ? 'sigchld' : 'pidfd';
    const group = [reaper, reaper, other].map((r) => track(new ForkServer({ reaper: r })));
    const ports = await Promise.all(group.map(async (s) => (await s.start()).port));
    await Promise.all(ports.map(async (port) => {
      for (let i = 0; i < 10; i++) await Promise.all([exchange(port), exchange(port)]);
    }));
    for (const s of group) await until(() => s.stats().reaped === 20, 5000, 'every child reaped');
    await group[0].stop();
    await exchange(ports[1]);
    await until(() => group[1].stats().reaped === 21, 5000, 'reaped after a sibling stopped');
    await group[2].stop();
    await group[1].stop();
    expect(children()).toEqual([]);
  });
});
