import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type EmbeddedKafka,
  KafkaApiKey,
  KafkaErrorCode,
  startEmbeddedKafka,
} from '../../../src/embedded/kafka-broker.js';
import { subscribe } from '../../../src/instrumentation.js';
import {
  createMessageSink,
  errorRecordHeaders,
  MessagesRefusedError,
  type OutboundMessage,
  partitionForKey,
  recordHeaders,
} from '../../../src/io/kafka/message-sink.js';
import { sharedKafka, uniqueName } from '../../setup/kafka-broker.global.js';
import { until } from '../../support/until.js';
import { capturingLogger, cleanupList, kcatProduce, kcatRead, workerKafka } from './kafka-fixture.js';

const cleanups = cleanupList();
afterEach(() => cleanups.runAll());

const broker = sharedKafka();

async function sinkOn(
  options: {
    maxRequestBytes?: number;
    maxMessageBytes?: number;
    compression?: 'gzip' | 'none';
    maxInFlightRequests?: number;
  } = {},
) {
  const { logger } = capturingLogger();
  const sink = await createMessageSink(workerKafka(broker, logger), {
    idempotent: true,
    logger,
    ...options,
  });
  cleanups.add(() => sink.close());
  return sink;
}

/** kafkajs decodes each message with its record batch's context; one produce request makes one batch per partition. */
const batchContext = z.object({ batchContext: z.object({ firstOffset: z.string() }) });

/** Values of a single-partition topic with the first offset of the record batch each arrived in. */
async function readWithBatches(
  topic: string,
  count: number,
): Promise<Array<{ value: string; batch: string }>> {
  const kafka = new Kafka({
    clientId: 'batch-reader',
    brokers: broker.bootstrapServers,
    logLevel: logLevel.NOTHING,
  });
  const consumer = kafka.consumer({
    groupId: uniqueName('batch-reader'),
    sessionTimeout: 6_000,
    heartbeatInterval: 300,
  });
  await consumer.connect();
  cleanups.add(() => consumer.disconnect());
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const seen: Array<{ value: string; batch: string }> = [];
  await consumer.run({
    eachMessage: async ({ message }) => {
      seen.push({
        value: message.value?.toString() ?? '',
        batch: batchContext.parse(message).batchContext.firstOffset,
      });
    },
  });
  await until(() => seen.length >= count, `${count} messages of ${topic}`);
  return seen;
}

