/**
 * Scale benchmark, one worker:
 *
 *   idle     100,000 idle connections with push channels in one worker: restore time of their
 *            checkpoints at assignment, resident heap bytes per idle connection, and the
 *            activation latency of a connection that has no actor when a trigger arrives;
 *   webhook  webhook → record latency against one `changes.list` round trip measured in
 *            the same run.
 *
 *   npx tsx bench/scale.ts [--scenario idle,webhook] [--connections 100000] [--samples 200]
 *
 * The idle world is made cheaply: the checkpoints are written straight to the state topic
 * with kafkajs, each as an idle connection that finished an incremental run would have it
 * (a cursor, a channel expiring hours from now, the last sync's counts). Only the connections
 * the activation samples use exist in the emulator (one tiny user each, mapped for the
 * control plane); the others are never woken. The worker under measure runs in a child
 * process (bench/support/worker-process.ts) so that its heap holds nothing of the bench.
 * Timings are printed, never asserted; the figures also go to bench/results/scale.md.
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as google from '@googleapis/drive';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { ConnectionCheckpoint } from '../src/contract/checkpoint.js';
import { startApacheKafka } from '../src/embedded/apache-kafka.js';
import { Murmur2Partitioner } from '../src/io/kafka/murmur2-partitioner.js';
import { OWNER_EPOCH_HEADER } from '../src/io/kafka/owner-epoch.js';
import { quietKnownWarnings } from '../src/quiet-warnings.js';
import { latencyDescription, setBenchLatency } from './support/emulator-load.js';
import { type EmulatorProcess, startEmulatorProcess } from './support/emulator-process.js';
import { fmt, markdownOf, runWhenEntry, type Table, textOf, writeResults } from './support/table.js';
import { TopicFollower } from './support/topic-follower.js';
import { measureWebhookLatency, quantile } from './support/webhook-latency.js';
import { startWorkerProcess, type WorkerEvent, type WorkerMemory } from './support/worker-process.js';
import {
  type RunTopics,
  runTopicSpecs,
  topicsFor,
  type WorkerEnvironment,
  workerVariables,
} from './support/worker-run.js';

/** As many as KAFKA_CREATE_TOPICS_PARTITIONS makes by default. */
const PARTITIONS = 12;
const CHANNEL_SECRET = 'bench-scale-channel-secret';
/** Nobody listens there: the emulator's notifications to it fail, which the idle world never sees. */
const CHANNEL_ADDRESS = 'http://127.0.0.1:9/webhooks/google-drive';
const WRITE_BATCH = 2_000;
const ACTIVATION_TIMEOUT_MS = 15_000;
const ROUND_TRIPS = 30;
/** Activations before the measured ones, so the samples are of a worker whose code paths are compiled. */
const WARM_UP = 10;

const scenarios = ['idle', 'webhook'] as const;
type Scenario = (typeof scenarios)[number];

interface Bench {
  readonly brokers: readonly string[];
  readonly emulator: EmulatorProcess;
  readonly producer: Producer;
}

function environmentFor(bench: Bench, run: string, env: Record<string, string>): WorkerEnvironment {
  return { brokers: bench.brokers, emulatorUrl: bench.emulator.url, topics: topicsFor(run), run, env };
}

// ------------------------------------------------------------------ idle connections

/** Connection ids as long as a platform's (a prefix and a 26-character ULID-like tail). */
function connectionIdOf(index: number): string {
  return `conn_${index.toString(36).padStart(8, '0')}${'x'.repeat(18)}`;
}

