import { describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../src/actors/inspection.js';
import {
  type CheckpointStore,
  type ConnectionActorFactory,
  type ConnectionActorHandle,
  ConnectionStoppedError,
  ConnectionSupervisor,
} from '../../src/actors/supervisor.js';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { createLogger } from '../../src/logger.js';
import { blankCheckpoint } from '../support/stand-in-connections.js';

/**
 * A stand-in actor: `trigger` changes the cursor (a saved change), `disconnect` enters
 * `disconnecting` until the test ends it, `park` starts an error record the test acknowledges.
 */
type TestEvent = { type: 'trigger'; cursor: string } | { type: 'disconnect' } | { type: 'park' };

class TestHandle implements ConnectionActorHandle<TestEvent> {
  current = 'idle';
  finished = false;
  stopped = false;
  readonly received: TestEvent[] = [];
  private readonly listeners: Array<(t: TransitionRecord) => void> = [];
  private end: () => void = () => undefined;
  private readonly ended = new Promise<void>((resolve) => {
    this.end = resolve;
  });
  pendingEffect: Promise<void> = Promise.resolve();
  acknowledgeEffect: () => void = () => undefined;
  constructor(public data: ConnectionCheckpoint) {}
  private move(to: string, event: string) {
    const from = this.current;
    this.current = to;
    for (const l of this.listeners) l({ at: 'now', from, to, event });
  }
  send(event: TestEvent): void {
    this.received.push(event);
    if (event.type === 'trigger') {
      this.data = { ...this.data, cursor: event.cursor };
      this.move('idle', event.type);
    } else if (event.type === 'disconnect') {
      this.move('disconnecting', event.type);
    } else {
      this.pendingEffect = new Promise<void>((resolve) => {
        this.acknowledgeEffect = resolve;
      });
      this.data = { ...this.data, parked: { reason: 'reauth_required', since: this.data.updatedAt } };
      this.move('parked', event.type);
    }
  }
  /** The disconnect service finished: channel stopped, tombstone acknowledged. */
  finishDisconnect() {
    this.finished = true;
    this.move('disconnected', 'xstate.done.actor.disconnect');
    this.end();
  }
  state() {
    return this.current;
  }
  checkpoint() {
    return this.data;
  }
  isDone() {
    return this.finished;
  }
  onTransition(listener: (t: TransitionRecord) => void) {
    this.listeners.push(listener);
  }
  whenDone() {
    return this.ended;
  }
  effects() {
    return this.pendingEffect;
  }
  stop() {
    this.stopped = true;
    this.end();
  }
}

class MemoryStore implements CheckpointStore {
  readonly written: ConnectionCheckpoint[] = [];
  readonly values = new Map<string, ConnectionCheckpoint>();
  failWrites = false;
  get(connectionId: string) {
    return this.values.get(connectionId);
  }
  connectionsInPartitions() {
    return [...this.values.values()];
  }
  async write(c: ConnectionCheckpoint) {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failWrites) throw new Error('broker away');
    this.written.push(c);
    this.values.set(c.connectionId, c);
  }
  async tombstone(connectionId: string) {
    this.values.delete(connectionId);
  }
}

function setup() {
  const handles: TestHandle[] = [];
  const factory: ConnectionActorFactory<TestEvent> = {
    create(c) {
      const handle = new TestHandle(c);
      handles.push(handle);
      return handle;
    },
  };
  const store = new MemoryStore();
  const logger = createLogger({ level: 'silent', format: 'json' });
  const supervisor = new ConnectionSupervisor(factory, store, logger, { idleEvictionMs: 0 });
  return { supervisor, store, handles };
}

const settled = async <T>(promise: Promise<T>) => {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => {
      state = 'resolved';
    },
    () => {
      state = 'rejected';
    },
  );
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return state;
};

