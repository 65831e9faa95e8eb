import { publish } from '../instrumentation.js';
import {
  type AdaptiveBucketSettings,
  AdaptiveTokenBucket,
  type BucketState,
  defaultAdaptiveBucketSettings,
} from '../machines/token-bucket.js';

/**
 * The process's Drive quota governor: one per worker, shared by every connection actor.
 * Every Drive call (each inner part of a batch included) first awaits `acquire`, which
 * takes a token from the caller's Google-user bucket AND from the one project bucket
 * (this process's OAuth client), both sized from configuration so that a healthy sync at
 * full speed never hears "rate limit" from Drive. Answers that still say so lower the
 * affected bucket's rate (see src/machines/token-bucket.ts for sizing and adaptation).
 *
 * Fairness: calls that have to wait queue per connection (FIFO) and are served
 * round-robin across connections: a connection that was just served goes to the back, so
 * a connection with 10,000 queued calls delays another's first call by at most one call
 * per connection ahead of it. A waiter blocked by its user's bucket does not hold up
 * connections of other users; a waiter blocked by the project bucket holds up everyone
 * behind it, so a large `cost` is not starved by a stream of small ones.
 *
 * Time: one timer at most, set for the earliest moment a waiter can be served.
 *
 * The fleet: Google's project budget is shared by every replica, so the project bucket
 * holds this member's share of it, the budget divided by the consumer group's members,
 * recomputed after every rebalance (`shareProject`). Per-user buckets are not divided: a
 * user's connections usually sit on one member, and when they do not, Google's
 * userRateLimitExceeded answers slow that user's bucket down (README, configuration).
 */

/** Which bucket a rate-limit answer is charged to. */
export type RateLimitScope = 'user' | 'project' | 'unknown';

/**
 * Maps a Drive answer to the bucket it indicts, or null when it is not a request-rate
 * answer. `userRateLimitExceeded` names the per-user limit: the user's bucket.
 * `rateLimitExceeded` is the project-wide limit (the emulator answers it when the project
 * bucket is empty), and 429 is Google's backend throttling, which is not tied to one
 * user: both go to the project bucket, which slows every user of this process.
 * `sharingRateLimitExceeded` (sharing actions, not reads) and `dailyLimitExceeded` (no
 * request rate fixes it) are not the governor's business.
 */
export function rateLimitScopeOf(status: number, reason: string | null | undefined): RateLimitScope | null {
  if (reason === 'userRateLimitExceeded') return 'user';
  if (reason === 'rateLimitExceeded') return 'project';
  if (status === 429) return 'project';
  return null;
}

export interface QuotaRequest {
  /** The control plane's `google_user`: opaque, keys the per-user bucket. */
  readonly googleUser: string;
  /** Queues and fairness are per connection. */
  readonly connectionId: string;
  /** Calls this request stands for (a positive integer); 1 unless told. */
  readonly cost?: number;
  /** Aborting removes the waiter (nothing was taken) and rejects with `signal.reason`. */
  readonly signal?: AbortSignal;
}

export interface RateLimitReport {
  readonly googleUser: string;
  /** From `rateLimitScopeOf`. `unknown` (the default) slows both buckets the call went through. */
  readonly scope?: RateLimitScope;
}

export interface SuccessReport {
  readonly googleUser: string;
}

export type CancelTimer = () => void;
export type SetTimer = (callback: () => void, delayMs: number) => CancelTimer;

export interface QuotaGovernorOptions {
  readonly userPerMinute: number;
  readonly projectPerMinute: number;
  /** Burst capacity in seconds' worth of the rate; 1 unless told. */
  readonly burstSeconds?: number;
  readonly minRateFraction?: number;
  readonly decreaseFactor?: number;
  readonly recoveryFractionPerSecond?: number;
  readonly decreaseCooldownMs?: number;
  /** Monotonic milliseconds; `performance.now()` unless told. */
  readonly now?: () => number;
  /** Schedules `callback` after `delayMs` and returns its cancel; `setTimeout` unless told. */
  readonly setTimer?: SetTimer;
}

