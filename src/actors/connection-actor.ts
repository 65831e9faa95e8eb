import { randomUUID } from 'node:crypto';
import type { drive_v3 } from '@googleapis/drive';
import { type AnyActorRef, createActor, fromCallback, fromPromise } from 'xstate';
import type { ChannelState, ConnectionCheckpoint } from '../contract/checkpoint.js';
import type { OutboundRecord } from '../contract/records.js';
import { publish } from '../instrumentation.js';
import type { AccessTokenProvider } from '../io/control-plane/access-token-client.js';
import { createDriveReader } from '../io/drive/drive-reader.js';
import { type MessageSink, MessagesRefusedError, recordHeaders } from '../io/kafka/message-sink.js';
import { OWNER_EPOCH_HEADER } from '../io/kafka/owner-epoch.js';
import type { Logger } from '../logger.js';
import type { BatchPacer } from '../machines/batch-pacing.js';
import {
  ClassifiedError,
  type ClassifiedFailure,
  extraFailureOutcome,
  failureOf,
} from '../machines/classify.js';
import {
  type ChannelServiceInput,
  type ConnectionEvent,
  type ConnectionInput,
  checkpointOf,
  connectionMachine,
  DEFAULT_CHANNEL_RENEW_MARGIN_MS,
  type SyncServiceInput,
  stateNameOf,
} from '../machines/connection-machine.js';
import { DEFAULT_ITEM_MAX_ATTEMPTS } from '../machines/item-isolation.js';
import {
  deleteRecord,
  driveRecord,
  errorRecord,
  type RecordContext,
  recordsForChange,
  recordsForListedFile,
  syncCheckpointRecord,
} from '../machines/records.js';
import {
  DEFAULT_NOTIFICATION_MAX_WAIT_MS,
  DEFAULT_NOTIFICATION_QUIET_MS,
  NotificationQuiet,
} from './channel-quiet.js';
import type { ChannelServices } from './channel-services.js';
import { createContentAttacher, createRecordOffloader, type PreparedRecord } from './content-payloads.js';
import type { TransitionRecord } from './inspection.js';
import { pause } from './pause.js';
import type { PayloadStorePort } from './ports.js';
import type { QuotaGovernor } from './quota-governor.js';
import type { ConnectionActorFactory, ConnectionActorHandle } from './supervisor.js';
import { runFullSync, runIncrementalSync, type SyncRunDeps, type SyncRunScope } from './sync-runs.js';
import type { SyncSlots } from './sync-slots.js';

export interface ConnectionServicesDeps {
  readonly integrationId: string;
  readonly topics: { readonly records: string; readonly errors: string };
  readonly sink: MessageSink;
  readonly tokens: AccessTokenProvider;
  readonly driveApi: drive_v3.Drive;
  readonly governor: QuotaGovernor | null;
  readonly slots: SyncSlots;
  readonly pageSize: number;
  readonly includeSharedDrives: boolean;
  readonly maxAttempts: number;
  readonly logger: Logger;
  /** Writes the connection's tombstone once its queued checkpoint writes are done. */
  readonly forget: (connectionId: string) => Promise<void>;
  /** Push channels (GDRIVE_CHANNEL_ADDRESS set); null: polling only. */
  readonly channels?: {
    readonly services: ChannelServices;
    /** GDRIVE_CHANNEL_RENEW_MARGIN_SECONDS in ms; the machine caps it at 10% of a channel's life. */
    readonly renewMarginMs: number;
  } | null;
  /** When an incremental run that notifications asked for reads; defaults in channel-quiet.ts. */
  readonly notificationQuiet?: NotificationQuiet;
  /** GDRIVE_NOTIFICATION_QUIET_MS, for the default `notificationQuiet`. */
  readonly notificationQuietMs?: number;
  readonly now?: () => Date;
  /**
   * S3 for content and for records above KAFKA_MAX_INLINE_BYTES; null or absent: records go
   * as built and content is never read.
   */
  readonly payloads?: {
    readonly store: PayloadStorePort;
    readonly maxInlineBytes: number;
    /** GDRIVE_CONTENT_MAX_BYTES. */
    readonly contentMaxBytes: number;
    /** GDRIVE_EXPORT_MIME_MAP. */
    readonly exportMimeMap: Readonly<Record<string, string>>;
  } | null;
  /** GDRIVE_BATCH_REQUESTS: per-file extras of a page read in Drive batch requests. */
  readonly batchRequests?: boolean;
  /** The process's batch pacing (one for all connections, so what one run learnt serves all). */
  readonly batchPacer?: BatchPacer;
  /** GDRIVE_ITEM_MAX_ATTEMPTS: reads of one item's failing extra before it is reported. */
  readonly itemMaxAttempts?: number;
  /** SYNC_CHUNK_ITEMS: a walked page's items published and checkpointed this many at a time. */
  readonly chunkItems?: number | null;
  /**
   * This member's owner epoch of the connection's partition while it owns it (partition
   * held, lease current), else null: then nothing is produced for it. Records and error
   * records carry the epoch in an `owner-epoch` header, so a consumer can tell a fenced
   * owner's late records. Absent: always owned, no header.
   */
  readonly ownerEpochOf?: (connectionId: string) => number | null;
  /** Retry delays of a tombstone or an error record that must be acknowledged; default 0.5 s doubling to 30 s. */
  readonly ackRetry?: { readonly firstMs: number; readonly maxMs: number };
}

