import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../../logger.js';

export interface InboundMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
}

export interface InboundConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Resolves when the message's effect is durable; throwing leaves its offset uncommitted. */
  readonly handle: (message: InboundMessage) => Promise<void>;
  /** Runs on every group join, before any message of the new assignment is handled. */
  readonly onAssignment: (assignment: ReadonlyMap<string, readonly number[]>) => Promise<void>;
  readonly logger: Logger;
  readonly partitionsConsumedConcurrently?: number;
}

export interface InboundConsumerStatus {
  readonly joined: boolean;
  readonly assignment: ReadonlyMap<string, readonly number[]>;
}

export interface InboundConsumer {
  start(): Promise<void>;
  /** Stops fetching, lets the message in hand finish, commits, leaves the group. */
  stop(): Promise<void>;
  status(): InboundConsumerStatus;
}

/**
 * The trigger and webhook consumer: manual commits of exactly the offsets whose effect is
 * durable (STYLE.md: eachBatch, autoCommit off, explicit `offset + 1`), one partition's
 * messages strictly in order.
 */
export function createInboundConsumer(kafka: Kafka, options: InboundConsumerOptions): InboundConsumer {
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxWaitTimeInMs: 500,
  });
  let joined = false;
  let assignment: ReadonlyMap<string, readonly number[]> = new Map();
  let assignmentReady: Promise<void> = Promise.resolve();

  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    joined = true;
    assignment = new Map(Object.entries(event.payload.memberAssignment));
    const current = assignment;
    assignmentReady = assignmentReady
      .catch(() => undefined)
      .then(() => options.onAssignment(current))
      .catch((error: unknown) => {
        options.logger.error({ err: error }, 'restoring connections after an assignment failed');
        throw error;
      });
  });
  consumer.on(consumer.events.DISCONNECT, () => {
    joined = false;
  });
  consumer.on(consumer.events.CRASH, (event) => {
    joined = false;
    options.logger.error(
      { err: event.payload.error, restart: event.payload.restart },
      'inbound consumer crashed',
    );
  });

  return {
    async start() {
      await consumer.connect();
      for (const topic of options.topics) await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 4,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          await assignmentReady;
          let lastHandled: string | null = null;
          const commit = async () => {
            if (lastHandled === null) return;
            const next = (BigInt(lastHandled) + 1n).toString();
            await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
            lastHandled = null;
          };
          try {
            for (const message of batch.messages) {
              if (!isRunning() || isStale()) break;
              await options.handle({
                topic: batch.topic,
                partition: batch.partition,
                offset: message.offset,
                key: message.key?.toString('utf8') ?? null,
                value: message.value,
              });
              resolveOffset(message.offset);
              lastHandled = message.offset;
              await commit();
              await heartbeat();
            }
          } finally {
            // Whatever was handled before a failure stays committed; the failed message is redelivered.
            await commit().catch((error: unknown) =>
              options.logger.warn({ err: error }, 'offset commit failed'),
            );
          }
        },
      });
    },
    async stop() {
      await consumer.stop();
      await consumer.disconnect();
      joined = false;
    },
    status() {
      return { joined, assignment };
    },
  };
}
