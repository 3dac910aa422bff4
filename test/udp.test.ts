// UdpServer: the conformance suite for every UDP config (built-in handlers
// at batch 1 and 64, loops, the JS handler), overload, the load generator's
// udp mode and bad input. Clients are node:dgram sockets; every wait is
// bounded and every socket and server is closed afterwards.
import { execFile, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { UdpServer, loadgen, sys, type UdpServerOptions, type UdpServerStats } from '../lib/index';
import { assertBytesEqual, cleanup, delay, emptyRun, toUpperAscii, trackServer, waitFor, withTimeout } from './helpers';
import { fdSnapshot, hasIPv6Loopback, newFds, threadCount } from './proc';

const sockets = new Set<dgram.Socket>();

afterEach(async () => {
  for (const s of sockets) {
    try {
      s.close();
    } catch {
      // closed by the test already
    }
  }
  sockets.clear();
  await cleanup();
});

async function client(family: 'udp4' | 'udp6' = 'udp4'): Promise<dgram.Socket> {
  const s = dgram.createSocket(family);
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  await new Promise<void>((resolve) => s.bind(0, family === 'udp4' ? '127.0.0.1' : '::1', resolve));
  return s;
}

/** Sends `payload` and resolves with the reply, or null when none came within `timeoutMs`. */
function roundTrip(s: dgram.Socket, port: number, host: string, payload: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.off('message', onMessage);
      resolve(null);
    }, timeoutMs);
    const onMessage = (msg: Buffer): void => {
      clearTimeout(timer);
      s.off('message', onMessage);
      resolve(msg);
    };
    s.on('message', onMessage);
    s.send(payload, port, host);
  });
}

function jsUppercaseDatagrams(msg: Buffer, _rinfo: unknown, reply: (data: Buffer) => void): void {
  reply(toUpperAscii(msg));
}

const CONFIGS: { label: string; options: UdpServerOptions }[] = [
  { label: 'batch 1', options: { batch: 1 } },
  { label: 'batch 64', options: { batch: 64 } },
  { label: 'batch 64, no coalescing', options: { batch: 64, coalesceUs: 0 } },
  { label: 'loops 3', options: { loops: 3 } },
  { label: 'js handler', options: { handler: jsUppercaseDatagrams } },
];

function balanced(s: UdpServerStats): boolean {
  return s.datagramsIn === s.datagramsOut + s.truncated + s.dropped + s.unanswered + s.pending;
}

/** The stats once `out` replies are counted. */
async function settled(server: UdpServer, out: number): Promise<UdpServerStats> {
  return (await waitFor(
    () => {
      const s = server.stats();
      return s.datagramsOut >= out ? s : null;
    },
    `datagramsOut >= ${out}`,
    5000,
    () => JSON.stringify(server.stats()),
  ))!;
}

async function start(options: UdpServerOptions): Promise<{ server: UdpServer; port: number }> {
  const server = trackServer(new UdpServer(options));
  const { port } = await server.start();
  return { server, port };
}

