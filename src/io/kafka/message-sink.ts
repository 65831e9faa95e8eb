import { CompressionTypes, type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';
import type { ErrorRecord, OutboundRecord } from '../../contract/records.js';
import { publish } from '../../instrumentation.js';
import type { Logger } from '../../logger.js';
import { ClassifiedError, redactSecrets } from '../../machines/classify.js';
import { Murmur2Partitioner } from './murmur2-partitioner.js';

export interface OutboundMessage {
  readonly topic: string;
  /** The connection id: the partitioner keeps one connection's messages on one partition. */
  readonly key: string;
  /** null writes a tombstone. */
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Produces messages. `send` resolves only once Kafka acknowledged every one of its messages
 * (acks = all); messages of an earlier `send` are never written after those of a later one.
 */
export interface MessageSink {
  send(messages: readonly OutboundMessage[]): Promise<void>;
  /** Resolves once everything sent before the call was acknowledged or failed. */
  flush(): Promise<void>;
  /** Flushes, then disconnects; later sends are refused. */
  close(): Promise<void>;
}

/** The contract's headers of a produced record (CONTRACT.md, "Topics"); every caller uses these. */
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

/**
 * The same headers for an error record. Error records have no resource id of their own, so
 * their idempotency key is the occurrence's `message_id`.
 */
export function errorRecordHeaders(
  record: Pick<ErrorRecord, 'integration_id' | 'integration_connection_id' | 'message_id'>,
  correlationId: string | null,
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'idempotency-key': `${record.integration_id}:${record.integration_connection_id ?? 'unknown'}:error:${record.message_id}`,
    'resource-type': 'error',
    'correlation-id': correlationId ?? '',
  };
}

/** Broker answers that no retry cures: the worker's own configuration or a record it built wrong. */
const PERMANENT_KAFKA_ERRORS: ReadonlySet<string> = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'INVALID_TOPIC_EXCEPTION',
  'UNSUPPORTED_VERSION',
]);

/** The broker's error type of a kafkajs error, looking through the retrier's wrapper. */
function kafkaErrorType(error: unknown): string | null {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const shape = current as { type?: unknown; originalError?: unknown; cause?: unknown };
    if (typeof shape.type === 'string') return shape.type;
    current = shape.originalError ?? shape.cause;
  }
  return null;
}

/**
 * A produce that failed after the client's retries. A broker away, a leader moving or a
 * timeout is `transient` (the sync backs off and resumes from its last durable page);
 * only an answer no retry cures is `internal`.
 */
export class KafkaProduceError extends ClassifiedError {
  constructor(cause: unknown) {
    const type = kafkaErrorType(cause);
    const permanent = type !== null && PERMANENT_KAFKA_ERRORS.has(type);
    const message = cause instanceof Error ? cause.message : String(cause);
    super(
      {
        classification: permanent ? 'internal' : 'transient',
        code: type === null ? 'kafka_unavailable' : type.toLowerCase(),
        message: redactSecrets(`producing to Kafka failed: ${message}`).slice(0, 500),
        retryable: !permanent,
        httpStatus: null,
        retryAfterMs: null,
        cursorInvalid: false,
      },
      { cause },
    );
    this.name = 'KafkaProduceError';
  }
}

/** Broker answers that a message or a request exceeds its size limit (max.message.bytes). */
const TOO_LARGE_ERRORS: ReadonlySet<string> = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/**
 * Some messages of a `send` were not written because they are larger than the broker takes
 * (over `maxMessageBytes`, or refused by the broker as too large when sent alone); every
 * other message of the send was acknowledged. No retry cures it: the caller reports each
 * refused message once (or drops it) and goes on, so it cannot block its partition.
 */
export class MessagesRefusedError extends Error {
  constructor(
    /** Indexes, in the `send` call's array, of the messages not written. */
    readonly refused: readonly number[],
  ) {
    super(`${refused.length} message(s) larger than the broker accepts were not produced`);
    this.name = 'MessagesRefusedError';
  }
}

