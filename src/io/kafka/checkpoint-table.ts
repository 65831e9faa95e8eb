import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { type ConnectionCheckpoint, connectionCheckpointSchema } from '../../contract/checkpoint.js';
import type { Logger } from '../../logger.js';
import { type MessageSink, partitionForKey } from './message-sink.js';
import {
  epochOf,
  isOwnerMarkerKey,
  judgeStateRecord,
  nextEpoch,
  OWNER_EPOCH_HEADER,
  ownerMarkerKey,
} from './owner-epoch.js';

export interface CheckpointTable {
  /** Connects and joins the table's own group; reads nothing until partitions are claimed. */
  start(): Promise<void>;
  /**
   * Makes this member the owner of those state partitions (the ones it holds in the inbound
   * group): reads each to its end, writes an owner marker with the next epoch, and reads
   * up to the marker, so everything written before this member took over is in the table.
   * Writes to a partition are refused until it is claimed. Partitions already owned are left as they are.
   */
  claim(partitions: readonly number[]): Promise<void>;
  /**
   * At once: writes to those partitions are refused from now on, the queued ones included,
   * they are no longer read, and their checkpoints leave memory (a later claim reads them
   * again from the beginning).
   */
  release(partitions: readonly number[]): void;
  /** Checkpoints held in memory (of the owned partitions and those being claimed). */
  size(): number;
  /** The state partition of a connection (the standard partitioner on its id); after `start`. */
  partitionOf(connectionId: string): number;
  /** The partitions this member owns, with its epoch of each. */
  owned(): ReadonlyMap<number, number>;
  /**
   * Resolves once the table has read the partitions it reads (or those given) up to the
   * high watermark they had when this was called, so every value acknowledged before the
   * call is reflected.
   */
  waitUntilCaughtUp(partitions?: readonly number[]): Promise<void>;
  get(connectionId: string): ConnectionCheckpoint | undefined;
  /** The checkpoints stored in those partitions of the state topic (an assignment's connections). */
  connectionsInPartitions(partitions: readonly number[]): ConnectionCheckpoint[];
  /**
   * Writes a connection's checkpoint, keyed by its id, with this member's epoch of its
   * partition; resolves when Kafka acknowledged it. Rejects with `FencedWriteError`, sending
   * nothing, when this member does not own the partition or its lease lapsed.
   */
  write(checkpoint: ConnectionCheckpoint): Promise<void>;
  /** Writes a connection's tombstone; resolves when acknowledged; fenced like `write`. */
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
  /**
   * Whether this member's hold on its inbound partitions is current (its heartbeat lease);
   * when false every write is refused. Default: always.
   */
  readonly leaseHolds?: () => boolean;
  /** Called when another member's marker shows this one lost partitions it thought it owned. */
  readonly onFenced?: (partitions: readonly number[]) => void;
}

/**
 * A key's last value as its JSON text, checked against the schema when it was read or
 * written: one string per connection instead of a tree of a dozen objects, which is what
 * 100,000 mostly idle connections cost in heap and in garbage-collector marking. Parsed
 * again when asked for.
 */
interface Entry {
  readonly raw: string;
  readonly partition: number;
}

/** The checkpoint of an entry; its text passed the schema when it was stored, so a plain parse is enough. */
function checkpointOf(entry: Entry): ConnectionCheckpoint {
  return JSON.parse(entry.raw) as ConnectionCheckpoint;
}

