import kafkajs, {
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type Kafka,
  type KafkaJSErrorMetadata,
} from 'kafkajs';
import type { Logger } from '../../logger.js';
import { coPartitionedAssigner } from './co-partitioned-assigner.js';
import { leaseHolds } from './owner-epoch.js';

// kafkajs is CommonJS and Node's ESM loader does not see KafkaJSError as a named export.
const { KafkaJSError } = kafkajs;

/** One consumed message, as the worker's handler sees it. */
export interface InboundMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  /** Headers as UTF-8 strings (the first value of a repeated header). */
  readonly headers: Readonly<Record<string, string>>;
  /** The message's Kafka timestamp, ms since the epoch. */
  readonly timestamp: number;
}

/** Partitions per topic, as a group join handed them to this member. */
export type PartitionAssignment = ReadonlyMap<string, readonly number[]>;

export interface InboundConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /**
   * Resolves once the message's effect is durable: only then is its offset committed.
   * Throwing leaves it (and everything after it in its partition) uncommitted; kafkajs
   * delivers it again after a backoff.
   */
  readonly handle: (message: InboundMessage) => Promise<void>;
  /**
   * Runs after every group join with the whole new assignment, and completes before any
   * message is handled in that generation (see `createInboundConsumer`). If it throws, no
   * message is handled and it runs again at the next delivery attempt.
   */
  readonly onAssignment: (assignment: PartitionAssignment) => Promise<void>;
  /**
   * Runs synchronously inside a group join, before `onAssignment`, with the partition
   * numbers this member held and no longer holds: their new owner may start on them at
   * once, so whatever this member still does there must stop now.
   */
  readonly onRevoked?: (partitions: readonly number[]) => void;
  /**
   * After every group join, the number of members of the group's new generation (read
   * with DescribeGroups: kafkajs keeps the assignment's userData to itself, so a member
   * cannot learn it from the leader's assignment). Not called when the lookup fails; the
   * next join tries again.
   */
  readonly onGroupMembers?: (members: number) => void;
  readonly logger: Logger;
  /** Partitions handled at once; one partition's messages are always handled one by one. Default 4. */
  readonly partitionsConsumedConcurrently?: number;
  /** During a long batch, commit at least every this many handled messages. Default 50. */
  readonly commitEveryMessages?: number;
  /** During a long batch, commit at least this often. Default 1000 ms. */
  readonly commitEveryMs?: number;
  /** Default 30 s. */
  readonly sessionTimeoutMs?: number;
  /** Default 3 s. */
  readonly heartbeatIntervalMs?: number;
  /** How long a rebalance waits for members to rejoin. Default 60 s. */
  readonly rebalanceTimeoutMs?: number;
  readonly maxWaitTimeMs?: number;
  /**
   * Where the group starts on a partition it has no committed offset for: the oldest
   * retained message, or (false) the end. Required: retained triggers and webhooks may be
   * stale, so the choice is the caller's (KAFKA_CONSUMER_NEW_GROUP_START).
   */
  readonly fromBeginning: boolean;
}

export interface PartitionProgress {
  readonly topic: string;
  readonly partition: number;
  /** Offset of the last message handled here, null before the first. */
  readonly lastHandledOffset: string | null;
  /** Offset committed by this member (the next one to read), null before the first commit. */
  readonly committedOffset: string | null;
  /** High watermark seen with the latest batch of the partition. */
  readonly highWatermark: string | null;
  /** Messages not yet handled, as of the latest batch; null before the first batch. */
  readonly lag: number | null;
}

export interface InboundConsumerStatus {
  /** True between a group join and the next rebalance, crash or stop. */
  readonly joined: boolean;
  /** False once stopped, or after a crash kafkajs does not restart from. */
  readonly running: boolean;
  readonly paused: boolean;
  readonly assignment: PartitionAssignment;
  /** Progress of the assigned partitions that delivered at least one batch. */
  readonly partitions: readonly PartitionProgress[];
}

