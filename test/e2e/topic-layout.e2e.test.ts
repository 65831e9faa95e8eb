import { spawn } from 'node:child_process';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startWorker } from '../../src/worker.js';
import { sharedKafka, uniqueName } from '../setup/kafka-broker.global.js';

/**
 * The worker runs only on topics laid out as production has them (README, "Topics"): a wrong
 * layout stops the process with exit code 2 and one line per problem before anything is
 * consumed or produced; missing topics are created only when asked (KAFKA_CREATE_TOPICS).
 */
const broker = sharedKafka();
const admin = new Kafka({
  clientId: 'layout-e2e',
  brokers: broker.bootstrapServers,
  logLevel: logLevel.NOTHING,
}).admin();

beforeAll(async () => {
  await admin.connect();
});
afterAll(async () => {
  await admin.disconnect();
});

function topicsNamed() {
  return {
    trigger: uniqueName('layout-trigger'),
    webhook: uniqueName('layout-webhook'),
    records: uniqueName('layout-records'),
    errors: uniqueName('layout-errors'),
    state: uniqueName('layout-state'),
  };
}

function topicEnv(topics: ReturnType<typeof topicsNamed>, groupId: string): Record<string, string> {
  return {
    KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers.join(','),
    KAFKA_CONSUMER_GROUP_ID: groupId,
    KAFKA_TOPIC_TRIGGER: topics.trigger,
    KAFKA_TOPIC_WEBHOOK: topics.webhook,
    KAFKA_TOPIC_RECORDS: topics.records,
    KAFKA_TOPIC_ERRORS: topics.errors,
    KAFKA_TOPIC_STATE: topics.state,
  };
}

/** Runs `src/main.ts` to its end and returns its exit code and standard error. */
async function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'silent',
        HTTP_PORT: '0',
        HTTP_HOST: '127.0.0.1',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('the topic layout at start', () => {
  it('exits with code 2 and one line per problem, having consumed and produced nothing', async () => {
    const topics = topicsNamed();
    const groupId = uniqueName('layout-group');
    await broker.createTopic(topics.trigger, 4);
    await broker.createTopic(topics.webhook, 6);
    await broker.createTopic(topics.errors, 1);
    await broker.createTopic(topics.state, 4); // not compacted
    // A trigger waiting on the topic: it must still be there, uncommitted, after the refusal.
    const producer = new Kafka({
      clientId: 'layout-e2e',
      brokers: broker.bootstrapServers,
      logLevel: logLevel.NOTHING,
    }).producer();
    await producer.connect();
    await producer.send({ topic: topics.trigger, messages: [{ key: 'conn_x', value: '{}' }] });
    await producer.disconnect();

    const { code, stderr } = await runMain({ ...topicEnv(topics, groupId), GOOGLE_DRIVE_MOCK_MODE: 'true' });

    expect(code).toBe(2);
    const lines = stderr
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('kafka topic error: '));
    expect(lines).toEqual([
      `kafka topic error: topic ${topics.records} (records) does not exist: create it, or start once with KAFKA_CREATE_TOPICS=true`,
      expect.stringMatching(/webhook\) has 6, .* must have the same partition count$/),
      expect.stringMatching(
        new RegExp(`^kafka topic error: topic ${topics.state} \\(state\\) has cleanup.policy=delete`),
      ),
    ]);
    expect(stderr).not.toMatch(/\bat \S+:\d+/);

    const [committed] = await admin.fetchOffsets({ groupId, topics: [topics.trigger] });
    expect(committed?.partitions.every((p) => p.offset === '-1')).toBe(true);
    for (const topic of [topics.errors, topics.state]) {
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets.every((p) => p.high === '0')).toBe(true);
    }
    expect(await admin.listTopics()).not.toContain(topics.records);
  });

  it('creates the missing topics when asked, the state topic compacted and co-partitioned', async () => {
    const topics = topicsNamed();
    await broker.createTopic(topics.trigger, 3);
    const config = loadConfig({
      ...topicEnv(topics, uniqueName('layout-group')),
      KAFKA_CREATE_TOPICS: 'true',
      GDRIVE_API_BASE_URL: 'http://127.0.0.1:9',
      CONTROL_PLANE_BASE_URL: 'http://127.0.0.1:9',
    });
    const worker = await startWorker({ config, logger: createLogger({ level: 'silent', format: 'json' }) });
    await worker.stop();

    const metadata = await admin.fetchTopicMetadata({ topics: Object.values(topics) });
    const partitions = Object.fromEntries(metadata.topics.map((t) => [t.name, t.partitions.length]));
    // The missing ones take the partition count of the co-partitioned topic that exists.
    expect(partitions).toEqual(Object.fromEntries(Object.values(topics).map((name) => [name, 3])));
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: topics.state, configNames: ['cleanup.policy'] }],
    });
    expect(configs.resources[0]?.configEntries[0]?.configValue).toBe('compact');
  });
});
