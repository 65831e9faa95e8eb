import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { EachBatchPayload } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApacheKafka } from '../../src/embedded/apache-kafka.js';
import { kcatRead } from '../io/kafka/kafka-fixture.js';
import { sharedKafka, uniqueName } from '../setup/kafka-broker.global.js';
import { TestKafkaClients } from '../support/kafka-clients.js';
import { until } from '../support/until.js';

/**
 * Apache Kafka 4 serves what the worker asks of it through kafkajs 2.2.4 (whose newest
 * protocol versions are all still served after KIP-896: README, "The embedded Kafka
 * broker"): consumer groups with manual commits, rebalances, the idempotent producer, and
 * kcat (librdkafka, an independent client) reading what kafkajs wrote.
 */

describe('kafkajs on the shared Apache Kafka broker', () => {
  const broker = sharedKafka();
  let clients: TestKafkaClients;
  beforeEach(() => {
    clients = new TestKafkaClients(broker.bootstrapServers, { idempotent: true });
  });
  afterEach(async () => {
    await clients.closeAll();
  });

  it('delivers to a consumer group that commits offsets by hand, and the commits read back', async () => {
    const topic = uniqueName('manual-commit');
    const groupId = uniqueName('manual-commit-group');
    await broker.createTopic(topic, 2);

    const producer = await clients.producer();
    const sent = Array.from({ length: 20 }, (_, i) => ({ key: `key-${i}`, value: `value-${i}` }));
    await producer.send({ topic, messages: sent });

    const consumer = await clients.consumer(groupId);
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: string[] = [];
    const committed = new Map<number, string>();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }: EachBatchPayload) => {
        for (const message of batch.messages) {
          received.push(message.value?.toString() ?? '');
          resolveOffset(message.offset);
        }
        const next = String(Number(batch.lastOffset()) + 1);
        await consumer.commitOffsets([{ topic, partition: batch.partition, offset: next }]);
        committed.set(batch.partition, next);
        await heartbeat();
      },
    });
    await until(() => received.length >= sent.length, 'every message');

    expect(received.sort()).toEqual(sent.map((m) => m.value).sort());

    const admin = clients.kafka.admin();
    await admin.connect();
    const highWatermarks = await admin.fetchTopicOffsets(topic);
    const [readBack] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committedByPartition = Object.fromEntries(
      (readBack?.partitions ?? []).map((p) => [p.partition, p.offset]),
    );
    expect(committedByPartition).toEqual(
      Object.fromEntries(highWatermarks.map((p) => [p.partition, p.high])),
    );
    expect(Object.fromEntries(committed)).toEqual(committedByPartition);
    expect(highWatermarks.reduce((sum, p) => sum + Number(p.high), 0)).toBe(sent.length);
    await admin.disconnect();
  });

  it('splits 4 partitions between two group members and moves them all to the survivor', async () => {
    const topic = uniqueName('rebalance');
    const groupId = uniqueName('rebalance-group');
    await broker.createTopic(topic, 4);

    const assignments = new Map<string, number[]>();
    const receivedBy = new Map<string, string[]>();
    const members = await Promise.all(
      ['first', 'second'].map(async (name) => {
        const consumer = await clients.consumer(groupId);
        receivedBy.set(name, []);
        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          assignments.set(name, [...(payload.memberAssignment[topic] ?? [])].sort());
        });
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ message }) => {
            receivedBy.get(name)?.push(message.value?.toString() ?? '');
          },
        });
        return consumer;
      }),
    );
    const assignedTo = (name: string) => assignments.get(name) ?? [];

    await until(
      () => assignedTo('first').length === 2 && assignedTo('second').length === 2,
      'two members holding two partitions each',
    );
    expect([...assignedTo('first'), ...assignedTo('second')].sort()).toEqual([0, 1, 2, 3]);

    const left = Date.now();
    await members[0]?.disconnect();
    await until(() => assignedTo('second').length === 4, 'the survivor holding all four partitions');
    // A member that leaves says so: Kafka rebalances at once, with no session timeout to wait.
    console.log(`e2e: a leaving member's partitions moved to the survivor in ${Date.now() - left} ms`);
    expect(assignedTo('second')).toEqual([0, 1, 2, 3]);

    const producer = await clients.producer();
    const values = [0, 1, 2, 3].map((partition) => `after-rebalance-${partition}`);
    await producer.send({ topic, messages: values.map((value, partition) => ({ value, partition })) });
    await until(
      () => values.every((v) => receivedBy.get('second')?.includes(v)),
      'the survivor reading every partition',
    );
  });

  it('writes messages that kcat reads back with their keys and headers', async () => {
    const topic = uniqueName('kcat');
    await broker.createTopic(topic, 1);
    const producer = await clients.producer();
    await producer.send({
      topic,
      messages: [
        { key: 'conn-1', value: '{"n":1}', headers: { 'correlation-id': 'c-1', kind: 'upsert' } },
        { key: 'conn-2', value: '{"n":2}', headers: { 'correlation-id': 'c-2', kind: 'delete' } },
      ],
    });

    const read = await kcatRead(broker, topic);
    expect(read.map((m) => `${m.key}|${m.headers}|${m.value}`)).toEqual([
      'conn-1|correlation-id=c-1,kind=upsert|{"n":1}',
      'conn-2|correlation-id=c-2,kind=delete|{"n":2}',
    ]);
  });
});

describe('starting Apache Kafka', () => {
  it('says in one line that Java is missing, without starting anything', async () => {
    const javaHome = process.env.JAVA_HOME;
    process.env.JAVA_HOME = '/nonexistent-java';
    try {
      await expect(startApacheKafka()).rejects.toThrow(/needs Java 17 or newer .* set JAVA_HOME$/);
    } finally {
      if (javaHome === undefined) delete process.env.JAVA_HOME;
      else process.env.JAVA_HOME = javaHome;
    }
  });

  it('says which port is taken when a node cannot listen', async () => {
    // The port is held by another process, as by a broker left running.
    const squatter = spawn(
      process.execPath,
      [
        '-e',
        "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port))",
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    try {
      const [line] = (await once(squatter.stdout, 'data')) as [Buffer];
      const port = Number(line.toString().trim());
      await expect(startApacheKafka({ ports: [port] })).rejects.toThrow(
        new RegExp(`port ${port} is already in use`),
      );
    } finally {
      squatter.kill();
    }
  });
});
