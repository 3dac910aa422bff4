// The idle-connections experiment: the latency of one active connection
// while N idle ones are open, per event model.
import { csv, fmt, grid, pivot, round, type Column, type GridRow } from '../format';
import { loadgenReport as loadgen, type LoadReport } from '../loadgen';
import { nativeModels } from '../models/index';
import { Progress, START_STOP_MS } from './progress';
import { figure, figureText, interleaved, loadFailed, medianRound, type WithRuns } from './rounds';
import { holdsIdle, modelRows, notBuilt, selectTargets, startTarget, type RunningTarget, type Target } from './targets';

export const IDLE_COUNTS = [0, 250, 500, 1000, 5000];

export interface IdlePoint {
  model: string;
  idle: number;
  report: LoadReport | null;
  skipped?: string;
  /** Skipped because this build lacks the model. */
  unavailable?: boolean;
}

/** Latency of one active connection while `idle` idle ones are open. */
export async function runIdle(config: { durationMs: number; warmupMs: number; messageSize: number; counts: number[]; rounds?: number }): Promise<WithRuns<IdlePoint>[]> {
  // The models that wait for readiness or completion over every connection
  // at once: what watching N idle ones costs them is the question (sigio,
  // which waits for queued signals, has an experiment of its own).
  const targets = selectTargets(modelRows((spec) => spec.waits === 'readiness' || spec.waits === 'completion'));
  const built = new Set(nativeModels());
  const rounds = config.rounds ?? 1;
  // A model with a descriptor limit (select: FD_SETSIZE) stops below it.
  const countsOf = (t: Target) => config.counts.filter((idle) => holdsIdle(t.label, idle));
  const cases = targets.filter((t) => built.has(t.model!)).flatMap((target) => countsOf(target).map((idle) => ({ target, idle })));
  const progress = new Progress(cases.length * rounds, config.warmupMs + config.durationMs + START_STOP_MS);
  const tries = await interleaved(cases, rounds, async ({ target, idle }, i, round): Promise<IdlePoint> => {
    progress.begin(`${target.label} with ${idle} idle`, i + 1, cases.length, round, rounds);
    let server: RunningTarget | undefined;
    try {
      server = await startTarget(target, ['--backlog', '8192']);
      const report = await loadgen({
        port: server.port,
        mode: 'hold',
        idle,
        messageSize: config.messageSize,
        durationMs: config.durationMs,
        warmupMs: config.warmupMs,
        expect: 'uppercase',
        onProgress: progress.update,
      });
      return { model: target.label, idle, report };
    } catch (err) {
      return { model: target.label, idle, report: null, skipped: (err as Error).message };
    } finally {
      progress.end();
      await server?.stop();
    }
  });
  const measured = tries.map((t) => medianRound(t, (p) => p.report?.rps ?? 0, loadFailed));
  const unavailable = targets
    .filter((t) => !built.has(t.model!))
    .flatMap((t) => config.counts.map((idle): IdlePoint => ({ model: t.label, idle, report: null, skipped: notBuilt(t.model!), unavailable: true })));
  // In the targets' order, as the table reads them.
  return targets.flatMap((t) => [...measured, ...unavailable].filter((p) => p.model === t.label));
}

/** One cell per model and idle count: `p50/p99 (req/s)`; CSV: one record per point. */
export function idleTable(points: IdlePoint[], format: 'table' | 'md' | 'csv' = 'table'): string {
  if (format === 'csv') {
    return csv(
      ['model', 'idle', 'p50_us', 'p99_us', 'rps', 'connected', 'errors', 'skipped'],
      points.map((p) => [
        p.model,
        p.idle,
        p.report?.latencyUs.p50,
        p.report?.latencyUs.p99,
        round(p.report?.rps, 0),
        p.report?.connected,
        p.report ? p.report.errors + p.report.mismatches : undefined,
        p.skipped,
      ]),
    );
  }
  const t = pivot(points, (p) => p.idle, (p) => p.model, { rows: true });
  const columns: Column[] = [{ title: 'idle', width: 6 }, ...t.cols.map((m) => ({ title: `${m} p50/p99 us (req/s)`, width: 34 }))];
  const rows: GridRow[] = t.cells(String, (p, idle) => {
    const r = p.report;
    if (!r) return `skipped: ${p.skipped}`;
    const held = r.connected < idle + 1 ? ` held ${r.connected}` : '';
    return `${fmt(r.latencyUs.p50)}/${fmt(r.latencyUs.p99)} (${figureText(figure(p, (q) => q.report?.rps))})${held}`;
  });
  return grid(format, columns, rows);
}
