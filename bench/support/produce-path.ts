import { performance } from 'node:perf_hooks';
import { CompressionTypes, type Message } from 'kafkajs';
import type { Config } from '../../src/config.js';
import { createKafka } from '../../src/io/kafka/kafka-client.js';
import { createMessageSink, type OutboundMessage } from '../../src/io/kafka/message-sink.js';
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