/** A write refused because this member is not, or no longer, the owner of the key's partition. */
export class FencedWriteError extends Error {
  readonly code = 'fenced';
  constructor(
    readonly partition: number,
    reason: string,
  ) {
    super(`state partition ${partition}: ${reason}`);
    this.name = 'FencedWriteError';
  }
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
 * broker only saves space: a claimed partition is read from its beginning and the last
 * value read wins.
 *
 * Only the partitions this member owns are read (the contract's co-partitioned layout: the
 * connections of inbound partition p are exactly those of state partition p). kafkajs has
 * no manual assignment, so the table reads through a consumer group of its own, unique to
 * this process (prefix, client id, random suffix): it is the group's only member, is given
 * every partition, keeps the ones not claimed paused, never commits, and so starts at the
 * beginning of each. After a rejoin it seeks back to where it was rather than reading again.
 *
 * Fencing (owner-epoch.ts): every write carries this member's epoch of its partition, and
 * values written by an owner already replaced are ignored. When such a value is read from
 * a partition this member owns, it writes the key's current value again, so that the
 * newest record of the key on the broker is an owner's again and compaction, which keeps
 * only that record, cannot leave the stale one alone.
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
  /** Per key, the tail of this process's writes, so each goes out after the one before. */
  const writeChains = new Map<string, Promise<void>>();
  const waiters = new Set<() => void>();
  /** Partitions being read: the owned ones and those being claimed. */
  const reading = new Set<number>();
  /** Partition → this member's epoch of it. */
  const ownedEpochs = new Map<number, number>();
  /** Partition → the highest owner epoch read there so far. */
  const highestEpoch = new Map<number, number>();
  /** Keys whose newest record read is a fenced owner's (the repair is due once this member owns them). */
  const staleTail = new Map<string, number>();
  const leaseHolds = options.leaseHolds ?? (() => true);
  let partitionCount: number | null = null;
  let stoppedBecause: string | null = null;
  let started = false;
  let joinedOnce = false;
  /** True once kafkajs handed the table's consumer its partitions, so pause/resume apply. */
  let assigned = false;

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

  function allPartitions(): number[] {
    return Array.from({ length: partitionCount ?? 0 }, (_, p) => p);
  }

  /** Pauses every partition not read; must run again after each join of the table's group. */
  function applyReading(): void {
    if (!assigned) return;
    const paused = allPartitions().filter((p) => !reading.has(p));
    const resumed = allPartitions().filter((p) => reading.has(p));
    if (paused.length > 0) consumer.pause([{ topic: options.topic, partitions: paused }]);
    if (resumed.length > 0) consumer.resume([{ topic: options.topic, partitions: resumed }]);
  }

  function partitionOf(connectionId: string): number {
    if (partitionCount === null) throw new CheckpointTableStoppedError('it was not started');
    return partitionForKey(connectionId, partitionCount);
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
    entries.set(key, { raw, partition });
  }

  /** One message read from the log, in offset order within its partition. */
  function readFromLog(
    partition: number,
    offset: string,
    key: Buffer | null,
    value: Buffer | null,
    epochHeader: string | undefined,
  ): void {
    const at = BigInt(offset);
    // Read again after a rejoin before the seek took effect: already applied.
    if (at < (readUpTo.get(partition) ?? 0n)) return;
    advance(partition, at + 1n);
    const connectionId = key?.toString('utf8');
    if (!connectionId) {
      logger.warn({ partition, offset }, 'checkpoint without a key skipped');
      return;
    }
    const epoch = epochOf(epochHeader);
    const highest = highestEpoch.get(partition) ?? 0;
    const verdict = judgeStateRecord(
      { highest, ours: ownedEpochs.get(partition) ?? null },
      { epoch, isMarker: isOwnerMarkerKey(connectionId) },
    );
    if (epoch > highest) highestEpoch.set(partition, epoch);
    if (verdict.kind === 'marker') {
      if (verdict.fencesUs) {
        logger.warn(
          { partition, epoch, ours: ownedEpochs.get(partition) },
          'another member owns this partition now',
        );
        ownedEpochs.delete(partition);
        options.onFenced?.([partition]);
      }
      return;
    }
    if (verdict.kind === 'stale') {
      logger.warn({ partition, offset, connectionId, epoch, highest }, 'write of a fenced owner ignored');
      staleTail.set(connectionId, partition);
      if (ownedEpochs.has(partition)) rewrite(connectionId);
      return;
    }
    staleTail.delete(connectionId);
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
    // A batch fetched before its partition was released: what it holds is not ours to keep.
    if (!reading.has(batch.partition)) return;
    for (const message of batch.messages) {
      const header = message.headers?.[OWNER_EPOCH_HEADER];
      const epochHeader = Array.isArray(header) ? header[0]?.toString() : header?.toString();
      readFromLog(batch.partition, message.offset, message.key, message.value, epochHeader);
    }
    wakeWaiters();
    await heartbeat();
  }