describe.each(CONFIGS)('udp $label', ({ options }) => {
  it('answers 64 clients x 1,000 datagrams byte for byte; counters exact once quiescent', async () => {
    const { server, port } = await start(options);
    const clients = await Promise.all(Array.from({ length: 64 }, () => client()));
    let answered = 0;
    await withTimeout(
      Promise.all(
        clients.map(async (c, k) => {
          for (let i = 0; i < 1000; i++) {
            const payload = Buffer.from(`client ${k} datagram ${i} `.padEnd(64, 'abcdefghijklmnopqrstuvwxyz'));
            const reply = await roundTrip(c, port, '127.0.0.1', payload);
            expect(reply, `client ${k} datagram ${i}`).not.toBeNull();
            assertBytesEqual(reply!, toUpperAscii(payload), `client ${k} datagram ${i}`);
            answered++;
          }
        }),
      ),
      120_000,
      '64,000 round trips',
    );
    expect(answered).toBe(64_000);
    // A reply is counted once sent: the client may see it first.
    const s = await settled(server, 64_000);
    expect(s.datagramsIn).toBe(64_000);
    expect(s.datagramsOut).toBe(64_000);
    expect(s.bytesIn).toBe(64 * 64_000);
    expect(s.bytesOut).toBe(64 * 64_000);
    expect(s.truncated + s.dropped + s.unanswered + s.pending + s.lateReplies).toBe(0);
    expect(balanced(s)).toBe(true);
    expect(s.accepted + s.active + s.closed + s.rejected).toBe(0);
    if (options.loops === 3) {
      expect(s.workers).toHaveLength(3);
      expect(s.workers!.reduce((n, w) => n + w.bytesIn, 0)).toBe(s.bytesIn);
    }
  }, 180_000);

  it('answers an empty datagram with an empty one, and a 65,507-byte one whole', async () => {
    const { server, port } = await start(options);
    const c = await client();
    const empty = await roundTrip(c, port, '127.0.0.1', Buffer.alloc(0));
    expect(empty).not.toBeNull();
    expect(empty!.length).toBe(0);
    const big = Buffer.alloc(65_507, 'xyz');
    const reply = await roundTrip(c, port, '127.0.0.1', big);
    expect(reply).not.toBeNull();
    assertBytesEqual(reply!, toUpperAscii(big), '65,507-byte reply');
    const s = await settled(server, 2);
    expect(s.datagramsIn).toBe(2);
    expect(s.datagramsOut).toBe(2);
    expect(s.truncated).toBe(0);
  });

  it('truncates a datagram larger than maxDatagram: counted, never answered, the server goes on', async () => {
    const { server, port } = await start({ ...options, maxDatagram: 1000 });
    const c = await client();
    expect(await roundTrip(c, port, '127.0.0.1', Buffer.alloc(1001, 'a'), 300)).toBeNull();
    const fits = Buffer.alloc(1000, 'b');
    assertBytesEqual((await roundTrip(c, port, '127.0.0.1', fits))!, toUpperAscii(fits), 'reply after a truncation');
    const s = await settled(server, 1);
    expect(s.truncated).toBe(1);
    expect(s.datagramsIn).toBe(2);
    expect(s.datagramsOut).toBe(1);
    expect(balanced(s)).toBe(true);
  });

  it.skipIf(!hasIPv6Loopback())('serves on ::1 (IPv6)', async () => {
    const server = trackServer(new UdpServer({ ...options, host: '::1' }));
    const address = await server.start();
    expect(address.family).toBe('IPv6');
    expect(address.address).toBe('::1');
    const c = await client('udp6');
    const payload = Buffer.from('over ipv6');
    assertBytesEqual((await roundTrip(c, address.port, '::1', payload))!, toUpperAscii(payload), 'IPv6 reply');
  });
});

describe('udp handlers', () => {
  it("'echo' answers the bytes as sent, 'discard' never answers and counts them unanswered", async () => {
    const echo = await start({ handler: 'echo' });
    const c = await client();
    const payload = Buffer.from('Mixed Case 123');
    assertBytesEqual((await roundTrip(c, echo.port, '127.0.0.1', payload))!, payload, 'echo');
    const discard = await start({ handler: 'discard' });
    expect(await roundTrip(c, discard.port, '127.0.0.1', payload, 300)).toBeNull();
    const s = discard.server.stats();
    expect(s.datagramsIn).toBe(1);
    expect(s.unanswered).toBe(1);
    expect(s.datagramsOut).toBe(0);
    expect(balanced(s)).toBe(true);
  });

  it('the JS handler sees the sender as rinfo, may reply later, and only once', async () => {
    const seen: { address: string; family: string; port: number; size: number }[] = [];
    const errors: string[] = [];
    const { server, port } = await start({
      handler(msg, rinfo, reply) {
        seen.push(rinfo);
        setTimeout(() => {
          reply(`late:${msg.toString()}`);
          try {
            reply('twice');
          } catch (err) {
            errors.push((err as { code: string }).code);
          }
        }, 20);
      },
    });
    const c = await client();
    const reply = await roundTrip(c, port, '127.0.0.1', Buffer.from('hi'));
    expect(reply!.toString()).toBe('late:hi');
    await settled(server, 1);
    expect(seen).toEqual([{ address: '127.0.0.1', family: 'IPv4', port: c.address().port, size: 2 }]);
    await waitFor(() => errors.length === 1, 'the second reply refused');
    expect(errors).toEqual(['ERR_SOCKET_DGRAM_REPLIED']);
    const s = server.stats();
    expect(s.datagramsOut).toBe(1);
    expect(s.pending).toBe(0);
  });

  it('a datagram the JS handler never answers is pending, then unanswered once the server stops', async () => {
    const { server, port } = await start({ handler() {} });
    const c = await client();
    expect(await roundTrip(c, port, '127.0.0.1', Buffer.from('x'), 200)).toBeNull();
    await waitFor(() => server.stats().pending === 1, 'pending 1');
    await server.stop();
    const s = server.stats();
    expect(s.pending).toBe(0);
    expect(s.unanswered).toBe(1);
    expect(balanced(s)).toBe(true);
  });
});