/** Produced nothing: this member no longer owns the connection (see ownerEpochOf). */
export class OwnershipLostError extends ClassifiedError {
  constructor(connectionId: string) {
    super({
      classification: 'transient',
      code: 'ownership_lost',
      message: `this worker no longer owns connection ${connectionId}`,
      retryable: true,
      httpStatus: null,
      retryAfterMs: null,
      cursorInvalid: false,
    });
    this.name = 'OwnershipLostError';
  }
}

/** Runs `attempt` until it resolves or `signal` aborts (then it rejects with the last failure). */
async function untilAcknowledged(
  attempt: () => Promise<void>,
  signal: AbortSignal,
  delays: { readonly firstMs: number; readonly maxMs: number },
  onFailure: (error: unknown, retryInMs: number) => void,
): Promise<void> {
  for (let failures = 0; ; failures++) {
    try {
      await attempt();
      return;
    } catch (error) {
      if (signal.aborted) throw error;
      const retryInMs = Math.min(delays.maxMs, delays.firstMs * 2 ** Math.min(failures, 20));
      onFailure(error, retryInMs);
      await pause(retryInMs, signal);
      if (signal.aborted) throw error;
    }
  }
}

/**
 * Wires the pure connection machine to the outside (STYLE.md: `createConnectionServices`
 * passed to `.provide()`), and wraps each actor in the handle the supervisor holds.
 */
