import {
  type AnyActorRef,
  type AnyTransitionDefinition,
  createActor,
  fromCallback,
  fromPromise,
} from 'xstate';
import type { ChannelState, ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import type { ClassifiedFailure } from '../../src/machines/classify.js';
import {
  type ChannelServiceInput,
  type ConnectionEvent,
  type ConnectionInput,
  checkpointOf,
  connectionMachine,
  type DisconnectInput,
  type ReportErrorParams,
  type SyncCompletedParams,
  type SyncServiceEvent,
  type SyncServiceInput,
  stateNameOf,
} from '../../src/machines/connection-machine.js';

/**
 * The connection machine with controllable stand-in services: sync runs are recorded and
 * answered by hand, channel renewals and the disconnect are promises the test settles, and
 * time is the (fake) system clock. For tests that run under vi.useFakeTimers().
 */

const CRASH = 'STAND_IN.CRASH';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export const T0 = new Date('2026-11-25T00:00:00.000Z');

export function checkpoint(overrides: Partial<ConnectionCheckpoint> = {}): ConnectionCheckpoint {
  return {
    version: 1,
    connectionId: 'conn_abc',
    customerId: 'cust_123',
    cursor: null,
    options: { include: ['permissions', 'revisions', 'comments'], driveIds: null },
    activeSync: null,
    pending: null,
    backoff: null,
    channel: null,
    parked: null,
    lastSync: null,
    updatedAt: T0.toISOString(),
    ...overrides,
  };
}

export interface SyncRun {
  readonly kind: 'full' | 'incremental';
  readonly input: SyncServiceInput;
  send(event: SyncServiceEvent): void;
  /** Makes the running service fail as a crashed one would (its actor errors). */
  crash(): void;
  stopped: boolean;
}

export interface Deferred<T> {
  readonly input: unknown;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export interface HarnessOptions {
  readonly checkpoint: ConnectionCheckpoint;
  readonly maxAttempts?: number;
  readonly channelsEnabled?: boolean;
  readonly channelRenewMarginMs?: number;
}

export function createHarness(options: HarnessOptions) {
  const runs: SyncRun[] = [];
  const renewals: Array<Deferred<ChannelState> & { readonly input: ChannelServiceInput }> = [];
  const disconnects: Array<Deferred<void> & { readonly input: DisconnectInput }> = [];
  const errors: ReportErrorParams[] = [];
  const completed: SyncCompletedParams[] = [];
  /** Every transition definition taken, for coverage. */
  const taken: AnyTransitionDefinition[] = [];
  let syncIds = 0;

  const syncService = (kind: SyncRun['kind']) =>
    fromCallback<ConnectionEvent, SyncServiceInput>(({ input, sendBack, receive, self }) => {
      // An exception thrown while the callback actor handles an event fails the actor: the
      // machine sees xstate.error.actor.<id>, as it would for a service that crashed.
      receive((event) => {
        if ((event as { type: string }).type === CRASH) throw new Error('stand-in sync service crashed');
      });
      const run: SyncRun = {
        kind,
        input,
        send: (event) => sendBack(event),
        crash: () => (self as AnyActorRef).send({ type: CRASH }),
        stopped: false,
      };
      runs.push(run);
      return () => {
        run.stopped = true;
      };
    });

  const deferred = <T, I>(list: Array<Deferred<T> & { readonly input: I }>) =>
    fromPromise<T, I>(
      ({ input }) =>
        new Promise<T>((resolve, reject) => {
          list.push({ input, resolve, reject });
        }),
    );

  const machine = connectionMachine.provide({
    actors: {
      fullSync: syncService('full'),
      incrementalSync: syncService('incremental'),
      renewChannel: deferred<ChannelState, ChannelServiceInput>(renewals),
      disconnect: deferred<void, DisconnectInput>(disconnects),
    },
    actions: {
      reportError: (_, params) => {
        errors.push(params);
      },
      syncCompleted: (_, params) => {
        completed.push(params);
      },
    },
  });

  const input: ConnectionInput = {
    checkpoint: options.checkpoint,
    env: { now: () => new Date(Date.now()), random: () => 0.5, newSyncId: () => `sync-${++syncIds}` },
    maxAttempts: options.maxAttempts ?? 3,
    channelsEnabled: options.channelsEnabled ?? false,
    channelRenewMarginMs: options.channelRenewMarginMs ?? 3_600_000,
  };
  // The inspector runs during createActor already, before `actor` is assigned: it must not
  // touch it then, and must never throw (a throwing inspector breaks the actor).
  let root: unknown = null;
  const actor = createActor(machine, {
    input,
    inspect: (inspection) => {
      if (inspection.type === '@xstate.microstep' && (root === null || inspection.actorRef === root))
        taken.push(...inspection._transitions);
    },
  });
  root = actor;
  actor.start();

  return {
    actor,
    runs,
    renewals,
    disconnects,
    errors,
    completed,
    taken,
    send: (event: ConnectionEvent) => actor.send(event),
    state: () => stateNameOf(actor.getSnapshot()),
    checkpoint: () => checkpointOf(actor.getSnapshot()),
    context: () => actor.getSnapshot().context,
    lastRun: (): SyncRun => {
      const run = runs.at(-1);
      if (!run) throw new Error('no sync has run');
      return run;
    },
    lastRenewal: () => {
      const renewal = renewals.at(-1);
      if (!renewal) throw new Error('no channel renewal has run');
      return renewal;
    },
  };
}

export type Harness = ReturnType<typeof createHarness>;

export const trigger = (
  triggerType: 'full_sync' | 'incremental' | 'poll',
  correlationId = 'm1',
  lastCursor: string | null = null,
): ConnectionEvent => ({
  type: 'TRIGGER',
  triggerType,
  correlationId,
  include: ['permissions', 'revisions', 'comments'],
  driveIds: null,
  lastCursor,
});

export const failure = (overrides: Partial<ClassifiedFailure> = {}): ClassifiedFailure => ({
  classification: 'transient',
  code: 'backendError',
  message: 'Backend Error',
  retryable: true,
  httpStatus: 503,
  retryAfterMs: null,
  cursorInvalid: false,
  ...overrides,
});

export const unknownConnection = () =>
  failure({ classification: 'auth', code: 'unknown_connection', retryable: false, httpStatus: 404 });
export const authFailure = () =>
  failure({ classification: 'auth', code: 'reauth_required', retryable: false, httpStatus: 409 });
export const rateLimit = (retryAfterMs: number | null = null) =>
  failure({ classification: 'rate_limited', code: 'userRateLimitExceeded', httpStatus: 403, retryAfterMs });
export const cursorRefused = () =>
  failure({
    classification: 'invalid_input',
    code: 'invalidPageToken',
    retryable: false,
    httpStatus: 400,
    cursorInvalid: true,
  });
export const notFound = () =>
  failure({ classification: 'not_found', code: 'notFound', retryable: false, httpStatus: 404 });

export const channel = (expiration: Date, id = 'ch-1'): ChannelState => ({
  id,
  resourceId: `res-${id}`,
  expiration: expiration.toISOString(),
  openedAt: new Date(Date.now()).toISOString(),
});
