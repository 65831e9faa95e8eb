import { assign, fromCallback, fromPromise, type SnapshotFrom, setup } from 'xstate';
import type {
  ActiveSync,
  ChannelState,
  ConnectionCheckpoint,
  FullSyncResume,
  SyncCounts,
} from '../contract/checkpoint.js';
import type { IncludeKind } from '../contract/inbound.js';
import type { SyncMode } from '../contract/records.js';
import { backoffDelayMs } from './backoff.js';
import type { ClassifiedFailure } from './classify.js';

/**
 * One connection's life (issue 5): idle → full-syncing → incremental → backing-off →
 * channel-renewing, parked for lost authorization, disconnecting at the end. Pure: every
 * service is a placeholder here and arrives through `.provide()`; time, randomness and ids
 * come from the input's `env`. The context is the persisted checkpoint plus that env, so
 * `checkpointOf` is a projection, and a restored actor resumes from what was persisted —
 * deadlines included, which invoked `waitUntil` actors await (XState does not re-arm
 * `after` timers on restored actors).
 */

export interface ConnectionEnv {
  now(): Date;
  random(): number;
  newSyncId(): string;
}

export interface ConnectionInput {
  readonly checkpoint: ConnectionCheckpoint;
  readonly env: ConnectionEnv;
  readonly maxAttempts: number;
  /** Push channels are configured (an address and a token key). */
  readonly channelsEnabled: boolean;
  /** Renew a channel this long before it expires. */
  readonly channelRenewMarginMs: number;
}

export interface ConnectionContext extends ConnectionCheckpoint {
  readonly env: ConnectionEnv;
  readonly maxAttempts: number;
  readonly channelsEnabled: boolean;
  readonly channelRenewMarginMs: number;
  /** The last failure, shown by the state endpoint; not persisted. */
  readonly lastFailure: ClassifiedFailure | null;
}

export type ConnectionEvent =
  | {
      readonly type: 'TRIGGER';
      readonly triggerType: 'full_sync' | 'incremental' | 'poll';
      readonly correlationId: string | null;
      readonly include: readonly IncludeKind[];
      readonly driveIds: readonly string[] | null;
      /** The trigger's `last_cursor`, used only when the connection has no cursor of its own. */
      readonly lastCursor: string | null;
    }
  | { readonly type: 'WEBHOOK_CHANGE'; readonly correlationId: string | null }
  /** A channel's `sync` notification: it only confirms the channel, nothing is fetched. */
  | { readonly type: 'WEBHOOK_SYNC' }
  | { readonly type: 'DISCONNECT'; readonly correlationId: string | null }
  | { readonly type: 'CREDENTIALS_REFRESHED' }
  | {
      readonly type: 'SYNC.PROGRESS';
      readonly startPageToken?: string;
      readonly resume?: FullSyncResume;
      /** Incremental syncs: the token after the page just made durable. */
      readonly cursor?: string;
      readonly counts: SyncCounts;
    }
  | { readonly type: 'SYNC.DONE'; readonly cursor: string; readonly counts: SyncCounts }
  | { readonly type: 'SYNC.FAILED'; readonly failure: ClassifiedFailure }
  | { readonly type: 'DEADLINE' };

/** What a sync service is started with: the persisted state it resumes from. */
export interface SyncServiceInput {
  readonly checkpoint: ConnectionCheckpoint;
  readonly activeSync: ActiveSync;
}

