/**
 * Benchmark of the worker itself (issues 5 and 6): the real worker (`startWorker` with a
 * configuration from `loadConfig`) on the embedded Kafka broker, against the Drive
 * emulator in a child process with latency and a quota set. In one run, side by side:
 *
 *   1. a full sync of a 20,000-item corpus by four connections at a binding quota Q:
 *      Drive calls per item against the minimum, rate achieved against Q, rate-limit
 *      answers, records per second;
 *   2. the quota governor: four connections at an emulator quota whose buckets were
 *      emptied first, governed at Q, ungoverned, and governed above what Drive grants;
 *   3. GDRIVE_BATCH_REQUESTS off and on (whether batching happened is read from the
 *      emulator's `batch` counter);
 *   4. the worker's produce path (MessageSink) against raw kafkajs sendBatch;
 *   5. webhook-to-record latency through push channels and the worker's webhook ingress;
 *   6. a small write (a checkpoint) behind another connection's multi-megabyte page, with
 *      the sink's requests one at a time and with its default concurrency;
 *   7. a worker's peak memory over a full sync with content, pages of 1,000 files against
 *      pages of 100 (each run a worker process of its own);
 *   8. section 1's full sync at Q with batching off, on against an emulator answering a
 *      batch's parts one after another, and on against one answering them all at once.
 *
 *   npx tsx bench/worker.ts [--scale 1] [--sections 1,2,3,4,5,6,7,8] [--pacing-quota 60000]
 *
 * `--pacing-quota` is section 8's Q (section 1's by default): a lower one keeps the runs
 * bound by the quota rather than by the CPU on a loaded machine.
 * `--scale` multiplies every corpus size (0.1 for a quick look). Timings are printed,
 * never asserted. The figures are also written to bench/results/worker.md.
 */
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { startApacheKafka } from '../src/embedded/apache-kafka.js';
import type { BatchMode, CorpusRequest, GeneratedCorpusSummary } from '../src/emulator/admin-client.js';
import { Murmur2Partitioner } from '../src/io/kafka/murmur2-partitioner.js';
import { quietKnownWarnings } from '../src/quiet-warnings.js';
import { drainQuota, latencyDescription, setBenchLatency } from './support/emulator-load.js';
import { type EmulatorProcess, startEmulatorProcess } from './support/emulator-process.js';
import type { MemoryRunResult, MemoryRunSpec } from './support/memory-run.js';
import { type MinimumCalls, minimumCallsFor, minimumFormula, sumMinimum } from './support/minimum-calls.js';
import {
  type ProduceRow,
  type ProduceSample,
  produceCases,
  runHeadOfLineBench,
  runProduceBench,
} from './support/produce-path.js';
import { fmt, markdownOf, runWhenEntry, type Table, textOf, writeResults } from './support/table.js';
import { TopicFollower } from './support/topic-follower.js';
import { measureWebhookLatency, type WebhookLatencyResult } from './support/webhook-latency.js';
import {
  type BenchConnection,
  type FullSyncRunResult,
  type RunTopics,
  runFullSyncs,
  runTopicSpecs,
  topicsFor,
  type WorkerEnvironment,
  workerConfig,
} from './support/worker-run.js';

const PARTITIONS = 4;
/** A governor this large never makes a call wait: the "ungoverned" path. */
const UNGOVERNED = '10000000';
const NO_QUOTA = 1e9;
const PRODUCE_REPETITIONS = 3;
const HEAD_OF_LINE_REPETITIONS = 7;
const HEAD_OF_LINE_TOPICS = {
  records: 'bench-head-of-line-records',
  state: 'bench-head-of-line-state',
} as const;

/** The shape of every corpus here: four users, one shared drive all four are members of. */
function corpusRequest(seed: number, files: number): CorpusRequest {
  return { seed, users: 4, files, sharedDrives: 1, sharedDriveMembers: 3, sharedDriveFraction: 0.05 };
}

interface Bench {
  readonly brokers: readonly string[];
  readonly emulator: EmulatorProcess;
  readonly follower: TopicFollower;
  readonly producer: Producer;
}

interface PreparedCorpus {
  readonly summary: GeneratedCorpusSummary;
  readonly connections: readonly BenchConnection[];
  readonly minimum: MinimumCalls;
}

