import { performance } from 'node:perf_hooks';
import type { Producer } from 'kafkajs';
import { type Config, loadConfig } from '../../src/config.js';
import type { EmbeddedTopic } from '../../src/embedded/apache-kafka.js';
import type { EmulatorAdminClient } from '../../src/emulator/admin-client.js';
import { subscribe } from '../../src/instrumentation.js';
import { type TopicRole, topicConfigsFor } from '../../src/io/kafka/topic-layout.js';
import { createLogger } from '../../src/logger.js';
import { type RunningWorker, startWorker } from '../../src/worker.js';
import type { TopicFollower } from './topic-follower.js';

/** The five topics one worker run uses; every run has its own, so runs never see each other. */
export interface RunTopics {
  readonly trigger: string;
  readonly webhook: string;
  readonly records: string;
  readonly errors: string;
  readonly state: string;
}

export function topicsFor(run: string): RunTopics {
  return {
    trigger: `bench-${run}-trigger`,
    webhook: `bench-${run}-webhook`,
    records: `bench-${run}-records`,
    errors: `bench-${run}-errors`,
    state: `bench-${run}-state`,
  };
}

/** The runs' topics as the embedded broker creates them, each with its role's settings (compaction for state). */
export function runTopicSpecs(runs: readonly RunTopics[], partitions: number): EmbeddedTopic[] {
  return runs.flatMap((topics) =>
    (Object.entries(topics) as Array<[TopicRole, string]>).map(([role, name]) => ({
      name,
      partitions,
      configs: topicConfigsFor(role),
    })),
  );
}

export interface BenchConnection {
  readonly connectionId: string;
  readonly userId: string;
}

export interface WorkerEnvironment {
  readonly brokers: readonly string[];
  readonly emulatorUrl: string;
  readonly topics: RunTopics;
  readonly run: string;
  /** Worker variables on top of the bench's (GDRIVE_QUOTA_*, GDRIVE_BATCH_REQUESTS, ...). */
  readonly env: Readonly<Record<string, string>>;
}

/** The worker's configuration exactly as production reads it: `loadConfig` over an environment. */
export function workerConfig(environment: WorkerEnvironment): Config {
  return loadConfig(workerVariables(environment));
}

/** The environment variables of a bench worker (for a worker in a process of its own). */
export function workerVariables(environment: WorkerEnvironment): Record<string, string> {
  const { topics } = environment;
  return {
    KAFKA_BOOTSTRAP_SERVERS: environment.brokers.join(','),
    KAFKA_CONSUMER_GROUP_ID: `bench-${environment.run}-group`,
    KAFKA_CLIENT_ID: `bench-${environment.run}-worker`,
    // The run's topics are its own; its triggers must not race the group's first fetch.
    KAFKA_CONSUMER_NEW_GROUP_START: 'earliest',
    KAFKA_TOPIC_TRIGGER: topics.trigger,
    KAFKA_TOPIC_WEBHOOK: topics.webhook,
    KAFKA_TOPIC_RECORDS: topics.records,
    KAFKA_TOPIC_ERRORS: topics.errors,
    KAFKA_TOPIC_STATE: topics.state,
    GDRIVE_API_BASE_URL: environment.emulatorUrl,
    CONTROL_PLANE_BASE_URL: environment.emulatorUrl,
    LOG_LEVEL: 'silent',
    ...environment.env,
  };
}

export async function startBenchWorker(config: Config): Promise<RunningWorker> {
  return startWorker({ config, logger: createLogger({ level: 'silent', format: 'json' }) });
}

export function fullSyncTrigger(connectionId: string, run: string) {
  return {
    message_id: `bench-${run}-${connectionId}-${Date.now()}`,
    customer_id: `cust_${connectionId}`,
    integration_id: 'google-drive',
    integration_connection_id: connectionId,
    trigger_type: 'full_sync',
    options: { include: ['permissions', 'revisions', 'comments'] },
  };
}

/** What the worker's own instrumentation says about Drive calls while a run lasts. */
export class DriveCallTally {
  calls = 0;
  rateLimited = 0;
  otherErrors = 0;
  firstCallAt: number | null = null;
  lastCallAt: number | null = null;
  readonly byMethod = new Map<string, number>();
  /** Failed calls by `status reason`. */
  readonly failures = new Map<string, number>();
  private readonly unsubscribe: Array<() => void>;

