import { assign, fromCallback, fromPromise, type SnapshotFrom, setup } from 'xstate';
import type {
  ActiveSync,
  ChannelRetry,
  ChannelState,
  ConnectionCheckpoint,
  FullSyncResume,
  PendingRun,
  SyncCounts,
} from '../contract/checkpoint.js';
import type { IncludeKind } from '../contract/inbound.js';
import type { SyncMode } from '../contract/records.js';
import { BACKOFF_CAP_MS, type BackoffPolicy, DEFAULT_MAX_ATTEMPTS, nextBackoff } from './backoff.js';
import { ClassifiedError, type ClassifiedFailure } from './classify.js';
import { applyOptionsUpdate, scopeChangeNeedsRun } from './scope-change.js';

/**
 * One connection's life (issue 5): idle, full-syncing, incremental, backing-off,
 * channel-renewing, parked for lost authorization, disconnecting at the end.
 *
 * Pure: every service is a placeholder here and arrives through `.provide()`; time,
 * randomness and sync ids come from the input's `env`. The context is the persisted
 * checkpoint plus a few transient fields, so `checkpointOf` is a projection, and an actor
 * created from a restored checkpoint resumes from what was persisted — deadlines included,
 * which invoked `waitUntil` actors await, because XState does not re-arm `after` timers on
 * restored actors (STYLE.md).
 *
 * Choices worth knowing:
 * - `restoring` checks an unexpired backoff before an active sync, so a restart during a
 *   backoff keeps waiting instead of hammering Drive at once.
 * - TRIGGER and WEBHOOK_CHANGE are handled at the root: in every state they set `pending`
 *   (full wins over incremental; many requests make one run), and `idle` starts the pending
 *   run as soon as it is entered — after renewing a channel that is due, if any. `parked`
 *   and `disconnecting` override them.
 * - The error record for lost authorization is reported on the transition into `parked`,
 *   not in its entry action, so restoring a parked connection does not report it again.
 * - The sync_checkpoint record is produced by the sync service before it sends SYNC.DONE
 *   (it must be acknowledged before the cursor is persisted); `syncCompleted` only
 *   announces the finished sync.
 * - A failed channel renewal does not block syncing: the channel is dropped, the connection
 *   stays reachable by triggers (polling), and the renewal is retried at a deadline kept in
 *   `channelRetry` (persisted, so an evicted or restarted connection keeps the pace). How soon
 *   depends on the failure (`channelFailureKind`): a busy or rate-limited Drive within a
 *   minute; a watch refused for good (an address Drive will not call, a bad request) hours
 *   later, reported once per streak, since thousands of such connections retrying every
 *   minute would spend the project's quota; lost authorization parks the connection.
 */

export interface ConnectionEnv {
  now(): Date;
  /** [0, 1), for backoff jitter. */
  random(): number;
  newSyncId(): string;
}

export interface ConnectionInput {
  readonly checkpoint: ConnectionCheckpoint;
  readonly env: ConnectionEnv;
  /** Retries of one sync before it gives up with an error record; default 8. */
  readonly maxAttempts?: number;
  /** Push channels are configured (an address and a token key); default false. */
  readonly channelsEnabled?: boolean;
  /** Renew a channel this long before it expires (at most 10% of its life); default one hour. */
  readonly channelRenewMarginMs?: number;
}

export const DEFAULT_CHANNEL_RENEW_MARGIN_MS = 3_600_000;

export type { ChannelRetry };

/** A watch refused for good is tried again after this long (plus up to 10% jitter). */
export const CHANNEL_REFUSED_RETRY_MS = 6 * 3_600_000;
const CHANNEL_REFUSED_JITTER_SHARE = 0.1;

export type ChannelFailureKind = 'transient' | 'refused' | 'auth';

/** What a failed channel renewal means for the next one (see the header). */
export function channelFailureKind(failure: ClassifiedFailure): ChannelFailureKind {
  if (failure.classification === 'auth') return 'auth';
  return failure.retryable ? 'transient' : 'refused';
}

export interface ConnectionContext extends ConnectionCheckpoint {
  readonly env: ConnectionEnv;
  readonly maxAttempts: number;
  readonly channelsEnabled: boolean;
  readonly channelRenewMarginMs: number;
  readonly channelRetry: ChannelRetry | null;
  /** The last failure, shown by the state endpoint; not persisted. */
  readonly lastFailure: ClassifiedFailure | null;
  /** The sync that just finished, for `syncCompleted`; not persisted (`lastSync` is). */
  readonly completed: CompletedSync | null;
  /**
   * `pending` itself (the same object) while only change notifications asked for it, so a
   * read that starts after them serves it (SYNC.READING); not persisted: a restored pending
   * run always runs.
   */
  readonly webhookPending: PendingRun | null;
}