/** Generates a corpus, maps one connection per user, and derives the minimum calls of their full syncs. */
async function prepareCorpus(bench: Bench, request: CorpusRequest): Promise<PreparedCorpus> {
  const { admin } = bench.emulator;
  await admin.reset();
  await admin.setQuota({ perUserPerMinute: NO_QUOTA, perProjectPerMinute: NO_QUOTA });
  const summary = await admin.generateCorpus(request);
  const connections: BenchConnection[] = [];
  const minima: MinimumCalls[] = [];
  for (const [i, credentials] of summary.users.entries()) {
    const connectionId = `conn_bench_${i + 1}`;
    await admin.mapConnection(connectionId, credentials.user.id);
    connections.push({ connectionId, userId: credentials.user.id });
    minima.push(await minimumCallsFor(bench.emulator.url, credentials.accessToken));
  }
  await setBenchLatency(admin);
  return { summary, connections, minimum: sumMinimum(minima) };
}

function environmentFor(bench: Bench, run: string, env: Record<string, string>): WorkerEnvironment {
  return { brokers: bench.brokers, emulatorUrl: bench.emulator.url, topics: topicsFor(run), run, env };
}

/** Calls the emulator answered, per minute of the run (refusals the worker saw left out). */
function grantedPerMinute(run: FullSyncRunResult): number {
  return ((run.driveCalls - run.rateLimited) / run.seconds) * 60;
}

function fileRecords(run: FullSyncRunResult): number {
  return (run.recordsByType.file ?? 0) + (run.recordsByType.folder ?? 0);
}

// ------------------------------------------------------------------ 1. full sync at quota Q

interface FullSyncSection {
  readonly table: Table;
  readonly methods: Table;
  readonly sample: ProduceSample[];
}

async function fullSyncSection(bench: Bench, files: number, quota: number): Promise<FullSyncSection> {
  const corpus = await prepareCorpus(bench, corpusRequest(42, files));
  await bench.emulator.admin.setQuota({ perUserPerMinute: quota, perProjectPerMinute: quota });
  const environment = environmentFor(bench, 'sync', {
    GDRIVE_QUOTA_USER_PER_MINUTE: String(quota),
    GDRIVE_QUOTA_PROJECT_PER_MINUTE: String(quota),
  });
  // The produce bench (section 4) sends the file records this sync produced.
  bench.follower.keep(environment.topics.records, 5_000, 'file');
  const emulatorCpuBefore = (await bench.emulator.usage()).cpuSeconds;
  const run = await runFullSyncs({
    environment,
    admin: bench.emulator.admin,
    follower: bench.follower,
    producer: bench.producer,
    connections: corpus.connections,
    timeoutMs: 600_000,
  });
  await run.worker.stop();
  const emulatorCpu = (await bench.emulator.usage()).cpuSeconds - emulatorCpuBefore;
  const items = corpus.minimum.items;
  const batch = workerConfig(environment).drive.batchRequests;

  const table: Table = {
    title: `1. Full sync: ${fmt.int(files)}-item corpus, 4 connections at once, emulator quota Q = ${fmt.int(quota)}/min (per user and per project), governor at Q`,
    columns: ['figure', 'value'],
    rows: [
      ['items synced (4 users’ views; the shared drive is in all four)', fmt.int(items)],
      ['time, triggers → last sync_checkpoint read back', fmt.seconds(run.seconds)],
      ['per connection', `${run.perConnectionSeconds.map((s) => s.toFixed(1)).join(' / ')} s`],
      ['Drive calls (emulator counters)', fmt.int(run.driveCalls)],
      [
        'calls per item / minimum per item',
        `${fmt.fixed(run.driveCalls / items, 2)} / ${fmt.fixed(corpus.minimum.total / items, 2)}`,
      ],
      [
        'calls above the minimum',
        `${fmt.int(run.driveCalls - corpus.minimum.total)} (${fmt.percent(run.driveCalls / corpus.minimum.total - 1)})`,
      ],
      [`batch HTTP requests (GDRIVE_BATCH_REQUESTS=${batch})`, fmt.int(run.batchRequests)],
      [
        'rate granted / Q',
        `${fmt.int(grantedPerMinute(run))}/min = ${fmt.percent(grantedPerMinute(run) / quota)} of Q`,
      ],
      ['rate-limit answers', fmt.int(run.rateLimited)],
      ['records (all types) / per second', `${fmt.int(run.records)} / ${fmt.int(run.records / run.seconds)}`],
      ['item records per second', fmt.int(fileRecords(run) / run.seconds)],
      ['error records', fmt.int(run.errorRecords)],
      [
        'CPU: worker process / emulator process',
        `${fmt.seconds(run.workerCpuSeconds)} / ${fmt.seconds(emulatorCpu)}`,
      ],
    ],
    notes: [
      `Emulator latency: ${latencyDescription}. Page size 1,000 (GDRIVE_PAGE_SIZE default).`,
      'The emulator’s buckets start full (a minute’s budget), so this run alone cannot earn rate-limit answers; section 2 empties them first.',
      minimumFormula,
    ],
  };
  const methodNames = [
    ...new Set([
      ...Object.keys(corpus.minimum.byMethod),
      ...Object.keys(run.counters).filter((m) => m.startsWith('drive.')),
    ]),
  ].sort();
  const above = methodNames.flatMap((method) => {
    const extra = (run.counters[method] ?? 0) - (corpus.minimum.byMethod[method] ?? 0);
    return extra > 0 ? [`${method} +${fmt.int(extra)}`] : [];
  });
  const methods: Table = {
    title: '1b. Drive calls by method (emulator counters) against the minimum',
    columns: ['method', 'calls', 'minimum', 'per item'],
    rows: methodNames.map((method) => [
      method,
      fmt.int(run.counters[method] ?? 0),
      fmt.int(corpus.minimum.byMethod[method] ?? 0),
      fmt.fixed((run.counters[method] ?? 0) / items, 3),
    ]),
    notes: [`Above the minimum: ${above.length > 0 ? above.join(', ') : 'nothing'}.`],
  };
  const sample = bench.follower
    .keptRecords(environment.topics.records)
    .flatMap((landed) =>
      landed.value === null ? [] : [{ key: landed.key ?? '', value: landed.value, headers: landed.headers }],
    );
  return { table, methods, sample };
}

