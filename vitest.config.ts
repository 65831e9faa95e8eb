import { defineConfig } from 'vitest/config';

// Test kinds are told apart by file suffix (see STYLE.md):
//   *.unit.test.ts / *.model.test.ts  pure logic, no sockets
//   *.int.test.ts                     real HTTP servers in-process (Drive emulator, s3rver)
//   *.e2e.test.ts                     everything above plus the embedded Kafka broker
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.unit.test.ts', 'test/**/*.model.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['test/**/*.int.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.test.ts'],
          globalSetup: ['test/setup/kafka-broker.global.ts'],
          testTimeout: 120_000,
          // Teardown stops workers that drain, leave their group and flush; on a loaded
          // 2-core machine a minute was seen not to be enough once.
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
