import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { type ConnectionCheckpoint, connectionCheckpointSchema } from '../../contract/checkpoint.js';
import type { Logger } from '../../logger.js';
import type { MessageSink } from './message-sink.js';

export interface CheckpointTable {
  start(): Promise<void>;
  /** Resolves once every value written before the call has been read back. */
  waitUntilCaughtUp(): Promise<void>;
  get(connectionId: string): ConnectionCheckpoint | undefined;
  connectionsInPartitions(partitions: readonly number[]): ConnectionCheckpoint[];
  write(checkpoint: ConnectionCheckpoint): Promise<void>;
  tombstone(connectionId: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The state topic as a table (CONTRACT.md, "The worker's checkpoint topic"): the last value
 * per key, with the partition it came from. kafkajs has no manual partition assignment, so
 * the table follows the whole topic through a consumer group of its own (unique per
 * process); compaction only saves space, the table never depends on it.
 */
export function createCheckpointTable(
  kafka: Kafka,
  options: { topic: string; groupIdPrefix: string; sink: MessageSink; logger: Logger },
): CheckpointTable {
  const entries = new Map<string, { checkpoint: ConnectionCheckpoint; partition: number }>();
  const readUpTo = new Map<number, bigint>();
  const waiters = new Set<() => void>();
  const admin = kafka.admin();
  const consumer: Consumer = kafka.consumer({
    groupId: `${options.groupIdPrefix}-${randomUUID()}`,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 100,
  });

  return {
    async start() {
      await admin.connect();
      await consumer.connect();
      await consumer.subscribe({ topic: options.topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const key = message.key?.toString('utf8');
          readUpTo.set(partition, BigInt(message.offset) + 1n);
          if (key) {
            if (message.value === null) {
              entries.delete(key);
            } else {
              try {
                const parsed = connectionCheckpointSchema.safeParse(
                  JSON.parse(message.value.toString('utf8')),
                );
                if (parsed.success) entries.set(key, { checkpoint: parsed.data, partition });
                else
                  options.logger.warn({ partition, offset: message.offset }, 'unreadable checkpoint skipped');
              } catch {
                options.logger.warn(
                  { partition, offset: message.offset },
                  'checkpoint that is not JSON skipped',
                );
              }
            }
          }
          for (const wake of waiters) wake();
        },
      });
    },
    async waitUntilCaughtUp() {
      const highs = await admin.fetchTopicOffsets(options.topic);
      const caughtUp = () =>
        highs.every((p) => BigInt(p.high) === 0n || (readUpTo.get(p.partition) ?? 0n) >= BigInt(p.high));
      if (caughtUp()) return;
      await new Promise<void>((resolve) => {
        const check = () => {
          if (!caughtUp()) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      });
    },
    get(connectionId) {
      return entries.get(connectionId)?.checkpoint;
    },
    connectionsInPartitions(partitions) {
      const wanted = new Set(partitions);
      return [...entries.values()].filter((e) => wanted.has(e.partition)).map((e) => e.checkpoint);
    },
    async write(checkpoint) {
      await options.sink.send([
        {
          topic: options.topic,
          key: checkpoint.connectionId,
          value: JSON.stringify(checkpoint),
          headers: { 'content-type': 'application/json' },
        },
      ]);
      const previous = entries.get(checkpoint.connectionId);
      entries.set(checkpoint.connectionId, { checkpoint, partition: previous?.partition ?? -1 });
    },
    async tombstone(connectionId) {
      await options.sink.send([{ topic: options.topic, key: connectionId, value: null, headers: {} }]);
      entries.delete(connectionId);
    },
    async stop() {
      await consumer.disconnect();
      await admin.disconnect();
    },
  };
}