// ------------------------------------------------------------------ 2. quota governor

interface GovernorVariant {
  readonly name: string;
  readonly emulatorQuota: number;
  readonly governor: string;
}

async function governorSection(bench: Bench, files: number, quota: number): Promise<Table> {
  const corpus = await prepareCorpus(bench, corpusRequest(44, files));
  const tokens = corpus.summary.users.map((u) => u.accessToken);
  const variants: GovernorVariant[] = [
    { name: 'governed at Q', emulatorQuota: quota, governor: String(quota) },
    { name: 'ungoverned (governor 10M/min)', emulatorQuota: quota, governor: UNGOVERNED },
    {
      name: 'governor at Q, Drive grants Q/2',
      emulatorQuota: Math.round(quota / 2),
      governor: String(quota),
    },
  ];
  const rows: string[][] = [];
  const drains: string[] = [];
  let expected: number | null = null;
  for (const [index, variant] of variants.entries()) {
    await bench.emulator.admin.setQuota({
      perUserPerMinute: variant.emulatorQuota,
      perProjectPerMinute: variant.emulatorQuota,
    });
    const environment = environmentFor(bench, `governor-${index}`, {
      GDRIVE_QUOTA_USER_PER_MINUTE: variant.governor,
      GDRIVE_QUOTA_PROJECT_PER_MINUTE: variant.governor,
    });
    bench.follower.keep(environment.topics.records, Number.POSITIVE_INFINITY);
    const run = await runFullSyncs({
      environment,
      admin: bench.emulator.admin,
      follower: bench.follower,
      producer: bench.producer,
      connections: corpus.connections,
      timeoutMs: 240_000,
      beforeTrigger: async () => {
        drains.push(fmt.int(await drainQuota(bench.emulator.url, tokens, 2)));
      },
    }).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
    if (run instanceof Error) {
      rows.push([
        variant.name,
        fmt.int(variant.emulatorQuota),
        'did not complete',
        run.message,
        '',
        '',
        '',
        '',
      ]);
      continue;
    }
    await run.worker.stop();
    const distinct = bench.follower.distinctMessageIds(environment.topics.records);
    expected ??= distinct;
    const granted = grantedPerMinute(run);
    rows.push([
      variant.name,
      fmt.int(variant.emulatorQuota),
      fmt.seconds(run.seconds),
      `${fmt.int(granted)} (${fmt.percent(granted / variant.emulatorQuota)})`,
      fmt.int((corpus.minimum.total / run.seconds) * 60),
      fmt.int(run.rateLimited),
      `${fmt.int(run.driveCalls)} / ${fmt.int(corpus.minimum.total)}`,
      `${fmt.int(distinct)} / ${fmt.int(expected)} (${fmt.int(run.records)} sent)`,
    ]);
  }
  return {
    title: `2. Quota governor: 4 connections (4 users, ${fmt.int(corpus.minimum.items)} items) syncing at once, Q = ${fmt.int(quota)}/min per user and per project`,
    columns: [
      'variant',
      'Drive grants /min',
      'time',
      'rate granted /min (share of grant)',
      'useful /min (minimum calls ÷ time)',
      'rate-limit answers',
      'calls made / minimum',
      'distinct records / expected',
    ],
    rows,
    notes: [
      `Before each run the emulator’s buckets are emptied with cheap calls (${drains.join(', ')} calls) and given 2 s of refill, so Drive grants exactly its rate from the first call on.`,
      'The governor sizes its buckets so that no 60 s window exceeds its rate: a 1 s burst, then rate × 60/61; over a run this short the burst shows as a few % above the rate.',
      'Distinct records = distinct message_id; “expected” is the governed run’s count (same corpus, read-only runs). A page that is fetched again is sent again with the same message ids.',
      'A rate-limit answer fails its page: the worker backs off and redoes the page from its checkpoint, so calls above the minimum are pages fetched again.',
    ],
  };
}

