import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Real sockets, threads and processes on a shared 2-core machine: be generous.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    // Suites that open thousands of sockets or fork hundreds of children fight
    // for the same two cores; running files one after another keeps them honest.
    fileParallelism: false,
  },
});
