// Claim 1: one client connected and idle, a second one sends. Which models
// answer the second, and how soon.
import * as net from 'node:net';

import { Progress, startTarget, START_STOP_MS, type RunningTarget } from '../bench';
import { csv, fmt, grid, round, type Column } from '../format';
import { barChartSvg } from '../svg';
import { sleep, target, type Experiment, type ExperimentOptions, type TableFormat } from './runner';

export const BLOCKING_MODELS = ['iterative', 'fork', 'prefork', 'thread', 'threadpool', 'select', 'poll', 'epoll-level', 'uring'];

export interface BlockingPoint {
  model: string;
  /** The second client's first reply, ms; null: none within `timeoutMs`. */
  firstReplyMs: number | null;
  timeoutMs: number;
  /** When the first reply did not come in time: how long after the first client left it came (null: never). */
  afterFirstLeftMs?: number | null;
  skipped?: string;
  unavailable?: boolean;
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
  const points: BlockingPoint[] = [];
  const rows = BLOCKING_MODELS.map((name) => target(name));
  const progress = new Progress(rows.filter((r) => r.built).length, timeoutMs + START_STOP_MS);
  let step = 0;
  for (const { target: t, built, why } of rows) {
    if (!built) {
      points.push({ model: t.label, firstReplyMs: null, timeoutMs, skipped: why, unavailable: true });
      continue;
    }
    progress.begin(t.label, ++step, progress.total, 1, 1);
    let server: RunningTarget | undefined;
    try {
      server = await startTarget(t);
      points.push({ model: t.label, timeoutMs, ...(await probe(server, timeoutMs, o.messageSize)) });
    } catch (err) {
      points.push({ model: t.label, firstReplyMs: null, timeoutMs, skipped: (err as Error).message });
    } finally {
      progress.end();
      await server?.stop();
    }
  }
  return points;
}

function cell(p: BlockingPoint): string {
  if (p.skipped) return `skipped: ${p.skipped}`;
  return p.firstReplyMs === null ? `> ${fmt(p.timeoutMs)} ms (blocked)` : `${fmt(p.firstReplyMs, 2)} ms`;
}

function afterCell(p: BlockingPoint): string {
  if (p.afterFirstLeftMs === undefined) return '-';
  return p.afterFirstLeftMs === null ? 'never (5 s)' : `${fmt(p.afterFirstLeftMs, 2)} ms`;
}

function table(points: BlockingPoint[], format: TableFormat): string {
  if (format === 'csv') {
    return csv(
      ['model', 'first_reply_ms', 'timeout_ms', 'blocked', 'after_first_left_ms', 'skipped'],
      points.map((p) => [p.model, round(p.firstReplyMs ?? undefined, 3), p.timeoutMs, p.skipped ? undefined : String(p.firstReplyMs === null), round(p.afterFirstLeftMs ?? undefined, 3), p.skipped]),
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
  return barChartSvg('A second client while the first is connected and idle', [
    {
      axis: `the second client's first reply, ms (blocked: cut at ${timeout} ms)`,
      bars: ran.map((p) => ({ label: p.model, value: p.firstReplyMs ?? p.timeoutMs })),
      label: (v) => (v >= timeout ? `> ${timeout} ms (blocked)` : `${v.toFixed(2)} ms`),
    },
  ]);
}

export const blocking: Experiment<BlockingPoint> = {
  name: 'blocking',
  summary: 'one client connected and idle, a second one sends: its first reply per model (--duration: how long it waits)',
  run,
  table,
  svg,
  failures: (points) => points.filter((p) => p.skipped && !p.unavailable).map((p) => `${p.model}: skipped: ${p.skipped}`),
};