export function createConnectionActorFactory(
  deps: ConnectionServicesDeps,
): ConnectionActorFactory<ConnectionEvent> & {
  /** What the factory holds per live actor, for the worker's footprint. */
  held(): { readonly actors: number; readonly notificationSpells: number };
} {
  const now = deps.now ?? (() => new Date());
  const notificationQuiet =
    deps.notificationQuiet ??
    new NotificationQuiet({
      quietMs: deps.notificationQuietMs ?? DEFAULT_NOTIFICATION_QUIET_MS,
      maxWaitMs: DEFAULT_NOTIFICATION_MAX_WAIT_MS,
    });

  // Records above KAFKA_MAX_INLINE_BYTES leave what does not fit in S3, stored before they are produced.
  const prepareRecords = deps.payloads
    ? createRecordOffloader({ store: deps.payloads.store, maxInlineBytes: deps.payloads.maxInlineBytes })
    : async (records: readonly OutboundRecord[]): Promise<PreparedRecord[]> =>
        records.map((record) => ({ record, value: JSON.stringify(record) }));

  const ackRetry = deps.ackRetry ?? { firstMs: 500, maxMs: 30_000 };
  /** Per live actor (by connection id): its unacknowledged must-deliver effects and its stop signal. */
  const lives = new Map<
    string,
    { readonly effects: Set<Promise<void>>; readonly stopped: AbortController }
  >();

  /** The owner header of a connection's messages; throws when this member does not own it (any more). */
  function ownerHeaders(connectionId: string): Record<string, string> {
    if (!deps.ownerEpochOf) return {};
    const epoch = deps.ownerEpochOf(connectionId);
    if (epoch === null) throw new OwnershipLostError(connectionId);
    return { [OWNER_EPOCH_HEADER]: String(epoch) };
  }

  async function publishRecords(
    records: readonly OutboundRecord[],
    correlationId: string | null,
    stopped?: AbortSignal,
  ) {
    if (records.length === 0) return;
    for (const record of records) ownerHeaders(record.integration_connection_id);
    const prepared = await prepareRecords(records);
    // Checked again after the S3 uploads, right before sending: a sync stopped meanwhile
    // (its actor stopped, disconnected, or its partition revoked) publishes nothing more.
    if (stopped?.aborted) throw new Error('sync stopped');
    try {
      await deps.sink.send(
        prepared.map(({ record, value }) => ({
          topic: deps.topics.records,
          key: record.integration_connection_id,
          value,
          headers: {
            ...recordHeaders(record, correlationId),
            ...ownerHeaders(record.integration_connection_id),
          },
        })),
      );
    } catch (error) {
      if (!(error instanceof MessagesRefusedError)) throw error;
      // Larger than the broker takes even after S3: reported once, and the page goes on
      // (retrying could never succeed and would hold the connection's partition).
      for (const index of error.refused) {
        const { record, value } = prepared[index] as PreparedRecord;
        await publishError(
          { connectionId: record.integration_connection_id, customerId: record.customer_id },
          {
            classification: 'internal',
            code: 'message_too_large',
            message: `the ${record.resource_type} record of ${Buffer.byteLength(value)} bytes is larger than the broker accepts (KAFKA_MAX_MESSAGE_BYTES)`,
            retryable: false,
            httpStatus: null,
            retryAfterMs: null,
            cursorInvalid: false,
          },
          { type: record.resource_type, id: record.resource_id },
          1,
          record.sync.sync_id,
        );
      }
    }
    const byType = new Map<string, number>();
    for (const r of records) byType.set(r.resource_type, (byType.get(r.resource_type) ?? 0) + 1);
    for (const [resourceType, count] of byType)
      publish('records.produced', { topic: deps.topics.records, count, resourceType });
  }

  async function publishError(
    checkpoint: Pick<ConnectionCheckpoint, 'connectionId' | 'customerId'>,
    failure: ClassifiedFailure,
    resource: { type: string; id: string } | null,
    attempt: number,
    syncId: string | null,
  ) {
    const owner = ownerHeaders(checkpoint.connectionId);
    const record = errorRecord({
      integrationId: deps.integrationId,
      connectionId: checkpoint.connectionId,
      customerId: checkpoint.customerId,
      failure,
      source: null,
      resource,
      attempt,
      occurredAt: now(),
      occasion: syncId,
    });
    try {
      await deps.sink.send([
        {
          topic: deps.topics.errors,
          key: checkpoint.connectionId,
          value: JSON.stringify(record),
          headers: {
            'content-type': 'application/json',
            'idempotency-key': `${deps.integrationId}:${checkpoint.connectionId}:error:${record.message_id}`,
            'resource-type': 'error',
            'correlation-id': '',
            ...owner,
          },
        },
      ]);
    } catch (error) {
      if (!(error instanceof MessagesRefusedError)) throw error;
      // Its fields are bounded, so only a broker limit far below Kafka's default gets here:
      // logged, never retried (a retry could not succeed and would hold the partition).
      deps.logger.error(
        { connectionId: checkpoint.connectionId, code: failure.code, alert: 'error_record_too_large' },
        'error record larger than the broker accepts: dropped',
      );
      return;
    }
    publish('errors.produced', { classification: failure.classification });
  }

  function syncService(mode: 'full' | 'incremental') {
    return fromCallback<ConnectionEvent, SyncServiceInput>(({ input, sendBack }) => {
      const controller = new AbortController();
      const { checkpoint, activeSync } = input;
      const started = performance.now();
      // A fresh full sync takes its start token inside the run: its first pages carry it too.
      let startPageToken = activeSync.startPageToken;
      const recordContext = (): RecordContext => ({
        integrationId: deps.integrationId,
        connectionId: checkpoint.connectionId,
        customerId: checkpoint.customerId,
        mode,
        syncId: activeSync.syncId,
        cursor: mode === 'incremental' ? checkpoint.cursor : startPageToken,
        now: now(),
      });
      const drive = createDriveReader({
        api: deps.driveApi,
        tokens: deps.tokens,
        connectionId: checkpoint.connectionId,
        pageSize: deps.pageSize,
        governor: deps.governor,
        signal: controller.signal,
        batchRequests: deps.batchRequests ?? false,
        ...(deps.batchPacer ? { batchPacer: deps.batchPacer } : {}),
      });
      const runDeps: SyncRunDeps = {
        drive,
        records: {
          drive: (drive) => [driveRecord(recordContext(), drive)],
          file: (file, extras) => recordsForListedFile(recordContext(), file, extras),
          change: (change, extras) => recordsForChange(recordContext(), change, extras),
          // Out of scope now (scope narrowed, moved to a drive not synced). A drive that left
          // the scope is gone for the connection with everything in it: the contract's cascade.
          removed: (type, id) => [
            deleteRecord(recordContext(), type, id, type === 'drive' ? { cascade: true } : {}),
          ],
        },
        // A stopped sync (its actor left the state, was stopped or disconnected) publishes nothing more.
        publisher: {
          publish: async (records, correlationId) => {
            if (controller.signal.aborted) throw new Error('sync stopped');
            await publishRecords(records, correlationId, controller.signal);
          },
        },
        slots: deps.slots,
        isRetryable: (error) => failureOf(error).retryable,
        // Once the sync is stopped (its page failed, or the actor left the state) the extras
        // still in flight fail with the abort: that is no failure of theirs to report.
        onExtraFailed: async (fileId, extra, error, attempts) => {
          if (controller.signal.aborted) return;
          const failure = failureOf(error);
          const outcome = extraFailureOutcome(fileId, extra, failure);
          if (!outcome.report) {
            publish('sync.extra_skipped', { extra, reason: outcome.reason });
            return;
          }
          await publishError(checkpoint, failure, outcome.resource, attempts, activeSync.syncId);
        },
        extrasConcurrency: 8,
        itemIsolation: { maxAttempts: deps.itemMaxAttempts ?? DEFAULT_ITEM_MAX_ATTEMPTS },
        chunkItems: deps.chunkItems ?? null,
        content: deps.payloads
          ? createContentAttacher({
              drive,
              store: deps.payloads.store,
              connectionId: checkpoint.connectionId,
              maxInlineBytes: deps.payloads.maxInlineBytes,
              signal: controller.signal,
              settings: {
                exportMimeMap: deps.payloads.exportMimeMap,
                contentMaxBytes: deps.payloads.contentMaxBytes,
              },
            })
          : null,
      };
      const scope: SyncRunScope = {
        connectionId: checkpoint.connectionId,
        correlationId: activeSync.correlationId,
        options: { include: checkpoint.options.include, driveIds: checkpoint.options.driveIds },
        includeSharedDrives: deps.includeSharedDrives,
        scopeFrom: activeSync.scopeFrom ?? null,
        backfill: activeSync.backfill ?? false,
        startedAt: activeSync.startedAt,
      };
      publish('sync.started', { connectionId: checkpoint.connectionId, mode });
      const run =
        mode === 'full'
          ? runFullSync(
              runDeps,
              scope,
              {
                startPageToken: activeSync.startPageToken,
                resume: activeSync.resume,
                counts: activeSync.counts,
                unconfirmed: activeSync.unconfirmed ?? [],
              },
              (p) => {
                startPageToken = p.startPageToken;
                sendBack({
                  type: 'SYNC.PROGRESS',
                  startPageToken: p.startPageToken,
                  resume: p.resume,
                  counts: p.counts,
                  unconfirmed: p.unconfirmed,
                });
              },
              controller.signal,
            )
          : // A quiet connection's first notification reads at once; the rest of a burst
            // settles first, so it costs one more read (channel-quiet.ts).
            notificationQuiet.settle(checkpoint.connectionId, controller.signal).then(() => {
              if (!controller.signal.aborted) sendBack({ type: 'SYNC.READING' });
              return runIncrementalSync(
                runDeps,
                scope,
                checkpoint.cursor ?? '',
                activeSync.counts,
                (p) =>
                  sendBack({
                    type: 'SYNC.PROGRESS',
                    cursor: p.cursor,
                    counts: p.counts,
                    unconfirmed: p.unconfirmed,
                  }),
                controller.signal,
                activeSync.unconfirmed ?? [],
              );
            });
      run
        .then(async (outcome) => {
          if (controller.signal.aborted) return outcome;
          await publishRecords(
            [
              syncCheckpointRecord(recordContext(), {
                syncId: activeSync.syncId,
                mode,
                cursor: outcome.cursor,
                counts: outcome.counts,
                startedAt: activeSync.startedAt,
                finishedAt: now().toISOString(),
              }),
            ],
            activeSync.correlationId,
            controller.signal,
          );
          return outcome;
        })
        .then(
          (outcome) => {
            if (controller.signal.aborted) return;
            publish('sync.finished', {
              connectionId: checkpoint.connectionId,
              mode,
              outcome: 'ok',
              durationMs: performance.now() - started,
            });
            sendBack({ type: 'SYNC.DONE', cursor: outcome.cursor, counts: outcome.counts });
          },
          (error: unknown) => {
            if (controller.signal.aborted) return;
            const failure = failureOf(error);
            deps.logger.warn(
              {
                connectionId: checkpoint.connectionId,
                mode,
                classification: failure.classification,
                code: failure.code,
              },
              'sync failed',
            );
            if (failure.code === 'control_plane_unauthorized') {
              // The control plane refused the worker itself (its mTLS certificate or its
              // authorization), which no user can fix: for the operator's alert, not parking.
              deps.logger.error(
                {
                  alert: 'control_plane_unauthorized',
                  connectionId: checkpoint.connectionId,
                  httpStatus: failure.httpStatus,
                },
                'the control plane refuses this worker: check its client certificate and authorization',
              );
            }
            publish('sync.finished', {
              connectionId: checkpoint.connectionId,
              mode,
              outcome: 'error',
              durationMs: performance.now() - started,
            });
            sendBack({ type: 'SYNC.FAILED', failure });
          },
        );
      return () => controller.abort(new Error('sync stopped'));
    });
  }

  const machine = connectionMachine.provide({
    actors: {
      fullSync: syncService('full'),
      incrementalSync: syncService('incremental'),
      renewChannel: fromPromise<ChannelState, ChannelServiceInput>(async ({ input, signal }) => {
        if (!deps.channels) throw new Error('push channels are not configured');
        return deps.channels.services.renew(input, signal);
      }),
      disconnect: fromPromise<void, { checkpoint: ConnectionCheckpoint }>(async ({ input, signal }) => {
        // The channel first: once the tombstone is written nothing remembers it. A failed
        // stop is logged by the service and the channel ends when it expires.
        const connectionId = input.checkpoint.connectionId;
        notificationQuiet.forget(connectionId);
        await deps.channels?.services.stopForDisconnect(input.checkpoint);
        // Until acknowledged: the disconnect's offset is committed only after it, and a
        // connection without its tombstone would come back on the next restore. Only the
        // actor's stop (its partition revoked) ends the attempts; the next owner redoes it.
        await untilAcknowledged(
          () => deps.forget(connectionId),
          signal,
          ackRetry,
          (error, retryInMs) =>
            deps.logger.warn({ err: error, connectionId, retryInMs }, 'tombstone not acknowledged; retrying'),
        );
      }),
    },
    actions: {
      // Retried until acknowledged; the supervisor writes the state that follows (parked, given
      // up) only after it (`effects`), so the control plane never misses an `auth` record.
      reportError: (_, params) => {
        const connectionId = params.checkpoint.connectionId;
        const life = lives.get(connectionId);
        const stopped = life?.stopped.signal ?? new AbortController().signal;
        const delivery = untilAcknowledged(
          () =>
            publishError(
              params.checkpoint,
              params.failure,
              null,
              params.attempt,
              params.checkpoint.activeSync?.syncId ?? null,
            ),
          stopped,
          ackRetry,
          (error, retryInMs) =>
            deps.logger.warn(
              { err: error, connectionId, retryInMs },
              'error record not acknowledged; retrying',
            ),
        ).catch((error: unknown) =>
          deps.logger.warn({ err: error, connectionId }, 'error record dropped: the actor stopped'),
        );
        if (!life) return;
        life.effects.add(delivery);
        void delivery.finally(() => life.effects.delete(delivery));
      },
      syncCompleted: (_, params) => {
        deps.logger.info(
          { connectionId: params.checkpoint.connectionId, lastSync: params.checkpoint.lastSync },
          'sync completed',
        );
      },
    },
  });

  return {
    held: () => ({ actors: lives.size, notificationSpells: notificationQuiet.size }),
    create(checkpoint) {
      const input: ConnectionInput = {
        checkpoint,
        env: { now, random: Math.random, newSyncId: randomUUID },
        maxAttempts: deps.maxAttempts,
        channelsEnabled: Boolean(deps.channels),
        channelRenewMarginMs: deps.channels?.renewMarginMs ?? DEFAULT_CHANNEL_RENEW_MARGIN_MS,
      };
      let lastEvent = 'xstate.init';
      let root: AnyActorRef | null = null;
      const life = { effects: new Set<Promise<void>>(), stopped: new AbortController() };
      lives.get(checkpoint.connectionId)?.stopped.abort();
      lives.set(checkpoint.connectionId, life);
      const endLife = () => {
        life.stopped.abort();
        if (lives.get(checkpoint.connectionId) !== life) return;
        lives.delete(checkpoint.connectionId);
        // Out of memory now (evicted, revoked, ended): what it heard is moot.
        notificationQuiet.forget(checkpoint.connectionId);
      };
      const actor = createActor(machine, {
        input,
        inspect: (inspection) => {
          try {
            if (inspection.type === '@xstate.event' && root !== null && inspection.actorRef === root) {
              lastEvent = inspection.event.type;
            }
          } catch {
            // An inspector that throws would break the actor (STYLE.md): never let it.
          }
        },
      });
      root = actor;
      const listeners: Array<(t: TransitionRecord) => void> = [];
      let previous = stateNameOf(actor.getSnapshot());
      let done: () => void = () => undefined;
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      // Webhook-to-record latency: from the first notification not yet served to the end of
      // the incremental run that served it (its records acknowledged by then).
      let webhookHeardAt: number | null = null;
      let servingWebhookSince: number | null = null;
      const reportTransition = (transition: TransitionRecord, backoff: ConnectionCheckpoint['backoff']) => {
        if (transition.to === 'backing-off' && transition.from !== 'backing-off' && backoff) {
          publish('sync.backoff', {
            classification: backoff.classification,
            delayMs: Math.max(0, Date.parse(backoff.until) - now().getTime()),
          });
        }
        if (transition.to === 'incremental' && transition.from !== 'incremental' && webhookHeardAt !== null) {
          servingWebhookSince = webhookHeardAt;
          webhookHeardAt = null;
        }
        if (transition.from === 'incremental' && transition.to !== 'incremental') {
          if (transition.event === 'SYNC.DONE' && servingWebhookSince !== null)
            publish('webhook.latency', { seconds: (performance.now() - servingWebhookSince) / 1000 });
          if (transition.to !== 'backing-off') servingWebhookSince = null;
        }
      };
      actor.subscribe({
        next: (snapshot) => {
          const to = stateNameOf(snapshot);
          const transition: TransitionRecord = {
            at: now().toISOString(),
            from: previous,
            to,
            event: lastEvent,
          };
          previous = to;
          reportTransition(transition, snapshot.context.backoff);
          for (const listener of listeners) listener(transition);
          if (snapshot.status === 'done') {
            endLife();
            done();
          }
        },
        error: (error) => {
          deps.logger.error({ err: error, connectionId: checkpoint.connectionId }, 'connection actor failed');
          endLife();
          done();
        },
      });
      actor.start();
      const handle: ConnectionActorHandle<ConnectionEvent> = {
        send: (event) => {
          if (event.type === 'WEBHOOK_CHANGE') {
            notificationQuiet.heard(checkpoint.connectionId);
            webhookHeardAt ??= performance.now();
          }
          actor.send(event);
        },
        state: () => stateNameOf(actor.getSnapshot()),
        checkpoint: () => checkpointOf(actor.getSnapshot().context),
        isDone: () => actor.getSnapshot().status === 'done',
        onTransition: (listener) => listeners.push(listener),
        whenDone: () => finished,
        effects: async () => {
          while (life.effects.size > 0) await Promise.all([...life.effects]);
        },
        stop: () => {
          endLife();
          actor.stop();
          done();
        },
      };
      return handle;
    },
  };
}
