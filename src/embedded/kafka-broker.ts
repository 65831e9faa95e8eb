import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { z } from 'zod';

/**
 * The embedded Kafka-protocol broker for tests, the demo and the bench: librdkafka's mock
 * cluster wrapped by our small C program (native/kafka-mock-broker/main.c), built here on
 * first use. Apache Kafka cannot be installed on the machines this project targets; the
 * mock cluster speaks the real protocol, so kafkajs and kcat talk to it unchanged.
 *
 * Known limits (measured with kafkajs 2.2.4, see the C file's header): Metadata reports
 * controller id 0 while brokers are 1..N, so kafkajs `admin.createTopics` and the idempotent
 * producer fail against it; topics are created here instead, and producers run with
 * `idempotent: false`.
 */

const execFileAsync = promisify(execFile);

const RDKAFKA_MOCK_HEADER = '/usr/include/librdkafka/rdkafka_mock.h';
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const STDERR_KEPT_CHARS = 4_000;

/** Kafka protocol request types the broker can inject errors into. */
export const KafkaApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  InitProducerId: 22,
} as const;

/** Kafka error codes useful for fault injection (protocol numbers). */
export const KafkaErrorCode = {
  /** librdkafka's own code: the mock broker drops the connection instead of answering. */
  DISCONNECT: -195,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_FOR_PARTITION: 6,
  REQUEST_TIMED_OUT: 7,
  NETWORK_EXCEPTION: 13,
  COORDINATOR_LOAD_IN_PROGRESS: 14,
  COORDINATOR_NOT_AVAILABLE: 15,
  NOT_COORDINATOR: 16,
  NOT_ENOUGH_REPLICAS: 19,
  REBALANCE_IN_PROGRESS: 27,
} as const;

export interface EmbeddedKafkaTopic {
  name: string;
  partitions: number;
}

export interface EmbeddedKafkaOptions {
  /** Broker count, ids 1..brokers. Default 3. */
  brokers?: number;
  /** Topics created before the broker reports ready. */
  topics?: EmbeddedKafkaTopic[];
}

/** Everything a test may do to a running broker; the commands resolve once it answered OK. */
export interface EmbeddedKafkaControl {
  /** host:port of every broker, for kafkajs `brokers` or kcat `-b` (joined with commas). */
  readonly bootstrapServers: string[];
  /** Broker ids, 1..N. */
  readonly brokerIds: number[];
  createTopic(name: string, partitions: number): Promise<void>;
  /** Closes the broker's connections and refuses new ones; leadership does not move. */
  brokerDown(brokerId: number): Promise<void>;
  brokerUp(brokerId: number): Promise<void>;
  /** The next `count` requests of `apiKey`, cluster-wide, fail with `errorCode`. */
  pushRequestErrors(apiKey: number, count: number, errorCode: number): Promise<void>;
  clearRequestErrors(apiKey: number): Promise<void>;
  /** Delays every response of the broker by `ms` (-1 as brokerId: every broker). */
  setRtt(brokerId: number, ms: number): Promise<void>;
  setPartitionLeader(topic: string, partition: number, brokerId: number): Promise<void>;
  ping(): Promise<void>;
}

export interface EmbeddedKafka extends EmbeddedKafkaControl {
  /** Sends one raw protocol line (see main.c) and resolves with the broker's `OK ...` answer. */
  command(line: string): Promise<string>;
  /** SIGTERM, then waits for the process to exit. Safe to call more than once. */
  stop(): Promise<void>;
}

/** Sends one protocol line and resolves with the `OK ...` answer; rejects on `ERR`. */
export type BrokerCommandTransport = (line: string) => Promise<string>;

const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, {
  message: 'topic names are 1 to 249 characters from [A-Za-z0-9._-]',
});
const partitionCount = z.number().int().min(1).max(10_000);
const brokerCount = z.number().int().min(1).max(100);
const brokerIdOrAll = z.number().int().min(-1);
const readyLine = z
  .string()
  .regex(/^READY \S+$/)
  .transform((line) => line.slice('READY '.length).split(','))
  .pipe(z.array(z.string().regex(/^[^\s:,]+:\d{1,5}$/)).min(1));

function findRepositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'native', 'kafka-mock-broker', 'main.c'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find native/kafka-mock-broker/main.c above this module');
    dir = parent;
  }
}

