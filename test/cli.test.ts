// The CLI as a user runs it: a real `node dist/cli.js` process per test.
// dist/ is built by `npm install` (the prepare script).
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { EpollServer, nativeModels } from '../lib/index';
import { cleanup, trackServer, waitFor } from './helpers';
import { childProcesses } from './proc';
import { closeAll, openMany, roundTripAll } from './scale';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');

function run(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('netmodels CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-cli-'));
  afterEach(cleanup);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('serve answers clients and exits cleanly on SIGTERM, leaving no process behind', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', 'epoll', '--trigger', 'edge', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out), 'serve to listen', 15_000))![1]);
    const sockets = await openMany(port, 5);
    await roundTripAll(sockets, 'cli');
    // The per-second stats line shows the traffic.
    await waitFor(() => /active 5 \(peak 5\)/.test(out), 'a stats line with 5 active', 5000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/SIGTERM: stopping/);
    expect(out).toMatch(/stopped\n$/);
    await closeAll(sockets);
    expect(childProcesses()).toEqual([]);
  });

  it('serve --loops 3 --balance handoff runs three loops and shows them in its stats', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', 'poll', '--loops', '3', '--balance', 'handoff', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const port = Number((await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(out), 'serve to listen', 15_000))![1]);
    const sockets = await openMany(port, 6);
    await roundTripAll(sockets, 'loops');
    await waitFor(() => /active 6 \(peak 6\).*workers 2\/2\/2/.test(out), 'a stats line with 6 active over 3 loops', 5000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await closeAll(sockets);
  });

  it('bench --experiment cores prints loops 1..CPUs for epoll and the ceiling, and writes JSON and SVG', async () => {
    const json = path.join(tmp, 'cores.json');
    const svg = path.join(tmp, 'cores.svg');
    const r = await run(['bench', '--experiment', 'cores', '--duration', '0.1', '--warmup', '0', '--connections', '16', '--json', json, '--svg', svg]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    const loops = os.availableParallelism();
    expect(result.points.filter((p: { label: string }) => p.label === 'C ceiling').map((p: { loops: number }) => p.loops).at(-1)).toBe(loops);
    expect(result.points.every((p: { report: unknown }) => p.report !== null)).toBe(true);
    expect(r.stdout).toMatch(/epoll level req\/s/);
    expect(r.stdout).toMatch(/thread .* req\/s \(no loops\)/);
    expect(fs.readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  });

  it('serve rejects a bad model and a port in use with clear messages', async () => {
    const bad = await run(['serve', '--model', 'nope']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ERR_INVALID_ARG_VALUE/);
    const taken = trackServer(new EpollServer());
    const { port } = await taken.start();
    const busy = await run(['serve', '--model', 'poll', '--port', String(port)]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(`EADDRINUSE: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    await taken.stop();
  });

  it('bench over two models prints a table and writes valid JSON and SVG', async () => {
    const json = path.join(tmp, 'bench.json');
    const svg = path.join(tmp, 'bench.svg');
    const r = await run(['bench', '--models', 'poll,epoll-edge', '--duration', '0.3', '--warmup', '0.1', '--connections', '8', '--rounds', '2', '--json', json, '--svg', svg]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const label of ['poll', 'epoll edge', 'node:net', 'C ceiling']) expect(r.stdout).toContain(label);
    expect(r.stdout).toMatch(/req\/s/);
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
    }
    const svgText = fs.readFileSync(svg, 'utf8');
    expect(svgText.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svgText.trim().endsWith('</svg>')).toBe(true);
    expect((svgText.match(/<rect [^>]*fill="#/g) ?? []).length).toBe(4);
    expect(childProcesses()).toEqual([]);
  });

  it('bench --experiment idle prints a table per idle count and a line chart', async () => {
    const json = path.join(tmp, 'idle.json');
    const svg = path.join(tmp, 'idle.svg');
    const r = await run(['bench', '--experiment', 'idle', '--idle-counts', '0,50', '--duration', '0.3', '--warmup', '0.2', '--json', json, '--svg', svg]);
    expect(r.code).toBe(0);
    const data = JSON.parse(fs.readFileSync(json, 'utf8'));
    // select, poll, epoll level and uring; uring only where it is built.
    const uring = nativeModels().includes('uring');
    expect(data.points).toHaveLength(8);
    for (const p of data.points) {
      if (p.model === 'uring' && !uring) {
        expect(p.skipped).toMatch(/liburing/);
        continue;
      }
      expect(p.report.connected).toBe(p.idle + 1);
      expect(p.report.requests).toBeGreaterThan(0);
    }
    expect((fs.readFileSync(svg, 'utf8').match(/<polyline /g) ?? []).length).toBe(uring ? 4 : 3);
  });

  it('stress reports how many connections were accepted and held', async () => {
    const server = trackServer(new EpollServer({ maxConnections: 30 }));
    const { port } = await server.start();
    const r = await run(['stress', '--port', String(port), '--connections', '50', '--duration', '0.3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/50 attempted, 50 connected/);
    expect(r.stdout).toMatch(/30 held after 300 ms \(20 closed by the server\)/);
    expect(r.stdout).toMatch(/request round: 30 of 30 answered correctly, 0 failed/);
    await waitFor(() => server.stats().active === 0, 'the stress client to leave');
    expect(server.stats().rejected).toBe(20);
    await server.stop();
  });
});
