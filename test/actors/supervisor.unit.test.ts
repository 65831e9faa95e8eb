import { describe, expect, it, vi } from 'vitest';
import type { TransitionRecord } from '../../src/actors/inspection.js';
import {
  type CheckpointStore,
  type ConnectionActorFactory,
  type ConnectionActorHandle,
  ConnectionSupervisor,
} from '../../src/actors/supervisor.js';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { subscribe } from '../../src/instrumentation.js';
import { createLogger } from '../../src/logger.js';
import { blankCheckpoint } from '../support/stand-in-connections.js';

/** A tiny stand-in machine: `sync` toggles between idle and full-syncing, `end` finishes. */
type TestEvent = { type: 'sync' } | { type: 'done'; cursor: string } | { type: 'end' };

const checkpoint = blankCheckpoint;

class TestHandle implements ConnectionActorHandle<TestEvent> {
  private current: string;
  private done = false;
  private readonly listeners: Array<(t: TransitionRecord) => void> = [];
  stopped = false;
  constructor(private data: ConnectionCheckpoint) {
    this.current = data.parked ? 'parked' : data.activeSync ? 'full-syncing' : 'idle';
  }
  send(event: TestEvent): void {
    const from = this.current;
    if (event.type === 'sync') {
      this.current = 'full-syncing';
      this.data = {
        ...this.data,
        activeSync: {
          syncId: 's1',
          mode: 'full',
          startedAt: this.data.updatedAt,
          correlationId: null,
          startPageToken: null,
          resume: null,
          counts: {},
        },
      };
    } else if (event.type === 'done') {
      this.current = 'idle';
      this.data = { ...this.data, activeSync: null, cursor: event.cursor };
    } else {
      this.current = 'disconnected';
      this.done = true;
    }
    for (const l of this.listeners) l({ at: 'now', from, to: this.current, event: event.type });
  }
  state() {
    return this.current;
  }
  checkpoint() {
    return this.data;
  }
  isDone() {
    return this.done;
  }
  onTransition(listener: (t: TransitionRecord) => void) {
    this.listeners.push(listener);
  }
  stop() {
    this.stopped = true;
  }
  async whenDone() {}
}

/** A state-topic table: what was written is read back, as the real table follows its topic. */
class MemoryStore implements CheckpointStore {
  readonly written: ConnectionCheckpoint[] = [];
  /** Writes resolve but are not read back while false (a table lagging behind its topic). */
  readsBack = true;
  constructor(private readonly byPartition: Map<number, ConnectionCheckpoint[]> = new Map()) {}
  get(connectionId: string) {
    if (this.readsBack) {
      const last = this.written.findLast((c) => c.connectionId === connectionId);
      if (last) return last;
    }
    return [...this.byPartition.values()].flat().find((c) => c.connectionId === connectionId);
  }
  connectionsInPartitions(partitions: readonly number[]) {
    return partitions.flatMap((p) => this.byPartition.get(p) ?? []);
  }
  async write(c: ConnectionCheckpoint) {
    await new Promise((resolve) => setImmediate(resolve));
    this.written.push(c);
  }
  async tombstone() {}
}

function setup(
  store = new MemoryStore(),
  now = () => 0,
  options: Partial<ConstructorParameters<typeof ConnectionSupervisor<TestEvent>>[3]> = {},
) {
  const handles = new Map<string, TestHandle>();
  const factory: ConnectionActorFactory<TestEvent> = {
    create(c) {
      const handle = new TestHandle(c);
      handles.set(c.connectionId, handle);
      return handle;
    },
  };
  const logger = createLogger({ level: 'silent', format: 'json' });
  const supervisor = new ConnectionSupervisor(factory, store, logger, {
    idleEvictionMs: 1000,
    now,
    ...options,
  });
  return { supervisor, store, handles };
}

