import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AnyStateNode, type AnyTransitionDefinition, initialTransition, transition } from 'xstate';
import { getShortestPaths, getSimplePaths, getStateNodes, type StatePath } from 'xstate/graph';
import { type ConnectionCheckpoint, connectionCheckpointSchema } from '../../src/contract/checkpoint.js';
import { ClassifiedError } from '../../src/machines/classify.js';
import {
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionSnapshot,
  checkpointOf,
  connectionMachine,
  stateNameOf,
} from '../../src/machines/connection-machine.js';
import {
  authFailure,
  channel,
  checkpoint,
  createHarness,
  cursorRefused,
  DAY,
  failure,
  type Harness,
  HOUR,
  notFound,
  rateLimit,
  T0,
  trigger,
  unknownConnection,
} from './connection-harness.js';

/**
 * Model-based tests (STYLE.md): paths are generated from the connection machine itself with
 * xstate/graph — shortest paths to every abstract state and to every transition, and bounded
 * simple paths — and each path is then driven against the machine with controllable
 * stand-in services and fake timers: sync events are sent by the stand-in sync services,
 * crashes are thrown inside them, deadlines are reached by advancing the fake clock until the
 * real `waitUntil` actor fires, channel renewals and the disconnect are promises settled by
 * the test. After every step the real actor must be in the abstract state the path predicts,
 * with the checkpoint the pure transition function gives along the same path.
 *
 * The traversal runs the pure transition function with a frozen clock; a path never needs
 * more than that, except in one place: a retryable sync failure while a failed channel
 * renewal waits for its retry. There the backoff's wait passes the channel's retry deadline
 * too, which a timeless model cannot express, so that event is not offered then.
 */

const MAX_ATTEMPTS = 2;
const RENEW_MARGIN_MS = HOUR;
/** The stand-in ids of the model's events that the machine receives from invoked actors. */
type ModelEvent =
  | ConnectionEvent
  | {
      readonly type: `xstate.${'done' | 'error'}.actor.${string}`;
      readonly output?: unknown;
      readonly error?: unknown;
    };

/**
 * xstate/graph takes the machine's declared events; the done/error events of invoked actors
 * are internal to XState and not part of that type, yet the machine handles them like any.
 */
const asMachineEvents = (events: readonly ModelEvent[]): ConnectionEvent[] => events as ConnectionEvent[];

/** The machine's settings a model runs with; the real actor is driven with the same. */
interface ModelSettings {
  readonly maxAttempts: number;
  readonly channelsEnabled: boolean;
}

const fullModel: ModelSettings = { maxAttempts: MAX_ATTEMPTS, channelsEnabled: true };

const frozenInput = (cp: ConnectionCheckpoint, settings: ModelSettings): ConnectionInput => {
  let ids = 0;
  return {
    checkpoint: cp,
    env: { now: () => T0, random: () => 0.5, newSyncId: () => `model-${++ids}` },
    maxAttempts: settings.maxAttempts,
    channelsEnabled: settings.channelsEnabled,
    channelRenewMarginMs: RENEW_MARGIN_MS,
  };
};

// ------------------------------------------------------------------ events offered per state

/**
 * Options changed once records exist: a backfill of only what the scope gained. Offered in
 * idle only and in the shortest-path models only, which reach every transition of it
 * without multiplying the simple paths.
 */
const scopeEvents = (snapshot: ConnectionSnapshot): ModelEvent[] =>
  stateNameOf(snapshot) === 'idle' &&
  snapshot.context.cursor !== null &&
  snapshot.context.options.driveIds === null
    ? [{ ...trigger('poll', 'm-scope'), driveIds: ['drive-a'] } as ModelEvent]
    : [];

