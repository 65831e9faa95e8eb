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
 * (acks = all); a key's messages of an earlier `send` are never written after its messages of
 * a later one (one connection's records, checkpoints and error records keep their order;
 * other keys' may pass them).
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
        retryWithoutLimit: !permanent,
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
  /**
   * Produce requests in flight at once, each for other keys (default
   * `DEFAULT_MAX_IN_FLIGHT_REQUESTS`); 1 sends everything one request after another.
   */
  readonly maxInFlightRequests?: number;
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
  /** Messages neither acknowledged nor refused yet. */
  remaining: number;
  failed: boolean;
  /** Indexes of messages not written for being too large. */
  readonly refused: number[];
  resolve(): void;
  reject(error: unknown): void;
}

/** One message waiting in its key's lane. */
interface LaneEntry {
  readonly send: PendingSend;
  readonly index: number;
  /** Arrival order across every lane: the oldest waiting message goes first. */
  readonly seq: number;
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
 * The default number of produce requests in flight at once, each for other keys. kafkajs
 * sends an idempotent producer's requests to one broker one at a time (a lock per broker
 * around each request, whatever `maxInFlightRequests` says), so on one broker these queue
 * in kafkajs in arrival order: a small write waits for at most the requests already
 * handed over, each at most `maxRequestBytes`, never for a whole page of another key.
 */
export const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 5;

