import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Admin, type ITopicConfig, Kafka, logLevel } from 'kafkajs';
import { z } from 'zod';
import { createTopicsAndWait } from '../io/kafka/topic-layout.js';

/**
 * The embedded Apache Kafka for tests, the demo and the bench: the real broker (KRaft, each
 * node a combined broker + controller) run from the jars Maven fetched for
 * native/apache-kafka/pom.xml, on the machine's Java. One node for the shared test broker
 * and the demo; three for fault tests (replication factor 3, `min.insync.replicas` 2).
 *
 * Each node is its own JVM, so a test can kill, restart, freeze (SIGSTOP) and thaw
 * (SIGCONT) one node as a real outage would; a restarted node keeps its ports and data.
 */

const execFileAsync = promisify(execFile);

const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 5_000;
const LOG_TAIL_CHARS = 3_000;
const MIN_JAVA_MAJOR = 17;

export interface ApacheKafkaOptions {
  /** Nodes, ids 1..N, each a broker and a controller. Default 1. */
  brokers?: number;
  /** Where the nodes keep their logs and data; default a new temporary folder, removed on stop. */
  dataDir?: string;
  /** Maximum heap of each node's JVM. Default 512 MiB. */
  heapMb?: number;
  /** The nodes' client ports, e.g. for an address that stays the same; default free ports. */
  ports?: number[];
  /** Broker settings on top of the embedded defaults (`server.properties` names). */
  overrides?: Record<string, string>;
}

export interface EmbeddedTopic {
  name: string;
  partitions: number;
  /** Default: the cluster's size, at most 3. */
  replicationFactor?: number;
  /** Topic-level configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  configs?: Record<string, string>;
}

export interface ApacheKafka {
  /** The broker version, as pinned in native/apache-kafka/pom.xml. */
  readonly version: string;
  /** host:port of every node, for kafkajs `brokers` or kcat `-b`. */
  readonly bootstrapServers: string[];
  readonly brokerIds: number[];
  /** Creates the topics (through kafkajs' admin client) and waits for their leaders. */
  createTopics(topics: EmbeddedTopic[]): Promise<void>;
  /** The node leading a partition now, per the cluster's metadata. */
  leaderOf(topic: string, partition: number): Promise<number>;
  /** SIGKILL: the node dies as in a crash; its data stays. */
  kill(brokerId: number): Promise<void>;
  /** Starts a killed or stopped node again with its ports and data; resolves when it serves. */
  restart(brokerId: number): Promise<void>;
  /** SIGSTOP: the node stays connected but answers nothing, as a long GC pause or a hung host. */
  freeze(brokerId: number): void;
  /** SIGCONT after `freeze`. */
  thaw(brokerId: number): void;
  /** The node's OS process id, or null when it is not running. */
  pidOf(brokerId: number): number | null;
  /** Stops every node (SIGTERM, then SIGKILL after 5 s) and removes a temporary data folder. */
  stop(): Promise<void>;
}

/** A failure to install or start the broker, with one line saying what to do. */
export class EmbeddedKafkaError extends Error {
  override readonly name = 'EmbeddedKafkaError';
  constructor(message: string, options?: ErrorOptions & { readonly portTaken?: boolean }) {
    super(message, options);
    this.portTaken = options?.portTaken ?? false;
  }
  /** A node could not listen on its port: another start, with other ports, may succeed. */
  readonly portTaken: boolean;
}

function findRepositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'native', 'apache-kafka', 'pom.xml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new EmbeddedKafkaError('cannot find native/apache-kafka/pom.xml above this module');
    dir = parent;
  }
}

function kafkaPaths() {
  const home = join(findRepositoryRoot(), 'native', 'apache-kafka');
  return {
    pom: join(home, 'pom.xml'),
    libs: join(home, 'libs'),
    stamp: join(home, 'libs', '.installed'),
    log4j: join(home, 'log4j2.properties'),
  };
}

const pinnedVersion = z
  .string()
  .regex(/<kafka\.version>([0-9][0-9A-Za-z.-]*)<\/kafka\.version>/)
  .transform((pom) => /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1] ?? '');

