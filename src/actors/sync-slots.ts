/**
 * The cap on connections syncing at once (WORKER_MAX_CONCURRENT_CONNECTIONS), fair across
 * connections. Sync services hold a slot for one page at a time and queue again for the
 * next, so a drive with a million files takes its turn page by page instead of holding a
 * slot for hours. Waiters are served first come, first served; a connection runs one sync
 * at a time, so it waits in at most one place, and after its page it goes to the back.
 */
export type ReleaseSlot = () => void;

interface Waiter {
  readonly connectionId: string;
  readonly grant: (release: ReleaseSlot) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export class SyncSlots {
  private inUse = 0;
  private readonly queue: Waiter[] = [];

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
  }

  get busy(): number {
    return this.inUse;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(connectionId: string, signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.inUse < this.capacity && this.queue.length === 0) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = {
        connectionId,
        grant: resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /** Runs `work` while holding a slot. */
  async withSlot<T>(connectionId: string, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(connectionId, signal);
    try {
      return await work();
    } finally {
      release();
    }
  }

  private releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.grantNext();
    };
  }

  private grantNext(): void {
    while (this.inUse < this.capacity && this.queue.length > 0) {
      const waiter = this.queue.shift() as Waiter;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.inUse++;
      waiter.grant(this.releaser());
    }
  }
}
