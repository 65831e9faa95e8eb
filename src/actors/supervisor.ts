import { isDeepStrictEqual } from 'node:util';
import type { ConnectionCheckpoint } from '../contract/checkpoint.js';
import { publish } from '../instrumentation.js';
import type { Logger } from '../logger.js';
import type { ConnectionInspector, ConnectionView, TransitionRecord } from './inspection.js';
import { WakeSchedule } from './wake-schedule.js';

/**
 * One live connection actor, as the supervisor sees it. The XState specifics (machine,
 * snapshots, provided services) stay behind this handle, in connection-actor.ts.
 */
export interface ConnectionActorHandle<Event> {
  send(event: Event): void;
  state(): string;
  checkpoint(): ConnectionCheckpoint;
  /** True once the actor reached its final state (disconnected). */
  isDone(): boolean;
  /**
   * Called after every change of the actor's snapshot (a page's progress included) with the
   * event type that caused it; `from === to` when the state stayed the same.
   */
  onTransition(listener: (transition: TransitionRecord) => void): void;
  /** Resolves once the actor reached its final state, or was stopped (then `isDone()` stays false). */
  whenDone(): Promise<void>;
  /**
   * Resolves once every effect the actor started that its next checkpoint must follow (an
   * error record the control plane acts on) is acknowledged. Absent: none.
   */
  effects?(): Promise<void>;
  stop(): void;
}

export interface ConnectionActorFactory<Event> {
  create(checkpoint: ConnectionCheckpoint): ConnectionActorHandle<Event>;
}

/** The state topic, as the supervisor uses it. */
export interface CheckpointStore {
  get(connectionId: string): ConnectionCheckpoint | undefined;
  connectionsInPartitions(partitions: readonly number[]): ConnectionCheckpoint[];
  write(checkpoint: ConnectionCheckpoint): Promise<void>;
  tombstone(connectionId: string): Promise<void>;
}

interface Resident<Event> {
  readonly handle: ConnectionActorHandle<Event>;
  readonly transitions: TransitionRecord[];
  partition: number | null;
  lastActivity: number;
  /** JSON of the last checkpoint handed to the store: unchanged state is not written again. */
  lastWritten: string;
  /** Tail of this connection's writes, so they reach the topic in order. */
  writes: Promise<void>;
  /** Set when its partition was revoked: nothing more of it is written. */
  revoked: boolean;
}

export interface SupervisorOptions {
  readonly idleEvictionMs: number;
  readonly now?: () => number;
  /**
   * States in which an actor holds nothing in memory that its checkpoint lacks. Default:
   * `idle`, and `parked` (lost authorization or a connection the control plane does not
   * know), which would otherwise stay resident for good: a flood of junk ids must not grow
   * memory. A parked actor is evicted whatever run it waits for: its checkpoint keeps it
   * parked, and the next trigger rehydrates it.
   */
  readonly evictableStates?: readonly string[];
  /**
   * States with work in flight that a graceful stop lets reach its next transition (a
   * sync's page boundary, a renewal or a disconnect done) before stopping the actor.
   */
  readonly drainableStates?: readonly string[];
  /**
   * States an actor passes through on its way to its final state (a disconnect): an event
   * arriving then waits for the end and goes to a fresh actor, and the event that led there
   * is done only once the actor ended. Default: `disconnecting`.
   */
  readonly endingStates?: readonly string[];
  /**
   * The next moment a connection acts without a message (a channel to renew, a backoff
   * ending), from its checkpoint; null if never. With it, actors are evicted whatever
   * their channel, and woken from their checkpoint at that moment by one timer for all.
   * Without it, an actor with a channel or a backoff stays resident.
   */
  readonly ownDeadline?: (checkpoint: ConnectionCheckpoint) => number | null;
  /** An idle actor left memory: what else is held for its connection (a cached token) may go too. */
  readonly onEvicted?: (connectionId: string) => void;
}

/** setTimeout's largest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** The event reached an actor that was stopped (its partition revoked) before its effect was durable. */
export class ConnectionStoppedError extends Error {
  constructor(connectionId: string) {
    super(`the actor of ${connectionId} was stopped before its effect was durable`);
    this.name = 'ConnectionStoppedError';
  }
}

const TRANSITIONS_KEPT = 50;