export interface QuotaSnapshot {
  readonly project: BucketState;
  readonly users: {
    /** User buckets held (pristine idle ones are forgotten). */
    readonly tracked: number;
    /** Users whose rate is below the configured one. */
    readonly throttled: number;
    readonly configuredPerMinute: number;
    readonly lowestRatePerMinute: number | null;
    readonly lowestAvailable: number | null;
  };
  readonly waiting: {
    readonly calls: number;
    readonly connections: number;
  };
  /** The project's budget and the members it is shared by; `project.configuredPerMinute` is this member's share. */
  readonly fleet: {
    readonly members: number;
    readonly projectPerMinute: number;
  };
}

export interface QuotaGovernor {
  /** Resolves once the call may be sent; rejects with `signal.reason` if aborted first. */
  acquire(request: QuotaRequest): Promise<void>;
  /** Drive answered 403 userRateLimitExceeded / rateLimitExceeded or 429. */
  reportRateLimited(report: RateLimitReport): void;
  /** Drive answered the call (any non-rate-limit answer counts: the quota let it through). */
  reportSuccess(report: SuccessReport): void;
  snapshot(): QuotaSnapshot;
  /** One user's bucket, for the state page; undefined when it is pristine or unknown. */
  userState(googleUser: string): BucketState | undefined;
  /**
   * The consumer group has `members` members now: the project bucket's rate becomes the
   * project's budget divided by them (tokens kept, see AdaptiveTokenBucket.reconfigure).
   */
  shareProject(members: number): void;
  /** Publishes `quota.tokens` now (for a metrics scrape); also done at most once a second on activity. */
  publishTokens(): void;
  /** Rejects every waiter with `reason` and refuses new calls; for shutdown. */
  close(reason?: Error): void;
}

export class QuotaGovernorClosedError extends Error {
  readonly code = 'quota_governor_closed';
  constructor() {
    super('the quota governor is closed');
    this.name = 'QuotaGovernorClosedError';
  }
}

const PUBLISH_INTERVAL_MS = 1_000;

interface UserQuota {
  readonly bucket: AdaptiveTokenBucket;
  /** Waiters of this user; a user with waiters is never forgotten. */
  waiting: number;
}

interface Waiter {
  readonly user: UserQuota;
  readonly cost: number;
  readonly resolve: () => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  settled: boolean;
}

/**
 * A connection's FIFO. Aborted waiters are only marked and skipped when they reach the
 * head, so removing one from a queue of 10,000 costs O(1).
 */
class WaiterQueue {
  private items: (Waiter | undefined)[] = [];
  private head = 0;
  size = 0;

  push(waiter: Waiter): void {
    this.items.push(waiter);
    this.size++;
  }

  peek(): Waiter | undefined {
    while (this.head < this.items.length) {
      const waiter = this.items[this.head];
      if (waiter && !waiter.settled) return waiter;
      this.items[this.head] = undefined;
      this.head++;
    }
    return undefined;
  }

