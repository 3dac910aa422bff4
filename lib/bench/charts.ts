// The bench's own charts: the rr rows, the idle and the cores experiments.
import type { LoadReport } from '../loadgen';
import { MODEL_TABLE } from '../models/index';
import type { ModelFamily } from '../spec';
import type { CoresPoint } from './cores';
import type { IdlePoint } from './idle';
import type { BenchRow, RrConfig } from './rr';
import { barChartSvg, lineChartSvg, type BarPanel, type ChartNotes } from './svg';

/** One colour per family of models, and one each for the baselines, which no model shares. */
const FAMILY_COLORS: Record<ModelFamily, string> = {
  blocking: '#f28e2b',
  process: '#59a14f',
  event: '#4e79a7',
  datagram: '#b07aa1',
};
const BASELINE_COLORS: Record<string, string> = { 'node:net': '#9c755f', 'node:http': '#ff9da7', 'C ceiling': '#555555' };

/** The colour of a family of models, the same in every chart. */
export function familyColor(family: ModelFamily): string {
  return FAMILY_COLORS[family];
}

/** A row's colour: its model's family's, or its baseline's. */
function rowColor(row: BenchRow): string {
  if (row.kind === 'model' && row.model) return familyColor(MODEL_TABLE[row.model].spec.family);
  if (row.kind === 'ceiling') return BASELINE_COLORS['C ceiling'];
  return BASELINE_COLORS[row.label] ?? '#bab0ac';
}

/** The legend of the colours the rows use, in the rows' order. */
function rowLegend(rows: BenchRow[]): { label: string; color: string }[] {
  const seen = new Map<string, string>();
  for (const r of rows) {
    const label = r.kind === 'model' && r.model ? `${MODEL_TABLE[r.model].spec.family} models` : r.kind === 'ceiling' ? 'C ceiling' : r.label;
    if (!seen.has(label)) seen.set(label, rowColor(r));
  }
  return [...seen].map(([label, color]) => ({ label, color }));
}

/** What the rr chart says of its run: the noise warning first, then how it was measured, where and when. */
export interface RrChartContext {
  rounds: number;
  /** The machine, in the header's words: cores, CPU, load average, node. */
  machine: string;
  /** ISO 8601 time of the run. */
  date: string;
  warning?: string | null;
}

/** The rr rows: req/s with the rounds' spread, and the ratios to the C ceiling and node:net. */
export function rrChartSvg(rows: BenchRow[], config: Pick<RrConfig, 'connections' | 'messageSize'>, context?: RrChartContext): string {
  const measured = rows.filter((r) => r.report);
  const spread = (r: BenchRow) => {
    const rps = r.runs?.map((x) => x.rps) ?? [];
    return rps.length > 1 ? { min: r.rpsMin ?? Math.min(...rps), max: r.rpsMax ?? Math.max(...rps) } : {};
  };
  const panels: BarPanel[] = [
    {
      axis: 'requests/s (whiskers: slowest and fastest round)',
      bars: measured.map((r) => ({ label: r.label, value: r.report!.rps, color: rowColor(r), ...spread(r) })),
    },
  ];
  const ratio = (axis: string, value: (r: BenchRow) => number | undefined) => {
    const bars = measured.filter((r) => value(r) !== undefined).map((r) => ({ label: r.label, value: value(r)!, color: rowColor(r) }));
    if (bars.length > 0) panels.push({ axis, bars, reference: 1, label: (v) => `${v.toFixed(2)}x` });
  };
  ratio('x C ceiling (same-round ratios)', (r) => r.vsCeiling);
  ratio('x node:net (same-round ratios)', (r) => r.vsNode);
  const notes: ChartNotes = { legend: rowLegend(measured) };
  if (context) {
    notes.lines = [
      ...(context.warning ? [context.warning] : []),
      `${context.rounds > 1 ? `median of ${context.rounds} interleaved rounds` : 'one round'}; ${context.machine}; ${context.date}`,
    ];
  }
  return barChartSvg(`rr: ${config.connections} connections, ${config.messageSize}-byte messages`, panels, notes);
}

/** The idle experiment: p50, p99 and req/s of the active connection against the idle count. */
export function idleChartSvg(points: IdlePoint[]): string {
  const models = [...new Set(points.map((p) => p.model))];
  const panel = (yLabel: string, y: (r: LoadReport) => number) => ({
    yLabel,
    series: models
      .map((name) => ({ name, points: points.filter((p) => p.model === name && p.report).map((p) => ({ x: p.idle, y: y(p.report!) })) }))
      .filter((line) => line.points.length > 0),
  });
  return lineChartSvg('One active connection beside N idle ones', 'idle connections', [
    panel('p50 latency (us)', (r) => r.latencyUs.p50),
    panel('p99 latency (us)', (r) => r.latencyUs.p99),
    panel('requests/s', (r) => r.rps),
  ]);
}

/** The cores experiment: req/s against loops; the models without loops as flat lines. */
export function coresChartSvg(points: CoresPoint[], counts: number[]): string {
  const series = [...new Set(points.filter((p) => p.loops > 0).map((p) => p.label))].map((label) => ({
    name: label,
    points: points.filter((p) => p.label === label && p.report).map((p) => ({ x: p.loops, y: p.report!.rps })),
  }));
  for (const p of points.filter((x) => x.loops === 0 && x.report)) {
    series.push({ name: p.label, points: counts.map((x) => ({ x, y: p.report!.rps })) });
  }
  return lineChartSvg('requests/s vs event loops', 'loops', [{ yLabel: 'requests/s', series }]);
}
