import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One Dawn device per process; forks keep Dawn's native state out of shared worker threads.
    pool: 'forks',
    maxWorkers: process.env.CI ? 2 : undefined,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
