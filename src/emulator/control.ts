import { SeededRandom } from './store/random.js';

/** Statuses the fault injector can answer with. */
export type FaultStatus = 429 | 500 | 502 | 503 | 504 | 403;

export interface FaultProbabilities {
  readonly 429?: number;
  readonly 500?: number;
  readonly 503?: number;
}

/** A scripted answer; with `fileId`, only a call about that file draws it. */
interface ScriptedFault {
  readonly status: FaultStatus;
  readonly fileId: string | null;
}

export interface QuotaSettings {
  /** Requests a minute per user (token bucket, refilled continuously). */
  readonly perUserPerMinute: number;
  /** Requests a minute for the whole project. */
  readonly perProjectPerMinute: number;
}

export const DEFAULT_QUOTA: QuotaSettings = { perUserPerMinute: 12_000, perProjectPerMinute: 12_000 };

class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private capacity: number,
    now: number,
    tokens = capacity,
  ) {
    this.tokens = tokens;
    this.last = now;
  }

  take(now: number): boolean {
    const elapsed = now - this.last;
    this.last = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.capacity) / 60_000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export type QuotaVerdict = 'ok' | 'user' | 'project';

/**
 * Everything about calls rather than data: per-method counters, quotas, latency and
 * injected faults. Method names are discovery ids (`drive.files.list`), plus `batch`.
 */
export class CallControl {
  private readonly counters = new Map<string, number>();
  private quota: QuotaSettings = DEFAULT_QUOTA;
  private readonly userBuckets = new Map<string, TokenBucket>();
  private projectBucket: TokenBucket;
  private readonly probabilities = new Map<string, FaultProbabilities>();
  private readonly scripted = new Map<string, ScriptedFault[]>();
  private readonly fileCounters = new Map<string, Map<string, number>>();
  private readonly latencies = new Map<string, number>();
  private readonly random: SeededRandom;

  constructor(
    seed: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.random = new SeededRandom(seed ^ 0x5bd1e995);
    this.projectBucket = new TokenBucket(this.quota.perProjectPerMinute, clock());
  }

  /** `fileId`: the call is about one file (its `:fileId` path parameter), counted for it too. */
  count(method: string, fileId?: string): void {
    this.counters.set(method, (this.counters.get(method) ?? 0) + 1);
    if (fileId === undefined) return;
    const perFile = this.fileCounters.get(fileId) ?? new Map<string, number>();
    perFile.set(method, (perFile.get(method) ?? 0) + 1);
    this.fileCounters.set(fileId, perFile);
  }

  counts(): Record<string, number> {
    return Object.fromEntries([...this.counters.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Calls about one file, per method. */
  fileCounts(fileId: string): Record<string, number> {
    const perFile = this.fileCounters.get(fileId) ?? new Map<string, number>();
    return Object.fromEntries([...perFile.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  resetCounts(): void {
    this.counters.clear();
    this.fileCounters.clear();
  }

  /**
   * Buckets start full (a minute's budget) unless `projectBucketEmpty`: then the project's
   * grants exactly its rate from now on, as if a busy minute had just spent it.
   */
  setQuota(settings: Partial<QuotaSettings>, projectBucketEmpty = false): QuotaSettings {
    this.quota = { ...this.quota, ...settings };
    this.userBuckets.clear();
    const capacity = this.quota.perProjectPerMinute;
    this.projectBucket = new TokenBucket(capacity, this.clock(), projectBucketEmpty ? 0 : capacity);
    return this.quota;
  }

  quotaSettings(): QuotaSettings {
    return this.quota;
  }

  charge(userId: string): QuotaVerdict {
    const now = this.clock();
    let bucket = this.userBuckets.get(userId);
    if (!bucket) {
      bucket = new TokenBucket(this.quota.perUserPerMinute, now);
      this.userBuckets.set(userId, bucket);
    }
    if (!bucket.take(now)) return 'user';
    if (!this.projectBucket.take(now)) return 'project';
    return 'ok';
  }

  /** `method` may be `*` to apply to every method. */
  setFaultProbabilities(method: string, probabilities: FaultProbabilities): void {
    this.probabilities.set(method, probabilities);
  }

  /**
   * The next `count` calls of `method` answer `status`, after anything already scripted for
   * them; with `fileId`, the next `count` calls about that file only (other files' calls
   * pass it by).
   */
  scriptFault(method: string, status: FaultStatus, count: number, fileId: string | null = null): void {
    const queue = this.scripted.get(method) ?? [];
    for (let i = 0; i < count; i++) queue.push({ status, fileId });
    this.scripted.set(method, queue);
  }

  clearFaults(): void {
    this.probabilities.clear();
    this.scripted.clear();
  }

  /** The fault this call should answer with, if any (scripted first, then probabilities). */
  drawFault(method: string, fileId?: string): FaultStatus | undefined {
    for (const key of [method, '*']) {
      const queue = this.scripted.get(key);
      const index = queue?.findIndex((f) => f.fileId === null || f.fileId === fileId) ?? -1;
      if (queue && index >= 0) return queue.splice(index, 1)[0]?.status;
    }
    for (const key of [method, '*']) {
      const p = this.probabilities.get(key);
      if (!p) continue;
      const roll = this.random.next();
      let threshold = 0;
      for (const status of [429, 500, 503] as const) {
        threshold += p[status] ?? 0;
        if (roll < threshold) return status;
      }
    }
    return undefined;
  }

  setLatency(method: string, ms: number): void {
    if (ms <= 0) this.latencies.delete(method);
    else this.latencies.set(method, ms);
  }

  latencyFor(method: string): number {
    return this.latencies.get(method) ?? this.latencies.get('*') ?? 0;
  }

  reset(): void {
    this.resetCounts();
    this.clearFaults();
    this.latencies.clear();
    this.setQuota(DEFAULT_QUOTA);
  }
}
