// The CLI as a user runs it: a real `node dist/cli.js` process per test.
// dist/ is built by `npm install` (the prepare script).
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { progressPrefix } from '../lib/bench/progress';
import { noiseWarning, type BenchRow } from '../lib/bench/rr';
import { cacheDir } from '../lib/bench/targets';
import { EpollServer, MODEL_TABLE, MODELS, nativeModels } from '../lib/index';
import { cleanup, trackServer, waitFor } from './helpers';
import { childProcesses } from './proc';
import { closeAll, openMany, roundTripAll } from './scale';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

/** `netmodels serve <args> --port 0` in a child, once it listens: its stdout so far (`out()`), its exit, its port. */
async function serve(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out), 'serve to listen', 15_000))![1]);
  return { child, exited, port, out: () => out };
}

/** `netmodels serve --handler <module>` in a child, once it listens. */
function serveHandler(model: string, handler: string) {
  return serve(['--model', model, '--handler', handler, '--quiet']);
}
const PACKAGE = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };

/** stderr with the bench's noise warning (a busy shared machine) left out. */
function unexpectedStderr(stderr: string): string {
  return withoutProgress(stderr)
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('warning: the machine is noisy'))
    .join('\n');
}

/** stderr without the progress lines a piped run prints, one per run ('  target 1/2, round 1/1, ETA 1 s  epoll'). */
function withoutProgress(stderr: string): string {
  return stderr.replace(/^ {2}target \d+\/\d+, round \d+\/\d+, ETA .*\n/gm, '');
}

