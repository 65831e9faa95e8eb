import type { drive_v3 } from '@googleapis/drive';
import * as google from '@googleapis/drive';
import {
  ConfigResourceTypes,
  Kafka,
  logLevel,
  type Message,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';
import { type Config, loadConfig } from '../../src/config.js';
import type { ErrorRecord, OutboundRecord } from '../../src/contract/records.js';
import { type EmbeddedS3, startEmbeddedS3 } from '../../src/embedded/s3-server.js';
import {
  type CorpusOptions,
  type RunningDriveEmulator,
  startDriveEmulator,
} from '../../src/emulator/index.js';
import { partitionForKey } from '../../src/io/kafka/message-sink.js';
import { Murmur2Partitioner } from '../../src/io/kafka/murmur2-partitioner.js';
import { type TopicRole, topicConfigsFor } from '../../src/io/kafka/topic-layout.js';
import { createLogger } from '../../src/logger.js';
import { type RunningWorker, startWorker } from '../../src/worker.js';
import { type SharedKafka, sharedKafka, uniqueName } from '../setup/kafka-broker.global.js';
import { TopicReader } from './topic-reader.js';

export const PARTITIONS = 4;

/**
 * Consumer settings for tests of several workers in one group: a vanished member is noticed
 * in seconds, and a busy 2-core machine still heartbeats in time.
 */
export const QUICK_GROUP = {
  KAFKA_CONSUMER_SESSION_TIMEOUT_MS: '6000',
  KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: '1000',
  KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS: '10000',
} as const;

/**
 * `perPartition` connection ids (`${prefix}${n}`) on each trigger partition of a world, in
 * partition order, so every member that holds a partition holds connections.
 */
export function connectionsPerPartition(prefix: string, perPartition = 1): string[] {
  const byPartition = new Map<number, string[]>();
  for (let n = 0, found = 0; found < PARTITIONS * perPartition; n++) {
    const id = `${prefix}${n}`;
    const partition = partitionForKey(id, PARTITIONS);
    const ids = byPartition.get(partition) ?? [];
    if (ids.length < perPartition) {
      ids.push(id);
      found++;
    }
    byPartition.set(partition, ids);
  }
  return [...byPartition.entries()].sort(([a], [b]) => a - b).flatMap(([, ids]) => ids);
}

/**
 * One end-to-end world: its own topics on the shared embedded broker, a Drive emulator with
 * a generated corpus, and helpers to start workers, send triggers and read what landed.
 */
export class WorkerWorld {
  readonly workers: RunningWorker[] = [];
  /** The world's S3 once `startS3` ran: its workers' payload store. */
  s3: EmbeddedS3 | null = null;
  private constructor(
    readonly emulator: RunningDriveEmulator,
    readonly topics: Config['kafka']['topics'],
    readonly groupId: string,
    readonly reader: TopicReader,
    private readonly producer: Producer,
    private readonly kafka: Kafka,
    readonly brokers: string[],
  ) {}

  /**
   * On the shared broker unless given another (a cluster a fault test breaks). Topics get
   * unique names unless `topicNames` gives them (the pod test uses the ConfigMap's own).
   */
  static async start(
    corpus: CorpusOptions,
    seed = 7,
    control: SharedKafka = sharedKafka(),
    topicNames: Partial<Config['kafka']['topics']> = {},
  ): Promise<WorkerWorld> {
    const topics = {
      trigger: uniqueName('trigger'),
      webhook: uniqueName('webhook'),
      records: uniqueName('records'),
      errors: uniqueName('errors'),
      state: uniqueName('state'),
      ...topicNames,
    };
    for (const [role, topic] of Object.entries(topics) as Array<[TopicRole, string]>) {
      await control.createTopic(topic, PARTITIONS, topicConfigsFor(role));
    }
    const emulator = await startDriveEmulator({ seed, corpus });
    const brokers = control.bootstrapServers;
    const kafka = new Kafka({ clientId: 'e2e-test', brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ createPartitioner: Murmur2Partitioner });
    await producer.connect();
    const reader = await TopicReader.start(brokers, [topics.records, topics.errors, topics.state]);
    return new WorkerWorld(emulator, topics, uniqueName('group'), reader, producer, kafka, brokers);
  }

  config(overrides: Record<string, string> = {}): Config {
    return loadConfig(this.env(overrides));
  }

  /** The environment of a worker of this world, for `loadConfig` or a spawned process. */
  env(overrides: Record<string, string> = {}): Record<string, string> {
    return {
      KAFKA_BOOTSTRAP_SERVERS: this.brokers.join(','),
      KAFKA_CONSUMER_GROUP_ID: this.groupId,
      // The world's topics are its own, and tests send a trigger as soon as a worker joined:
      // starting at the end would race the worker's first fetch.
      KAFKA_CONSUMER_NEW_GROUP_START: 'earliest',
      KAFKA_CLIENT_ID: uniqueName('worker'),
      KAFKA_TOPIC_TRIGGER: this.topics.trigger,
      KAFKA_TOPIC_WEBHOOK: this.topics.webhook,
      KAFKA_TOPIC_RECORDS: this.topics.records,
      KAFKA_TOPIC_ERRORS: this.topics.errors,
      KAFKA_TOPIC_STATE: this.topics.state,
      GDRIVE_API_BASE_URL: this.emulator.url,
      CONTROL_PLANE_BASE_URL: this.emulator.url,
      GDRIVE_PAGE_SIZE: '25',
      LOG_LEVEL: 'silent',
      ...(this.s3 ? this.s3.env : {}),
      ...overrides,
    };
  }

  /**
   * An embedded S3 (s3rver) for this world's workers, started once and closed with the
   * world. Its fixed credentials go into this process's environment, where the worker's
   * S3 client finds them through the standard AWS chain (and into `env()` for spawned workers).
   */
  async startS3(bucket = 'gdrive-e2e-payloads'): Promise<EmbeddedS3> {
    if (this.s3 === null) {
      this.s3 = await startEmbeddedS3({ bucket });
      process.env.AWS_ACCESS_KEY_ID = this.s3.env.AWS_ACCESS_KEY_ID;
      process.env.AWS_SECRET_ACCESS_KEY = this.s3.env.AWS_SECRET_ACCESS_KEY;
    }
    return this.s3;
  }

  async startWorker(overrides: Record<string, string> = {}): Promise<RunningWorker> {
    const config = this.config(overrides);
    const worker = await startWorker({ config, logger: createLogger({ level: 'silent', format: 'json' }) });
    this.workers.push(worker);
    return worker;
  }

  async send(
    topic: 'trigger' | 'webhook' | 'state',
    connectionId: string,
    value: unknown,
    headers?: Record<string, string>,
  ): Promise<void> {
    await this.producer.send({
      topic: this.topics[topic],
      messages: [
        {
          key: connectionId,
          value: typeof value === 'string' ? value : JSON.stringify(value),
          ...(headers ? { headers } : {}),
        },
      ],
    });
  }

  /** Messages as given (any key, value, headers, partition) onto one of the world's topics. */
  async produce(topic: 'trigger' | 'webhook', messages: Message[]): Promise<RecordMetadata[]> {
    return this.producer.send({ topic: this.topics[topic], messages });
  }

  /**
   * Lets the inbound topics take values up to `bytes`: the broker's default 1 MB would refuse
   * hostile values before any worker saw them.
   */
  allowInboundValues(bytes: number): Promise<void> {
    return this.setMaxMessageBytes(['trigger', 'webhook'], bytes);
  }

  /**
   * The broker's `max.message.bytes` of some of the world's topics. AlterConfigs replaces a
   * topic's whole configuration, so each keeps its role's own settings (the state topic's compaction).
   */
  async setMaxMessageBytes(roles: readonly TopicRole[], bytes: number): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: roles.map((role) => ({
          type: ConfigResourceTypes.TOPIC,
          name: this.topics[role],
          configEntries: [
            ...Object.entries(topicConfigsFor(role)).map(([name, value]) => ({ name, value })),
            { name: 'max.message.bytes', value: String(bytes) },
          ],
        })),
      });
    } finally {
      await admin.disconnect();
    }
  }

  /** Messages of the inbound topics past the worker group's committed offsets (high watermark minus committed). */
  async inboundLag(): Promise<number> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      let lag = 0;
      for (const topic of [this.topics.trigger, this.topics.webhook]) {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
        for (const end of ends) {
          const at = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
          lag += Number(end.high) - Math.max(Number(end.low), Number(at));
        }
      }
      return lag;
    } finally {
      await admin.disconnect();
    }
  }

  trigger(connectionId: string, triggerType: string, extra: Record<string, unknown> = {}) {
    return this.send('trigger', connectionId, {
      message_id: uniqueName('msg'),
      customer_id: `cust_${connectionId}`,
      integration_id: 'google-drive',
      integration_connection_id: connectionId,
      trigger_type: triggerType,
      ...extra,
    });
  }

  records(connectionId?: string): OutboundRecord[] {
    const all = this.reader.values<OutboundRecord>(this.topics.records);
    return connectionId ? all.filter((r) => r.integration_connection_id === connectionId) : all;
  }

  errors(): ErrorRecord[] {
    return this.reader.values<ErrorRecord>(this.topics.errors);
  }

  checkpointsDone(connectionId: string): number {
    return this.records(connectionId).filter((r) => r.resource_type === 'sync_checkpoint').length;
  }

  async waitForSyncs(connectionId: string, count: number, timeoutMs = 90_000): Promise<void> {
    await this.reader.waitFor(
      `${count} sync_checkpoint records of ${connectionId}`,
      () => this.checkpointsDone(connectionId) >= count,
      timeoutMs,
    );
  }

  /** googleapis as the given user, as the user's own apps would edit their Drive. */
  driveAs(accessToken: string): {
    drive: drive_v3.Drive;
    auth: { headers: Record<string, string>; retry: false };
  } {
    return {
      drive: google.drive({ version: 'v3', rootUrl: `${this.emulator.url}/` }),
      auth: { headers: { Authorization: `Bearer ${accessToken}` }, retry: false },
    };
  }

  async stop(): Promise<void> {
    // A teardown step slower than this is named on stderr, so a hook that times out on a
    // loaded machine says which part of the world held it.
    const slowMs = 5_000;
    const step = async (name: string, run: () => Promise<unknown>) => {
      const started = Date.now();
      await run();
      const took = Date.now() - started;
      if (took > slowMs) console.warn(`world.stop: ${name} took ${(took / 1000).toFixed(1)} s`);
    };
    for (const [i, worker] of this.workers.splice(0).entries())
      await step(`worker ${i + 1}`, () => worker.stop().catch(() => undefined));
    await step('topic reader', () => this.reader.stop());
    await step('test producer', () => this.producer.disconnect());
    await step('emulator', () => this.emulator.close());
    await step('s3rver', async () => this.s3?.close());
  }
}