export interface InboundConsumer {
  /** Connects, subscribes, and resolves once the first group join completed. */
  start(): Promise<void>;
  /**
   * True while this member's hold on its partitions is current by its own clock: its last
   * join or acknowledged heartbeat is younger than the session timeout less a margin
   * (owner-epoch.ts, `leaseHolds`). A member frozen past its session timeout finds it false
   * before it could hear from the broker.
   */
  leaseHolds(): boolean;
  /** The partition numbers this member holds, across its topics. */
  heldPartitions(): readonly number[];
  /**
   * Of those partition numbers, the ones with messages not committed yet in some topic,
   * each with the offset (per topic) this member must have handled up to for that backlog
   * to be gone: the high watermark as of now.
   */
  backlog(partitions: readonly number[]): Promise<Map<number, Map<string, bigint>>>;
  /** The offset after the last message this member handled in that partition, or null. */
  handledUpTo(topic: string, partition: number): bigint | null;
  /** Stops fetching, lets the message in hand finish, commits, leaves the group, disconnects. */
  stop(): Promise<void>;
  /** Stops fetching every topic; the batch in hand stops after its current message. */
  pause(): void;
  /**
   * Pauses and resolves once no message is being handled (the batches in hand committed
   * what they handled). The member stays in its group, heartbeating: the first step of a
   * graceful stop, so partitions move only after the worker's last checkpoints are written.
   */
  quiesce(): Promise<void>;
  resume(): void;
  status(): InboundConsumerStatus;
}

/**
 * Thrown out of `eachBatch` when the handler (or the assignment hook) failed. A retriable
 * KafkaJSError, so kafkajs neither logs it a second time nor gives up: it backs off,
 * fetches again from the last resolved offset, and after its retries restarts the consumer.
 */
export class InboundHandlingError extends KafkaJSError {
  override readonly name = 'InboundHandlingError';
  constructor(message: string, cause: unknown) {
    // kafkajs's constructor takes `cause` too; its type declarations leave it out.
    const metadata: KafkaJSErrorMetadata & { cause?: Error } = {
      retriable: true,
      cause: cause instanceof Error ? cause : new Error(String(cause)),
    };
    super(message, metadata);
  }
}

function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value !== undefined) result[name] = value.toString();
  }
  return result;
}

const nextOffset = (offset: string): string => (BigInt(offset) + 1n).toString();
const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

interface AssignmentGate {
  readonly assignment: PartitionAssignment;
  attempt: Promise<void>;
  failed: boolean;
  /** Failed runs so far, for the backoff of the next one. */
  failures: number;
}

const HOOK_RETRY_FIRST_MS = 500;
const HOOK_RETRY_MAX_MS = 30_000;

interface MutableProgress {
  topic: string;
  partition: number;
  lastHandledOffset: string | null;
  committedOffset: string | null;
  highWatermark: string | null;
  /** The next offset this member will handle, as far as it knows. */
  position: bigint | null;
}

/**
 * The trigger and webhook consumer (CONTRACT.md: offsets committed by hand, only for
 * messages whose effect is durable; STYLE.md: eachBatch, autoCommit off, explicit
 * `offset + 1`).
 *
 * What kafkajs 2.2.4 guarantees, read in its source and checked by the e2e tests:
 * - `GROUP_JOIN` is emitted synchronously inside `joinAndSync`, after SyncGroup and before
 *   the fetchers of the new generation start; and a rebalance only begins once every batch
 *   in hand has returned (FetchManager.stop waits for its fetchers' queues). So a gate set
 *   in the GROUP_JOIN listener is in place before any batch of the new generation, and
 *   `eachBatch` awaits it: `onAssignment` completes before any message of that generation
 *   is handled. kafkajs itself would not wait: the event's listeners are not awaited.
 * - `consumer.commitOffsets` silently commits nothing once `stop()` began (Runner checks
 *   `running`); the batch's `commitOffsetsIfNecessary(offsets)` commits through the
 *   consumer group directly, so the last handled offsets are committed during a stop too.
 * - After `eachBatch` throws, the next fetch starts at the last resolved offset, so the
 *   failed message is delivered again; messages after it are not skipped.
 */
