import { pause } from './pause.js';

/**
 * When an incremental run that push notifications asked for reads the change log: at once
 * for the first notification of a quiet connection (leading edge: webhook → record costs
 * one `changes.list` round trip), and only once the burst went quiet for the run after it.
 *
 * The machine folds every request that comes during a run into one follow-up run. That
 * alone does not make a burst cheap: Google posts notifications one by one, each goes
 * through the proxy and Kafka, and an incremental run of a handful of changes is shorter
 * than the gap between two of them, so every notification would find the connection idle
 * and cost a run. So:
 * - a notification heard when the connection had heard none for `quietMs` opens a spell;
 *   the first run after it does not wait;
 * - any later run of the spell waits, before its first `changes.list`, until no
 *   notification was heard for `quietMs` — at most `maxWaitMs`, so a connection that never
 *   goes quiet is still read that often;
 * - a run tells the machine when it starts reading (SYNC.READING): requests that only
 *   notifications made until then are served by that read (Drive notifies after the change
 *   is in the log), so the notifications heard during the wait make no further run.
 * A burst shorter than `maxWaitMs` thus costs two reads at most: the leading one, and one
 * after the burst.
 *
 * In memory only, and only for connections with an actor: after a restart or an eviction
 * the next notification opens a spell again, which costs at most one extra read.
 */
export interface ChannelQuietOptions {
  readonly quietMs: number;
  readonly maxWaitMs: number;
  readonly now?: () => number;
}

export const DEFAULT_NOTIFICATION_QUIET_MS = 500;
export const DEFAULT_NOTIFICATION_MAX_WAIT_MS = 5_000;

/** What `settle` does for a run, from what was heard; pure, for the tests of the policy. */
export type SettleDecision =
  | { readonly kind: 'now'; readonly leading: boolean }
  | { readonly kind: 'wait'; readonly untilMs: number };

interface Spell {
  lastHeardAt: number;
  /** No run has started since the spell opened: the next one goes at once. */
  leading: boolean;
}

export class NotificationQuiet {
  private readonly spells = new Map<string, Spell>();
  private readonly now: () => number;

  constructor(private readonly options: ChannelQuietOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A change notification for the connection was accepted. */
  heard(connectionId: string): void {
    const at = this.now();
    const spell = this.spells.get(connectionId);
    if (!spell || at - spell.lastHeardAt >= this.options.quietMs) {
      this.spells.set(connectionId, { lastHeardAt: at, leading: true });
      return;
    }
    spell.lastHeardAt = at;
  }

  forget(connectionId: string): void {
    this.spells.delete(connectionId);
  }

  /** Connections with notifications remembered (never more than the resident actors). */
  get size(): number {
    return this.spells.size;
  }

  /**
   * For a run about to read, started `startedAt` (its give-up time counts from there).
   * Taking the leading run closes the spell's leading edge.
   */
  decide(connectionId: string, startedAt: number): SettleDecision {
    const spell = this.spells.get(connectionId);
    // A poll, a trigger, a catch-up: nothing to wait for.
    if (!spell) return { kind: 'now', leading: false };
    if (spell.leading) {
      spell.leading = false;
      return { kind: 'now', leading: true };
    }
    const at = this.now();
    const quietAt = spell.lastHeardAt + this.options.quietMs;
    const giveUpAt = startedAt + this.options.maxWaitMs;
    if (quietAt <= at) {
      this.spells.delete(connectionId);
      return { kind: 'now', leading: false };
    }
    if (giveUpAt <= at) return { kind: 'now', leading: false };
    return { kind: 'wait', untilMs: Math.min(quietAt, giveUpAt) };
  }

  /** Resolves when the run may read the change log (see the header); rejects when aborted. */
  async settle(connectionId: string, signal?: AbortSignal): Promise<void> {
    const startedAt = this.now();
    for (;;) {
      signal?.throwIfAborted();
      const decision = this.decide(connectionId, startedAt);
      if (decision.kind === 'now') return;
      await pause(decision.untilMs - this.now(), signal ?? new AbortController().signal);
    }
  }
}