  shift(): Waiter | undefined {
    const waiter = this.peek();
    if (!waiter) return undefined;
    this.items[this.head] = undefined;
    this.head++;
    this.size--;
    if (this.head > 1_024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return waiter;
  }

  /** Marks a waiter as gone (it stays in place until it reaches the head). */
  removed(): void {
    this.size--;
  }
}

const defaultSetTimer: SetTimer = (callback, delayMs) => {
  const handle = setTimeout(callback, delayMs);
  return () => clearTimeout(handle);
};

export function createQuotaGovernor(options: QuotaGovernorOptions): QuotaGovernor {
  const now = options.now ?? (() => performance.now());
  const setTimer = options.setTimer ?? defaultSetTimer;
  const shared = {
    burstSeconds: options.burstSeconds ?? defaultAdaptiveBucketSettings.burstSeconds,
    minRateFraction: options.minRateFraction ?? defaultAdaptiveBucketSettings.minRateFraction,
    decreaseFactor: options.decreaseFactor ?? defaultAdaptiveBucketSettings.decreaseFactor,
    recoveryFractionPerSecond:
      options.recoveryFractionPerSecond ?? defaultAdaptiveBucketSettings.recoveryFractionPerSecond,
    decreaseCooldownMs: options.decreaseCooldownMs ?? defaultAdaptiveBucketSettings.decreaseCooldownMs,
  };
  const userSettings: AdaptiveBucketSettings = { ...shared, configuredPerMinute: options.userPerMinute };
  const projectSettings: AdaptiveBucketSettings = {
    ...shared,
    configuredPerMinute: options.projectPerMinute,
  };

  const project = new AdaptiveTokenBucket(projectSettings, now());
  // Also validates the user settings now rather than at the first call.
  const freshUserCapacity = new AdaptiveTokenBucket(userSettings, 0).capacity;
  const users = new Map<string, UserQuota>();
  // Insertion order is the round-robin order: a served connection is moved to the end.
  const queues = new Map<string, WaiterQueue>();
  let waitingCalls = 0;
  let cancelTimer: CancelTimer | undefined;
  let timerDueAt = Number.POSITIVE_INFINITY;
  let lastPublishedAt = Number.NEGATIVE_INFINITY;
  let closed: Error | undefined;
  let members = 1;

  function userQuota(googleUser: string): UserQuota {
    let quota = users.get(googleUser);
    if (!quota) {
      quota = { bucket: new AdaptiveTokenBucket(userSettings, now()), waiting: 0 };
      users.set(googleUser, quota);
    }
    return quota;
  }

  function grant(waiter: Waiter): void {
    waiter.settled = true;
    waiter.user.waiting--;
    waitingCalls--;
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.resolve();
  }

  /**
   * One pass over the connections in round-robin order, granting while tokens last, then
   * the timer for the earliest moment the first blocked waiter could go.
   */
  function serve(): void {
    const at = now();
    let wakeInMs = Number.POSITIVE_INFINITY;
    let blockedUsers: Set<UserQuota> | undefined;
    // A Map visits entries re-inserted during the loop, so a served connection comes
    // round again in this same pass after everyone else has had their turn.
    for (const [connectionId, queue] of queues) {
      const waiter = queue.peek();
      if (!waiter) {
        queues.delete(connectionId);
        continue;
      }
      if (blockedUsers?.has(waiter.user)) continue;
      if (!project.canTake(waiter.cost, at)) {
        // Everyone needs the project bucket: whoever comes after waits behind this one.
        wakeInMs = Math.min(wakeInMs, project.msUntil(waiter.cost, at));
        break;
      }
      if (!waiter.user.bucket.canTake(waiter.cost, at)) {
        blockedUsers ??= new Set();
        blockedUsers.add(waiter.user);
        wakeInMs = Math.min(wakeInMs, waiter.user.bucket.msUntil(waiter.cost, at));
        continue;
      }
      project.take(waiter.cost, at);
      waiter.user.bucket.take(waiter.cost, at);
      queue.shift();
      queues.delete(connectionId);
      if (queue.size > 0) queues.set(connectionId, queue);
      grant(waiter);
    }
    schedule(at, wakeInMs);
    maybePublish(at);
  }

  function schedule(at: number, wakeInMs: number): void {
    const dueAt = at + wakeInMs;
    if (dueAt === timerDueAt) return;
    cancelTimer?.();
    cancelTimer = undefined;
    timerDueAt = Number.POSITIVE_INFINITY;
    if (waitingCalls === 0 || !Number.isFinite(wakeInMs)) return;
    timerDueAt = dueAt;
    cancelTimer = setTimer(() => {
      cancelTimer = undefined;
      timerDueAt = Number.POSITIVE_INFINITY;
      serve();
    }, wakeInMs);
  }

  function maybePublish(at: number): void {
    if (at - lastPublishedAt >= PUBLISH_INTERVAL_MS) publishAt(at);
  }

  function publishAt(at: number): void {
    lastPublishedAt = at;
    publish('quota.tokens', { scope: 'project', available: project.available(at) });
    let lowest: number | undefined;
    for (const [googleUser, quota] of users) {
      // Forgetting pristine idle users keeps the map to the users actually syncing.
      if (quota.waiting === 0 && quota.bucket.isPristine(at)) {
        users.delete(googleUser);
        continue;
      }
      const available = quota.bucket.available(at);
      lowest = lowest === undefined ? available : Math.min(lowest, available);
    }
    // One figure for all users (user ids are never metric labels): the scarcest bucket.
    publish('quota.tokens', { scope: 'user', available: lowest ?? freshUserCapacity });
  }

  function acquire(request: QuotaRequest): Promise<void> {
    const cost = request.cost ?? 1;
    if (!Number.isInteger(cost) || cost < 1)
      return Promise.reject(new RangeError('cost must be a positive integer'));
    if (closed) return Promise.reject(closed);
    const { signal } = request;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const user = userQuota(request.googleUser);
    const at = now();

    if (waitingCalls === 0 && project.canTake(cost, at) && user.bucket.canTake(cost, at)) {
      project.take(cost, at);
      user.bucket.take(cost, at);
      maybePublish(at);
      return Promise.resolve();
    }

    let queue = queues.get(request.connectionId);
    const joinsAsHead = !queue || queue.size === 0;
    if (!queue) {
      queue = new WaiterQueue();
      queues.set(request.connectionId, queue);
    }
    const connectionQueue = queue;
    const promise = new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        user,
        cost,
        resolve,
        reject,
        signal,
        settled: false,
        onAbort: () => {
          if (waiter.settled) return;
          waiter.settled = true;
          waiter.user.waiting--;
          waitingCalls--;
          connectionQueue.removed();
          reject(signal?.reason);
          // It may have been the head holding others up.
          serve();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      connectionQueue.push(waiter);
      user.waiting++;
      waitingCalls++;
    });
    // Behind its own connection's earlier calls it changes nothing until they go.
    if (joinsAsHead) serve();
    return promise;
  }

