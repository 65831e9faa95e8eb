import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { type ConnectionCheckpoint, connectionCheckpointSchema } from '../../contract/checkpoint.js';
import type { Logger } from '../../logger.js';
import { type MessageSink, partitionForKey } from './message-sink.js';

export interface CheckpointTable {
  /** Connects and joins the table's own group; resolves once reading has begun. */
  start(): Promise<void>;
  /**
   * Resolves once the table has read every partition up to the high watermark it had when
   * this was called, so every value acknowledged before the call is reflected.
   */
  waitUntilCaughtUp(): Promise<void>;
  get(connectionId: string): ConnectionCheckpoint | undefined;
  /** The checkpoints stored in those partitions of the state topic (an assignment's connections). */
  connectionsInPartitions(partitions: readonly number[]): ConnectionCheckpoint[];
  /** Writes a connection's checkpoint, keyed by its id; resolves when Kafka acknowledged it. */
  write(checkpoint: ConnectionCheckpoint): Promise<void>;
  /** Writes a connection's tombstone; resolves when acknowledged. */
  tombstone(connectionId: string): Promise<void>;
  /** Stops following the topic; pending `waitUntilCaughtUp` calls reject. */
  stop(): Promise<void>;
}

export interface CheckpointTableOptions {
  readonly topic: string;
  readonly groupIdPrefix: string;
  /** Part of the table's group id, so operators can tell whose group it is. */
  readonly clientId?: string;
  readonly sink: MessageSink;
  readonly logger: Logger;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly maxWaitTimeMs?: number;
}

interface Entry {
  readonly checkpoint: ConnectionCheckpoint;
  readonly partition: number;
}

export class CheckpointTableStoppedError extends Error {
  constructor(reason: string) {
    super(`the checkpoint table stopped following its topic: ${reason}`);
    this.name = 'CheckpointTableStoppedError';
  }
}

/** The value of a checkpoint as written, so a read-back can be recognised byte for byte. */
function serialize(checkpoint: ConnectionCheckpoint): string {
  return JSON.stringify(checkpoint);
}

/**
 * The state topic as a table (CONTRACT.md, "The worker's checkpoint topic"): the last value
 * per key and the partition it came from; a tombstone forgets the key. Compaction on the
 * broker only saves space: the whole topic is read from its beginning and the last value
 * read wins.
 *
 * kafkajs has no manual partition assignment, so the table reads through a consumer group
 * of its own, unique to this process (prefix, client id, random suffix): it is the group's
 * only member, is given every partition, never commits, and so always starts at the
 * beginning. After a rejoin it seeks back to where it was rather than reading again.
 *
 * Read-your-writes: a value this process wrote is in the table from its acknowledgement on,
 * even before it is read back. Until it is read back, values of that key read from the log
 * are older than it and are ignored, so the table never steps back in time.
 */
