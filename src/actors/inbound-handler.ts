import { LRUCache } from 'lru-cache';
import { verifyChannelToken } from '../contract/channel-token.js';
import type { ConnectionCheckpoint } from '../contract/checkpoint.js';
import { resolveSyncOptions, type TriggerMessage, type WebhookMessage } from '../contract/inbound.js';
import type { MessageSource } from '../contract/records.js';
import { publish } from '../instrumentation.js';
import type { Logger } from '../logger.js';
import { admitWebhook, type WebhookAdmission } from './channel-admission.js';
import { type InboundTopics, interpretInbound } from './inbound-message.js';
import type { ConnectionSupervisor } from './supervisor.js';

/** One consumed Kafka message, as the consumer hands it over. */
export interface InboundRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly value: Buffer | null;
}

export interface InboundHandlerDeps<Event> {
  readonly integrationId: string;
  readonly topics: InboundTopics;
  readonly supervisor: ConnectionSupervisor<Event>;
  readonly logger: Logger;
  /** Key of the channel-token HMAC; null when push channels are off (then every webhook is ignored and counted). */
  readonly channelTokenKey: string | null;
  /** How many recent inbound message ids are remembered to drop redeliveries. */
  readonly recentMessageIds: number;
  readonly triggerEvent: (message: TriggerMessage, source: MessageSource) => Event;
  readonly webhookEvent: (message: WebhookMessage, source: MessageSource) => Event;
  /** Produces one `invalid_input` error record; resolves once Kafka acknowledged it. */
  readonly reportInvalid: (details: {
    readonly source: MessageSource;
    readonly customerId: string | null;
    readonly connectionId: string | null;
    readonly problem: string;
  }) => Promise<void>;
  /** Channel ids accepted besides the checkpoint's (ChannelOverlap: being opened, just replaced). */
  readonly overlapChannels?: (connectionId: string) => readonly string[];
  /** Asks Drive to stop a channel of ours the connection no longer uses; failures are only logged. */
  readonly stopStaleChannel?: (
    connectionId: string,
    channel: { readonly id: string; readonly resourceId: string },
  ) => void;
  /**
   * The state partition of a connection when this member owns it, else null. Absent: the
   * inbound message's partition is taken as the connection's (tests without a group).
   */
  readonly ownedPartitionOf?: (connectionId: string) => number | null;
  readonly now?: () => Date;
}

/**
 * Turns one inbound message into its durable effect and resolves when the offset may be
 * committed (CONTRACT.md: only for messages whose effect is durable). It never throws for a
 * bad message — a bad message becomes an error record and never blocks the partition. It
 * throws only when the effect could not be made durable (Kafka down), so the offset stays
 * uncommitted and the message comes again.
 */
/** Handles one inbound message (see createInboundHandler), with the upkeep of its replay memory. */
export interface InboundHandler {
  (record: InboundRecord): Promise<void>;
  /** Forgets the message ids remembered for the connections the predicate names (a revoked partition's). */
  forgetWhere(predicate: (connectionId: string) => boolean): void;
  /** Message ids remembered now. */
  remembered(): number;
}