// ------------------------------------------------------------------ 3. batched vs unbatched

async function batchSection(bench: Bench, files: number): Promise<Table> {
  const corpus = await prepareCorpus(bench, corpusRequest(43, files));
  const rows: string[][] = [];
  const notes: string[] = [
    `Emulator latency: ${latencyDescription}; no binding quota (emulator and governor far above what is sent).`,
  ];
  const batchCounts: number[] = [];
  for (const batched of [false, true]) {
    const run = await runFullSyncs({
      environment: environmentFor(bench, `batch-${batched}`, {
        GDRIVE_BATCH_REQUESTS: String(batched),
        GDRIVE_QUOTA_USER_PER_MINUTE: UNGOVERNED,
        GDRIVE_QUOTA_PROJECT_PER_MINUTE: UNGOVERNED,
      }),
      admin: bench.emulator.admin,
      follower: bench.follower,
      producer: bench.producer,
      connections: corpus.connections,
      timeoutMs: 600_000,
    });
    await run.worker.stop();
    batchCounts.push(run.batchRequests);
    rows.push([
      `GDRIVE_BATCH_REQUESTS=${batched}`,
      fmt.seconds(run.seconds),
      fmt.int(run.driveCalls),
      fmt.int(run.batchRequests),
      fmt.fixed(run.driveCalls / corpus.minimum.items, 2),
      fmt.int(run.driveCalls / run.seconds),
      fmt.int(run.records / run.seconds),
      fmt.fixed((run.workerCpuSeconds * 1000) / Math.max(1, run.driveCalls), 2),
      fmt.int(run.records),
    ]);
  }
  if ((batchCounts[1] ?? 0) === 0)
    notes.push(
      'GDRIVE_BATCH_REQUESTS=true made no batch request (the emulator’s `batch` counter is 0): the flag has no effect in this build yet, so both rows measure the same path.',
    );
  return {
    title: `3. Batched vs unbatched per-item calls: ${fmt.int(corpus.minimum.items)} items, 4 connections`,
    columns: [
      'variant',
      'time',
      'Drive calls',
      'batch requests',
      'calls/item',
      'calls/s',
      'records/s',
      'worker CPU ms/call',
      'records',
    ],
    rows,
    notes,
  };
}

// ------------------------------------------------------------------ 6. batching at quota Q

interface PacingVariant {
  readonly name: string;
  readonly run: string;
  readonly batched: boolean;
  readonly mode: BatchMode;
}

const PACING_VARIANTS: readonly PacingVariant[] = [
  { name: 'GDRIVE_BATCH_REQUESTS=false', run: 'pace-off', batched: false, mode: 'serial' },
  { name: 'batching on, emulator serves parts serially', run: 'pace-serial', batched: true, mode: 'serial' },
  {
    name: 'batching on, emulator serves parts in parallel',
    run: 'pace-parallel',
    batched: true,
    mode: 'parallel',
  },
];