/** The checkpoint of an idle connection whose last incremental run ended a while ago, channel open. */
function idleCheckpoint(index: number, cursor: string, now: number): ConnectionCheckpoint {
  const minutes = 60_000;
  const hours = 60 * minutes;
  const connectionId = connectionIdOf(index);
  const finishedAt = new Date(now - (5 + (index % 600)) * minutes).toISOString();
  return {
    version: 1,
    connectionId,
    customerId: `cust_${(index % 5_000).toString(36).padStart(8, '0')}${'y'.repeat(18)}`,
    cursor,
    options: { include: ['permissions', 'revisions', 'comments'], driveIds: null },
    scopeFrom: null,
    activeSync: null,
    pending: null,
    backoff: null,
    // Renewed an hour before expiry: every channel here expires two to seven days from now,
    // so none comes due during the run and the wake schedule holds all of them.
    channel: {
      id: randomUUID(),
      resourceId: `res_${index.toString(36)}_${'r'.repeat(20)}`,
      expiration: new Date(now + 48 * hours + (index % 120) * hours).toISOString(),
      openedAt: new Date(now - (index % 48) * hours).toISOString(),
    },
    channelRetry: null,
    parked: null,
    lastSync: {
      syncId: randomUUID(),
      mode: 'incremental',
      finishedAt,
      counts: { file: index % 7, permission: index % 3, change_pages: 1 },
    },
    updatedAt: finishedAt,
  };
}

async function writeCheckpoints(
  producer: Producer,
  topic: string,
  count: number,
  cursorOf: (index: number) => string,
): Promise<{ seconds: number; bytes: number }> {
  const started = performance.now();
  const now = Date.now();
  let bytes = 0;
  for (let from = 0; from < count; from += WRITE_BATCH) {
    const messages = [];
    for (let index = from; index < Math.min(count, from + WRITE_BATCH); index++) {
      const checkpoint = idleCheckpoint(index, cursorOf(index), now);
      const value = JSON.stringify(checkpoint);
      bytes += value.length;
      messages.push({
        key: checkpoint.connectionId,
        value,
        headers: {
          'content-type': 'application/json',
          'idempotency-key': `checkpoint:${checkpoint.connectionId}`,
          'resource-type': 'checkpoint',
          'correlation-id': '',
          [OWNER_EPOCH_HEADER]: '1',
        },
      });
    }
    await producer.send({ topic, messages });
  }
  return { seconds: (performance.now() - started) / 1000, bytes };
}

interface ActivationSample {
  readonly receivedMs: number;
  readonly activatedMs: number;
  readonly startedMs: number;
  readonly driveCallMs: number | null;
  readonly finishedMs: number;
  readonly fromCheckpoint: boolean;
}

/**
 * One trigger at a time for a connection that has no actor; the clock starts just before
 * the trigger is handed to kafkajs and stops at the worker's events for it.
 */
async function activate(
  bench: Bench,
  environment: WorkerEnvironment,
  events: WorkerEvent[],
  connectionId: string,
): Promise<ActivationSample> {
  const from = events.length;
  const t0 = process.hrtime.bigint();
  await bench.producer.send({
    topic: environment.topics.trigger,
    messages: [
      {
        key: connectionId,
        value: JSON.stringify({
          message_id: `bench-scale-${connectionId}-${randomUUID()}`,
          customer_id: 'cust_scale',
          integration_id: 'google-drive',
          integration_connection_id: connectionId,
          trigger_type: 'incremental',
        }),
      },
    ],
  });
  const deadline = performance.now() + ACTIVATION_TIMEOUT_MS;
  const since = (event: WorkerEvent | undefined) =>
    event === undefined ? null : Number(BigInt(event.atNs) - t0) / 1e6;
  for (;;) {
    const mine = events.slice(from);
    const activated = mine.find((e) => e.name === 'connection.activated' && e.connectionId === connectionId);
    const started = mine.find((e) => e.name === 'sync.started' && e.connectionId === connectionId);
    const finished = mine.find((e) => e.name === 'sync.finished' && e.connectionId === connectionId);
    const received = mine.find(
      (e) => e.name === 'message.received' && e.detail === environment.topics.trigger,
    );
    if (received && activated && started && finished) {
      const call = mine.find((e) => e.name === 'drive.call' && e.detail === 'drive.changes.list');
      if (finished.detail !== 'ok') throw new Error(`the incremental run of ${connectionId} failed`);
      return {
        receivedMs: since(received) as number,
        activatedMs: since(activated) as number,
        startedMs: since(started) as number,
        driveCallMs: since(call),
        finishedMs: since(finished) as number,
        fromCheckpoint: activated.detail === 'checkpoint',
      };
    }
    if (performance.now() > deadline)
      throw new Error(`no activation of ${connectionId} within ${ACTIVATION_TIMEOUT_MS / 1000} s`);
    await sleep(1);
  }
}