/**
 * The partition Kafka's standard (Java) partitioner picks for a key. The sink produces with
 * exactly this partitioner; the checkpoint table uses it to know where its own writes land.
 */
export { partitionForKey } from './murmur2-partitioner.js';

export interface MessageSinkOptions {
  /** Idempotent producer: on for real clusters, off for the embedded broker (see README). */
  readonly idempotent: boolean;
  readonly logger?: Logger;
  /**
   * gzip by default: records are verbose JSON that shrinks several times, which saves network
   * and broker disk and keeps a page of records far below the broker's batch size limit;
   * every Kafka client (kcat/librdkafka included) reads it.
   */
  readonly compression?: 'gzip' | 'none';
  /**
   * Upper bound of the uncompressed bytes of one produce request. The broker refuses a
   * partition's record batch above `message.max.bytes` (1 MiB by default), and one
   * connection's records all go to one partition, so a large page is cut into several
   * requests, sent in order. A single larger message is sent alone.
   */
  readonly maxRequestBytes?: number;
  /**
   * The broker's `max.message.bytes` (KAFKA_MAX_MESSAGE_BYTES; default Kafka's 1048588). A
   * message whose estimated size, with its batch framing, is above it is never sent (it is
   * refused: `MessagesRefusedError`), and requests are cut below it.
   */
  readonly maxMessageBytes?: number;
  /**
   * When given, acknowledged messages on these topics are published as `records.produced`
   * (per `resource-type` header) and `errors.produced` (per classification).
   */
  readonly instrumentation?: { readonly recordsTopic: string; readonly errorsTopic: string };
  /**
   * Retries of a failed produce request before `send` rejects (non-idempotent producers;
   * an idempotent one retries without end, as kafkajs requires). Default 5, with the client's
   * backoff: a send fails after about 10 s of trouble and the caller backs off on its own.
   */
  readonly retries?: number;
  /**
   * Added to every message (e.g. `worker-id`: which worker produced it, for operators
   * tracing a duplicate or a late write to its pod).
   */
  readonly headers?: Readonly<Record<string, string>>;
}

export const DEFAULT_MAX_REQUEST_BYTES = 900_000;
/** Kafka's default `max.message.bytes`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** A record batch's own header (61 bytes in v2), rounded up. */
const BATCH_OVERHEAD_BYTES = 128;
/** Per-message framing (offsets, lengths, timestamps, header counts) on top of its bytes. */
const MESSAGE_OVERHEAD_BYTES = 64;

interface PendingSend {
  readonly messages: readonly OutboundMessage[];
  readonly sizes: readonly number[];
  /** Index of the first message not yet taken into a request. */
  next: number;
  failed: boolean;
  /** Indexes of messages not written for being too large. */
  readonly refused: number[];
  resolve(): void;
  reject(error: unknown): void;
}

interface RequestSlice {
  readonly send: PendingSend;
  readonly from: number;
  readonly to: number;
}

/** Estimated bytes of a message in a record batch: key, value, headers and per-record framing. */
export function messageBytes(message: OutboundMessage): number {
  let bytes = MESSAGE_OVERHEAD_BYTES + Buffer.byteLength(message.key);
  if (message.value !== null) bytes += Buffer.byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  return bytes;
}

class SinkClosedError extends Error {
  constructor() {
    super('the message sink is closed');
    this.name = 'SinkClosedError';
  }
}

/**
 * The producer behind the worker's MessageSink.
 *
 * Batching without waiting: at most one produce request is in flight per sink; while it
 * is, later `send` calls queue up and all go out together in the next request (calls made
 * in the same tick share one request too). A lone call is sent at once; under load,
 * requests grow instead of multiplying. One request in flight also keeps the order of
 * `send` calls on the broker, even across kafkajs's retries.
 */
/** The Kafka-backed sink, which can also say whether its producer is connected (readiness). */
export interface KafkaMessageSink extends MessageSink {
  isConnected(): boolean;
}

