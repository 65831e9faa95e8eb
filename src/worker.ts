import { performance } from 'node:perf_hooks';
import { ChannelOverlap } from './actors/channel-overlap.js';
import { createChannelServices } from './actors/channel-services.js';
import { createConnectionActorFactory } from './actors/connection-actor.js';
import { createInboundHandler } from './actors/inbound-handler.js';
import type { ReadinessCheck } from './actors/inspection.js';
import { createQuotaGovernor, type QuotaGovernor } from './actors/quota-governor.js';
import { ConnectionSupervisor } from './actors/supervisor.js';
import { SyncSlots } from './actors/sync-slots.js';
import type { Config } from './config.js';
import { resolveSyncOptions } from './contract/inbound.js';
import { publish } from './instrumentation.js';
import { createAccessTokenClient } from './io/control-plane/access-token-client.js';
import { createDriveApi, createGovernedDriveGateway } from './io/drive/drive-reader.js';
import { createCheckpointTable } from './io/kafka/checkpoint-table.js';
import { createInboundConsumer, type InboundConsumer } from './io/kafka/inbound-consumer.js';
import { createKafka } from './io/kafka/kafka-client.js';
import { createMessageSink, type MessageSink, MessagesRefusedError } from './io/kafka/message-sink.js';
import { ensureTopicLayout } from './io/kafka/topic-layout.js';
import { openPayloadStore } from './io/s3/s3-client.js';
import type { Logger } from './logger.js';
import { BatchPacer } from './machines/batch-pacing.js';
import { type ConnectionEvent, ownDeadlineOf } from './machines/connection-machine.js';
import { errorRecord } from './machines/records.js';

export interface WorkerFootprint {
  readonly checkpoints: number;
  readonly residentActors: number;
  readonly sleepingConnections: number;
  readonly liveActors: number;
  readonly notificationSpells: number;
  readonly cachedTokens: number;
  readonly overlapChannels: number;
  readonly rememberedMessages: number;
}

export interface RunningWorker {
  readonly supervisor: ConnectionSupervisor<ConnectionEvent>;
  readonly consumer: InboundConsumer;
  /** The Drive quota governor; its project bucket holds this member's share of the project's budget. */
  readonly governor: QuotaGovernor;
  /** The worker's producer; the webhook ingress publishes through it too. */
  readonly sink: MessageSink;
  /** What `/health/ready` checks: consumer joined, producer connected, checkpoints restored. */
  readonly readiness: readonly ReadinessCheck[];
  /**
   * What this worker holds in memory per connection, structure by structure: only what it
   * owns (checkpoints of its partitions, actors, and the maps kept for them).
   */
  footprint(): WorkerFootprint;
  /**
   * Graceful stop: stops fetching, lets in-flight work reach a page boundary (at most half
   * of `shutdownGraceMs`), writes the checkpoints, commits and leaves the group, flushes
   * the producer, closes clients.
   */
  stop(): Promise<void>;
}