describe('udp overload', () => {
  it('a flood of 200,000 datagrams at a slow JS handler: memory bounded, drops counted, still answers; stop() mid-flood leaves nothing', async () => {
    const fds = fdSnapshot();
    const threads = threadCount();
    let calls = 0;
    const { server, port } = await start({
      handler(msg, _rinfo, reply) {
        calls++;
        const until = process.hrtime.bigint() + 20_000n; // 20 us of work per datagram
        while (process.hrtime.bigint() < until);
        reply(msg);
      },
    });
    const rssBefore = process.memoryUsage.rss();
    let peakRss = rssBefore;
    const flood = await client();
    const payload = Buffer.alloc(64, 'f');
    // 20,000 a turn: more than the handler's window (4,096) and the receive
    // queue (4 MiB: about 10,000 such datagrams) hold while JS sends them.
    for (let sent = 0; sent < 200_000; sent += 20_000) {
      for (let i = 0; i < 20_000; i++) flood.send(payload, port, '127.0.0.1');
      await new Promise((resolve) => setImmediate(resolve));
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }
    await waitFor(() => server.stats().pending === 0, 'the handler caught up', 60_000);
    const s = server.stats();
    // Every datagram the kernel delivered is answered or counted; at 20 us
    // each the handler cannot take 200,000 as fast as they come.
    expect(s.dropped + s.kernelDrops).toBeGreaterThan(0);
    expect(balanced(s)).toBe(true);
    expect(calls).toBe(s.datagramsIn - s.dropped - s.truncated);
    // The native side holds at most 4,096 datagrams for JS: far less than
    // the 200,000 * 64 bytes that were sent.
    expect(peakRss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    const c = await client();
    expect((await roundTrip(c, port, '127.0.0.1', Buffer.from('after')))!.toString()).toBe('after');

    // Again, stopped while the flood goes on.
    const stopping = await start({ handler: jsUppercaseDatagrams });
    for (let i = 0; i < 20_000; i++) flood.send(payload, stopping.port, '127.0.0.1');
    await stopping.server.stop();
    await server.stop();
    flood.close();
    c.close();
    await waitFor(() => newFds(fds).length === 0, 'no fd left', 5000, () => newFds(fds).join(', '));
    await waitFor(() => threadCount() <= threads, 'no thread left', 5000, () => `${threadCount()} > ${threads}`);
  }, 120_000);
});

describe('loadgen udp mode', () => {
  it('counts round trips against the udp server, none lost', async () => {
    const { server, port } = await start({});
    const r = await loadgen({ mode: 'udp', port, connections: 16, durationMs: 500 });
    expect(r.requests).toBeGreaterThan(0);
    expect(r.lost).toBe(0);
    expect(r.mismatches).toBe(0);
    expect(r.errors).toBe(0);
    expect(server.stats().datagramsIn).toBeGreaterThanOrEqual(r.requests);
  });

  it.each([1, 4])('against a server that answers every second datagram, pipeline %i: half lost, replies matched to their datagrams, no hang', async (pipeline) => {
    const half = dgram.createSocket('udp4');
    sockets.add(half);
    let received = 0;
    half.on('message', (msg, rinfo) => {
      if (received++ % 2 === 0) half.send(toUpperAscii(msg), rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => half.bind(0, '127.0.0.1', resolve));
    const r = await withTimeout(
      loadgen({ mode: 'udp', port: half.address().port, connections: 8, pipeline, durationMs: 800, timeoutMs: 20 }),
      10_000,
      'loadgen against a lossy server',
    );
    expect(r.lost).toBeGreaterThan(0);
    expect(r.mismatches).toBe(0);
    // Half of what was sent is lost; those in flight at the end (at most `pipeline` per client) are neither.
    expect(Math.abs(r.requests - r.lost)).toBeLessThanOrEqual(8 * pipeline);
  });

  it('keeps `pipeline` datagrams in flight per client, each reply verified', async () => {
    // Answers nothing until all 4 clients x 8 datagrams have come: a client
    // that waited for a reply before sending its next would stall here.
    const gate = dgram.createSocket('udp4');
    sockets.add(gate);
    const held: [Buffer, dgram.RemoteInfo][] = [];
    const perClient = new Map<number, number>();
    let open = false;
    gate.on('message', (msg, rinfo) => {
      if (open) {
        gate.send(toUpperAscii(msg), rinfo.port, rinfo.address);
        return;
      }
      perClient.set(rinfo.port, (perClient.get(rinfo.port) ?? 0) + 1);
      held.push([msg, rinfo]);
      if (held.length < 32) return;
      open = true;
      for (const [m, r] of held) gate.send(toUpperAscii(m), r.port, r.address);
    });
    await new Promise<void>((resolve) => gate.bind(0, '127.0.0.1', resolve));
    const r = await withTimeout(
      loadgen({ mode: 'udp', port: gate.address().port, connections: 4, pipeline: 8, durationMs: 500, timeoutMs: 5000 }),
      10_000,
      'pipelined loadgen',
    );
    expect(open).toBe(true);
    expect([...perClient.values()]).toEqual([8, 8, 8, 8]);
    expect(r.requests).toBeGreaterThan(32);
    expect(r.lost + r.late + r.mismatches + r.errors).toBe(0);
  });

  it('a wrong reply is a mismatch', async () => {
    const { port } = await start({ handler: 'echo' });
    const r = await emptyRun(loadgen({ mode: 'udp', port, connections: 2, durationMs: 200, expect: 'uppercase' }));
    expect(r.requests).toBe(0);
    expect(r.mismatches).toBeGreaterThan(0);
  });
});

describe('udp loop syscalls', () => {
  /** Sends `n` datagrams one after the other from one client and waits for each reply. */
  async function roundTrips(port: number, n: number): Promise<void> {
    const c = await client();
    for (let i = 0; i < n; i++) {
      const payload = Buffer.from(`datagram ${i}`);
      assertBytesEqual((await roundTrip(c, port, '127.0.0.1', payload))!, toUpperAscii(payload), `datagram ${i}`);
    }
  }

  it('batch 1 is the classic loop: one recvfrom() and one sendto() per datagram, no wait call', async () => {
    const { server, port } = await start({ batch: 1 });
    await roundTrips(port, 200);
    const s = await settled(server, 200);
    expect(s.datagramsIn).toBe(200);
    expect(s.syscalls.recv).toBe(200);
    expect(s.syscalls.send).toBe(200);
    expect(s.syscalls.wait).toBe(0);
  });

  it('receiveBuffer: stats().receiveBuffer is what the kernel granted, with loops too', async () => {
    // Twice what was asked: the kernel counts each datagram's memory, not its payload.
    for (const loops of [1, 2]) {
      const { server } = await start({ receiveBuffer: 100_000, loops });
      expect(server.stats().receiveBuffer).toBe(200_000);
      await server.stop();
    }
  });

  it('batch 64 blocks in recvmmsg(): one recvmmsg() and one sendmmsg() per round, no wait call', async () => {
    const { server, port } = await start({ batch: 64 });
    await roundTrips(port, 200);
    const s = await settled(server, 200);
    expect(s.syscalls.wait).toBe(0);
    expect(s.syscalls.recv).toBe(s.syscalls.send);
    expect(s.syscalls.recv).toBeLessThanOrEqual(200);
    expect(s.wakeups).toBe(s.syscalls.recv);
  });
});

describe('udp coalescing', () => {
  it('under load, rounds nap coalesceUs and take what came meanwhile; coalesceUs 0 never naps; nothing lost either way', async () => {
    for (const coalesceUs of [10, 0]) {
      const { server, port } = await start({ batch: 64, coalesceUs });
      // 1,024 datagrams in flight, 16 per sendmmsg(): rounds find 8 queued.
      const r = await loadgen({ mode: 'udp', port, connections: 64, pipeline: 16, durationMs: 300, timeoutMs: 2000 });
      expect(r.requests, `coalesceUs ${coalesceUs}`).toBeGreaterThan(0);
      expect(r.lost + r.late + r.mismatches + r.errors, `coalesceUs ${coalesceUs}`).toBe(0);
      await settled(server, server.stats().datagramsIn);
      // Read once the loop has returned: a snapshot between a nap and the
      // recvmmsg() after it would count the one and not yet the other.
      await server.stop();
      const s = server.stats();
      expect(balanced(s)).toBe(true);
      expect(s.dropped + s.kernelDrops).toBe(0);
      if (coalesceUs > 0) {
        // A nap is a wait call; every nap is followed by one recvmmsg().
        expect(s.syscalls.wait, JSON.stringify(s.syscalls)).toBeGreaterThan(0);
        expect(s.syscalls.recv).toBeGreaterThan(s.syscalls.wait);
      } else {
        expect(s.syscalls.wait).toBe(0);
      }
    }
  });
});

describe('udp bad input', () => {
  it.each([
    [{ batch: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ batch: 1025 }, 'ERR_OUT_OF_RANGE'],
    [{ batch: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ batch: '64' }, 'ERR_INVALID_ARG_TYPE'],
    [{ maxDatagram: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ maxDatagram: 65536 }, 'ERR_OUT_OF_RANGE'],
    [{ receiveBuffer: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ receiveBuffer: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ receiveBuffer: 2 ** 31 }, 'ERR_OUT_OF_RANGE'],
    [{ receiveBuffer: '4M' }, 'ERR_INVALID_ARG_TYPE'],
    [{ coalesceUs: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ coalesceUs: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ coalesceUs: 1001 }, 'ERR_OUT_OF_RANGE'],
    [{ loops: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ handler: 'http' }, 'ERR_INVALID_ARG_VALUE'],
    [{ backlog: 10 }, 'ERR_INVALID_ARG_VALUE'],
    [{ maxConnections: 10 }, 'ERR_INVALID_ARG_VALUE'],
    [{ balance: 'shared' }, 'ERR_INVALID_ARG_VALUE'],
  ])('%o -> %s', (options, code) => {
    expect(() => new UdpServer(options as UdpServerOptions)).toThrow(expect.objectContaining({ code }));
  });

  it('refuses a TCP socket as fd, and serves on an inherited UDP one', async () => {
    const tcp = net.createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const fd = (tcp as unknown as { _handle: { fd: number } })._handle.fd;
      expect(() => new UdpServer({ fd })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('not a datagram socket') }));
    } finally {
      tcp.close();
    }
    // Bound by this test, read by nobody else (a node:dgram socket would read it too).
    const fd = sys.socket('ipv4', 'dgram');
    try {
      sys.bind(fd, '127.0.0.1', 0);
      expect(() => new UdpServer({ fd, receiveBuffer: 1 << 20 })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('an inherited socket (fd) keeps its own') }),
      );
      const server = trackServer(new UdpServer({ fd, loops: 2 }));
      const { port } = await server.start();
      expect(port).toBe(sys.getsockname(fd).port);
      const c = await client();
      expect((await roundTrip(c, port, '127.0.0.1', Buffer.from('via fd')))!.toString()).toBe('VIA FD');
      await server.stop();
      // stop() closed its duplicates only: the inherited socket is still bound.
      expect(sys.getsockname(fd).port).toBe(port);
    } finally {
      sys.close(fd);
    }
  });

  it('a port in use is EADDRINUSE, with loops too', async () => {
    const taken = await client();
    for (const loops of [1, 3]) {
      const server = new UdpServer({ port: taken.address().port, loops });
      await expect(server.start()).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    }
    await delay(0);
  });
});

