import { CompressionTypes, type Kafka, Partitioners, type Producer } from 'kafkajs';
import type { OutboundRecord } from '../../contract/records.js';

export interface OutboundMessage {
  readonly topic: string;
  readonly key: string;
  /** null writes a tombstone. */
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** Produces messages; `send` resolves only once Kafka acknowledged every one (acks = all). */
export interface MessageSink {
  send(messages: readonly OutboundMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** The contract's headers of a produced record (CONTRACT.md, "Topics"). */
export function recordHeaders(
  record: Pick<OutboundRecord, 'idempotency_key' | 'resource_type'>,
  correlationId: string | null,
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'idempotency-key': record.idempotency_key,
    'resource-type': record.resource_type,
    'correlation-id': correlationId ?? '',
  };
}

export async function createMessageSink(
  kafka: Kafka,
  options: { idempotent: boolean },
): Promise<MessageSink> {
  const producer: Producer = kafka.producer({
    // Java-compatible murmur2, so one connection's messages share a partition with the
    // platform's producers (CONTRACT.md).
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: options.idempotent,
    maxInFlightRequests: options.idempotent ? 5 : undefined,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  return {
    async send(messages) {
      if (messages.length === 0) return;
      const byTopic = new Map<string, OutboundMessage[]>();
      for (const message of messages) {
        const list = byTopic.get(message.topic) ?? [];
        list.push(message);
        byTopic.set(message.topic, list);
      }
      await producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, list]) => ({
          topic,
          messages: list.map((m) => ({ key: m.key, value: m.value, headers: { ...m.headers } })),
        })),
      });
    },
    async close() {
      await producer.disconnect();
    },
  };
}
