import { defineConfig } from 'vitest/config';

import ShardsFirst from './test/sequencer';

// Files that measure: they run benchmarks in windows of a fraction of a
// second, hold a load generator to a fixed rate, or read the process's RSS
// (which V8's background GC, slowed by other work on the cores, leaves
// higher for a while: beside the suites, RSS after a burst once read 1.53x
// its start against a bound of 1.5x), and want the machine to themselves.
const MEASURING = ['test/experiments.test.ts', 'test/cli.test.ts', 'test/memory.test.ts', 'test/loadgen.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    // Real sockets, threads and processes on a shared 2-core machine: be generous.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    sequence: { sequencer: ShardsFirst },
    projects: [
      {
        extends: true,
        // Four files at a time on two cores: most of a file's time is spent
        // waiting (plateaus, timeouts, round trips: three kept 1.2 cores
        // busy on average), and every check a test makes (fds, threads,
        // children) is of its own worker process, so two workers do not see
        // each other's servers.
        test: { name: 'suites', include: ['test/**/*.test.ts'], exclude: MEASURING, maxWorkers: 4, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Then the measuring files, one at a time, alone.
        test: { name: 'measuring', include: MEASURING, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
