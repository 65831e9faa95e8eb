/**
 * `npm run records -- [--topic <t>] [--from-beginning] [--connection <id>] [--bootstrap <host:port,...>] [--exit] [--state]`
 *
 * Prints a records (or errors) topic as one readable line per message, each checked
 * against the contract's schemas (src/cli/record-line.ts). Kafka settings come from the
 * worker's own KAFKA_* variables (bootstrap servers, TLS, SASL, topic names), so it reads
 * whatever cluster the worker writes to; `--bootstrap` overrides the servers, e.g. with the
 * address `DEMO_KEEP=1 npm run demo` prints. `--state` applies the records as the contract
 * says (src/contract/consumer-state.ts: cascades, the shared file namespace, permission_ids)
 * and prints, when it stops, what a consumer would hold per connection.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { loadConfigOrExit } from '../config-exit.js';
import { ConsumerState } from '../contract/consumer-state.js';
import { createKafka } from '../io/kafka/kafka-client.js';
import { createLogger } from '../logger.js';
import { quietKnownWarnings } from '../quiet-warnings.js';
import { heldLines, recordOf, summarizeMessage } from './record-line.js';

const USAGE = `usage: npm run records -- [options]
  --topic <name>          topic to print (default: KAFKA_TOPIC_RECORDS, integrations-incoming-records)
  --from-beginning        start at the oldest message (default: only new messages)
  --connection <id>       only messages of this integration_connection_id
  --bootstrap <servers>   host:port,... (default: KAFKA_BOOTSTRAP_SERVERS, localhost:9092)
  --exit                  stop at the end of the topic instead of waiting for more
  --state                 apply the records as the contract says and print, at the end, what
                          a consumer holds per connection (with --from-beginning --exit)
Kafka TLS/SASL come from the worker's KAFKA_* variables.`;

interface RecordsCliOptions {
  readonly kafka: Config['kafka'];
  readonly topic: string;
  readonly fromBeginning: boolean;
  readonly connectionId: string | null;
  readonly exitAtEnd: boolean;
  readonly state: boolean;
}

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): RecordsCliOptions | null {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      topic: { type: 'string' },
      'from-beginning': { type: 'boolean', default: false },
      connection: { type: 'string' },
      bootstrap: { type: 'string' },
      exit: { type: 'boolean', default: false },
      state: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  // Only Kafka's variables: an unrelated bad worker variable must not stop a reader.
  const kafkaEnv = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('KAFKA_')));
  const config = loadConfigOrExit({
    ...kafkaEnv,
    KAFKA_CLIENT_ID: 'records-cli',
    ...(values.bootstrap ? { KAFKA_BOOTSTRAP_SERVERS: values.bootstrap } : {}),
  });
  return {
    kafka: config.kafka,
    topic: values.topic ?? config.kafka.topics.records,
    fromBeginning: values['from-beginning'],
    connectionId: values.connection ?? null,
    exitAtEnd: values.exit,
    state: values.state,
  };
}

async function printTopic(options: RecordsCliOptions): Promise<void> {
  const logger = createLogger({ level: 'error', format: 'pretty', destination: process.stderr });
  const kafka = createKafka(options.kafka, logger);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const held = options.state ? new ConsumerState() : null;

  // Where the topic ends now, per partition: with --exit, the reader stops once it got there.
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map(
    (await admin.fetchTopicOffsets(options.topic)).map((p) => [p.partition, BigInt(p.high)] as const),
  );
  await admin.disconnect();
  const behind = new Set(
    [...ends].filter(([, high]) => options.fromBeginning && high > 0n).map(([partition]) => partition),
  );

  // A group of its own, never committed: every run reads from where its flags say.
  const consumer = kafka.consumer({ groupId: `records-cli-${randomUUID()}`, maxWaitTimeInMs: 200 });
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= consumer.disconnect();
    return stopping;
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  // `npm run records | head` closes stdout early: that ends the reader, quietly.
  process.stdout.on('error', () => void stop());

  const finished = new Promise<void>((resolve) => consumer.on(consumer.events.DISCONNECT, () => resolve()));
  await consumer.connect();
  await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const value = message.value?.toString('utf8') ?? null;
      if (held) {
        const record = recordOf(value);
        if (
          record &&
          (options.connectionId === null || record.integration_connection_id === options.connectionId)
        )
          held.apply(record);
      } else {
        const summary = summarizeMessage(message.key?.toString('utf8') ?? null, value);
        if (options.connectionId === null || summary.connectionId === options.connectionId)
          print(summary.line);
      }
      const end = ends.get(partition);
      if (end !== undefined && BigInt(message.offset) + 1n >= end) behind.delete(partition);
      if (options.exitAtEnd && behind.size === 0) void stop();
    },
  });
  if (options.exitAtEnd && behind.size === 0) void stop();
  await finished;
  if (held) for (const line of heldLines(held)) print(line);
}

async function main(): Promise<void> {
  quietKnownWarnings();
  let options: RecordsCliOptions | null;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    process.exit(2);
  }
  if (options === null) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  await printTopic(options);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `records: ${error instanceof Error ? error.message : String(error)}\n` +
      "(is a broker running there? the demo's broker lives as long as `DEMO_KEEP=1 npm run demo` runs)\n",
  );
  process.exit(1);
});
