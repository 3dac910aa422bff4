// ForkServer's exec: a program per connection (inetd / tcpserver style).
// Real programs (/bin/cat, small shell scripts), real children, 127.0.0.1.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { ForkServer, type ChildExit, type ForkServerOptions } from '../lib/index';
import { assertBytesEqual, cleanup, MiB, randomPayload, trackServer, trackSocket, waitFor, waitForStats, withTimeout } from './helpers';
import { childProcesses } from './proc';

type Reaper = NonNullable<ForkServerOptions['reaper']>;
const REAPERS: Reaper[] = ['pidfd', 'sigchld'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-exec-'));
afterEach(cleanup);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes a shell script into the temp dir; mode 0755 unless told. */
function script(name: string, body: string, mode = 0o755): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode });
  fs.chmodSync(file, mode);
  return file;
}

interface Reply {
  data: Buffer;
  localPort: number;
}

/** Connects, sends `payload` and ends; resolves with everything received until the server closes. */
function talk(port: number, payload: Buffer | string = ''): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let localPort = 0;
    const socket = trackSocket(net.connect(port, '127.0.0.1'));
    socket.setTimeout(30_000, () => socket.destroy(new Error('client timed out')));
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      socket.end(payload);
    });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), localPort }));
  });
}

function exits(server: ForkServer): ChildExit[] {
  const seen: ChildExit[] = [];
  server.on('childExit', (e) => seen.push(e));
  return seen;
}

function thrown(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a throw');
}

