// One list per counter: the keys stats() carries are the addon's lists
// (native/core/stats.h, native/models/model.h), which must be lib's
// (lib/stats-keys.ts, checked against ServerStats, SyscallStats and
// WorkerStats when it compiles), for every model's running server.
import { afterEach, describe, expect, it } from 'vitest';

import { binding } from '../lib/binding';
import { MODELS, createServer } from '../lib/index';
import { STATS_COUNTERS, SYSCALL_COUNTERS, WORKER_COUNTERS } from '../lib/stats-keys';
import { cleanup, trackServer } from './helpers';

afterEach(cleanup);

describe('stats() keys', () => {
  it("the addon's counter lists are lib's, in the same order", () => {
    const keys = binding.statsKeys;
    expect(keys.stats).toEqual([...STATS_COUNTERS]);
    expect(keys.syscalls).toEqual([...SYSCALL_COUNTERS]);
    expect(keys.worker).toEqual([...WORKER_COUNTERS]);
  });

  it.each(MODELS.map((m) => [m]))('%s: a running server reports every counter as a number', async (model) => {
    const server = trackServer(createServer(model, { port: 0 }));
    await server.start();
    const s = server.stats() as unknown as Record<string, unknown>;
    for (const key of STATS_COUNTERS) expect(typeof s[key], `stats().${key}`).toBe('number');
    const syscalls = s.syscalls as Record<string, unknown>;
    expect(Object.keys(syscalls).sort()).toEqual([...SYSCALL_COUNTERS].sort());
    for (const key of SYSCALL_COUNTERS) expect(typeof syscalls[key], `stats().syscalls.${key}`).toBe('number');
    for (const w of (s.workers ?? []) as Record<string, unknown>[]) {
      for (const key of WORKER_COUNTERS) expect(typeof w[key], `stats().workers[].${key}`).toBe('number');
      expect(Object.keys(w.syscalls as object).sort()).toEqual([...SYSCALL_COUNTERS].sort());
    }
    await server.stop();
  });
});
