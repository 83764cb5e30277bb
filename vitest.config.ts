import { defineConfig } from 'vitest/config';

/** Timeout for tests and hooks; real nats-server processes start per test file. */
const TEST_TIMEOUT_MS = 60_000;

export default defineConfig({
  test: {
    include: ['spec/**/*.spec.ts'],
    testTimeout: TEST_TIMEOUT_MS,
    hookTimeout: TEST_TIMEOUT_MS,
    pool: 'forks',
    fileParallelism: true,
    // 2-core CI machine: at most two test files (and their servers) at once.
    maxWorkers: 2,
  },
});
