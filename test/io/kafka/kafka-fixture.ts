import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { Kafka } from 'kafkajs';
import { loadConfig } from '../../../src/config.js';
import { createKafka } from '../../../src/io/kafka/kafka-client.js';
import { createLogger, type Logger } from '../../../src/logger.js';

const execFileAsync = promisify(execFile);

/** A logger whose JSON lines the test can read (warnings and up, unless told otherwise). */
export function capturingLogger(level = 'warn'): {
  logger: Logger;
  lines: () => Array<Record<string, unknown>>;
} {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      raw.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level, format: 'json', destination });
  return {
    logger,
    lines: () =>
      raw
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** Any broker or cluster a test talks to: the shared one or one of its own. */
export interface BrokerAddress {
  readonly bootstrapServers: string[];
}

/** The worker's own client factory, pointed at a test broker. */
export function workerKafka(broker: BrokerAddress, logger: Logger): Kafka {
  const config = loadConfig({
    KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers.join(','),
    KAFKA_CLIENT_ID: 'kafka-io-e2e',
  });
  return createKafka(config.kafka, logger);
}

/** Consumer timings for tests: a short session, so a member that vanished is noticed quickly. */
export const quickGroup = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 300, maxWaitTimeMs: 200 } as const;

export interface KcatMessage {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  /** Headers as kcat prints them: `name=value` joined with commas. */
  readonly headers: string;
  /** null for a tombstone. */
  readonly value: string | null;
}

/** Every message of a topic, read by kcat (librdkafka: an implementation independent of kafkajs). */
export async function kcatRead(broker: BrokerAddress, topic: string): Promise<KcatMessage[]> {
  const { stdout } = await execFileAsync('kcat', [
    '-b',
    broker.bootstrapServers.join(','),
    '-C',
    '-t',
    topic,
    '-o',
    'beginning',
    '-e',
    '-q',
    '-f',
    '%p\t%o\t%k\t%h\t%S\t%s\n',
  ]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [partition, offset, key, headers, length, ...rest] = line.split('\t');
      return {
        partition: Number(partition),
        offset: Number(offset),
        key: key ?? '',
        headers: headers ?? '',
        value: length === '-1' ? null : rest.join('\t'),
      };
    });
}

/** Produces `key:value` lines with kcat and librdkafka's Java-compatible murmur2 partitioner. */
export async function kcatProduce(broker: BrokerAddress, topic: string, lines: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      'kcat',
      [
        '-b',
        broker.bootstrapServers.join(','),
        '-P',
        '-t',
        topic,
        '-K',
        ':',
        '-X',
        'partitioner=murmur2_random',
      ],
      (error) => (error ? reject(error) : resolve()),
    );
    child.stdin?.end(`${lines.join('\n')}\n`);
  });
}

/** Cleanups run after each test, last registered first. */
export function cleanupList() {
  const list: Array<() => Promise<unknown>> = [];
  return {
    add(cleanup: () => Promise<unknown>) {
      list.push(cleanup);
    },
    async runAll() {
      for (const cleanup of list.splice(0).reverse()) await cleanup().catch(() => undefined);
    },
  };
}
