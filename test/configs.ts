// Every model configuration the shared suites run against. A new model
// appends its configs here.
import type { ConformanceConfig } from './conformance';

export const CONFIGS: ConformanceConfig[] = [
  { label: 'iterative', model: 'iterative' },
  { label: 'epoll level', model: 'epoll', options: { trigger: 'level' } },
  { label: 'epoll edge', model: 'epoll', options: { trigger: 'edge' } },
  { label: 'select', model: 'select' },
  { label: 'poll', model: 'poll' },
  { label: 'thread', model: 'thread' },
  { label: 'fork pidfd', model: 'fork', options: { reaper: 'pidfd' } },
  { label: 'fork sigchld', model: 'fork', options: { reaper: 'sigchld' } },
  ...(['select', 'poll', 'epoll'] as const).flatMap((model) =>
    (['reuseport', 'handoff', 'shared'] as const).map(
      (balance): ConformanceConfig => ({ label: `${model} x3 ${balance}`, model, options: { loops: 3, balance } }),
    ),
  ),
  { label: 'epoll edge x3 handoff', model: 'epoll', options: { loops: 3, balance: 'handoff', trigger: 'edge' } },
];