export interface CompletedSync {
  readonly syncId: string;
  readonly mode: SyncMode;
  readonly cursor: string;
  readonly counts: SyncCounts;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly correlationId: string | null;
}

export type TriggerEvent = {
  readonly type: 'TRIGGER';
  readonly triggerType: 'full_sync' | 'incremental' | 'poll';
  /** `message_id` of the trigger: the records' `correlation-id`. */
  readonly correlationId: string | null;
  /** Absent: the connection keeps its saved `include` (options persist between triggers). */
  readonly include?: readonly IncludeKind[] | undefined;
  /** Absent: the saved drives are kept; null: My Drive and every shared drive. */
  readonly driveIds?: readonly string[] | null | undefined;
  /** The trigger's `last_cursor.page_token`, used only when the connection has no cursor of its own. */
  readonly lastCursor: string | null;
};

/** Sent by the sync services after each page whose records Kafka acknowledged. */
export type SyncProgressEvent = {
  readonly type: 'SYNC.PROGRESS';
  /** Full sync: the changes token taken before the walk (sent with the first progress). */
  readonly startPageToken?: string;
  /** Full sync: where the walk resumes. */
  readonly resume?: FullSyncResume;
  /** Incremental sync: the token after the page just made durable. */
  readonly cursor?: string;
  /** Totals of the sync so far (not increments). */
  readonly counts: SyncCounts;
  /** Listed items the change log has not spoken of yet (unconfirmed-items.ts). */
  readonly unconfirmed?: readonly string[];
};

export type SyncDoneEvent = {
  readonly type: 'SYNC.DONE';
  readonly cursor: string;
  readonly counts: SyncCounts;
};
export type SyncFailedEvent = { readonly type: 'SYNC.FAILED'; readonly failure: ClassifiedFailure };
/**
 * Sent by the incremental service right before its first read of the change log: a run
 * only notifications asked for meanwhile is served by that read (Drive notifies after the
 * change is in the log), so it is dropped.
 */
export type SyncReadingEvent = { readonly type: 'SYNC.READING' };

export type ConnectionEvent =
  | TriggerEvent
  | { readonly type: 'WEBHOOK_CHANGE'; readonly correlationId: string | null }
  /** A channel's `sync` notification: it only confirms the channel, nothing is fetched. */
  | { readonly type: 'WEBHOOK_SYNC' }
  | { readonly type: 'DISCONNECT'; readonly correlationId: string | null }
  /** The control plane has working credentials again: leave `parked`. */
  | { readonly type: 'CREDENTIALS_REFRESHED' }
  | SyncProgressEvent
  | SyncDoneEvent
  | SyncFailedEvent
  | SyncReadingEvent
  /** Sent by `waitUntil` when its deadline is reached. */
  | { readonly type: 'DEADLINE' };

/** Events a sync service sends back to the machine. */
export type SyncServiceEvent = SyncProgressEvent | SyncDoneEvent | SyncFailedEvent | SyncReadingEvent;

/** What a sync service is started with: the persisted state it resumes from. */
export interface SyncServiceInput {
  readonly checkpoint: ConnectionCheckpoint;
  /** Full: resume from `resume` (null: from the start, taking a start token first). Incremental: from `checkpoint.cursor`. */
  readonly activeSync: ActiveSync;
}

export interface WaitUntilInput {
  /** Epoch ms; null waits forever. */
  readonly until: number | null;
  /** The machine's clock at invocation (epoch ms). */
  readonly now: number;
}

export interface ChannelServiceInput {
  readonly checkpoint: ConnectionCheckpoint;
  /** The channel being replaced (to stop once the new one is open), or null. */
  readonly channel: ChannelState | null;
}

export interface DisconnectInput {
  readonly checkpoint: ConnectionCheckpoint;
}

export interface ReportErrorParams {
  readonly failure: ClassifiedFailure;
  /** Attempts made: 1 for a failure reported at once, the retries made when giving up. */
  readonly attempt: number;
  readonly checkpoint: ConnectionCheckpoint;
}

