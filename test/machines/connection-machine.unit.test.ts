import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromCallback } from 'xstate';
import type { ActiveSync, ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { connectionCheckpointSchema } from '../../src/contract/checkpoint.js';
import { BACKOFF_CAP_MS } from '../../src/machines/backoff.js';
import { ClassifiedError } from '../../src/machines/classify.js';
import {
  CHANNEL_REFUSED_RETRY_MS,
  type ConnectionEvent,
  checkpointOf,
  connectionMachine,
  ownDeadlineOf,
  type ReportErrorParams,
  type SyncServiceInput,
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
  HOUR,
  notFound,
  rateLimit,
  T0,
  trigger,
  unknownConnection,
} from './connection-harness.js';

const activeFull = (over: Partial<ActiveSync> = {}): ActiveSync => ({
  syncId: 's0',
  mode: 'full',
  startedAt: '2026-11-24T00:00:00.000Z',
  correlationId: 'm0',
  startPageToken: '3',
  resume: { phase: 'files', corpus: 'drive-b', pageToken: 'p9' },
  counts: { file: 900 },
  ...over,
});
const activeIncremental = (over: Partial<ActiveSync> = {}): ActiveSync => ({
  ...activeFull(),
  syncId: 's1',
  mode: 'incremental',
  startPageToken: null,
  resume: null,
  counts: { file: 4 },
  ...over,
});

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('syncing', () => {
  it('runs a full sync, records progress after every page and ends idle with the cursor', () => {
    const h = createHarness({ checkpoint: checkpoint() });
    expect(h.state()).toBe('idle');
    h.send(trigger('full_sync'));
    expect(h.state()).toBe('full-syncing');
    expect(h.checkpoint().activeSync).toMatchObject({ syncId: 'sync-1', mode: 'full', correlationId: 'm1' });
    expect(h.lastRun().input.activeSync).toMatchObject({ resume: null, startPageToken: null });
    h.lastRun().send({
      type: 'SYNC.PROGRESS',
      startPageToken: '7',
      resume: { phase: 'files', corpus: 'user', pageToken: 'p2' },
      counts: { file: 100 },
    });
    expect(h.checkpoint().activeSync).toMatchObject({
      startPageToken: '7',
      resume: { phase: 'files', corpus: 'user', pageToken: 'p2' },
      counts: { file: 100 },
    });
    vi.setSystemTime(T0.getTime() + 60_000);
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '12', counts: { file: 150 } });
    expect(h.state()).toBe('idle');
    expect(h.checkpoint()).toMatchObject({
      cursor: '12',
      activeSync: null,
      backoff: null,
      lastSync: {
        syncId: 'sync-1',
        mode: 'full',
        counts: { file: 150 },
        finishedAt: '2026-11-25T00:01:00.000Z',
      },
    });
    expect(h.completed.map((c) => c.summary)).toEqual([
      {
        syncId: 'sync-1',
        mode: 'full',
        cursor: '12',
        counts: { file: 150 },
        startedAt: '2026-11-25T00:00:00.000Z',
        finishedAt: '2026-11-25T00:01:00.000Z',
        correlationId: 'm1',
      },
    ]);
    expect(connectionCheckpointSchema.parse(h.checkpoint())).toEqual(h.checkpoint());
  });

  it('carries the new cursor after every incremental page', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('poll'));
    expect(h.state()).toBe('incremental');
    expect(h.lastRun().input.checkpoint.cursor).toBe('5');
    h.lastRun().send({ type: 'SYNC.PROGRESS', cursor: '6', counts: { file: 2 } });
    expect(h.checkpoint()).toMatchObject({ cursor: '6', activeSync: { counts: { file: 2 } } });
  });

  it('falls back to a full sync without a cursor, and uses a trigger cursor only when it has none', () => {
    const none = createHarness({ checkpoint: checkpoint() });
    none.send(trigger('poll'));
    expect(none.state()).toBe('full-syncing');

    const given = createHarness({ checkpoint: checkpoint() });
    given.send(trigger('incremental', 'm1', '99'));
    expect(given.state()).toBe('incremental');
    expect(given.lastRun().input.checkpoint.cursor).toBe('99');

    const own = createHarness({ checkpoint: checkpoint({ cursor: '120' }) });
    own.send(trigger('incremental', 'm1', '99'));
    expect(own.lastRun().input.checkpoint.cursor).toBe('120');
  });

  it('takes the options of the trigger', () => {
    const h = createHarness({ checkpoint: checkpoint() });
    h.send({ ...trigger('full_sync'), include: ['revisions'], driveIds: ['sd1'] } as ConnectionEvent);
    expect(h.lastRun().input.checkpoint.options).toEqual({ include: ['revisions'], driveIds: ['sd1'] });
  });

  it('answers a refused cursor with a fresh full sync, which takes a new start token first', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('incremental'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: cursorRefused() });
    expect(h.state()).toBe('full-syncing');
    expect(h.checkpoint().cursor).toBeNull();
    expect(h.lastRun().input.activeSync).toMatchObject({ mode: 'full', startPageToken: null, resume: null });
    expect(h.errors).toHaveLength(0);

    // Refused again in the full sync's catch-up: the walk starts over.
    h.lastRun().send({ type: 'SYNC.FAILED', failure: cursorRefused() });
    expect(h.state()).toBe('full-syncing');
    expect(h.runs.map((r) => r.kind)).toEqual(['incremental', 'full', 'full']);
    expect(h.runs[1]?.stopped).toBe(true);
  });

  it('gives up at once on a failure that is not retryable, keeping the cursor', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('incremental'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: notFound() });
    expect(h.state()).toBe('idle');
    expect(h.errors.map((e) => [e.failure.code, e.attempt])).toEqual([['notFound', 1]]);
    expect(h.checkpoint()).toMatchObject({ cursor: '5', activeSync: null });
  });

  it('reports a sync service that crashes and returns to idle', () => {
    const machine = connectionMachine.provide({
      actors: {
        fullSync: fromCallback<ConnectionEvent, SyncServiceInput>(() => {
          throw new TypeError('Bearer ya29.secret leaked into a message');
        }),
      },
      actions: { reportError: (_, params: ReportErrorParams) => reported.push(params) },
    });
    const reported: ReportErrorParams[] = [];
    const actor = createActor(machine, {
      input: {
        checkpoint: checkpoint(),
        env: { now: () => new Date(), random: () => 0, newSyncId: () => 'x' },
      },
    }).start();
    actor.send(trigger('full_sync'));
    expect(stateNameOf(actor.getSnapshot())).toBe('idle');
    expect(reported).toHaveLength(1);
    expect(reported[0]?.failure).toMatchObject({ classification: 'internal', retryable: false });
    expect(reported[0]?.failure.message).not.toContain('ya29');
    expect(checkpointOf(actor.getSnapshot()).activeSync).toBeNull();
  });
});

