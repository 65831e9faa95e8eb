import type { TransitionRecord } from '../../src/actors/inspection.js';
import type {
  CheckpointStore,
  ConnectionActorFactory,
  ConnectionActorHandle,
} from '../../src/actors/supervisor.js';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';

/** A checkpoint with every field at its "nothing happened yet" value. */
export function blankCheckpoint(
  connectionId: string,
  overrides: Partial<ConnectionCheckpoint> = {},
): ConnectionCheckpoint {
  return {
    version: 1,
    connectionId,
    customerId: 'cust',
    cursor: null,
    options: { include: ['permissions'], driveIds: null },
    activeSync: null,
    pending: null,
    backoff: null,
    channel: null,
    parked: null,
    lastSync: null,
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** An actor handle that records the events it receives; for supervisor-level tests only. */
export class RecordingHandle<Event> implements ConnectionActorHandle<Event> {
  readonly received: Event[] = [];
  private readonly listeners: Array<(t: TransitionRecord) => void> = [];
  constructor(private data: ConnectionCheckpoint) {}
  send(event: Event): void {
    this.received.push(event);
    this.data = {
      ...this.data,
      pending: { mode: 'incremental', correlationId: String(this.received.length) },
    };
    for (const l of this.listeners) l({ at: 'now', from: 'idle', to: 'idle', event: 'TEST' });
  }
  state() {
    return 'idle';
  }
  checkpoint() {
    return this.data;
  }
  isDone() {
    return false;
  }
  onTransition(listener: (t: TransitionRecord) => void) {
    this.listeners.push(listener);
  }
  stop() {}
  async whenDone() {}
}

export class RecordingFactory<Event> implements ConnectionActorFactory<Event> {
  readonly handles = new Map<string, RecordingHandle<Event>>();
  create(checkpoint: ConnectionCheckpoint) {
    const handle = new RecordingHandle<Event>(checkpoint);
    this.handles.set(checkpoint.connectionId, handle);
    return handle;
  }
}

export class MemoryCheckpointStore implements CheckpointStore {
  readonly written: ConnectionCheckpoint[] = [];
  constructor(private readonly known: ConnectionCheckpoint[] = []) {}
  get(connectionId: string) {
    return (
      [...this.written].reverse().find((c) => c.connectionId === connectionId) ??
      this.known.find((c) => c.connectionId === connectionId)
    );
  }
  connectionsInPartitions() {
    return this.known;
  }
  async write(checkpoint: ConnectionCheckpoint) {
    this.written.push(checkpoint);
  }
  async tombstone() {}
}