/** Wires the worker's parts together (the composition root); `main.ts` adds signals and HTTP. */
export async function startWorker(options: { config: Config; logger: Logger }): Promise<RunningWorker> {
  const { config, logger } = options;
  const kafka = createKafka(config.kafka, logger);
  // Before anything is consumed or produced: a wrong layout stops the start (exit code 2).
  await ensureTopicLayout(kafka, { topics: config.kafka.topics, create: config.kafka.createTopics, logger });
  const sink = await createMessageSink(kafka, {
    idempotent: config.kafka.idempotentProducer,
    maxMessageBytes: config.kafka.maxMessageBytes,
    headers: { 'worker-id': config.kafka.clientId },
  });
  // Bound once the consumer and supervisor exist; the table needs them from its first read on.
  let consumerRef: InboundConsumer | null = null;
  let revoke: (partitions: readonly number[]) => void = () => undefined;
  const table = createCheckpointTable(kafka, {
    topic: config.kafka.topics.state,
    groupIdPrefix: `${config.kafka.groupId}-state`,
    clientId: config.kafka.clientId,
    sink,
    logger,
    leaseHolds: () => consumerRef?.leaseHolds() ?? false,
    // Another member's marker on a partition this one thought it owned: it was replaced
    // (frozen past its session timeout): stop everything there now, before the group says so.
    onFenced: (partitions) => revoke(partitions),
  });
  await table.start();
  const governor = createQuotaGovernor(config.drive.quota);
  const payloads = await openPayloadStore(config, logger);

  const tokens = createAccessTokenClient(config.controlPlane, { integrationId: config.worker.integrationId });
  const driveApi = createDriveApi(config.drive.baseUrl);
  const channelOverlap = new ChannelOverlap();
  const channelServices = config.drive.channels
    ? createChannelServices({
        address: config.drive.channels.address,
        tokenKey: config.drive.channels.tokenSecret,
        ttlMs: config.drive.channels.ttlSeconds * 1000,
        overlap: channelOverlap,
        gatewayFor: (connectionId) =>
          createGovernedDriveGateway({
            api: driveApi,
            tokens,
            connectionId,
            pageSize: config.drive.pageSize,
            governor,
          }),
        logger,
      })
    : null;

  let supervisor: ConnectionSupervisor<ConnectionEvent> | null = null;
  /** The connection's state partition, when this member owns it and its lease holds. */
  const ownedPartitionOf = (connectionId: string): number | null => {
    const partition = table.partitionOf(connectionId);
    return table.owned().has(partition) ? partition : null;
  };
  const ownerEpochOf = (connectionId: string): number | null =>
    consumerRef?.leaseHolds() ? (table.owned().get(table.partitionOf(connectionId)) ?? null) : null;
  const factory = createConnectionActorFactory({
    integrationId: config.worker.integrationId,
    topics: { records: config.kafka.topics.records, errors: config.kafka.topics.errors },
    sink,
    tokens,
    driveApi,
    governor,
    slots: new SyncSlots(config.worker.maxConcurrentConnections),
    pageSize: config.drive.pageSize,
    includeSharedDrives: config.drive.includeSharedDrives,
    maxAttempts: config.worker.maxSyncAttempts,
    logger,
    forget: async (connectionId) => {
      await supervisor?.flush(connectionId);
      await table.tombstone(connectionId);
    },
    channels:
      channelServices && config.drive.channels
        ? { services: channelServices, renewMarginMs: config.drive.channels.renewMarginSeconds * 1000 }
        : null,
    payloads: {
      store: payloads.store,
      maxInlineBytes: config.kafka.maxInlineBytes,
      contentMaxBytes: config.drive.contentMaxBytes,
      exportMimeMap: config.drive.exportMimeMap,
    },
    batchRequests: config.drive.batchRequests,
    batchPacer: new BatchPacer(),
    itemMaxAttempts: config.drive.itemMaxAttempts,
    notificationQuietMs: config.drive.notificationQuietMs,
    chunkItems: config.worker.chunkItems,
    ownerEpochOf,
  });
  const channelWakeUps = {
    enabled: Boolean(channelServices && config.drive.channels),
    renewMarginMs: (config.drive.channels?.renewMarginSeconds ?? 0) * 1000,
  };
  const connections = new ConnectionSupervisor<ConnectionEvent>(factory, table, logger, {
    idleEvictionMs: config.worker.idleEvictionMs,
    ownDeadline: (checkpoint) => ownDeadlineOf(checkpoint, channelWakeUps),
    // An evicted connection asks for a token again when it wakes.
    onEvicted: (connectionId) => tokens.forget(connectionId),
  });
  supervisor = connections;

  const handle = createInboundHandler<ConnectionEvent>({
    integrationId: config.worker.integrationId,
    topics: { trigger: config.kafka.topics.trigger, webhook: config.kafka.topics.webhook },
    supervisor: connections,
    logger,
    channelTokenKey: config.drive.channels?.tokenSecret ?? null,
    overlapChannels: (connectionId) => channelOverlap.idsOf(connectionId),
    ...(channelServices ? { stopStaleChannel: channelServices.stopStale } : {}),
    recentMessageIds: 10_000,
    ownedPartitionOf,
    triggerEvent: (message) => {
      if (message.trigger_type === 'disconnect')
        return { type: 'DISCONNECT', correlationId: message.message_id };
      // Options persist: what the trigger does not name, the connection keeps.
      const given = message.options ?? undefined;
      const options = resolveSyncOptions(given);
      return {
        type: 'TRIGGER',
        triggerType: message.trigger_type,
        correlationId: message.message_id,
        ...(given?.include !== undefined ? { include: options.include } : {}),
        ...(given?.drive_ids !== undefined ? { driveIds: options.driveIds } : {}),
        lastCursor: message.last_cursor?.page_token ?? null,
      };
    },
    webhookEvent: (message) =>
      message.headers['x-goog-resource-state'] === 'sync'
        ? { type: 'WEBHOOK_SYNC' }
        : { type: 'WEBHOOK_CHANGE', correlationId: message.message_id },
    reportInvalid: async (details) => {
      const record = errorRecord({
        integrationId: config.worker.integrationId,
        connectionId: details.connectionId,
        customerId: details.customerId,
        failure: {
          classification: 'invalid_input',
          code: 'invalid_message',
          message: details.problem,
          retryable: false,
          httpStatus: null,
        },
        source: details.source,
        resource: null,
        attempt: 1,
        occurredAt: new Date(),
        occasion: null,
      });
      const sent = sink.send([
        {
          topic: config.kafka.topics.errors,
          key: details.connectionId ?? '',
          value: JSON.stringify(record),
          headers: {
            'content-type': 'application/json',
            'idempotency-key': `${config.worker.integrationId}:${details.connectionId ?? 'unknown'}:error:${record.message_id}`,
            'resource-type': 'error',
            'correlation-id': details.source.messageId ?? '',
          },
        },
      ]);
      try {
        await sent;
      } catch (error) {
        if (!(error instanceof MessagesRefusedError)) throw error;
        // Its quoted ids are cut to bounds, so only a broker limit far below Kafka's default
        // gets here: logged and the message committed, never redelivered in a loop.
        logger.error(
          { alert: 'error_record_too_large', source: details.source },
          'invalid_input record larger than the broker accepts: dropped',
        );
      }
    },
  });

  // Until the first assignment's checkpoints are read, a trigger could meet a blank actor.
  let checkpointsRestored = false;
  const consumer = createInboundConsumer(kafka, {
    groupId: config.kafka.groupId,
    topics: [config.kafka.topics.trigger, config.kafka.topics.webhook],
    sessionTimeoutMs: config.kafka.consumer.sessionTimeoutMs,
    heartbeatIntervalMs: config.kafka.consumer.heartbeatIntervalMs,
    rebalanceTimeoutMs: config.kafka.consumer.rebalanceTimeoutMs,
    fromBeginning: config.kafka.consumer.newGroupStart === 'earliest',
    handle,
    logger,
    onRevoked: (partitions) => revoke(partitions),
    // GDRIVE_QUOTA_PROJECT_PER_MINUTE is the project's: the group's members share it.
    onGroupMembers: (members) => {
      governor.shareProject(members);
      logger.info(
        { members, projectShare: governor.snapshot().project.configuredPerMinute },
        "this member's share of the project's Drive budget",
      );
    },
    onAssignment: async (assignment) => {
      checkpointsRestored = false;
      const began = performance.now();
      // Co-partitioned: the numbers held are the same in every inbound topic.
      const held = [...new Set([...assignment.values()].flat())].sort((a, b) => a - b);
      // Anything owned and not held any more (a previous claim that raced a rebalance) goes.
      const gone = [...table.owned().keys()].filter((p) => !held.includes(p));
      if (gone.length > 0) revoke(gone);
      await table.claim(held);
      // Partitions with messages their previous owner left uncommitted resume their
      // connections only once those are handled (a `disconnect` among them comes first).
      const backlog = await consumerRef?.backlog(held);
      const { started } = connections.restore(held, [...(backlog?.keys() ?? [])]);
      deferResume(backlog ?? new Map());
      checkpointsRestored = true;
      publish('checkpoints.restored', {
        partitions: held.length,
        started,
        sleeping: connections.sleepingCount,
        durationMs: performance.now() - began,
      });
    },
  });
  /** The deferred resumptions of the latest assignment; a newer assignment drops them. */
  let deferredWatch: NodeJS.Timeout | null = null;
  function deferResume(backlog: Map<number, Map<string, bigint>>): void {
    if (deferredWatch) clearInterval(deferredWatch);
    deferredWatch = null;
    if (backlog.size === 0) return;
    const waiting = new Map(backlog);
    deferredWatch = setInterval(() => {
      for (const [partition, ends] of waiting) {
        const owned = table.owned().has(partition);
        const handled = [...ends].every(
          ([topic, end]) => (consumer.handledUpTo(topic, partition) ?? -1n) >= end,
        );
        if (owned && !handled) continue;
        waiting.delete(partition);
        if (owned) {
          const started = connections.resume([partition]);
          logger.info({ partition, started }, 'backlog handled: connections resumed');
        }
      }
      if (waiting.size === 0 && deferredWatch) {
        clearInterval(deferredWatch);
        deferredWatch = null;
      }
    }, 200);
    deferredWatch.unref();
  }
  consumerRef = consumer;
  revoke = (partitions) => {
    // Writes first (refused from now on, queued ones included), then the actors, then
    // whatever else is kept per connection of those partitions: their new owner holds it now.
    table.release(partitions);
    connections.revoke(partitions);
    const gone = new Set(partitions);
    const wasOwned = (connectionId: string) => gone.has(table.partitionOf(connectionId));
    tokens.forgetWhere(wasOwned);
    channelOverlap.forgetWhere(wasOwned);
    handle.forgetWhere(wasOwned);
  };
  await consumer.start();

  // Swept at half the eviction age (a minute at most), so an actor leaves memory within
  // 1.5 times that age of its last activity.
  const eviction = setInterval(
    () => {
      connections.evictIdle();
      channelOverlap.sweep();
    },
    Math.min(60_000, Math.max(500, config.worker.idleEvictionMs / 2)),
  );
  eviction.unref();

  const readiness: ReadinessCheck[] = [
    {
      name: 'consumer',
      check: () =>
        consumer.status().joined ? { ok: true } : { ok: false, reason: 'not a member of the consumer group' },
    },
    {
      name: 'producer',
      check: () => (sink.isConnected() ? { ok: true } : { ok: false, reason: 'producer not connected' }),
    },
    {
      name: 'checkpoints',
      check: () =>
        checkpointsRestored
          ? { ok: true }
          : { ok: false, reason: 'checkpoints of the assigned partitions not restored yet' },
    },
  ];

  return {
    supervisor: connections,
    consumer,
    governor,
    sink,
    readiness,
    footprint: () => ({
      checkpoints: table.size(),
      residentActors: connections.residentCount,
      sleepingConnections: connections.sleepingCount,
      liveActors: factory.held().actors,
      notificationSpells: factory.held().notificationSpells,
      cachedTokens: tokens.cachedTokens(),
      overlapChannels: channelOverlap.size,
      rememberedMessages: handle.remembered(),
    }),
    async stop() {
      clearInterval(eviction);
      if (deferredWatch) clearInterval(deferredWatch);
      // Stop fetching but stay in the group while in-flight pages finish and checkpoint:
      // leaving first would hand the partitions to a member that resumes from older
      // checkpoints while this one still writes newer ones.
      const started = Date.now();
      const done = (step: string) =>
        logger.info({ step, elapsedMs: Date.now() - started }, 'shutdown step done');
      await consumer.quiesce();
      done('in-hand messages handled');
      // Half the grace period for pages in hand; the rest is for commits, flushes and closes.
      await connections.stopAll({ drainMs: config.shutdownGraceMs / 2 });
      done('actors stopped');
      await consumer.stop();
      done('consumer group left');
      governor.close();
      await table.stop();
      done('checkpoint table stopped');
      await sink.close();
      done('producer flushed');
      await payloads.close();
    },
  };
}