export function createCheckpointTable(kafka: Kafka, options: CheckpointTableOptions): CheckpointTable {
  const logger = options.logger.child({ component: 'checkpoint-table', topic: options.topic });
  const entries = new Map<string, Entry>();
  /** Per partition, the offset after the last message read. */
  const readUpTo = new Map<number, bigint>();
  /** Per key, this process's writes not yet read back, in write order (null = tombstone). */
  const pendingWrites = new Map<string, Array<string | null>>();
  const waiters = new Set<() => void>();
  let partitionCount: number | null = null;
  let stoppedBecause: string | null = null;
  let started = false;
  let joinedOnce = false;

  const admin: Admin = kafka.admin();
  const groupId = `${options.groupIdPrefix}-${options.clientId ?? 'worker'}-${randomUUID().slice(0, 8)}`;
  const consumer: Consumer = kafka.consumer({
    groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 100,
    allowAutoTopicCreation: false,
  });

  function wakeWaiters(): void {
    for (const wake of waiters) wake();
  }

  function advance(partition: number, nextOffset: bigint): void {
    if (nextOffset > (readUpTo.get(partition) ?? 0n)) readUpTo.set(partition, nextOffset);
  }

  function applyValue(key: string, partition: number, raw: string | null, offset: string): void {
    if (raw === null) {
      entries.delete(key);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      logger.warn({ partition, offset, connectionId: key }, 'checkpoint that is not JSON skipped');
      return;
    }
    const parsed = connectionCheckpointSchema.safeParse(json);
    if (!parsed.success) {
      logger.warn(
        {
          partition,
          offset,
          connectionId: key,
          problems: parsed.error.issues.slice(0, 3).map((i) => i.message),
        },
        'checkpoint of an unknown shape or version skipped',
      );
      return;
    }
    entries.set(key, { checkpoint: parsed.data, partition });
  }

  /** One message read from the log, in offset order within its partition. */
  function readFromLog(partition: number, offset: string, key: Buffer | null, value: Buffer | null): void {
    const at = BigInt(offset);
    // Read again after a rejoin before the seek took effect: already applied.
    if (at < (readUpTo.get(partition) ?? 0n)) return;
    advance(partition, at + 1n);
    const connectionId = key?.toString('utf8');
    if (!connectionId) {
      logger.warn({ partition, offset }, 'checkpoint without a key skipped');
      return;
    }
    const raw = value === null ? null : value.toString('utf8');
    const pending = pendingWrites.get(connectionId);
    if (pending && pending.length > 0) {
      const mine = pending.indexOf(raw);
      if (mine >= 0) pending.splice(0, mine + 1);
      if (pending.length === 0) pendingWrites.delete(connectionId);
      // Ours or not, the table already holds this process's newer acknowledged value.
      return;
    }
    applyValue(connectionId, partition, raw, offset);
  }

  async function eachBatch({ batch, heartbeat }: EachBatchPayload): Promise<void> {
    for (const message of batch.messages) {
      readFromLog(batch.partition, message.offset, message.key, message.value);
    }
    wakeWaiters();
    await heartbeat();
  }

  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    // Batches kafkajs filtered out entirely (control records, compacted) still move the position.
    if (payload.lastOffset !== null && payload.lastOffset !== undefined) {
      advance(payload.partition, BigInt(payload.lastOffset) + 1n);
      wakeWaiters();
    }
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    if (joinedOnce) {
      for (const partition of payload.memberAssignment[options.topic] ?? []) {
        const position = readUpTo.get(partition);
        if (position !== undefined) {
          consumer.seek({ topic: options.topic, partition, offset: position.toString() });
        }
      }
    }
    joinedOnce = true;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error({ err: payload.error, restart: payload.restart }, 'checkpoint table consumer crashed');
    if (!payload.restart) {
      stoppedBecause = 'its consumer crashed';
      wakeWaiters();
    }
  });

  async function produce(connectionId: string, raw: string | null, correlationId: string): Promise<void> {
    let pending = pendingWrites.get(connectionId);
    if (!pending) {
      pending = [];
      pendingWrites.set(connectionId, pending);
    }
    // Registered before sending: the consumer may read the value back before the ack arrives.
    pending.push(raw);
    try {
      await options.sink.send([
        {
          topic: options.topic,
          key: connectionId,
          value: raw,
          headers: {
            'content-type': 'application/json',
            'idempotency-key': `checkpoint:${connectionId}`,
            'resource-type': 'checkpoint',
            'correlation-id': correlationId,
          },
        },
      ]);
    } catch (error) {
      const list = pendingWrites.get(connectionId);
      const index = list?.indexOf(raw) ?? -1;
      if (list && index >= 0) list.splice(index, 1);
      if (list?.length === 0) pendingWrites.delete(connectionId);
      throw error;
    }
    // Acknowledged writes are acknowledged in write order, so this is the newest value of
    // ours; whether or not it was already read back, the table holds it from now on.
    if (raw === null) {
      entries.delete(connectionId);
    } else {
      const partition = partitionCount === null ? -1 : partitionForKey(connectionId, partitionCount);
      entries.set(connectionId, { checkpoint: connectionCheckpointSchema.parse(JSON.parse(raw)), partition });
    }
  }

  return {
    async start() {
      await admin.connect();
      partitionCount = (await admin.fetchTopicOffsets(options.topic)).length;
      await consumer.connect();
      await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatch });
      started = true;
      logger.info({ groupId, partitions: partitionCount }, 'following the checkpoint topic');
    },

    async waitUntilCaughtUp() {
      if (!started) throw new CheckpointTableStoppedError('it was not started');
      if (stoppedBecause !== null) throw new CheckpointTableStoppedError(stoppedBecause);
      const targets = (await admin.fetchTopicOffsets(options.topic))
        .map((p) => ({ partition: p.partition, high: BigInt(p.high), low: BigInt(p.low) }))
        .filter((p) => p.high > p.low);
      const caughtUp = () => targets.every((t) => (readUpTo.get(t.partition) ?? 0n) >= t.high);
      if (caughtUp()) return;
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (stoppedBecause !== null) {
            waiters.delete(check);
            reject(new CheckpointTableStoppedError(stoppedBecause));
          } else if (caughtUp()) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
      });
    },

    get(connectionId) {
      return entries.get(connectionId)?.checkpoint;
    },

    connectionsInPartitions(partitions) {
      const wanted = new Set(partitions);
      const found: ConnectionCheckpoint[] = [];
      for (const entry of entries.values()) {
        if (wanted.has(entry.partition)) found.push(entry.checkpoint);
      }
      return found;
    },

    async write(checkpoint) {
      await produce(
        checkpoint.connectionId,
        serialize(checkpoint),
        checkpoint.activeSync?.correlationId ?? '',
      );
    },

    async tombstone(connectionId) {
      await produce(connectionId, null, '');
    },

    async stop() {
      stoppedBecause ??= 'it was stopped';
      wakeWaiters();
      await consumer.disconnect();
      await admin.disconnect();
    },
  };
}
