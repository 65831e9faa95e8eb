/**
 * Scale bench, the fleet's side: the real worker on the embedded Apache Kafka against the
 * Drive emulator in a child process (latency and quota set), two scenarios in one run:
 *
 *   B. fairness: one worker, 1,000 connections with tiny drives triggered while a connection
 *      with 100,000 items walks; how long the worst small connection waits against what its
 *      calls cost at the quota, the rate the governor achieves against the quota, and the
 *      rate-limit answers Drive gave (the emulator's own counters);
 *   C. a fleet: three worker processes (`src/main.ts`, as `npm start` runs it) in one
 *      consumer group on 12 partitions, 3,000 connections; the rate the emulator served
 *      against GDRIVE_QUOTA_PROJECT_PER_MINUTE, one worker killed with SIGKILL half way, the
 *      time until its connections progress again, and every connection held to the
 *      project's drive-truth check at the end (records applied as the contract says against
 *      the user's own listing).
 *
 *   npx tsx bench/scale-fleet.ts [--scenarios b,c] [--big-items 10000] [--small 1000]
 *                                [--fleet-connections 3000]
 *
 * The big drive defaults to 10,000 items, not the 100,000 the scenario names, to keep a run
 * within minutes on 2 cores: 100,000 items are about 200,000 calls, 17 minutes at the default
 * quota of 12,000 a minute (`--quota 12000 --big-items 100000` runs it). The
 * emulator's generator spends time per user on every item it writes, so the setup of 3,000
 * users is minutes on a loaded machine.
 *
 * Timings are printed, never asserted. The figures are also written to bench/results/fleet.md.
 */
import { cpus, release, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as google from '@googleapis/drive';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { OutboundRecord } from '../src/contract/records.js';
import { startApacheKafka } from '../src/embedded/apache-kafka.js';
import type { EmulatorAdminClient, GeneratedCorpusSummary } from '../src/emulator/admin-client.js';
import { Murmur2Partitioner, partitionForKey } from '../src/io/kafka/murmur2-partitioner.js';
import { quietKnownWarnings } from '../src/quiet-warnings.js';
import { expectRecordsMatchDrive, visibleTo } from '../test/support/drive-truth.js';
import { type SpawnedWorker, spawnWorker } from '../test/support/spawned-worker.js';
import { until } from '../test/support/until.js';
import { latencyDescription, setBenchLatency } from './support/emulator-load.js';
import { type EmulatorProcess, startEmulatorProcess } from './support/emulator-process.js';
import { type MinimumCalls, minimumCallsFor, sumMinimum } from './support/minimum-calls.js';
import { fmt, markdownOf, runWhenEntry, type Table, textOf, writeResults } from './support/table.js';
import { TopicFollower } from './support/topic-follower.js';
import {
  type BenchConnection,
  DriveCallTally,
  driveCallsOf,
  fullSyncTrigger,
  type RunTopics,
  runTopicSpecs,
  startBenchWorker,
  topicsFor,
  type WorkerEnvironment,
  workerConfig,
  workerVariables,
} from './support/worker-run.js';

const PARTITIONS = 12;
const NO_QUOTA = 1e9;
const REFUSALS = ['quota.userRateLimitExceeded', 'quota.rateLimitExceeded'];
const LIST_METHODS = ['drive.files.list', 'drive.changes.list', 'drive.drives.list'];

interface Bench {
  readonly brokers: readonly string[];
  readonly emulator: EmulatorProcess;
  readonly follower: TopicFollower;
  readonly producer: Producer;
}

function environmentFor(bench: Bench, run: string, env: Record<string, string>): WorkerEnvironment {
  return { brokers: bench.brokers, emulatorUrl: bench.emulator.url, topics: topicsFor(run), run, env };
}

/** Calls above the minimum, per method (`drive.drives.list +3,000`), from the emulator's counters. */
function aboveMinimum(counters: Readonly<Record<string, number>>, minimum: MinimumCalls): string {
  const methods = new Set([
    ...Object.keys(minimum.byMethod),
    ...Object.keys(counters).filter((m) => m.startsWith('drive.')),
  ]);
  const above = [...methods].sort().flatMap((method) => {
    const extra = (counters[method] ?? 0) - (minimum.byMethod[method] ?? 0);
    return extra > 0 ? [`${method.replace('drive.', '')} +${fmt.int(extra)}`] : [];
  });
  return above.length > 0 ? above.join(', ') : 'none';
}

function refusalsOf(counters: Readonly<Record<string, number>>): number {
  return REFUSALS.reduce((n, name) => n + (counters[name] ?? 0), 0);
}

async function mapAll<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

/** One connection per generated user, named `conn_<prefix>_<n>`, with the minimum calls of its full sync. */
async function connectionsOf(
  bench: Bench,
  summary: GeneratedCorpusSummary,
  name: (index: number) => string,
): Promise<{ connections: BenchConnection[]; minima: MinimumCalls[]; tokens: string[] }> {
  const { admin } = bench.emulator;
  const started = performance.now();
  const users = summary.users.map((credentials, index) => ({ credentials, connectionId: name(index) }));
  await mapAll(users, 16, ({ credentials, connectionId }) =>
    admin.mapConnection(connectionId, credentials.user.id),
  );
  const minima = await mapAll(users, 8, ({ credentials }) =>
    minimumCallsFor(bench.emulator.url, credentials.accessToken),
  );
  console.error(
    `bench: ${users.length} connections mapped and their minimum calls derived in ${fmt.seconds((performance.now() - started) / 1000)}`,
  );
  return {
    connections: users.map((u) => ({ connectionId: u.connectionId, userId: u.credentials.user.id })),
    minima,
    tokens: users.map((u) => u.credentials.accessToken),
  };
}

async function sendTriggers(bench: Bench, topic: string, run: string, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) {
    await bench.producer.send({
      topic,
      messages: ids
        .slice(i, i + 500)
        .map((id) => ({ key: id, value: JSON.stringify(fullSyncTrigger(id, run)) })),
    });
  }
}