async function batchPacingSection(bench: Bench, files: number, quota: number): Promise<Table> {
  const corpus = await prepareCorpus(bench, corpusRequest(42, files));
  const rows: string[][] = [];
  try {
    for (const variant of PACING_VARIANTS) {
      await bench.emulator.admin.setBatchMode(variant.mode);
      // Fresh buckets for every variant: each starts from the same full minute's budget.
      await bench.emulator.admin.setQuota({ perUserPerMinute: quota, perProjectPerMinute: quota });
      const run = await runFullSyncs({
        environment: environmentFor(bench, variant.run, {
          GDRIVE_BATCH_REQUESTS: String(variant.batched),
          GDRIVE_QUOTA_USER_PER_MINUTE: String(quota),
          GDRIVE_QUOTA_PROJECT_PER_MINUTE: String(quota),
        }),
        admin: bench.emulator.admin,
        follower: bench.follower,
        producer: bench.producer,
        connections: corpus.connections,
        timeoutMs: 900_000,
      });
      await run.worker.stop();
      const granted = grantedPerMinute(run);
      rows.push([
        variant.name,
        fmt.seconds(run.seconds),
        fmt.int(run.driveCalls),
        fmt.fixed(run.driveCalls / corpus.minimum.items, 2),
        fmt.int(run.batchRequests),
        run.batchRequests > 0 ? fmt.fixed(run.driveCalls / run.batchRequests, 1) : '–',
        fmt.int(granted),
        fmt.fixed(granted / quota, 2),
        fmt.int(run.rateLimited),
        fmt.int(run.records),
      ]);
    }
  } finally {
    await bench.emulator.admin.setBatchMode('serial');
  }
  return {
    title: `6. Batching at quota Q: ${fmt.int(corpus.minimum.items)} items, 4 connections, Q = ${fmt.int(quota)}/min (emulator and governor), batching off / on against a serial / a parallel emulator`,
    columns: [
      'variant',
      'time',
      'Drive calls',
      'calls/item',
      'batch requests',
      'parts per batch request',
      'rate granted /min',
      'rate / Q',
      'rate-limit answers',
      'records',
    ],
    rows,
    notes: [
      `Emulator latency: ${latencyDescription}; the emulator's batch mode set through PUT /_emulator/settings/batch. Page size 1,000.`,
      'Batch requests in flight and parts per batch follow the governor’s rate and the batch latency observed (src/machines/batch-pacing.ts). Each variant starts a fresh worker, so its first page is planned from the assumption (serial, 50 ms a part), not from what an earlier variant measured.',
      'Parts per batch request counts every Drive call, the unbatched ones (files.list, changes, continued pages) included.',
    ],
  };
}

// ------------------------------------------------------------------ 4. produce path

async function produceSection(
  bench: Bench,
  sample: readonly ProduceSample[],
  records: number,
): Promise<Table> {
  if (sample.length === 0) throw new Error('the produce bench needs file records from section 1');
  const meanBytes = sample.reduce((n, r) => n + Buffer.byteLength(r.value), 0) / sample.length;
  const kafkaConfig = workerConfig(environmentFor(bench, 'produce', {})).kafka;
  const rows: ProduceRow[] = await runProduceBench({
    kafkaConfig,
    sample,
    recordsPerCase: records,
    repetitions: PRODUCE_REPETITIONS,
    topicFor: (index, variant) => `bench-produce-${index}-${variant}`,
  });
  return {
    title: `4. Produce path: worker’s MessageSink vs raw kafkajs sendBatch, ${fmt.int(records)} file records per case (mean ${fmt.int(meanBytes)} bytes of JSON)`,
    columns: ['case', 'sink records/s', 'raw sendBatch records/s', 'sink / raw'],
    rows: rows.map((row) => [
      row.name,
      fmt.int(row.sinkPerSecond),
      fmt.int(row.rawPerSecond),
      fmt.fixed(row.sinkPerSecond / row.rawPerSecond, 2),
    ]),
    notes: [
      `Same broker, records (as section 1 produced them), keys, headers, gzip and acks = all; a topic per case and variant; median of ${PRODUCE_REPETITIONS} interleaved passes.`,
      'The sink keeps one request in flight per key (connection), up to 5 at once, and merges what queues meanwhile; raw kafkajs sends every sender’s batch at once.',
    ],
  };
}

// ------------------------------------------------------------------ 6. head of line