function percentiles(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN };
}

const ms = (n: number) => `${fmt.fixed(n, 2)} ms`;
const kib = (bytes: number) => `${fmt.fixed(bytes / 1024, 2)} KiB`;

async function idleScenario(bench: Bench, connections: number, samples: number): Promise<Table[]> {
  const { admin } = bench.emulator;
  await admin.reset();
  // One tiny user per sampled connection; the control plane hands out their tokens.
  const corpus = await admin.generateCorpus({
    seed: 51,
    users: samples + WARM_UP,
    files: (samples + WARM_UP) * 2,
    sharedDrives: 0,
    revisionDensity: 0,
    commentDensity: 0,
  });
  const step = Math.max(1, Math.floor(connections / (samples + WARM_UP)));
  const sampled = corpus.users.slice(0, samples + WARM_UP).map((credentials, i) => ({
    index: i * step,
    connectionId: connectionIdOf(i * step),
    userId: credentials.user.id,
  }));
  for (const s of sampled) await admin.mapConnection(s.connectionId, s.userId);
  const env = {
    GDRIVE_CHANNEL_ADDRESS: CHANNEL_ADDRESS,
    GDRIVE_CHANNEL_TOKEN_SECRET: CHANNEL_SECRET,
    // Production's default: nothing becomes resident during the run except the samples.
    WORKER_IDLE_EVICTION_SECONDS: '900',
  };
  const empty = environmentFor(bench, 'scale-empty', env);
  const idle = environmentFor(bench, 'scale-idle', env);
  const written = await writeCheckpoints(
    bench.producer,
    idle.topics.state,
    connections,
    () => corpus.startPageToken,
  );

  // The same worker over an empty state topic: what 100,000 connections add is the difference.
  const baseline = await startWorkerProcess(workerVariables(empty));
  const before: WorkerMemory = await baseline.memory();
  const baselineCpuMs = baseline.startCpuMs;
  await baseline.stop();

  const worker = await startWorkerProcess(workerVariables(idle));
  const events: WorkerEvent[] = [];
  worker.onEvent((event) => events.push(event));
  const loaded = await worker.memory();
  const perConnection = (loaded.heapUsed - before.heapUsed) / connections;
  const perConnectionExternal = (loaded.external - before.external) / connections;

  const results: ActivationSample[] = [];
  for (const [i, s] of sampled.entries()) {
    const sample = await activate(bench, idle, events, s.connectionId);
    if (i >= WARM_UP) results.push(sample);
    events.length = 0;
  }
  const after = await worker.memory();
  await worker.stop();

  const restored = worker.restored;
  const received = percentiles(results.map((r) => r.receivedMs));
  const activated = percentiles(results.map((r) => r.activatedMs));
  const rehydrated = percentiles(results.map((r) => r.activatedMs - r.receivedMs));
  const started = percentiles(results.map((r) => r.startedMs));
  const called = percentiles(results.flatMap((r) => (r.driveCallMs === null ? [] : [r.driveCallMs])));
  const finished = percentiles(results.map((r) => r.finishedMs));
  const toRun = percentiles(results.map((r) => r.startedMs - r.receivedMs));
  const rebuilt = results.filter((r) => r.fromCheckpoint).length;
  const restoreTable: Table = {
    title: `A. ${fmt.int(connections)} idle connections with push channels, one worker, ${PARTITIONS} partitions`,
    columns: ['figure', 'value', 'goal'],
    rows: [
      [
        'checkpoints written (kafkajs, straight to the state topic)',
        `${fmt.int(connections)} (${fmt.int(written.bytes / connections)} bytes of JSON each, ${fmt.seconds(written.seconds)})`,
        '',
      ],
      [
        'restore at assignment (claim: read to the end, owner markers; place every connection)',
        fmt.seconds(restored.durationMs / 1000),
        '< 10 s',
      ],
      ['  per 1,000 checkpoints', ms(restored.durationMs / (connections / 1000)), ''],
      [
        '  connections started / asleep in the wake schedule',
        `${fmt.int(restored.started)} / ${fmt.int(restored.sleeping)}`,
        '',
      ],
      ['worker start → ready (connect, join, restore)', fmt.seconds(worker.startMs / 1000), ''],
      [
        'worker CPU, start → ready: 0 connections / with them (the restore’s CPU is the difference)',
        `${fmt.seconds(baselineCpuMs / 1000)} / ${fmt.seconds(worker.startCpuMs / 1000)} (${ms((worker.startCpuMs - baselineCpuMs) / (connections / 1000))} per 1,000 checkpoints)`,
        '',
      ],
      [
        `heap after GC: 0 connections / ${fmt.int(connections)} idle`,
        `${fmt.fixed(before.heapUsed / 1024 ** 2, 1)} MiB / ${fmt.fixed(loaded.heapUsed / 1024 ** 2, 1)} MiB`,
        '',
      ],
      [
        'resident heap bytes per idle connection',
        `${fmt.int(perConnection)} B (${kib(perConnection)})`,
        '≤ 2 KB',
      ],
      ['  external (Buffers) per connection', `${fmt.int(perConnectionExternal)} B`, ''],
      [
        `RSS: 0 connections / ${fmt.int(connections)} idle`,
        `${fmt.int(before.rss / 1024 ** 2)} MiB / ${fmt.int(loaded.rss / 1024 ** 2)} MiB`,
        '',
      ],
      ['actors resident after restore', fmt.int(loaded.resident), ''],
    ],
    notes: [
      'Restore time is the worker’s own `checkpoints.restored` event: from the assignment reaching the worker to every connection placed (the table read the partitions to their end, wrote its owner markers and read up to them; connections with a sync to resume started, the others asleep until their channel’s renewal or their next message).',
      'The machine’s load (Run, below) stretches wall times: the restore’s CPU time does not depend on it, and a restore with a core to itself takes at least that long.',
      'Heap: `process.memoryUsage().heapUsed` after four `gc()` calls in the worker’s own process (--expose-gc), ready and quiet; the baseline is the same worker over an empty state topic with the same partitions.',
    ],
  };
  const activationTable: Table = {
    title: `A2. Activation of a connection without an actor: ${fmt.int(results.length)} incremental triggers (after ${WARM_UP} not counted), one at a time, each for a different connection asleep since the restore`,
    columns: ['from … to …', 'p50', 'p99', 'slowest', 'goal'],
    rows: [
      [
        'in the worker: message received → actor rebuilt',
        ms(rehydrated.p50),
        ms(rehydrated.p99),
        ms(rehydrated.max),
        '',
      ],
      [
        'in the worker: message received → its run started (the activation)',
        ms(toRun.p50),
        ms(toRun.p99),
        ms(toRun.max),
        'p99 < 5 ms',
      ],
      [
        'trigger handed to kafkajs → message received (broker hop)',
        ms(received.p50),
        ms(received.p99),
        ms(received.max),
        '',
      ],
      ['trigger → actor rebuilt', ms(activated.p50), ms(activated.p99), ms(activated.max), ''],
      ['trigger → run started', ms(started.p50), ms(started.p99), ms(started.max), ''],
      [
        'trigger → first Drive call answered (changes.list)',
        ms(called.p50),
        ms(called.p99),
        ms(called.max),
        '',
      ],
      [
        'trigger → run finished, checkpoint acknowledged',
        ms(finished.p50),
        ms(finished.p99),
        ms(finished.max),
        '',
      ],
    ],
    notes: [
      `The activation is measured in the worker, from its inbound handler receiving the trigger (\`message.received\`) to the incremental run the trigger asked for starting (\`sync.started\`): the message validated, the actor rebuilt from the table's checkpoint (\`connection.activated\`), the event sent, a sync slot taken. ${rebuilt} of ${results.length} actors were rebuilt from a checkpoint. The broker hop before it (produce with acks = all on the embedded one-node broker, then the consumer's fetch) is the broker's, shown apart.`,
      'The first Drive call includes the control plane’s token call (the emulator’s; a connection asleep since the restore has no cached token) and the emulator’s answer, with no latency set for this scenario.',
      'Stamps: `process.hrtime` in the bench and in the worker’s process, the same monotonic clock.',
      `After the samples: ${fmt.int(after.resident)} actors resident, ${fmt.int(after.sleeping)} asleep; heap ${fmt.fixed(after.heapUsed / 1024 ** 2, 1)} MiB.`,
    ],
  };
  return [restoreTable, activationTable];
}

