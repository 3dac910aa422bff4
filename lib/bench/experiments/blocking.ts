// Claim 1: one client connected and idle, a second one sends. Which models
// answer the second, and how soon.
import * as net from 'node:net';

import { csv, fmt, grid, round, type Column } from '../../format';
import { familyColor } from '../charts';
import { Progress, START_STOP_MS } from '../progress';
import { figure, interleaved, medianRound, rangeText, type Figure } from '../rounds';
import { barChartSvg } from '../svg';
import { modelRows, specOfRow, startTarget, type RunningTarget } from '../targets';
import { roundsOf, sleep, target, type Experiment, type ExperimentOptions, type TableFormat } from './runner';

export interface BlockingPoint {
  model: string;
  /** The second client's first reply, ms; null: none within `timeoutMs`. */
  firstReplyMs: number | null;
  timeoutMs: number;
  /** When the first reply did not come in time: how long after the first client left it came (null: never). */
  afterFirstLeftMs?: number | null;
  skipped?: string;
  unavailable?: boolean;
  /** Every round, when there were several (the point is the median one). */
  runs?: BlockingPoint[];
  /** With several rounds: the first reply over the rounds that got one, median, lowest and highest. */
  spread?: { firstReplyMs?: Figure };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the ms until `bytes` bytes of reply arrived, or null after `timeoutMs`. */
function replyWithin(socket: net.Socket, bytes: number, timeoutMs: number, start: bigint): Promise<number | null> {
  return new Promise((resolve) => {
    let got = 0;
    const finish = (v: number | null) => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(v);
    };
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= bytes) finish(Number(process.hrtime.bigint() - start) / 1e6);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.on('data', onData);
  });
}

async function probe(server: RunningTarget, timeoutMs: number, size: number): Promise<Pick<BlockingPoint, 'firstReplyMs' | 'afterFirstLeftMs'>> {
  const first = await connect(server.port);
  const second = await connect(server.port).catch((err) => {
    first.destroy();
    throw err;
  });
  try {
    // The first client is accepted and idle: it sent nothing.
    await sleep(50);
    const start = process.hrtime.bigint();
    const pending = replyWithin(second, size, timeoutMs, start);
    second.write(Buffer.alloc(size, 'a'));
    const firstReplyMs = await pending;
    if (firstReplyMs !== null) return { firstReplyMs };
    const left = process.hrtime.bigint();
    const after = replyWithin(second, size, 5000, left);
    first.destroy();
    return { firstReplyMs, afterFirstLeftMs: await after };
  } finally {
    first.destroy();
    second.destroy();
  }
}

async function run(o: ExperimentOptions): Promise<BlockingPoint[]> {
  const timeoutMs = o.durationMs;
  // Every model that takes connections, its first bench row each.
  const rows = modelRows(() => true).map((name) => target(name));
  const rounds = roundsOf(o);
  const runnable = rows.filter((r) => r.built).length;
  const progress = new Progress(runnable * rounds, timeoutMs + START_STOP_MS);
  let step = 0;
  const tries = await interleaved(rows, rounds, async ({ target: t, built, why }, i, round): Promise<BlockingPoint> => {
    if (i === 0) step = 0;
    if (!built) return { model: t.label, firstReplyMs: null, timeoutMs, skipped: why, unavailable: true };
    progress.begin(t.label, ++step, runnable, round, rounds);
    let server: RunningTarget | undefined;
    try {
      server = await startTarget(t);
      return { model: t.label, timeoutMs, ...(await probe(server, timeoutMs, o.messageSize)) };
    } catch (err) {
      return { model: t.label, firstReplyMs: null, timeoutMs, skipped: (err as Error).message };
    } finally {
      progress.end();
      await server?.stop();
    }
  });
  // A blocked round ranks above every answered one.
  return tries.map((t) => {
    if (t[0].unavailable) return t[0];
    const p = medianRound(t, (r) => r.firstReplyMs ?? Infinity, (r) => r.skipped !== undefined);
    return p.runs ? { ...p, spread: { firstReplyMs: firstReplyOf(p) } } : p;
  });
}

/** The first reply over the rounds that got one. */
export const firstReplyOf = (p: BlockingPoint) => figure(p, (r) => r.firstReplyMs ?? undefined);

function cell(p: BlockingPoint): string {
  if (p.skipped) return `skipped: ${p.skipped}`;
  const answered = p.runs?.filter((r) => r.firstReplyMs !== null).length;
  const of = p.runs && answered! > 0 && answered! < p.runs.length ? ` (answered in ${answered} of ${p.runs.length} rounds)` : '';
  if (p.firstReplyMs === null) return `> ${fmt(p.timeoutMs)} ms (blocked)${of}`;
  const f = firstReplyOf(p);
  return `${fmt(p.firstReplyMs, 2)} ms${f && f.n > 1 ? ` [${rangeText(f, 2)}]` : ''}${of}`;
}

function afterCell(p: BlockingPoint): string {
  if (p.afterFirstLeftMs === undefined) return '-';
  return p.afterFirstLeftMs === null ? 'never (5 s)' : `${fmt(p.afterFirstLeftMs, 2)} ms`;
}

function table(points: BlockingPoint[], format: TableFormat): string {
  if (format === 'csv') {
    return csv(
      ['model', 'first_reply_ms', 'timeout_ms', 'blocked', 'after_first_left_ms', 'skipped', 'first_reply_min_ms', 'first_reply_max_ms'],
      points.map((p) => {
        const f = p.runs ? firstReplyOf(p) : undefined;
        return [p.model, round(p.firstReplyMs ?? undefined, 3), p.timeoutMs, p.skipped ? undefined : String(p.firstReplyMs === null), round(p.afterFirstLeftMs ?? undefined, 3), p.skipped, round(f?.min, 3), round(f?.max, 3)];
      }),
    );
  }
  const columns: Column[] = [
    { title: 'model', width: 12, left: true },
    { title: 'second client: first reply', width: 26 },
    { title: 'after the first client left', width: 27 },
  ];
  return grid(format, columns, points.map((p) => (p.skipped ? { label: p.model, note: cell(p) } : [p.model, cell(p), afterCell(p)])));
}

function svg(points: BlockingPoint[]): string {
  const ran = points.filter((p) => !p.skipped);
  const timeout = ran[0]?.timeoutMs ?? 1000;
  const families = [...new Set(ran.map((p) => specOfRow(p.model).family))];
  return barChartSvg('A second client while the first is connected and idle', [
    {
      axis: `the second client's first reply, ms (blocked: cut at ${timeout} ms)`,
      bars: ran.map((p) => {
        const f = p.firstReplyMs !== null ? firstReplyOf(p) : undefined;
        const color = familyColor(specOfRow(p.model).family);
        return { label: p.model, value: p.firstReplyMs ?? p.timeoutMs, color, ...(f && f.n > 1 ? { min: f.min, max: f.max } : {}) };
      }),
      label: (v) => (v >= timeout ? `> ${timeout} ms (blocked)` : `${v.toFixed(2)} ms`),
      // An answer in a tenth of a millisecond and a second of waiting, side by side.
      log: true,
    },
  ], { legend: families.map((family) => ({ label: `${family} models`, color: familyColor(family) })) });
}

export const blocking: Experiment<BlockingPoint> = {
  name: 'blocking',
  summary: 'one client connected and idle, a second one sends: its first reply per model (--duration: how long it waits)',
  run,
  table,
  svg,
  failures: (points) => points.filter((p) => p.skipped && !p.unavailable).map((p) => `${p.model}: skipped: ${p.skipped}`),
};
