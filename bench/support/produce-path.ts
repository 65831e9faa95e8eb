import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CompressionTypes, type Message } from 'kafkajs';
import type { Config } from '../../src/config.js';
import { createKafka } from '../../src/io/kafka/kafka-client.js';
import {
  createMessageSink,
  DEFAULT_MAX_IN_FLIGHT_REQUESTS,
  type OutboundMessage,
} from '../../src/io/kafka/message-sink.js';
import { Murmur2Partitioner } from '../../src/io/kafka/murmur2-partitioner.js';
import { createLogger } from '../../src/logger.js';

/**
 * The worker's produce path (`createMessageSink`, what connection actors publish pages
 * through) against raw kafkajs `producer.sendBatch` on the same broker, with the same
 * records, keys, headers, batch sizes, compression (gzip, the sink's default) and acks (all).
 * Each variant writes to a topic of its own.
 */

export interface ProduceSample {
  readonly key: string;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ProduceCase {
  readonly name: string;
  readonly batchSize: number;
  /** Senders at once, each with its own key (as connections are). */
  readonly senders: number;
}

export interface ProduceRow {
  readonly name: string;
  readonly records: number;
  readonly sinkPerSecond: number;
  readonly rawPerSecond: number;
}

export const produceCases: readonly ProduceCase[] = [
  { name: '1 sender, batches of 100', batchSize: 100, senders: 1 },
  { name: '1 sender, batches of 1,000 (a page)', batchSize: 1000, senders: 1 },
  { name: '4 senders at once, batches of 1,000', batchSize: 1000, senders: 4 },
];

function batchesFor(sample: readonly ProduceSample[], total: number, batchSize: number, key: string) {
  const batches: ProduceSample[][] = [];
  for (let start = 0; start < total; start += batchSize) {
    const batch: ProduceSample[] = [];
    for (let i = start; i < Math.min(total, start + batchSize); i++) {
      const record = sample[i % sample.length] as ProduceSample;
      batch.push({ key, value: record.value, headers: record.headers });
    }
    batches.push(batch);
  }
  return batches;
}

/** Runs every case against the sink and raw kafkajs; `topicFor(case, variant)` names a fresh topic. */
export async function runProduceBench(options: {
  readonly kafkaConfig: Config['kafka'];
  readonly sample: readonly ProduceSample[];
  readonly recordsPerCase: number;
  readonly repetitions: number;
  readonly topicFor: (index: number, variant: 'sink' | 'raw') => string;
}): Promise<ProduceRow[]> {
  const logger = createLogger({ level: 'silent', format: 'json' });
  const kafka = createKafka({ ...options.kafkaConfig, clientId: 'bench-produce' }, logger);
  // Both idempotent, as the worker runs in production, so the ratio compares like with like.
  const sink = await createMessageSink(kafka, { idempotent: true });
  const producer = kafka.producer({
    createPartitioner: Murmur2Partitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const rows: ProduceRow[] = [];
  try {
    for (const [index, testCase] of produceCases.entries()) {
      const perSender = Math.ceil(options.recordsPerCase / testCase.senders);
      const senders = Array.from({ length: testCase.senders }, (_, s) =>
        batchesFor(options.sample, perSender, testCase.batchSize, `conn_produce_${s}`),
      );
      const records = perSender * testCase.senders;

      const sinkTopic = options.topicFor(index, 'sink');
      const rawTopic = options.topicFor(index, 'raw');
      // Untimed: each topic's metadata is fetched before the clock starts.
      const warmUp = (senders[0]?.[0] ?? []).slice(0, 10);
      await sink.send(
        warmUp.map((r) => ({ topic: sinkTopic, key: r.key, value: r.value, headers: r.headers })),
      );
      await producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.GZIP,
        topicMessages: [
          {
            topic: rawTopic,
            messages: warmUp.map((r) => ({ key: r.key, value: r.value, headers: { ...r.headers } })),
          },
        ],
      });

      const sendThroughSink = () =>
        Promise.all(
          senders.map(async (batches) => {
            for (const batch of batches) {
              const messages: OutboundMessage[] = batch.map((r) => ({
                topic: sinkTopic,
                key: r.key,
                value: r.value,
                headers: r.headers,
              }));
              await sink.send(messages);
            }
          }),
        );
      const sendRaw = () =>
        Promise.all(
          senders.map(async (batches) => {
            for (const batch of batches) {
              const messages: Message[] = batch.map((r) => ({
                key: r.key,
                value: r.value,
                headers: { ...r.headers },
              }));
              await producer.sendBatch({
                acks: -1,
                compression: CompressionTypes.GZIP,
                topicMessages: [{ topic: rawTopic, messages }],
              });
            }
          }),
        );
      // Interleaved repetitions, the median of each: a single pass of a second or two
      // swings by tens of percent on a shared 2-core machine.
      const sinkRuns: number[] = [];
      const rawRuns: number[] = [];
      for (let rep = 0; rep < options.repetitions; rep++) {
        const sinkFirst = rep % 2 === 0;
        if (sinkFirst) sinkRuns.push(await timed(sendThroughSink));
        rawRuns.push(await timed(sendRaw));
        if (!sinkFirst) sinkRuns.push(await timed(sendThroughSink));
      }
      const sinkSeconds = median(sinkRuns);
      const rawSeconds = median(rawRuns);
      rows.push({
        name: testCase.name,
        records,
        sinkPerSecond: records / sinkSeconds,
        rawPerSecond: records / rawSeconds,
      });
    }
  } finally {
    await sink.close();
    await producer.disconnect();
  }
  return rows;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

export interface HeadOfLineRow {
  /** Produce requests in flight the sink was given. */
  readonly maxInFlightRequests: number;
  /** Median time from the small write's `send` to its acknowledgement. */
  readonly smallWriteMs: number;
  /** Median time from the page's `send` to its acknowledgement. */
  readonly pageMs: number;
  /** Runs in which the small write was acknowledged before the page. */
  readonly smallFirst: number;
}

/**
 * One connection's page (`pageMessages` records of about `recordBytes` each) and, once the
 * page's first request is out, another connection's checkpoint: how long the checkpoint
 * waits, with the sink's requests one at a time (as it was) and with its default concurrency.
 * Interleaved repetitions, medians.
 */
export async function runHeadOfLineBench(options: {
  readonly kafkaConfig: Config['kafka'];
  readonly recordsTopic: string;
  readonly stateTopic: string;
  readonly pageMessages: number;
  readonly recordBytes: number;
  readonly repetitions: number;
}): Promise<HeadOfLineRow[]> {
  const logger = createLogger({ level: 'silent', format: 'json' });
  const kafka = createKafka({ ...options.kafkaConfig, clientId: 'bench-head-of-line' }, logger);
  const variants = [1, DEFAULT_MAX_IN_FLIGHT_REQUESTS];
  const sinks = await Promise.all(
    variants.map((maxInFlightRequests) =>
      createMessageSink(kafka, { idempotent: true, maxInFlightRequests }),
    ),
  );
  // Hex of random bytes: compresses about as JSON records with ids and names do (2–3 ×), not to nothing.
  const body = (i: number) =>
    JSON.stringify({ n: i, data: randomBytes(Math.ceil(options.recordBytes / 2)).toString('hex') });
  const page: OutboundMessage[] = Array.from({ length: options.pageMessages }, (_, i) => ({
    topic: options.recordsTopic,
    key: 'conn_big_page',
    value: body(i),
    headers: { 'content-type': 'application/json', 'resource-type': 'file' },
  }));
  const checkpoint: OutboundMessage = {
    topic: options.stateTopic,
    key: 'conn_small',
    value: JSON.stringify({ cursor: '12345' }),
    headers: { 'content-type': 'application/json' },
  };
  const samples = variants.map(() => ({ small: [] as number[], page: [] as number[], smallFirst: 0 }));
  try {
    for (const sink of sinks) await sink.send([page[0] as OutboundMessage, checkpoint]);
    for (let rep = 0; rep < options.repetitions; rep++) {
      for (let v = 0; v < variants.length; v++) {
        const index = rep % 2 === 0 ? v : variants.length - 1 - v;
        const sink = sinks[index] as (typeof sinks)[number];
        const sample = samples[index] as (typeof samples)[number];
        let pageDone = false;
        const pageStarted = performance.now();
        const pageSent = sink.send(page).then(() => {
          pageDone = true;
          return performance.now() - pageStarted;
        });
        await new Promise((resolve) => setImmediate(resolve));
        const smallStarted = performance.now();
        await sink.send([checkpoint]);
        sample.small.push(performance.now() - smallStarted);
        if (!pageDone) sample.smallFirst++;
        sample.page.push(await pageSent);
      }
    }
  } finally {
    await Promise.all(sinks.map((sink) => sink.close()));
  }
  return variants.map((maxInFlightRequests, i) => {
    const sample = samples[i] as (typeof samples)[number];
    return {
      maxInFlightRequests,
      smallWriteMs: median(sample.small),
      pageMs: median(sample.page),
      smallFirst: sample.smallFirst,
    };
  });
}