async function headOfLineSection(bench: Bench, pageMessages: number, recordBytes: number): Promise<Table> {
  const kafkaConfig = workerConfig(environmentFor(bench, 'produce', {})).kafka;
  const rows = await runHeadOfLineBench({
    kafkaConfig,
    recordsTopic: HEAD_OF_LINE_TOPICS.records,
    stateTopic: HEAD_OF_LINE_TOPICS.state,
    pageMessages,
    recordBytes,
    repetitions: HEAD_OF_LINE_REPETITIONS,
  });
  const [before, after] = rows;
  if (!before || !after) throw new Error('the head-of-line bench returned no rows');
  return {
    title: `6. A checkpoint behind another connection’s page of ${fmt.int(pageMessages)} records × ${fmt.int(recordBytes)} bytes (${fmt.fixed((pageMessages * recordBytes) / 1e6, 1)} MB): the checkpoint’s acknowledgement`,
    columns: [
      'produce requests in flight',
      'checkpoint acknowledged after',
      'page acknowledged after',
      'checkpoint before page',
    ],
    rows: [
      ...rows.map((row) => [
        row.maxInFlightRequests === 1
          ? '1 (one request at a time, as before)'
          : `${row.maxInFlightRequests} (default)`,
        `${fmt.int(row.smallWriteMs)} ms`,
        `${fmt.int(row.pageMs)} ms`,
        `${row.smallFirst} of ${HEAD_OF_LINE_REPETITIONS}`,
      ]),
      [
        'checkpoint wait, before / after',
        `${fmt.fixed(before.smallWriteMs / after.smallWriteMs, 1)} ×`,
        `${fmt.fixed(before.pageMs / after.pageMs, 2)} ×`,
        '',
      ],
    ],
    notes: [
      `Idempotent producer on one broker; median of ${HEAD_OF_LINE_REPETITIONS} interleaved runs per variant; the checkpoint is sent once the page’s first request is out.`,
      'kafkajs sends an idempotent producer’s requests to one broker one at a time, so with concurrency the checkpoint still waits for the page request already on the wire (≤ 900 kB), not for the page.',
    ],
  };
}

// ------------------------------------------------------------------ 7. memory per sync

const MEMORY_VARIANTS = [
  { pageSize: 100, chunkItems: 100 },
  { pageSize: 1000, chunkItems: 100 },
  { pageSize: 1000, chunkItems: 1000 },
] as const;

/** One worker process syncing `connectionId` with content; its memory figures. */
function memoryRun(spec: MemoryRunSpec): Promise<MemoryRunResult> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'support', 'memory-run.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, '--expose-gc', script, JSON.stringify(spec)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{'))
        reject(new Error(`memory run ${spec.run} exited with ${code}`));
      else resolve(JSON.parse(line) as MemoryRunResult);
    });
  });
}

