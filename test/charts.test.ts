// The bench's tables and charts as a reader gets them, rendered from fixed
// results: every label inside the chart, every bar visible, columns that line
// up whatever the rows hold, colours that mean something, and a noisy run's
// caveat on the chart itself.
import { describe, expect, it } from 'vitest';

import { coresChartSvg, rrChartSvg } from '../lib/bench/charts';
import type { CoresPoint } from '../lib/bench/cores';
import { blocking, type BlockingPoint } from '../lib/bench/experiments/blocking';
import type { BenchRow, RrRun } from '../lib/bench/rr';
import { textWidth } from '../lib/bench/svg';
import type { LoadReport } from '../lib/loadgen';
import { MODEL_TABLE } from '../lib/models/index';

/** The chart's width, from its root element. */
function widthOf(svg: string): number {
  return Number(/<svg [^>]*width="(\d+)"/.exec(svg)![1]);
}

interface Text {
  x: number;
  anchor: string;
  text: string;
}

function texts(svg: string): Text[] {
  return [...svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].flatMap((m) => {
    const x = /(?:^| )x="([\d.]+)"/.exec(m[1]);
    if (!x) return []; // a rotated axis title
    return [{ x: Number(x[1]), anchor: /text-anchor="(\w+)"/.exec(m[1])?.[1] ?? 'start', text: m[2].replace(/&gt;/g, '>').replace(/&lt;/g, '<').replace(/&amp;/g, '&') }];
  });
}

/** Where a text begins and ends, horizontally. */
function extent(t: Text): [number, number] {
  const w = textWidth(t.text);
  if (t.anchor === 'end') return [t.x - w, t.x];
  if (t.anchor === 'middle') return [t.x - w / 2, t.x + w / 2];
  return [t.x, t.x + w];
}

/** The bars (the background has no x, the legend's swatches are circles). */
function bars(svg: string): { width: number; fill: string }[] {
  return [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="\d+" fill="([^"]+)"\/>/g)].map((m) => ({ width: Number(m[1]), fill: m[2] }));
}

const blocked = (model: string): BlockingPoint => ({ model, firstReplyMs: null, timeoutMs: 1000, afterFirstLeftMs: 12.5 });
const answered = (model: string, ms: number): BlockingPoint => ({ model, firstReplyMs: ms, timeoutMs: 1000 });

// What `bench --experiment blocking` measured on 2 cores: a blocked server beside answers in a tenth of a millisecond.
const BLOCKING: BlockingPoint[] = [
  blocked('iterative'),
  answered('fork', 1.2),
  answered('prefork 64', 0.21),
  answered('thread', 0.35),
  answered('threadpool 64', 0.12),
  answered('select', 0.09),
  answered('epoll level', 0.08),
];

describe('the blocking chart and table', () => {
  it('keeps the "> 1000 ms (blocked)" label inside the chart, and every bar visible beside it', () => {
    const svg = blocking.svg(BLOCKING);
    const width = widthOf(svg);
    const label = texts(svg).find((t) => t.text === '> 1000 ms (blocked)');
    expect(label).toBeDefined();
    for (const t of texts(svg)) {
      const [from, to] = extent(t);
      expect(from, t.text).toBeGreaterThanOrEqual(0);
      expect(to, t.text).toBeLessThanOrEqual(width);
    }
    // A bar a thousandth of the blocked one is still a bar a reader sees (on a linear axis it was 1 px).
    const drawn = bars(svg);
    expect(drawn).toHaveLength(BLOCKING.length);
    for (const b of drawn) expect(b.width).toBeGreaterThanOrEqual(20);
    expect(svg).toContain('(log scale)');
  });

  it('lines its columns up whatever the rows hold ("threadpool 64" is longer than the column title)', () => {
    const lines = blocking.table(BLOCKING, 'table').split('\n');
    expect(lines.some((l) => l.startsWith('threadpool 64 '))).toBe(true);
    // The last column is right-aligned: every line ends at the same place.
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    // And the second column's right edge is where the header's is.
    const header = lines[0];
    const edge = header.indexOf('second client: first reply') + 'second client: first reply'.length;
    for (const l of lines.slice(1)) expect(l[edge - 1], l).not.toBe(' ');
  });
});