function run(
  args: string[],
  timeoutMs = 120_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('netmodels CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-cli-'));
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

  it('bench --experiment cores prints loops 1..CPUs for epoll and the ceiling, and writes JSON and SVG', async () => {
    const json = path.join(tmp, 'cores.json');
    const svg = path.join(tmp, 'cores.svg');
    const r = await run(['bench', '--experiment', 'cores', '--duration', '0.1', '--warmup', '0', '--connections', '16', '--json', json, '--svg', svg]);
    expect(withoutProgress(r.stderr)).toBe('');
    expect(r.stdout).toMatch(/, 1 load-generator thread;|, \d+ load-generator threads;/);
    // Loops are counted: the x axis has whole ticks only (0, 1, 2; never 0.4).
    const xTicks = [...fs.readFileSync(svg, 'utf8').matchAll(/<text x="[\d.]+" y="368" text-anchor="middle" fill="#555">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(xTicks.length).toBeGreaterThan(1);
    expect(xTicks.every((t) => /^\d+$/.test(t))).toBe(true);
    expect(r.code).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    const loops = os.availableParallelism();
    expect(result.points.filter((p: { label: string }) => p.label === 'C ceiling').map((p: { loops: number }) => p.loops).at(-1)).toBe(loops);
    expect(result.points.every((p: { report: unknown }) => p.report !== null)).toBe(true);
    expect(r.stdout).toMatch(/epoll level req\/s/);
    expect(r.stdout).toMatch(/thread .* req\/s \(no loops\)/);
    expect(fs.readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
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

  it('bench --http runs the node:http app hosted by epoll and on its own listen(), every response a 200', async () => {
    const json = path.join(tmp, 'http.json');
    const r = await run(['bench', '--http', '--duration', '0.2', '--warmup', '0', '--rounds', '1', '--json', json]);
    expect(withoutProgress(r.stderr)).toBe('');
    expect(r.code).toBe(0);
    const rows = JSON.parse(fs.readFileSync(json, 'utf8')).rows as BenchRow[];
    expect(rows.map((row) => row.label)).toEqual(['epoll + node:http', 'node:http']);
    for (const row of rows) {
      expect(row.report!.requests).toBeGreaterThan(0);
      expect(row.report!.statuses).toEqual({ 200: row.report!.statuses['200'] });
      expect(row.errors).toBe(0);
      expect(row.jsUsPerReq).toBeGreaterThan(0);
    }
    expect(r.stdout).toMatch(/x node:http/);
    const bad = await run(['bench', '--http', '--models', 'epoll']);
    expect(bad.code).toBe(2);
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

  it('bench over two models prints a table and writes valid JSON and SVG', async () => {
    const json = path.join(tmp, 'bench.json');
    const svg = path.join(tmp, 'bench.svg');
    const r = await run(['bench', '--models', 'poll,epoll-edge', '--duration', '0.3', '--warmup', '0.1', '--connections', '8', '--rounds', '2', '--json', json, '--svg', svg]);
    expect(unexpectedStderr(r.stderr)).toBe('');
    expect(r.code).toBe(0);
    for (const label of ['poll', 'epoll edge', 'node:net', 'C ceiling']) expect(r.stdout).toContain(label);
    // The header says how it ran and how loaded the machine was.
    expect(r.stdout).toMatch(/^netmodels bench: rr, 8 connections, 64-byte messages, 0\.3 s each after 0\.1 s warm-up, median of 2 interleaved rounds, \d+ load-generator threads?; \d+ cores, .*, load [\d.]+ [\d.]+ [\d.]+, node v/);
    expect(r.stdout).toMatch(/server +req\/s +spread +read MB\/s +p50 us +p99 us +x node:net +x C +cpu us\/req +js us\/req +errors/);
    expect(r.stdout).toMatch(/\nepoll edge +[\d,]+ +\d+% .* [\d.]+x +[\d.]+x /);
    const data = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(data.config).toMatchObject({ connections: 8, messageSize: 64, durationMs: 300, rounds: 2 });
    const labels = data.rows.map((row: { label: string }) => row.label);
    expect(labels).toEqual(['poll', 'epoll edge', 'node:net', 'C ceiling']);
    for (const row of data.rows) {
      expect(row.runs).toHaveLength(2);
      // The row shows one of its runs: the median (the lower of two).
      expect(row.report.rps).toBe(Math.min(...row.runs.map((x: { rps: number }) => x.rps)));
      expect(row.report.requests).toBeGreaterThan(0);
      expect(row.report.mismatches).toBe(0);
      expect(row.vsNode).toBeGreaterThan(0);
      expect(row.rpsMin).toBe(Math.min(...row.runs.map((x: { rps: number }) => x.rps)));
      expect(row.rpsMax).toBe(Math.max(...row.runs.map((x: { rps: number }) => x.rps)));
      expect(row.spread).toBeCloseTo((row.rpsMax - row.rpsMin) / ((row.rpsMin + row.rpsMax) / 2), 6);
      expect(row.errors).toBe(0);
    }
    expect(data.machine.loadavg).toHaveLength(3);
    const svgText = fs.readFileSync(svg, 'utf8');
    expect(svgText.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svgText.trim().endsWith('</svg>')).toBe(true);
    // Three panels of four bars: req/s (with the rounds' whiskers), x C, x node:net.
    expect((svgText.match(/<rect [^>]*fill="#/g) ?? []).length).toBe(12);
    expect((svgText.match(/<path d="M/g) ?? []).length).toBe(4);
    expect(svgText).toContain('x C ceiling');
    expect(svgText).toContain('x node:net');
    expect(childProcesses()).toEqual([]);
  });

  it('idle and cores take --quick and --rounds as every experiment does: the median round, every round kept', async () => {
    for (const experiment of ['idle', 'cores']) {
      const json = path.join(tmp, `${experiment}-rounds.json`);
      const r = await run(['bench', '--experiment', experiment, '--quick', '--rounds', '2', '--duration', '0.1', '--warmup', '0', '--json', json]);
      expect(r.code, `${experiment}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('median of 2 interleaved rounds');
      const data = JSON.parse(fs.readFileSync(json, 'utf8'));
      expect(data.config.rounds).toBe(2);
      const measured = data.points.filter((p: { report: unknown }) => p.report);
      expect(measured.length).toBeGreaterThan(1);
      for (const p of measured) {
        expect(p.runs).toHaveLength(2);
        // The point is its median round (the lower of two, by req/s).
        expect(p.report.rps).toBe(Math.min(...p.runs.map((q: { report: { rps: number } }) => q.report.rps)));
      }
      // The table shows the spread of the rounds beside the median.
      expect(r.stdout).toMatch(/[\d,]+ \[[\d.,k]+(-[\d.,k]+)?\]/);
    }
  });

  it('bench --experiment idle prints a table per idle count and a line chart', async () => {
    const json = path.join(tmp, 'idle.json');
    const svg = path.join(tmp, 'idle.svg');
    const r = await run(['bench', '--experiment', 'idle', '--idle-counts', '0,50', '--duration', '0.3', '--warmup', '0.2', '--json', json, '--svg', svg]);
    expect(r.code).toBe(0);
    const data = JSON.parse(fs.readFileSync(json, 'utf8'));
    // A row per event model that waits on every connection at once (select,
    // poll, epoll level, uring), at each count; one not built is skipped.
    const waiting = MODELS.filter((m) => MODEL_TABLE[m].spec.family === 'event' && ['readiness', 'completion'].includes(MODEL_TABLE[m].spec.waits));
    const built = waiting.filter((m) => nativeModels().includes(m));
    expect(data.points).toHaveLength(2 * waiting.length);
    for (const p of data.points) {
      if (!built.some((m) => p.model.startsWith(m))) {
        expect(p.skipped).toMatch(/not built/);
        continue;
      }
      expect(p.report.connected).toBe(p.idle + 1);
      expect(p.report.requests).toBeGreaterThan(0);
    }
    // Three panels: p50, p99 and req/s, a line per model in each.
    const svgText = fs.readFileSync(svg, 'utf8');
    expect((svgText.match(/<polyline /g) ?? []).length).toBe(3 * built.length);
    for (const label of ['p50 latency (us)', 'p99 latency (us)', 'requests/s']) expect(svgText).toContain(label);
  });

  it('stress reports how many connections were accepted and held', async () => {
    const server = trackServer(new EpollServer({ maxConnections: 30 }));
    const { port } = await server.start();
    const r = await run(['stress', '--port', String(port), '--connections', '50', '--duration', '0.3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/50 attempted, 50 connected/);
    expect(r.stdout).toMatch(/30 held after 300 ms \(20 closed by the server\)/);
    expect(r.stdout).toMatch(/request round \(uppercase\): 30 of 30 answered correctly, 0 failed/);
    await waitFor(() => server.stats().active === 0, 'the stress client to leave');
    expect(server.stats().rejected).toBe(20);
    await server.stop();
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

describe('netmodels stress speaks the server protocol', () => {
  afterEach(cleanup);

  it('--expect http against an http server answers every request and exits 0', async () => {
    const server = trackServer(new EpollServer({ handler: 'http' }));
    const { port } = await server.start();
    const r = await run(['stress', '--port', String(port), '--connections', '40', '--duration', '0.1', '--expect', 'http']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/request round \(http\): 40 of 40 answered correctly, 0 failed\n$/);
    await server.stop();
  });

  it('the default (uppercase) against an http server fails, says why, and exits 1', async () => {
    const server = trackServer(new EpollServer({ handler: 'http' }));
    const { port } = await server.start();
    const r = await run(['stress', '--port', String(port), '--connections', '10', '--duration', '0.1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/request round \(uppercase\): 0 of 10 answered correctly, 10 failed \(MISMATCH 10\)/);
    expect(r.stderr).toMatch(/no reply matched --expect uppercase: does the server speak another protocol\? \(--expect echo\|http\|none\)/);
    await server.stop();
  });

  it('--expect echo and none against echo and discard servers', async () => {
    const echo = trackServer(new EpollServer({ handler: 'echo' }));
    const discard = trackServer(new EpollServer({ handler: 'discard' }));
    const e = await run(['stress', '--port', String((await echo.start()).port), '--connections', '10', '--duration', '0', '--expect', 'echo']);
    expect(e.code).toBe(0);
    expect(e.stdout).toMatch(/request round \(echo\): 10 of 10 answered correctly/);
    const d = await run(['stress', '--port', String((await discard.start()).port), '--connections', '10', '--duration', '0', '--expect', 'none']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/request round \(none\): 10 of 10 answered correctly/);
    await echo.stop();
    await discard.stop();
  });

  it('exits 1 when no connection could be held', async () => {
    const server = trackServer(new EpollServer());
    const { port } = await server.start();
    await server.stop();
    const r = await run(['stress', '--port', String(port), '--connections', '3', '--duration', '0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/3 attempted, 0 connected in \d+ ms, 3 failed \(ECONNREFUSED 3\)/);
    expect(r.stderr).toBe('netmodels stress: no connection was held, so nothing was tested\n');
  });
});

describe('netmodels bench: formats, external servers, failures', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-bench-'));
  afterEach(cleanup);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const quick = ['--duration', '0.2', '--warmup', '0', '--connections', '4', '--rounds', '1'];

  it('--format csv, md and json print the same rows', async () => {
    const c = await run(['bench', '--models', 'epoll-edge', '--no-ceiling', '--format', 'csv', ...quick]);
    expect(c.code).toBe(0);
    const lines = c.stdout.trim().split('\n');
    expect(lines[0]).toBe('server,rps,spread_pct,read_mb_per_s,p50_us,p99_us,x_node,x_ceiling,cpu_us_per_req,js_us_per_req,errors,rps_min,rps_max,skipped');
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['epoll edge', 'node:net']);
    expect(Number(lines[1].split(',')[1])).toBeGreaterThan(0);
    const md = await run(['bench', '--models', 'epoll-edge', '--no-ceiling', '--format', 'md', ...quick]);
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^netmodels bench: rr, .*\n\n\| server \| req\/s \| spread \|.*\|\n\| :--- \| ---: \|/);
    expect(md.stdout).toMatch(/\n\| epoll edge \| [\d,]+ \| - \|/);
    const j = await run(['bench', '--models', 'epoll-edge', '--no-ceiling', '--no-node', '--format', 'json', ...quick]);
    expect(j.code).toBe(0);
    const data = JSON.parse(j.stdout);
    expect(data.rows.map((r: { label: string }) => r.label)).toEqual(['epoll edge']);
    expect(data.config).toMatchObject({ rounds: 1, connections: 4, loops: 1, targets: ['epoll edge'] });
    // Enough to quote it later: the version, when, and the command that made it.
    expect(data.netmodels).toBe(PACKAGE.version);
    expect(Date.now() - Date.parse(data.generatedAt)).toBeLessThan(120_000);
    expect(data.command).toBe(`netmodels bench --models epoll-edge --no-ceiling --no-node --format json ${quick.join(' ')}`);
  });

  it('--port benches a server already running, checking its replies with --expect', async () => {
    const server = trackServer(new EpollServer({ handler: 'echo' }));
    const { port } = await server.start();
    const ok = await run(['bench', '--port', String(port), '--expect', 'echo', '--no-node', '--no-ceiling', '--format', 'json', ...quick]);
    expect(ok.code).toBe(0);
    const [row] = JSON.parse(ok.stdout).rows;
    expect(row).toMatchObject({ label: `127.0.0.1:${port}`, kind: 'external', errors: 0 });
    expect(row.report.requests).toBeGreaterThan(0);
    expect(server.stats().accepted).toBeGreaterThanOrEqual(4);
    // Uppercase replies expected from an echo server: every reply is a mismatch, and the bench fails.
    const bad = await run(['bench', '--port', String(port), '--no-node', '--no-ceiling', ...quick]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      new RegExp(`netmodels bench: 127\\.0\\.0\\.1:${port}: [\\d,]+ errors \\(mismatch [\\d,]+\\): does the server speak another protocol\\? \\(--expect echo\\|none\\)`),
    );
    await server.stop();
  });

  it('never passes silently: no reply at all is a failure, and errors are named by cause', async () => {
    // A server that reads and never answers: 0 requests and 0 errors used to exit 0.
    const discard = trackServer(new EpollServer({ handler: 'discard' }));
    const { port } = await discard.start();
    const silent = await run(['bench', '--port', String(port), '--expect', 'none', '--no-node', '--no-ceiling', ...quick]);
    expect(silent.code).toBe(1);
    expect(silent.stderr).toContain(`netmodels bench: 127.0.0.1:${port}: no request completed and no error: the server never answered`);
    await discard.stop();
    // A closed port: the refusals are named.
    const closed = await run(['bench', '--port', String(port), '--no-node', '--no-ceiling', ...quick]);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(new RegExp(`netmodels bench: 127\\.0\\.0\\.1:${port}: [\\d,]+ errors \\(ECONNREFUSED [\\d,]+\\)\n`));
  });

  it('exits 1 when a target is skipped (no C compiler for the ceiling), saying why', async () => {
    const env = { ...process.env, CC: path.join(tmp, 'no-such-cc'), XDG_CACHE_HOME: path.join(tmp, 'empty-cache') };
    const r = await run(['bench', '--models', 'epoll-edge', '--no-node', ...quick], 60_000, env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\nC ceiling +skipped: no C compiler \(.*no-such-cc\) to build the ceiling server: install one \(Debian: build-essential\) or pass --no-ceiling/);
    expect(r.stderr).toMatch(/netmodels bench: C ceiling: skipped: no C compiler/);
  });

  it('builds the ceiling into a private cache dir and never runs a binary others could have written there', async () => {
    const cache = path.join(tmp, 'cache');
    const dir = path.join(cache, 'netmodels');
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const hash = createHash('sha256').update(fs.readFileSync(path.join(__dirname, '..', 'scripts', 'ceiling.c'))).digest('hex').slice(0, 12);
    const planted = path.join(dir, `ceiling-${hash}`);
    const marker = path.join(tmp, 'planted-ran');
    fs.writeFileSync(planted, `#!/bin/sh\ntouch ${marker}\necho PORT 1\n`);
    fs.chmodSync(planted, 0o777); // writable by anyone: not to be trusted
    expect(cacheDir({ XDG_CACHE_HOME: cache })).toBe(dir);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const r = await run(['bench', '--models', 'epoll-edge', '--no-node', ...quick], 60_000, { ...process.env, XDG_CACHE_HOME: cache });
    expect(r.code).toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
    const st = fs.statSync(planted);
    expect(st.mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(planted).subarray(1, 4).toString()).toBe('ELF');
    // A link in place of the directory is refused.
    const linked = path.join(tmp, 'linked');
    fs.mkdirSync(linked);
    fs.symlinkSync(tmp, path.join(linked, 'netmodels'));
    expect(cacheDir({ XDG_CACHE_HOME: linked })).toBe(null);
  });

  it('off a terminal (piped) prints one progress line per run as it starts, never silent', async () => {
    const r = await run(['bench', '--models', 'epoll-edge', '--no-node', '--no-ceiling', '--duration', '0.1', '--warmup', '0', '--connections', '4', '--rounds', '2']);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  target'));
    expect(lines).toEqual([expect.stringMatching(/^ {2}target 1\/1, round 1\/2, ETA \d+ s {2}epoll edge$/), expect.stringMatching(/^ {2}target 1\/1, round 2\/2, ETA \d+ s {2}epoll edge$/)]);
    expect(r.stderr).not.toContain('\r');
  });

  it('shows progress as target i/N, round r/R, ETA on a terminal', async () => {
    // script(1) gives the bench a pseudo-terminal for stdout and stderr.
    const command = [process.execPath, CLI, 'bench', '--models', 'epoll-edge', '--no-node', '--duration', '0.2', '--warmup', '0', '--connections', '4', '--rounds', '2']
      .map((a) => `'${a}'`)
      .join(' ');
    const out = await new Promise<string>((resolve) => {
      execFile('script', ['-qec', command, '/dev/null'], { timeout: 60_000 }, (_err, stdout) => resolve(stdout));
    });
    const lines = out.split('\r');
    expect(lines.some((l) => /target 1\/2, round 1\/2, ETA \d+ s {2}epoll edge/.test(l))).toBe(true);
    expect(lines.some((l) => /target 2\/2, round 2\/2, ETA \d+ s {2}C ceiling/.test(l))).toBe(true);
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