// ------------------------------------------------------------------ webhook latency

async function changesRoundTrips(
  emulatorUrl: string,
  accessToken: string,
  pageToken: string,
): Promise<number[]> {
  const drive = google.drive({ version: 'v3', rootUrl: `${emulatorUrl}/` });
  const auth = { headers: { Authorization: `Bearer ${accessToken}` }, retry: false };
  const times: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const started = performance.now();
    await drive.changes.list(
      {
        pageToken,
        pageSize: 1000,
        includeItemsFromAllDrives: true,
        supportsAllDrives: true,
        fields: 'nextPageToken,newStartPageToken,changes',
      },
      auth,
    );
    times.push(performance.now() - started);
  }
  return times;
}

async function webhookScenario(bench: Bench, edits: number): Promise<Table> {
  const { admin } = bench.emulator;
  await admin.reset();
  const corpus = await admin.generateCorpus({ seed: 45, users: 2, files: 300, sharedDrives: 1 });
  const credentials = corpus.users[0];
  if (!credentials) throw new Error('the webhook corpus has no user');
  const connection = { connectionId: 'conn_scale_webhook', userId: credentials.user.id };
  await admin.mapConnection(connection.connectionId, connection.userId);
  await setBenchLatency(admin);
  const environment = environmentFor(bench, 'scale-webhook', {});
  const follower = await TopicFollower.start(bench.brokers, [
    environment.topics.records,
    environment.topics.errors,
    environment.topics.webhook,
  ]);
  try {
    const roundTrips = percentiles(
      await changesRoundTrips(bench.emulator.url, credentials.accessToken, corpus.startPageToken),
    );
    const result = await measureWebhookLatency({
      environment,
      admin,
      follower,
      producer: bench.producer,
      connection,
      accessToken: credentials.accessToken,
      edits,
      spacingMs: 300,
    });
    const title = 'D. Webhook → record latency against one changes.list round trip, same run';
    if (!result.available)
      return {
        title,
        columns: ['figure', 'value'],
        rows: [['webhook → record', 'not available']],
        notes: [result.reason],
      };
    const goal = 2 * roundTrips.p50;
    return {
      title,
      columns: ['figure', 'p50', 'p99'],
      rows: [
        [
          `one changes.list round trip (${ROUND_TRIPS} calls, googleapis → emulator)`,
          ms(roundTrips.p50),
          ms(roundTrips.p99),
        ],
        [
          `webhook → record (${result.samplesMs.length} edits, one at a time)`,
          ms(result.medianMs),
          ms(result.p99Ms),
        ],
        [
          'webhook → record ÷ one round trip (p50)',
          fmt.fixed(result.medianMs / roundTrips.p50, 1),
          fmt.fixed(result.p99Ms / roundTrips.p50, 1),
        ],
        ...result.stepsMedianMs.map(({ step, ms: at }) => [`  edit → ${step}`, ms(at), '']),
      ],
      notes: [
        `Emulator latency: ${latencyDescription}; ${result.spacingMs} ms between one edit’s record and the next edit. Measured from the edit call’s answer to the bench’s follower reading the record (bench/support/webhook-latency.ts).`,
        `Goal (webhook run at the round-trip floor): p99 ≤ 2 × one round trip + the broker’s fetch wait = ${ms(goal)} + the fetch wait (the embedded broker answers a fetch as soon as a message arrives). Measured p99 ${ms(result.p99Ms)}: ${result.p99Ms <= goal ? 'within' : `${fmt.fixed(result.p99Ms - goal, 0)} ms above`} the round-trip part.`,
        'Edits one at a time leave the connection quiet between notifications: each run reads at once (src/actors/channel-quiet.ts; only a burst’s follow-up run waits for 0.5 s of quiet).',
      ],
    };
  } finally {
    await follower.stop();
  }
}