describe('supervisor: ownership and acknowledged effects', () => {
  it('stops the actors of revoked partitions at once and writes nothing more of theirs', async () => {
    const { supervisor, store, handles } = setup();
    await supervisor.dispatch('a', { type: 'trigger', cursor: '1' }, () => blankCheckpoint('a'), 0);
    await supervisor.dispatch('b', { type: 'trigger', cursor: '1' }, () => blankCheckpoint('b'), 1);
    const [a, b] = handles;
    // A change queued just before the revocation is dropped with its actor.
    a?.send({ type: 'trigger', cursor: '2' });
    expect(supervisor.revoke([0])).toBe(1);
    expect(a?.stopped).toBe(true);
    expect(b?.stopped).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(store.written.filter((c) => c.connectionId === 'a').map((c) => c.cursor)).toEqual(['1']);
    expect(supervisor.list().map((v) => v.connectionId)).toEqual(['b']);
  });

  it('commits a disconnect only once the actor ended, and replays a trigger sent meanwhile on a fresh actor', async () => {
    const { supervisor, handles } = setup();
    await supervisor.dispatch('a', { type: 'trigger', cursor: '1' }, () => blankCheckpoint('a'), 0);
    const disconnect = supervisor.dispatch('a', { type: 'disconnect' }, () => blankCheckpoint('a'), 0);
    expect(await settled(disconnect)).toBe('pending');
    const reconnect = supervisor.dispatch(
      'a',
      { type: 'trigger', cursor: 'fresh' },
      () => blankCheckpoint('a'),
      0,
    );
    expect(await settled(reconnect)).toBe('pending');
    const first = handles[0];
    expect(first?.received.map((e) => e.type)).toEqual(['trigger', 'disconnect']);
    first?.finishDisconnect();
    await disconnect;
    await reconnect;
    expect(handles).toHaveLength(2);
    expect(handles[1]?.received).toEqual([{ type: 'trigger', cursor: 'fresh' }]);
    expect(supervisor.get('a')?.checkpoint.cursor).toBe('fresh');
  });

  it('does not commit a disconnect whose actor was stopped before it ended', async () => {
    const { supervisor } = setup();
    const disconnect = supervisor.dispatch('a', { type: 'disconnect' }, () => blankCheckpoint('a'), 0);
    expect(await settled(disconnect)).toBe('pending');
    expect(supervisor.revoke([0])).toBe(1);
    await expect(disconnect).rejects.toThrow(ConnectionStoppedError);
  });

  it('writes the state that follows an error record only after the record is acknowledged', async () => {
    const { supervisor, store, handles } = setup();
    const parking = supervisor.dispatch('a', { type: 'park' }, () => blankCheckpoint('a'), 0);
    expect(await settled(parking)).toBe('pending');
    expect(store.written).toHaveLength(0);
    handles[0]?.acknowledgeEffect();
    await parking;
    expect(store.written.map((c) => c.parked?.reason)).toEqual(['reauth_required']);
  });

  it('leaves no unhandled rejection when a checkpoint write nobody awaits fails', async () => {
    const { supervisor, store, handles } = setup();
    await supervisor.dispatch('a', { type: 'trigger', cursor: '1' }, () => blankCheckpoint('a'), 0);
    const unhandled: unknown[] = [];
    const onRejection = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      store.failWrites = true;
      // A transition of the actor's own (a page's progress), not a dispatched message.
      handles[0]?.send({ type: 'trigger', cursor: '2' });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('restores a partition with an uncommitted backlog only when asked to resume it', () => {
    const { supervisor, store, handles } = setup();
    const busy = (id: string) =>
      blankCheckpoint(id, {
        activeSync: {
          syncId: 's',
          mode: 'full',
          startedAt: '2026-01-01T00:00:00.000Z',
          correlationId: null,
          startPageToken: null,
          resume: null,
          counts: {},
        },
      });
    store.values.set('a', busy('a'));
    expect(supervisor.restore([0], [0])).toEqual({ started: 0, stopped: 0 });
    expect(handles).toHaveLength(0);
    expect(supervisor.resume([0])).toBe(1);
    expect(handles.map((h) => h.data.connectionId)).toEqual(['a']);
  });
});