export async function createMessageSink(
  kafka: Kafka,
  options: MessageSinkOptions,
): Promise<KafkaMessageSink> {
  const extraHeaders = options.headers ?? {};
  const producer: Producer = kafka.producer({
    // Java-compatible murmur2, so one connection's messages share a partition with the
    // platform's producers (CONTRACT.md); ours, since kafkajs' is quadratic in key length.
    createPartitioner: Murmur2Partitioner,
    idempotent: options.idempotent,
    // kafkajs serialises an idempotent producer's requests per broker already; one request
    // in flight per connection is what KIP-98 asks of idempotent producers and costs nothing
    // here, since the sink itself never has two requests in flight.
    ...(options.idempotent ? { maxInFlightRequests: 1 } : {}),
    allowAutoTopicCreation: false,
    ...(!options.idempotent && options.retries !== undefined ? { retry: { retries: options.retries } } : {}),
  });
  // kafkajs 2.2.4 emits these only from its own connect() and disconnect()
  // (producer/index.js), not when a broker goes away under a connected producer, which
  // reconnects on the next send: this says "connected and not closed". A lost broker shows
  // in the consumer's readiness check instead.
  let connected = false;
  producer.on(producer.events.CONNECT, () => {
    connected = true;
  });
  producer.on(producer.events.DISCONNECT, () => {
    connected = false;
  });
  await producer.connect();

  const compression = options.compression === 'none' ? CompressionTypes.None : CompressionTypes.GZIP;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // A lone message travels in a batch of its own: its framing counts against the limit.
  const largestMessage = maxMessageBytes - BATCH_OVERHEAD_BYTES;
  const maxRequestBytes = Math.min(options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES, largestMessage);
  const queue: PendingSend[] = [];
  const unsettled = new Set<Promise<void>>();
  let draining = false;
  let closed = false;

  /** Takes messages from the head of the queue up to the request size (at least one). */
  function takeRequest(): RequestSlice[] {
    const slices: RequestSlice[] = [];
    let bytes = 0;
    while (queue.length > 0) {
      const head = queue[0] as PendingSend;
      const from = head.next;
      let to = from;
      while (to < head.messages.length) {
        const size = head.sizes[to] as number;
        if (bytes > 0 && bytes + size > maxRequestBytes) break;
        bytes += size;
        to++;
      }
      if (to > from) slices.push({ send: head, from, to });
      head.next = to;
      if (to < head.messages.length) break;
      queue.shift();
    }
    return slices;
  }

  function toTopicMessages(slices: readonly RequestSlice[]): TopicMessages[] {
    const byTopic = new Map<string, Message[]>();
    for (const { send, from, to } of slices) {
      for (let i = from; i < to; i++) {
        if (send.refused.includes(i)) continue;
        const message = send.messages[i] as OutboundMessage;
        let list = byTopic.get(message.topic);
        if (!list) {
          list = [];
          byTopic.set(message.topic, list);
        }
        list.push({
          key: message.key,
          value: message.value,
          headers: { ...message.headers, ...extraHeaders },
        });
      }
    }
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  function publishProduced(slices: readonly RequestSlice[]): void {
    const topics = options.instrumentation;
    if (!topics) return;
    const records = new Map<string, number>();
    for (const { send, from, to } of slices) {
      for (let i = from; i < to; i++) {
        if (send.refused.includes(i)) continue;
        const message = send.messages[i] as OutboundMessage;
        if (message.topic === topics.recordsTopic) {
          const type = message.headers['resource-type'] ?? 'unknown';
          records.set(type, (records.get(type) ?? 0) + 1);
        } else if (message.topic === topics.errorsTopic) {
          publish('errors.produced', { classification: classificationOf(message.value) });
        }
      }
    }
    for (const [resourceType, count] of records) {
      publish('records.produced', { topic: topics.recordsTopic, count, resourceType });
    }
  }

  /** Settles the sends a request finished (their last message was taken). */
  function settle(slices: readonly RequestSlice[]): void {
    for (const { send, to } of slices) {
      if (to !== send.messages.length || send.failed) continue;
      if (send.refused.length === 0) send.resolve();
      else send.reject(new MessagesRefusedError([...send.refused].sort((a, b) => a - b)));
    }
  }

  /**
   * The broker refused a request as too large (its limit below KAFKA_MAX_MESSAGE_BYTES, or
   * our estimate short): its messages go again one by one, in order, and a message refused
   * alone is refused for good instead of failing its send, which would be retried forever.
   */
  async function sendOneByOne(slices: readonly RequestSlice[]): Promise<void> {
    for (const slice of slices) {
      for (let i = slice.from; i < slice.to; i++) {
        if (slice.send.refused.includes(i)) continue;
        const one: RequestSlice = { send: slice.send, from: i, to: i + 1 };
        try {
          await producer.sendBatch({ acks: -1, compression, topicMessages: toTopicMessages([one]) });
          publishProduced([one]);
        } catch (error) {
          const type = kafkaErrorType(error);
          if (type === null || !TOO_LARGE_ERRORS.has(type)) throw error;
          options.logger?.warn(
            { topic: slice.send.messages[i]?.topic, bytes: slice.send.sizes[i] },
            'message refused by the broker as too large',
          );
          slice.send.refused.push(i);
        }
      }
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const slices = takeRequest();
      const live = slices.filter((s) => !s.send.failed);
      if (live.length === 0) {
        settle(slices);
        continue;
      }
      const topicMessages = toTopicMessages(live);
      if (topicMessages.length === 0) {
        settle(live);
        continue;
      }
      try {
        try {
          await producer.sendBatch({ acks: -1, compression, topicMessages });
          publishProduced(live);
        } catch (error) {
          const type = kafkaErrorType(error);
          if (type === null || !TOO_LARGE_ERRORS.has(type)) throw error;
          await sendOneByOne(live);
        }
        settle(live);
      } catch (error) {
        options.logger?.warn(
          { err: error, messages: live.reduce((n, s) => n + s.to - s.from, 0) },
          'produce request failed',
        );
        for (const { send } of live) {
          if (send.failed) continue;
          // The rest of a failed send is not produced: its caller retries the whole send.
          send.failed = true;
          send.reject(new KafkaProduceError(error));
        }
        const head = queue[0];
        if (head?.failed) queue.shift();
      }
    }
  }

  function scheduleDrain(): void {
    if (draining) return;
    draining = true;
    // setImmediate: sends issued in the same tick go out in one request.
    setImmediate(() => {
      drain().finally(() => {
        draining = false;
        if (queue.length > 0) scheduleDrain();
      });
    });
  }

  return {
    send(messages) {
      if (closed) return Promise.reject(new SinkClosedError());
      if (messages.length === 0) return Promise.resolve();
      const promise = new Promise<void>((resolve, reject) => {
        const sizes = messages.map(messageBytes);
        // Never sent: the broker would refuse them, and the caller reports them instead.
        const refused = sizes.flatMap((size, i) => (size > largestMessage ? [i] : []));
        for (const i of refused) {
          options.logger?.warn(
            { topic: messages[i]?.topic, bytes: sizes[i] },
            'message too large: not produced',
          );
        }
        queue.push({
          messages,
          sizes: sizes.map((size) => (size > largestMessage ? 0 : size)),
          next: 0,
          failed: false,
          refused,
          resolve,
          reject,
        });
      });
      const settled = promise.then(
        () => undefined,
        () => undefined,
      );
      unsettled.add(settled);
      void settled.then(() => unsettled.delete(settled));
      scheduleDrain();
      return promise;
    },
    async flush() {
      await Promise.all([...unsettled]);
    },
    isConnected: () => connected && !closed,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...unsettled]);
      await producer.disconnect();
    },
  };
}

function classificationOf(value: string | null): string {
  if (value === null) return 'unknown';
  try {
    const parsed = JSON.parse(value) as { error?: { classification?: unknown } };
    const classification = parsed.error?.classification;
    return typeof classification === 'string' ? classification : 'unknown';
  } catch {
    return 'unknown';
  }
}