const externalEvents: readonly ModelEvent[] = [
  trigger('full_sync', 'm-full'),
  trigger('incremental', 'm-inc'),
  trigger('poll', 'm-poll', '40'),
  { type: 'WEBHOOK_CHANGE', correlationId: 'w-1' },
  { type: 'WEBHOOK_SYNC' },
  { type: 'CREDENTIALS_REFRESHED' },
  { type: 'DISCONNECT', correlationId: 'd-1' },
];

const syncOutcomes = (mode: 'full' | 'incremental', context: ConnectionContext): ModelEvent[] => {
  const progress: ModelEvent =
    mode === 'full'
      ? {
          type: 'SYNC.PROGRESS',
          startPageToken: '100',
          resume: { phase: 'files', corpus: 'user', pageToken: 'p2' },
          counts: { file: 100, folder: 3 },
        }
      : { type: 'SYNC.PROGRESS', cursor: '102', counts: { file: 7 } };
  const events: ModelEvent[] = [
    progress,
    ...(mode === 'incremental' ? [{ type: 'SYNC.READING' } as const] : []),
    { type: 'SYNC.DONE', cursor: '103', counts: { file: 120 } },
    { type: 'SYNC.FAILED', failure: authFailure() },
    { type: 'SYNC.FAILED', failure: cursorRefused() },
    { type: 'SYNC.FAILED', failure: notFound() },
    // A connection the control plane does not know: ended if this worker never finished a
    // sync of it (a trigger's cursor does not count), else parked.
    { type: 'SYNC.FAILED', failure: unknownConnection() },
    {
      type: `xstate.error.actor.${mode === 'full' ? 'fullSync' : 'incrementalSync'}`,
      error: new Error('crash'),
    },
  ];
  if (context.channelRetry === null)
    events.push(
      { type: 'SYNC.FAILED', failure: failure() },
      { type: 'SYNC.FAILED', failure: rateLimit(5_000) },
    );
  return events;
};

/** A busy Drive, a watch refused for good, and lost authorization: each its own way on. */
const renewalFailures = [
  new ClassifiedError(failure()),
  new ClassifiedError(
    failure({
      classification: 'invalid_input',
      code: 'push.webhookUrlUnauthorized',
      retryable: false,
      httpStatus: 400,
    }),
  ),
  new ClassifiedError(authFailure()),
];

function renewalOutcomes(failures: readonly ClassifiedError[]): ModelEvent[] {
  return [
    { type: 'xstate.done.actor.renewChannel', output: channel(new Date(T0.getTime() + 7 * DAY), 'ch-model') },
    ...failures.map((error) => ({ type: 'xstate.error.actor.renewChannel', error }) as const),
  ];
}

function eventsFor(snapshot: ConnectionSnapshot, external: readonly ModelEvent[]): ModelEvent[] {
  const { context } = snapshot;
  switch (stateNameOf(snapshot)) {
    case 'idle': {
      const deadline = context.channelRetry !== null || context.channel !== null;
      return [...external, ...(deadline ? [{ type: 'DEADLINE' } as const] : [])];
    }
    case 'full-syncing':
      return [...external, ...syncOutcomes('full', context)];
    case 'incremental':
      return [...external, ...syncOutcomes('incremental', context)];
    case 'backing-off':
      return [...external, { type: 'DEADLINE' }];
    case 'channel-renewing':
      return [...external, ...renewalOutcomes(renewalFailures)];
    case 'parked':
      return [...external];
    case 'disconnecting':
      return [
        ...external,
        { type: 'xstate.done.actor.disconnect' },
        { type: 'xstate.error.actor.disconnect', error: new Error('state topic down') },
      ];
    default:
      return [];
  }
}

// ------------------------------------------------------------------ abstraction