export interface ChannelServiceInput {
  readonly checkpoint: ConnectionCheckpoint;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const persistedKeys = [
  'version',
  'connectionId',
  'customerId',
  'cursor',
  'options',
  'activeSync',
  'pending',
  'backoff',
  'channel',
  'parked',
  'lastSync',
  'updatedAt',
] as const satisfies ReadonlyArray<keyof ConnectionCheckpoint>;

/** The persisted part of the context: what the state topic stores. */
export function checkpointOf(context: ConnectionContext): ConnectionCheckpoint {
  const out: Record<string, unknown> = {};
  for (const key of persistedKeys) out[key] = context[key];
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

function backoffActive(context: ConnectionContext): boolean {
  return context.backoff !== null && new Date(context.backoff.until).getTime() > context.env.now().getTime();
}

function channelDueAt(context: ConnectionContext): number | null {
  if (!context.channel) return null;
  return new Date(context.channel.expiration).getTime() - context.channelRenewMarginMs;
}

const announceCompletion = {
  type: 'syncCompleted',
  params: ({ context }: { context: ConnectionContext }) => ({ checkpoint: checkpointOf(context) }),
} as const;

/** An error record for the failure that ends a sync (given up, or authorization lost). */
const reportFailure = {
  type: 'reportError',
  params: ({ context, event }: { context: ConnectionContext; event: { type: string } }) => ({
    failure:
      event.type === 'SYNC.FAILED' && 'failure' in event
        ? (event.failure as ClassifiedFailure)
        : unexpectedFailure('the sync service stopped unexpectedly'),
    checkpoint: checkpointOf(context),
  }),
} as const;

function unexpectedFailure(message: string): ClassifiedFailure {
  return {
    classification: 'internal',
    code: 'internal_error',
    message,
    retryable: false,
    httpStatus: null,
    retryAfterMs: null,
    cursorInvalid: false,
  };
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: {
    fullSync: fromCallback<ConnectionEvent, SyncServiceInput>(() => () => undefined),
    incrementalSync: fromCallback<ConnectionEvent, SyncServiceInput>(() => () => undefined),
    /**
     * Sends DEADLINE at `until` (epoch ms; null: never). Restarts with the actor, so
     * deadlines survive restores. Long waits are chained, since timers cap at ~24.8 days.
     */
    waitUntil: fromCallback<ConnectionEvent, { until: number | null; now: number }>(({ input, sendBack }) => {
      if (input.until === null) return () => undefined;
      const deadline = input.until;
      let timer: ReturnType<typeof setTimeout>;
      const arm = (now: number) => {
        const remaining = deadline - now;
        if (remaining <= 0) {
          sendBack({ type: 'DEADLINE' });
          return;
        }
        timer = setTimeout(
          () => arm(now + Math.min(remaining, MAX_TIMER_MS)),
          Math.min(remaining, MAX_TIMER_MS),
        );
      };
      arm(input.now);
      return () => clearTimeout(timer);
    }),
    renewChannel: fromPromise<ChannelState, ChannelServiceInput>(async () => {
      throw new Error('renewChannel is not provided');
    }),
    disconnect: fromPromise<void, ChannelServiceInput>(async () => undefined),
  },
  actions: {
    /** Produces one error record for the failure. */
    reportError: (_, _params: { failure: ClassifiedFailure; checkpoint: ConnectionCheckpoint }) => undefined,
    /** Reports a finished sync (metrics, logs); its sync_checkpoint record was already published. */
    syncCompleted: (_, _params: { checkpoint: ConnectionCheckpoint }) => undefined,
    stamp: assign({ updatedAt: ({ context }) => context.env.now().toISOString() }),
    requestRun: assign(({ context, event }) => {
      if (event.type !== 'TRIGGER' && event.type !== 'WEBHOOK_CHANGE') return {};
      const mode: SyncMode =
        event.type === 'TRIGGER' && event.triggerType === 'full_sync' ? 'full' : 'incremental';
      const pendingMode: SyncMode =
        context.pending?.mode === 'full' || mode === 'full' ? 'full' : 'incremental';
      const correlationId = context.pending?.correlationId ?? event.correlationId;
      if (event.type === 'WEBHOOK_CHANGE') return { pending: { mode: pendingMode, correlationId } };
      return {
        pending: { mode: pendingMode, correlationId },
        options: { include: [...event.include], driveIds: event.driveIds ? [...event.driveIds] : null },
        cursor: context.cursor ?? event.lastCursor,
      };
    }),
    beginSyncFull: assign(({ context }) => ({
      activeSync: newActiveSync(context, 'full', context.pending?.correlationId ?? null),
      pending: null,
    })),
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
          counts: event.counts,
        },
        cursor: event.cursor ?? context.cursor,
        // A durable page proves the connection healthy again: the next failure starts over.
        backoff: null,
      };
    }),
    completeSync: assign(({ context, event }) => {
      if (event.type !== 'SYNC.DONE' || !context.activeSync) return {};
      return {
        cursor: event.cursor,
        lastSync: {
          syncId: context.activeSync.syncId,
          mode: context.activeSync.mode,
          finishedAt: context.env.now().toISOString(),
          counts: event.counts,
        },
        activeSync: null,
        backoff: null,
        lastFailure: null,
      };
    }),
    restartFull: assign(({ context }) => ({
      cursor: null,
      activeSync: newActiveSync(context, 'full', context.activeSync?.correlationId ?? null),
      backoff: null,
    })),
    park: assign(({ context, event }) => {
      if (event.type !== 'SYNC.FAILED') return {};
      return {
        parked: { reason: event.failure.code, since: context.env.now().toISOString() },
        pending: context.activeSync
          ? { mode: context.activeSync.mode, correlationId: context.activeSync.correlationId }
          : context.pending,
        activeSync: null,
        backoff: null,
        lastFailure: event.failure,
      };
    }),
    unpark: assign({ parked: null }),
    scheduleBackoff: assign(({ context, event }) => {
      if (event.type !== 'SYNC.FAILED') return {};
      const attempt = (context.backoff?.attempt ?? 0) + 1;
      const delay = backoffDelayMs(attempt, event.failure.retryAfterMs, context.env.random);
      return {
        backoff: {
          attempt,
          until: new Date(context.env.now().getTime() + delay).toISOString(),
          reason: event.failure.code,
          classification: event.failure.classification,
        },
        lastFailure: event.failure,
      };
    }),
    giveUp: assign(({ event }) => ({
      activeSync: null,
      backoff: null,
      lastFailure: event.type === 'SYNC.FAILED' ? event.failure : null,
    })),
    failUnexpectedly: assign({ activeSync: null, backoff: null }),
    keepChannel: assign(({ event }) =>
      'output' in event ? { channel: event.output as ChannelState, backoff: null } : {},
    ),
    channelFailed: assign(({ context }) => {
      const attempt = (context.backoff?.attempt ?? 0) + 1;
      const delay = backoffDelayMs(attempt, null, context.env.random);
      return {
        backoff: {
          attempt,
          until: new Date(context.env.now().getTime() + delay).toISOString(),
          reason: 'channel_renewal_failed',
          classification: 'transient' as const,
        },
      };
    }),
    dropChannel: assign({ channel: null, backoff: null }),
  },
  guards: {
    resumeFull: ({ context }) => context.activeSync?.mode === 'full',
    resumeIncremental: ({ context }) => context.activeSync?.mode === 'incremental',
    waitingOutBackoff: ({ context }) => backoffActive(context),
    isParked: ({ context }) => context.parked !== null,
    pendingFull: ({ context }) =>
      context.pending !== null && (context.pending.mode === 'full' || context.cursor === null),
    pendingIncremental: ({ context }) => context.pending !== null,
    needsChannel: ({ context }) =>
      context.channelsEnabled &&
      context.cursor !== null &&
      !backoffActive(context) &&
      (context.channel === null || (channelDueAt(context) ?? 0) <= context.env.now().getTime()),
    hasChannelDeadline: ({ context }) => context.channelsEnabled && context.channel !== null,
    cursorRefused: ({ event }) => event.type === 'SYNC.FAILED' && event.failure.cursorInvalid,
    authLost: ({ event }) => event.type === 'SYNC.FAILED' && event.failure.classification === 'auth',
    worthRetrying: ({ context, event }) =>
      event.type === 'SYNC.FAILED' &&
      event.failure.retryable &&
      (context.backoff?.attempt ?? 0) < context.maxAttempts,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    ...input.checkpoint,
    env: input.env,
    maxAttempts: input.maxAttempts,
    channelsEnabled: input.channelsEnabled,
    channelRenewMarginMs: input.channelRenewMarginMs,
    lastFailure: null,
  }),
  initial: 'restoring',
  on: {
    // Whatever the state, a request to sync is remembered, and many requests make one run.
    TRIGGER: { actions: ['requestRun', 'stamp'] },
    WEBHOOK_CHANGE: { actions: ['requestRun', 'stamp'] },
    DISCONNECT: { target: '.disconnecting' },
  },
  states: {
    restoring: {
      always: [
        { guard: 'waitingOutBackoff', target: 'backing-off' },
        { guard: 'resumeFull', target: 'full-syncing' },
        { guard: 'resumeIncremental', target: 'incremental' },
        { guard: 'isParked', target: 'parked' },
        { target: 'idle' },
      ],
    },
    idle: {
      always: [
        { guard: 'pendingFull', target: 'full-syncing', actions: ['beginSyncFull', 'stamp'] },
        { guard: 'pendingIncremental', target: 'incremental', actions: ['beginSyncIncremental', 'stamp'] },
        { guard: 'needsChannel', target: 'channel-renewing' },
      ],
      invoke: {
        id: 'channelDeadline',
        src: 'waitUntil',
        input: ({ context }) => ({
          until: context.channelsEnabled ? channelDueAt(context) : null,
          now: context.env.now().getTime(),
        }),
      },
      on: { DEADLINE: { guard: 'hasChannelDeadline', target: 'channel-renewing' } },
    },
    'full-syncing': {
      invoke: {
        id: 'fullSync',
        src: 'fullSync',
        input: ({ context }) => ({
          checkpoint: checkpointOf(context),
          activeSync: context.activeSync as ActiveSync,
        }),
        onError: { target: 'idle', actions: [reportFailure, 'failUnexpectedly', 'stamp'] },
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
        onError: { target: 'idle', actions: [reportFailure, 'failUnexpectedly', 'stamp'] },
      },
      on: {
        'SYNC.PROGRESS': { actions: ['recordProgress', 'stamp'] },
        'SYNC.DONE': { target: 'idle', actions: ['completeSync', 'stamp', announceCompletion] },
        'SYNC.FAILED': [
          { guard: 'cursorRefused', target: 'full-syncing', actions: ['restartFull', 'stamp'] },
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
          until: context.backoff ? new Date(context.backoff.until).getTime() : 0,
          now: context.env.now().getTime(),
        }),
      },
      on: {
        // Back to the interrupted state, which resumes from the last durable page.
        DEADLINE: [
          { guard: 'resumeFull', target: 'full-syncing' },
          { guard: 'resumeIncremental', target: 'incremental' },
          { target: 'channel-renewing' },
        ],
      },
    },
    'channel-renewing': {
      invoke: {
        id: 'renewChannel',
        src: 'renewChannel',
        input: ({ context }) => ({ checkpoint: checkpointOf(context) }),
        onDone: { target: 'idle', actions: ['keepChannel', 'stamp'] },
        onError: [
          {
            guard: ({ context }) => (context.backoff?.attempt ?? 0) < context.maxAttempts,
            target: 'backing-off',
            actions: ['channelFailed', 'stamp'],
          },
          // Polling stays the fallback: the connection syncs on triggers without a channel.
          { target: 'idle', actions: ['dropChannel', 'stamp'] },
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
        onError: { target: 'disconnected' },
      },
    },
    disconnected: { type: 'final' },
  },
});

export type ConnectionMachine = typeof connectionMachine;
export type ConnectionSnapshot = SnapshotFrom<ConnectionMachine>;

/** The state name shown to operators (`idle`, `full-syncing`, …). */
export function stateNameOf(snapshot: ConnectionSnapshot): string {
  return typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value);
}
