// Every model configuration the shared suites run against. A new model
// appends its configs here.
import { nativeModels } from '../lib/index';
import type { ConformanceConfig } from './conformance';

// uring is in the build only where liburing was found when it was compiled;
// test/uring.test.ts checks that a machine with liburing builds it, and how
// a build without it behaves.
const URING = nativeModels().includes('uring');

export const CONFIGS: ConformanceConfig[] = [
  { label: 'iterative', model: 'iterative' },
  { label: 'epoll level', model: 'epoll', options: { trigger: 'level' } },
  { label: 'epoll edge', model: 'epoll', options: { trigger: 'edge' } },
  { label: 'select', model: 'select' },
  { label: 'poll', model: 'poll' },
  { label: 'thread', model: 'thread' },
  { label: 'fork pidfd', model: 'fork', options: { reaper: 'pidfd' } },
  { label: 'fork sigchld', model: 'fork', options: { reaper: 'sigchld' } },
  ...(URING ? [{ label: 'uring', model: 'uring' as const }] : []),
  // 8 submission slots and 8 receive buffers: every test also runs with the
  // queue filling mid-round and the buffer ring running dry (-ENOBUFS).
  ...(URING ? [{ label: 'uring tiny ring', model: 'uring' as const, options: { entries: 8 } }] : []),
];
