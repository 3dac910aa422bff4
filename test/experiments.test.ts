// The experiments of `netmodels bench --experiment <name>`, each run through
// the CLI with a tiny duration: a table, valid JSON, an SVG that parses.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { specOfRow } from '../lib/bench/targets';
import { compare, figureOf, figureText, interleaved, medianOf, medianRound, rangeText, type Figure } from '../lib/bench/rounds';
import type * as Runner from '../lib/bench/experiments/runner';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'netmodels-exp-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 170_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** An SVG document: one root, balanced tags, at least one drawn shape. */
function expectSvg(text: string): void {
  expect(text).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  const open = (text.match(/<(?!\/)[a-z]+[^>]*[^/]>/g) ?? []).length;
  const close = (text.match(/<\/[a-z]+>/g) ?? []).length;
  expect(open).toBe(close);
  expect(text).toMatch(/<(polyline|rect) /);
}

async function experiment(name: string, duration = '0.05', extra: string[] = []) {
  const json = path.join(tmp, `${name}.json`);
  const svg = path.join(tmp, `${name}.svg`);
  const r = await run(['bench', '--experiment', name, '--quick', '--duration', duration, '--warmup', '0', '--json', json, '--svg', svg, ...extra]);
  // Piped, the bench prints a line per run as it starts: nothing else.
  expect(r.stderr.replace(/^ {2}target \d+\/\d+, round \d+\/\d+, ETA .*\n/gm, '')).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(new RegExp(`^netmodels bench --experiment ${name}: `));
  const data = JSON.parse(fs.readFileSync(json, 'utf8'));
  expect(data.experiment).toBe(name);
  expectSvg(fs.readFileSync(svg, 'utf8'));
  return { stdout: r.stdout, points: data.points as Record<string, any>[] };
}