  constructor() {
    this.unsubscribe = [
      subscribe('drive.call', ({ method, outcome, status, reason }) => {
        const now = performance.now();
        this.calls++;
        this.firstCallAt ??= now;
        this.lastCallAt = now;
        this.byMethod.set(method, (this.byMethod.get(method) ?? 0) + 1);
        if (outcome === 'error') {
          this.otherErrors++;
          const key = `${status ?? 'no answer'} ${reason ?? ''}`.trim();
          this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
        }
      }),
      subscribe('drive.rate_limited', () => {
        this.rateLimited++;
        this.otherErrors--;
      }),
    ];
  }

  /** Forgets what was counted so far (calls made while setting a run up). */
  reset(): void {
    this.calls = 0;
    this.rateLimited = 0;
    this.otherErrors = 0;
    this.firstCallAt = null;
    this.lastCallAt = null;
    this.byMethod.clear();
    this.failures.clear();
  }

  stop(): void {
    for (const off of this.unsubscribe) off();
  }
}

/** Drive calls by the emulator's counters: Drive methods only (not OAuth, control plane, or the batch envelope). */
export function driveCallsOf(counters: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const [method, count] of Object.entries(counters)) if (method.startsWith('drive.')) total += count;
  return total;
}

export interface FullSyncRunOptions {
  readonly environment: WorkerEnvironment;
  readonly admin: EmulatorAdminClient;
  readonly follower: TopicFollower;
  readonly producer: Producer;
  readonly connections: readonly BenchConnection[];
  readonly timeoutMs: number;
  /** Runs once the worker is up, just before the triggers (e.g. to drain the emulator's quota). */
  readonly beforeTrigger?: () => Promise<void>;
}

export interface FullSyncRunResult {
  readonly seconds: number;
  /** Per connection: seconds from the trigger to its sync_checkpoint on the records topic. */
  readonly perConnectionSeconds: readonly number[];
  readonly records: number;
  readonly recordsByType: Readonly<Record<string, number>>;
  readonly errorRecords: number;
  /** The emulator's per-method counters for the run (reset before it). */
  readonly counters: Readonly<Record<string, number>>;
  readonly driveCalls: number;
  readonly batchRequests: number;
  readonly rateLimited: number;
  readonly otherFailedCalls: number;
  readonly failures: Readonly<Record<string, number>>;
  /** Seconds from the first Drive call the worker made to the last. */
  readonly callWindowSeconds: number;
  readonly workerCpuSeconds: number;
  readonly worker: RunningWorker;
}

/**
 * One measured run: a fresh worker on its own topics, a `full_sync` trigger per connection
 * sent at once, and the clock stopped when every connection's `sync_checkpoint` record has
 * been read back from the records topic. The caller stops the returned worker (it may
 * measure more on it first).
 */
export async function runFullSyncs(options: FullSyncRunOptions): Promise<FullSyncRunResult> {
  const { environment, admin, follower, producer, connections } = options;
  const { topics } = environment;
  const worker = await startBenchWorker(workerConfig(environment));
  const tally = new DriveCallTally();
  try {
    await options.beforeTrigger?.();
    await admin.resetCounters();
    tally.reset();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await producer.send({
      topic: topics.trigger,
      messages: connections.map((c) => ({
        key: c.connectionId,
        value: JSON.stringify(fullSyncTrigger(c.connectionId, environment.run)),
      })),
    });
    const perConnection = await Promise.all(
      connections.map(async (c) => {
        const doneAt = await follower.waitFor(
          `the sync_checkpoint of ${c.connectionId} on ${topics.records}`,
          () => follower.checkpointsOf(topics.records, c.connectionId) >= 1,
          options.timeoutMs,
        );
        return (doneAt - started) / 1000;
      }),
    );
    const seconds = Math.max(...perConnection);
    const cpu = process.cpuUsage(cpuBefore);
    const counters = await admin.counters();
    return {
      seconds,
      perConnectionSeconds: perConnection,
      records: follower.count(topics.records),
      recordsByType: follower.countsByType(topics.records),
      errorRecords: follower.count(topics.errors),
      counters,
      driveCalls: driveCallsOf(counters),
      batchRequests: counters.batch ?? 0,
      rateLimited: tally.rateLimited,
      otherFailedCalls: tally.otherErrors,
      failures: Object.fromEntries(tally.failures),
      callWindowSeconds:
        tally.firstCallAt !== null && tally.lastCallAt !== null
          ? (tally.lastCallAt - tally.firstCallAt) / 1000
          : 0,
      workerCpuSeconds: (cpu.user + cpu.system) / 1e6,
      worker,
    };
  } catch (error) {
    await worker.stop().catch(() => undefined);
    throw error;
  } finally {
    tally.stop();
  }
}
