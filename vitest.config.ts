import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.spec.ts'],
    exclude: ['node_modules/**', '.daqflow/**'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: more workers than that only makes the servers and specs fight.
    maxWorkers: 2,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results.json' },
  },
});