async function memorySection(bench: Bench, files: number, maxFileBytes: number): Promise<Table> {
  const { admin } = bench.emulator;
  await admin.reset();
  await admin.setQuota({ perUserPerMinute: NO_QUOTA, perProjectPerMinute: NO_QUOTA });
  // Binary files only, each under KAFKA_MAX_INLINE_BYTES once in base64: every payload inline, none in S3.
  const summary = await admin.generateCorpus({
    seed: 71,
    users: 1,
    files,
    maxFileBytes,
    workspaceFraction: 0,
    sharedDrives: 0,
    folderFraction: 0.02,
  });
  const user = summary.users[0];
  if (!user) throw new Error('the memory corpus has no user');
  const results: MemoryRunResult[] = [];
  for (const [i, variant] of MEMORY_VARIANTS.entries()) {
    const connectionId = `conn_memory_${i}`;
    await admin.mapConnection(connectionId, user.user.id);
    results.push(
      await memoryRun({
        brokers: bench.brokers,
        emulatorUrl: bench.emulator.url,
        run: `memory-${i}`,
        connectionId,
        env: { GDRIVE_PAGE_SIZE: String(variant.pageSize), SYNC_CHUNK_ITEMS: String(variant.chunkItems) },
        timeoutMs: 600_000,
      }),
    );
  }
  const mb = (bytes: number) => `${fmt.fixed(bytes / 1024 ** 2, 1)} MB`;
  const rssAbove = (r: MemoryRunResult) => r.peakRssBytes - r.baselineRssBytes;
  const heapAbove = (r: MemoryRunResult) => r.peakHeapBytes - r.baselineHeapBytes;
  const [small, large, whole] = results as [MemoryRunResult, MemoryRunResult, MemoryRunResult];
  return {
    title: `7. Peak memory of one worker over a full sync with content: ${fmt.int(files)} binary files of 0–${fmt.int(maxFileBytes / 1000)} kB, every payload inline`,
    columns: [
      'GDRIVE_PAGE_SIZE / SYNC_CHUNK_ITEMS',
      'peak RSS above idle',
      'peak heap above idle',
      'records',
      'content reads',
      'sync',
    ],
    rows: [
      ...MEMORY_VARIANTS.map((variant, i) => {
        const r = results[i] as MemoryRunResult;
        return [
          `${fmt.int(variant.pageSize)} / ${fmt.int(variant.chunkItems)}`,
          mb(rssAbove(r)),
          mb(heapAbove(r)),
          fmt.int(r.records),
          fmt.int(r.contentReads),
          r.outcome === 'ok' ? fmt.seconds(r.seconds) : 'failed',
        ];
      }),
      [
        'pages of 1,000 / pages of 100, chunks of 100',
        `${fmt.fixed(rssAbove(large) / rssAbove(small), 2)} ×`,
        `${fmt.fixed(heapAbove(large) / heapAbove(small), 2)} ×`,
        '',
        '',
      ],
      [
        'chunks of 1,000 / chunks of 100, pages of 1,000',
        `${fmt.fixed(rssAbove(whole) / rssAbove(large), 2)} ×`,
        `${fmt.fixed(heapAbove(whole) / heapAbove(large), 2)} ×`,
        '',
        '',
      ],
    ],
    notes: [
      'Each run is a worker process of its own (idle figures after a GC, then sampled every 10 ms); the same corpus, its own topics.',
      'A page is built and published SYNC_CHUNK_ITEMS items at a time, so what a sync holds is bounded by the chunk (and KAFKA_MAX_INLINE_BYTES per payload), not by the page.',
    ],
  };
}

// ------------------------------------------------------------------ 5. webhook latency

async function latencySection(bench: Bench, edits: number, spacingMs: number): Promise<Table> {
  const corpus = await prepareCorpus(bench, { seed: 45, users: 2, files: 300, sharedDrives: 1 });
  const first = corpus.connections[0];
  const credentials = corpus.summary.users[0];
  if (!first || !credentials) throw new Error('the latency corpus has no user');
  const result: WebhookLatencyResult = await measureWebhookLatency({
    environment: environmentFor(bench, 'latency', {}),
    admin: bench.emulator.admin,
    follower: bench.follower,
    producer: bench.producer,
    connection: first,
    accessToken: credentials.accessToken,
    edits,
    spacingMs,
  });
  const title =
    '5. Webhook-to-record latency: edit through googleapis → emulator notification → webhook ingress → webhook topic → worker → record read back';
  if (!result.available)
    return {
      title,
      columns: ['figure', 'value'],
      rows: [
        ['median', 'not available'],
        ['p99', 'not available'],
      ],
      notes: [result.reason],
    };
  return {
    title,
    columns: ['figure', 'value'],
    rows: [
      ['edits (one file each, one at a time)', String(result.samplesMs.length)],
      ['median', `${fmt.int(result.medianMs)} ms`],
      [`p99 (nearest rank of ${result.samplesMs.length}: the slowest)`, `${fmt.int(result.p99Ms)} ms`],
      ['fastest', `${fmt.int(Math.min(...result.samplesMs))} ms`],
      ...result.stepsMedianMs.map(({ step, ms }) => [`  edit → ${step} (median)`, `${fmt.int(ms)} ms`]),
    ],
    notes: [
      `Emulator latency: ${latencyDescription}; ${result.spacingMs} ms between one edit’s record and the next edit.`,
      'One edit at a time leaves the connection quiet between notifications, so each incremental run starts at once (src/actors/channel-quiet.ts: only the follow-up run of a burst waits for 0.5 s of quiet).',
      'The broker is Apache Kafka (embedded, one node): a fetch is answered as soon as a message arrives, so “worker handled” carries no fetch wait.',
    ],
  };
}

// ------------------------------------------------------------------ main

