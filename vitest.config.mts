import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Real sockets, threads and processes on a shared 2-core machine: be generous.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // Two files at a time: most of a file's time is spent waiting (plateaus,
    // timeouts, round trips), and every check a test makes (fds, threads,
    // children, RSS) is of its own worker process, so two workers do not see
    // each other's servers.
    maxWorkers: 2,
  },
});
