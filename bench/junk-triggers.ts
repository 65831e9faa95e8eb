/**
 * Memory after a flood of triggers for connections nobody knows: the real worker
 * (`startWorker`, in this process) on the embedded Apache Kafka broker, the Drive emulator in
 * a child process as the control plane, which answers 404 for every one of them. Each such
 * trigger must cost one `auth/unknown_connection` record and a tombstone, and nothing that
 * stays: heap after a full GC, and RSS, are measured once the worker is warm (a first,
 * smaller flood went through it), then again after the flood was consumed.
 *
 *   npm run bench -- junk [--count 100000] [--warmup 2000] [--floods 1]
 *
 * Needs `--expose-gc` (bench/run.ts passes it). The goal is heap after / before ≤ 1.10.
 * Figures are printed and written to bench/results/junk.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { startApacheKafka } from '../src/embedded/apache-kafka.js';
import { subscribe } from '../src/instrumentation.js';
import { Murmur2Partitioner } from '../src/io/kafka/murmur2-partitioner.js';
import { quietKnownWarnings } from '../src/quiet-warnings.js';
import type { RunningWorker } from '../src/worker.js';
import { startEmulatorProcess } from './support/emulator-process.js';
import { fmt, markdownOf, type Table, textOf } from './support/table.js';
import { runTopicSpecs, startBenchWorker, topicsFor, workerConfig } from './support/worker-run.js';

const here = dirname(fileURLToPath(import.meta.url));
const PARTITIONS = 4;
const BATCH = 1_000;
const GOAL = 1.1;

const gc = (globalThis as { gc?: () => void }).gc;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Heap and RSS after full collections, with a pause between for finalizers and freed pages. */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  if (!gc) throw new Error('run with --expose-gc (npm run bench -- junk passes it)');
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(250);
  }
  return process.memoryUsage();
}

async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(250);
  }
}

async function flood(producer: Producer, topic: string, prefix: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += BATCH) {
    const messages = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) {
      // Random unknown ids: nothing about one helps with the next.
      const id = `${prefix}_${i}_${Math.random().toString(36).slice(2, 12)}`;
      messages.push({
        key: id,
        value: JSON.stringify({
          message_id: `m_${id}`,
          customer_id: `cust_${i % 997}`,
          integration_id: 'google-drive',
          integration_connection_id: id,
          trigger_type: 'full_sync',
        }),
      });
    }
    await producer.send({ topic, messages });
  }
}

interface Phase {
  readonly seconds: number;
}