// ------------------------------------------------------------------ main

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  quietKnownWarnings();
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: scenarios.join(',') },
      connections: { type: 'string', default: '100000' },
      samples: { type: 'string', default: '200' },
      edits: { type: 'string', default: '30' },
    },
  });
  const selected = values.scenario.split(',').map((s) => s.trim());
  for (const s of selected)
    if (!(scenarios as readonly string[]).includes(s)) {
      console.error(`unknown scenario "${s}": use ${scenarios.join(', ')}`);
      process.exit(2);
    }
  const run = (s: Scenario) => selected.includes(s);
  const connections = Number(values.connections);
  const samples = Math.min(Number(values.samples), connections);
  const started = performance.now();
  const loadAtStart = loadavg()[0] ?? 0;

  const runs = ['scale-empty', 'scale-idle', 'scale-webhook'];
  const runTopics: RunTopics[] = runs.map(topicsFor);
  const kafka = await startApacheKafka({ brokers: 1, heapMb: 1024 });
  const tables: Table[] = [];
  const timings: string[] = [];
  let emulator: EmulatorProcess | null = null;
  let producer: Producer | null = null;
  try {
    await kafka.createTopics(runTopicSpecs(runTopics, PARTITIONS));
    emulator = await startEmulatorProcess();
    const client = new Kafka({
      clientId: 'bench-scale',
      brokers: kafka.bootstrapServers,
      logLevel: logLevel.NOTHING,
    });
    producer = client.producer({ createPartitioner: Murmur2Partitioner });
    await producer.connect();
    const bench: Bench = { brokers: kafka.bootstrapServers, emulator, producer };
    const section = async (name: string, work: () => Promise<Table[]>) => {
      const at = performance.now();
      console.error(`bench: ${name} …`);
      tables.push(...(await work()));
      timings.push(`${name} ${fmt.seconds((performance.now() - at) / 1000)}`);
    };
    if (run('idle')) await section('idle', () => idleScenario(bench, connections, samples));
    if (run('webhook'))
      await section('webhook', async () => [await webhookScenario(bench, Number(values.edits))]);
  } finally {
    await producer?.disconnect();
    await emulator?.stop();
    await kafka.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  tables.push({
    title: 'Run',
    columns: ['figure', 'value'],
    rows: [
      ['wall time per scenario', timings.join(', ')],
      [
        'load average (1 min) at the start / at the end',
        `${loadAtStart.toFixed(1)} / ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores`,
      ],
      [
        'command',
        `npx tsx bench/scale.ts --scenario ${selected.join(',')} --connections ${connections} --samples ${samples}`,
      ],
    ],
  });
  console.log(`\nscale bench: ${fmt.seconds(seconds)}\n`);
  for (const table of tables) console.log(`${textOf(table)}\n`);
  const markdown = [
    `## Scale bench, one worker (${fmt.seconds(seconds)})`,
    '',
    ...tables.map(markdownOf),
  ].join('\n');
  await writeResults('scale', markdown);
}

runWhenEntry(import.meta.url, main);
