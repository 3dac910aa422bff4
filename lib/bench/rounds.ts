// Rounds, spreads and verdicts for every experiment. A point measured in N
// interleaved rounds (every case once per round, so a slow spell of a shared
// machine falls on every case alike) is its median round, keeps every round
// in `runs`, and each figure read from it is a Figure: the median with the
// lowest and highest round beside it. Two figures differ only when their
// ranges do not overlap and their medians are `margin` apart; otherwise the
// answer is "within noise".
import { fmt } from '../format';
import type { LoadReport } from '../loadgen';

/** A figure over the rounds: the median round's value and the lowest and highest. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  /** Rounds it comes from: with 1 there is no spread to see. */
  n: number;
}

/** A point with its rounds: `runs` holds every round (absent after a single one). */
export type WithRuns<P> = P & { runs?: P[] };

/** The median of some numbers (the lower middle one for an even count); undefined for none. */
export function medianOf(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
}

/** Median, lowest and highest of the defined values; undefined when none is. */
export function figureOf(values: readonly (number | undefined)[]): Figure | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (v.length === 0) return undefined;
  return { median: medianOf(v)!, min: Math.min(...v), max: Math.max(...v), n: v.length };
}

/** One figure of a point over its rounds (or its one value). */
export function figure<P>(p: WithRuns<P> | undefined, get: (round: P) => number | undefined): Figure | undefined {
  if (!p) return undefined;
  return figureOf(p.runs && p.runs.length > 0 ? p.runs.map(get) : [get(p)]);
}

/**
 * Runs `measure` for every case, `rounds` times, interleaved: round 1 runs
 * every case, then round 2... The tries of each case, in case order.
 */
export async function interleaved<C, P>(cases: readonly C[], rounds: number, measure: (c: C, index: number, round: number) => Promise<P>): Promise<P[][]> {
  const tries: P[][] = cases.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    for (let i = 0; i < cases.length; i++) tries[i].push(await measure(cases[i], i, round));
  }
  return tries;
}

/**
 * The round that stands for a point: the median by `rank`, with every round
 * in `runs` (when there were several). A round that failed (`failed`) is the
 * one shown instead, so that the run reports it and exits 1 rather than
 * hiding it behind the others.
 */
export function medianRound<P extends object>(tries: P[], rank: (p: P) => number, failed: (p: P) => boolean): WithRuns<P> {
  const bad = tries.find(failed);
  if (bad) return bad;
  if (tries.length === 1) return tries[0];
  const sorted = [...tries].sort((a, b) => rank(a) - rank(b));
  return { ...sorted[(sorted.length - 1) >> 1], runs: tries };
}

/** A load round failed: no report, or errors in it. */
export function loadFailed(p: { report: LoadReport | null }): boolean {
  return !p.report || p.report.errors + p.report.mismatches > 0;
}

/**
 * `100k-158k`, `3.1-3.4`: a range compact enough for a table cell, its ends
 * rounded outwards so that it always holds the median shown beside it.
 */
export function rangeText(f: Figure, digits = 0): string {
  // One step of the last digit shown (a thousand from 10k up); toFixed drops
  // the float error of the division (7.0 / 0.1 = 70.00000000000001).
  const end = (v: number, out: (x: number) => number) => {
    const k = Math.abs(v) >= 1e4;
    const step = k ? 1e3 : 10 ** -digits;
    const n = out(Number((v / step).toFixed(6))) * step;
    return k ? `${fmt(n / 1e3)}k` : fmt(n, digits);
  };
  const lo = end(f.min, Math.floor);
  const hi = end(f.max, Math.ceil);
  return lo === hi ? lo : `${lo}-${hi}`;
}

/** A figure for a cell: `142,315 [100k-158k]`; the median alone after one round. */
export function figureText(f: Figure | undefined, digits = 0): string {
  if (!f) return '-';
  return f.n > 1 ? `${fmt(f.median, digits)} [${rangeText(f, digits)}]` : fmt(f.median, digits);
}

/** Medians this far apart (as a ratio) count as a difference, ranges apart too. */
export const MARGIN = 1.1;

export interface Comparison {
  /** 'higher': a's figure is above b's, outside the spread; 'noise': the ranges overlap or the medians are within the margin. */
  side: 'higher' | 'lower' | 'noise';
  /** a's median over b's. */
  ratio?: number;
  /** `within noise: select 125k-158k, epoll 100k-142k`, or `epoll 0.70x select (epoll 100k-120k, select 140k-158k)`. */
  text: string;
}

/**
 * Compares two figures: a side only when their ranges over the rounds do
 * not overlap and their medians differ by more than `margin` (a ratio);
 * otherwise within noise. A missing figure compares as not measured.
 */
export function compare(a: { name: string; figure: Figure | undefined }, b: { name: string; figure: Figure | undefined }, margin = MARGIN, digits = 0): Comparison {
  const fa = a.figure;
  const fb = b.figure;
  if (!fa || !fb) return { side: 'noise', text: `not measured (${!fa ? a.name : b.name})` };
  const ratio = fb.median > 0 ? fa.median / fb.median : undefined;
  const apart = fa.min > fb.max || fb.min > fa.max;
  // Against a median of 0 (a model that served nothing) any other is far.
  const far = ratio === undefined ? fa.median !== fb.median : ratio > margin || ratio < 1 / margin;
  const ranges = `${a.name} ${rangeText(fa, digits)}, ${b.name} ${rangeText(fb, digits)}`;
  if (!apart || !far) return { side: 'noise', ratio, text: `within noise: ${ranges}` };
  const side = fa.median > fb.median ? 'higher' : 'lower';
  const how = ratio === undefined ? `above ${b.name}` : `${fmt(ratio, ratio < 10 ? 2 : 0)}x ${b.name}`;
  return { side, ratio, text: `${a.name} ${how} (${ranges})` };
}