/** Prints a line to stderr every 15 s while a long wait lasts; returns the stop. */
function progress(label: string, describe: () => string): () => void {
  const started = performance.now();
  const timer = setInterval(() => {
    console.error(`bench: ${label} ${fmt.seconds((performance.now() - started) / 1000)}: ${describe()}`);
  }, 15_000);
  timer.unref();
  return () => clearInterval(timer);
}

// ------------------------------------------------------------------ Drive's side, sampled

interface CounterSample {
  /** performance.now() when the answer came. */
  readonly at: number;
  /** Drive calls the emulator granted so far (counted calls less its quota refusals). */
  readonly granted: number;
  readonly refused: number;
}

/** The emulator's counters polled once a second: the rate Drive served, from Drive's side. */
class CounterSampler {
  readonly samples: CounterSample[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly admin: EmulatorAdminClient) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.sample();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  async sample(): Promise<CounterSample> {
    const counters = await this.admin.counters();
    const refused = refusalsOf(counters);
    const sample = { at: performance.now(), granted: driveCallsOf(counters) - refused, refused };
    this.samples.push(sample);
    return sample;
  }

  /** Calls a minute granted between the samples nearest to `from` and `to`. */
  ratePerMinute(from: number, to: number): number {
    const first = [...this.samples].reverse().find((s) => s.at <= from) ?? this.samples[0];
    const last = this.samples.find((s) => s.at >= to) ?? this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.granted - first.granted) / (last.at - first.at)) * 60_000;
  }

  /** The highest rate a minute over any window of at least `windowMs` between `from` and `to`. */
  peakPerMinute(windowMs: number, from = 0, to = Number.POSITIVE_INFINITY): number {
    const within = this.samples.filter((s) => s.at >= from && s.at <= to);
    let peak = 0;
    for (const [i, start] of within.entries()) {
      const end = within.slice(i + 1).find((s) => s.at - start.at >= windowMs);
      if (!end) break;
      peak = Math.max(peak, ((end.granted - start.granted) / (end.at - start.at)) * 60_000);
    }
    return peak;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

// ------------------------------------------------------------------ B. fairness

interface FairnessOptions {
  readonly bigItems: number;
  readonly small: number;
  readonly smallItems: number;
  readonly quota: number;
}

async function fairnessScenario(bench: Bench, options: FairnessOptions): Promise<Table> {
  const { admin } = bench.emulator;
  const { quota } = options;
  await admin.reset();
  await admin.setQuota({ perUserPerMinute: NO_QUOTA, perProjectPerMinute: NO_QUOTA });
  const files = options.bigItems + options.small * options.smallItems;
  const generated = performance.now();
  const summary = await admin.generateCorpus({
    seed: 15,
    users: options.small + 1,
    files,
    firstUserShare: options.bigItems / files,
    sharedDrives: 0,
    // A few of the big Drive's items shared with each small user, not dozens.
    shareDensity: 0.02,
  });
  const generateSeconds = (performance.now() - generated) / 1000;
  const width = String(options.small).length;
  const { connections, minima } = await connectionsOf(bench, summary, (i) =>
    i === 0 ? 'conn_big' : `conn_small_${String(i).padStart(width, '0')}`,
  );
  const [big, ...small] = connections;
  const [bigMinimum, ...smallMinima] = minima;
  if (!big || !bigMinimum) throw new Error('the corpus has no first user');
  const smallMinimum = sumMinimum(smallMinima);
  await setBenchLatency(admin);

  const environment = environmentFor(bench, 'fleet-b', {
    GDRIVE_QUOTA_USER_PER_MINUTE: String(quota),
    GDRIVE_QUOTA_PROJECT_PER_MINUTE: String(quota),
  });
  const config = workerConfig(environment);
  const { records } = environment.topics;
  const worker = await startBenchWorker(config);
  const tally = new DriveCallTally();
  let sampler: CounterSampler | null = null;
  try {
    // Drive grants exactly the quota from the first call on: its project bucket starts empty.
    await admin.setQuota({ perUserPerMinute: quota, perProjectPerMinute: quota, projectBucketEmpty: true });
    await admin.resetCounters();
    tally.reset();
    sampler = new CounterSampler(admin);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await sendTriggers(bench, environment.topics.trigger, environment.run, [big.connectionId]);
    // The small ones come while the big one walks: once its first chunks are on the topic.
    const walking = await bench.follower.waitFor(
      'the big connection’s first items',
      () => bench.follower.count(records, 'file') + bench.follower.count(records, 'folder') >= 1_000,
      300_000,
    );
    await sendTriggers(
      bench,
      environment.topics.trigger,
      environment.run,
      small.map((c) => c.connectionId),
    );
    const smallTriggered = performance.now();
    const stopProgress = progress('B', () => {
      const done = small.filter((c) => bench.follower.checkpointsOf(records, c.connectionId) >= 1).length;
      const items = bench.follower.count(records, 'file') + bench.follower.count(records, 'folder');
      return `${done} of ${small.length} small connections done, ${items} item records`;
    });
    const waits = await Promise.all(
      small.map(async (c) => {
        const doneAt = await bench.follower.waitFor(
          `the sync_checkpoint of ${c.connectionId}`,
          () => bench.follower.checkpointsOf(records, c.connectionId) >= 1,
          900_000,
        );
        return (doneAt - smallTriggered) / 1000;
      }),
    );
    const lastSmallAt = smallTriggered + Math.max(...waits) * 1000;
    const bigDoneAt = await bench.follower.waitFor(
      'the big connection’s sync_checkpoint',
      () => bench.follower.checkpointsOf(records, big.connectionId) >= 1,
      900_000,
    );
    const ended = performance.now();
    stopProgress();
    const final = await sampler.sample();
    await sampler.stop();
    const cpu = process.cpuUsage(cpuBefore);
    const counters = await admin.counters();
    const seconds = (ended - started) / 1000;
    const granted = final.granted;
    const rate = (granted / seconds) * 60;
    const sorted = [...waits].sort((a, b) => a - b);
    const worst = sorted.at(-1) ?? 0;
    const idealSeconds = (smallMinimum.total / quota) * 60;
    const beforeBig = waits.filter((w) => smallTriggered + w * 1000 < bigDoneAt).length;
    const smallWindowRate = sampler.ratePerMinute(smallTriggered, lastSmallAt);
    const concurrency = config.worker.maxConcurrentConnections;
    return {
      title: `B. Fairness: ${fmt.int(options.small)} connections with tiny drives while one with ${fmt.int(bigMinimum.items)} items walks, one worker, quota Q = ${fmt.int(quota)}/min (per user and per project; emulator and governor)`,
      columns: ['figure', 'value'],
      rows: [
        [
          'items: big connection / small connections (each)',
          `${fmt.int(bigMinimum.items)} / ${fmt.int(smallMinimum.items)} (${fmt.fixed(smallMinimum.items / options.small, 1)})`,
        ],
        [
          'small syncs triggered after the big one’s first 1,000 items landed',
          fmt.seconds((walking - started) / 1000),
        ],
        ['small connections done before the big one', `${fmt.int(beforeBig)} of ${fmt.int(options.small)}`],
        [
          'small connection wait, trigger → sync_checkpoint: p50 / p90 / worst',
          `${fmt.seconds(sorted[Math.floor(sorted.length / 2)] ?? 0)} / ${fmt.seconds(sorted[Math.floor(sorted.length * 0.9)] ?? 0)} / ${fmt.seconds(worst)}`,
        ],
        [
          'ideal: the small connections’ minimum calls at Q',
          `${fmt.int(smallMinimum.total)} calls = ${fmt.seconds(idealSeconds)}`,
        ],
        ['fairness: worst small wait / ideal', `${fmt.fixed(worst / idealSeconds, 2)}×`],
        ['big connection, trigger → sync_checkpoint', fmt.seconds((bigDoneAt - started) / 1000)],
        [
          'rate granted / Q, whole run (Drive calls ÷ time)',
          `${fmt.int(rate)}/min = ${fmt.percent(rate / quota)}`,
        ],
        [
          'rate granted / Q while the small ones synced',
          `${fmt.int(smallWindowRate)}/min = ${fmt.percent(smallWindowRate / quota)}`,
        ],
        ['peak 10 s rate granted / Q', fmt.percent(sampler.peakPerMinute(10_000) / quota)],
        [
          'rate-limit answers (emulator: userRateLimitExceeded + rateLimitExceeded)',
          `${fmt.int(refusalsOf(counters))} (the worker saw ${fmt.int(tally.rateLimited)})`,
        ],
        [
          'Drive calls / minimum',
          `${fmt.int(driveCallsOf(counters))} / ${fmt.int(bigMinimum.total + smallMinimum.total)}`,
        ],
        [
          'calls above the minimum, by method',
          aboveMinimum(counters, sumMinimum([bigMinimum, smallMinimum])),
        ],
        ['batch HTTP requests', fmt.int(counters.batch ?? 0)],
        ['error records', fmt.int(bench.follower.count(environment.topics.errors))],
        ['CPU of the worker’s process', fmt.seconds((cpu.user + cpu.system) / 1e6)],
      ],
      notes: [
        `Corpus: ${fmt.int(options.small + 1)} users generated in ${fmt.seconds(generateSeconds)}, no shared drive; the first user holds the big My Drive (firstUserShare), 2% of items shared with another user. The emulator’s project bucket starts empty when the worker is up, so Drive grants exactly Q from the first call (no minute’s budget in hand).`,
        `Emulator latency: ${latencyDescription}. Worker defaults otherwise: WORKER_MAX_CONCURRENT_CONNECTIONS=${concurrency}, GDRIVE_BATCH_REQUESTS=${config.drive.batchRequests}, GDRIVE_PAGE_SIZE=${config.drive.pageSize}.`,
        `Ideal = the fewest calls the ${fmt.int(options.small)} small syncs can make (bench/support/minimum-calls.ts) at the whole quota, as if they went first; the ratio is how much longer the worst one waited.`,
        'Rate granted = calls the emulator counted less its refusals, over the time from the big trigger to the last sync_checkpoint; a 10 s peak above 100% is the governor’s 1 s burst.',
      ],
    };
  } finally {
    await sampler?.stop();
    tally.stop();
    await worker.stop();
  }
}

// ------------------------------------------------------------------ C. the fleet

interface FleetOptions {
  readonly connections: number;
  readonly itemsPerConnection: number;
  readonly quota: number;
  readonly workers: number;
}

interface JoinLine {
  readonly time: number;
  readonly partitions: readonly number[];
}

/** The worker's "joined the consumer group" log lines: when, and the trigger topic's partitions it got. */
function joinsOf(worker: SpawnedWorker, triggerTopic: string): JoinLine[] {
  const joins: JoinLine[] = [];
  for (const line of worker.output().split('\n')) {
    if (!line.includes('"joined the consumer group"')) continue;
    try {
      const entry = JSON.parse(line) as { time?: number; assignment?: Record<string, number[]> };
      joins.push({ time: entry.time ?? 0, partitions: entry.assignment?.[triggerTopic] ?? [] });
    } catch {
      // A line still being written.
    }
  }
  return joins;
}

function recordsByConnection(bench: Bench, topic: string): Map<string, OutboundRecord[]> {
  const byConnection = new Map<string, OutboundRecord[]>();
  for (const landed of bench.follower.keptRecords(topic)) {
    if (landed.value === null) continue;
    const record = JSON.parse(landed.value) as OutboundRecord;
    const list = byConnection.get(record.integration_connection_id) ?? [];
    list.push(record);
    byConnection.set(record.integration_connection_id, list);
  }
  return byConnection;
}

async function fleetScenario(bench: Bench, options: FleetOptions): Promise<Table> {
  const { admin } = bench.emulator;
  const { quota } = options;
  await admin.reset();
  await admin.setQuota({ perUserPerMinute: NO_QUOTA, perProjectPerMinute: NO_QUOTA });
  const summary = await admin.generateCorpus({
    seed: 16,
    users: options.connections,
    files: options.connections * options.itemsPerConnection,
    sharedDrives: 0,
    shareDensity: 0.05,
  });
  const width = String(options.connections).length;
  const { connections, minima, tokens } = await connectionsOf(
    bench,
    summary,
    (i) => `conn_fleet_${String(i + 1).padStart(width, '0')}`,
  );
  const minimum = sumMinimum(minima);
  await setBenchLatency(admin);
  // Drive refuses nothing here: what the fleet spends is measured against what it was told it may.

  const environment = environmentFor(bench, 'fleet-c', {
    GDRIVE_QUOTA_USER_PER_MINUTE: String(quota),
    GDRIVE_QUOTA_PROJECT_PER_MINUTE: String(quota),
  });
  const { topics } = environment;
  bench.follower.keep(topics.records, Number.POSITIVE_INFINITY);
  const workers = Array.from({ length: options.workers }, (_, i) =>
    spawnWorker({
      ...workerVariables(environment),
      KAFKA_CLIENT_ID: `bench-fleet-c-worker-${i + 1}`,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
    }),
  );
  let sampler: CounterSampler | null = null;
  try {
    const urls = await Promise.all(workers.map((w) => w.started()));
    await Promise.all(
      urls.map((url) =>
        until(
          async () => (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200,
          `${url} ready`,
          120_000,
          250,
        ),
      ),
    );
    // Settled: every member's latest assignment is its own share of the 12 partitions.
    const latest = () => workers.map((w) => joinsOf(w, topics.trigger).at(-1)?.partitions ?? []);
    await until(
      () => {
        const shares = latest();
        return (
          shares.every((p) => p.length > 0) &&
          new Set(shares.flat()).size === PARTITIONS &&
          shares.flat().length === PARTITIONS
        );
      },
      'the group settled with every worker holding partitions',
      120_000,
      250,
    );

    await admin.resetCounters();
    sampler = new CounterSampler(admin);
    const started = performance.now();
    const ids = connections.map((c) => c.connectionId);
    await sendTriggers(bench, topics.trigger, environment.run, ids);
    const done = () => ids.filter((id) => bench.follower.checkpointsOf(topics.records, id) >= 1).length;
    const stopProgress = progress('C', () => `${done()} of ${ids.length} connections done`);

    await bench.follower.waitFor('half the connections synced', () => done() >= ids.length / 2, 900_000);
    const victimIndex = 1;
    const victim = workers[victimIndex] as SpawnedWorker;
    const victimPartitions = new Set(latest()[victimIndex]);
    const victimConnections = ids.filter((id) => victimPartitions.has(partitionForKey(id, PARTITIONS)));
    const pending = victimConnections.filter((id) => bench.follower.checkpointsOf(topics.records, id) === 0);
    const doneAtKill = done();
    const killedAt = performance.now();
    const killedAtEpoch = Date.now();
    victim.child.kill('SIGKILL');
    await victim.exited;

    await bench.follower.waitFor('every connection synced', () => done() === ids.length, 900_000);
    const ended = performance.now();
    stopProgress();
    await sampler.sample();
    await sampler.stop();
    const counters = await admin.counters();

    // Recovery: a record of a connection the dead worker left unfinished, emitted after the kill.
    const byConnection = recordsByConnection(bench, topics.records);
    const firstAfterKill = pending.map((id) => {
      const times = (byConnection.get(id) ?? [])
        .map((r) => Date.parse(r.emitted_at))
        .filter((t) => t > killedAtEpoch);
      return times.length > 0 ? Math.min(...times) - killedAtEpoch : Number.NaN;
    });
    const recovered = firstAfterKill.filter((ms) => Number.isFinite(ms)).sort((a, b) => a - b);
    const rejoins = workers
      .filter((w) => w !== victim)
      .flatMap((w) => joinsOf(w, topics.trigger).filter((j) => j.time > killedAtEpoch));
    const rejoinMs =
      rejoins.length > 0 ? Math.min(...rejoins.map((j) => j.time)) - killedAtEpoch : Number.NaN;

    // Exactness: the contract's fold of each connection's records against its user's listing.
    for (const method of LIST_METHODS) await admin.setLatency(method, 0);
    const drive = google.drive({ version: 'v3', rootUrl: `${bench.emulator.url}/` });
    const driveAs = (accessToken: string) => ({
      drive,
      auth: { headers: { Authorization: `Bearer ${accessToken}` }, retry: false as const },
    });
    const checkStarted = performance.now();
    const verdicts = await mapAll(ids, 16, async (id) => {
      const index = ids.indexOf(id);
      try {
        expectRecordsMatchDrive(
          byConnection.get(id) ?? [],
          await visibleTo({ driveAs }, tokens[index] as string),
        );
        return null;
      } catch (error) {
        return `${id}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`;
      }
    });
    const inexact = verdicts.filter((v): v is string => v !== null);
    const checkSeconds = (performance.now() - checkStarted) / 1000;

    const seconds = (ended - started) / 1000;
    const before = sampler.ratePerMinute(started, killedAt);
    const after = sampler.ratePerMinute(killedAt, ended);
    const whole = sampler.ratePerMinute(started, ended);
    const peak60 = sampler.peakPerMinute(60_000);
    const peak10 = sampler.peakPerMinute(10_000);
    const sessionTimeout = workerConfig(environment).kafka.consumer.sessionTimeoutMs;
    return {
      title: `C. Fleet: ${options.workers} worker processes in one group, ${PARTITIONS} partitions, ${fmt.int(options.connections)} connections (${fmt.int(minimum.items)} items), GDRIVE_QUOTA_PROJECT_PER_MINUTE = ${fmt.int(quota)}, one worker SIGKILLed half way`,
      columns: ['figure', 'value'],
      rows: [
        ['time, triggers → every sync_checkpoint read back', fmt.seconds(seconds)],
        [
          'rate Drive served (emulator counters) / project quota, before the kill',
          `${fmt.int(before)}/min = ${fmt.percent(before / quota)}`,
        ],
        ['same, after the kill (two workers left)', `${fmt.int(after)}/min = ${fmt.percent(after / quota)}`],
        ['same, whole run', `${fmt.int(whole)}/min = ${fmt.percent(whole / quota)}`],
        [
          'peak over any 60 s / any 10 s window, against the quota',
          `${Number.isFinite(peak60) && peak60 > 0 ? fmt.percent(peak60 / quota) : 'run under 60 s'} / ${fmt.percent(peak10 / quota)}`,
        ],
        [
          'connections done at the kill; the killed worker’s connections / unfinished',
          `${fmt.int(doneAtKill)}; ${fmt.int(victimConnections.length)} / ${fmt.int(pending.length)} (partitions ${[...victimPartitions].sort((a, b) => a - b).join(', ')})`,
        ],
        ['kill → a survivor joined the group again (its log)', fmt.seconds(rejoinMs / 1000)],
        [
          'time to recover: kill → first / median / last unfinished connection of the killed worker progressing (a record emitted after the kill)',
          recovered.length > 0
            ? `${fmt.seconds((recovered[0] ?? 0) / 1000)} / ${fmt.seconds((recovered[Math.floor(recovered.length / 2)] ?? 0) / 1000)} / ${fmt.seconds((recovered.at(-1) ?? 0) / 1000)}`
            : 'none pending',
        ],
        [
          'connections exact at the end (drive-truth check)',
          `${fmt.int(ids.length - inexact.length)} of ${fmt.int(ids.length)}`,
        ],
        ['Drive calls / minimum', `${fmt.int(driveCallsOf(counters))} / ${fmt.int(minimum.total)}`],
        ['calls above the minimum, by method', aboveMinimum(counters, minimum)],
        ['rate-limit answers (emulator)', fmt.int(refusalsOf(counters))],
        ['error records', fmt.int(bench.follower.count(topics.errors))],
      ],
      notes: [
        `Workers: ${options.workers} processes of src/main.ts with the defaults (KAFKA_CONSUMER_SESSION_TIMEOUT_MS=${sessionTimeout}: a killed member's partitions move once the broker gives up on it), each governed at GDRIVE_QUOTA_PROJECT_PER_MINUTE and GDRIVE_QUOTA_USER_PER_MINUTE = ${fmt.int(quota)}. The emulator refuses nothing (quota 10⁹), so the rate it served is what the fleet spent.`,
        `Emulator latency: ${latencyDescription}. Corpus: ${fmt.int(options.connections)} users, ${fmt.int(options.itemsPerConnection)} items each on average, 5% shared with another user, no shared drive.`,
        `Drive-truth check (test/support/drive-truth.ts): every record valid, the records of each connection folded as the contract says (cascades, one file namespace, permission_ids) hold exactly the live items its user lists, with exactly their permissions (${fmt.seconds(checkSeconds)} for all).`,
        ...(inexact.length > 0 ? [`Not exact: ${inexact.slice(0, 5).join('; ')}`] : []),
      ],
    };
  } finally {
    await sampler?.stop();
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGTERM');
    await Promise.all(
      workers.map((w) =>
        Promise.race([w.exited, new Promise((resolve) => setTimeout(resolve, 30_000))]).then(() => {
          if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
        }),
      ),
    );
  }
}

// ------------------------------------------------------------------ main

function machineFacts(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 1024 ** 3)} GB RAM, Linux ${release()}, Node ${process.version}`;
}

export async function runFleetBenchmark(options: {
  readonly scenarios: ReadonlySet<string>;
  readonly fairness: FairnessOptions;
  readonly fleet: FleetOptions;
}): Promise<Table[]> {
  const runs = ['fleet-b', 'fleet-c'];
  const runTopics: RunTopics[] = runs.map(topicsFor);
  const kafka = await startApacheKafka({ brokers: 1, heapMb: 1024 });
  await kafka.createTopics(runTopicSpecs(runTopics, PARTITIONS));
  const emulator = await startEmulatorProcess();
  const follower = await TopicFollower.start(
    kafka.bootstrapServers,
    runTopics.flatMap((t) => [t.records, t.errors]),
  );
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
  const scenario = async (name: string, work: () => Promise<Table>) => {
    const started = performance.now();
    console.error(`bench: ${name} …`);
    try {
      tables.push(await work());
    } finally {
      timings.push(`${name} ${fmt.seconds((performance.now() - started) / 1000)}`);
    }
  };
  try {
    if (options.scenarios.has('b'))
      await scenario('B fairness', () => fairnessScenario(bench, options.fairness));
    if (options.scenarios.has('c')) await scenario('C fleet', () => fleetScenario(bench, options.fleet));
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
      ['wall time per scenario', timings.join(', ')],
    ],
  });
  return tables;
}

async function main(): Promise<void> {
  quietKnownWarnings();
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string', default: 'b,c' },
      'big-items': { type: 'string', default: '10000' },
      small: { type: 'string', default: '1000' },
      'small-items': { type: 'string', default: '5' },
      quota: { type: 'string', default: '60000' },
      'fleet-connections': { type: 'string', default: '3000' },
      'fleet-items': { type: 'string', default: '3' },
      'fleet-quota': { type: 'string', default: '12000' },
    },
  });
  const started = performance.now();
  const tables = await runFleetBenchmark({
    scenarios: new Set(values.scenarios.toLowerCase().split(',')),
    fairness: {
      bigItems: Number(values['big-items']),
      small: Number(values.small),
      smallItems: Number(values['small-items']),
      quota: Number(values.quota),
    },
    fleet: {
      connections: Number(values['fleet-connections']),
      itemsPerConnection: Number(values['fleet-items']),
      quota: Number(values['fleet-quota']),
      workers: 3,
    },
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nfleet bench: ${fmt.seconds(seconds)}\n`);
  for (const table of tables) console.log(`${textOf(table)}\n`);
  const command = `npx tsx bench/scale-fleet.ts ${process.argv.slice(2).join(' ')}`.trim();
  const markdown = [
    `## Fleet bench (${fmt.seconds(seconds)})`,
    '',
    `Command: \`${command}\``,
    '',
    ...tables.map(markdownOf),
  ].join('\n');
  await writeResults('fleet', markdown);
}

runWhenEntry(import.meta.url, main);