function brokerPaths() {
  const sourceDir = join(findRepositoryRoot(), 'native', 'kafka-mock-broker');
  return {
    source: join(sourceDir, 'main.c'),
    buildDir: join(sourceDir, 'build'),
    binary: join(sourceDir, 'build', 'kafka-mock-broker'),
  };
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

async function commandExists(name: string): Promise<boolean> {
  try {
    await execFileAsync('sh', ['-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

async function aptInstall(packages: string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileAsync('apt-get', ['install', '-y', ...packages], { env });
  try {
    await install();
  } catch {
    // A fresh machine often has no package lists yet; refresh them once and retry.
    await execFileAsync('apt-get', ['update'], { env });
    await install();
  }
}

/** Debian packages the build needs that are not installed yet. */
async function missingBuildPackages(): Promise<string[]> {
  const missing: string[] = [];
  if (!existsSync(RDKAFKA_MOCK_HEADER)) missing.push('librdkafka-dev');
  if (!(await commandExists('cc'))) missing.push('gcc', 'libc6-dev');
  return missing;
}

/**
 * Builds the broker binary when it is missing or older than its source, installing the
 * Debian build dependencies first when they are missing and this process runs as root.
 * Returns the binary's path.
 */
export async function ensureKafkaBrokerBuilt(): Promise<string> {
  const paths = brokerPaths();
  const [sourceTime, binaryTime] = await Promise.all([mtimeMs(paths.source), mtimeMs(paths.binary)]);
  if (binaryTime !== undefined && sourceTime !== undefined && binaryTime >= sourceTime) return paths.binary;

  const missing = await missingBuildPackages();
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        `the embedded Kafka broker needs Debian packages that are missing (${missing.join(', ')}); ` +
          `run: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`,
      );
    }
    try {
      await aptInstall(missing);
    } catch (cause) {
      throw new Error(`apt-get install ${missing.join(' ')} failed`, { cause });
    }
  }

  await mkdir(paths.buildDir, { recursive: true });
  // Build beside the target and rename, so a concurrent starter never runs half a file.
  const partial = `${paths.binary}.${process.pid}.partial`;
  try {
    await execFileAsync('cc', [
      '-std=c11',
      '-O2',
      '-Wall',
      '-Wextra',
      '-o',
      partial,
      paths.source,
      '-lrdkafka',
      '-pthread',
    ]);
    await rename(partial, paths.binary);
  } catch (cause) {
    await rm(partial, { force: true });
    const stderr = (cause as { stderr?: unknown }).stderr;
    throw new Error(
      `building the embedded Kafka broker failed${typeof stderr === 'string' && stderr ? `:\n${stderr}` : ''}`,
      { cause },
    );
  }
  return paths.binary;
}

/** Broker processes still running; killed if this Node process exits without stopping them. */
const liveBrokers = new Set<ChildProcessWithoutNullStreams>();
let exitHookInstalled = false;

function killOnParentExit(child: ChildProcessWithoutNullStreams): void {
  liveBrokers.add(child);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const live of liveBrokers) live.kill('SIGKILL');
  });
}

interface PendingReply {
  command: string;
  resolve: (reply: string) => void;
  reject: (error: Error) => void;
}

/**
 * The broker's commands over any transport that carries one protocol line and its answer:
 * the process's stdin (below) or, in tests, the global setup's control endpoint.
 */
export function embeddedKafkaControl(
  bootstrapServers: string[],
  send: BrokerCommandTransport,
): EmbeddedKafkaControl {
  const apiKey = z.number().int().min(0);
  return {
    bootstrapServers,
    brokerIds: bootstrapServers.map((_, index) => index + 1),
    async createTopic(name, partitions) {
      await send(`create-topic ${topicName.parse(name)} ${partitionCount.parse(partitions)}`);
    },
    async brokerDown(brokerId) {
      await send(`broker-down ${brokerIdOrAll.parse(brokerId)}`);
    },
    async brokerUp(brokerId) {
      await send(`broker-up ${brokerIdOrAll.parse(brokerId)}`);
    },
    async pushRequestErrors(key, count, errorCode) {
      const times = z.number().int().min(1).parse(count);
      await send(`push-errors ${apiKey.parse(key)} ${times} ${z.number().int().parse(errorCode)}`);
    },
    async clearRequestErrors(key) {
      await send(`clear-errors ${apiKey.parse(key)}`);
    },
    async setRtt(brokerId, ms) {
      await send(`rtt ${brokerIdOrAll.parse(brokerId)} ${z.number().int().min(0).parse(ms)}`);
    },
    async setPartitionLeader(topic, partition, brokerId) {
      const index = z.number().int().min(0).parse(partition);
      await send(`set-leader ${topicName.parse(topic)} ${index} ${brokerIdOrAll.parse(brokerId)}`);
    },
    async ping() {
      await send('ping');
    },
  };
}

