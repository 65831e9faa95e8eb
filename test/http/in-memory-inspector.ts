import type {
  ConnectionInspector,
  ConnectionView,
  ReadinessCheck,
  TransitionRecord,
} from '../../src/actors/inspection.js';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { blankCheckpoint } from '../support/stand-in-connections.js';

type Listener = (view: ConnectionView, transition: TransitionRecord) => void;

/**
 * A small, real ConnectionInspector: connections held in a map, moved by `transition()`,
 * which notifies subscribers exactly as the supervisor does after an actor's transition.
 */
export class InMemoryInspector implements ConnectionInspector {
  private readonly views = new Map<string, ConnectionView>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly allListeners = new Set<Listener>();

  add(connectionId: string, state: string, overrides: Partial<ConnectionCheckpoint> = {}): ConnectionView {
    const view: ConnectionView = {
      connectionId,
      state,
      resident: true,
      checkpoint: blankCheckpoint(connectionId, overrides),
      transitions: [],
    };
    this.views.set(connectionId, view);
    return view;
  }

  transition(
    connectionId: string,
    to: string,
    event: string,
    checkpoint: Partial<ConnectionCheckpoint> = {},
  ): TransitionRecord {
    const current = this.views.get(connectionId);
    if (!current) throw new Error(`unknown connection ${connectionId}`);
    const record: TransitionRecord = { at: new Date().toISOString(), from: current.state, to, event };
    const next: ConnectionView = {
      ...current,
      state: to,
      checkpoint: { ...current.checkpoint, ...checkpoint, updatedAt: record.at },
      transitions: [...current.transitions, record].slice(-50),
    };
    this.views.set(connectionId, next);
    for (const listener of this.listeners.get(connectionId) ?? []) listener(next, record);
    for (const listener of this.allListeners) listener(next, record);
    return record;
  }

  listenerCount(connectionId?: string): number {
    return connectionId === undefined
      ? this.allListeners.size
      : (this.listeners.get(connectionId)?.size ?? 0);
  }

  list(filter?: { readonly state?: string }): ConnectionView[] {
    const all = [...this.views.values()];
    return filter?.state ? all.filter((v) => v.state === filter.state) : all;
  }

  get(connectionId: string): ConnectionView | undefined {
    return this.views.get(connectionId);
  }

  subscribe(connectionId: string, listener: Listener): () => void {
    const set = this.listeners.get(connectionId) ?? new Set<Listener>();
    set.add(listener);
    this.listeners.set(connectionId, set);
    return () => {
      set.delete(listener);
    };
  }

  subscribeAll(listener: Listener): () => void {
    this.allListeners.add(listener);
    return () => {
      this.allListeners.delete(listener);
    };
  }
}

/** A readiness check whose answer the test sets. */
export class SwitchableCheck implements ReadinessCheck {
  constructor(
    readonly name: string,
    public ok: boolean,
    public reason?: string,
  ) {}
  check() {
    return this.ok ? { ok: true } : { ok: false, reason: this.reason };
  }
}