describe('the message sink on the embedded broker', () => {
  it('produces every message with its key and the contract headers, and a tombstone, readable by kcat', async () => {
    const topic = uniqueName('sink-exact');
    await broker.createTopic(topic, 3);
    const sink = await sinkOn();

    const messages: OutboundMessage[] = Array.from({ length: 40 }, (_, i) => {
      const connectionId = `conn-${i % 7}`;
      const record = {
        idempotency_key: `google-drive:${connectionId}:file:f${i}`,
        resource_type: 'file' as const,
      };
      return {
        topic,
        key: connectionId,
        value: JSON.stringify({ n: i, connectionId }),
        headers: recordHeaders(record, `trigger-${i % 3}`),
      };
    });
    await sink.send(messages);
    await sink.send([
      { topic, key: 'conn-gone', value: null, headers: { 'content-type': 'application/json' } },
    ]);

    const landed = await kcatRead(broker, topic);
    expect(landed).toHaveLength(41);
    const byValue = new Map(landed.filter((m) => m.value !== null).map((m) => [m.value, m]));
    for (const [i, sent] of messages.entries()) {
      const got = byValue.get(sent.value);
      expect(got?.key).toBe(sent.key);
      expect(got?.headers).toBe(
        `content-type=application/json,idempotency-key=google-drive:${sent.key}:file:f${i},resource-type=file,correlation-id=trigger-${i % 3}`,
      );
      expect(got?.partition).toBe(partitionForKey(sent.key, 3));
    }
    const tombstone = landed.find((m) => m.key === 'conn-gone');
    expect(tombstone?.value).toBeNull();

    // One connection's messages keep the order they were sent in.
    const conn0 = landed.filter((m) => m.key === 'conn-0').map((m) => JSON.parse(m.value ?? '{}').n);
    expect(conn0).toEqual([0, 7, 14, 21, 28, 35]);
  });

  it('places keys where the Java partitioner does (kcat with librdkafka murmur2_random)', async () => {
    const byKcat = uniqueName('murmur2-kcat');
    const bySink = uniqueName('murmur2-sink');
    await broker.createTopic(byKcat, 12);
    await broker.createTopic(bySink, 12);
    const keys = [
      'conn_abc',
      'conn-1',
      'a',
      'integration-connection-42',
      'ünïcødé-connection',
      ...Array.from({ length: 40 }, (_, i) => `connection-${i * 7919}`),
    ];

    await kcatProduce(
      broker,
      byKcat,
      keys.map((key) => `${key}:x`),
    );
    const sink = await sinkOn();
    await sink.send(keys.map((key) => ({ topic: bySink, key, value: 'x', headers: {} })));

    const partitionsOf = async (topic: string) =>
      Object.fromEntries((await kcatRead(broker, topic)).map((m) => [m.key, m.partition]));
    const javaLike = await partitionsOf(byKcat);
    expect(Object.keys(javaLike)).toHaveLength(keys.length);
    expect(await partitionsOf(bySink)).toEqual(javaLike);
    expect(Object.fromEntries(keys.map((key) => [key, partitionForKey(key, 12)]))).toEqual(javaLike);
    // The keys really spread: the comparison is not between all-zero answers.
    expect(new Set(Object.values(javaLike)).size).toBeGreaterThan(6);
  });

  it('sends concurrent calls in one request and resolves each once acknowledged', async () => {
    const topic = uniqueName('sink-coalesce');
    await broker.createTopic(topic, 1);
    const sink = await sinkOn();

    await Promise.all(
      Array.from({ length: 25 }, (_, i) => sink.send([{ topic, key: 'conn', value: `m${i}`, headers: {} }])),
    );
    // Acknowledged means stored: kcat sees all of them right after.
    expect((await kcatRead(broker, topic)).map((m) => m.value)).toEqual(
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    const batches = new Set((await readWithBatches(topic, 25)).map((m) => m.batch));
    expect(batches.size).toBe(1);
  });

  it('cuts a send larger than one request into several, in order', async () => {
    const topic = uniqueName('sink-split');
    await broker.createTopic(topic, 1);
    const sink = await sinkOn({ maxRequestBytes: 50_000 });
    const filler = 'x'.repeat(10_000);

    await sink.send(
      Array.from({ length: 20 }, (_, i) => ({ topic, key: 'conn', value: `${i}:${filler}`, headers: {} })),
    );

    const seen = await readWithBatches(topic, 20);
    expect(seen.map((m) => Number(m.value.split(':')[0]))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // 20 × ~10 kB in requests of at most 50 kB: at least 5 requests.
    expect(new Set(seen.map((m) => m.batch)).size).toBeGreaterThanOrEqual(5);
  });

  /**
   * One key's page of `pageMessages` × 100 kB (several requests), then, once its first request
   * is out, another key's single message to another topic (a checkpoint): which send was
   * acknowledged first.
   */
  async function acknowledgementOrder(maxInFlightRequests: number, pageMessages: number): Promise<string[]> {
    const records = uniqueName('sink-page');
    const state = uniqueName('sink-checkpoint');
    await broker.createTopic(records, 3);
    await broker.createTopic(state, 3);
    const sink = await sinkOn({ maxInFlightRequests });
    // Warm: both topics' metadata is known before the race.
    await sink.send([
      { topic: records, key: 'warm', value: 'w', headers: {} },
      { topic: state, key: 'warm', value: 'w', headers: {} },
    ]);
    const acknowledged: string[] = [];
    const page = sink
      .send(
        Array.from({ length: pageMessages }, (_, i) => ({
          topic: records,
          key: 'conn-big',
          value: `${i}:${noise(100_000)}`,
          headers: {},
        })),
      )
      .then(() => acknowledged.push('page'));
    // The page's first request is handed over on the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    const checkpoint = sink
      .send([{ topic: state, key: 'conn-small', value: '{"cursor":"1"}', headers: {} }])
      .then(() => acknowledged.push('checkpoint'));
    await Promise.all([page, checkpoint]);
    expect((await kcatRead(broker, state)).map((m) => m.key)).toContain('conn-small');
    return acknowledged;
  }

  it('acknowledges another connection’s checkpoint while one connection’s multi-megabyte page is still being produced', async () => {
    // 40 × 100 kB: five requests or more of at most 900 kB, one after another for that key.
    expect(await acknowledgementOrder(5, 40)).toEqual(['checkpoint', 'page']);
    // The same with one request in flight: the checkpoint waits for the whole page.
    expect(await acknowledgementOrder(1, 40)).toEqual(['page', 'checkpoint']);
  });

  it('keeps each key’s order with many requests in flight for many keys', async () => {
    const topic = uniqueName('sink-lanes');
    await broker.createTopic(topic, 3);
    // Small requests, so every key's messages span several of them, interleaved with other keys'.
    const sink = await sinkOn({ maxRequestBytes: 4_000 });
    const keys = Array.from({ length: 12 }, (_, k) => `conn-${k}`);
    const sends: Array<Promise<void>> = [];
    for (let round = 0; round < 10; round++) {
      for (const [k, key] of keys.entries()) {
        // Some sends are one message (a checkpoint), some a page of several.
        const size = (round + k) % 3 === 0 ? 1 : 6;
        sends.push(
          sink.send(
            Array.from({ length: size }, (_, i) => ({
              topic,
              key,
              value: `${round}.${i}:${'z'.repeat(300 + ((k * 97 + i * 31) % 500))}`,
              headers: {},
            })),
          ),
        );
      }
      // Later rounds arrive while earlier ones are in flight.
      if (round % 3 === 2) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(sends);

    const landed = await kcatRead(broker, topic);
    for (const [k, key] of keys.entries()) {
      const expected = Array.from({ length: 10 }, (_, round) =>
        Array.from({ length: (round + k) % 3 === 0 ? 1 : 6 }, (_, i) => `${round}.${i}`),
      ).flat();
      const got = landed.filter((m) => m.key === key).map((m) => (m.value ?? '').split(':')[0]);
      expect(got).toEqual(expected);
    }
  });

  /** Incompressible text: gzip must not bring it under a limit. */
  function noise(bytes: number): string {
    return randomBytes(Math.ceil(bytes / 2))
      .toString('hex')
      .slice(0, bytes);
  }

  it('never sends a message over maxMessageBytes: the others of its send are written, it is refused', async () => {
    const topic = uniqueName('sink-too-large');
    await broker.createTopic(topic, 1);
    const sink = await sinkOn({ maxMessageBytes: 20_000 });
    const messages: OutboundMessage[] = [
      { topic, key: 'conn', value: `0:${noise(1_000)}`, headers: {} },
      { topic, key: 'conn', value: `1:${noise(30_000)}`, headers: {} },
      { topic, key: 'conn', value: `2:${noise(1_000)}`, headers: {} },
    ];

    const refused = await sink.send(messages).then(
      () => null,
      (error: unknown) => error,
    );

    expect(refused).toBeInstanceOf(MessagesRefusedError);
    expect((refused as MessagesRefusedError).refused).toEqual([1]);
    const seen = await readWithBatches(topic, 2);
    expect(seen.map((m) => m.value.split(':')[0])).toEqual(['0', '2']);
    // The sink goes on: a later send is written.
    await sink.send([{ topic, key: 'conn', value: '3:after', headers: {} }]);
    expect((await readWithBatches(topic, 3)).map((m) => m.value.split(':')[0])).toEqual(['0', '2', '3']);
  });

  it('falls back to one message at a time when the broker refuses a request as too large, and refuses only what it refuses alone', async () => {
    const topic = uniqueName('sink-broker-too-large');
    // The topic takes less than the sink was told: the broker answers MESSAGE_TOO_LARGE.
    await broker.createTopic(topic, 1, { 'max.message.bytes': '12000' });
    const sink = await sinkOn();
    const messages: OutboundMessage[] = Array.from({ length: 6 }, (_, i) => ({
      topic,
      key: 'conn',
      value: `${i}:${noise(i === 3 ? 50_000 : 5_000)}`,
      headers: {},
    }));

    const refused = await sink.send(messages).then(
      () => null,
      (error: unknown) => error,
    );

    expect(refused).toBeInstanceOf(MessagesRefusedError);
    expect((refused as MessagesRefusedError).refused).toEqual([3]);
    const seen = await readWithBatches(topic, 5);
    expect(seen.map((m) => m.value.split(':')[0])).toEqual(['0', '1', '2', '4', '5']);
    await sink.send([{ topic, key: 'conn', value: '6:after', headers: {} }]);
    expect((await readWithBatches(topic, 6)).map((m) => m.value.split(':')[0])).toEqual([
      '0',
      '1',
      '2',
      '4',
      '5',
      '6',
    ]);
  });

  it('publishes produced records and errors once acknowledged, when given the topics', async () => {
    const records = uniqueName('sink-records');
    const errors = uniqueName('sink-errors');
    await broker.createTopic(records, 1);
    await broker.createTopic(errors, 1);
    const { logger } = capturingLogger();
    const sink = await createMessageSink(workerKafka(broker, logger), {
      idempotent: true,
      logger,
      instrumentation: { recordsTopic: records, errorsTopic: errors },
    });
    cleanups.add(() => sink.close());
    const produced: Array<{ topic: string; count: number; resourceType: string }> = [];
    const classified: string[] = [];
    cleanups.add(async () => undefined);
    const offRecords = subscribe('records.produced', (e) => {
      if (e.topic === records) produced.push(e);
    });
    const offErrors = subscribe('errors.produced', (e) => classified.push(e.classification));
    cleanups.add(async () => {
      offRecords();
      offErrors();
    });

    const file = { idempotency_key: 'google-drive:c:file:1', resource_type: 'file' as const };
    const folder = { idempotency_key: 'google-drive:c:folder:2', resource_type: 'folder' as const };
    const errorRecord = {
      message_id: '6f1c2f55-7d43-4e59-9a8f-1d1f1b7f2a10',
      integration_id: 'google-drive',
      integration_connection_id: 'c',
      error: { classification: 'rate_limited' },
    };
    await sink.send([
      { topic: records, key: 'c', value: '{}', headers: recordHeaders(file, null) },
      { topic: records, key: 'c', value: '{}', headers: recordHeaders(file, null) },
      { topic: records, key: 'c', value: '{}', headers: recordHeaders(folder, null) },
      {
        topic: errors,
        key: 'c',
        value: JSON.stringify(errorRecord),
        headers: errorRecordHeaders(errorRecord, 'm-1'),
      },
    ]);

    expect(produced.sort((a, b) => a.resourceType.localeCompare(b.resourceType))).toEqual([
      { topic: records, count: 2, resourceType: 'file' },
      { topic: records, count: 1, resourceType: 'folder' },
    ]);
    expect(classified).toEqual(['rate_limited']);
    const [landedError] = await kcatRead(broker, errors);
    expect(landedError?.headers).toBe(
      'content-type=application/json,idempotency-key=google-drive:c:error:6f1c2f55-7d43-4e59-9a8f-1d1f1b7f2a10,resource-type=error,correlation-id=m-1',
    );
  });

  it('refuses sends after close, having flushed what was queued', async () => {
    const topic = uniqueName('sink-close');
    await broker.createTopic(topic, 1);
    const { logger } = capturingLogger();
    const sink = await createMessageSink(workerKafka(broker, logger), { idempotent: true, logger });
    const queued = sink.send([{ topic, key: 'k', value: 'last words', headers: {} }]);
    await sink.close();
    await queued;
    expect((await kcatRead(broker, topic)).map((m) => m.value)).toEqual(['last words']);
    await expect(sink.send([{ topic, key: 'k', value: 'too late', headers: {} }])).rejects.toThrow(/closed/);
  });
});

/**
 * The non-idempotent configuration (`KAFKA_PRODUCER_IDEMPOTENT=false`, whose retries are
 * bounded) when produce requests keep failing. On librdkafka's mock broker: it answers an
 * exact number of produce requests with an error, which Apache Kafka cannot be made to do.
 */
describe('the message sink when produce requests fail', () => {
  let ownBroker: EmbeddedKafka;
  beforeAll(async () => {
    ownBroker = await startEmbeddedKafka({ brokers: 1 });
  });
  afterAll(async () => {
    await ownBroker?.stop();
  });

  async function failingSink(maxRequestBytes?: number, maxInFlightRequests?: number) {
    const { logger } = capturingLogger();
    // One retry: a request fails for good after two attempts.
    const sink = await createMessageSink(workerKafka(ownBroker, logger), {
      idempotent: false,
      logger,
      retries: 1,
      ...(maxRequestBytes ? { maxRequestBytes } : {}),
      ...(maxInFlightRequests ? { maxInFlightRequests } : {}),
    });
    cleanups.add(() => sink.close());
    return sink;
  }

  it('rejects every send of the failed request and goes on with the next ones', async () => {
    const topic = uniqueName('sink-fail');
    await ownBroker.createTopic(topic, 1);
    const sink = await failingSink();
    await sink.send([{ topic, key: 'k', value: 'before', headers: {} }]);

    await ownBroker.pushRequestErrors(KafkaApiKey.Produce, 2, KafkaErrorCode.NOT_ENOUGH_REPLICAS);
    const first = sink.send([{ topic, key: 'k', value: 'lost-1', headers: {} }]);
    const second = sink.send([{ topic, key: 'k', value: 'lost-2', headers: {} }]);
    const outcomes = await Promise.allSettled([first, second]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);

    await sink.send([{ topic, key: 'k', value: 'after', headers: {} }]);
    expect((await kcatRead(ownBroker, topic)).map((m) => m.value)).toEqual(['before', 'after']);
  });

  it('keeps a key’s order when its request is retried while other keys’ requests go on', async () => {
    const topic = uniqueName('sink-retry-order');
    await ownBroker.createTopic(topic, 1);
    const sink = await failingSink(25_000, 5);
    const filler = 'y'.repeat(10_000);
    await sink.send([{ topic, key: 'warm', value: 'warm', headers: {} }]);

    // The first produce request fails once and is retried after the client's backoff.
    await ownBroker.pushRequestErrors(KafkaApiKey.Produce, 1, KafkaErrorCode.NOT_ENOUGH_REPLICAS);
    // Five requests for this key: whichever the broker fails, a later one must wait for it.
    const page = sink.send(
      Array.from({ length: 10 }, (_, i) => ({ topic, key: 'k', value: `${i}:${filler}`, headers: {} })),
    );
    const others = Array.from({ length: 4 }, (_, i) =>
      sink.send([{ topic, key: `other-${i}`, value: `other-${i}`, headers: {} }]),
    );
    await Promise.all([page, ...others]);

    const landed = await kcatRead(ownBroker, topic);
    expect(landed.filter((m) => m.key === 'k').map((m) => Number((m.value ?? '').split(':')[0]))).toEqual(
      Array.from({ length: 10 }, (_, i) => i),
    );
    expect(landed.filter((m) => m.key.startsWith('other-')).map((m) => m.value)).toHaveLength(4);
  });

  it('does not produce the rest of a large send once one of its requests failed', async () => {
    const topic = uniqueName('sink-fail-split');
    await ownBroker.createTopic(topic, 1);
    const sink = await failingSink(25_000);
    const filler = 'y'.repeat(10_000);

    await ownBroker.pushRequestErrors(KafkaApiKey.Produce, 2, KafkaErrorCode.NOT_ENOUGH_REPLICAS);
    await expect(
      sink.send(
        Array.from({ length: 6 }, (_, i) => ({ topic, key: 'k', value: `${i}:${filler}`, headers: {} })),
      ),
    ).rejects.toThrow();
    await sink.send([{ topic, key: 'k', value: 'after', headers: {} }]);
    expect((await kcatRead(ownBroker, topic)).map((m) => m.value)).toEqual(['after']);
  });
});