/** What a state of the model is: the state name and the checkpoint's shape, not its values. */
function abstractState(snapshot: ConnectionSnapshot): string {
  const c = snapshot.context;
  return JSON.stringify({
    state: stateNameOf(snapshot),
    status: snapshot.status,
    cursor: c.cursor !== null,
    sync: c.activeSync
      ? `${c.activeSync.mode}${c.activeSync.backfill ? '+backfill' : c.activeSync.scopeFrom ? '+scope' : ''}${c.activeSync.resume || c.activeSync.startPageToken ? '+progress' : ''}`
      : null,
    scopeChange: (c.scopeFrom ?? null) !== null,
    drivesLimited: c.options.driveIds !== null,
    pending: c.pending?.mode ?? null,
    attempt: c.backoff?.attempt ?? 0,
    channel: c.channel !== null,
    channelRetry: c.channelRetry === null ? null : c.channelRetry.refused ? 'refused' : 'transient',
    parked: c.parked !== null,
  });
}

/** The checkpoint's values that do not depend on the clock or on generated sync ids. */
function timelessCheckpoint(cp: ConnectionCheckpoint) {
  return {
    cursor: cp.cursor,
    options: cp.options,
    activeSync: cp.activeSync && {
      mode: cp.activeSync.mode,
      correlationId: cp.activeSync.correlationId,
      startPageToken: cp.activeSync.startPageToken,
      resume: cp.activeSync.resume,
      scopeFrom: cp.activeSync.scopeFrom ?? null,
      backfill: cp.activeSync.backfill ?? false,
      counts: cp.activeSync.counts,
    },
    pending: cp.pending,
    scopeFrom: cp.scopeFrom ?? null,
    backoff: cp.backoff && {
      attempt: cp.backoff.attempt,
      reason: cp.backoff.reason,
      classification: cp.backoff.classification,
    },
    channel: cp.channel && { id: cp.channel.id, resourceId: cp.channel.resourceId },
    parked: cp.parked && { reason: cp.parked.reason },
    lastSync: cp.lastSync && { mode: cp.lastSync.mode, counts: cp.lastSync.counts },
  };
}

// ------------------------------------------------------------------ where paths start

const activeFull = {
  syncId: 's-restored',
  mode: 'full' as const,
  startedAt: '2026-11-24T00:00:00.000Z',
  correlationId: 'm0',
  startPageToken: '3',
  resume: { phase: 'files' as const, corpus: 'drive-b', pageToken: 'p9' },
  counts: { file: 900 },
};

const starts: ReadonlyArray<readonly [string, ConnectionCheckpoint]> = [
  ['a new connection', checkpoint()],
  [
    'a connection with a cursor and a channel',
    checkpoint({ cursor: '5', channel: channel(new Date(T0.getTime() + 7 * DAY)) }),
  ],
  ['a full sync interrupted by a restart', checkpoint({ activeSync: activeFull })],
  [
    'an incremental sync interrupted by a restart',
    checkpoint({
      cursor: '5',
      activeSync: { ...activeFull, mode: 'incremental', startPageToken: null, resume: null, counts: {} },
    }),
  ],
  [
    'a restart during a backoff',
    checkpoint({
      cursor: '5',
      channel: channel(new Date(T0.getTime() + 7 * DAY)),
      activeSync: { ...activeFull, mode: 'incremental', startPageToken: null, resume: null, counts: {} },
      backoff: {
        attempt: 1,
        until: new Date(T0.getTime() + 4_000).toISOString(),
        reason: 'backendError',
        classification: 'transient',
      },
    }),
  ],
  [
    'a parked connection',
    checkpoint({ cursor: '5', parked: { reason: 'reauth_required', since: T0.toISOString() } }),
  ],
];

// ------------------------------------------------------------------ driving a path

type Path = StatePath<ConnectionSnapshot, ModelEvent>;

