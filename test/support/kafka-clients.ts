import { type Consumer, Kafka, logLevel, type Producer } from 'kafkajs';
import { Murmur2Partitioner } from '../../src/io/kafka/murmur2-partitioner.js';
import { uniqueName } from '../setup/kafka-broker.global.js';
import { until } from './until.js';

/**
 * Plain kafkajs clients for tests that exercise a broker itself (not the worker's I/O), each
 * disconnected by `closeAll()` (call it in `afterEach`).
 */
export class TestKafkaClients {
  readonly kafka: Kafka;
  private readonly cleanups: Array<() => Promise<void>> = [];

  constructor(
    bootstrapServers: string[],
    private readonly options: { idempotent: boolean },
  ) {
    this.kafka = new Kafka({
      clientId: 'broker-e2e',
      brokers: bootstrapServers,
      logLevel: logLevel.NOTHING,
      retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 15 },
    });
  }

  async producer(): Promise<Producer> {
    const producer = this.kafka.producer({
      createPartitioner: Murmur2Partitioner,
      idempotent: this.options.idempotent,
      ...(this.options.idempotent ? { maxInFlightRequests: 1 } : {}),
    });
    await producer.connect();
    this.cleanups.push(() => producer.disconnect());
    return producer;
  }

  /** A short session and fetch wait, so heartbeats (sent between fetches) stay well inside it. */
  async consumer(groupId: string): Promise<Consumer> {
    const consumer = this.kafka.consumer({
      groupId,
      heartbeatInterval: 300,
      sessionTimeout: 6_000,
      maxWaitTimeInMs: 500,
    });
    await consumer.connect();
    this.cleanups.push(() => consumer.disconnect());
    return consumer;
  }

  /** Every value stored in the topic, read from the beginning by a fresh consumer group. */
  async readAllValues(topic: string): Promise<string[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const stored = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);

    const values: string[] = [];
    const consumer = await this.consumer(uniqueName('reader'));
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value?.toString() ?? '');
      },
    });
    await until(() => values.length >= stored, `${stored} stored messages of ${topic}`);
    return values;
  }

  async closeAll(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  }
}