type Listener = (view: ConnectionView, transition: TransitionRecord) => void;

/**
 * Holds one actor per connection id (STYLE.md: root actors in a Map, not children of one
 * machine), creates them on first message or from their checkpoint, routes events, writes
 * every changed checkpoint to the state topic in order, and evicts idle actors.
 */
export class ConnectionSupervisor<Event> implements ConnectionInspector {
  private readonly residents = new Map<string, Resident<Event>>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly allListeners = new Set<Listener>();
  private readonly now: () => number;
  private readonly evictable: ReadonlySet<string>;
  private readonly drainable: ReadonlySet<string>;
  private readonly ending: ReadonlySet<string>;
  /** Evicted connections that must wake by themselves, earliest first. */
  private readonly sleepers = new WakeSchedule();
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeTimerAt: number | null = null;

  constructor(
    private readonly factory: ConnectionActorFactory<Event>,
    private readonly store: CheckpointStore,
    private readonly logger: Logger,
    private readonly options: SupervisorOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.evictable = new Set(options.evictableStates ?? ['idle', 'parked']);
    this.drainable = new Set(
      options.drainableStates ?? ['full-syncing', 'incremental', 'channel-renewing', 'disconnecting'],
    );
    this.ending = new Set(options.endingStates ?? ['disconnecting']);
  }

  get residentCount(): number {
    return this.residents.size;
  }

  /** Connections without an actor that will wake by themselves. */
  get sleepingCount(): number {
    return this.sleepers.size;
  }

  /**
   * Sends an event to a connection's actor (created from its checkpoint, or from `fresh`)
   * and resolves once the checkpoint that reflects it is on the state topic: only then may
   * the inbound offset be committed.
   */
  async dispatch(
    connectionId: string,
    event: Event,
    fresh: () => ConnectionCheckpoint,
    partition: number | null,
  ): Promise<void> {
    await this.settle(connectionId);
    const resident = this.ensure(connectionId, fresh, partition);
    resident.lastActivity = this.now();
    resident.handle.send(event);
    this.persist(connectionId, resident);
    if (this.isEnding(resident)) {
      // Done only when the actor ended: its channel stopped and its tombstone acknowledged.
      await resident.handle.whenDone();
      if (!resident.handle.isDone()) throw new ConnectionStoppedError(connectionId);
      return;
    }
    await resident.writes;
  }

  /**
   * Resolves once the connection has no actor on its way out. An actor that is disconnecting
   * keeps nothing sent to it, so an event for it waits for the end and then goes to a fresh
   * actor (a reconnect's full sync right after a disconnect); a webhook is judged only
   * afterwards, against what is left of the connection. Rejects if that actor was stopped
   * instead (its partition revoked): the event is then its next owner's.
   */
  async settle(connectionId: string): Promise<void> {
    for (;;) {
      const current = this.residents.get(connectionId);
      if (!current || !this.isEnding(current)) return;
      await current.handle.whenDone();
      if (!current.handle.isDone()) throw new ConnectionStoppedError(connectionId);
      if (this.residents.get(connectionId) === current) this.residents.delete(connectionId);
    }
  }

  private isEnding(resident: Resident<Event>): boolean {
    return resident.handle.isDone() || this.ending.has(resident.handle.state());
  }

  /**
   * The partitions were revoked (rebalanced away, or another member's epoch seen): their
   * actors stop now, and their queued checkpoint writes are dropped; their new owner
   * resumes them from the state topic.
   */
  revoke(partitions: readonly number[]): number {
    const revoked = new Set(partitions);
    this.sleepers.deleteWhere((partition) => partition !== null && revoked.has(partition));
    this.armWakeTimer();
    let stopped = 0;
    for (const [connectionId, resident] of this.residents) {
      if (resident.partition === null || !revoked.has(resident.partition)) continue;
      resident.revoked = true;
      resident.handle.stop();
      this.residents.delete(connectionId);
      stopped++;
    }
    if (stopped > 0) this.logger.info({ partitions, stopped }, 'actors of revoked partitions stopped');
    return stopped;
  }

  /** Resolves once a connection's actor ended (after a disconnect); at once if none is resident. */
  async whenGone(connectionId: string): Promise<void> {
    await this.residents.get(connectionId)?.handle.whenDone();
  }