describe('netmodels bench experiments', () => {
  it('blocking: a serial server leaves the second client waiting until the first leaves; the others answer', async () => {
    const { stdout, points } = await experiment('blocking');
    const serial = points.filter((p) => specOfRow(p.model).serial);
    expect(serial.length).toBeGreaterThan(0);
    for (const p of serial) {
      expect(p.firstReplyMs, p.model).toBeNull();
      expect(p.afterFirstLeftMs, p.model).toBeGreaterThan(0);
      expect(stdout).toMatch(new RegExp(`${p.model}\\s+> 50 ms \\(blocked\\)`));
    }
    for (const p of points.filter((q) => !specOfRow(q.model).serial && !q.unavailable)) expect(p.firstReplyMs, p.model).toBeGreaterThan(0);
  });

  it('churn: connections/s and CPU per connection for every model, the pools at their defaults (--quick: 16 clients; --rounds 2)', async () => {
    const { stdout, points } = await experiment('churn', '0.05', ['--rounds', '2']);
    expect(stdout).toMatch(/median of 2 interleaved rounds/);
    expect(new Set(points.map((p) => p.clients))).toEqual(new Set([16]));
    // One point per model (the median round's), the pools under their own names.
    expect(points.map((p) => p.model)).toEqual(['fork', 'prefork', 'thread', 'threadpool', 'select', 'poll', 'epoll level']);
    // Where fork's time goes, with the size of the process that forks.
    const fork = points.find((p) => p.model === 'fork')!;
    expect(fork.residentMiB).toBeGreaterThan(10);
    expect(stdout).toMatch(new RegExp(`\\nfork: [\\d,.-]+ us of CPU per connection in a ${Math.round(fork.residentMiB)} MiB server process: the parent's fork\\(\\) copies the page tables`));
    for (const p of points.filter((q) => !q.unavailable)) {
      expect(p.report.requests, `${p.model} ${p.clients}`).toBeGreaterThan(0);
      expect(p.counters.accepted).toBeGreaterThan(0);
    }
  });

  it('trigger: level and edge, with wakeups, recv and send per request', async () => {
    // 64 KiB messages at 64 connections: 0.05 s may end before a reply on a busy machine.
    const { stdout, points } = await experiment('trigger', '0.2');
    // --quick: 1 and 64 connections, 64 B and 64 KiB, level and edge.
    expect(points).toHaveLength(8);
    expect(stdout).toMatch(/wakeups\/req/);
    for (const p of points) {
      expect(p.report.requests).toBeGreaterThan(0);
      expect(p.counters.wakeups).toBeGreaterThan(0);
    }
  });

  it('sigio: sigwait and signalfd beside epoll and poll, and with RLIMIT_SIGPENDING lowered, where the queue overflows', async () => {
    const { stdout, points } = await experiment('sigio', '0.3');
    // --quick: 64 busy for the four rows, then both sigio rows at the lowered limit.
    expect(points.map((p) => `${p.model}${p.limit ? ` ${p.limit}` : ''}`)).toEqual(['sigio', 'sigio signalfd', 'epoll level', 'poll', 'sigio 64', 'sigio signalfd 64']);
    expect(stdout).toMatch(/ovf\/1k req/);
    for (const p of points) {
      expect(p.report.requests, p.model).toBeGreaterThan(0);
      expect(p.counters.syscalls.wait, p.model).toBeGreaterThan(0);
      // Only sigio has the counter; epoll and poll leave it out rather than show 0.
      expect(p.counters.overflows === undefined, p.model).toBe(!p.model.startsWith('sigio'));
    }
  });

  it('smoke: busy and select-vs-fork run, and every point served requests', async () => {
    for (const name of ['busy', 'select-vs-fork']) {
      const { points } = await experiment(name);
      for (const p of points) expect(p.report.requests, `${name} ${p.model} ${p.x}`).toBeGreaterThan(0);
    }
  });

  it('--rounds 3, run twice: every point is its median round, with the spread of its rounds in the table, the CSV, the JSON and the chart', async () => {
    for (const attempt of [1, 2]) {
      const { stdout, points } = await experiment('busy', '0.05', ['--rounds', '3']);
      expect(stdout, `attempt ${attempt}`).toMatch(/median of 3 interleaved rounds/);
      expect(stdout).toMatch(/req\/s \(cpu us\/req\) \[range\]/);
      expect(stdout).toMatch(/\n\[a-b\]: the lowest and highest of 3 interleaved rounds/);
      for (const p of points) {
        expect(p.runs, `${p.model} ${p.x}`).toHaveLength(3);
        const rps = p.runs.map((r: { report: { rps: number } }) => r.report.rps).sort((a: number, b: number) => a - b);
        // The point is the median round, the spread its lowest and highest.
        expect(p.report.rps).toBe(rps[1]);
        expect(p.spread.rps).toEqual({ median: rps[1], min: rps[0], max: rps[2], n: 3 });
        expect(p.spread.cpuUsPerReq.min).toBeLessThanOrEqual(p.cpuUsPerReq);
        expect(p.spread.cpuUsPerReq.max).toBeGreaterThanOrEqual(p.cpuUsPerReq);
        // Whatever the figures, a side is told only outside both ranges.
        const other = points.find((q) => q.x === p.x && q.model !== p.model)!;
        const c = compare({ name: p.model, figure: p.spread.rps }, { name: other.model, figure: other.spread.rps });
        const apart = p.spread.rps.min > other.spread.rps.max || other.spread.rps.min > p.spread.rps.max;
        if (!apart) expect(c.side).toBe('noise');
      }
      expect(fs.readFileSync(path.join(tmp, 'busy.svg'), 'utf8')).toMatch(/<path d="M[\d.]+ [\d.]+V/);
    }
    const csv = await run(['bench', '--experiment', 'busy', '--quick', '--duration', '0.05', '--warmup', '0', '--rounds', '2', '--format', 'csv']);
    expect(csv.code).toBe(0);
    const [header, ...rows] = csv.stdout.trim().split('\n');
    expect(header.split(',').slice(-4)).toEqual(['rps_min', 'rps_max', 'cpu_min', 'cpu_max']);
    for (const row of rows) {
      const [min, max] = row.split(',').slice(-4, -2).map(Number);
      expect(max).toBeGreaterThanOrEqual(min);
    }
  });

  it('claims writes Markdown with one section per claim; --out only goes with claims', async () => {
    const out = path.join(tmp, 'claims.md');
    const r = await run(['bench', '--experiment', 'claims', '--quick', '--duration', '0.05', '--warmup', '0', '--out', out]);
    // Piped, a line per step and per run: never silent, nothing else.
    expect(r.stderr).toMatch(/^claims: /m);
    expect(r.stderr.replace(/^( {2}target \d+\/\d+, round \d+\/\d+, ETA .*|claims: .*)\n/gm, '')).toBe('');
    expect(r.code).toBe(0);
    const md = fs.readFileSync(out, 'utf8');
    expect(md).toMatch(/^# The classic claims, measured\n/);
    // The command as it was run, not a fixed one.
    expect(md).toContain(`Generated by \`netmodels bench --experiment claims --quick --duration 0.05 --warmup 0 --out ${out}\``);
    expect((md.match(/^## \d+\. /gm) ?? []).map((h) => h.trim())).toEqual(Array.from({ length: 12 }, (_, i) => `## ${i + 1}.`));
    expect((md.match(/^\*\*Verdict: /gm) ?? []).length).toBe(12);
    expect(md).toContain('fs/eventpoll.c');
    const bad = await run(['bench', '--experiment', 'churn', '--out', out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^netmodels bench: --out applies to --experiment claims\n\nUsage: netmodels bench/);
  });
});

describe('figures over rounds and the verdict helper (fixed figures)', () => {
  const f = (...v: number[]): Figure => figureOf(v)!;

  it('a figure is the median round with the lowest and highest; the lower middle for an even count', () => {
    expect(figureOf([140_000, 125_000, 158_000, undefined])).toEqual({ median: 140_000, min: 125_000, max: 158_000, n: 3 });
    expect(medianOf([4, 1, 3, 2])).toBe(2);
    expect(figureOf([undefined])).toBeUndefined();
  });

  it('a range is rounded outwards, so it holds the median printed beside it', () => {
    // 17,801 once read as "17,801 [18k-49k]".
    expect(figureText(f(17_801, 18_200, 49_000))).toBe('18,200 [17k-49k]');
    expect(rangeText(f(6.94, 7.0, 9.41), 1)).toBe('6.9-9.5');
    expect(rangeText(f(7.0, 7.0), 1)).toBe('7.0');
    expect(rangeText(f(400, 2_000, 20_000))).toBe('400-20k');
  });

  it('overlapping ranges are within noise, whichever median is higher (busy at 1000, three runs: select against epoll)', () => {
    const c = compare({ name: 'select', figure: f(140_000, 125_000, 158_000) }, { name: 'epoll', figure: f(142_000, 142_000, 100_000) });
    expect(c.side).toBe('noise');
    expect(c.text).toBe('within noise: select 125k-158k, epoll 100k-142k');
  });

  it('separated ranges tell a side, with the ratio of the medians', () => {
    const fast = f(150, 160, 155);
    const slow = f(100, 110, 105);
    expect(compare({ name: 'a', figure: slow }, { name: 'b', figure: fast })).toMatchObject({ side: 'lower', ratio: 105 / 155 });
    expect(compare({ name: 'a', figure: fast }, { name: 'b', figure: slow })).toMatchObject({ side: 'higher', ratio: 155 / 105, text: 'a 1.48x b (a 150-160, b 100-110)' });
  });

  it('separated ranges closer than the margin are within noise; a verdict may ask for a larger margin', () => {
    expect(compare({ name: 'a', figure: f(100, 101, 102) }, { name: 'b', figure: f(103, 104, 105) }).side).toBe('noise');
    expect(compare({ name: 'a', figure: f(16, 17, 18) }, { name: 'b', figure: f(10, 11, 12) }, 1.5).side).toBe('higher');
    expect(compare({ name: 'a', figure: f(16, 17, 18) }, { name: 'b', figure: f(10, 11, 12) }, 2).side).toBe('noise');
  });

  it('against a median of 0 (a model that served nothing) separated ranges still tell a side', () => {
    expect(compare({ name: 'prefork', figure: f(2100, 2500, 2960) }, { name: 'fork', figure: f(0, 0, 40) }, 2)).toMatchObject({ side: 'higher', text: 'prefork above fork (prefork 2,100-2,960, fork 0-40)' });
  });

  it('a missing figure is not measured, never a side', () => {
    expect(compare({ name: 'a', figure: undefined }, { name: 'b', figure: f(1) })).toEqual({ side: 'noise', text: 'not measured (a)' });
  });

  it('rounds interleave (every case once per round); a failed round is the one shown', async () => {
    const calls: string[] = [];
    const tries = await interleaved(['x', 'y'], 3, async (c, _i, round) => {
      calls.push(`${c}${round}`);
      return { c, v: round };
    });
    expect(calls).toEqual(['x1', 'y1', 'x2', 'y2', 'x3', 'y3']);
    const p = medianRound(tries[0], (r) => r.v, () => false);
    expect(p).toMatchObject({ v: 2, runs: tries[0] });
    expect(medianRound(tries[1], (r) => r.v, (r) => r.v === 3)).toEqual({ c: 'y', v: 3 });
  });
});

// The runner samples the server when the load generator's window begins
// (after set-up and warm-up), so the server's reads over that window match
// the requests the load generator counted. Sampled on a warm-up timer
// instead, the server's window opened one set-up early: 1.08 reads per
// request with 2000 idle connections held. rr leaves up to two requests per
// connection at the window's edges (in flight when it opens, read but not
// answered when it closes), which the bound allows for.
describe('the experiments measure the server over the load generator window', () => {
  const runner = () => import(path.join(__dirname, '..', 'dist', 'bench', 'experiments', 'runner.js')) as Promise<typeof Runner>;

  it('hold with 2000 idle connections: one read per request', async () => {
    const { measureLoad, target } = await runner();
    const m = await measureLoad(target('epoll').target, { mode: 'hold', idle: 2000, warmupMs: 200, durationMs: 800 }, { expectOpen: 2000 });
    expect(m.report.errors).toBe(0);
    expect(m.note).toBeUndefined();
    const ratio = m.counters!.reads / m.report.requests;
    expect(ratio).toBeGreaterThan(0.97);
    expect(ratio).toBeLessThan(1.03);
  });

  it('rr with 1000 connections: one read per request, but for the requests in flight at the edges', async () => {
    const { measureLoad, target } = await runner();
    const connections = 1000;
    const m = await measureLoad(target('epoll').target, { mode: 'rr', connections, warmupMs: 200, durationMs: 800 }, { expectOpen: connections });
    expect(m.report.errors).toBe(0);
    expect(m.note).toBeUndefined();
    const { reads } = m.counters!;
    expect(reads / m.report.requests).toBeGreaterThan(0.97);
    expect((reads - 2 * connections) / m.report.requests).toBeLessThan(1.03);
  });
});