export interface SyncCompletedParams {
  readonly summary: CompletedSync;
  /** The checkpoint after the sync (cursor set, `lastSync` filled, no active sync). */
  readonly checkpoint: ConnectionCheckpoint;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const persistedKeys = [
  'version',
  'connectionId',
  'customerId',
  'cursor',
  'options',
  'scopeFrom',
  'activeSync',
  'pending',
  'backoff',
  'channel',
  'channelRetry',
  'parked',
  'lastSync',
  'updatedAt',
] as const satisfies ReadonlyArray<keyof ConnectionCheckpoint>;

const optionalKeys = ['scopeFrom', 'channelRetry'] as const satisfies ReadonlyArray<
  keyof ConnectionCheckpoint
>;

/** The persisted part of a context or snapshot: what the state topic stores. */
export function checkpointOf(
  from: ConnectionContext | { readonly context: ConnectionContext },
): ConnectionCheckpoint {
  const context: ConnectionContext = 'context' in from ? from.context : from;
  const out: Record<string, unknown> = {};
  for (const key of persistedKeys) out[key] = context[key];
  // Optional fields are left out when empty, so a checkpoint written before they existed
  // reads back as unchanged and is not rewritten.
  for (const key of optionalKeys) if (out[key] === null || out[key] === undefined) delete out[key];
  return out as unknown as ConnectionCheckpoint;
}

function newActiveSync(context: ConnectionContext, mode: SyncMode, correlationId: string | null): ActiveSync {
  return {
    syncId: context.env.newSyncId(),
    mode,
    startedAt: context.env.now().toISOString(),
    correlationId,
    startPageToken: null,
    resume: null,
    counts: {},
  };
}

const nowMs = (context: ConnectionContext) => context.env.now().getTime();

/** How many retries a failed sync gets: `maxAttempts`, or no limit while Kafka itself is away. */
function retryPolicyFor(context: ConnectionContext, failure: ClassifiedFailure): BackoffPolicy {
  return {
    maxAttempts: failure.retryWithoutLimit ? Number.POSITIVE_INFINITY : context.maxAttempts,
    capMs: BACKOFF_CAP_MS,
  };
}

function backoffActive(context: ConnectionContext): boolean {
  return context.backoff !== null && new Date(context.backoff.until).getTime() > nowMs(context);
}

/** Renew at most this share of a channel's life before it expires (see channelDueAt). */
const RENEW_MARGIN_MAX_SHARE = 0.1;

/**
 * When the channel is renewed: `channelRenewMarginMs` before it expires, but never earlier
 * than 90% into its life. Drive may grant less than was asked for (its cap, or a short
 * lifetime in tests); a flat margin longer than that life would renew the new channel at
 * once, again and again. With the defaults (one week, one hour) the flat margin applies.
 */
function channelDueAt(channel: ChannelState | null, renewMarginMs: number): number | null {
  if (!channel) return null;
  const expiration = new Date(channel.expiration).getTime();
  const lifetime = expiration - new Date(channel.openedAt).getTime();
  const margin = lifetime > 0 ? Math.min(renewMarginMs, lifetime * RENEW_MARGIN_MAX_SHARE) : renewMarginMs;
  return expiration - margin;
}

/** The next moment idle must act on its own: a channel to renew, or a failed renewal to retry. */
function idleDeadline(context: ConnectionContext): number | null {
  if (!context.channelsEnabled) return null;
  if (context.channelRetry) return new Date(context.channelRetry.until).getTime();
  return channelDueAt(context.channel, context.channelRenewMarginMs);
}

/**
 * The next moment a connection acts without being sent anything (a backoff ending, a
 * channel to renew or a renewal to retry), from its checkpoint alone; null when it only
 * ever acts on a message. A supervisor that evicted the connection's actor wakes it then.
 */
export function ownDeadlineOf(
  checkpoint: ConnectionCheckpoint,
  channels: { readonly enabled: boolean; readonly renewMarginMs: number },
): number | null {
  const deadlines: number[] = [];
  if (checkpoint.backoff) deadlines.push(new Date(checkpoint.backoff.until).getTime());
  if (channels.enabled && checkpoint.cursor !== null && checkpoint.parked === null) {
    const retry = checkpoint.channelRetry ?? null;
    const due = retry
      ? new Date(retry.until).getTime()
      : channelDueAt(checkpoint.channel, channels.renewMarginMs);
    // No channel and no retry: the connection opens one as soon as it is resident again.
    deadlines.push(due ?? 0);
  }
  return deadlines.length > 0 ? Math.min(...deadlines) : null;
}

function unexpectedFailure(error: unknown, service: string): ClassifiedFailure {
  return {
    classification: 'internal',
    code: 'internal_error',
    // Only the error's class: a raw message could carry anything (STYLE.md: no secrets).
    message: `${service} stopped unexpectedly (${error instanceof Error ? error.name : typeof error})`,
    retryable: false,
    httpStatus: null,
    retryAfterMs: null,
    cursorInvalid: false,
  };
}

type ActionArgs = { context: ConnectionContext; event: ConnectionEvent | { type: string; error?: unknown } };

function failureOfEvent(event: ActionArgs['event']): ClassifiedFailure {
  if (event.type === 'SYNC.FAILED' && 'failure' in event) return event.failure;
  const error = 'error' in event ? event.error : undefined;
  // The adapters in src/io classify what they throw; anything else is a fault of ours.
  if (error instanceof ClassifiedError) return error.failure;
  const service =
    event.type === 'xstate.error.actor.renewChannel' ? 'the channel renewal' : 'the sync service';
  return unexpectedFailure(error, service);
}

function channelFailureKindOf(event: ActionArgs['event']): ChannelFailureKind {
  return channelFailureKind(failureOfEvent(event));
}

/** An error record for the failure that ends a sync (given up, lost authorization, a crashed service). */
const reportFailure = {
  type: 'reportError',
  params: ({ context, event }: ActionArgs): ReportErrorParams => ({
    failure: failureOfEvent(event),
    attempt: Math.max(1, context.backoff?.attempt ?? 1),
    checkpoint: checkpointOf(context),
  }),
} as const;

/** An error record for a channel renewal refused for good, or refused for lost authorization. */
const reportChannelFailure = {
  type: 'reportError',
  params: ({ context, event }: ActionArgs): ReportErrorParams => ({
    failure: failureOfEvent(event),
    attempt: (context.channelRetry?.attempt ?? 0) + 1,
    checkpoint: checkpointOf(context),
  }),
} as const;

/** Runs after `completeSync`, which left the finished sync in `completed`. */
const announceCompletion = {
  type: 'syncCompleted',
  params: ({ context }: { context: ConnectionContext }): SyncCompletedParams => ({
    summary: context.completed as CompletedSync,
    checkpoint: checkpointOf(context),
  }),
} as const;

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: {
    /** Walks everything in scope from `activeSync.resume`; sends SYNC.PROGRESS per durable page, then SYNC.DONE or SYNC.FAILED. */
    fullSync: fromCallback<ConnectionEvent, SyncServiceInput>(() => () => undefined),
    /** Reads the changes log from `checkpoint.cursor`; same events as fullSync. */
    incrementalSync: fromCallback<ConnectionEvent, SyncServiceInput>(() => () => undefined),
    /**
     * Sends DEADLINE at `until`. Restarts with the actor, so deadlines survive restores.
     * Long waits are chained, since timers cap at ~24.8 days. Real timers: tests use fake ones.
     */
    waitUntil: fromCallback<ConnectionEvent, WaitUntilInput>(({ input, sendBack }) => {
      if (input.until === null) return () => undefined;
      const deadline = input.until;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = (now: number) => {
        const remaining = deadline - now;
        if (remaining <= 0) {
          sendBack({ type: 'DEADLINE' });
          return;
        }
        const step = Math.min(remaining, MAX_TIMER_MS);
        timer = setTimeout(() => arm(now + step), step);
      };
      arm(input.now);
      return () => clearTimeout(timer);
    }),
    /** Opens a new changes channel (stopping `channel` if any); resolves with it. */
    renewChannel: fromPromise<ChannelState, ChannelServiceInput>(async () => {
      throw new Error('renewChannel is not provided');
    }),
    /** Stops the channel and writes the checkpoint's tombstone. */
    disconnect: fromPromise<void, DisconnectInput>(async () => undefined),
  },
  actions: {
    /** Produces one error record for the failure. */
    reportError: (_, _params: ReportErrorParams) => undefined,
    /** Announces a finished sync (metrics, logs); its sync_checkpoint record was already published. */
    syncCompleted: (_, _params: SyncCompletedParams) => undefined,
    stamp: assign({ updatedAt: ({ context }) => context.env.now().toISOString() }),
    requestRun: assign(({ context, event }) => {
      if (event.type !== 'TRIGGER' && event.type !== 'WEBHOOK_CHANGE') return {};
      const mode: SyncMode =
        event.type === 'TRIGGER' && event.triggerType === 'full_sync' ? 'full' : 'incremental';
      const pendingMode: SyncMode =
        context.pending?.mode === 'full' || mode === 'full' ? 'full' : 'incremental';
      // The first request of a coalesced run names it; later ones join it.
      const correlationId = context.pending ? context.pending.correlationId : event.correlationId;
      if (event.type === 'WEBHOOK_CHANGE') {
        const pending = { mode: pendingMode, correlationId };
        const onlyWebhooks = context.pending === null || context.pending === context.webhookPending;
        return { pending, webhookPending: onlyWebhooks ? pending : context.webhookPending };
      }
      const options = applyOptionsUpdate(context.options, {
        include: event.include,
        driveIds: event.driveIds,
      });
      // Records made with the old options exist, or are being made: the change of scope is
      // remembered from the first one (what the records reflect) until a backfill or a full
      // sync serves it; options changed back make none.
      const recordsExist = context.cursor !== null || context.activeSync !== null;
      const from = context.scopeFrom ?? (recordsExist ? context.options : null);
      const scopeFrom = from !== null && scopeChangeNeedsRun(from, options) ? from : null;
      return {
        pending: { mode: pendingMode, correlationId },
        options: { include: [...options.include], driveIds: options.driveIds ? [...options.driveIds] : null },
        scopeFrom,
        cursor: context.cursor ?? event.lastCursor,
      };
    }),
    // A full sync given up on keeps its resume point: the next run continues it.
    beginSyncFull: assign(({ context }) => ({
      activeSync: {
        // A full sync given up on resumes (a backfill does not: a full sync covers it).
        ...(context.activeSync?.mode === 'full' && !context.activeSync.backfill
          ? context.activeSync
          : newActiveSync(context, 'full', context.pending?.correlationId ?? null)),
        // A full sync walks the whole new scope; what left it still gets its deletes.
        ...((context.scopeFrom ?? context.activeSync?.scopeFrom)
          ? { scopeFrom: context.scopeFrom ?? context.activeSync?.scopeFrom }
          : {}),
      },
      pending: null,
      scopeFrom: null,
    })),
    /** Walks only what the scope gained, then reads the change log from the cursor. */
    beginBackfill: assign(({ context }) => ({
      activeSync: {
        ...newActiveSync(context, 'full', context.pending?.correlationId ?? null),
        startPageToken: context.cursor,
        scopeFrom: context.scopeFrom ?? null,
        backfill: true,
      },
      // Its catch-up from the cursor is the incremental run that was asked for.
      pending: context.pending?.mode === 'incremental' ? null : context.pending,
      scopeFrom: null,
    })),
    /** The read starting now serves a run only notifications asked for (see SyncReadingEvent). */
    serveNotifiedRun: assign(({ context }) =>
      context.pending !== null &&
      context.pending === context.webhookPending &&
      context.pending.mode === 'incremental'
        ? { pending: null, webhookPending: null }
        : {},
    ),
    beginSyncIncremental: assign(({ context }) => ({
      activeSync: newActiveSync(context, 'incremental', context.pending?.correlationId ?? null),
      pending: null,
    })),
    recordProgress: assign(({ context, event }) => {
      if (event.type !== 'SYNC.PROGRESS' || !context.activeSync) return {};
      return {
        activeSync: {
          ...context.activeSync,
          startPageToken: event.startPageToken ?? context.activeSync.startPageToken,
          resume: event.resume ?? context.activeSync.resume,
          counts: { ...event.counts },
          ...(event.unconfirmed ? { unconfirmed: [...event.unconfirmed] } : {}),
        },
        cursor: event.cursor ?? context.cursor,
        // A durable page proves the connection healthy again: the next failure starts over.
        backoff: null,
      };
    }),
    completeSync: assign(({ context, event }) => {
      if (event.type !== 'SYNC.DONE' || !context.activeSync) return {};
      const sync = context.activeSync;
      const finishedAt = context.env.now().toISOString();
      return {
        cursor: event.cursor,
        lastSync: { syncId: sync.syncId, mode: sync.mode, finishedAt, counts: { ...event.counts } },
        completed: {
          syncId: sync.syncId,
          mode: sync.mode,
          cursor: event.cursor,
          counts: { ...event.counts },
          startedAt: sync.startedAt,
          finishedAt,
          correlationId: sync.correlationId,
        },
        activeSync: null,
        backoff: null,
        lastFailure: null,
      };
    }),
    /** The cursor was refused: a new full sync, which takes a fresh start token first. */
    restartFull: assign(({ context, event }) => ({
      cursor: null,
      activeSync: {
        ...newActiveSync(context, 'full', context.activeSync?.correlationId ?? null),
        ...(context.activeSync?.scopeFrom ? { scopeFrom: context.activeSync.scopeFrom } : {}),
      },
      backoff: null,
      lastFailure: event.type === 'SYNC.FAILED' ? event.failure : context.lastFailure,
    })),
    park: assign(({ context, event }) => {
      const failure = failureOfEvent(event);
      return {
        parked: { reason: failure.code, since: context.env.now().toISOString() },
        // The interrupted run is remembered; it runs once credentials work again (a backfill
        // as its change of scope and the incremental run it served).
        pending: context.activeSync
          ? {
              mode: context.activeSync.backfill ? 'incremental' : context.activeSync.mode,
              correlationId: context.activeSync.correlationId,
            }
          : context.pending,
        scopeFrom: context.activeSync?.scopeFrom ?? context.scopeFrom ?? null,
        activeSync: null,
        backoff: null,
        // Once unparked, a channel that failed is renewed at once.
        channelRetry: null,
        lastFailure: failure,
      };
    }),
    unpark: assign({ parked: null }),
    scheduleBackoff: assign(({ context, event }) => {
      if (event.type !== 'SYNC.FAILED') return {};
      const decision = nextBackoff(
        context.backoff?.attempt ?? 0,
        event.failure.retryAfterMs,
        context.env.random,
        retryPolicyFor(context, event.failure),
      );
      if (decision.kind === 'give_up') return {};
      return {
        backoff: {
          attempt: decision.attempt,
          until: new Date(nowMs(context) + decision.delayMs).toISOString(),
          reason: event.failure.code,
          classification: event.failure.classification,
        },
        lastFailure: event.failure,
      };
    }),
    // A full sync keeps where its walk got to (and its start token), so the next trigger
    // resumes it instead of walking everything again after an outage.
    giveUp: assign(({ context, event }) => ({
      // A backfill is not kept: its change of scope stays owed and the next trigger runs it.
      activeSync:
        context.activeSync?.mode === 'full' && !context.activeSync.backfill ? context.activeSync : null,
      scopeFrom: context.activeSync?.backfill
        ? (context.activeSync.scopeFrom ?? context.scopeFrom ?? null)
        : (context.scopeFrom ?? null),
      backoff: null,
      lastFailure: event.type === 'SYNC.FAILED' ? event.failure : context.lastFailure,
    })),
    abandonSync: assign(({ context }) => ({
      activeSync: null,
      backoff: null,
      scopeFrom: context.activeSync?.scopeFrom ?? context.scopeFrom ?? null,
    })),
    // Drive delays notifications and drops those of a stopped channel, so a change made just
    // before the new channel opened may never be announced: one run from the cursor reads it.
    catchUpAfterChannelChange: assign(({ context }) =>
      context.cursor === null || context.pending !== null
        ? {}
        : { pending: { mode: 'incremental' as const, correlationId: null } },
    ),
    keepChannel: assign(({ event }) =>
      'output' in event ? { channel: event.output as ChannelState, channelRetry: null } : {},
    ),
    scheduleChannelRetry: assign(({ context, event }) => {
      const attempt = (context.channelRetry?.attempt ?? 0) + 1;
      const refused = channelFailureKindOf(event) === 'refused';
      // Unbounded attempts: polling covers the connection meanwhile. Refusals are spread
      // over a tenth of their delay, so a fleet misconfigured at once does not retry at once.
      const decision = nextBackoff(Math.min(attempt - 1, 30), null, context.env.random, {
        maxAttempts: Number.POSITIVE_INFINITY,
        capMs: BACKOFF_CAP_MS,
      });
      const delay = refused
        ? CHANNEL_REFUSED_RETRY_MS * (1 + CHANNEL_REFUSED_JITTER_SHARE * context.env.random())
        : decision.kind === 'retry'
          ? decision.delayMs
          : BACKOFF_CAP_MS;
      return {
        channel: null,
        channelRetry: { attempt, until: new Date(nowMs(context) + delay).toISOString(), refused },
        lastFailure: failureOfEvent(event),
      };
    }),
  },
  guards: {
    resumeFull: ({ context }) => context.activeSync?.mode === 'full',
    resumeIncremental: ({ context }) => context.activeSync?.mode === 'incremental',
    waitingOutBackoff: ({ context }) => backoffActive(context),
    isParked: ({ context }) => context.parked !== null,
    pendingFull: ({ context }) =>
      context.pending !== null &&
      (context.pending.mode === 'full' || context.cursor === null || context.activeSync?.mode === 'full'),
    pendingIncremental: ({ context }) => context.pending !== null,
    /** A change of scope waits, the connection has a cursor to catch up from, and a run was asked for. */
    pendingBackfill: ({ context }) =>
      (context.scopeFrom ?? null) !== null && context.cursor !== null && context.pending !== null,
    needsChannel: ({ context }) => {
      if (!context.channelsEnabled || context.cursor === null) return false;
      const due = idleDeadline(context);
      if (context.channelRetry) return (due ?? 0) <= nowMs(context);
      return context.channel === null || (due ?? 0) <= nowMs(context);
    },
    hasIdleDeadline: ({ context }) => idleDeadline(context) !== null,
    channelAuthLost: ({ event }) => channelFailureKindOf(event) === 'auth',
    channelRefused: ({ event }) => channelFailureKindOf(event) === 'refused',
    /** Refused again after a refusal: already reported. */
    channelStillRefused: ({ context, event }) =>
      channelFailureKindOf(event) === 'refused' && context.channelRetry?.refused === true,
    cursorRefused: ({ event }) => event.type === 'SYNC.FAILED' && event.failure.cursorInvalid,
    authLost: ({ event }) => event.type === 'SYNC.FAILED' && event.failure.classification === 'auth',
    // The control plane does not know a connection that never synced: nothing of it is kept
    // (a parked actor and its checkpoint per junk id would grow without bound). One that
    // synced before is parked instead: its cursor is worth keeping for a reconnect. A cursor
    // that only came with the trigger (`last_cursor`) does not count: the platform holds it
    // and sends it again, and a junk trigger may carry one.
    unknownNeverSynced: ({ context, event }) =>
      event.type === 'SYNC.FAILED' &&
      event.failure.code === 'unknown_connection' &&
      context.lastSync === null,
    worthRetrying: ({ context, event }) =>
      event.type === 'SYNC.FAILED' &&
      event.failure.retryable &&
      nextBackoff(context.backoff?.attempt ?? 0, null, () => 0, retryPolicyFor(context, event.failure))
        .kind === 'retry',
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    ...input.checkpoint,
    env: input.env,
    maxAttempts: input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    channelsEnabled: input.channelsEnabled ?? false,
    channelRenewMarginMs: input.channelRenewMarginMs ?? DEFAULT_CHANNEL_RENEW_MARGIN_MS,
    channelRetry: input.checkpoint.channelRetry ?? null,
    lastFailure: null,
    completed: null,
    webhookPending: null,
  }),
  initial: 'restoring',
  on: {
    // Whatever the state, a request to sync is remembered, and many requests make one run.
    TRIGGER: { actions: ['requestRun', 'stamp'] },
    WEBHOOK_CHANGE: { actions: ['requestRun', 'stamp'] },
    WEBHOOK_SYNC: {},
    // Leaving the current state stops its invoked actors, the running sync included.
    DISCONNECT: { target: '.disconnecting' },
  },
  states: {
    restoring: {
      always: [
        { guard: 'waitingOutBackoff', target: 'backing-off' },
        { guard: 'resumeFull', target: 'full-syncing' },
        { guard: 'resumeIncremental', target: 'incremental' },
        { guard: 'isParked', target: 'parked' },
        // idle starts a pending run itself.
        { target: 'idle' },
      ],
    },
    idle: {
      always: [
        // A due channel first: renewing is one watch call, and a connection whose
        // notifications never stop always has a run pending, so it would never renew.
        { guard: 'needsChannel', target: 'channel-renewing' },
        { guard: 'pendingFull', target: 'full-syncing', actions: ['beginSyncFull', 'stamp'] },
        { guard: 'pendingBackfill', target: 'full-syncing', actions: ['beginBackfill', 'stamp'] },
        { guard: 'pendingIncremental', target: 'incremental', actions: ['beginSyncIncremental', 'stamp'] },
      ],
      invoke: {
        id: 'idleDeadline',
        src: 'waitUntil',
        input: ({ context }) => ({ until: idleDeadline(context), now: nowMs(context) }),
        // A timer that cannot be armed: channels fall back to polling until the next trigger.
        onError: { actions: 'stamp' },
      },
      on: { DEADLINE: { guard: 'hasIdleDeadline', target: 'channel-renewing' } },
    },
    'full-syncing': {
      invoke: {
        id: 'fullSync',
        src: 'fullSync',
        input: ({ context }) => ({
          checkpoint: checkpointOf(context),
          activeSync: context.activeSync as ActiveSync,
        }),
        onError: { target: 'idle', actions: [reportFailure, 'abandonSync', 'stamp'] },
      },
      on: {
        'SYNC.PROGRESS': { actions: ['recordProgress', 'stamp'] },
        'SYNC.DONE': { target: 'idle', actions: ['completeSync', 'stamp', announceCompletion] },
        'SYNC.FAILED': [
          {
            guard: 'cursorRefused',
            target: 'full-syncing',
            reenter: true,
            actions: ['restartFull', 'stamp'],
          },
          { guard: 'unknownNeverSynced', target: 'disconnecting', actions: [reportFailure, 'stamp'] },
          { guard: 'authLost', target: 'parked', actions: [reportFailure, 'park', 'stamp'] },
          { guard: 'worthRetrying', target: 'backing-off', actions: ['scheduleBackoff', 'stamp'] },
          { target: 'idle', actions: [reportFailure, 'giveUp', 'stamp'] },
        ],
      },
    },
    incremental: {
      invoke: {
        id: 'incrementalSync',
        src: 'incrementalSync',
        input: ({ context }) => ({
          checkpoint: checkpointOf(context),
          activeSync: context.activeSync as ActiveSync,
        }),
        onError: { target: 'idle', actions: [reportFailure, 'abandonSync', 'stamp'] },
      },
      on: {
        'SYNC.PROGRESS': { actions: ['recordProgress', 'stamp'] },
        'SYNC.READING': { actions: ['serveNotifiedRun', 'stamp'] },
        'SYNC.DONE': { target: 'idle', actions: ['completeSync', 'stamp', announceCompletion] },
        'SYNC.FAILED': [
          { guard: 'cursorRefused', target: 'full-syncing', actions: ['restartFull', 'stamp'] },
          { guard: 'unknownNeverSynced', target: 'disconnecting', actions: [reportFailure, 'stamp'] },
          { guard: 'authLost', target: 'parked', actions: [reportFailure, 'park', 'stamp'] },
          { guard: 'worthRetrying', target: 'backing-off', actions: ['scheduleBackoff', 'stamp'] },
          { target: 'idle', actions: [reportFailure, 'giveUp', 'stamp'] },
        ],
      },
    },
    'backing-off': {
      invoke: {
        id: 'backoffDeadline',
        src: 'waitUntil',
        input: ({ context }) => ({
          until: context.backoff ? new Date(context.backoff.until).getTime() : nowMs(context),
          now: nowMs(context),
        }),
        // Without a timer the wait cannot end by itself: resume now rather than hang.
        onError: [
          { guard: 'resumeFull', target: 'full-syncing' },
          { guard: 'resumeIncremental', target: 'incremental' },
          { target: 'idle' },
        ],
      },
      on: {
        // Back to the interrupted state, which resumes from the last durable page.
        DEADLINE: [
          { guard: 'resumeFull', target: 'full-syncing' },
          { guard: 'resumeIncremental', target: 'incremental' },
          { target: 'idle' },
        ],
      },
    },
    'channel-renewing': {
      invoke: {
        id: 'renewChannel',
        src: 'renewChannel',
        input: ({ context }) => ({ checkpoint: checkpointOf(context), channel: context.channel }),
        onDone: { target: 'idle', actions: ['keepChannel', 'catchUpAfterChannelChange', 'stamp'] },
        // Polling stays the fallback: the connection syncs on triggers without a channel.
        onError: [
          { guard: 'channelAuthLost', target: 'parked', actions: [reportChannelFailure, 'park', 'stamp'] },
          { guard: 'channelStillRefused', target: 'idle', actions: ['scheduleChannelRetry', 'stamp'] },
          {
            guard: 'channelRefused',
            target: 'idle',
            actions: [reportChannelFailure, 'scheduleChannelRetry', 'stamp'],
          },
          { target: 'idle', actions: ['scheduleChannelRetry', 'stamp'] },
        ],
      },
    },
    parked: {
      on: {
        TRIGGER: { target: 'idle', actions: ['requestRun', 'unpark', 'stamp'] },
        WEBHOOK_CHANGE: {},
        CREDENTIALS_REFRESHED: { target: 'idle', actions: ['unpark', 'stamp'] },
      },
    },
    disconnecting: {
      on: { TRIGGER: {}, WEBHOOK_CHANGE: {}, DISCONNECT: {} },
      invoke: {
        id: 'disconnect',
        src: 'disconnect',
        input: ({ context }) => ({ checkpoint: checkpointOf(context) }),
        onDone: { target: 'disconnected' },
        // The tombstone is the supervisor's to retry; the actor ends either way.
        onError: { target: 'disconnected' },
      },
    },
    disconnected: { type: 'final' },
  },
});

export type ConnectionMachine = typeof connectionMachine;
export type ConnectionSnapshot = SnapshotFrom<ConnectionMachine>;

export const connectionStateNames = [
  'restoring',
  'idle',
  'full-syncing',
  'incremental',
  'backing-off',
  'channel-renewing',
  'parked',
  'disconnecting',
  'disconnected',
] as const;
export type ConnectionStateName = (typeof connectionStateNames)[number];

/** The state name shown to operators (`idle`, `full-syncing`, …). */
export function stateNameOf(snapshot: Pick<ConnectionSnapshot, 'value'>): ConnectionStateName {
  return (
    typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value)
  ) as ConnectionStateName;
}
