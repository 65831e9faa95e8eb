import type { Admin, ITopicConfig, Kafka } from 'kafkajs';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';

/** What the worker needs to know of one topic to decide whether it can run on it. */
export interface TopicFacts {
  readonly partitions: number;
  /** `cleanup.policy` as the broker reports it (e.g. `delete`, `compact`, `compact,delete`). */
  readonly cleanupPolicy: string;
}

export type TopicRoles = Config['kafka']['topics'];
export type TopicRole = keyof TopicRoles;

/**
 * A topic layout the worker cannot run on: one line per problem, each naming the topic and
 * what to change. The process exits with code 2 on it, before anything is consumed or produced.
 */
export class TopicLayoutError extends Error {
  override readonly name = 'TopicLayoutError';
  constructor(readonly problems: readonly string[]) {
    super(`the Kafka topics are not laid out as the worker needs: ${problems.join('; ')}`);
  }
}

/**
 * The problems of a topic layout, none when the worker can run on it: every topic exists;
 * trigger, webhook and state have one partition count, because partition p of the three
 * holds the same connections (co-partitioned ownership); the state topic is compacted, or
 * it grows without bound and a restore reads every checkpoint ever written.
 */
export function topicLayoutProblems(topics: TopicRoles, facts: ReadonlyMap<string, TopicFacts>): string[] {
  const problems: string[] = [];
  for (const [role, name] of Object.entries(topics) as Array<[TopicRole, string]>) {
    if (!facts.has(name)) {
      problems.push(
        `topic ${name} (${role}) does not exist: create it, or start once with KAFKA_CREATE_TOPICS=true`,
      );
    }
  }
  const coPartitioned = (['trigger', 'webhook', 'state'] as const).flatMap((role) => {
    const partitions = facts.get(topics[role])?.partitions;
    return partitions === undefined ? [] : [{ role, name: topics[role], partitions }];
  });
  if (new Set(coPartitioned.map((topic) => topic.partitions)).size > 1) {
    problems.push(
      `topics ${coPartitioned.map((t) => `${t.name} (${t.role}) has ${t.partitions}`).join(', ')} partitions: ` +
        'trigger, webhook and state must have the same partition count',
    );
  }
  const state = facts.get(topics.state);
  if (
    state &&
    !state.cleanupPolicy
      .split(',')
      .map((policy) => policy.trim())
      .includes('compact')
  ) {
    problems.push(
      `topic ${topics.state} (state) has cleanup.policy=${state.cleanupPolicy}: it must be compacted ` +
        `(kafka-configs --alter --entity-type topics --entity-name ${topics.state} --add-config cleanup.policy=compact)`,
    );
  }
  return problems;
}

/** Topic-level configs a topic of this role is created with: the state topic is compacted. */
export function topicConfigsFor(role: TopicRole): Record<string, string> {
  return role === 'state' ? { 'cleanup.policy': 'compact' } : {};
}

const TOPIC_RESOURCE = 2; // kafkajs ConfigResourceTypes.TOPIC, without importing its enum's CommonJS object

async function readTopicFacts(admin: Admin, names: readonly string[]): Promise<Map<string, TopicFacts>> {
  const existing = new Set(await admin.listTopics());
  const present = [...new Set(names)].filter((name) => existing.has(name));
  const facts = new Map<string, TopicFacts>();
  if (present.length === 0) return facts;
  const metadata = await admin.fetchTopicMetadata({ topics: present });
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: present.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ['cleanup.policy'] })),
  });
  for (const topic of metadata.topics) {
    const policy = configs.resources
      .find((resource) => resource.resourceName === topic.name)
      ?.configEntries.find((entry) => entry.configName === 'cleanup.policy')?.configValue;
    facts.set(topic.name, { partitions: topic.partitions.length, cleanupPolicy: policy ?? 'delete' });
  }
  return facts;
}

const TOPIC_READY_TIMEOUT_MS = 30_000;

/**
 * Creates topics and waits until every partition is served by its leader. kafkajs' own
 * `waitForLeaders` gives up when a broker answers the first metadata request with
 * UNKNOWN_TOPIC_OR_PARTITION, and for a moment after a creation Kafka 4 names a leader in
 * its metadata that still answers NOT_LEADER_OR_FOLLOWER: this asks until offsets are read.
 */
export async function createTopicsAndWait(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  await admin.createTopics({ topics, waitForLeaders: false });
  const deadline = Date.now() + TOPIC_READY_TIMEOUT_MS;
  for (const { topic } of topics) {
    for (;;) {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        if (offsets.length > 0) break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline)
        throw new Error(`topic ${topic} is not served ${TOPIC_READY_TIMEOUT_MS} ms after its creation`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export interface TopicCreation {
  readonly partitions: number;
  /** -1: the broker's `default.replication.factor`. */
  readonly replicationFactor: number;
}

/**
 * Checks the worker's topics before it consumes or produces anything, and throws
 * `TopicLayoutError` with every problem found. With `create`, the missing topics are created
 * first (the state topic compacted), and each creation is logged: never silently.
 */
export async function ensureTopicLayout(
  kafka: Kafka,
  options: { topics: TopicRoles; create: TopicCreation | null; logger: Logger },
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const names = Object.values(options.topics);
    let facts = await readTopicFacts(admin, names);
    const missing = (Object.entries(options.topics) as Array<[TopicRole, string]>).filter(
      ([, name]) => !facts.has(name),
    );
    if (options.create && missing.length > 0) {
      const { replicationFactor } = options.create;
      // A missing co-partitioned topic takes the partition count of those that exist.
      const existingCount = (['trigger', 'webhook', 'state'] as const)
        .map((role) => facts.get(options.topics[role])?.partitions)
        .find((count) => count !== undefined);
      const partitions = existingCount ?? options.create.partitions;
      await createTopicsAndWait(
        admin,
        missing.map(([role, topic]) => ({
          topic,
          numPartitions: partitions,
          replicationFactor,
          configEntries: Object.entries(topicConfigsFor(role)).map(([name, value]) => ({ name, value })),
        })),
      );
      for (const [role, topic] of missing) {
        options.logger.warn({ topic, role, partitions, replicationFactor }, 'created a missing Kafka topic');
      }
      facts = await readTopicFacts(admin, names);
    }
    const problems = topicLayoutProblems(options.topics, facts);
    if (problems.length > 0) throw new TopicLayoutError(problems);
  } finally {
    await admin.disconnect();
  }
}