  function reportRateLimited(report: RateLimitReport): void {
    const at = now();
    const scope = report.scope ?? 'unknown';
    if (scope !== 'project') userQuota(report.googleUser).bucket.onRateLimited(at);
    if (scope !== 'user') project.onRateLimited(at);
    // Lower rates only push the next grant later; a timer that fires early re-arms itself.
  }

  function reportSuccess(report: SuccessReport): void {
    const at = now();
    // A pristine (forgotten) user has nothing to recover; do not recreate it.
    users.get(report.googleUser)?.bucket.onSuccess(at);
    project.onSuccess(at);
  }

  function snapshot(): QuotaSnapshot {
    const at = now();
    let throttled = 0;
    let lowestRate: number | null = null;
    let lowestAvailable: number | null = null;
    for (const { bucket } of users.values()) {
      if (bucket.ratePerMinute < bucket.configuredPerMinute) throttled++;
      lowestRate = lowestRate === null ? bucket.ratePerMinute : Math.min(lowestRate, bucket.ratePerMinute);
      const available = bucket.available(at);
      lowestAvailable = lowestAvailable === null ? available : Math.min(lowestAvailable, available);
    }
    let connections = 0;
    for (const queue of queues.values()) if (queue.size > 0) connections++;
    return {
      project: project.state(at),
      users: {
        tracked: users.size,
        throttled,
        configuredPerMinute: options.userPerMinute,
        lowestRatePerMinute: lowestRate,
        lowestAvailable,
      },
      waiting: { calls: waitingCalls, connections },
      fleet: { members, projectPerMinute: options.projectPerMinute },
    };
  }

  function shareProject(count: number): void {
    if (!Number.isInteger(count) || count < 1) throw new RangeError('members must be a positive integer');
    members = count;
    const at = now();
    project.reconfigure(options.projectPerMinute / count, at);
    publish('quota.share', { members: count, perMinute: project.configuredPerMinute });
    // A larger share may let waiters go sooner than the timer armed for the old rate.
    serve();
  }

  function close(reason: Error = new QuotaGovernorClosedError()): void {
    if (closed) return;
    closed = reason;
    cancelTimer?.();
    cancelTimer = undefined;
    timerDueAt = Number.POSITIVE_INFINITY;
    for (const queue of queues.values()) {
      for (let waiter = queue.shift(); waiter; waiter = queue.shift()) {
        waiter.settled = true;
        waiter.user.waiting--;
        waitingCalls--;
        waiter.signal?.removeEventListener('abort', waiter.onAbort);
        waiter.reject(reason);
      }
    }
    queues.clear();
  }

  return {
    acquire,
    reportRateLimited,
    reportSuccess,
    snapshot,
    userState: (googleUser) => users.get(googleUser)?.bucket.state(now()),
    publishTokens: () => {
      publishAt(now());
      publish('quota.share', { members, perMinute: project.configuredPerMinute });
    },
    shareProject,
    close,
  };
}
