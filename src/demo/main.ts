/**
 * `npm run demo`: the worker's main job on embedded defaults. Starts an embedded Kafka
 * broker, the Drive emulator with a seeded corpus and the worker; sends a
 * `full_sync` trigger for a demo connection, then edits files as the user would (through
 * googleapis) and lets the worker pick the edits up incrementally. Ends with counts per
 * resource type and where to look next.
 */
import * as google from '@googleapis/drive';
import { Kafka, logLevel } from 'kafkajs';
import { recordLine } from '../cli/record-line.js';
import { loadConfig } from '../config.js';
import { type OutboundRecord, outboundRecordSchema } from '../contract/records.js';
import { startApacheKafka } from '../embedded/apache-kafka.js';
import { startDriveEmulator } from '../emulator/index.js';
import { Murmur2Partitioner } from '../io/kafka/murmur2-partitioner.js';
import { type TopicRole, topicConfigsFor } from '../io/kafka/topic-layout.js';
import { createLogger } from '../logger.js';
import { quietKnownWarnings } from '../quiet-warnings.js';
import { startWorker } from '../worker.js';
import { ProgressBar } from './progress.js';

const CONNECTION_ID = 'conn_demo';
const CUSTOMER_ID = 'cust_demo';
const PARTITIONS = 4;

async function main(): Promise<void> {
  quietKnownWarnings();
  const started = Date.now();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const files = Number(process.env.DEMO_FILES ?? 400);

  say('starting the embedded Apache Kafka broker and the Drive emulator …');
  const topics = {
    trigger: 'integrations-inbound-trigger',
    webhook: 'integrations-inbound-webhook',
    records: 'integrations-incoming-records',
    errors: 'integrations-errors',
    state: 'integrations-google-drive-state',
  };
  const kafka = await startApacheKafka({ brokers: 1 });
  await kafka.createTopics(
    (Object.entries(topics) as Array<[TopicRole, string]>).map(([role, name]) => ({
      name,
      partitions: PARTITIONS,
      configs: topicConfigsFor(role),
    })),
  );
  const emulator = await startDriveEmulator({
    seed: 42,
    corpus: { files, users: 3, sharedDrives: 2, revisionDensity: 1, commentDensity: 0.5, replyDensity: 1 },
  });
  const demoUser = emulator.demo;
  if (!demoUser) throw new Error('the emulator generated no demo user');
  await emulator.admin.mapConnection(CONNECTION_ID, demoUser.userId);

  const config = loadConfig({
    KAFKA_BOOTSTRAP_SERVERS: kafka.bootstrapServers.join(','),
    KAFKA_CLIENT_ID: 'gdrive-worker-demo',
    // Fresh topics, and the demo's first trigger follows the worker's start closely.
    KAFKA_CONSUMER_NEW_GROUP_START: 'earliest',
    GDRIVE_API_BASE_URL: emulator.url,
    CONTROL_PLANE_BASE_URL: emulator.url,
    GDRIVE_PAGE_SIZE: '100',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    LOG_FORMAT: 'pretty',
  });
  const logger = createLogger({ level: config.log.level, format: config.log.format });
  const worker = await startWorker({ config, logger });
  say('worker up: consuming triggers, producing records');

  const client = new Kafka({
    clientId: 'demo-client',
    brokers: kafka.bootstrapServers,
    logLevel: logLevel.NOTHING,
  });
  const producer = client.producer({ createPartitioner: Murmur2Partitioner });
  await producer.connect();
  const records: OutboundRecord[] = [];
  const reader = client.consumer({ groupId: `demo-reader-${Date.now()}`, maxWaitTimeInMs: 100 });
  await reader.connect();
  await reader.subscribe({ topics: [topics.records], fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      const parsed = outboundRecordSchema.safeParse(JSON.parse(message.value.toString('utf8')));
      if (parsed.success) records.push(parsed.data);
    },
  });

  const trigger = (type: 'full_sync' | 'incremental', n: number) =>
    producer.send({
      topic: topics.trigger,
      messages: [
        {
          key: CONNECTION_ID,
          value: JSON.stringify({
            message_id: `demo-trigger-${n}-${Date.now()}`,
            customer_id: CUSTOMER_ID,
            integration_id: 'google-drive',
            integration_connection_id: CONNECTION_ID,
            trigger_type: type,
            options: { include: ['permissions', 'revisions', 'comments'] },
          }),
        },
      ],
    });

  const state = await emulator.admin.state();
  say(
    `full sync of ${demoUser.email}'s Drive (${state.files} items in the emulator, some shared with others) …`,
  );
  await trigger('full_sync', 1);
  const checkpoints = () => records.filter((r) => r.resource_type === 'sync_checkpoint');
  const bar = new ProgressBar('full sync ', state.files);
  await waitUntil(() => {
    const fileRecords = records.filter(
      (r) => r.resource_type === 'file' || r.resource_type === 'folder',
    ).length;
    bar.update(fileRecords, `${records.length} records`);
    return checkpoints().length >= 1;
  }, 120_000);
  bar.finish(`${records.length} records`);

  say('editing as the user: create, rename, comment, trash …');
  const drive = google.drive({ version: 'v3', rootUrl: `${emulator.url}/`, retryConfig: { retry: 0 } });
  const auth = { headers: { Authorization: `Bearer ${demoUser.accessToken}` } };
  const created = await drive.files.create(
    { requestBody: { name: 'Demo notes', mimeType: 'application/vnd.google-apps.document' }, fields: 'id' },
    auth,
  );
  const newId = created.data.id as string;
  await drive.files.update(
    { fileId: newId, requestBody: { name: 'Demo notes (renamed)' }, fields: 'id' },
    auth,
  );
  await drive.comments.create({ fileId: newId, requestBody: { content: 'Looks good' }, fields: 'id' }, auth);
  const someFile = records.find(
    (r) => r.resource_type === 'file' && r.operation === 'upsert' && r.data.owned_by_me !== false,
  );
  if (someFile)
    await drive.files.update(
      { fileId: someFile.resource_id, requestBody: { trashed: true }, fields: 'id' },
      auth,
    );
  const before = records.length;
  await trigger('incremental', 2);
  await waitUntil(() => checkpoints().length >= 2, 60_000);
  const incremental = records.slice(before);
  say(`incremental sync: ${incremental.length} records`);
  for (const record of incremental) say(`  ${recordLine(record)}`);

  const counts = new Map<string, number>();
  for (const r of records) {
    const key = `${r.resource_type}${r.operation === 'delete' ? ' (delete)' : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  say('\nrecords on the records topic, by resource type:');
  for (const [key, count] of [...counts].sort()) say(`  ${key.padEnd(24)} ${count}`);
  say(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s. Next:`);
  say('  npm run emulator -- --port 4000              the Drive emulator alone, with a token to try');
  say('  DEMO_KEEP=1 npm run demo                     keep everything running after the demo');
  say('  npm run records -- --from-beginning          the records topic as readable lines (with DEMO_KEEP,');
  say('                                               and the --bootstrap it prints; --connection, --topic)');

  if (process.env.DEMO_KEEP === '1') {
    say('\nrunning until Ctrl-C … the records, from another terminal:');
    say(`  npm run records -- --bootstrap ${kafka.bootstrapServers.join(',')} --from-beginning`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  await reader.disconnect();
  await producer.disconnect();
  await worker.stop();
  await emulator.close();
  await kafka.stop();
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('the demo timed out waiting for the worker');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