describe('coalescing', () => {
  it('turns 500 notifications during a sync into exactly one follow-up run', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w0' });
    expect(h.state()).toBe('incremental');
    for (let i = 1; i <= 500; i++) h.send({ type: 'WEBHOOK_CHANGE', correlationId: `w${i}` });
    expect(h.checkpoint().pending).toEqual({ mode: 'incremental', correlationId: 'w1' });
    expect(h.runs).toHaveLength(1);
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('incremental');
    expect(h.runs).toHaveLength(2);
    expect(h.lastRun().input.checkpoint.cursor).toBe('6');
    expect(h.checkpoint().pending).toBeNull();
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '7', counts: {} });
    expect(h.state()).toBe('idle');
    expect(h.runs).toHaveLength(2);
  });

  it('drops a run only notifications asked for once a read starts after them, never a trigger', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w0' });
    for (let i = 1; i <= 500; i++) h.send({ type: 'WEBHOOK_CHANGE', correlationId: `w${i}` });
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    // The follow-up waits for the burst to end; what is heard meanwhile its read serves.
    for (let i = 501; i <= 600; i++) h.send({ type: 'WEBHOOK_CHANGE', correlationId: `w${i}` });
    expect(h.checkpoint().pending).toEqual({ mode: 'incremental', correlationId: 'w501' });
    h.lastRun().send({ type: 'SYNC.READING' });
    expect(h.checkpoint().pending).toBeNull();
    // Heard after the read started: a run of its own.
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w601' });
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '7', counts: {} });
    expect(h.runs).toHaveLength(3);
    // A trigger among the notifications keeps its run, whatever read starts.
    h.send(trigger('incremental', 'poll-1'));
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w602' });
    h.lastRun().send({ type: 'SYNC.READING' });
    expect(h.checkpoint().pending).toEqual({ mode: 'incremental', correlationId: 'poll-1' });
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '8', counts: {} });
    expect(h.runs).toHaveLength(4);
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '9', counts: {} });
    expect(h.state()).toBe('idle');
  });

  it('lets a full_sync request upgrade a pending incremental one', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('incremental'));
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w' });
    h.send(trigger('full_sync', 'm2'));
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w2' });
    expect(h.checkpoint().pending).toEqual({ mode: 'full', correlationId: 'w' });
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('full-syncing');
    expect(h.runs).toHaveLength(2);
  });

  it('remembers requests made while backing off, and runs them once after the resumed sync', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('incremental'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
    for (let i = 0; i < 20; i++) h.send({ type: 'WEBHOOK_CHANGE', correlationId: `w${i}` });
    expect(h.state()).toBe('backing-off');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(h.state()).toBe('incremental');
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('incremental');
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '7', counts: {} });
    expect(h.state()).toBe('idle');
    expect(h.runs).toHaveLength(3);
  });

  it('ignores channel sync notifications', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    const before = h.actor.getSnapshot();
    h.send({ type: 'WEBHOOK_SYNC' });
    expect(h.state()).toBe('idle');
    expect(h.actor.getSnapshot().context).toBe(before.context);
    expect(h.runs).toHaveLength(0);
  });
});

