import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type Consumer, type EachBatchPayload, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type EmbeddedKafka,
  type EmbeddedKafkaControl,
  KafkaApiKey,
  KafkaErrorCode,
  startEmbeddedKafka,
} from '../../src/embedded/kafka-broker.js';
import { sharedKafka, uniqueName } from '../setup/kafka-broker.global.js';
import { until } from '../support/until.js';

const execFileAsync = promisify(execFile);

/**
 * The embedded broker serves real clients: kafkajs 2.2.4 (the worker's client) and kcat
 * (librdkafka, an independent implementation). Producers run with `idempotent: false`: the
 * mock cluster reports controller id 0 while its brokers are 1..N, and kafkajs sends the
 * idempotent producer's InitProducerId to the controller ("Broker 0 not found").
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

function kafkaFor(broker: EmbeddedKafkaControl): Kafka {
  return new Kafka({
    clientId: 'embedded-broker-e2e',
    brokers: broker.bootstrapServers,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 15 },
  });
}

async function connectedProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: false });
  await producer.connect();
  cleanups.push(() => producer.disconnect());
  return producer;
}

/**
 * The mock cluster delays a group's first join by 3 s and otherwise waits up to the session
 * timeout minus 1 s for members to rejoin, so a short session keeps rebalances quick; a short
 * fetch wait keeps heartbeats (sent between fetches) well inside it.
 */
async function connectedConsumer(kafka: Kafka, groupId: string): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId,
    heartbeatInterval: 300,
    sessionTimeout: 6_000,
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  cleanups.push(() => consumer.disconnect());
  return consumer;
}

/** Every value stored in the topic, read from the beginning by a fresh consumer group. */
async function readAllValues(kafka: Kafka, topic: string): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const stored = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);

  const values: string[] = [];
  const consumer = await connectedConsumer(kafka, uniqueName('reader'));
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      values.push(message.value?.toString() ?? '');
    },
  });
  await until(() => values.length >= stored, `${stored} stored messages of ${topic}`);
  return values;
}

