import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * What the worker's parts report about themselves, published on node:diagnostics_channel
 * so that metrics (src/http/metrics.ts) subscribe without the core knowing about
 * Prometheus. Publishing to a channel nobody listens to costs almost nothing.
 * No event carries a token; connection ids are carried for logs and the state page, and
 * are never turned into metric labels.
 */
export interface InstrumentationEvents {
  /** One Drive API call (inner batch parts included), after it finished. */
  'drive.call': {
    method: string;
    outcome: 'ok' | 'error';
    status: number | null;
    reason: string | null;
    durationMs: number;
  };
  /** A Drive answer that said "slow down" (403 rate limit or 429). */
  'drive.rate_limited': { method: string; status: number; reason: string | null };
  /** A connection entered backing-off. */
  'sync.backoff': { classification: string; delayMs: number };
  /**
   * A connection got a resident actor: rebuilt from its checkpoint (`checkpoint`: restored,
   * woken at its own deadline, or sent a message after eviction) or a new one (`fresh`).
   */
  'connection.activated': { connectionId: string; from: 'checkpoint' | 'fresh' };
  /**
   * An assignment's checkpoints are in the table and its connections placed: those with work
   * to resume started, the rest asleep until their own deadline or their next message.
   */
  'checkpoints.restored': { partitions: number; started: number; sleeping: number; durationMs: number };
  'sync.started': { connectionId: string; mode: 'full' | 'incremental' };
  'sync.finished': {
    connectionId: string;
    mode: 'full' | 'incremental';
    outcome: 'ok' | 'error';
    durationMs: number;
  };
  /** Records produced and acknowledged by Kafka. */
  'records.produced': { topic: string; count: number; resourceType: string };
  'errors.produced': { classification: string };
  /** A file's extra (or content) left out because the file vanished after its page was listed. */
  'sync.extra_skipped': { extra: string; reason: 'not_found' };
  /** An inbound message handed to the handler, before anything is made of it. */
  'message.received': { topic: string };
  /** Inbound messages: processed, skipped (other integration, duplicate, stale channel) or failed validation. */
  'message.processed': { topic: string; outcome: 'handled' | 'skipped' | 'invalid' | 'failed' };
  's3.offloaded': { bytes: number };
  'webhook.latency': { seconds: number };
  /** A webhook notification that reached no actor (CONTRACT.md: ignored and counted). */
  'webhook.ignored': { reason: 'unknown_connection' | 'channels_off' | 'stale_channel' };
  'quota.tokens': { scope: 'user' | 'project'; available: number };
  /** This member's share of the project's Drive budget, after the consumer group changed. */
  'quota.share': { members: number; perMinute: number };
}

export type InstrumentationEventName = keyof InstrumentationEvents;

const prefix = 'gdrive-worker:';

export function publish<N extends InstrumentationEventName>(name: N, event: InstrumentationEvents[N]): void {
  const channel = diagnosticsChannel.channel(prefix + name);
  if (channel.hasSubscribers) channel.publish(event);
}

export function subscribe<N extends InstrumentationEventName>(
  name: N,
  listener: (event: InstrumentationEvents[N]) => void,
): () => void {
  const handler = (message: unknown) => listener(message as InstrumentationEvents[N]);
  diagnosticsChannel.subscribe(prefix + name, handler);
  return () => diagnosticsChannel.unsubscribe(prefix + name, handler);
}