async function perform(h: Harness, event: ModelEvent): Promise<void> {
  switch (event.type) {
    case 'SYNC.PROGRESS':
    case 'SYNC.READING':
    case 'SYNC.DONE':
    case 'SYNC.FAILED': {
      const run = h.lastRun();
      expect(run.stopped).toBe(false);
      run.send(event);
      return;
    }
    case 'DEADLINE': {
      const c = h.context();
      const due =
        stateNameOf(h.actor.getSnapshot()) === 'backing-off'
          ? new Date(c.backoff?.until ?? 0).getTime()
          : c.channelRetry
            ? new Date(c.channelRetry.until).getTime()
            : new Date(c.channel?.expiration ?? 0).getTime() - RENEW_MARGIN_MS;
      await vi.advanceTimersByTimeAsync(Math.max(0, due - Date.now()));
      return;
    }
    case 'xstate.error.actor.fullSync':
    case 'xstate.error.actor.incrementalSync':
      h.lastRun().crash();
      return;
    case 'xstate.done.actor.renewChannel':
      h.lastRenewal().resolve(channel(new Date(Date.now() + 7 * DAY), 'ch-model'));
      await vi.advanceTimersByTimeAsync(0);
      return;
    case 'xstate.error.actor.renewChannel':
      h.lastRenewal().reject(event.error);
      await vi.advanceTimersByTimeAsync(0);
      return;
    case 'xstate.done.actor.disconnect':
      h.disconnects.at(-1)?.resolve();
      await vi.advanceTimersByTimeAsync(0);
      return;
    case 'xstate.error.actor.disconnect':
      h.disconnects.at(-1)?.reject(new Error('state topic down'));
      await vi.advanceTimersByTimeAsync(0);
      return;
    default:
      h.send(event as ConnectionEvent);
  }
}

/**
 * The generated path says which abstract state each step reaches; the pure transition
 * function, replayed along this very path, says what the whole checkpoint must be (a path's
 * step snapshots are representatives of their abstract state, reached perhaps another way).
 */
const expectMatches = (
  h: Harness,
  predicted: ConnectionSnapshot,
  model: ConnectionSnapshot,
  where: string,
) => {
  const actual = h.actor.getSnapshot();
  expect(abstractState(actual), where).toBe(abstractState(predicted));
  expect(abstractState(model), where).toBe(abstractState(predicted));
  const derived = checkpointOf(actual);
  expect(connectionCheckpointSchema.safeParse(derived).success, where).toBe(true);
  expect(timelessCheckpoint(derived), where).toEqual(timelessCheckpoint(checkpointOf(model)));
};

/** Runs one generated path; returns the transition definitions the real actor took. */
async function drive(
  start: ConnectionCheckpoint,
  path: Path,
  settings: ModelSettings,
): Promise<readonly AnyTransitionDefinition[]> {
  vi.setSystemTime(T0);
  const h = createHarness({ checkpoint: start, ...settings, channelRenewMarginMs: RENEW_MARGIN_MS });
  let [model] = initialTransition(connectionMachine, frozenInput(start, settings));
  const [first, ...rest] = path.steps;
  if (first) expectMatches(h, first.state, model, 'initial state');
  for (const [i, step] of rest.entries()) {
    await perform(h, step.event);
    [model] = transition(connectionMachine, model, asMachineEvents([step.event])[0] as ConnectionEvent);
    expectMatches(h, step.state, model, `step ${i + 1}: ${step.event.type}`);
  }
  h.actor.stop();
  return h.taken;
}

// ------------------------------------------------------------------ coverage bookkeeping

const transitionKey = (t: AnyTransitionDefinition): string => {
  const source = t.source as AnyStateNode;
  const list = t.eventType === '' ? (source.always ?? []) : (source.transitions.get(t.eventType) ?? []);
  return `${source.id} --${t.eventType || 'always'}#${list.indexOf(t)}`;
};

function allTransitionKeys(): Set<string> {
  const keys = new Set<string>();
  for (const node of [connectionMachine.root, ...getStateNodes(connectionMachine.root)] as AnyStateNode[]) {
    for (const [, list] of node.transitions) for (const t of list) keys.add(transitionKey(t));
    for (const t of node.always ?? []) keys.add(transitionKey(t));
  }
  return keys;
}