  /** The current checkpoint of a connection, resident or not. */
  checkpointOf(connectionId: string): ConnectionCheckpoint | undefined {
    return this.residents.get(connectionId)?.handle.checkpoint() ?? this.store.get(connectionId);
  }

  /** Resolves when every write queued so far for that connection is acknowledged. */
  async flush(connectionId?: string): Promise<void> {
    if (connectionId !== undefined) {
      await this.residents.get(connectionId)?.writes;
      return;
    }
    await Promise.all([...this.residents.values()].map((r) => r.writes));
  }

  /**
   * After a (re)assignment: actors of partitions this worker no longer owns stop (their
   * new owner resumes them from the state topic), and connections of the assigned
   * partitions that have work to resume are started from their checkpoints, except in
   * `deferred` partitions (see `resume`).
   */
  restore(
    assignedPartitions: readonly number[],
    deferred: readonly number[] = [],
  ): { started: number; stopped: number } {
    const assigned = new Set(assignedPartitions);
    this.sleepers.deleteWhere((partition) => partition !== null && !assigned.has(partition));
    this.armWakeTimer();
    let stopped = 0;
    for (const [connectionId, resident] of this.residents) {
      if (resident.partition !== null && !assigned.has(resident.partition)) {
        resident.revoked = true;
        resident.handle.stop();
        this.residents.delete(connectionId);
        stopped++;
      }
    }
    const later = new Set(deferred);
    const started = this.resume(assignedPartitions.filter((p) => !later.has(p)));
    this.logger.info(
      { assignedPartitions, deferred, started, stopped },
      'connections restored from checkpoints',
    );
    return { started, stopped };
  }

  /**
   * Starts the connections of those partitions that have work to resume. A partition whose
   * inbound messages were left uncommitted by its previous owner is resumed only once they
   * are handled: one of them may be a `disconnect` that must stop the connection before it
   * syncs anything again.
   */
  resume(partitions: readonly number[]): number {
    let started = 0;
    for (const partition of new Set(partitions)) {
      for (const checkpoint of this.store.connectionsInPartitions([partition])) {
        if (this.residents.has(checkpoint.connectionId)) continue;
        if (hasWorkToResume(checkpoint, this.options.ownDeadline === undefined)) {
          this.ensure(checkpoint.connectionId, () => checkpoint, partition);
          started++;
        } else {
          this.sleep(checkpoint, partition);
        }
      }
    }
    this.armWakeTimer();
    return started;
  }

  /**
   * Drops actors that sat idle (or parked) longer than the eviction age; their checkpoints
   * stay on the topic. An actor whose checkpoint write is still queued stays until it is done.
   */
  evictIdle(): number {
    if (this.options.idleEvictionMs <= 0) return 0;
    const cutoff = this.now() - this.options.idleEvictionMs;
    const wakesItself = this.options.ownDeadline !== undefined;
    let evicted = 0;
    for (const [connectionId, resident] of this.residents) {
      const checkpoint = resident.handle.checkpoint();
      const state = resident.handle.state();
      if (
        resident.lastActivity <= cutoff &&
        this.evictable.has(state) &&
        // A parked actor waits for a trigger whatever run it has pending: its checkpoint keeps it.
        (checkpoint.pending === null || state === 'parked') &&
        (wakesItself || checkpoint.channel === null) &&
        // The actor will be rebuilt from the table: the table must hold its latest state.
        this.storeHolds(connectionId, resident)
      ) {
        resident.handle.stop();
        this.residents.delete(connectionId);
        this.sleep(checkpoint, resident.partition);
        this.options.onEvicted?.(connectionId);
        evicted++;
      }
    }
    this.armWakeTimer();
    return evicted;
  }

  private storeHolds(connectionId: string, resident: Resident<Event>): boolean {
    const stored = this.store.get(connectionId);
    if (stored === undefined) return false;
    // Order-insensitive: the table holds what it parsed back from the topic.
    const plain = (checkpoint: ConnectionCheckpoint) => JSON.parse(JSON.stringify(stripVolatile(checkpoint)));
    return isDeepStrictEqual(plain(stored), plain(resident.handle.checkpoint()));
  }