describe('backing off', () => {
  it('waits max(backoff, Retry-After) and resumes the same sync from its last durable page', async () => {
    const h = createHarness({ checkpoint: checkpoint() });
    h.send(trigger('full_sync'));
    h.lastRun().send({
      type: 'SYNC.PROGRESS',
      startPageToken: '7',
      resume: { phase: 'files', corpus: 'user', pageToken: 'p3' },
      counts: { file: 200 },
    });
    h.lastRun().send({ type: 'SYNC.FAILED', failure: rateLimit(5_000) });
    expect(h.state()).toBe('backing-off');
    expect(h.lastRun().stopped).toBe(true);
    expect(h.checkpoint().backoff).toEqual({
      attempt: 1,
      until: new Date(T0.getTime() + 5_000).toISOString(),
      reason: 'userRateLimitExceeded',
      classification: 'rate_limited',
    });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(h.state()).toBe('backing-off');
    await vi.advanceTimersByTimeAsync(1);
    expect(h.state()).toBe('full-syncing');
    expect(h.runs).toHaveLength(2);
    expect(h.lastRun().input.activeSync).toMatchObject({
      syncId: 'sync-1',
      startPageToken: '7',
      resume: { phase: 'files', corpus: 'user', pageToken: 'p3' },
      counts: { file: 200 },
    });
  });

  it('grows the delay with each attempt, and a durable page resets the count', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), maxAttempts: 5 });
    h.send(trigger('incremental'));
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
      const until = new Date(h.checkpoint().backoff?.until ?? 0).getTime();
      delays.push(until - Date.now());
      await vi.advanceTimersByTimeAsync(until - Date.now());
    }
    // 2^(n-1) s + 0.5 s of jitter (random() = 0.5 → 500 ms).
    expect(delays).toEqual([1_500, 2_500, 4_500]);
    h.lastRun().send({ type: 'SYNC.PROGRESS', cursor: '6', counts: {} });
    expect(h.checkpoint().backoff).toBeNull();
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
    expect(h.checkpoint().backoff?.attempt).toBe(1);
  });

  it('gives up after maxAttempts with one error record, keeping the cursor', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), maxAttempts: 2 });
    h.send(trigger('incremental'));
    for (let attempt = 1; attempt <= 2; attempt++) {
      h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
      expect(h.state()).toBe('backing-off');
      expect(h.checkpoint().backoff?.attempt).toBe(attempt);
      await vi.advanceTimersByTimeAsync(70_000);
      expect(h.state()).toBe('incremental');
    }
    expect(h.errors).toHaveLength(0);
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
    expect(h.state()).toBe('idle');
    expect(h.errors.map((e) => [e.failure.code, e.attempt])).toEqual([['backendError', 2]]);
    expect(h.checkpoint()).toMatchObject({ cursor: '5', activeSync: null, backoff: null });
    expect(h.runs).toHaveLength(3);
  });

  it("retries without limit while the worker's own Kafka is away, at the backoff's cap", async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), maxAttempts: 2 });
    h.send(trigger('incremental'));
    const kafkaAway = failure({ code: 'kafka_unavailable', retryWithoutLimit: true });
    for (let attempt = 1; attempt <= 12; attempt++) {
      h.lastRun().send({ type: 'SYNC.FAILED', failure: kafkaAway });
      expect(h.state()).toBe('backing-off');
      expect(h.checkpoint().backoff?.attempt).toBe(attempt);
      await vi.advanceTimersByTimeAsync(70_000);
    }
    expect(h.errors).toHaveLength(0);
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('idle');
    expect(h.checkpoint()).toMatchObject({ cursor: '6', backoff: null });
    // A Drive failure after the outage has its usual limit again.
    h.send(trigger('incremental', 'm2'));
    for (let attempt = 1; attempt <= 2; attempt++) {
      h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
      await vi.advanceTimersByTimeAsync(70_000);
    }
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
    expect(h.state()).toBe('idle');
    expect(h.errors).toHaveLength(1);
  });
});

