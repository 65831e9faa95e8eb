import { Kafka, logLevel } from 'kafkajs';
import { inject } from 'vitest';
import type { TestProject } from 'vitest/node';
import { startApacheKafka } from '../../src/embedded/apache-kafka.js';
import { createTopicsAndWait } from '../../src/io/kafka/topic-layout.js';

/**
 * Global setup of the e2e project: one Apache Kafka broker (KRaft, one node) for every e2e
 * test file, started once per test run.
 *
 * Tests reach it through `sharedKafka()` below. Conventions: each test creates its own
 * uniquely named topics and consumer groups (`uniqueName()`), so files stay independent of
 * each other and of order. The shared broker is never broken on purpose: a test that kills,
 * freezes or restarts brokers starts its own cluster with `startApacheKafka()` and stops it
 * in `afterAll`.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the shared broker. */
    kafkaBootstrap: string[];
    /** Its Apache Kafka version. */
    kafkaVersion: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const kafka = await startApacheKafka({ brokers: 1 });
  console.log(
    `e2e: Apache Kafka ${kafka.version} (KRaft, 1 node) at ${kafka.bootstrapServers.join(',')}, ` +
      `serving after ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  project.provide('kafkaBootstrap', kafka.bootstrapServers);
  project.provide('kafkaVersion', kafka.version);
  return async () => {
    await kafka.stop();
  };
}

export interface SharedKafka {
  readonly bootstrapServers: string[];
  /** Creates a topic on the shared broker (replication factor 1), extra topic configs optional. */
  createTopic(name: string, partitions: number, configs?: Record<string, string>): Promise<void>;
}

/** The shared broker, for use inside e2e test files. */
export function sharedKafka(): SharedKafka {
  const bootstrapServers = inject('kafkaBootstrap');
  return {
    bootstrapServers,
    async createTopic(name, partitions, configs = {}) {
      const admin = new Kafka({
        clientId: 'e2e-admin',
        brokers: bootstrapServers,
        logLevel: logLevel.NOTHING,
      }).admin();
      await admin.connect();
      try {
        await createTopicsAndWait(admin, [
          {
            topic: name,
            numPartitions: partitions,
            replicationFactor: 1,
            configEntries: Object.entries(configs).map(([configName, value]) => ({
              name: configName,
              value,
            })),
          },
        ]);
      } finally {
        await admin.disconnect();
      }
    },
  };
}

/** A topic or group name no other test uses, readable in broker logs. */
export function uniqueName(purpose: string): string {
  return `${purpose}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
