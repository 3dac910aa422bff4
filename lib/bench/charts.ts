// The bench's own charts: the rr rows, the idle and the cores experiments.
import type { LoadReport } from '../loadgen';
import type { CoresPoint } from './cores';
import type { IdlePoint } from './idle';
import type { BenchRow, RrConfig } from './rr';
import { barChartSvg, lineChartSvg, type BarPanel } from './svg';

/** The rr rows: req/s with the rounds' spread, and the ratios to the C ceiling and node:net. */
export function rrChartSvg(rows: BenchRow[], config: Pick<RrConfig, 'connections' | 'messageSize'>): string {
  const measured = rows.filter((r) => r.report);
  const spread = (r: BenchRow) => {
    const rps = r.runs?.map((x) => x.rps) ?? [];
    return rps.length > 1 ? { min: r.rpsMin ?? Math.min(...rps), max: r.rpsMax ?? Math.max(...rps) } : {};
  };
  const panels: BarPanel[] = [
    {
      axis: 'requests/s (whiskers: slowest and fastest round)',
      bars: measured.map((r) => ({ label: r.label, value: r.report!.rps, ...spread(r) })),
    },
  ];
  const ratio = (axis: string, value: (r: BenchRow) => number | undefined) => {
    const bars = measured.filter((r) => value(r) !== undefined).map((r) => ({ label: r.label, value: value(r)! }));
    if (bars.length > 0) panels.push({ axis, bars, reference: 1, label: (v) => `${v.toFixed(2)}x` });
  };
  ratio('x C ceiling (same-round ratios)', (r) => r.vsCeiling);
  ratio('x node:net (same-round ratios)', (r) => r.vsNode);
  return barChartSvg(`rr: ${config.connections} connections, ${config.messageSize}-byte messages`, panels);
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