describe('giving up on a full sync', () => {
  it('keeps its resume point, and the next trigger (even an incremental one) continues it', () => {
    const h = createHarness({ checkpoint: checkpoint(), maxAttempts: 1 });
    h.send(trigger('full_sync', 'm1'));
    expect(h.state()).toBe('full-syncing');
    const resume = { phase: 'files', corpus: 'user', pageToken: 'page-7' } as const;
    h.lastRun().send({ type: 'SYNC.PROGRESS', startPageToken: '100', resume, counts: { file: 7000 } });
    const syncId = h.checkpoint().activeSync?.syncId;
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure({ retryable: false }) });
    expect(h.state()).toBe('idle');
    expect(h.errors).toHaveLength(1);
    expect(h.checkpoint().activeSync).toMatchObject({ syncId, startPageToken: '100', resume });
    h.send(trigger('incremental', 'm2'));
    expect(h.state()).toBe('full-syncing');
    expect(h.lastRun().input.activeSync).toMatchObject({ syncId, startPageToken: '100', resume });
  });

  it('does not keep an incremental run: the cursor is its resume point', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), maxAttempts: 1 });
    h.send(trigger('incremental'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure({ retryable: false }) });
    expect(h.checkpoint()).toMatchObject({ cursor: '5', activeSync: null });
  });
});

