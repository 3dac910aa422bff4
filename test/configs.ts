// Every model configuration the shared suites run against. A new model
// appends its configs here.
import type { Connection } from '../lib/index';
import { nativeModels } from '../lib/index';
import type { ConformanceConfig } from './conformance';
import { toUpperAscii } from './helpers';

/**
 * The uppercase echo, in JavaScript: what the suite expects, through the JS
 * bridge. It keeps backpressure as a net.Socket handler must (the node:net
 * baseline of the bench does the same): no reading while write() says wait.
 */
export function jsUppercase(conn: Connection): void {
  conn.on('data', (chunk: Buffer) => {
    if (!conn.write(toUpperAscii(chunk))) {
      conn.pause();
      conn.once('drain', () => conn.resume());
    }
  });
}

// uring is built from the kernel headers alone, so it is in every Linux
// build (test/uring.test.ts checks that); the test still asks the build.
const URING = nativeModels().includes('uring');

const ALL: ConformanceConfig[] = [
  { label: 'iterative', model: 'iterative' },
  { label: 'epoll level', model: 'epoll', options: { trigger: 'level' } },
  { label: 'epoll edge', model: 'epoll', options: { trigger: 'edge' } },
  { label: 'select', model: 'select' },
  { label: 'poll', model: 'poll' },
  { label: 'thread', model: 'thread' },
  { label: 'threadpool', model: 'threadpool' },
  { label: 'fork pidfd', model: 'fork', options: { reaper: 'pidfd' } },
  { label: 'fork sigchld', model: 'fork', options: { reaper: 'sigchld' } },
  // A prefork child serves one client at a time: the suite's 200-client test
  // needs 200 children at once; every other test needs 10 at most.
  { label: 'prefork', model: 'prefork', options: { workers: 16 }, crowd: { workers: 200 } },
  ...(['select', 'poll', 'epoll'] as const).flatMap((model) =>
    (['reuseport', 'handoff', 'shared'] as const).map(
      (balance): ConformanceConfig => ({ label: `${model} x3 ${balance}`, model, options: { loops: 3, balance } }),
    ),
  ),
  { label: 'epoll edge x3 handoff', model: 'epoll', options: { loops: 3, balance: 'handoff', trigger: 'edge' } },
  // Edge loops sharing one listener (EPOLLEXCLUSIVE): once failed start() with EINVAL.
  { label: 'epoll edge x3 shared', model: 'epoll', options: { loops: 3, balance: 'shared', trigger: 'edge' } },
  { label: 'iterative js', model: 'iterative', options: { handler: jsUppercase } },
  { label: 'thread js', model: 'thread', options: { handler: jsUppercase } },
  { label: 'threadpool js', model: 'threadpool', options: { handler: jsUppercase } },
  { label: 'select js', model: 'select', options: { handler: jsUppercase } },
  { label: 'poll js', model: 'poll', options: { handler: jsUppercase } },
  { label: 'epoll level js', model: 'epoll', options: { handler: jsUppercase } },
  { label: 'epoll edge js', model: 'epoll', options: { handler: jsUppercase, trigger: 'edge' } },
  { label: 'epoll x3 js', model: 'epoll', options: { handler: jsUppercase, loops: 3 } },
  ...(URING ? [{ label: 'uring', model: 'uring' as const }] : []),
  // 8 submission slots and 8 receive buffers: every test also runs with the
  // queue filling mid-round and the buffer ring running dry (-ENOBUFS).
  ...(URING ? [{ label: 'uring tiny ring', model: 'uring' as const, options: { entries: 8 } }] : []),
  ...(URING
    ? (['reuseport', 'handoff', 'shared'] as const).map(
        (balance): ConformanceConfig => ({ label: `uring x3 ${balance}`, model: 'uring', options: { loops: 3, balance } }),
      )
    : []),
  { label: 'sigio', model: 'sigio' },
  { label: 'sigio signalfd', model: 'sigio', options: { dequeue: 'signalfd' } },
  { label: 'sigio x3', model: 'sigio', options: { loops: 3 } },
  { label: 'sigio signalfd x3 handoff', model: 'sigio', options: { loops: 3, balance: 'handoff', dequeue: 'signalfd' } },
  { label: 'sigio js', model: 'sigio', options: { handler: jsUppercase } },
  { label: 'sigio signalfd js', model: 'sigio', options: { handler: jsUppercase, dequeue: 'signalfd' } },
  ...(URING ? [{ label: 'uring js', model: 'uring' as const, options: { handler: jsUppercase } }] : []),
  // Without receive bundles, as on kernels before 6.14: one completion per buffer.
  ...(URING ? [{ label: 'uring recv single', model: 'uring' as const, options: { recv: 'single' } }] : []),
  ...(URING ? [{ label: 'uring tiny ring single', model: 'uring' as const, options: { entries: 8, recv: 'single' } }] : []),
  // Without incrementally consumed buffers, as on kernels before 6.12: whole
  // 2 KiB buffers under bundles (the default configs above consume large
  // buffers incrementally where the kernel can; the tiny ring: one of 4 KiB).
  ...(URING ? [{ label: 'uring whole buffers', model: 'uring' as const, options: { buffers: 'whole' } }] : []),
  ...(URING ? [{ label: 'uring tiny ring whole', model: 'uring' as const, options: { entries: 8, buffers: 'whole' } }] : []),
  ...(URING ? [{ label: 'uring x3 js', model: 'uring' as const, options: { handler: jsUppercase, loops: 3 } }] : []),
];

// The sanitizer job (scripts/sanitize.sh) runs every suite that iterates the
// configs under ASan and UBSan, ~3x slower: there it takes one config per
// native code path (each model and trigger; each composite balance once; the
// JS bridge on an event loop, a blocking model and the completion loop)
// instead of every combination, which keeps CI within its time. select and
// poll run there as loops of a composite, epoll level with the JS bridge:
// the same backend code under the same suite.
const SANITIZE = new Set([
  'iterative', 'epoll edge', 'thread', 'threadpool', 'fork pidfd',
  'fork sigchld', 'prefork', 'select x3 shared', 'poll x3 reuseport', 'epoll edge x3 handoff',
  'epoll level js', 'thread js', 'uring', 'uring tiny ring', 'uring js', 'uring x3 handoff',
  'sigio', 'sigio signalfd x3 handoff',
]);

export const CONFIGS: ConformanceConfig[] =
  process.env.NETMODELS_CONFIGS === 'sanitize' ? ALL.filter((c) => SANITIZE.has(c.label)) : ALL;

/** The k-th of n interleaved parts of a config list (k from 1): every config lands in exactly one. */
export function shard<T>(configs: readonly T[], k: number, n: number): T[] {
  return configs.filter((_, i) => i % n === k - 1);
}
