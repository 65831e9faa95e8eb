import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type EmbeddedKafka,
  KafkaApiKey,
  KafkaErrorCode,
  startEmbeddedKafka,
} from '../../src/embedded/kafka-broker.js';
import { uniqueName } from '../setup/kafka-broker.global.js';
import { TestKafkaClients } from '../support/kafka-clients.js';

/**
 * librdkafka's mock cluster, kept for the one fault Apache Kafka cannot make on demand: an
 * exact number of protocol error answers to one request type (README, "The embedded Kafka
 * broker"). Producers run with `idempotent: false`: the mock cluster reports controller id 0
 * while its brokers are 1..N, and kafkajs sends the idempotent producer's InitProducerId to
 * the controller ("Broker 0 not found").
 */

let clients: TestKafkaClients | undefined;
afterEach(async () => {
  await clients?.closeAll();
});

describe('faults injected through the broker process stdin', () => {
  let broker: EmbeddedKafka;

  beforeAll(async () => {
    broker = await startEmbeddedKafka({ brokers: 3 });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('makes kafkajs retry injected Produce errors, and every message is stored exactly once', async () => {
    const topic = uniqueName('push-errors');
    await broker.createTopic(topic, 1);
    clients = new TestKafkaClients(broker.bootstrapServers, { idempotent: false });
    const producer = await clients.producer();
    let produceRequests = 0;
    producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiKey === KafkaApiKey.Produce) produceRequests++;
    });

    await broker.pushRequestErrors(KafkaApiKey.Produce, 2, KafkaErrorCode.NOT_LEADER_FOR_PARTITION);
    await broker.pushRequestErrors(KafkaApiKey.Produce, 2, KafkaErrorCode.REQUEST_TIMED_OUT);
    const sent = Array.from({ length: 10 }, (_, i) => `v${i}`);
    for (const value of sent) await producer.send({ topic, messages: [{ value }] });

    expect(produceRequests).toBe(sent.length + 4);
    expect((await clients.readAllValues(topic)).sort()).toEqual([...sent].sort());
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