function machineFacts(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 1024 ** 3)} GB RAM, Node ${process.version}, ${process.platform}`;
}

export async function runWorkerBenchmark(options: {
  readonly scale: number;
  readonly sections: ReadonlySet<number>;
  readonly pacingQuota?: number;
}): Promise<Table[]> {
  const n = (count: number) => Math.max(40, Math.round(count * options.scale));
  const files = n(20_000);
  const quota = 60_000;
  const governorFiles = n(800);
  const governorQuota = 12_000;
  const batchFiles = n(4_000);

  const runs = [
    'sync',
    'governor-0',
    'governor-1',
    'governor-2',
    'batch-false',
    'batch-true',
    'latency',
    ...MEMORY_VARIANTS.map((_, i) => `memory-${i}`),
    ...PACING_VARIANTS.map((variant) => variant.run),
  ];
  const runTopics: RunTopics[] = runs.map(topicsFor);
  const produceTopics = produceCases.flatMap((_, i) => [`bench-produce-${i}-sink`, `bench-produce-${i}-raw`]);
  const kafka = await startApacheKafka({ brokers: 1, heapMb: 1024 });
  await kafka.createTopics([
    ...runTopicSpecs(runTopics, PARTITIONS),
    ...produceTopics.map((name) => ({ name, partitions: PARTITIONS })),
    ...Object.values(HEAD_OF_LINE_TOPICS).map((name) => ({ name, partitions: PARTITIONS })),
  ]);
  const emulator = await startEmulatorProcess();
  const follower = await TopicFollower.start(kafka.bootstrapServers, [
    ...runTopics.flatMap((t) => [t.records, t.errors]),
    topicsFor('latency').webhook,
  ]);
  const client = new Kafka({
    clientId: 'bench-triggers',
    brokers: kafka.bootstrapServers,
    logLevel: logLevel.NOTHING,
  });
  const producer = client.producer({ createPartitioner: Murmur2Partitioner });
  await producer.connect();
  const bench: Bench = { brokers: kafka.bootstrapServers, emulator, follower, producer };

  const tables: Table[] = [];
  const timings: string[] = [];
  const section = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    console.error(`bench: ${name} …`);
    try {
      return await work();
    } finally {
      timings.push(`${name} ${fmt.seconds((performance.now() - started) / 1000)}`);
    }
  };
  try {
    let sample: ProduceSample[] = [];
    if (options.sections.has(1) || options.sections.has(4)) {
      const synced = await section('1 full sync', () => fullSyncSection(bench, files, quota));
      if (options.sections.has(1)) tables.push(synced.table, synced.methods);
      sample = synced.sample;
    }
    if (options.sections.has(2))
      tables.push(await section('2 governor', () => governorSection(bench, governorFiles, governorQuota)));
    if (options.sections.has(3))
      tables.push(await section('3 batching', () => batchSection(bench, batchFiles)));
    if (options.sections.has(4))
      tables.push(await section('4 produce', () => produceSection(bench, sample, 30_000)));
    if (options.sections.has(5))
      tables.push(await section('5 latency', () => latencySection(bench, 12, 300)));
    if (options.sections.has(6))
      tables.push(await section('6 head of line', () => headOfLineSection(bench, 1_000, 4_000)));
    if (options.sections.has(7))
      tables.push(await section('7 memory', () => memorySection(bench, n(3_000), 60_000)));
    if (options.sections.has(8))
      tables.push(
        await section('8 batch pacing', () => batchPacingSection(bench, files, options.pacingQuota ?? quota)),
      );
  } finally {
    await producer.disconnect();
    await follower.stop();
    await emulator.stop();
    await kafka.stop();
  }
  tables.push({
    title: 'Run',
    columns: ['figure', 'value'],
    rows: [
      ['machine', machineFacts()],
      ['wall time per section', timings.join(', ')],
      ['scale', String(options.scale)],
    ],
  });
  return tables;
}

async function main(): Promise<void> {
  quietKnownWarnings();
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      sections: { type: 'string', default: '1,2,3,4,5,6,7,8' },
      'pacing-quota': { type: 'string' },
    },
  });
  const sections = new Set(values.sections.split(',').map(Number));
  const started = performance.now();
  const tables = await runWorkerBenchmark({
    scale: Number(values.scale),
    sections,
    ...(values['pacing-quota'] !== undefined ? { pacingQuota: Number(values['pacing-quota']) } : {}),
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nworker bench: ${fmt.seconds(seconds)}\n`);
  for (const table of tables) console.log(`${textOf(table)}\n`);
  const markdown = [`## Worker bench (${fmt.seconds(seconds)})`, '', ...tables.map(markdownOf)].join('\n');
  await writeResults('worker', markdown);
}

runWhenEntry(import.meta.url, main);
