// The CLI's bench and stress as a user runs them: a real `node dist/cli.js`
// process per test. They measure (short windows), so they run alone
// (vitest.config.mts); serve, the usage and the package: cli-serve.test.ts.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import type { BenchRow } from '../lib/bench/rr';
import { cacheDir } from '../lib/bench/targets';
import { EpollServer, MODEL_TABLE, MODELS, nativeModels } from '../lib/index';
import { CLI, PACKAGE, run } from './cli-run';
import { cleanup, trackServer, waitFor } from './helpers';
import { childProcesses } from './proc';

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

describe('netmodels bench', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-cli-'));
  afterEach(cleanup);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

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
