import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.spec.ts'],
    // Long fault runs (minutes each) stay out of `npm test`: `npm run test:long` runs them.
    exclude: ['node_modules/**', '.daqflow/**', ...(process.env['DAQFLOW_LONG_SPECS'] === '1' ? [] : ['**/*.long.spec.ts'])],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: more workers than that only makes the servers and specs fight.
    maxWorkers: 2,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results.json' },
  },
});
