// The experiments `netmodels bench --experiment <name>` runs beside idle and
// cores (lib/bench/idle.ts, lib/bench/cores.ts): each one a table, a chart and JSON, each usable alone.
import { blocking } from './blocking';
import { busy } from './busy';
import { churn } from './churn';
import type { Experiment } from './runner';
import { selectVsFork } from './select-vs-fork';
import { sigio } from './sigio';
import { trigger } from './trigger';

export const EXPERIMENTS: Record<string, Experiment<any>> = {
  blocking,
  churn,
  busy,
  'select-vs-fork': selectVsFork,
  trigger,
  sigio,
};

export type { Experiment, ExperimentOptions } from './runner';