describe('parked', () => {
  it('reports lost authorization once, ignores notifications, and leaves on a new trigger', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('incremental'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: authFailure() });
    expect(h.state()).toBe('parked');
    expect(h.checkpoint()).toMatchObject({
      parked: { reason: 'reauth_required', since: T0.toISOString() },
      activeSync: null,
      pending: { mode: 'incremental', correlationId: 'm1' },
    });
    for (let i = 0; i < 50; i++) h.send({ type: 'WEBHOOK_CHANGE', correlationId: `w${i}` });
    h.send({ type: 'WEBHOOK_SYNC' });
    expect(h.state()).toBe('parked');
    expect(h.errors.map((e) => e.failure.code)).toEqual(['reauth_required']);
    expect(h.runs).toHaveLength(1);
    h.send(trigger('incremental', 'm9'));
    expect(h.state()).toBe('incremental');
    expect(h.checkpoint().parked).toBeNull();
  });

  it('does not report again when restored parked, and leaves on fresh credentials to run what was interrupted', () => {
    const parked = checkpoint({
      cursor: '5',
      parked: { reason: 'reauth_required', since: T0.toISOString() },
      pending: { mode: 'incremental', correlationId: 'm1' },
    });
    const h = createHarness({ checkpoint: parked });
    expect(h.state()).toBe('parked');
    expect(h.errors).toHaveLength(0);
    h.send({ type: 'CREDENTIALS_REFRESHED' });
    expect(h.state()).toBe('incremental');
    expect(h.lastRun().input.activeSync.correlationId).toBe('m1');
  });

  it('does not keep a connection the control plane does not know and that never synced: one auth record, then it ends', async () => {
    const h = createHarness({ checkpoint: checkpoint() });
    h.send(trigger('full_sync'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: unknownConnection() });
    expect(h.state()).toBe('disconnecting');
    expect(h.errors.map((e) => [e.failure.classification, e.failure.code])).toEqual([
      ['auth', 'unknown_connection'],
    ]);
    h.disconnects[0]?.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('does not keep an unknown connection whose only cursor came with the trigger', async () => {
    const h = createHarness({ checkpoint: checkpoint() });
    h.send(trigger('incremental', 'm1', '77'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: unknownConnection() });
    expect(h.state()).toBe('disconnecting');
    expect(h.errors.map((e) => e.failure.code)).toEqual(['unknown_connection']);
    h.disconnects[0]?.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('parks a connection the control plane does not know any more when it synced before', () => {
    const h = createHarness({
      checkpoint: checkpoint({
        cursor: '5',
        lastSync: { syncId: 's0', mode: 'full', finishedAt: T0.toISOString(), counts: { file: 1 } },
      }),
    });
    h.send(trigger('full_sync'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: unknownConnection() });
    expect(h.state()).toBe('parked');
    expect(h.checkpoint()).toMatchObject({ cursor: '5', parked: { reason: 'unknown_connection' } });
  });

  it('ends on disconnect', async () => {
    const h = createHarness({ checkpoint: checkpoint({ parked: { reason: 'x', since: T0.toISOString() } }) });
    h.send({ type: 'DISCONNECT', correlationId: 'd' });
    expect(h.state()).toBe('disconnecting');
    h.disconnects[0]?.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.actor.getSnapshot().status).toBe('done');
  });
});

describe('restoring', () => {
  const restoreCases: Array<[string, Partial<ConnectionCheckpoint>, string]> = [
    ['nothing', {}, 'idle'],
    ['a cursor', { cursor: '5' }, 'idle'],
    ['a full sync in progress', { activeSync: activeFull() }, 'full-syncing'],
    ['an incremental sync in progress', { cursor: '5', activeSync: activeIncremental() }, 'incremental'],
    [
      'a backoff still running',
      {
        cursor: '5',
        activeSync: activeIncremental(),
        backoff: {
          attempt: 2,
          until: '2026-11-25T00:00:03.000Z',
          reason: 'backendError',
          classification: 'transient',
        },
      },
      'backing-off',
    ],
    [
      'a backoff already over',
      {
        activeSync: activeFull(),
        backoff: {
          attempt: 2,
          until: '2026-11-24T23:00:00.000Z',
          reason: 'backendError',
          classification: 'transient',
        },
      },
      'full-syncing',
    ],
    ['a parked connection', { parked: { reason: 'reauth_required', since: T0.toISOString() } }, 'parked'],
    ['a pending full sync', { cursor: '5', pending: { mode: 'full', correlationId: 'm7' } }, 'full-syncing'],
    [
      'a pending incremental',
      { cursor: '5', pending: { mode: 'incremental', correlationId: 'm7' } },
      'incremental',
    ],
  ];

  it.each(restoreCases)('with %s, lands in the state it describes', (_, over, expected) => {
    const h = createHarness({ checkpoint: checkpoint(over) });
    expect(h.state()).toBe(expected);
  });

  it('resumes a full sync from the checkpoint’s resume point, not from zero', () => {
    const h = createHarness({ checkpoint: checkpoint({ activeSync: activeFull() }) });
    expect(h.lastRun().input.activeSync).toEqual(activeFull());
    expect(h.checkpoint().activeSync?.syncId).toBe('s0');
  });

  it('keeps waiting out a restored backoff, then resumes the interrupted sync', async () => {
    const h = createHarness({
      checkpoint: checkpoint({
        cursor: '5',
        activeSync: activeIncremental(),
        backoff: {
          attempt: 2,
          until: '2026-11-25T00:00:03.000Z',
          reason: 'backendError',
          classification: 'transient',
        },
      }),
    });
    expect(h.runs).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(h.state()).toBe('incremental');
    expect(h.lastRun().input.activeSync.syncId).toBe('s1');
    // The attempt count survives the restore: the next failure is attempt 3.
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
    expect(h.checkpoint().backoff?.attempt).toBe(3);
  });

  it('rebuilds a checkpoint equal to the one it restored from', () => {
    const cp = checkpoint({
      cursor: '5',
      activeSync: activeIncremental(),
      channel: channel(new Date(T0.getTime() + DAY)),
    });
    const h = createHarness({ checkpoint: cp });
    expect(h.checkpoint()).toEqual(cp);
  });
});

describe('channels', () => {
  it('are never opened unless enabled', () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    expect(h.state()).toBe('idle');
    expect(h.renewals).toHaveLength(0);
  });

  it('opens one once there is a cursor, renews it before expiry, and keeps it', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), channelsEnabled: true });
    expect(h.state()).toBe('channel-renewing');
    expect(h.lastRenewal().input.channel).toBeNull();
    h.lastRenewal().resolve(channel(new Date(T0.getTime() + 7 * DAY)));
    await vi.advanceTimersByTimeAsync(0);
    // A change made while the channel opened may never be announced: one run reads it.
    expect(h.state()).toBe('incremental');
    expect(h.checkpoint().channel?.id).toBe('ch-1');
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('idle');

    await vi.advanceTimersByTimeAsync(7 * DAY - HOUR - 1);
    expect(h.state()).toBe('idle');
    await vi.advanceTimersByTimeAsync(1);
    expect(h.state()).toBe('channel-renewing');
    expect(h.lastRenewal().input.channel?.id).toBe('ch-1');
    h.lastRenewal().resolve(channel(new Date(Date.now() + 7 * DAY), 'ch-2'));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.checkpoint().channel?.id).toBe('ch-2');
    expect(h.state()).toBe('incremental');
    expect(h.lastRun().input.activeSync.mode).toBe('incremental');
  });

  it('renews a channel granted a shorter life than the margin 90% into its life, not at once', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), channelsEnabled: true });
    // Drive granted 10 s although the margin is an hour.
    h.lastRenewal().resolve(channel(new Date(T0.getTime() + 10_000)));
    await vi.advanceTimersByTimeAsync(0);
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('idle');
    await vi.advanceTimersByTimeAsync(8_999);
    expect(h.state()).toBe('idle');
    expect(h.renewals).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.state()).toBe('channel-renewing');
    expect(h.lastRenewal().input.channel?.id).toBe('ch-1');
  });

  it('renews a due channel before the pending run, so endless notifications cannot starve the renewal', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), channelsEnabled: true });
    h.lastRenewal().resolve(channel(new Date(T0.getTime() + 7 * DAY)));
    await vi.advanceTimersByTimeAsync(0);
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w1' });
    expect(h.state()).toBe('incremental');
    await vi.advanceTimersByTimeAsync(7 * DAY - HOUR);
    // the channel fell due during the run, and another notification is pending
    h.send({ type: 'WEBHOOK_CHANGE', correlationId: 'w2' });
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('channel-renewing');
    h.lastRenewal().resolve(channel(new Date(Date.now() + 7 * DAY), 'ch-2'));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.state()).toBe('incremental');
    expect(h.checkpoint().channel?.id).toBe('ch-2');
  });

  it('falls back to polling when renewal fails, and retries at a backoff deadline', async () => {
    const h = createHarness({
      // Opened a week ago, half an hour left: inside the renew margin.
      checkpoint: checkpoint({
        cursor: '5',
        channel: {
          ...channel(new Date(T0.getTime() + HOUR / 2)),
          openedAt: new Date(T0.getTime() + HOUR / 2 - 7 * DAY).toISOString(),
        },
      }),
      channelsEnabled: true,
    });
    expect(h.state()).toBe('channel-renewing');
    h.lastRenewal().reject(new ClassifiedError(failure()));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.state()).toBe('idle');
    expect(h.checkpoint().channel).toBeNull();
    // Triggers still sync meanwhile.
    h.send(trigger('poll'));
    expect(h.state()).toBe('incremental');
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(h.state()).toBe('idle');
    await vi.advanceTimersByTimeAsync(1_500);
    expect(h.state()).toBe('channel-renewing');
    expect(h.renewals).toHaveLength(2);
    // A busy Drive is no news for the control plane.
    expect(h.errors).toHaveLength(0);
  });

  const refusedWatch = () =>
    new ClassifiedError(
      failure({
        classification: 'invalid_input',
        code: 'push.webhookUrlUnauthorized',
        retryable: false,
        httpStatus: 400,
      }),
    );

  it('retries a watch refused for good hours later, reporting it once per streak, and polling meanwhile', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), channelsEnabled: true });
    expect(h.state()).toBe('channel-renewing');
    h.lastRenewal().reject(refusedWatch());
    await vi.advanceTimersByTimeAsync(0);
    expect(h.state()).toBe('idle');
    expect(h.errors.map((e) => [e.failure.code, e.attempt])).toEqual([['push.webhookUrlUnauthorized', 1]]);

    h.send(trigger('poll'));
    expect(h.state()).toBe('incremental');
    h.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    // Not within the transient backoff's minute, nor before the refusal delay.
    await vi.advanceTimersByTimeAsync(CHANNEL_REFUSED_RETRY_MS - 1);
    expect(h.state()).toBe('idle');
    expect(h.renewals).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(CHANNEL_REFUSED_RETRY_MS * 0.1 + 1);
    expect(h.state()).toBe('channel-renewing');
    expect(h.renewals).toHaveLength(2);

    h.lastRenewal().reject(refusedWatch());
    await vi.advanceTimersByTimeAsync(0);
    expect(h.state()).toBe('idle');
    expect(h.errors).toHaveLength(1);

    // A transient failure ends the streak: the next refusal is news again.
    await vi.advanceTimersByTimeAsync(CHANNEL_REFUSED_RETRY_MS * 1.1 + 1);
    h.lastRenewal().reject(new ClassifiedError(failure()));
    await vi.advanceTimersByTimeAsync(BACKOFF_CAP_MS + 2_000);
    expect(h.renewals).toHaveLength(4);
    h.lastRenewal().reject(refusedWatch());
    await vi.advanceTimersByTimeAsync(0);
    expect(h.errors.map((e) => e.attempt)).toEqual([1, 4]);
  });

  it("keeps a refused watch's pace in its checkpoint: a restored actor neither renews at once nor reports again", async () => {
    const first = createHarness({ checkpoint: checkpoint({ cursor: '5' }), channelsEnabled: true });
    first.lastRenewal().reject(refusedWatch());
    await vi.advanceTimersByTimeAsync(0);
    const saved = connectionCheckpointSchema.parse(JSON.parse(JSON.stringify(first.checkpoint())));
    expect(saved.channelRetry).toMatchObject({ attempt: 1, refused: true });
    first.actor.stop();
    const retryAt = Date.parse(saved.channelRetry?.until ?? '');
    expect(ownDeadlineOf(saved, { enabled: true, renewMarginMs: HOUR })).toBe(retryAt);

    const restored = createHarness({ checkpoint: saved, channelsEnabled: true });
    restored.send(trigger('poll'));
    expect(restored.state()).toBe('incremental');
    restored.lastRun().send({ type: 'SYNC.DONE', cursor: '6', counts: {} });
    expect(restored.renewals).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(retryAt - Date.now());
    expect(restored.state()).toBe('channel-renewing');
    restored.lastRenewal().reject(refusedWatch());
    await vi.advanceTimersByTimeAsync(0);
    expect(restored.errors).toHaveLength(0);
  });

  it('names the moment a connection acts by itself: its backoff, its channel renewal, or none', () => {
    const channels = { enabled: true, renewMarginMs: HOUR };
    const open = channel(new Date(T0.getTime() + 7 * DAY));
    const dueAt = Date.parse(open.expiration) - HOUR;
    expect(ownDeadlineOf(checkpoint({ cursor: '5', channel: open }), channels)).toBe(dueAt);
    expect(
      ownDeadlineOf(checkpoint({ cursor: '5', channel: open }), { ...channels, enabled: false }),
    ).toBeNull();
    expect(ownDeadlineOf(checkpoint({ cursor: '5' }), { ...channels, enabled: false })).toBeNull();
    // Channels on and none open yet: at once.
    expect(ownDeadlineOf(checkpoint({ cursor: '5' }), channels)).toBe(0);
    const backoff = {
      attempt: 1,
      until: new Date(dueAt - 1).toISOString(),
      reason: 'x',
      classification: 'transient' as const,
    };
    expect(ownDeadlineOf(checkpoint({ cursor: '5', channel: open, backoff }), channels)).toBe(dueAt - 1);
    // A parked connection renews nothing until a trigger comes.
    expect(
      ownDeadlineOf(
        checkpoint({ cursor: '5', channel: open, parked: { reason: 'auth', since: T0.toISOString() } }),
        channels,
      ),
    ).toBeNull();
  });

  it('parks the connection when the watch says its authorization is gone; a trigger unparks and renews', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), channelsEnabled: true });
    h.lastRenewal().reject(
      new ClassifiedError(
        failure({ classification: 'auth', code: 'authError', retryable: false, httpStatus: 401 }),
      ),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(h.state()).toBe('parked');
    expect(h.checkpoint().parked?.reason).toBe('authError');
    expect(h.errors.map((e) => e.failure.classification)).toEqual(['auth']);
    // Parked: no renewal on its own, however long.
    await vi.advanceTimersByTimeAsync(7 * DAY);
    expect(h.renewals).toHaveLength(1);

    h.send(trigger('poll'));
    expect(h.state()).toBe('channel-renewing');
    expect(h.renewals).toHaveLength(2);
  });

  it('reports an unexpected failure of the renewal as the renewal’s, not the sync service’s', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }), channelsEnabled: true });
    h.lastRenewal().reject(new TypeError('bug'));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.errors[0]?.failure.message).toBe('the channel renewal stopped unexpectedly (TypeError)');
  });
});

describe('disconnect', () => {
  it('stops the running sync and ends', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('incremental'));
    const run = h.lastRun();
    h.send({ type: 'DISCONNECT', correlationId: 'd1' });
    expect(run.stopped).toBe(true);
    h.send(trigger('full_sync'));
    expect(h.state()).toBe('disconnecting');
    expect(h.disconnects[0]?.input).toMatchObject({ checkpoint: { connectionId: 'conn_abc' } });
    h.disconnects[0]?.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.runs).toHaveLength(1);
  });

  it('ends even when the tombstone could not be written, and cancels a backoff', async () => {
    const h = createHarness({ checkpoint: checkpoint({ cursor: '5' }) });
    h.send(trigger('incremental'));
    h.lastRun().send({ type: 'SYNC.FAILED', failure: failure() });
    h.send({ type: 'DISCONNECT', correlationId: 'd1' });
    h.disconnects[0]?.reject(new Error('state topic down'));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.runs).toHaveLength(1);
  });
});
