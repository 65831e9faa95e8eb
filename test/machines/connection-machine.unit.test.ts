import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AnyActorRef, createActor, fromCallback, fromPromise } from 'xstate';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import type { ClassifiedFailure } from '../../src/machines/classify.js';
import {
  type ConnectionEvent,
  checkpointOf,
  connectionMachine,
  type SyncServiceInput,
  stateNameOf,
} from '../../src/machines/connection-machine.js';
import { blankCheckpoint } from '../support/stand-in-connections.js';

/** Stand-in sync services the test drives by hand: each run is recorded with a way to answer it. */
interface Run {
  readonly kind: 'full' | 'incremental';
  readonly input: SyncServiceInput;
  send(event: ConnectionEvent): void;
  stopped: boolean;
}

function harness(checkpoint: ConnectionCheckpoint, maxAttempts = 3) {
  const runs: Run[] = [];
  const errors: ClassifiedFailure[] = [];
  const completed: string[] = [];
  let ids = 0;
  const service = (kind: Run['kind']) =>
    fromCallback<ConnectionEvent, SyncServiceInput>(({ input, sendBack }) => {
      const run: Run = { kind, input, send: (e) => sendBack(e), stopped: false };
      runs.push(run);
      return () => {
        run.stopped = true;
      };
    });
  const machine = connectionMachine.provide({
    actors: {
      fullSync: service('full'),
      incrementalSync: service('incremental'),
      disconnect: fromPromise<void, { checkpoint: ConnectionCheckpoint }>(async () => undefined),
    },
    actions: {
      reportError: (_, params) => errors.push(params.failure),
      syncCompleted: (_, params) => completed.push(params.checkpoint.lastSync?.syncId ?? '?'),
    },
  });
  const actor = createActor(machine, {
    input: {
      checkpoint,
      env: { now: () => new Date(), random: () => 0.5, newSyncId: () => `sync-${++ids}` },
      maxAttempts,
      channelsEnabled: false,
      channelRenewMarginMs: 60_000,
    },
  });
  actor.start();
  const state = () => stateNameOf(actor.getSnapshot());
  const checkpointNow = () => checkpointOf(actor.getSnapshot().context);
  const last = () => runs.at(-1) as Run;
  return { actor: actor as AnyActorRef & typeof actor, runs, errors, completed, state, checkpointNow, last };
}

const trigger = (
  triggerType: 'full_sync' | 'incremental' | 'poll',
  correlationId = 'm1',
): ConnectionEvent => ({
  type: 'TRIGGER',
  triggerType,
  correlationId,
  include: ['permissions'],
  driveIds: null,
  lastCursor: null,
});

const failure = (overrides: Partial<ClassifiedFailure>): ClassifiedFailure => ({
  classification: 'transient',
  code: 'backendError',
  message: 'Backend Error',
  retryable: true,
  httpStatus: 503,
  retryAfterMs: null,
  cursorInvalid: false,
  ...overrides,
});

