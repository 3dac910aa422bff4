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
  // A prefork child serves one client at a time: the suite's 200-client test
  // needs 200 children at once; every other test needs 5 at most.
  { label: 'prefork', model: 'prefork', options: { workers: 200 } },
  { label: 'threadpool', model: 'threadpool' },
];