/** The Kafka version pinned in the pom. */
export async function pinnedKafkaVersion(): Promise<string> {
  return pinnedVersion.parse(await readFile(kafkaPaths().pom, 'utf8'));
}

function javaCommand(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Checks that Java 17 or newer runs; throws one line saying what to install otherwise. */
async function checkJava(): Promise<void> {
  let output: string;
  try {
    const { stderr, stdout } = await execFileAsync(javaCommand(), ['-version']);
    output = `${stderr}${stdout}`;
  } catch (cause) {
    throw new EmbeddedKafkaError(
      `the embedded Kafka broker needs Java ${MIN_JAVA_MAJOR} or newer and \`${javaCommand()}\` does not run: ` +
        `install it (apt-get install -y openjdk-${MIN_JAVA_MAJOR}-jre-headless) or set JAVA_HOME`,
      { cause },
    );
  }
  const major = Number(/version "(?:1\.)?(\d+)/.exec(output)?.[1] ?? 0);
  if (major < MIN_JAVA_MAJOR) {
    throw new EmbeddedKafkaError(
      `the embedded Kafka broker needs Java ${MIN_JAVA_MAJOR} or newer, \`${javaCommand()}\` is Java ${major}: ` +
        `install a newer one or set JAVA_HOME to it`,
    );
  }
}

async function mtimeMs(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** True when libs/ holds the jars of the pom as it is now. */
export async function apacheKafkaInstalled(): Promise<boolean> {
  const paths = kafkaPaths();
  const [pomTime, stampTime] = await Promise.all([mtimeMs(paths.pom), mtimeMs(paths.stamp)]);
  return pomTime !== undefined && stampTime !== undefined && stampTime >= pomTime;
}

/**
 * Fetches the broker's jars with Maven into native/apache-kafka/libs when they are missing
 * or older than the pom. Idempotent; the jars land in a folder beside libs/ first and are
 * renamed into place, so a concurrent starter never sees half of them.
 */
export async function ensureApacheKafkaInstalled(): Promise<void> {
  if (await apacheKafkaInstalled()) return;
  const paths = kafkaPaths();
  const version = await pinnedKafkaVersion();
  const partial = `${paths.libs}.${process.pid}.partial`;
  await rm(partial, { recursive: true, force: true });
  try {
    await execFileAsync(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        paths.pom,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${partial}`,
        '-DincludeScope=runtime',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (cause) {
    await rm(partial, { recursive: true, force: true });
    const code = (cause as { code?: unknown }).code;
    if (code === 'ENOENT') {
      throw new EmbeddedKafkaError(
        'the embedded Kafka broker is fetched with Maven and `mvn` is not installed: apt-get install -y maven',
        { cause },
      );
    }
    const output = `${(cause as { stdout?: unknown }).stdout ?? ''}${(cause as { stderr?: unknown }).stderr ?? ''}`;
    const reason =
      output
        .split('\n')
        .map((line) => line.trim())
        .find((line) => line.startsWith('[ERROR]')) ??
      'see `mvn -f native/apache-kafka/pom.xml dependency:copy-dependencies`';
    throw new EmbeddedKafkaError(
      `Maven could not fetch org.apache.kafka:kafka_2.13:${version} (is Maven Central reachable?): ${reason}`,
      { cause },
    );
  }
  await writeFile(join(partial, '.installed'), `${version}\n`);
  await rm(paths.libs, { recursive: true, force: true });
  await rename(partial, paths.libs);
}

/**
 * What `kafka-storage random-uuid` prints, without starting a JVM for it: 16 random bytes
 * in URL-safe base64. Like Kafka's own, never starting with '-', which the storage tool
 * would read as an option.
 */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * A port nothing listens on now, from below Linux's ephemeral range (32768–60999): a port
 * the kernel hands out for outgoing connections (tests make many) could be taken again
 * between this check and the broker's bind.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(candidate)) return candidate;
  }
  throw new EmbeddedKafkaError('no free port found between 20000 and 32000 on 127.0.0.1');
}

async function canListen(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface NodeSpec {
  id: number;
  port: number;
  controllerPort: number;
  dir: string;
  configFile: string;
  logFile: string;
}

function embeddedDefaults(size: number): Record<string, string> {
  const replication = String(Math.min(size, 3));
  return {
    // Topics exist because someone created them, as in production.
    'auto.create.topics.enable': 'false',
    'default.replication.factor': replication,
    'min.insync.replicas': size >= 3 ? '2' : '1',
    'offsets.topic.replication.factor': replication,
    // Fewer internal partitions than production's 50: the broker is ready in seconds.
    'offsets.topic.num.partitions': '8',
    'transaction.state.log.replication.factor': replication,
    'transaction.state.log.min.isr': size >= 3 ? '2' : '1',
    'transaction.state.log.num.partitions': '4',
    'share.coordinator.state.topic.replication.factor': replication,
    'share.coordinator.state.topic.min.isr': size >= 3 ? '2' : '1',
    // A group's first member joins at once instead of waiting 3 s for others.
    'group.initial.rebalance.delay.ms': '0',
    // Tests use short sessions so that a frozen or killed member is noticed quickly.
    'group.min.session.timeout.ms': '1000',
    // A killed node is fenced by the controller (its partitions led elsewhere) in 4.5 s, not
    // 9 s: a producer's retries of a few seconds reach the new leader rather than run out.
    'broker.session.timeout.ms': '4500',
    'broker.heartbeat.interval.ms': '1000',
    // A frozen follower leaves the ISR in seconds, not 30 s.
    'replica.lag.time.max.ms': '5000',
    // The log cleaner looks often, so a compaction test need not wait 15 s between looks.
    'log.cleaner.backoff.ms': '500',
    'num.network.threads': '2',
    'num.io.threads': '4',
    'num.partitions': '1',
  };
}

function serverProperties(node: NodeSpec, voters: string, settings: Record<string, string>): string {
  const lines = {
    'process.roles': 'broker,controller',
    'node.id': String(node.id),
    'controller.quorum.voters': voters,
    listeners: `PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${node.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(node.dir, 'data'),
    ...settings,
  };
  return `${Object.entries(lines)
    .map(([name, value]) => `${name}=${value}`)
    .join('\n')}\n`;
}

async function readLog(file: string): Promise<string> {
  return (await readFile(file, 'utf8').catch(() => '')).trim();
}

/** A node's log line that says it cannot listen, which it does not always follow by exiting. */
const BIND_FAILURE = /failed to bind to [^:\s]+:(\d+)|Address already in use|BindException/;

/** One line saying why a node could not start, from its log. */
function startFailure(node: NodeSpec, how: string, log: string): EmbeddedKafkaError {
  if (BIND_FAILURE.test(log)) {
    const port = /failed to bind to [^:\s]+:(\d+)/.exec(log)?.[1] ?? `${node.port} or ${node.controllerPort}`;
    return new EmbeddedKafkaError(
      `embedded Kafka node ${node.id}: port ${port} is already in use ` +
        '(a broker left running? `pkill -f kafka.Kafka`), then retry',
      { portTaken: true },
    );
  }
  return new EmbeddedKafkaError(
    `embedded Kafka node ${node.id} ${how}; the end of its log (${node.logFile}):\n${log.slice(-LOG_TAIL_CHARS) || '(empty)'}`,
  );
}

/** Broker processes still running; killed if this Node process exits without stopping them. */
const livePids = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnParentExit(child: ChildProcess): void {
  livePids.add(child);
  child.once('exit', () => livePids.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const live of livePids) live.kill('SIGKILL');
  });
}

/** `retries: 0` for the readiness loop, which retries by itself and looks at the logs between tries. */
function quietAdmin(brokers: string[], retries = 5): Admin {
  return new Kafka({
    clientId: 'embedded-kafka',
    brokers,
    logLevel: logLevel.NOTHING,
    // Short: whatever holds a port without answering must not stall the readiness loop.
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { initialRetryTime: 200, maxRetryTime: 1_000, retries },
  }).admin();
}

/**
 * Waits until the cluster answers the admin client with every node registered and its group
 * coordinator loaded (a consumer's first join would otherwise meet
 * COORDINATOR_LOAD_IN_PROGRESS and restart). `problem` is asked first on every round: a node
 * that exited or cannot listen ends the wait at once.
 */
async function waitUntilServing(options: {
  brokers: string[];
  expectBrokers: number;
  deadline: number;
  problem: () => Promise<Error | null>;
  timedOut: () => Promise<Error>;
}): Promise<void> {
  for (;;) {
    const problem = await options.problem();
    if (problem) throw problem;
    if (Date.now() > options.deadline) throw await options.timedOut();
    const admin = quietAdmin(options.brokers, 0);
    try {
      await admin.connect();
      await admin.listTopics();
      const { brokers: registered } = await admin.describeCluster();
      if (registered.length < options.expectBrokers) throw new Error('not every node has registered yet');
      await admin.fetchOffsets({ groupId: 'embedded-kafka-ready', topics: [] });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 250));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

/**
 * Starts an Apache Kafka cluster of `brokers` nodes on free loopback ports and resolves once
 * it serves: the admin client lists topics and the group coordinator answers. Installs the
 * jars first if they are missing. Every node is killed if this process exits.
 */
export async function startApacheKafka(options: ApacheKafkaOptions = {}): Promise<ApacheKafka> {
  // Ports chosen here can still be taken before the JVM binds them: a fresh start on fresh
  // ports (and a fresh temporary folder) then. Ports or a folder the caller chose are kept.
  const mayRetry = options.ports === undefined && options.dataDir === undefined;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startApacheKafkaOnce(options);
    } catch (error) {
      if (!(mayRetry && attempt < 3 && error instanceof EmbeddedKafkaError && error.portTaken)) throw error;
    }
  }
}

async function startApacheKafkaOnce(options: ApacheKafkaOptions): Promise<ApacheKafka> {
  const size = z
    .number()
    .int()
    .min(1)
    .max(5)
    .parse(options.brokers ?? 1);
  const heapMb = z
    .number()
    .int()
    .min(128)
    .max(8192)
    .parse(options.heapMb ?? 512);
  const ports = z.array(z.number().int().min(1).max(65_535)).length(size).optional().parse(options.ports);
  await checkJava();
  await ensureApacheKafkaInstalled();
  const paths = kafkaPaths();
  const version = await pinnedKafkaVersion();

  const temporary = options.dataDir === undefined;
  const root = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'embedded-kafka-')));
  await mkdir(root, { recursive: true });

  const nodes: NodeSpec[] = [];
  for (let id = 1; id <= size; id += 1) {
    const dir = join(root, `node-${id}`);
    await mkdir(dir, { recursive: true });
    nodes.push({
      id,
      port: ports?.[id - 1] ?? (await freePort()),
      controllerPort: await freePort(),
      dir,
      configFile: join(dir, 'server.properties'),
      logFile: join(dir, `broker-${id}.log`),
    });
  }
  const voters = nodes.map((node) => `${node.id}@127.0.0.1:${node.controllerPort}`).join(',');
  const settings = { ...embeddedDefaults(size), ...(options.overrides ?? {}) };
  for (const node of nodes) await writeFile(node.configFile, serverProperties(node, voters, settings));

  const classpath = `${paths.libs}/*`;
  const java = javaCommand();
  const clusterId = newClusterId();
  await Promise.all(
    nodes.map(async (node) => {
      // A data folder formatted before keeps its cluster id: only new folders are formatted.
      if ((await readdir(join(node.dir, 'data')).catch(() => [])).length > 0) return;
      try {
        await execFileAsync(java, [
          '-XX:TieredStopAtLevel=1',
          '-cp',
          classpath,
          `-Dlog4j2.configurationFile=${paths.log4j}`,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId,
          '-c',
          node.configFile,
        ]);
      } catch (cause) {
        throw new EmbeddedKafkaError(`formatting the data folder of embedded Kafka node ${node.id} failed`, {
          cause,
        });
      }
    }),
  );

  const processes = new Map<number, ChildProcess>();
  const bootstrapServers = nodes.map((node) => `127.0.0.1:${node.port}`);

  const launch = (node: NodeSpec): ChildProcess => {
    const log = openSync(node.logFile, 'a');
    const child = spawn(
      java,
      [
        `-Xmx${heapMb}m`,
        '-Xms64m',
        '-XX:+UseSerialGC',
        // The client compiler only: a node serves in about half the time on a busy 2-core
        // machine, and tests, the demo and the bench never run a broker long enough for C2.
        '-XX:TieredStopAtLevel=1',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${paths.log4j}`,
        '-cp',
        classpath,
        'kafka.Kafka',
        node.configFile,
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    killOnParentExit(child);
    processes.set(node.id, child);
    child.once('exit', () => {
      if (processes.get(node.id) === child) processes.delete(node.id);
    });
    return child;
  };

  const nodeOf = (brokerId: number): NodeSpec => {
    const node = nodes.find((candidate) => candidate.id === brokerId);
    if (!node) throw new EmbeddedKafkaError(`no embedded Kafka node ${brokerId} (nodes are 1..${size})`);
    return node;
  };

  const waitFor = async (subset: NodeSpec[], brokers: string[]) => {
    const children = subset.map((node) => ({ node, child: processes.get(node.id) }));
    await waitUntilServing({
      brokers,
      expectBrokers: size,
      deadline: Date.now() + READY_TIMEOUT_MS,
      problem: async () => {
        for (const { node, child } of children) {
          const log = await readLog(node.logFile);
          if (BIND_FAILURE.test(log)) return startFailure(node, 'cannot listen', log);
          if (!child || child.exitCode !== null || child.signalCode !== null) {
            return startFailure(node, 'exited before it served', log);
          }
        }
        return null;
      },
      timedOut: async () => {
        const node = subset[0] as NodeSpec;
        const log = await readLog(node.logFile);
        return startFailure(node, `not serving after ${READY_TIMEOUT_MS / 1000} s`, log);
      },
    });
  };

  const stopNode = async (node: NodeSpec, signal: NodeJS.Signals): Promise<void> => {
    const child = processes.get(node.id);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  for (const node of nodes) launch(node);
  try {
    await waitFor(nodes, bootstrapServers);
  } catch (error) {
    await Promise.all(nodes.map((node) => stopNode(node, 'SIGKILL')));
    if (temporary) await rm(root, { recursive: true, force: true });
    throw error;
  }

  const cluster: ApacheKafka = {
    version,
    bootstrapServers,
    brokerIds: nodes.map((node) => node.id),
    async createTopics(topics) {
      const admin = quietAdmin(bootstrapServers);
      await admin.connect();
      try {
        const wanted: ITopicConfig[] = topics.map((topic) => ({
          topic: topic.name,
          numPartitions: topic.partitions,
          replicationFactor: topic.replicationFactor ?? Math.min(size, 3),
          configEntries: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
        }));
        await createTopicsAndWait(admin, wanted);
      } finally {
        await admin.disconnect();
      }
    },
    async leaderOf(topic, partition) {
      const admin = quietAdmin(bootstrapServers);
      await admin.connect();
      try {
        const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
        const leader = metadata.topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader;
        if (leader === undefined) throw new EmbeddedKafkaError(`no partition ${topic}[${partition}]`);
        return leader;
      } finally {
        await admin.disconnect();
      }
    },
    async kill(brokerId) {
      await stopNode(nodeOf(brokerId), 'SIGKILL');
    },
    async restart(brokerId) {
      const node = nodeOf(brokerId);
      await stopNode(node, 'SIGTERM');
      launch(node);
      await waitFor([node], [`127.0.0.1:${node.port}`]);
    },
    freeze(brokerId) {
      processes.get(nodeOf(brokerId).id)?.kill('SIGSTOP');
    },
    thaw(brokerId) {
      processes.get(nodeOf(brokerId).id)?.kill('SIGCONT');
    },
    pidOf(brokerId) {
      return processes.get(nodeOf(brokerId).id)?.pid ?? null;
    },
    async stop() {
      await Promise.all(nodes.map((node) => stopNode(node, 'SIGTERM')));
      if (temporary) await rm(root, { recursive: true, force: true });
    },
  };
  return cluster;
}
