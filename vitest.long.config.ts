import { defineConfig } from 'vitest/config';

// `npm run test:long` only (not part of `npm test`, which stays within minutes; CI runs
// both): the kill -9 crash loop and the five-minute broker outage, against the embedded
// broker of the e2e global setup (the outage test starts a broker of its own).
export default defineConfig({
  test: {
    name: 'long',
    reporters: ['default'],
    include: ['test/long/**/*.long.test.ts'],
    globalSetup: ['test/setup/kafka-broker.global.ts'],
    testTimeout: 900_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