export function createInboundConsumer(kafka: Kafka, options: InboundConsumerOptions): InboundConsumer {
  const logger = options.logger.child({ component: 'inbound-consumer' });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
  const commitEveryMessages = Math.max(1, options.commitEveryMessages ?? 50);
  const commitEveryMs = options.commitEveryMs ?? 1_000;
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    rebalanceTimeout: options.rebalanceTimeoutMs ?? 60_000,
    heartbeatInterval: heartbeatIntervalMs,
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 500,
    allowAutoTopicCreation: false,
    // Partition p of every inbound topic to one member (CONTRACT.md, the checkpoint topic).
    partitionAssigners: [coPartitionedAssigner(() => heldPartitions())],
  });
  /** For `backlog`: the group's committed offsets and the topics' ends. */
  const admin = kafka.admin();
  let adminConnected = false;
  const sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
  /** The last join or acknowledged heartbeat, by this process's monotonic clock. */
  let lastConfirmedAt: number | null = null;
  let lastMemberId: string | null = null;
  /** Set when the lease lapsed and the held partitions' work was stopped; cleared on the next confirmation. */
  let lapsed = false;
  const leaseMarginMs = Math.min(heartbeatIntervalMs, sessionTimeoutMs / 5);
  const holdsLease = () =>
    leaseHolds({ lastConfirmedAt, now: performance.now(), sessionTimeoutMs, marginMs: leaseMarginMs });

  let joined = false;
  let running = false;
  let started = false;
  let paused = false;
  let gate: AssignmentGate = {
    assignment: new Map(),
    attempt: Promise.resolve(),
    failed: false,
    failures: 0,
  };
  const progress = new Map<string, MutableProgress>();

  function numbersOf(assignment: PartitionAssignment): Set<number> {
    return new Set([...assignment.values()].flat());
  }

  function heldPartitions(): number[] {
    return [...numbersOf(gate.assignment)].sort((a, b) => a - b);
  }
  /** Batches being handled now, so `quiesce` can wait for them to end. */
  const batchesInHand = new Set<Promise<void>>();

  /**
   * Runs the hook for a gate. A failed run is retried by the next batch and, since the
   * topics may stay quiet while connections wait to be restored, by a timer too.
   */
  function runAssignmentHook(target: AssignmentGate): void {
    target.failed = false;
    target.attempt = Promise.resolve()
      .then(() => options.onAssignment(target.assignment))
      .catch((error: unknown) => {
        target.failed = true;
        target.failures++;
        const retryInMs = Math.min(HOOK_RETRY_MAX_MS, HOOK_RETRY_FIRST_MS * 2 ** (target.failures - 1));
        logger.error(
          { err: error, retryInMs },
          'the assignment hook failed; no message is handled until it succeeds',
        );
        setTimeout(() => {
          if (running && gate === target && target.failed) runAssignmentHook(target);
        }, retryInMs).unref();
        throw error;
      });
    // The failure is reported by the batch that awaits it; this only avoids an unhandled rejection.
    target.attempt.catch(() => undefined);
  }

  /** Joins so far: an answer about an older generation than the latest join is dropped. */
  let joins = 0;
  let adminConnecting: Promise<void> | null = null;
  function connectAdmin(): Promise<void> {
    adminConnecting ??= admin.connect().then(
      () => {
        adminConnected = true;
      },
      (error: unknown) => {
        adminConnecting = null;
        throw error;
      },
    );
    return adminConnecting;
  }

  async function countMembers(join: number): Promise<void> {
    if (!options.onGroupMembers) return;
    try {
      await connectAdmin();
      const { groups } = await admin.describeGroups([options.groupId]);
      const members = groups[0]?.members.length ?? 0;
      // Between two joins the group may be rebalancing again: the next join counts anew.
      if (join !== joins || !running || members < 1) return;
      options.onGroupMembers(members);
    } catch (error) {
      logger.warn({ err: error }, 'could not count the consumer group members; the next join tries again');
    }
  }

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    joined = true;
    joins++;
    void countMembers(joins);
    lastConfirmedAt = performance.now();
    const assignment = new Map(
      Object.entries(payload.memberAssignment).map(([topic, partitions]) => [topic, [...partitions]]),
    );
    // A new member id means the group dropped this member in between (frozen past its
    // session timeout): whatever it held went to others, even the numbers it gets back.
    const continuous = lastMemberId === null || lastMemberId === payload.memberId;
    lastMemberId = payload.memberId;
    lapsed = false;
    const kept = continuous ? numbersOf(assignment) : new Set<number>();
    const revoked = [...numbersOf(gate.assignment)].filter((p) => !kept.has(p));
    if (revoked.length > 0) {
      try {
        options.onRevoked?.(revoked);
      } catch (error) {
        logger.error({ err: error, revoked }, 'stopping the work of revoked partitions failed');
      }
    }
    for (const [key, entry] of progress) {
      if (!assignment.get(entry.topic)?.includes(entry.partition)) progress.delete(key);
    }
    gate = { assignment, attempt: Promise.resolve(), failed: false, failures: 0 };
    runAssignmentHook(gate);
    logger.info(
      { assignment: Object.fromEntries(assignment), generationMember: payload.memberId },
      'joined the consumer group',
    );
  });
  consumer.on(consumer.events.HEARTBEAT, () => {
    lastConfirmedAt = performance.now();
    if (lapsed) {
      // Still a member of the same generation: nobody else took the partitions. Claim and
      // restore them again (their work was stopped at the lapse) before the next message.
      lapsed = false;
      joined = true;
      logger.info('group membership confirmed again after the lease lapsed; restoring');
      gate = { assignment: gate.assignment, attempt: Promise.resolve(), failed: false, failures: 0 };
      runAssignmentHook(gate);
    }
  });
  consumer.on(consumer.events.REBALANCING, () => {
    joined = false;
  });
  consumer.on(consumer.events.STOP, () => {
    joined = false;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    joined = false;
    if (!payload.restart) running = false;
    logger.error(
      { err: payload.error, restart: payload.restart },
      payload.restart ? 'inbound consumer crashed; kafkajs restarts it' : 'inbound consumer crashed for good',
    );
  });

  /**
   * Awaits `work` while heartbeating, so a slow message or hook does not cost the group
   * membership. A heartbeat that reports a rebalance is kept and rethrown after `work`.
   */
  async function withHeartbeats<T>(
    work: Promise<T>,
    heartbeat: () => Promise<void>,
  ): Promise<{ value: T; heartbeatError: unknown }> {
    let heartbeatError: unknown;
    const timer = setInterval(() => {
      heartbeat().catch((error: unknown) => {
        heartbeatError ??= error;
      });
    }, heartbeatIntervalMs);
    try {
      return { value: await work, heartbeatError };
    } finally {
      clearInterval(timer);
    }
  }

  async function awaitAssignment(payload: EachBatchPayload): Promise<void> {
    const current = gate;
    if (current.failed) runAssignmentHook(current);
    try {
      await withHeartbeats(current.attempt, payload.heartbeat);
    } catch (error) {
      throw new InboundHandlingError('the assignment hook failed', error);
    }
  }

  function progressOf(topic: string, partition: number): MutableProgress {
    const key = partitionKey(topic, partition);
    let entry = progress.get(key);
    if (!entry) {
      entry = {
        topic,
        partition,
        lastHandledOffset: null,
        committedOffset: null,
        highWatermark: null,
        position: null,
      };
      progress.set(key, entry);
    }
    return entry;
  }

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    await awaitAssignment(payload);

    const state = progressOf(topic, partition);
    state.highWatermark = batch.highWatermark;
    const first = batch.firstOffset();
    if (state.position === null && first !== null) state.position = BigInt(first);
    let uncommitted: string | null = null;
    let handledSinceCommit = 0;
    let lastCommitAt = Date.now();

    // Where the group starts on a partition it never committed (the end, with `fromBeginning`
    // false) is decided by kafkajs at fetch time and not stored: a crash while handling the
    // first message would decide again, past that message. Committing the batch's first
    // offset before handling it makes the start durable, and skips nothing.
    if (state.committedOffset === null && first !== null && isRunning() && !isStale()) {
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: first }] }] });
      state.committedOffset = first;
    }

    const commit = async () => {
      if (uncommitted === null) return;
      const offset = nextOffset(uncommitted);
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset }] }] });
      state.committedOffset = offset;
      uncommitted = null;
      handledSinceCommit = 0;
      lastCommitAt = Date.now();
    };

    for (const message of batch.messages) {
      if (!isRunning() || isStale() || paused) break;
      const inbound: InboundMessage = {
        topic,
        partition,
        offset: message.offset,
        key: message.key?.toString('utf8') ?? null,
        value: message.value,
        headers: headerStrings(message.headers),
        timestamp: Number(message.timestamp),
      };
      let heartbeatError: unknown;
      try {
        ({ heartbeatError } = await withHeartbeats(options.handle(inbound), heartbeat));
      } catch (error) {
        logger.error(
          { err: error, topic, partition, offset: message.offset },
          'inbound message failed; it stays uncommitted and will be delivered again',
        );
        await commit().catch((commitError: unknown) =>
          logger.warn(
            { err: commitError, topic, partition },
            'committing the messages handled before it failed',
          ),
        );
        throw new InboundHandlingError(`handling ${topic}[${partition}]@${message.offset} failed`, error);
      }
      resolveOffset(message.offset);
      state.lastHandledOffset = message.offset;
      state.position = BigInt(message.offset) + 1n;
      uncommitted = message.offset;
      handledSinceCommit++;
      if (heartbeatError !== undefined) {
        await commit();
        throw heartbeatError;
      }
      if (handledSinceCommit >= commitEveryMessages || Date.now() - lastCommitAt >= commitEveryMs) {
        await commit();
      }
      await heartbeat();
    }
    await commit();
  }

  /**
   * The lease lapsing is the first sign of having been dropped by the group (a freeze, a
   * long pause, a broker unreachable past the session timeout): the held partitions' work
   * stops at once, as on a revocation. Checked on a timer so that a frozen process acts on
   * it as soon as it runs again, not at its next heartbeat's answer.
   */
  const leaseWatch = setInterval(() => {
    if (!running || lapsed || lastConfirmedAt === null || holdsLease()) return;
    lapsed = true;
    joined = false;
    const held = heldPartitions();
    logger.warn({ held }, 'group membership lease lapsed: stopping the work of every held partition');
    try {
      options.onRevoked?.(held);
    } catch (error) {
      logger.error({ err: error }, 'stopping the work of held partitions failed');
    }
  }, 250);
  leaseWatch.unref();

  function allTopics() {
    return options.topics.map((topic) => ({ topic }));
  }

  function pause(): void {
    paused = true;
    if (started) consumer.pause(allTopics());
  }

  return {
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning });
      running = true;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 4,
        eachBatch: (payload) => {
          const handling = eachBatch(payload);
          // Failures are kafkajs's to handle; this copy only tells when the batch ended.
          const ended: Promise<void> = handling
            .catch(() => undefined)
            .finally(() => batchesInHand.delete(ended));
          batchesInHand.add(ended);
          return handling;
        },
      });
      started = true;
      // kafkajs refuses pause() before run(); a pause asked for earlier applies now.
      if (paused) consumer.pause(allTopics());
    },
    async stop() {
      running = false;
      clearInterval(leaseWatch);
      // A member count's connection may still be opening: let it, then close it.
      await adminConnecting?.catch(() => undefined);
      if (adminConnected) await admin.disconnect().catch(() => undefined);
      await consumer.disconnect();
      joined = false;
    },
    leaseHolds: holdsLease,
    heldPartitions,
    async backlog(partitions) {
      const wanted = new Set(partitions);
      const result = new Map<number, Map<string, bigint>>();
      if (wanted.size === 0) return result;
      await connectAdmin();
      const committed = await admin.fetchOffsets({ groupId: options.groupId, topics: [...options.topics] });
      for (const topic of options.topics) {
        const ends = await admin.fetchTopicOffsets(topic);
        const committedOf = new Map(
          (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [
            p.partition,
            BigInt(p.offset),
          ]),
        );
        for (const { partition, high, low } of ends) {
          if (!wanted.has(partition)) continue;
          // -1: nothing committed yet, so the group starts at the beginning.
          const from = committedOf.get(partition) ?? -1n;
          const start = from < 0n ? BigInt(low) : from;
          if (start >= BigInt(high)) continue;
          const perTopic = result.get(partition) ?? new Map<string, bigint>();
          perTopic.set(topic, BigInt(high));
          result.set(partition, perTopic);
        }
      }
      return result;
    },
    handledUpTo(topic, partition) {
      const last = progress.get(partitionKey(topic, partition))?.lastHandledOffset ?? null;
      return last === null ? null : BigInt(last) + 1n;
    },
    pause,
    async quiesce() {
      pause();
      await Promise.all([...batchesInHand]);
    },
    resume() {
      paused = false;
      if (started) consumer.resume(allTopics());
    },
    status() {
      const partitions: PartitionProgress[] = [...progress.values()].map(
        ({ position, ...p }): PartitionProgress => ({
          ...p,
          lag:
            p.highWatermark === null || position === null
              ? null
              : Math.max(0, Number(BigInt(p.highWatermark) - position)),
        }),
      );
      return { joined, running, paused, assignment: gate.assignment, partitions };
    },
  };
}
