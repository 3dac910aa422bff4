// The cores experiment: req/s of epoll and the C ceiling as loops are added,
// beside the thread model and node:net, which have no loops.
import * as os from 'node:os';

import { csv, fmt, grid, pivot, round, type Column, type GridRow } from '../format';
import type { LoadReport } from '../loadgen';
import { Progress, START_STOP_MS } from './progress';
import { figure, figureText, interleaved, loadFailed, medianRound, type WithRuns } from './rounds';
import { measureRr, type RrConfig } from './rr';
import { ceilingTarget, defaultLoadThreads, selectTargets, type Target } from './targets';

export interface CoresPoint {
  label: string;
  loops: number;
  report: LoadReport | null;
  skipped?: string;
}

/** 1, 2, 4, ... up to `cpus` (always ending at `cpus`). */
export function loopCounts(cpus = os.availableParallelism()): number[] {
  const counts: number[] = [];
  for (let n = 1; n < cpus; n *= 2) counts.push(n);
  counts.push(cpus);
  return counts;
}

/**
 * req/s of epoll and the C ceiling at 1, 2, 4 ... loops, beside the thread
 * model and node:net (which have no loops), under the same rr load.
 */
export async function runCores(config: RrConfig & { counts: number[] }): Promise<WithRuns<CoresPoint>[]> {
  const max = Math.max(...config.counts);
  const rounds = config.rounds ?? 1;
  const cases = [
    ...config.counts.flatMap((loops) => [
      { target: selectTargets(['epoll-level'], loops)[0], loops },
      { target: ceilingTarget(loops), loops },
    ]),
    ...[...selectTargets(['thread']), { label: 'node:net', kind: 'node' as const }].map((target: Target) => ({ target, loops: 0 })),
  ];
  const progress = new Progress(cases.length * rounds, config.warmupMs + config.durationMs + START_STOP_MS);
  const tries = await interleaved(cases, rounds, async ({ target, loops }, i, round): Promise<CoresPoint> => {
    const label = target.label.replace(/ x\d+$/, '');
    progress.begin(target.label, i + 1, cases.length, round, rounds);
    try {
      return { label, loops, report: await measureRr(target, { ...config, threads: config.threads ?? defaultLoadThreads(max) }, progress.update) };
    } catch (err) {
      return { label, loops, report: null, skipped: (err as Error).message };
    } finally {
      progress.end();
    }
  });
  return tries.map((t) => medianRound(t, (p) => p.report?.rps ?? 0, loadFailed));
}

/** req/s per loop count for epoll and the ceiling, and their ratio; CSV: one record per point. */
export function coresTable(points: CoresPoint[], format: 'table' | 'md' | 'csv' = 'table'): string {
  if (format === 'csv') {
    return csv(
      ['server', 'loops', 'rps', 'p50_us', 'p99_us', 'errors', 'skipped'],
      points.map((p) => [
        p.label,
        p.loops === 0 ? undefined : p.loops,
        round(p.report?.rps, 0),
        p.report?.latencyUs.p50,
        p.report?.latencyUs.p99,
        p.report ? p.report.errors + p.report.mismatches : undefined,
        p.skipped,
      ]),
    );
  }
  const t = pivot(
    points.filter((p) => p.loops > 0),
    (p) => p.loops,
    (p) => p.label,
    { rows: true },
  );
  const columns: Column[] = [
    { title: 'loops', width: 6 },
    ...t.cols.map((l) => ({ title: `${l} req/s`, width: 20 })),
    { title: 'x C', width: 6 },
  ];
  const rows: GridRow[] = t.rows.map((n) => {
    const model = points.find((x) => x.loops === n && x.label !== 'C ceiling');
    const ceiling = t.at(n, 'C ceiling');
    const ratio = model?.report && ceiling?.report ? model.report.rps / ceiling.report.rps : undefined;
    return [
      String(n),
      ...t.cols.map((l) => {
        const p = t.at(n, l);
        return p?.report ? figureText(figure(p as WithRuns<CoresPoint>, (q) => q.report?.rps)) : 'skipped';
      }),
      ratio === undefined ? '-' : `${fmt(ratio, 2)}x`,
    ];
  });
  for (const p of points.filter((x) => x.loops === 0)) {
    rows.push({ label: p.label, note: p.report ? `${fmt(p.report.rps)} req/s (no loops)` : `skipped: ${p.skipped}` });
  }
  return grid(format, columns, rows);
}