function report(rps: number): RrRun {
  return {
    requests: rps,
    rps,
    readBytesPerSec: rps * 64,
    latencyUs: { p50: 50, p99: 200 },
    errors: 0,
    mismatches: 0,
  } as unknown as LoadReport;
}

function row(label: string, kind: BenchRow['kind'], rps: number, model?: BenchRow['model']): BenchRow {
  return { label, kind, ...(model ? { model } : {}), report: report(rps), runs: [report(rps * 0.8), report(rps), report(rps * 1.3)], rpsMin: rps * 0.8, rpsMax: rps * 1.3, spread: 0.5 };
}

const RR: BenchRow[] = [
  row('fork', 'model', 4000, 'fork'),
  row('prefork 64', 'model', 20000, 'prefork'),
  row('thread', 'model', 15000, 'thread'),
  row('threadpool 64', 'model', 18000, 'threadpool'),
  row('select', 'model', 24000, 'select'),
  row('epoll level', 'model', 25000, 'epoll'),
  row('node:net', 'node', 9000),
  row('C ceiling', 'ceiling', 26000),
];

describe('the rr chart', () => {
  const context = { rounds: 3, machine: '2 cores, AMD EPYC, load 3.10 2.50 2.00, node v20.0.0', date: '2026-12-07T01:00:00.000Z', warning: 'warning: the machine is noisy: rerun with --rounds 7 (rounds differ by over 10%: fork 50%)' };

  it('gives each family one colour and node:net and the C ceiling colours no model has', () => {
    const svg = rrChartSvg(RR, { connections: 64, messageSize: 64 }, context);
    const fill = (label: string) => {
      const at = svg.indexOf(`>${label}</text>`);
      return /fill="([^"]+)"/.exec(svg.slice(at))![1];
    };
    const byModel = new Map(RR.filter((r) => r.model).map((r) => [r.label, fill(r.label)]));
    for (const [a, ca] of byModel) {
      for (const [b, cb] of byModel) {
        const same = MODEL_TABLE[RR.find((r) => r.label === a)!.model!].spec.family === MODEL_TABLE[RR.find((r) => r.label === b)!.model!].spec.family;
        expect(ca === cb, `${a} ${ca}, ${b} ${cb}`).toBe(same);
      }
    }
    const modelColours = new Set(byModel.values());
    expect(modelColours.has(fill('node:net'))).toBe(false);
    expect(modelColours.has(fill('C ceiling'))).toBe(false);
    expect(fill('node:net')).not.toBe(fill('C ceiling'));
    // A legend says what each colour is.
    for (const family of new Set(RR.filter((r) => r.model).map((r) => MODEL_TABLE[r.model!].spec.family))) expect(svg).toContain(`>${family} models</text>`);
  });

  it("carries a noisy run's warning, its rounds, the machine and the date, inside the chart", () => {
    const svg = rrChartSvg(RR, { connections: 64, messageSize: 64 }, context);
    const all = texts(svg).map((t) => t.text).join(' ');
    expect(all).toContain('warning: the machine is noisy');
    expect(all).toContain('fork 50%');
    expect(all).toContain('median of 3 interleaved rounds');
    expect(all).toContain(context.machine);
    expect(all).toContain(context.date);
    for (const t of texts(svg)) expect(extent(t)[1], t.text).toBeLessThanOrEqual(widthOf(svg));
    // Without a warning, none is drawn.
    expect(rrChartSvg(RR, { connections: 64, messageSize: 64 }, { ...context, warning: null })).not.toContain('noisy');
  });
});

describe('the cores chart', () => {
  it('has whole loop counts on its x axis', () => {
    const point = (label: string, loops: number, rps: number): CoresPoint => ({ label, loops, report: report(rps) as LoadReport });
    const svg = coresChartSvg([point('epoll level', 1, 20000), point('C ceiling', 1, 25000), point('epoll level', 2, 30000), point('C ceiling', 2, 40000), point('node:net', 0, 9000)], [1, 2]);
    // The x ticks are the texts on the axis line below the plot, left of the legend.
    const ticks = texts(svg).filter((t) => t.anchor === 'middle' && /^[\d.]+$/.test(t.text));
    expect(ticks.length).toBeGreaterThan(0);
    for (const t of ticks) expect(Number.isInteger(Number(t.text)), t.text).toBe(true);
  });
});