describe('ConnectionSupervisor', () => {
  it('creates one actor per connection and resolves dispatch after the checkpoint is written', async () => {
    const { supervisor, store, handles } = setup();
    await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
    expect(store.written.map((c) => c.connectionId)).toEqual(['a']);
    expect(store.written[0]?.activeSync?.syncId).toBe('s1');
    await supervisor.dispatch('a', { type: 'done', cursor: '42' }, () => checkpoint('a'), 0);
    expect(handles.size).toBe(1);
    expect(store.written.map((c) => c.cursor)).toEqual([null, '42']);
    expect(supervisor.get('a')).toMatchObject({
      state: 'idle',
      resident: true,
      checkpoint: { cursor: '42' },
    });
    expect(supervisor.get('a')?.transitions.map((t) => t.to)).toEqual(['full-syncing', 'idle']);
  });

  it('does not write a checkpoint that did not change', async () => {
    const { supervisor, store } = setup();
    await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
    await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
    expect(store.written).toHaveLength(1);
  });

  it('forgets a connection that reached its final state', async () => {
    const { supervisor } = setup();
    await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
    await supervisor.dispatch('a', { type: 'end' }, () => checkpoint('a'), 0);
    expect(supervisor.residentCount).toBe(0);
  });

  it('restores connections with work to resume in assigned partitions, and drops revoked ones', async () => {
    const busy = checkpoint('busy', {
      activeSync: {
        syncId: 's0',
        mode: 'full',
        startedAt: '2026-01-01T00:00:00.000Z',
        correlationId: null,
        startPageToken: '7',
        resume: { phase: 'files', corpus: 'user', pageToken: 'p3' },
        counts: {},
      },
    });
    const quiet = checkpoint('quiet', { cursor: '9' });
    const elsewhere = checkpoint('elsewhere', { pending: { mode: 'incremental', correlationId: null } });
    const store = new MemoryStore(
      new Map([
        [0, [busy, quiet]],
        [1, [elsewhere]],
      ]),
    );
    const { supervisor, handles } = setup(store);
    expect(supervisor.restore([0])).toEqual({ started: 1, stopped: 0 });
    expect([...handles.keys()]).toEqual(['busy']);
    expect(supervisor.get('busy')?.state).toBe('full-syncing');
    // An idle connection is shown from its checkpoint without being loaded.
    expect(supervisor.get('quiet')).toMatchObject({ resident: false, state: 'idle' });
    expect(supervisor.restore([1])).toEqual({ started: 1, stopped: 1 });
    expect(handles.get('busy')?.stopped).toBe(true);
  });

  it('evicts idle actors after the eviction age, keeping busy ones', async () => {
    let clock = 0;
    const { supervisor, handles } = setup(new MemoryStore(), () => clock);
    await supervisor.dispatch('idle-one', { type: 'sync' }, () => checkpoint('idle-one'), 0);
    await supervisor.dispatch('idle-one', { type: 'done', cursor: '1' }, () => checkpoint('idle-one'), 0);
    await supervisor.dispatch('busy-one', { type: 'sync' }, () => checkpoint('busy-one'), 0);
    clock = 999;
    expect(supervisor.evictIdle()).toBe(0);
    clock = 2000;
    expect(supervisor.evictIdle()).toBe(1);
    expect(handles.get('idle-one')?.stopped).toBe(true);
    expect(supervisor.list().map((v) => v.connectionId)).toEqual(['busy-one']);
  });

  it('reports each actor it creates, rebuilt from a checkpoint or new', async () => {
    let clock = 0;
    const activated: string[] = [];
    const off = subscribe('connection.activated', ({ connectionId, from }) =>
      activated.push(`${connectionId} ${from}`),
    );
    try {
      const { supervisor } = setup(new MemoryStore(), () => clock);
      await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
      await supervisor.dispatch('a', { type: 'done', cursor: '1' }, () => checkpoint('a'), 0);
      clock = 2000;
      expect(supervisor.evictIdle()).toBe(1);
      await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
      // A resident actor is not created again.
      await supervisor.dispatch('a', { type: 'done', cursor: '2' }, () => checkpoint('a'), 0);
      expect(activated).toEqual(['a fresh', 'a checkpoint']);
    } finally {
      off();
    }
  });

  it('keeps an actor whose latest checkpoint the table has not read back yet', async () => {
    let clock = 0;
    const store = new MemoryStore();
    const { supervisor } = setup(store, () => clock);
    await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
    store.readsBack = false;
    await supervisor.dispatch('a', { type: 'done', cursor: '1' }, () => checkpoint('a'), 0);
    clock = 2000;
    expect(supervisor.evictIdle()).toBe(0);
    store.readsBack = true;
    expect(supervisor.evictIdle()).toBe(1);
  });

  describe('with wake-ups (ownDeadline)', () => {
    const channel = {
      id: 'ch-1',
      resourceId: 'res-1',
      openedAt: '2026-01-01T00:00:00.000Z',
      expiration: '2026-01-08T00:00:00.000Z',
    };
    // The stand-in's deadline: the channel's expiry, for any checkpoint with a channel.
    const ownDeadline = (c: ConnectionCheckpoint) => (c.channel ? Date.parse(c.channel.expiration) : null);
    const start = Date.parse('2026-01-02T00:00:00.000Z');

    it('evicts an idle actor with a channel, and wakes it from its checkpoint at its deadline only', async () => {
      vi.useFakeTimers({ now: start, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      try {
        const store = new MemoryStore(new Map([[0, [checkpoint('ch', { cursor: '5', channel })]]]));
        const created: string[] = [];
        const { supervisor, handles } = setup(store, Date.now, { ownDeadline });
        const factoryCreate = handles.set.bind(handles);
        handles.set = (id, handle) => {
          created.push(id);
          return factoryCreate(id, handle);
        };
        await supervisor.dispatch('ch', { type: 'sync' }, () => checkpoint('ch'), 0);
        await supervisor.dispatch('ch', { type: 'done', cursor: '6' }, () => checkpoint('ch'), 0);
        await vi.advanceTimersByTimeAsync(2000);
        expect(supervisor.evictIdle()).toBe(1);
        expect(handles.get('ch')?.stopped).toBe(true);
        expect(supervisor.residentCount).toBe(0);
        expect(supervisor.sleepingCount).toBe(1);
        expect(supervisor.get('ch')).toMatchObject({ resident: false, checkpoint: { cursor: '6', channel } });

        // Nothing happens before the deadline; at it, the actor is back from its checkpoint.
        await vi.advanceTimersByTimeAsync(Date.parse(channel.expiration) - Date.now() - 1);
        expect(created).toEqual(['ch']);
        await vi.advanceTimersByTimeAsync(1);
        expect(created).toEqual(['ch', 'ch']);
        expect(supervisor.get('ch')).toMatchObject({ resident: true, checkpoint: { cursor: '6' } });
        expect(supervisor.sleepingCount).toBe(0);
      } finally {
        vi.useRealTimers();
      }
    });

    it('restores connections whose only work is a deadline as sleepers, and forgets those of revoked partitions', async () => {
      vi.useFakeTimers({ now: start, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
      try {
        const store = new MemoryStore(
          new Map([
            [0, [checkpoint('zero', { cursor: '1', channel })]],
            [
              1,
              [
                checkpoint('one', {
                  cursor: '1',
                  channel: { ...channel, expiration: '2026-01-03T00:00:00.000Z' },
                }),
              ],
            ],
          ]),
        );
        const { supervisor, handles } = setup(store, Date.now, { ownDeadline });
        expect(supervisor.restore([0, 1])).toEqual({ started: 0, stopped: 0 });
        expect(supervisor.sleepingCount).toBe(2);
        supervisor.revoke([1]);
        expect(supervisor.sleepingCount).toBe(1);
        await vi.advanceTimersByTimeAsync(Date.parse('2026-01-03T00:00:00.000Z') - start);
        expect(handles.has('one')).toBe(false);
        await vi.advanceTimersByTimeAsync(Date.parse(channel.expiration) - Date.now());
        expect([...handles.keys()]).toEqual(['zero']);
      } finally {
        vi.useRealTimers();
      }
    });
  });

  it('evicts parked actors after the eviction age, waiting run and all, and rehydrates them from their checkpoint', async () => {
    let clock = 0;
    const junk = checkpoint('junk', {
      parked: { reason: 'connection_not_found', since: '2026-01-01T00:00:00.000Z' },
      pending: { mode: 'full', correlationId: 'm1' },
    });
    const { supervisor, handles } = setup(new MemoryStore(new Map([[0, [junk]]])), () => clock);
    supervisor.restore([0]);
    const first = handles.get('junk');
    expect(first?.state()).toBe('parked');
    clock = 999;
    expect(supervisor.evictIdle()).toBe(0);
    clock = 2000;
    expect(supervisor.evictIdle()).toBe(1);
    expect(first?.stopped).toBe(true);
    expect(supervisor.residentCount).toBe(0);

    // The next message for it meets an actor made from its checkpoint: parked, as it was.
    await supervisor.dispatch('junk', { type: 'sync' }, () => checkpoint('junk'), 0);
    const second = handles.get('junk');
    expect(second).not.toBe(first);
    expect(second?.checkpoint().parked?.reason).toBe('connection_not_found');
  });

  it('on a graceful stop, lets a busy actor reach its next transition and writes it before stopping', async () => {
    const { supervisor, store, handles } = setup();
    await supervisor.dispatch('busy', { type: 'sync' }, () => checkpoint('busy'), 0);
    await supervisor.dispatch('calm', { type: 'sync' }, () => checkpoint('calm'), 1);
    await supervisor.dispatch('calm', { type: 'done', cursor: '1' }, () => checkpoint('calm'), 1);
    const stopped = supervisor.stopAll({ drainMs: 60_000 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(handles.get('busy')?.stopped).toBe(false);

    // The page in hand ends: its checkpoint is on the store before the actor stops.
    handles.get('busy')?.send({ type: 'done', cursor: '9' });
    await stopped;
    expect(store.written.at(-1)).toMatchObject({ connectionId: 'busy', cursor: '9' });
    expect(handles.get('busy')?.stopped).toBe(true);
    expect(handles.get('calm')?.stopped).toBe(true);
    expect(supervisor.residentCount).toBe(0);
  });

  it('on a graceful stop, stops a busy actor anyway once the drain time is over', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { supervisor, handles } = setup();
      await supervisor.dispatch('stuck', { type: 'sync' }, () => checkpoint('stuck'), 0);
      const stopped = supervisor.stopAll({ drainMs: 5_000 });
      await vi.advanceTimersByTimeAsync(5_000);
      await stopped;
      expect(handles.get('stuck')?.stopped).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('tells subscribers about every transition, and survives a throwing listener', async () => {
    const { supervisor } = setup();
    const seen: string[] = [];
    supervisor.subscribeAll(() => {
      throw new Error('broken listener');
    });
    const unsubscribe = supervisor.subscribe('a', (view, t) => seen.push(`${view.connectionId}:${t.to}`));
    await supervisor.dispatch('a', { type: 'sync' }, () => checkpoint('a'), 0);
    unsubscribe();
    await supervisor.dispatch('a', { type: 'done', cursor: '1' }, () => checkpoint('a'), 0);
    expect(seen).toEqual(['a:full-syncing']);
  });
});