async function main(): Promise<void> {
  quietKnownWarnings();
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '100000' },
      warmup: { type: 'string', default: '2000' },
      floods: { type: 'string', default: '1' },
    },
  });
  const count = Number(values.count);
  const warmup = Number(values.warmup);
  const floods = Math.max(1, Number(values.floods));
  const run = `junk-${Date.now().toString(36)}`;
  const topics = topicsFor(run);

  const kafka = await startApacheKafka({ brokers: 1, heapMb: 1024 });
  await kafka.createTopics(runTopicSpecs([topics], PARTITIONS));
  const emulator = await startEmulatorProcess();
  const client = new Kafka({
    clientId: 'bench-junk',
    brokers: kafka.bootstrapServers,
    logLevel: logLevel.NOTHING,
  });
  const producer = client.producer({ createPartitioner: Murmur2Partitioner });
  await producer.connect();
  const admin = client.admin();
  await admin.connect();

  let unknownReported = 0;
  const unsubscribe = subscribe('errors.produced', ({ classification }) => {
    if (classification === 'auth') unknownReported++;
  });

  const config = workerConfig({
    brokers: kafka.bootstrapServers,
    emulatorUrl: emulator.url,
    topics,
    run,
    env: {},
  });
  let worker: RunningWorker | null = null;
  const lag = async () => {
    const ends = await admin.fetchTopicOffsets(topics.trigger);
    const [committed] = await admin.fetchOffsets({ groupId: config.kafka.groupId, topics: [topics.trigger] });
    return ends.reduce((sum, end) => {
      const at = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
      return sum + Number(end.high) - Math.max(0, Number(at));
    }, 0);
  };

  /** Sends `n` junk triggers and waits until each was reported, committed, and its actor gone. */
  const phase = async (name: string, n: number): Promise<Phase> => {
    const started = performance.now();
    const reportedBefore = unknownReported;
    await flood(producer, topics.trigger, `${run}_${name}`, n);
    const progress = setInterval(() => {
      console.error(
        `bench: ${name}: ${fmt.int(unknownReported - reportedBefore)} of ${fmt.int(n)} reported, ${fmt.int(worker?.supervisor.residentCount ?? 0)} resident, heap ${fmt.int(process.memoryUsage().heapUsed / 2 ** 20)} MB`,
      );
    }, 10_000);
    try {
      await until(() => unknownReported - reportedBefore >= n, `${n} unknown_connection records`, 3_600_000);
      await until(async () => (await lag()) === 0, 'no lag', 120_000);
      await until(
        () => worker?.supervisor.residentCount === 0 && worker.supervisor.sleepingCount === 0,
        'no resident or sleeping actor',
        120_000,
      );
    } finally {
      clearInterval(progress);
    }
    return { seconds: (performance.now() - started) / 1000 };
  };

  let table: Table;
  try {
    worker = await startBenchWorker(config);
    const warm = await phase('warmup', warmup);
    const before = await settledMemory();
    // More than one flood tells a leak (growing with each) from a high-water mark (reached once).
    const floodRuns: Array<{ seconds: number; memory: NodeJS.MemoryUsage }> = [];
    for (let i = 1; i <= floods; i++) {
      const { seconds } = await phase(`flood${i}`, count);
      floodRuns.push({ seconds, memory: await settledMemory() });
    }
    const after = floodRuns.at(-1)?.memory ?? before;
    const heapRatio = after.heapUsed / before.heapUsed;
    const mb = (bytes: number) => `${fmt.fixed(bytes / 2 ** 20)} MB`;
    const row = (figure: string, of: (m: NodeJS.MemoryUsage) => number): string[] => [
      figure,
      mb(of(before)),
      ...floodRuns.map((r) => mb(of(r.memory))),
      fmt.fixed(of(after) / of(before), 3),
    ];
    const seconds = floodRuns.reduce((sum, r) => sum + r.seconds, 0);
    table = {
      title: `Memory after ${floods > 1 ? `${floods} floods of ` : ''}${fmt.int(count)} triggers for unknown connections (control plane answers 404)`,
      columns: [
        'figure',
        'before',
        ...floodRuns.map((_, i) => (floods > 1 ? `after flood ${i + 1}` : 'after')),
        'after / before',
      ],
      rows: [
        row('heap used (after full GC)', (m) => m.heapUsed),
        row('heap total', (m) => m.heapTotal),
        row('RSS', (m) => m.rss),
        row('external + array buffers', (m) => m.external),
        [
          'resident / sleeping actors',
          '0 / 0',
          ...floodRuns.map(() => ''),
          `${worker.supervisor.residentCount} / ${worker.supervisor.sleepingCount}`,
        ],
      ],
      notes: [
        `Goal: heap after / before ≤ ${GOAL}: ${heapRatio <= GOAL ? 'met' : 'NOT met'}.`,
        `Before = after a warm-up flood of ${fmt.int(warmup)} such triggers (${fmt.seconds(warm.seconds)}), so first-use allocations (clients, pools, JIT) are not counted as growth.`,
        `Each flood: ${fmt.int(count)} triggers with random unknown ids (${fmt.int((count * floods) / seconds)} a second on average), each one auth/unknown_connection record and a tombstone; waited until every record was produced, the group's lag was 0 and no actor was resident or sleeping.`,
        'Measured in the worker’s own process (the emulator runs in a child process); the bench’s producer and admin client share it. Heap after four gc() calls 250 ms apart.',
      ],
    };
  } finally {
    unsubscribe();
    await worker?.stop();
    await admin.disconnect();
    await producer.disconnect();
    await emulator.stop();
    await kafka.stop();
  }
  console.log(`\n${textOf(table)}\n`);
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(join(here, 'results', 'junk.md'), `## Junk triggers\n\n${markdownOf(table)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
