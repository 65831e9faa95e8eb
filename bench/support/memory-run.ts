/**
 * One worker process for the memory bench: starts the worker (`startBenchWorker`, the
 * configuration `loadConfig` reads), triggers one full sync with content, samples its own
 * memory every 10 ms until the sync finished, and prints one JSON line: peak RSS and heap
 * above the idle worker's (measured after a GC when `--expose-gc` is given).
 *
 *   node --import tsx --expose-gc bench/support/memory-run.ts '<MemoryRunSpec as JSON>'
 */
import { Kafka, logLevel } from 'kafkajs';
import { subscribe } from '../../src/instrumentation.js';
import { Murmur2Partitioner } from '../../src/io/kafka/murmur2-partitioner.js';
import { quietKnownWarnings } from '../../src/quiet-warnings.js';
import { startBenchWorker, topicsFor, workerConfig } from './worker-run.js';

export interface MemoryRunSpec {
  readonly brokers: readonly string[];
  readonly emulatorUrl: string;
  readonly run: string;
  readonly connectionId: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export interface MemoryRunResult {
  readonly outcome: 'ok' | 'error';
  readonly records: number;
  /** `files.get` and `files.export` calls: the content reads the sync made. */
  readonly contentReads: number;
  readonly seconds: number;
  readonly baselineRssBytes: number;
  readonly baselineHeapBytes: number;
  readonly peakRssBytes: number;
  readonly peakHeapBytes: number;
}

async function main(): Promise<void> {
  quietKnownWarnings();
  const spec = JSON.parse(process.argv[2] ?? '{}') as MemoryRunSpec;
  const topics = topicsFor(spec.run);
  const worker = await startBenchWorker(
    workerConfig({
      brokers: spec.brokers,
      emulatorUrl: spec.emulatorUrl,
      topics,
      run: spec.run,
      env: spec.env,
    }),
  );
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  const sample = () => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed);
  };
  const sampler = setInterval(sample, 10);
  let records = 0;
  const offRecords = subscribe('records.produced', ({ count }) => {
    records += count;
  });
  let contentReads = 0;
  const offCalls = subscribe('drive.call', ({ method }) => {
    if (method === 'drive.files.get' || method === 'drive.files.export') contentReads++;
  });
  const finished = new Promise<'ok' | 'error'>((resolve, reject) => {
    const off = subscribe('sync.finished', ({ connectionId, outcome }) => {
      if (connectionId !== spec.connectionId) return;
      off();
      resolve(outcome);
    });
    setTimeout(
      () => reject(new Error(`no sync.finished within ${spec.timeoutMs} ms`)),
      spec.timeoutMs,
    ).unref();
  });
  const client = new Kafka({
    clientId: 'bench-memory',
    brokers: [...spec.brokers],
    logLevel: logLevel.NOTHING,
  });
  const producer = client.producer({ createPartitioner: Murmur2Partitioner });
  await producer.connect();
  const started = performance.now();
  await producer.send({
    topic: topics.trigger,
    messages: [
      {
        key: spec.connectionId,
        value: JSON.stringify({
          message_id: `bench-${spec.run}-${Date.now()}`,
          customer_id: `cust_${spec.connectionId}`,
          integration_id: 'google-drive',
          integration_connection_id: spec.connectionId,
          trigger_type: 'full_sync',
          options: { include: ['content'] },
        }),
      },
    ],
  });
  const outcome = await finished;
  const seconds = (performance.now() - started) / 1000;
  sample();
  clearInterval(sampler);
  offRecords();
  offCalls();
  await producer.disconnect();
  await worker.stop();
  const result: MemoryRunResult = {
    outcome,
    records,
    contentReads,
    seconds,
    baselineRssBytes: baseline.rss,
    baselineHeapBytes: baseline.heapUsed,
    peakRssBytes: peakRss,
    peakHeapBytes: peakHeap,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
