/**
 * Lets a burst of push notifications settle before an incremental run reads the changes
 * log (CONTRACT.md: "a burst of notifications for a connection costs one Changes API run").
 *
 * The machine already folds every request that comes during a run into one follow-up run.
 * That alone does not make a burst cheap: Google posts notifications one by one, each goes
 * through the proxy and Kafka, and an incremental run of a handful of changes is shorter
 * than the gap between two of them, so every notification would find the connection idle
 * and cost a run. So a run waits, before its first `changes.list`, until no notification
 * was heard for `quietMs` — at most `maxWaitMs`, so a connection that never goes quiet is
 * still read that often. Notifications heard during the wait join the pending follow-up
 * run, which then finds the connection quiet and starts at once. A burst shorter than
 * `maxWaitMs` thus costs two reads at most: the one after it, and the follow-up, which
 * reads only what came after.
 *
 * In memory only: after a restart a run does not wait, which costs at most one extra read.
 * A run without a recent notification (a poll trigger) does not wait either.
 */
export interface ChannelQuietOptions {
  readonly quietMs: number;
  readonly maxWaitMs: number;
  readonly now?: () => number;
}

export const DEFAULT_NOTIFICATION_QUIET_MS = 500;
export const DEFAULT_NOTIFICATION_MAX_WAIT_MS = 5_000;

export class NotificationQuiet {
  private readonly lastHeard = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: ChannelQuietOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A change notification for the connection was accepted. */
  heard(connectionId: string): void {
    this.lastHeard.set(connectionId, this.now());
  }

  forget(connectionId: string): void {
    this.lastHeard.delete(connectionId);
  }

  /** Resolves once the connection's notifications went quiet (or waited long enough); rejects when aborted. */
  async settle(connectionId: string, signal?: AbortSignal): Promise<void> {
    const giveUpAt = this.now() + this.options.maxWaitMs;
    for (;;) {
      signal?.throwIfAborted();
      const last = this.lastHeard.get(connectionId);
      const now = this.now();
      const quietAt = last === undefined ? now : last + this.options.quietMs;
      if (quietAt <= now || giveUpAt <= now) {
        if (last !== undefined && quietAt <= now) this.lastHeard.delete(connectionId);
        return;
      }
      await sleep(Math.min(quietAt, giveUpAt) - now, signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