describe('udp on the command line', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

  function runCli(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  it('serve --model udp answers datagrams; stress --udp checks them; it stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', 'udp', '--port', '0', '--batch', '8', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await withTimeout(
        new Promise<number>((resolve) => {
          let text = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            text += chunk.toString();
            const m = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
            if (m) resolve(Number(m[1]));
          });
        }),
        10_000,
        'serve --model udp',
      );
      const c = await client();
      expect((await roundTrip(c, port, '127.0.0.1', Buffer.from('cli')))!.toString()).toBe('CLI');
      const r = await runCli(['stress', '--udp', '--port', String(port), '--connections', '8', '--duration', '0.3']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^stress udp 127\.0\.0\.1:\d+: 8 clients, [1-9][\d,]* datagrams answered correctly .* 0 wrong, 0 errors\n$/);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await withTimeout(exited, 10_000, 'serve to stop')).toBe(0);
    }
  }, 60_000);

  // The server's process stopped (SIGSTOP), 400 small datagrams wait in its
  // receive queue: the kernel's default holds 256 (512 at twice that, the
  // least a non-privileged receiveBuffer above the default gets), the
  // default receiveBuffer holds them all.
  it.each([
    ['the default receiveBuffer keeps them all', [], true],
    ['receiveBuffer 0 (the kernel default) overflows', ['--receive-buffer', '0'], false],
  ])('a burst while the server is off the CPU: %s', async (_label, extra, keeps) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', 'udp', '--port', '0', '--handler', 'discard', '--quiet', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const stats = async (): Promise<UdpServerStats> => {
      const seen = text.length;
      child.kill('SIGUSR2');
      const line = (await waitFor(() => /STATS (\{.*\})\n/.exec(text.slice(seen)), 'STATS line', 5000))!;
      return JSON.parse(line[1]) as UdpServerStats;
    };
    try {
      const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(text), 'serve --model udp', 10_000))![1]);
      const before = await stats();
      const kernelDefault = Number(fs.readFileSync('/proc/sys/net/core/rmem_default', 'latin1'));
      if (keeps) expect(before.receiveBuffer).toBeGreaterThanOrEqual(2 * kernelDefault);
      else expect(before.receiveBuffer).toBe(kernelDefault);
      child.kill('SIGSTOP');
      // Sent only once every thread of it is stopped.
      await waitFor(
        () => fs.readdirSync(`/proc/${child.pid}/task`).every((t) => /\) T /.test(fs.readFileSync(`/proc/${child.pid}/task/${t}/stat`, 'latin1'))),
        'serve stopped',
        5000,
      );
      const c = await client();
      const payload = Buffer.alloc(64, 'x');
      for (let i = 0; i < 400; i++) await new Promise<void>((resolve, reject) => c.send(payload, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      child.kill('SIGCONT');
      const s = (await waitFor(
        async () => {
          const now = await stats();
          return now.datagramsIn + now.kernelDrops === 400 ? now : null;
        },
        'every datagram read or counted as dropped by the kernel',
        10_000,
      ))!;
      if (keeps) {
        expect(s.kernelDrops).toBe(0);
        expect(s.datagramsIn).toBe(400);
      } else {
        expect(s.kernelDrops).toBeGreaterThan(0);
      }
      expect(s.unanswered).toBe(s.datagramsIn);
    } finally {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      expect(await withTimeout(exited, 10_000, 'serve to stop')).toBe(0);
    }
  }, 60_000);

  it('bench --udp prints the udp rows, node:dgram and the C recvmmsg yardstick', async () => {
    const r = await runCli(['bench', '--udp', '--duration', '0.1', '--warmup', '0', '--rounds', '1', '--loops', '2', '--connections', '8', '--format', 'json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { rows: { label: string; report: { requests: number; mismatches: number } | null }[] };
    expect(result.rows.map((row) => row.label)).toEqual(['udp', 'udp batch 64', 'udp x2', 'udp + js', 'node:dgram', 'C recvmmsg', 'C recvmmsg x2']);
    for (const row of result.rows) {
      expect(row.report, row.label).not.toBeNull();
      expect(row.report!.requests, row.label).toBeGreaterThan(0);
      expect(row.report!.mismatches, row.label).toBe(0);
    }
    const bad = await runCli(['bench', '--udp', '--models', 'epoll']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^netmodels bench: --models does not go with --udp\n/);
  }, 180_000);
});