  /** Drops what the table holds of a partition it no longer reads. */
  function forgetPartition(partition: number): void {
    for (const [key, entry] of entries) if (entry.partition === partition) entries.delete(key);
    for (const [key, at] of staleTail) if (at === partition) staleTail.delete(key);
    for (const key of pendingWrites.keys()) {
      if (partitionCount !== null && partitionForKey(key, partitionCount) === partition)
        pendingWrites.delete(key);
    }
    readUpTo.delete(partition);
    // Judged again from the beginning when it is read again.
    highestEpoch.delete(partition);
  }

  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    // Batches kafkajs filtered out entirely (control records, compacted) still move the position.
    if (payload.lastOffset !== null && payload.lastOffset !== undefined && reading.has(payload.partition)) {
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
    assigned = true;
    applyReading();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error({ err: payload.error, restart: payload.restart }, 'checkpoint table consumer crashed');
    if (!payload.restart) {
      stoppedBecause = 'its consumer crashed';
      wakeWaiters();
    }
  });

  function header(connectionId: string, correlationId: string, epoch: number): Record<string, string> {
    return {
      'content-type': 'application/json',
      'idempotency-key': `checkpoint:${connectionId}`,
      'resource-type': 'checkpoint',
      'correlation-id': correlationId,
      [OWNER_EPOCH_HEADER]: String(epoch),
    };
  }

  /** The epoch to write a key with, or the reason this member may not write it. */
  function epochForWrite(partition: number): number {
    const epoch = ownedEpochs.get(partition);
    if (epoch === undefined) throw new FencedWriteError(partition, 'not owned by this member');
    if (!leaseHolds()) throw new FencedWriteError(partition, 'the group membership lease lapsed');
    return epoch;
  }

  /** Runs `write` after every earlier write of the key, whatever became of them. */
  function chained(connectionId: string, write: () => Promise<void>): Promise<void> {
    const previous = writeChains.get(connectionId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(write);
    const tail = next.catch(() => undefined);
    writeChains.set(connectionId, tail);
    void tail.then(() => {
      if (writeChains.get(connectionId) === tail) writeChains.delete(connectionId);
    });
    return next;
  }

  async function produceNow(connectionId: string, raw: string | null, correlationId: string): Promise<void> {
    const partition = partitionOf(connectionId);
    const epoch = epochForWrite(partition);
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
          headers: header(connectionId, correlationId, epoch),
        },
      ]);
    } catch (error) {
      const list = pendingWrites.get(connectionId);
      const index = list?.indexOf(raw) ?? -1;
      if (list && index >= 0) list.splice(index, 1);
      if (list?.length === 0) pendingWrites.delete(connectionId);
      throw error;
    }
    // Fenced while in flight: the value is on the log but readers ignore it; so does the table.
    if (ownedEpochs.get(partition) !== epoch) {
      throw new FencedWriteError(partition, 'fenced while the write was in flight');
    }
    // Acknowledged writes are acknowledged in write order, so this is the newest value of
    // ours; whether or not it was already read back, the table holds it from now on.
    if (raw === null) {
      entries.delete(connectionId);
    } else {
      // Typed when it was serialized (`write`) or already in the table (`rewrite`): no check needed.
      entries.set(connectionId, { raw, partition });
    }
  }

  function produce(connectionId: string, raw: string | null, correlationId: string): Promise<void> {
    // Refused at once, not after the writes queued before it: a fenced member sends nothing more.
    epochForWrite(partitionOf(connectionId));
    return chained(connectionId, () => produceNow(connectionId, raw, correlationId));
  }

  /** Writes the key's current value again after a fenced owner's write of it (see the header). */
  function rewrite(connectionId: string): void {
    chained(connectionId, async () => {
      const current = entries.get(connectionId);
      await produceNow(
        connectionId,
        current?.raw ?? null,
        current ? (checkpointOf(current).activeSync?.correlationId ?? '') : '',
      );
    }).catch((error: unknown) =>
      logger.warn({ err: error, connectionId }, 'rewriting a key after a fenced write failed'),
    );
  }

  async function caughtUp(partitions: readonly number[]): Promise<void> {
    if (!started) throw new CheckpointTableStoppedError('it was not started');
    if (stoppedBecause !== null) throw new CheckpointTableStoppedError(stoppedBecause);
    const wanted = new Set(partitions);
    const targets = (await admin.fetchTopicOffsets(options.topic))
      .map((p) => ({ partition: p.partition, high: BigInt(p.high), low: BigInt(p.low) }))
      .filter((p) => wanted.has(p.partition) && p.high > p.low);
    const done = () => targets.every((t) => (readUpTo.get(t.partition) ?? 0n) >= t.high);
    if (done()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (stoppedBecause !== null) {
          waiters.delete(check);
          reject(new CheckpointTableStoppedError(stoppedBecause));
        } else if (done()) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
    });
  }

  async function claimOne(partition: number): Promise<void> {
    if (partitionCount === null) throw new CheckpointTableStoppedError('it was not started');
    const epoch = nextEpoch(highestEpoch.get(partition) ?? 0);
    const key = ownerMarkerKey(partition, partitionCount);
    await options.sink.send([
      {
        topic: options.topic,
        key,
        value: JSON.stringify({
          owner: options.clientId ?? 'worker',
          epoch,
          claimedAt: new Date().toISOString(),
        }),
        headers: header(key, '', epoch),
      },
    ]);
    // Released again while the marker was in flight: the marker stands, the claim does not.
    if (reading.has(partition)) ownedEpochs.set(partition, epoch);
    logger.info({ partition, epoch }, 'state partition claimed');
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

    async claim(partitions) {
      const fresh = [...new Set(partitions)].filter((p) => !ownedEpochs.has(p));
      if (fresh.length === 0) return;
      const starts = new Map(
        (await admin.fetchTopicOffsets(options.topic)).map((p) => [p.partition, p.low] as const),
      );
      for (const p of fresh) {
        // Read from where the table's memory of it ends: the beginning, unless it is being
        // read already (a claim in progress) or was never left.
        if (assigned && !reading.has(p) && !readUpTo.has(p)) {
          consumer.seek({ topic: options.topic, partition: p, offset: starts.get(p) ?? '0' });
        }
        reading.add(p);
      }
      applyReading();
      await caughtUp(fresh);
      await Promise.all(fresh.map(claimOne));
      // Up to the markers: whatever was written before them is in the table now.
      await caughtUp(fresh);
      for (const [connectionId, partition] of staleTail) {
        if (fresh.includes(partition) && ownedEpochs.has(partition)) rewrite(connectionId);
      }
    },

    release(partitions) {
      for (const p of partitions) {
        ownedEpochs.delete(p);
        reading.delete(p);
        forgetPartition(p);
      }
      applyReading();
    },

    size() {
      return entries.size;
    },

    owned() {
      return new Map(ownedEpochs);
    },

    partitionOf,

    waitUntilCaughtUp(partitions) {
      return caughtUp(partitions ?? [...reading]);
    },

    get(connectionId) {
      const entry = entries.get(connectionId);
      return entry ? checkpointOf(entry) : undefined;
    },

    connectionsInPartitions(partitions) {
      const wanted = new Set(partitions);
      const found: ConnectionCheckpoint[] = [];
      for (const entry of entries.values()) {
        if (wanted.has(entry.partition)) found.push(checkpointOf(entry));
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