const coverage = {
  statesReached: new Set<string>(),
  transitionsTaken: new Set<string>(),
  generated: { shortest: 0, simple: 0 },
  driven: { shortest: 0, simple: 0 },
};

const pathName = (path: Path) =>
  path.steps
    .slice(1)
    .map((s) =>
      s.event.type === 'SYNC.FAILED' && 'failure' in s.event
        ? `FAILED(${s.event.failure.code})`
        : s.event.type,
    )
    .join(' → ') || '(start)';

// ------------------------------------------------------------------ the tests

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

/**
 * Shortest paths to every transition: for each transition definition an offered event can
 * select, the shortest path to a state where it is enabled, plus that event.
 */
function transitionPaths(statePaths: readonly Path[], covered: Set<string>): Path[] {
  const out: Path[] = [];
  const byLength = [...statePaths].sort((a, b) => a.steps.length - b.steps.length);
  for (const path of byLength) {
    const last = path.steps.at(-1)?.state;
    if (!last) continue;
    for (const event of asMachineEvents([...eventsFor(last, externalEvents), ...scopeEvents(last)])) {
      const keys = connectionMachine.getTransitionData(last, event).map(transitionKey);
      if (keys.every((k) => covered.has(k))) continue;
      for (const k of keys) covered.add(k);
      const [next] = transition(connectionMachine, last, event);
      out.push({ ...path, state: next, steps: [...path.steps, { state: next, event }] });
    }
  }
  return out;
}

describe.each(starts)('starting from %s', (_, start) => {
  const statePaths = getShortestPaths(connectionMachine, {
    input: frozenInput(start, fullModel),
    events: (snapshot) => asMachineEvents([...eventsFor(snapshot, externalEvents), ...scopeEvents(snapshot)]),
    serializeState: (snapshot) => abstractState(snapshot),
  }) as unknown as Path[];
  const paths = [...statePaths, ...transitionPaths(statePaths, new Set())];
  coverage.generated.shortest += paths.length;

  it(`generates shortest paths to every state (${statePaths.length}) and transition (${paths.length - statePaths.length})`, () => {
    expect(statePaths.length).toBeGreaterThan(0);
  });

  it.each(paths.map((p) => [pathName(p), p] as const))('shortest path: %s', async (_name, path) => {
    const taken = await drive(start, path, fullModel);
    coverage.driven.shortest++;
    for (const step of path.steps) coverage.statesReached.add(stateNameOf(step.state));
    for (const t of taken) coverage.transitionsTaken.add(transitionKey(t));
  });
});

/**
 * Simple paths (no state visited twice) over the full abstraction explode combinatorially on
 * the ~450 abstract states above, so each bounded model below narrows the events offered:
 * the graph stays small (tens of states) while every abstract state in it still determines
 * what the machine does next, so every generated path is one the real actor can follow.
 */
const boundedModels: ReadonlyArray<{
  readonly name: string;
  readonly settings: ModelSettings;
  readonly events: (snapshot: ConnectionSnapshot) => ModelEvent[];
}> = [
  {
    name: 'sync outcomes and channel renewals',
    settings: { maxAttempts: 1, channelsEnabled: true },
    events: (snapshot) => boundedEvents(snapshot, { triggersDuringSync: false }),
  },
  {
    name: 'requests coalesced during syncs, no channels',
    settings: { maxAttempts: 1, channelsEnabled: false },
    events: (snapshot) => boundedEvents(snapshot, { triggersDuringSync: true }),
  },
];

