// The CLI's serve command, its usage and the package, as a user runs them:
// a real `node dist/cli.js` process per test. Nothing here measures, so it
// runs beside the suites; the bench's tests are cli.test.ts.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { progressPrefix } from '../lib/bench/progress';
import { noiseWarning, type BenchRow } from '../lib/bench/rr';
import { EpollServer, MODELS } from '../lib/index';
import { CLI, PACKAGE, run, serve, serveHandler } from './cli-run';
import { cleanup, trackServer, waitFor } from './helpers';
import { childProcesses } from './proc';
import { closeAll, openMany, roundTripAll } from './scale';

describe('netmodels serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-serve-'));
  afterEach(cleanup);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('serve answers clients and exits cleanly on SIGTERM, leaving no process behind', async () => {
    const { child, exited, port, out } = await serve(['--model', 'epoll', '--trigger', 'edge']);
    const sockets = await openMany(port, 5);
    await roundTripAll(sockets, 'cli');
    // The per-second stats line shows the traffic.
    await waitFor(() => /active 5 \(peak 5\)/.test(out()), 'a stats line with 5 active', 5000);
    expect(out()).toMatch(/ in 160 B {2}out 160 B /);
    // Nothing changes now: no more stats lines (it prints only on change).
    const lines = () => out().split('\n').filter((l) => l.startsWith('active ')).length;
    const before = lines();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(lines()).toBe(before);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out()).toMatch(/SIGTERM: stopping/);
    expect(out()).toMatch(/stopped\n$/);
    await closeAll(sockets);
    expect(childProcesses()).toEqual([]);
  });

  it('serve --loops 3 --balance handoff runs three loops and shows them in its stats', async () => {
    const { child, exited, port, out } = await serve(['--model', 'poll', '--loops', '3', '--balance', 'handoff']);
    const sockets = await openMany(port, 6);
    await roundTripAll(sockets, 'loops');
    await waitFor(() => /active 6 \(peak 6\).*workers 2\/2\/2/.test(out()), 'a stats line with 6 active over 3 loops', 5000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await closeAll(sockets);
  });

  it('serve --fd 3 serves a listening socket its parent passed, as systemd would', async () => {
    const parent = net.createServer();
    await new Promise<void>((resolve) => parent.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const { port } = parent.address() as net.AddressInfo;
    const fd = (parent as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(process.execPath, [CLI, 'serve', '--model', 'thread', '--fd', '3', '--quiet'], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => out.includes(`listening on 127.0.0.1:${port}`), 'serve to listen on the inherited socket', 15_000);
    await new Promise<void>((resolve) => parent.close(() => resolve()));
    const sockets = await openMany(port, 2);
    await roundTripAll(sockets, 'fd');
    await closeAll(sockets);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('serve --handler ./module.js serves with the module\'s default export; a module without one is a usage error', async () => {
    const mod = path.join(tmp, 'shout.mjs');
    fs.writeFileSync(mod, "export default (conn) => conn.on('data', (d) => conn.write(`heard ${d}`));\n");
    const { child, exited, port } = await serveHandler('poll', mod);
    const socket = net.connect(port, '127.0.0.1');
    socket.write('you');
    const reply = await new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
    expect(reply).toBe('heard you');
    socket.destroy();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const empty = path.join(tmp, 'empty.cjs');
    fs.writeFileSync(empty, 'module.exports = { notAHandler: 1 };\n');
    const bad = await run(['serve', '--model', 'poll', '--handler', empty, '--port', '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/exports no handler function/);
  });

  it('serve --handler hosts a module whose export is a node server (examples/http-app.js)', async () => {
    const app = path.join(__dirname, '..', 'examples', 'http-app.js');
    const { child, exited, port } = await serveHandler('epoll', app);
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.write('GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*hello from node:http on netmodels\n$/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('serve prints its stats line only when something changed, in human units', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', 'epoll', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out), 'serve to listen', 15_000))![1]);
      const lines = () => out.split('\n').filter((line) => line.startsWith('active '));
      // Idle from the start: nothing to say.
      await new Promise((r) => setTimeout(r, 2500));
      expect(lines()).toEqual([]);
      const socket = net.connect(port, '127.0.0.1');
      let got = 0;
      socket.on('data', (d: Buffer) => {
        got += d.length;
        if (got === 2048) socket.end();
      });
      socket.write(Buffer.alloc(2048, 'a'));
      await new Promise((resolve) => socket.once('close', resolve));
      await waitFor(() => lines().some((line) => line.includes('closed 1')), 'a stats line with the connection closed', 5000);
      expect(lines().at(-1)).toMatch(/ {2}in 2\.0 KiB {2}out 2\.0 KiB {2}/);
      const seen = lines().length;
      await new Promise((r) => setTimeout(r, 2500));
      expect(lines()).toHaveLength(seen);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('serve rejects a bad model as a usage error and a port in use as a failure', async () => {
    const bad = await run(['serve', '--model', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.startsWith(`netmodels serve: unknown model 'nope' (models: ${MODELS.join(', ')})\n\nUsage: netmodels serve`)).toBe(true);
    const taken = trackServer(new EpollServer());
    const { port } = await taken.start();
    const busy = await run(['serve', '--model', 'poll', '--port', String(port)]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toBe(`netmodels: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
    await taken.stop();
    // An IPv6 host that only IPv4 clients can reach, refused with --ipv6-only as net.Server refuses it.
    const only = await run(['serve', '--model', 'poll', '--host', '::ffff:127.0.0.1', '--port', '0', '--ipv6-only']);
    expect(only.code).toBe(1);
    expect(only.stderr).toContain('netmodels: listen EINVAL');
  });
});

describe('netmodels CLI: help, version and usage errors', () => {
  it('--help on every command prints its usage on stdout and exits 0', async () => {
    for (const command of ['serve', 'bench', 'stress']) {
      for (const args of [[command, '--help'], [command, '-h'], ['help', command]]) {
        const r = await run(args);
        expect(r.code, args.join(' ')).toBe(0);
        expect(r.stderr).toBe('');
        expect(r.stdout.startsWith(`Usage: netmodels ${command}`)).toBe(true);
      }
    }
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: netmodels <command>/);
    // Every model option is a serve flag in its usage, with the models that take it.
    const serve = await run(['serve', '--help']);
    expect(serve.stdout).toMatch(/--trigger level\|edge +trigger \(epoll\)/);
    expect(serve.stdout).toMatch(/--exec -- FILE \[ARG\.\.\.\] +exec \(fork\)/);
  });

  it('--version prints the package version', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${PACKAGE.version}\n`);
    }
  });

  it('every usage error prints the message and the usage on stderr and exits 2', async () => {
    const cases: [string[], RegExp, string][] = [
      [[], /^netmodels: a command is required\n/, 'Usage: netmodels <command>'],
      [['frob'], /^netmodels: unknown command 'frob'\n/, 'Usage: netmodels <command>'],
      [['--frob'], /^netmodels: unknown option '--frob'\n/, 'Usage: netmodels <command>'],
      [['help', 'frob'], /^netmodels: unknown command 'frob'\n/, 'Usage: netmodels <command>'],
      [['bench', '--rounds', 'x'], /^netmodels bench: --rounds must be an integer >= 1, got 'x'\n/, 'Usage: netmodels bench'],
      [['bench', '--duration', '0'], /^netmodels bench: --duration must be a number >= 0.05, got '0'\n/, 'Usage: netmodels bench'],
      [['bench', '--duration', '-1'], /^netmodels bench: --duration must be a number >= 0.05, got '-1'\n/, 'Usage: netmodels bench'],
      [['bench', '--size', '1e9'], /^netmodels bench: --size must be an integer >= 1 and <= 16777216, got '1e9'\n/, 'Usage: netmodels bench'],
      [['bench', '--models', 'epol'], /^netmodels bench: unknown model 'epol' \(did you mean 'epoll'\?\) \(known: /, 'Usage: netmodels bench'],
      [['serve', '--model', 'thred'], /^netmodels serve: unknown model 'thred' \(did you mean 'thread'\?\) \(models: /, 'Usage: netmodels serve'],
      [['bench', '--frob'], /^netmodels bench: unknown option '--frob'\n/, 'Usage: netmodels bench'],
      [['bench', '--svg'], /^netmodels bench: option '--svg <value>' needs a value\n/, 'Usage: netmodels bench'],
      [['bench', 'poll'], /^netmodels bench: unexpected argument 'poll'\n/, 'Usage: netmodels bench'],
      [['bench', '--models', 'nope'], /^netmodels bench: unknown model 'nope' \(known: iterative, fork, .*epoll-edge, epoll\+js, uring, sigio, sigio-signalfd(, udp.*)?\)\n/, 'Usage: netmodels bench'],
      [['bench', '--experiment', 'nope'], /^netmodels bench: --experiment must be one of idle, cores, blocking, churn, busy, select-vs-fork, trigger, sigio, claims, got 'nope'\n/, 'Usage: netmodels bench'],
      [['bench', '--quick'], /^netmodels bench: --quick does not apply to the rr table\n/, 'Usage: netmodels bench'],
      [['bench', '--experiment', 'idle', '--quick', '--idle-counts', '5'], /^netmodels bench: --quick picks the idle counts: it does not go with --idle-counts\n/, 'Usage: netmodels bench'],
      [['bench', '--format', 'xml'], /^netmodels bench: --format must be one of table, md, csv, json, got 'xml'\n/, 'Usage: netmodels bench'],
      [['bench', '--port', '1', '--models', 'poll'], /^netmodels bench: --port benches the server at --host:--port; it does not go with --models\n/, 'Usage: netmodels bench'],
      [['bench', '--expect', 'echo'], /^netmodels bench: --expect applies to the server at --port\n/, 'Usage: netmodels bench'],
      [['serve', '--model', 'poll', '--trigger', 'edge'], /^netmodels serve: --trigger is not an option of the poll model\n/, 'Usage: netmodels serve'],
      [['serve', '--trigger', 'sideways'], /^netmodels serve: --trigger must be one of: 'level', 'edge', got 'sideways'\n/, 'Usage: netmodels serve'],
      [['serve', '--port', '70000'], /^netmodels serve: --port is out of range: it must be >= 0 && <= 65535, got 70000\n/, 'Usage: netmodels serve'],
      [['serve', '--max-connections', 'many'], /^netmodels serve: --max-connections must be a non-negative integer, got 'many'\n/, 'Usage: netmodels serve'],
      [['serve', '--handler', 'nope'], /^netmodels serve: --handler must be one of: 'uppercase', 'echo', 'discard', 'http', got 'nope'\n/, 'Usage: netmodels serve'],
      [['serve', '--model', 'fork', '--handler', './examples/relay.js'], /^netmodels serve: --handler \.\/examples\/relay\.js: the fork model serves in forked children, which cannot run JavaScript/, 'Usage: netmodels serve'],
      [['serve', '--fd', '3', '--port', '80'], /^netmodels serve: --port does not go with --fd \(that socket listens already\)\n/, 'Usage: netmodels serve'],
      [['serve', '--fd', '3', '--ipv6-only'], /^netmodels serve: --ipv6-only does not go with --fd \(that socket listens already\)\n/, 'Usage: netmodels serve'],
      // stdin: a pipe or socketpair, whatever runs the test
      [['serve', '--fd', '0'], /^netmodels serve: --fd must be a listening TCP socket: it is (not a socket|not listening|a Unix domain socket), got 0\n/, 'Usage: netmodels serve'],
      [['serve', '--model', 'fork', '--exec'], /^netmodels serve: --exec needs a program after --\n/, 'Usage: netmodels serve'],
      [['stress'], /^netmodels stress: --port is required\n/, 'Usage: netmodels stress'],
      [['stress', '--port', '80', '--expect', 'smtp'], /^netmodels stress: --expect must be one of uppercase, echo, http, none, got 'smtp'\n/, 'Usage: netmodels stress'],
      [['stress', '--port', '80', '--host', 'localhost'], /^netmodels stress: --host must be an IPv4 or IPv6 address, got 'localhost'\n/, 'Usage: netmodels stress'],
    ];
    for (const [args, message, usage] of cases) {
      const r = await run(args, 30_000);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr, args.join(' ')).toContain(`\n\n${usage}`);
    }
  });
});

describe('the package', () => {
  const ROOT = path.join(__dirname, '..');
  let packList: Promise<string[]> | undefined;
  /** The tarball's files as `npm pack` lists them (the tree as it is: no prepare). */
  function packed(): Promise<string[]> {
    packList ??= new Promise((resolve, reject) => {
      execFile('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT }, (err, stdout) => {
        if (err) return reject(err);
        resolve((JSON.parse(stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
      });
    });
    return packList;
  }

  it("the bin is executable as built: npx runs a project's own bin by its path", () => {
    expect(() => fs.accessSync(path.join(ROOT, 'dist/cli.js'), fs.constants.X_OK)).not.toThrow();
  });
  /** Files under `dir` (relative to the package root), recursively. */
  function walk(dir: string): string[] {
    if (!fs.existsSync(path.join(ROOT, dir))) return [];
    return fs
      .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.posix.join(dir, e.name)) : [path.posix.join(dir, e.name)]));
  }

  it('ships the licence, the compiled library with its types, the prebuilds; no maps, tests or dev scripts', async () => {
    const files = await packed();
    for (const f of ['LICENSE', 'README.md', 'package.json', 'binding.gyp', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js']) {
      expect(files).toContain(f);
    }
    // The addon's sources and what building them needs, for machines no prebuild fits.
    expect(files).toContain('native/addon.cc');
    expect(files.filter((f) => f.startsWith('scripts/')).sort()).toEqual(['scripts/ceiling.c', 'scripts/install-failed.js', 'scripts/udp-ceiling.c']);
    const js = walk('dist').filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(0);
    for (const f of js) {
      expect(files).toContain(f);
      expect(files).toContain(f.replace(/\.js$/, '.d.ts'));
    }
    for (const f of walk('prebuilds')) expect(files).toContain(f);
    expect(files.filter((f) => f.endsWith('.map') || /^(lib|test|fuzz|\.ci|build|build-sanitize|node_modules|bench\/out)\//.test(f))).toEqual([]);
    expect(files.filter((f) => /^(tsconfig|vitest\.config|package-lock)/.test(f))).toEqual([]);
  });

  it('every relative link and image in the shipped Markdown points at a shipped file', async () => {
    const files = await packed();
    const broken: string[] = [];
    for (const md of files.filter((f) => f.endsWith('.md'))) {
      // Code, fenced or inline, holds no links (`a[i](x)` is a call); [`x`](y) keeps its link.
      const text = fs
        .readFileSync(path.join(ROOT, md), 'utf8')
        .replace(/^```[\s\S]*?^```/gm, '')
        .replace(/`[^`\n]*`/g, '');
      const targets = [
        ...[...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
        ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]),
        ...[...text.matchAll(/<(?:img|a)\s[^>]*(?:src|href)="([^"]+)"/g)].map((m) => m[1]),
      ];
      for (const target of targets) {
        if (/^([a-z][a-z0-9+.-]*:|#)/i.test(target)) continue; // absolute URL or an anchor on the page
        const file = path.posix.normalize(path.posix.join(path.posix.dirname(md), decodeURI(target.split('#')[0])));
        if (!files.includes(file)) broken.push(`${md}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('without an addon to load, the error says what to install and run', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-noaddon-'));
    try {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['-e', `require(${JSON.stringify(path.join(__dirname, '..', 'dist'))})`],
          { env: { ...process.env, NETMODELS_BINDING_DIR: empty } },
          (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
        );
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/No native build was found/);
      expect(r.stderr).toMatch(/netmodels: no addon for linux-x64 .*build-essential python3\) and run `npm rebuild netmodels`/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('a failed install step says what to install, and still fails', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(__dirname, '..', 'scripts', 'install-failed.js')], (err, _stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/apt-get install build-essential python3[\s\S]*npm rebuild netmodels/);
  });
});

describe('bench reporting', () => {
  const row = (label: string, kind: BenchRow['kind'], spread?: number, vsCeiling?: number): BenchRow => ({
    label,
    kind,
    report: null,
    spread,
    vsCeiling,
  });

  it('warns when a row spreads over 10% or a model beats the ceiling by over 10%', () => {
    expect(noiseWarning([row('poll', 'model', 0.05, 1.02), row('C ceiling', 'ceiling', 0.04, 1)], 3)).toBe(null);
    expect(noiseWarning([row('poll', 'model', 0.14, 1.21), row('fork', 'model', 0.12, 0.5), row('C ceiling', 'ceiling', 0.2, 1)], 3)).toBe(
      'warning: the machine is noisy: rerun with --rounds 7 (rounds differ by over 10%: poll 14%, fork 12%, C ceiling 20%; above the C ceiling: poll 1.21x)',
    );
    expect(noiseWarning([row('poll', 'model', 0.3)], 7)).toMatch(/^warning: the machine is noisy: rerun on a quieter machine, or with a longer --duration/);
  });

  it('progress reads target i/N, round r/R, ETA', () => {
    expect(progressPrefix(7, 13, 2, 3, 41_200)).toBe('target 7/13, round 2/3, ETA 41 s');
    expect(progressPrefix(1, 13, 1, 3, 125_000)).toBe('target 1/13, round 1/3, ETA 2 min 5 s');
  });
});
