import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'web/src/**/*.test.ts', 'web/src/**/*.test.tsx'],
    pool: 'forks',
    // Most test files wait on something else (child processes, PostgreSQL, Chromium, loopback HTTP): two at a time
    // even on 2 cores, where the default (one per core beyond the first) would run them one by one (823 s against 527 s).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