export function createInboundHandler<Event>(deps: InboundHandlerDeps<Event>): InboundHandler {
  // Message id → its connection, so a revoked partition's ids can go with it.
  const recent = new LRUCache<string, string>({ max: Math.max(1, deps.recentMessageIds) });
  const now = deps.now ?? (() => new Date());

  function freshCheckpoint(message: TriggerMessage | WebhookMessage): () => ConnectionCheckpoint {
    const options =
      'options' in message ? resolveSyncOptions(message.options ?? undefined) : resolveSyncOptions(undefined);
    return () => ({
      version: 1,
      connectionId: message.integration_connection_id,
      customerId: message.customer_id,
      cursor: null,
      options: { include: [...options.include], driveIds: options.driveIds ? [...options.driveIds] : null },
      activeSync: null,
      pending: null,
      backoff: null,
      channel: null,
      parked: null,
      lastSync: null,
      updatedAt: now().toISOString(),
    });
  }

  function admissionOf(message: WebhookMessage): WebhookAdmission {
    const connectionId = message.integration_connection_id;
    const channelId = message.headers['x-goog-channel-id'];
    const checkpoint = deps.supervisor.checkpointOf(connectionId);
    return admitWebhook({
      connectionKnown: checkpoint !== undefined,
      channelsEnabled: deps.channelTokenKey !== null,
      current: checkpoint?.channel ?? null,
      overlap: deps.overlapChannels?.(connectionId) ?? [],
      channelId,
      resourceId: message.headers['x-goog-resource-id'],
      tokenVerifies:
        deps.channelTokenKey !== null &&
        verifyChannelToken(
          deps.channelTokenKey,
          connectionId,
          channelId,
          message.headers['x-goog-channel-token'],
        ),
    });
  }

  async function handleInbound(record: InboundRecord): Promise<void> {
    publish('message.received', { topic: record.topic });
    const interpretation = interpretInbound(record.topic, record.value, deps.integrationId, deps.topics);
    const sourceOf = (messageId: string | null): MessageSource => ({
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      messageId,
    });

    switch (interpretation.kind) {
      case 'skip':
        publish('message.processed', { topic: record.topic, outcome: 'skipped' });
        return;
      case 'invalid': {
        const { envelope } = interpretation;
        deps.logger.warn(
          {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            problem: interpretation.problem,
          },
          'invalid inbound message',
        );
        await deps.reportInvalid({
          source: sourceOf(envelope.message_id ?? null),
          customerId: envelope.customer_id ?? null,
          connectionId: envelope.integration_connection_id ?? null,
          problem: interpretation.problem,
        });
        publish('message.processed', { topic: record.topic, outcome: 'invalid' });
        return;
      }
      case 'trigger':
      case 'webhook': {
        const { message } = interpretation;
        if (recent.has(message.message_id)) {
          publish('message.processed', { topic: record.topic, outcome: 'skipped' });
          return;
        }
        const source = sourceOf(message.message_id);
        const connectionId = message.integration_connection_id;
        const partition = deps.ownedPartitionOf ? deps.ownedPartitionOf(connectionId) : record.partition;
        if (partition === null) {
          // Keyed by something else than its connection id: the connection's checkpoint is
          // another member's to write, and this member must not run it.
          deps.logger.warn(
            { topic: record.topic, partition: record.partition, offset: record.offset, connectionId },
            'inbound message on a partition whose member does not own its connection',
          );
          await deps.reportInvalid({
            source,
            customerId: message.customer_id,
            connectionId,
            problem:
              'message key does not route to its integration_connection_id: produce it keyed by the connection id',
          });
          recent.set(message.message_id, connectionId);
          publish('message.processed', { topic: record.topic, outcome: 'invalid' });
          return;
        }
        // A connection being disconnected: wait for the end before judging or routing this.
        await deps.supervisor.settle(connectionId);
        let event: Event;
        if (interpretation.kind === 'trigger') {
          event = deps.triggerEvent(interpretation.message, source);
        } else {
          const admission = admissionOf(interpretation.message);
          if (admission.kind !== 'accept') {
            await refuseWebhook(interpretation.message, admission, source);
            recent.set(message.message_id, connectionId);
            return;
          }
          event = deps.webhookEvent(interpretation.message, source);
        }
        await deps.supervisor.dispatch(connectionId, event, freshCheckpoint(message), partition);
        recent.set(message.message_id, connectionId);
        publish('message.processed', { topic: record.topic, outcome: 'handled' });
        return;
      }
    }
  }

  async function refuseWebhook(
    message: WebhookMessage,
    admission: Exclude<WebhookAdmission, { kind: 'accept' }>,
    source: MessageSource,
  ) {
    const connectionId = message.integration_connection_id;
    const channelId = message.headers['x-goog-channel-id'];
    if (admission.kind === 'reject') {
      deps.logger.warn({ connectionId, channelId }, 'webhook channel token does not verify');
      await deps.reportInvalid({
        source,
        customerId: message.customer_id,
        connectionId,
        problem: 'x-goog-channel-token does not verify for this connection and channel',
      });
      publish('message.processed', { topic: source.topic, outcome: 'invalid' });
      return;
    }
    deps.logger.info(
      { connectionId, channelId, reason: admission.reason },
      'webhook for a channel that is not current: ignored',
    );
    if (admission.stopChannel !== null) deps.stopStaleChannel?.(connectionId, admission.stopChannel);
    publish('webhook.ignored', { reason: admission.reason });
    publish('message.processed', { topic: source.topic, outcome: 'skipped' });
  }

  return Object.assign(handleInbound, {
    forgetWhere(predicate: (connectionId: string) => boolean): void {
      for (const [messageId, connectionId] of [...recent.entries()]) {
        if (predicate(connectionId)) recent.delete(messageId);
      }
    },
    remembered: () => recent.size,
  });
}