/** One running broker process: the line protocol over its stdin and stdout. */
class BrokerProcess {
  private readonly pending: PendingReply[] = [];
  private exitError: Error | undefined;
  private readonly exited: Promise<void>;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    lines: AsyncIterator<string>,
    stderrTail: () => string,
  ) {
    this.exited = new Promise((resolve) => {
      // 'close' comes after the output streams end, so the stderr tail is complete.
      child.once('close', (code, signal) => {
        this.exitError = new Error(
          `embedded Kafka broker exited (${signal ?? `code ${code}`})${formatStderr(stderrTail())}`,
        );
        for (const waiter of this.pending.splice(0)) waiter.reject(this.exitError);
        resolve();
      });
    });
    void this.readReplies(lines);
  }

  private async readReplies(lines: AsyncIterator<string>): Promise<void> {
    for (;;) {
      const next = await lines.next().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) return;
      const waiter = this.pending.shift();
      if (!waiter) continue;
      if (next.value.startsWith('OK')) waiter.resolve(next.value);
      else waiter.reject(new Error(`embedded Kafka broker refused "${waiter.command}": ${next.value}`));
    }
  }

  readonly send: BrokerCommandTransport = (line) => {
    if (this.exitError) return Promise.reject(this.exitError);
    if (/[\r\n]/.test(line)) return Promise.reject(new Error('a broker command is one line'));
    return new Promise((resolve, reject) => {
      this.pending.push({ command: line, resolve, reject });
      this.child.stdin.write(`${line}\n`);
    });
  };

  readonly stop = async (): Promise<void> => {
    if (this.exitError) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  };
}

function formatStderr(tail: string): string {
  const trimmed = tail.trim();
  return trimmed ? `; its stderr:\n${trimmed}` : '';
}

/**
 * Starts a mock cluster with the given brokers and topics and resolves once it listens.
 * The process is killed when this Node process exits; call `stop()` to end it earlier.
 */
export async function startEmbeddedKafka(options: EmbeddedKafkaOptions = {}): Promise<EmbeddedKafka> {
  const brokers = brokerCount.parse(options.brokers ?? 3);
  const topics = (options.topics ?? []).map((topic) => ({
    name: topicName.parse(topic.name),
    partitions: partitionCount.parse(topic.partitions),
  }));
  const binary = await ensureKafkaBrokerBuilt();

  const args = ['--brokers', String(brokers)];
  for (const topic of topics) args.push('--topic', `${topic.name}:${topic.partitions}`);
  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  killOnParentExit(child);
  child.once('exit', () => liveBrokers.delete(child));

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT_CHARS);
  });
  // Writes to a broker that just died surface through the exit handler, not as a crash.
  child.stdin.on('error', () => {});

  const lines = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })[
    Symbol.asyncIterator
  ]();

  let timer: NodeJS.Timeout | undefined;
  const failure = new Promise<never>((_, reject) => {
    child.once('error', (cause) => reject(new Error(`cannot start ${binary}`, { cause })));
    child.once('close', (code, signal) =>
      reject(
        new Error(
          `embedded Kafka broker exited before it was ready (${signal ?? `code ${code}`})${formatStderr(stderr)}`,
        ),
      ),
    );
    timer = setTimeout(
      () =>
        reject(
          new Error(`embedded Kafka broker not ready after ${READY_TIMEOUT_MS} ms${formatStderr(stderr)}`),
        ),
      READY_TIMEOUT_MS,
    );
  });
  failure.catch(() => {}); // observed through the race below; later exits reach BrokerProcess

  try {
    const first = await Promise.race([lines.next(), failure]);
    if (first.done) await failure; // stdout ended: report the exit and its stderr
    const parsed = readyLine.safeParse(first.value ?? '');
    if (!parsed.success) {
      throw new Error(
        `embedded Kafka broker printed ${JSON.stringify(first.value ?? '')} instead of READY <host:port,...>`,
      );
    }
    const running = new BrokerProcess(child, lines, () => stderr);
    return { ...embeddedKafkaControl(parsed.data, running.send), command: running.send, stop: running.stop };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