/**
 * The producer behind the worker's MessageSink.
 *
 * One lane per key (a connection's messages, all on one partition): a key has at most one
 * produce request in flight, so its messages are written in the order they were sent, even
 * across kafkajs's retries; requests for other keys go out meanwhile, up to
 * `maxInFlightRequests` at once, so one connection's large page never holds another's
 * checkpoint. Batching without waiting: a request takes the oldest waiting messages of
 * every idle lane up to the request size (calls made in the same tick share one request);
 * under load, requests grow instead of multiplying.
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
    // kafkajs assigns an idempotent producer's sequence numbers under a lock per broker
    // held for the whole request, and rolls them back when the request fails: that is safe
    // only with one request per broker on the wire, which this keeps explicit.
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
  const maxInFlight = Math.max(1, options.maxInFlightRequests ?? DEFAULT_MAX_IN_FLIGHT_REQUESTS);
  /** Waiting messages per key, in send order; a lane is deleted once empty. */
  const lanes = new Map<string, LaneEntry[]>();
  /** Keys with a request in flight: their next messages wait for its answer. */
  const busy = new Set<string>();
  const unsettled = new Set<Promise<void>>();
  let arrivals = 0;
  let inFlight = 0;
  let dispatchScheduled = false;
  let closed = false;

  /**
   * The next request: the idle lanes, oldest waiting message first, each taken from its
   * head up to the request size (at least one message). Messages of failed sends are
   * dropped on the way: the rest of a failed send is not produced.
   */
  function takeRequest(): LaneEntry[] {
    const idle: Array<[string, LaneEntry[]]> = [];
    for (const [key, lane] of lanes) {
      while (lane.length > 0 && (lane[0] as LaneEntry).send.failed) lane.shift();
      if (lane.length === 0) lanes.delete(key);
      else if (!busy.has(key)) idle.push([key, lane]);
    }
    idle.sort(([, a], [, b]) => (a[0] as LaneEntry).seq - (b[0] as LaneEntry).seq);
    const taken: LaneEntry[] = [];
    let bytes = 0;
    for (const [key, lane] of idle) {
      let full = false;
      const before = taken.length;
      while (lane.length > 0) {
        const head = lane[0] as LaneEntry;
        if (head.send.failed) {
          lane.shift();
          continue;
        }
        const size = head.send.sizes[head.index] as number;
        if (bytes > 0 && bytes + size > maxRequestBytes) {
          full = true;
          break;
        }
        bytes += size;
        taken.push(head);
        lane.shift();
      }
      if (taken.length > before) busy.add(key);
      if (lane.length === 0) lanes.delete(key);
      if (full) break;
    }
    return taken;
  }

  function toTopicMessages(entries: readonly LaneEntry[]): TopicMessages[] {
    const byTopic = new Map<string, Message[]>();
    for (const { send, index } of entries) {
      const message = send.messages[index] as OutboundMessage;
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
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  function publishProduced(entries: readonly LaneEntry[]): void {
    const topics = options.instrumentation;
    if (!topics) return;
    const records = new Map<string, number>();
    for (const { send, index } of entries) {
      const message = send.messages[index] as OutboundMessage;
      if (message.topic === topics.recordsTopic) {
        const type = message.headers['resource-type'] ?? 'unknown';
        records.set(type, (records.get(type) ?? 0) + 1);
      } else if (message.topic === topics.errorsTopic) {
        publish('errors.produced', { classification: classificationOf(message.value) });
      }
    }
    for (const [resourceType, count] of records) {
      publish('records.produced', { topic: topics.recordsTopic, count, resourceType });
    }
  }

  /** Settles a send once none of its messages is waiting or in flight. */
  function settleIfDone(send: PendingSend): void {
    if (send.remaining > 0 || send.failed) return;
    if (send.refused.length === 0) send.resolve();
    else send.reject(new MessagesRefusedError([...send.refused].sort((a, b) => a - b)));
  }

  /**
   * The broker refused a request as too large (its limit below KAFKA_MAX_MESSAGE_BYTES, or
   * our estimate short): its messages go again one by one, in order, and a message refused
   * alone is refused for good instead of failing its send, which would be retried forever.
   */
  async function sendOneByOne(entries: readonly LaneEntry[]): Promise<void> {
    for (const entry of entries) {
      try {
        await producer.sendBatch({ acks: -1, compression, topicMessages: toTopicMessages([entry]) });
        publishProduced([entry]);
      } catch (error) {
        const type = kafkaErrorType(error);
        if (type === null || !TOO_LARGE_ERRORS.has(type)) throw error;
        options.logger?.warn(
          { topic: entry.send.messages[entry.index]?.topic, bytes: entry.send.sizes[entry.index] },
          'message refused by the broker as too large',
        );
        entry.send.refused.push(entry.index);
      }
    }
  }

  async function produceRequest(entries: readonly LaneEntry[]): Promise<void> {
    try {
      try {
        await producer.sendBatch({ acks: -1, compression, topicMessages: toTopicMessages(entries) });
        publishProduced(entries);
      } catch (error) {
        const type = kafkaErrorType(error);
        if (type === null || !TOO_LARGE_ERRORS.has(type)) throw error;
        await sendOneByOne(entries);
      }
      for (const { send } of entries) send.remaining--;
      for (const { send } of entries) settleIfDone(send);
    } catch (error) {
      options.logger?.warn({ err: error, messages: entries.length }, 'produce request failed');
      for (const { send } of entries) {
        if (send.failed) continue;
        // The rest of a failed send is not produced: its caller retries the whole send.
        send.failed = true;
        send.reject(new KafkaProduceError(error));
      }
    }
  }

  function dispatch(): void {
    while (inFlight < maxInFlight) {
      const entries = takeRequest();
      if (entries.length === 0) return;
      const keys = new Set(entries.map((e) => (e.send.messages[e.index] as OutboundMessage).key));
      inFlight++;
      void produceRequest(entries).finally(() => {
        inFlight--;
        for (const key of keys) busy.delete(key);
        if (lanes.size > 0) dispatch();
      });
    }
  }

  function scheduleDispatch(): void {
    if (dispatchScheduled) return;
    dispatchScheduled = true;
    // setImmediate: sends issued in the same tick go out in one request.
    setImmediate(() => {
      dispatchScheduled = false;
      dispatch();
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
        const send: PendingSend = {
          messages,
          sizes,
          remaining: messages.length - refused.length,
          failed: false,
          refused,
          resolve,
          reject,
        };
        for (const [index, message] of messages.entries()) {
          if ((sizes[index] as number) > largestMessage) continue;
          let lane = lanes.get(message.key);
          if (!lane) {
            lane = [];
            lanes.set(message.key, lane);
          }
          lane.push({ send, index, seq: arrivals++ });
        }
        settleIfDone(send);
      });
      const settled = promise.then(
        () => undefined,
        () => undefined,
      );
      unsettled.add(settled);
      void settled.then(() => unsettled.delete(settled));
      scheduleDispatch();
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