function boundedEvents(snapshot: ConnectionSnapshot, options: { triggersDuringSync: boolean }): ModelEvent[] {
  const disconnect: ModelEvent = { type: 'DISCONNECT', correlationId: 'd-1' };
  const poll = trigger('poll', 'm-poll');
  switch (stateNameOf(snapshot)) {
    case 'idle':
      return eventsFor(snapshot, [trigger('full_sync', 'm-full'), disconnect]);
    case 'full-syncing':
    case 'incremental':
      return [
        { type: 'SYNC.DONE', cursor: '103', counts: { file: 120 } },
        { type: 'SYNC.FAILED', failure: authFailure() },
        { type: 'SYNC.FAILED', failure: cursorRefused() },
        // As in the full model: a backoff's wait would also pass a pending channel retry.
        ...(snapshot.context.channelRetry === null
          ? [{ type: 'SYNC.FAILED', failure: failure() } as const]
          : []),
        ...(options.triggersDuringSync ? [poll] : []),
      ];
    case 'parked':
      return [poll, { type: 'CREDENTIALS_REFRESHED' }];
    case 'disconnecting':
      return [{ type: 'xstate.done.actor.disconnect' }];
    case 'channel-renewing':
      // The busy-Drive failure only: the other kinds are the shortest paths' to cover.
      return renewalOutcomes(renewalFailures.slice(0, 1));
    default:
      return eventsFor(snapshot, []);
  }
}

describe.each(boundedModels)('bounded simple paths: $name', ({ settings, events }) => {
  const start = checkpoint();
  const paths = getSimplePaths(connectionMachine, {
    input: frozenInput(start, settings),
    events: (snapshot) => asMachineEvents(events(snapshot)),
    serializeState: abstractState,
  }) as unknown as Path[];
  coverage.generated.simple += paths.length;

  it(`generates a bounded set of simple paths (${paths.length})`, () => {
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.length).toBeLessThan(5_000);
  });

  it.each(paths.map((p) => [pathName(p), p] as const))('simple path: %s', async (_name, path) => {
    const taken = await drive(start, path, settings);
    coverage.driven.simple++;
    for (const step of path.steps) coverage.statesReached.add(stateNameOf(step.state));
    for (const t of taken) coverage.transitionsTaken.add(transitionKey(t));
  });
});

afterAll(() => {
  // Reported, so a reader of the test output sees how much the model exercised.
  console.info(
    `connection machine model: ${coverage.generated.shortest} shortest and ${coverage.generated.simple} simple paths generated; ` +
      `${coverage.driven.shortest} + ${coverage.driven.simple} driven; ${coverage.statesReached.size} states reached; ` +
      `${coverage.transitionsTaken.size}/${allTransitionKeys().size} transitions taken`,
  );
});

/**
 * Transitions no event sequence can take, each kept as a guard against a broken runtime.
 * Listed by key so that a new transition the paths miss fails the test instead.
 */
const unreachableByDesign: Record<string, string> = {
  'connection.idle --xstate.error.actor.idleDeadline#0': 'waitUntil cannot fail: it only arms timers',
  'connection.backing-off --xstate.error.actor.backoffDeadline#0': 'waitUntil cannot fail',
  'connection.backing-off --xstate.error.actor.backoffDeadline#1': 'waitUntil cannot fail',
  'connection.backing-off --xstate.error.actor.backoffDeadline#2': 'waitUntil cannot fail',
  'connection.backing-off --DEADLINE#2': 'backing-off is only entered with an active sync',
};

describe('coverage', () => {
  it('reaches every state node of the machine and takes every transition it declares', async () => {
    // Runs after the path suites (vitest runs describes in order).
    expect(coverage.driven.shortest).toBe(coverage.generated.shortest);
    expect(coverage.driven.simple).toBe(coverage.generated.simple);
    const stateNodes = getStateNodes(connectionMachine.root).map((n) => n.key);
    // `restoring` is transient: it is left in the same macrostep, so no snapshot rests in it;
    // its branches are the initial transitions, counted among the transitions below.
    expect(new Set([...coverage.statesReached, 'restoring'])).toEqual(new Set(stateNodes));

    const untaken = [...allTransitionKeys()].filter((k) => !coverage.transitionsTaken.has(k));
    expect(untaken.sort()).toEqual(Object.keys(unreachableByDesign).sort());
  });
});