  /** Schedules the wake-up of a connection without an actor, if it has one. */
  private sleep(checkpoint: ConnectionCheckpoint, partition: number | null): void {
    const at = this.options.ownDeadline?.(checkpoint) ?? null;
    if (at === null) this.sleepers.delete(checkpoint.connectionId);
    else this.sleepers.set(checkpoint.connectionId, at, partition);
  }

  /** One timer for every sleeping connection, set for the earliest. */
  private armWakeTimer(): void {
    const earliest = this.sleepers.earliest();
    if (earliest === this.wakeTimerAt) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    this.wakeTimerAt = earliest;
    if (earliest === null) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, earliest - this.now()));
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wakeTimerAt = null;
      this.wakeDue();
    }, delay);
    this.wakeTimer.unref();
  }

  private wakeDue(): void {
    for (const { connectionId, partition } of this.sleepers.takeDue(this.now())) {
      const checkpoint = this.store.get(connectionId);
      if (!checkpoint || this.residents.has(connectionId)) continue;
      // Restored from its checkpoint, the actor sees its deadline passed and acts (renews its
      // channel, resumes after its backoff); its next idle spell may evict it again.
      this.ensure(connectionId, () => checkpoint, partition);
    }
    this.armWakeTimer();
  }

  /**
   * Stops every actor (shutdown). With `drainMs`, actors with work in flight first get up
   * to that long to reach their next transition: a sync finishes the page in hand and its
   * progress is checkpointed, so a restarted worker does not fetch that page again. Then
   * every queued checkpoint write is awaited and the actors stop; a sync cut off by the
   * deadline resumes from its last checkpointed page.
   */
  async stopAll(options: { readonly drainMs?: number } = {}): Promise<void> {
    const drainMs = options.drainMs ?? 0;
    const busy = [...this.residents.values()].filter((r) => this.drainable.has(r.handle.state()));
    if (drainMs > 0 && busy.length > 0) {
      let drained = 0;
      const boundaries = busy.map(
        (resident) =>
          new Promise<void>((resolve) => {
            let reached = false;
            // Registered after the supervisor's own listener, so the checkpoint of that
            // transition is already queued when this runs.
            resident.handle.onTransition(() => {
              if (reached) return;
              reached = true;
              drained++;
              resolve();
            });
          }),
      );
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(boundaries),
        new Promise<void>((resolve) => {
          deadline = setTimeout(resolve, drainMs);
        }),
      ]);
      clearTimeout(deadline);
      this.logger.info({ busy: busy.length, drained }, 'in-flight work drained before stopping');
    }
    await this.flush();
    for (const resident of this.residents.values()) resident.handle.stop();
    this.residents.clear();
    this.sleepers.clear();
    this.armWakeTimer();
  }

  list(filter?: { readonly state?: string }): ConnectionView[] {
    const views = [...this.residents.keys()]
      .map((id) => this.view(id))
      .filter((v): v is ConnectionView => !!v);
    return filter?.state ? views.filter((v) => v.state === filter.state) : views;
  }

  get(connectionId: string): ConnectionView | undefined {
    const view = this.view(connectionId);
    if (view) return view;
    const checkpoint = this.store.get(connectionId);
    return checkpoint
      ? { connectionId, state: stateFromCheckpoint(checkpoint), resident: false, checkpoint, transitions: [] }
      : undefined;
  }

  subscribe(connectionId: string, listener: Listener): () => void {
    let set = this.listeners.get(connectionId);
    if (!set) {
      set = new Set();
      this.listeners.set(connectionId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(connectionId);
    };
  }

  subscribeAll(listener: Listener): () => void {
    this.allListeners.add(listener);
    return () => this.allListeners.delete(listener);
  }

  private view(connectionId: string): ConnectionView | undefined {
    const resident = this.residents.get(connectionId);
    if (!resident) return undefined;
    return {
      connectionId,
      state: resident.handle.state(),
      resident: true,
      checkpoint: resident.handle.checkpoint(),
      transitions: [...resident.transitions],
    };
  }

  private ensure(
    connectionId: string,
    fresh: () => ConnectionCheckpoint,
    partition: number | null,
  ): Resident<Event> {
    const existing = this.residents.get(connectionId);
    if (existing) {
      if (partition !== null) existing.partition = partition;
      return existing;
    }
    const stored = this.store.get(connectionId);
    const checkpoint = stored ?? fresh();
    // Resident again: its actor keeps its own deadlines from now on.
    if (this.sleepers.delete(connectionId)) this.armWakeTimer();
    const handle = this.factory.create(checkpoint);
    const resident: Resident<Event> = {
      handle,
      transitions: [],
      partition,
      lastActivity: this.now(),
      lastWritten: JSON.stringify(stripVolatile(checkpoint)),
      writes: Promise.resolve(),
      revoked: false,
    };
    this.residents.set(connectionId, resident);
    handle.onTransition((transition) => this.onTransition(connectionId, resident, transition));
    publish('connection.activated', { connectionId, from: stored ? 'checkpoint' : 'fresh' });
    return resident;
  }

  private onTransition(connectionId: string, resident: Resident<Event>, transition: TransitionRecord): void {
    resident.lastActivity = this.now();
    const stateChanged = transition.from !== transition.to;
    if (stateChanged) {
      resident.transitions.push(transition);
      if (resident.transitions.length > TRANSITIONS_KEPT) resident.transitions.shift();
    }
    if (resident.handle.isDone()) {
      // The disconnect service wrote the tombstone; nothing of this connection is written after it.
      if (this.residents.get(connectionId) === resident) this.residents.delete(connectionId);
    } else {
      this.persist(connectionId, resident);
    }
    if (!stateChanged) return;
    const view: ConnectionView = {
      connectionId,
      state: resident.handle.state(),
      resident: !resident.handle.isDone(),
      checkpoint: resident.handle.checkpoint(),
      transitions: [...resident.transitions],
    };
    for (const listener of [...(this.listeners.get(connectionId) ?? []), ...this.allListeners]) {
      try {
        listener(view, transition);
      } catch (error) {
        this.logger.warn({ err: error, connectionId }, 'connection listener failed');
      }
    }
  }

  /** Queues a write of the actor's checkpoint if it changed since the last one. */
  private persist(connectionId: string, resident: Resident<Event>): void {
    if (resident.handle.isDone() || resident.revoked) return;
    const checkpoint = resident.handle.checkpoint();
    const json = JSON.stringify(stripVolatile(checkpoint));
    if (json === resident.lastWritten) return;
    resident.lastWritten = json;
    resident.writes = resident.writes
      .catch(() => undefined)
      // The error records this state follows are acknowledged first (a parked connection's
      // `auth` record): the control plane must learn of them before the state is durable.
      .then(() => resident.handle.effects?.())
      .then(() => {
        if (resident.revoked) throw new ConnectionStoppedError(connectionId);
        return this.store.write(checkpoint);
      })
      .catch((error: unknown) => {
        // The next change retries; the offset of the message that caused this one is not
        // committed, because dispatch() awaits this chain and sees the failure.
        resident.lastWritten = '';
        if (error instanceof ConnectionStoppedError) throw error;
        this.logger.error({ err: error, connectionId }, 'checkpoint write failed');
        throw error;
      });
    // Awaited by dispatch() when a message waits on it; otherwise the failure is logged
    // above and must not become an unhandled rejection (which would end the process).
    resident.writes.catch(() => undefined);
  }
}

/** `updatedAt` alone changing is not a change worth a write. */
function stripVolatile(checkpoint: ConnectionCheckpoint): Omit<ConnectionCheckpoint, 'updatedAt'> {
  const { updatedAt: _updatedAt, ...rest } = checkpoint;
  return rest;
}

/**
 * Whether a restored connection needs its actor now. Deadlines alone (a backoff, a channel
 * to renew) need one only when nothing wakes the connection at its deadline.
 */
function hasWorkToResume(checkpoint: ConnectionCheckpoint, noWakeUps: boolean): boolean {
  if (checkpoint.activeSync !== null || checkpoint.pending !== null) return true;
  return noWakeUps && (checkpoint.backoff !== null || checkpoint.channel !== null);
}

/** The state a non-resident connection would resume in, for the inspector. */
export function stateFromCheckpoint(checkpoint: ConnectionCheckpoint): string {
  if (checkpoint.parked) return 'parked';
  if (checkpoint.backoff) return 'backing-off';
  if (checkpoint.activeSync) return checkpoint.activeSync.mode === 'full' ? 'full-syncing' : 'incremental';
  return 'idle';
}