describe('connection machine', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-11-25T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs a full sync, records progress after every page and ends idle with the cursor', () => {
    const h = harness(blankCheckpoint('c'));
    expect(h.state()).toBe('idle');
    h.actor.send(trigger('full_sync'));
    expect(h.state()).toBe('full-syncing');
    expect(h.checkpointNow().activeSync).toMatchObject({
      syncId: 'sync-1',
      mode: 'full',
      correlationId: 'm1',
    });
    h.last().send({
      type: 'SYNC.PROGRESS',
      startPageToken: '7',
      resume: { phase: 'files', corpus: 'user', pageToken: 'p2' },
      counts: { file: 100 },
    });
    expect(h.checkpointNow().activeSync).toMatchObject({
      startPageToken: '7',
      resume: { pageToken: 'p2' },
      counts: { file: 100 },
    });
    h.last().send({ type: 'SYNC.DONE', cursor: '12', counts: { file: 150 } });
    expect(h.state()).toBe('idle');
    expect(h.checkpointNow()).toMatchObject({
      cursor: '12',
      activeSync: null,
      lastSync: { syncId: 'sync-1', counts: { file: 150 } },
    });
    expect(h.completed).toEqual(['sync-1']);
  });

  it('falls back to a full sync when an incremental trigger finds no cursor, and uses the trigger cursor if it has one', () => {
    const h = harness(blankCheckpoint('c'));
    h.actor.send(trigger('poll'));
    expect(h.state()).toBe('full-syncing');
    const g = harness(blankCheckpoint('d'));
    g.actor.send({ ...trigger('incremental'), lastCursor: '99' } as ConnectionEvent);
    expect(g.state()).toBe('incremental');
    expect(g.last().input.checkpoint.cursor).toBe('99');
  });

  it('turns 500 notifications during a sync into exactly one follow-up run', () => {
    const h = harness(blankCheckpoint('c', { cursor: '5' }));
    h.actor.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w0' });
    expect(h.state()).toBe('incremental');
    for (let i = 1; i <= 500; i++) h.actor.send({ type: 'WEBHOOK_CHANGE', correlationId: `w${i}` });
    expect(h.checkpointNow().pending).toEqual({ mode: 'incremental', correlationId: 'w1' });
    h.last().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('incremental');
    expect(h.runs).toHaveLength(2);
    h.last().send({ type: 'SYNC.DONE', cursor: '7', counts: {} });
    expect(h.state()).toBe('idle');
    expect(h.runs).toHaveLength(2);
  });

  it('lets a full_sync request upgrade a pending incremental one', () => {
    const h = harness(blankCheckpoint('c', { cursor: '5' }));
    h.actor.send(trigger('incremental'));
    h.actor.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w' });
    h.actor.send(trigger('full_sync', 'm2'));
    h.last().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('full-syncing');
  });

  it('backs off on a retryable failure and resumes the same sync from its last durable page', async () => {
    const h = harness(blankCheckpoint('c'));
    h.actor.send(trigger('full_sync'));
    h.last().send({
      type: 'SYNC.PROGRESS',
      startPageToken: '7',
      resume: { phase: 'files', corpus: 'user', pageToken: 'p3' },
      counts: { file: 200 },
    });
    h.last().send({ type: 'SYNC.FAILED', failure: failure({ retryAfterMs: 5_000 }) });
    expect(h.state()).toBe('backing-off');
    const backoff = h.checkpointNow().backoff;
    expect(backoff?.attempt).toBe(1);
    // max(1 s + 0.5 s jitter, Retry-After 5 s)
    expect(new Date(backoff?.until ?? 0).getTime() - Date.now()).toBe(5_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(h.state()).toBe('full-syncing');
    expect(h.runs).toHaveLength(2);
    expect(h.last().input.activeSync).toMatchObject({
      syncId: 'sync-1',
      startPageToken: '7',
      resume: { pageToken: 'p3' },
    });
  });

  it('gives up after the bounded attempts with one error record, keeping the cursor', async () => {
    const h = harness(blankCheckpoint('c', { cursor: '5' }), 2);
    h.actor.send(trigger('incremental'));
    for (let attempt = 1; attempt <= 2; attempt++) {
      h.last().send({ type: 'SYNC.FAILED', failure: failure({}) });
      expect(h.state()).toBe('backing-off');
      await vi.advanceTimersByTimeAsync(70_000);
    }
    h.last().send({ type: 'SYNC.FAILED', failure: failure({}) });
    expect(h.state()).toBe('idle');
    expect(h.errors).toHaveLength(1);
    expect(h.checkpointNow()).toMatchObject({ cursor: '5', activeSync: null, backoff: null });
  });

  it('parks on lost authorization with one error, ignores notifications, and leaves on a new trigger', () => {
    const h = harness(blankCheckpoint('c', { cursor: '5' }));
    h.actor.send(trigger('incremental'));
    h.last().send({
      type: 'SYNC.FAILED',
      failure: failure({ classification: 'auth', code: 'reauth_required', retryable: false }),
    });
    expect(h.state()).toBe('parked');
    for (let i = 0; i < 50; i++) h.actor.send({ type: 'WEBHOOK_CHANGE', correlationId: `w${i}` });
    expect(h.state()).toBe('parked');
    expect(h.errors.map((e) => e.code)).toEqual(['reauth_required']);
    expect(h.runs).toHaveLength(1);
    h.actor.send(trigger('incremental', 'm9'));
    expect(h.state()).toBe('incremental');
    expect(h.checkpointNow().parked).toBeNull();
  });

  it('answers a refused cursor with a fresh full sync', () => {
    const h = harness(blankCheckpoint('c', { cursor: '5' }));
    h.actor.send(trigger('incremental'));
    h.last().send({
      type: 'SYNC.FAILED',
      failure: failure({
        classification: 'invalid_input',
        code: 'invalidPageToken',
        retryable: false,
        cursorInvalid: true,
      }),
    });
    expect(h.state()).toBe('full-syncing');
    expect(h.checkpointNow().cursor).toBeNull();
    expect(h.last().input.activeSync).toMatchObject({ mode: 'full', startPageToken: null, resume: null });
  });

  it('restores into the state its checkpoint describes, deadlines included', async () => {
    const resumed = harness(
      blankCheckpoint('c', {
        activeSync: {
          syncId: 's0',
          mode: 'full',
          startedAt: '2026-11-24T00:00:00.000Z',
          correlationId: null,
          startPageToken: '3',
          resume: { phase: 'files', corpus: 'drive-b', pageToken: 'p9' },
          counts: { file: 900 },
        },
      }),
    );
    expect(resumed.state()).toBe('full-syncing');
    expect(resumed.last().input.activeSync.resume).toEqual({
      phase: 'files',
      corpus: 'drive-b',
      pageToken: 'p9',
    });

    const waiting = harness(
      blankCheckpoint('d', {
        cursor: '5',
        activeSync: {
          syncId: 's1',
          mode: 'incremental',
          startedAt: '2026-11-24T00:00:00.000Z',
          correlationId: null,
          startPageToken: null,
          resume: null,
          counts: {},
        },
        backoff: {
          attempt: 2,
          until: new Date(Date.now() + 3_000).toISOString(),
          reason: 'backendError',
          classification: 'transient',
        },
      }),
    );
    expect(waiting.state()).toBe('backing-off');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(waiting.state()).toBe('incremental');

    expect(
      harness(
        blankCheckpoint('e', { parked: { reason: 'reauth_required', since: '2026-11-24T00:00:00.000Z' } }),
      ).state(),
    ).toBe('parked');
  });

  it('stops the running sync and ends on disconnect', async () => {
    const h = harness(blankCheckpoint('c', { cursor: '5' }));
    h.actor.send(trigger('incremental'));
    const run = h.last();
    h.actor.send({ type: 'DISCONNECT', correlationId: 'd1' });
    expect(run.stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.actor.getSnapshot().status).toBe('done');
  });
});
