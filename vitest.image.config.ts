import { defineConfig } from 'vitest/config';

// `npm run test:image` only (not part of `npm test`): the built image started as the
// StatefulSet's pod, against the embedded broker of the e2e global setup.
export default defineConfig({
  test: {
    name: 'image',
    reporters: ['default'],
    include: ['test/image/**/*.image.test.ts'],
    globalSetup: ['test/setup/kafka-broker.global.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
