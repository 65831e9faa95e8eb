import type { ConnectionCheckpoint } from '../contract/checkpoint.js';

/**
 * The read-only view of the supervisor's connection actors that the HTTP layer serves
 * (`/connections`, its SSE stream and the status page). Everything here is safe to show:
 * a checkpoint holds no token, and channel tokens are derived, never stored.
 */

export interface TransitionRecord {
  readonly at: string;
  readonly from: string | null;
  readonly to: string;
  /** The XState event type that caused it (e.g. `TRIGGER`, `xstate.done.actor.fullSync`). */
  readonly event: string;
}

export interface ConnectionView {
  readonly connectionId: string;
  /** The machine's state value, e.g. `idle`, `full-syncing`, `backing-off`. */
  readonly state: string;
  /** In memory now, or evicted while idle (shown from its checkpoint). */
  readonly resident: boolean;
  readonly checkpoint: ConnectionCheckpoint;
  /** Newest last, bounded (the last 50). */
  readonly transitions: readonly TransitionRecord[];
}

export interface ConnectionInspector {
  list(filter?: { readonly state?: string }): ConnectionView[];
  get(connectionId: string): ConnectionView | undefined;
  /** Called after every transition of that connection; returns an unsubscribe function. */
  subscribe(
    connectionId: string,
    listener: (view: ConnectionView, transition: TransitionRecord) => void,
  ): () => void;
  /** Called after every transition of any connection (the page's overview). */
  subscribeAll(listener: (view: ConnectionView, transition: TransitionRecord) => void): () => void;
}

/** One named precondition of readiness (consumer joined, producer connected, checkpoints restored). */
export interface ReadinessCheck {
  readonly name: string;
  check(): { readonly ok: boolean; readonly reason?: string };
}