describe('the embedded broker with kafkajs on the shared cluster', () => {
  const broker = sharedKafka();
  const kafka = kafkaFor(broker);

  it('delivers to a consumer group that commits offsets by hand, and the commits read back', async () => {
    const topic = uniqueName('manual-commit');
    const groupId = uniqueName('manual-commit-group');
    await broker.createTopic(topic, 2);

    const producer = await connectedProducer(kafka);
    const sent = Array.from({ length: 20 }, (_, i) => ({ key: `key-${i}`, value: `value-${i}` }));
    await producer.send({ topic, messages: sent });

    const consumer = await connectedConsumer(kafka, groupId);
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

    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
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
  });

  it('splits 4 partitions between two group members and moves them all to the survivor', async () => {
    const topic = uniqueName('rebalance');
    const groupId = uniqueName('rebalance-group');
    await broker.createTopic(topic, 4);

    const assignments = new Map<string, number[]>();
    const receivedBy = new Map<string, string[]>();
    const members = await Promise.all(
      ['first', 'second'].map(async (name) => {
        const consumer = await connectedConsumer(kafka, groupId);
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

    await members[0]?.disconnect();
    await until(() => assignedTo('second').length === 4, 'the survivor holding all four partitions');
    expect(assignedTo('second')).toEqual([0, 1, 2, 3]);

    const producer = await connectedProducer(kafka);
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
    const producer = await connectedProducer(kafka);
    await producer.send({
      topic,
      messages: [
        { key: 'conn-1', value: '{"n":1}', headers: { 'correlation-id': 'c-1', kind: 'upsert' } },
        { key: 'conn-2', value: '{"n":2}', headers: { 'correlation-id': 'c-2', kind: 'delete' } },
      ],
    });

    const { stdout } = await execFileAsync('kcat', [
      '-b',
      broker.bootstrapServers.join(','),
      '-C',
      '-t',
      topic,
      '-o',
      'beginning',
      '-e',
      '-q',
      '-f',
      '%k|%h|%s\\n',
    ]);

    expect(stdout.trim().split('\n')).toEqual([
      'conn-1|correlation-id=c-1,kind=upsert|{"n":1}',
      'conn-2|correlation-id=c-2,kind=delete|{"n":2}',
    ]);
  });
});

describe('faults injected through the broker process stdin', () => {
  let broker: EmbeddedKafka;
  let kafka: Kafka;

  beforeAll(async () => {
    broker = await startEmbeddedKafka({ brokers: 3 });
    kafka = kafkaFor(broker);
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('loses no message when a partition leader goes down and comes back mid-stream', async () => {
    const topic = uniqueName('broker-down');
    await broker.createTopic(topic, 3);
    // Leaders pinned (the mock picks them at random): only partition 0 depends on broker 2.
    const downBroker = 2;
    await broker.setPartitionLeader(topic, 0, downBroker);
    await broker.setPartitionLeader(topic, 1, 1);
    await broker.setPartitionLeader(topic, 2, 3);
    const producer = await connectedProducer(kafka);

    // One message per send, so a send waits only on its own partition's leader.
    const sendOne = (i: number) =>
      producer.send({ topic, messages: [{ key: `k${i}`, value: `m${i}`, partition: i % 3 }] });

    for (let i = 0; i < 60; i++) await sendOne(i);

    await broker.brokerDown(downBroker);
    let up = false;
    const deliveredToDownPartitionWhileDown: number[] = [];
    const duringOutage = Array.from({ length: 60 }, (_, k) => 60 + k).map((i) => ({
      toDownPartition: i % 3 === 0,
      sent: sendOne(i).then(() => {
        if (i % 3 === 0 && !up) deliveredToDownPartitionWhileDown.push(i);
      }),
    }));
    // Messages to the partitions whose leaders are up keep flowing during the outage.
    const elsewhere = await Promise.allSettled(
      duringOutage.filter((s) => !s.toDownPartition).map((s) => s.sent),
    );
    await broker.brokerUp(downBroker);
    up = true;
    const all = await Promise.allSettled(duringOutage.map((s) => s.sent));

    expect(elsewhere.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(all.filter((r) => r.status === 'rejected')).toEqual([]);
    for (let i = 120; i < 180; i++) await sendOne(i);

    expect(deliveredToDownPartitionWhileDown).toEqual([]);
    const values = await readAllValues(kafka, topic);
    expect(new Set(values)).toEqual(new Set(Array.from({ length: 180 }, (_, i) => `m${i}`)));
  });

  it('makes kafkajs retry injected Produce errors, and every message is stored exactly once', async () => {
    const topic = uniqueName('push-errors');
    await broker.createTopic(topic, 1);
    const producer = await connectedProducer(kafka);
    let produceRequests = 0;
    producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiKey === KafkaApiKey.Produce) produceRequests++;
    });

    await broker.pushRequestErrors(KafkaApiKey.Produce, 2, KafkaErrorCode.NOT_LEADER_FOR_PARTITION);
    await broker.pushRequestErrors(KafkaApiKey.Produce, 2, KafkaErrorCode.REQUEST_TIMED_OUT);
    const sent = Array.from({ length: 10 }, (_, i) => `v${i}`);
    for (const value of sent) await producer.send({ topic, messages: [{ value }] });

    expect(produceRequests).toBe(sent.length + 4);
    expect((await readAllValues(kafka, topic)).sort()).toEqual([...sent].sort());
  });

  it('answers ERR for a command it cannot carry out, and the wrapper rejects', async () => {
    await expect(broker.brokerDown(9)).rejects.toThrow(/broker id must be -1 or 1\.\.3/);
    await expect(broker.command('no-such-command')).rejects.toThrow(/unknown command/);
    await broker.ping();
  });
});

describe('starting the broker', () => {
  it('reports a broker that exits before it is ready with its exit code and stderr', async () => {
    const twice = [
      { name: 'declared-twice', partitions: 1 },
      { name: 'declared-twice', partitions: 2 },
    ];
    await expect(startEmbeddedKafka({ topics: twice })).rejects.toThrow(
      /exited before it was ready \(code 1\); its stderr:\n.*cannot create topic declared-twice: .*already exists/,
    );
  });

  it('refuses options the broker could not honour before starting it', async () => {
    await expect(startEmbeddedKafka({ topics: [{ name: 'has space', partitions: 1 }] })).rejects.toThrow(
      /topic names are 1 to 249 characters/,
    );
    await expect(startEmbeddedKafka({ brokers: 0 })).rejects.toThrow();
  });
});