describe('ForkServer exec: options', () => {
  it('resolves the program at construction: ENOENT and EACCES like spawn, Node style', () => {
    const missing = thrown(() => new ForkServer({ exec: ['/nonexistent/prog', '-x'] }));
    expect(missing).toMatchObject({
      code: 'ENOENT',
      errno: -os.constants.errno.ENOENT,
      syscall: 'spawn /nonexistent/prog',
      path: '/nonexistent/prog',
      spawnargs: ['/nonexistent/prog', '-x'],
      message: 'spawn /nonexistent/prog ENOENT',
    });
    expect(thrown(() => new ForkServer({ exec: ['no-such-program-netmodels'] })).code).toBe('ENOENT');
    const plain = script('not-executable.sh', 'echo hi', 0o644);
    expect(thrown(() => new ForkServer({ exec: [plain] }))).toMatchObject({ code: 'EACCES', errno: -os.constants.errno.EACCES });
    expect(thrown(() => new ForkServer({ exec: [tmp] })).code).toBe('EACCES'); // a directory
    // A bare name is looked up on PATH (that of `env` when given).
    expect(() => new ForkServer({ exec: ['cat'] })).not.toThrow();
    expect(thrown(() => new ForkServer({ exec: ['cat'], env: { PATH: tmp } })).code).toBe('ENOENT');
    fs.copyFileSync(script('runme', 'true'), path.join(tmp, 'runme-copy'));
    fs.chmodSync(path.join(tmp, 'runme-copy'), 0o644);
    expect(thrown(() => new ForkServer({ exec: ['runme-copy'], env: { PATH: tmp } })).code).toBe('EACCES');
    expect(() => new ForkServer({ exec: ['runme'], env: { PATH: `/nonexistent:${tmp}` } })).not.toThrow();
  });

  it('validates exec and env', () => {
    expect(thrown(() => new ForkServer({ exec: '/bin/cat' as never }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => new ForkServer({ exec: [] }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => new ForkServer({ exec: [''] }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => new ForkServer({ exec: ['/bin/cat', 5 as never] }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => new ForkServer({ exec: ['/bin/cat', 'a\u0000b'] }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => new ForkServer({ exec: ['/bin/cat'], handler: 'echo' }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => new ForkServer({ env: { A: 'b' } }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => new ForkServer({ exec: ['/bin/cat'], env: 'A=b' as never }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => new ForkServer({ exec: ['/bin/cat'], env: { A: 1 as never } }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => new ForkServer({ exec: ['/bin/cat'], env: { 'A=B': 'c' } }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe.each(REAPERS)('ForkServer exec (reaper: %s)', (reaper) => {
  it('/bin/cat echoes 1 MiB byte-exact to each of 50 concurrent clients; every child reaped, exitedOk 50', async () => {
    const server = trackServer(new ForkServer({ reaper, exec: ['/bin/cat'] }));
    const { port } = await server.start();
    const payloads = Array.from({ length: 50 }, () => randomPayload(MiB));
    const replies = await Promise.all(payloads.map((p) => talk(port, p)));
    replies.forEach((r, i) => assertBytesEqual(r.data, payloads[i], `client ${i}`));
    const s = await waitForStats(server, (x) => x.reaped === 50, 'every child reaped', 15_000);
    expect(s).toMatchObject({ accepted: 50, closed: 50, active: 0, rejected: 0, exitedOk: 50, exitedFailed: 0, errors: 0 });
    expect(s.peakActive).toBeGreaterThan(1);
    expect(childProcesses()).toEqual([]);
    await server.stop();
    expect(server.stats()).toMatchObject({ exitedOk: 50, exitedFailed: 0 });
  });

  it('gives the program the UCSPI variables and its environment', async () => {
    const names = ['PROTO', 'TCPREMOTEIP', 'TCPREMOTEPORT', 'TCPLOCALIP', 'TCPLOCALPORT', 'REMOTE_ADDR', 'REMOTE_PORT', 'NETMODELS_A', 'NETMODELS_B'];
    const printEnv = script('print-env.sh', [...names.map((v) => `echo "${v}=\${${v}-unset}"`), 'echo "ARGS=$*"'].join('\n'));
    process.env.NETMODELS_A = 'inherited';
    const inherited = trackServer(new ForkServer({ reaper, exec: [printEnv, 'one', 'two words'] }));
    delete process.env.NETMODELS_A;
    const own = trackServer(
      new ForkServer({ reaper, exec: [printEnv], env: { NETMODELS_B: 'given', TCPREMOTEIP: 'spoofed', PROTO: 'UDP' } }),
    );
    for (const [server, a, b, args] of [
      [inherited, 'inherited', 'unset', 'one two words'],
      [own, 'unset', 'given', ''],
    ] as const) {
      const { port } = await server.start();
      const { data, localPort } = await talk(port);
      const env = Object.fromEntries(
        data.toString().trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
      expect(env).toEqual({
        PROTO: 'TCP',
        TCPREMOTEIP: '127.0.0.1',
        TCPREMOTEPORT: String(localPort),
        TCPLOCALIP: '127.0.0.1',
        TCPLOCALPORT: String(port),
        REMOTE_ADDR: '127.0.0.1',
        REMOTE_PORT: String(localPort),
        NETMODELS_A: a,
        NETMODELS_B: b,
        ARGS: args,
      });
      await waitForStats(server, (x) => x.reaped === 1 && x.exitedOk === 1, 'the child reaped');
      await server.stop();
    }
  });

  it('unsets TCPREMOTEHOST, TCPREMOTEINFO and TCPLOCALHOST, from env or inherited, as tcpserver does', async () => {
    const names = ['TCPREMOTEHOST', 'TCPREMOTEINFO', 'TCPLOCALHOST', 'TCPREMOTEIP'];
    const printEnv = script('print-identity.sh', names.map((v) => `echo "${v}=\${${v}-unset}"`).join('\n'));
    process.env.TCPREMOTEHOST = 'inherited.example';
    const inherited = trackServer(new ForkServer({ reaper, exec: [printEnv] }));
    delete process.env.TCPREMOTEHOST;
    const given = trackServer(
      new ForkServer({
        reaper,
        exec: [printEnv],
        env: { TCPREMOTEHOST: 'trusted.example', TCPREMOTEINFO: 'root', TCPLOCALHOST: 'me.example' },
      }),
    );
    for (const server of [inherited, given]) {
      const { port } = await server.start();
      const { data } = await talk(port);
      expect(data.toString()).toBe('TCPREMOTEHOST=unset\nTCPREMOTEINFO=unset\nTCPLOCALHOST=unset\nTCPREMOTEIP=127.0.0.1\n');
      await waitForStats(server, (x) => x.reaped === 1, 'the child reaped');
      await server.stop();
    }
  });

  it("stop() ends what a program left in the background, holding the client's socket: the client gets EOF", async () => {
    // The program answers and exits at once; its background sleep keeps the
    // socket (its stdout) open, ignoring SIGTERM, so only the group's SIGKILL ends it.
    const marker = `netmodels-bg-${reaper}`;
    const sleeper = path.join(tmp, marker);
    fs.symlinkSync(fs.realpathSync('/bin/sleep'), sleeper);
    const bg = script('background.sh', `(trap '' TERM; exec ${sleeper} 60) &\necho started`);
    const lingering = script('lingering.sh', `${sleeper} 60 &\nexec cat`);
    const server = trackServer(new ForkServer({ reaper, exec: [bg] }));
    const other = trackServer(new ForkServer({ reaper, exec: [lingering] }));
    const sleepers = () =>
      fs
        .readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').startsWith(sleeper);
          } catch {
            return false;
          }
        });
    async function backgroundEndsWithStop(s: ForkServer): Promise<void> {
      const { port } = await s.start();
      const socket = trackSocket(net.connect(port, '127.0.0.1'));
      socket.on('error', () => {});
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      if (s === other) socket.write('ping');
      await waitFor(() => got.length > 0, 'the first reply');
      if (s === server) await waitForStats(s, (x) => x.reaped === 1, 'the program reaped, its sleep still running');
      expect(sleepers().length).toBeGreaterThan(0);
      await s.stop();
      await withTimeout(ended, 5000, 'the client to see the connection closed');
      await waitFor(() => sleepers().length === 0, 'no background process left', 5000);
    }
    try {
      for (const s of [server, other]) await backgroundEndsWithStop(s);
    } finally {
      // Those a failing run left behind: ours, by pid.
      for (const pid of sleepers()) process.kill(Number(pid), 'SIGKILL');
    }
  });

  it('idleTimeoutMs ends a quiet program and what it left in the background: the client gets EOF, no process of its group is left', async () => {
    // Two programs that go quiet with a background process holding the
    // client's socket and ignoring SIGTERM: one that stays (sleeping, never
    // reading, so no socket timeout reaches it), one that exits at once.
    const marker = `netmodels-idle-${reaper}`;
    const sleeper = path.join(tmp, marker);
    fs.symlinkSync(fs.realpathSync('/bin/sleep'), sleeper);
    const staying = script('idle-staying.sh', `(trap '' TERM; exec ${sleeper} 60) &\necho started\nexec ${sleeper} 61`);
    const leaving = script('idle-leaving.sh', `(trap '' TERM; exec ${sleeper} 62) &\necho started`);
    const idleTimeoutMs = 300;
    /** pid -> process group of every process whose command line starts with the marker. */
    const sleepers = (): Map<number, number> => {
      const found = new Map<number, number>();
      for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
        try {
          if (!fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').startsWith(sleeper)) continue;
          const stat = fs.readFileSync(`/proc/${d}/stat`, 'latin1');
          found.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]));
        } catch {
          // gone meanwhile
        }
      }
      return found;
    };
    try {
      for (const program of [staying, leaving]) {
        const server = trackServer(new ForkServer({ reaper, exec: [program], idleTimeoutMs }));
        const { port } = await server.start();
        const socket = trackSocket(net.connect(port, '127.0.0.1'));
        socket.on('error', () => {});
        let got = '';
        let lastData = 0;
        socket.on('data', (d: Buffer) => {
          got += d.toString();
          lastData = Date.now();
        });
        const ended = new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now())));
        await waitFor(() => got === 'started\n', 'the first reply');
        await waitFor(() => sleepers().size >= (program === staying ? 2 : 1), 'the background sleep running');
        const groups = new Set(sleepers().values());
        expect(groups.size).toBe(1);
        const endedAt = await withTimeout(ended, 5000, 'EOF for the idle client');
        // Idle from its last byte, then found within the watch period.
        expect(endedAt - lastData).toBeGreaterThanOrEqual(idleTimeoutMs - 50);
        expect(endedAt - lastData).toBeLessThan(idleTimeoutMs + 2000);
        const [group] = groups;
        await waitFor(() => ![...sleepers().values()].includes(group), 'no process of the group left', 5000);
        await waitForStats(server, (x) => x.reaped === 1 && x.active === 0, 'the program reaped');
        expect(server.stats().closed).toBe(1);
        await server.stop();
      }
    } finally {
      // Those a failing run left behind: ours, by pid.
      for (const pid of sleepers().keys()) process.kill(pid, 'SIGKILL');
    }
  });

  it('counts and reports exit status 3, a signal, and an execve that fails in the child', async () => {
    const exit3 = script('exit3.sh', 'exit 3');
    const killed = script('killed.sh', 'kill -KILL $$');
    const vanishing = script('vanishing.sh', 'exit 0');
    const denied = script('denied.sh', 'exit 0');
    const cases: Array<[string, Partial<ChildExit>]> = [
      [exit3, { code: 3, signal: null }],
      [killed, { code: null, signal: 'SIGKILL' }],
      [vanishing, { code: 127, signal: null }], // deleted after construction
      [denied, { code: 126, signal: null }], // exec permission taken away after construction
    ];
    for (const [file, expected] of cases) {
      const server = trackServer(new ForkServer({ reaper, exec: [file] }));
      if (file === vanishing) fs.rmSync(vanishing);
      if (file === denied) fs.chmodSync(denied, 0o644);
      const seen = exits(server);
      const { port } = await server.start();
      const { data, localPort } = await talk(port);
      expect(data.length).toBe(0);
      await waitFor(() => seen.length === 1, `childExit for ${path.basename(file)}`);
      expect(seen[0]).toMatchObject({ ...expected, remoteAddress: '127.0.0.1', remotePort: localPort });
      expect(seen[0].pid).toBeGreaterThan(0);
      expect(seen[0].durationMs).toBeGreaterThanOrEqual(0);
      expect(server.stats()).toMatchObject({ reaped: 1, exitedOk: 0, exitedFailed: 1 });
      await server.stop();
    }
  });

  it("emits 'childExit' only while someone listens", async () => {
    const server = trackServer(new ForkServer({ reaper, exec: ['/bin/cat'] }));
    const { port } = await server.start();
    await talk(port, 'a');
    await waitForStats(server, (x) => x.reaped === 1, 'the first child reaped');
    const seen: ChildExit[] = [];
    const listener = (e: ChildExit) => seen.push(e);
    server.on('childExit', listener);
    const second = await talk(port, 'b');
    await waitFor(() => seen.length === 1, 'childExit for the second client');
    expect(seen[0]).toMatchObject({ code: 0, signal: null, remotePort: second.localPort });
    server.off('childExit', listener);
    await talk(port, 'c');
    await waitForStats(server, (x) => x.reaped === 3, 'the third child reaped');
    await server.stop();
    expect(seen).toHaveLength(1);
    expect(server.stats()).toMatchObject({ exitedOk: 3, exitedFailed: 0 });
  });

  it('emits every childExit before stop() resolves, children killed by stop() included', async () => {
    const server = trackServer(new ForkServer({ reaper, exec: ['/bin/cat'] }));
    const seen = exits(server);
    let closedAfter = -1;
    server.on('close', () => (closedAfter = seen.length));
    const { port } = await server.start();
    const held = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const socket = trackSocket(net.connect(port, '127.0.0.1'));
        socket.on('error', () => {});
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        return socket;
      }),
    );
    await waitForStats(server, (s) => s.active === 4, '4 live children');
    await server.stop();
    expect(seen).toHaveLength(4);
    expect(closedAfter).toBe(4);
    expect(seen.every((e) => e.signal === 'SIGTERM')).toBe(true);
    expect(server.stats()).toMatchObject({ reaped: 4, exitedFailed: 4 });
    held.forEach((s) => s.destroy());
  });

  it("keeps Node's child_process exit codes right beside it", async () => {
    const server = trackServer(new ForkServer({ reaper, exec: ['/bin/cat'] }));
    const { port } = await server.start();
    let churning = true;
    let served = 0;
    const churn = (async () => {
      while (churning) {
        const r = await talk(port, 'ping');
        expect(r.data.toString()).toBe('ping');
        served++;
      }
    })();
    const codes: Array<number | null> = [];
    for (let i = 0; i < 6; i++) {
      codes.push(await new Promise((resolve) => spawn('sh', ['-c', 'exit 3']).on('exit', (code) => resolve(code))));
      codes.push(await new Promise((resolve) => execFile('true', (err) => resolve(err ? -1 : 0))));
    }
    churning = false;
    await churn;
    expect(codes).toEqual(Array.from({ length: 6 }, () => [3, 0]).flat());
    expect(served).toBeGreaterThan(0);
    const s = await waitForStats(server, (x) => x.reaped === x.accepted, 'every child reaped');
    expect(s.exitedOk).toBe(served);
    await server.stop();
    expect(childProcesses()).toEqual([]);
  });
});

describe('netmodels serve --exec', () => {
  it("runs the program per connection; the program's stderr goes to the server's stderr, never to the client", async () => {
    const both = script('both.sh', 'echo "to stdout $TCPREMOTEIP"\necho "to stderr" >&2');
    const cli = path.join(__dirname, '..', 'dist', 'cli.js');
    const child = spawn(process.execPath, [cli, 'serve', '--model', 'fork', '--port', '0', '--quiet', '--exec', '--', both], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out), 'serve to listen', 15_000))![1]);
      const { data } = await talk(port);
      expect(data.toString()).toBe('to stdout 127.0.0.1\n');
      await waitFor(() => err.includes('to stderr'), "the program's stderr on the server's stderr");
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toMatch(/reaped 1 \(exited 1 ok, 0 failed\)/);
  });
});
