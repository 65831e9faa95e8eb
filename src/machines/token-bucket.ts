/**
 * A token bucket whose refill rate adapts to what Drive says, with no clock of its own:
 * every method takes `now` (milliseconds on any monotonic scale), so it is pure and the
 * quota governor (src/actors/quota-governor.ts) owns time and timers.
 *
 * Sizing. Google counts requests per minute (historically per 100 s), and nothing says
 * its window is aligned to ours, so the bucket is sized so that ANY 60 s window holds at
 * most the adapted per-minute rate A: a burst capacity of `burstSeconds` worth,
 * B = A·b/(60+b), and a refill of A·60/(60+b) a minute, so that B + 60 s of refill = A.
 * With the defaults (12,000 a minute, b = 1 s) that is a burst of ~197 calls and a refill
 * of ~197 a second: 1.6% below the budget, never above it. A full-minute burst (what
 * the emulator's own bucket allows) would let a process that was idle for a minute send
 * 12,000 calls at once and then another 12,000 over the next minute: 24,000 in one of
 * Google's windows. The burst is at least one token so that a single call can always
 * pass, which with tiny budgets (< 61 a minute) lets a window exceed A by under one call.
 *
 * Adaptation is AIMD, as in TCP congestion control: a rate-limit answer multiplies the
 * rate by `decreaseFactor` (at most once per `decreaseCooldownMs`, because the calls
 * already in flight when Drive started refusing report the same event), down to
 * `minRateFraction` of the configured rate, and drops any stored burst. Each success adds
 * 60·C·f / A a minute, which at full demand (A/60 successes a second) raises the rate by
 * f·C each second: linear recovery, f = 0.005 takes about a minute (one accounting
 * window) to undo one decrease. Never above the configured rate C.
 */
export interface AdaptiveBucketSettings {
  /** The budget from configuration, in calls a minute; the adapted rate never exceeds it. */
  readonly configuredPerMinute: number;
  /** Burst capacity in seconds' worth of the rate. */
  readonly burstSeconds: number;
  /** Floor of the adapted rate, as a fraction of the configured one. */
  readonly minRateFraction: number;
  /** What a rate-limit answer multiplies the rate by. */
  readonly decreaseFactor: number;
  /** Recovery at full demand, as a fraction of the configured rate per second. */
  readonly recoveryFractionPerSecond: number;
  /** Rate-limit reports within this long after a decrease count as the same event. */
  readonly decreaseCooldownMs: number;
}

export const defaultAdaptiveBucketSettings = {
  burstSeconds: 1,
  minRateFraction: 0.01,
  decreaseFactor: 0.7,
  recoveryFractionPerSecond: 0.005,
  decreaseCooldownMs: 1_000,
} as const satisfies Omit<AdaptiveBucketSettings, 'configuredPerMinute'>;

/** Float slack so that a token refilled to 0.999999999… by a timer counts as whole. */
const EPSILON = 1e-9;

export function validateAdaptiveBucketSettings(settings: AdaptiveBucketSettings): void {
  const positive = (name: keyof AdaptiveBucketSettings) => {
    const value = settings[name];
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number`);
  };
  positive('configuredPerMinute');
  positive('burstSeconds');
  positive('minRateFraction');
  positive('decreaseFactor');
  positive('recoveryFractionPerSecond');
  if (settings.minRateFraction > 1) throw new RangeError('minRateFraction must be at most 1');
  if (settings.decreaseFactor >= 1) throw new RangeError('decreaseFactor must be below 1');
  if (!Number.isFinite(settings.decreaseCooldownMs) || settings.decreaseCooldownMs < 0)
    throw new RangeError('decreaseCooldownMs must be a non-negative number');
}

export interface BucketState {
  /** Tokens available now; negative while a call costing more than the burst is paid off. */
  readonly available: number;
  readonly capacity: number;
  readonly ratePerMinute: number;
  readonly configuredPerMinute: number;
}

export class AdaptiveTokenBucket {
  private tokens: number;
  private lastRefillAt: number;
  private rate: number;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private settings: AdaptiveBucketSettings;

  constructor(settings: AdaptiveBucketSettings, now: number) {
    validateAdaptiveBucketSettings(settings);
    this.settings = settings;
    this.rate = settings.configuredPerMinute;
    this.tokens = this.capacity;
    this.lastRefillAt = now;
  }

  get configuredPerMinute(): number {
    return this.settings.configuredPerMinute;
  }

  /** The adapted rate, in calls a minute (including the burst: see the sizing note). */
  get ratePerMinute(): number {
    return this.rate;
  }

  get capacity(): number {
    const { burstSeconds } = this.settings;
    return Math.max(1, (this.rate * burstSeconds) / (60 + burstSeconds));
  }

  private get refillPerMs(): number {
    return this.rate / ((60 + this.settings.burstSeconds) * 1_000);
  }

  private refill(now: number): void {
    const elapsed = now - this.lastRefillAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.refillPerMs);
      this.lastRefillAt = now;
    }
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /**
   * What a call of `cost` waits for: the cost, or a full bucket when the cost is larger
   * than the burst (a batch of 100 under a throttled rate); it then leaves a debt that
   * later calls wait out, so the long-run rate holds.
   */
  private needed(cost: number): number {
    return Math.min(cost, this.capacity);
  }

  canTake(cost: number, now: number): boolean {
    return this.available(now) >= this.needed(cost) - EPSILON;
  }

  /** Takes `cost` tokens; the caller checked `canTake` (or accepts a debt). */
  take(cost: number, now: number): void {
    this.refill(now);
    this.tokens -= cost;
  }

  /** Milliseconds until `canTake(cost)` holds at the current rate; 0 if it holds now. */
  msUntil(cost: number, now: number): number {
    const deficit = this.needed(cost) - this.available(now);
    if (deficit <= EPSILON) return 0;
    return Math.max(1, Math.ceil(deficit / this.refillPerMs));
  }

  /**
   * A new configured rate (this member's share of the project's budget changed). Tokens
   * refilled so far are kept, up to the new capacity, and a debt stays a debt: a change of
   * share never hands out a fresh burst nor forgives calls already made. A throttled rate
   * keeps its fraction of the configured one.
   */
  reconfigure(configuredPerMinute: number, now: number): void {
    if (configuredPerMinute === this.settings.configuredPerMinute) return;
    const settings = { ...this.settings, configuredPerMinute };
    validateAdaptiveBucketSettings(settings);
    this.refill(now);
    const fraction = this.rate / this.settings.configuredPerMinute;
    this.settings = settings;
    this.rate = configuredPerMinute * fraction;
    this.tokens = Math.min(this.tokens, this.capacity);
  }

  /** Drive said "slow down". Returns whether the rate was lowered (false within the cooldown). */
  onRateLimited(now: number): boolean {
    if (now - this.lastDecreaseAt < this.settings.decreaseCooldownMs) return false;
    this.refill(now);
    this.lastDecreaseAt = now;
    const floor = this.settings.configuredPerMinute * this.settings.minRateFraction;
    this.rate = Math.max(floor, this.rate * this.settings.decreaseFactor);
    // The stored burst is what got us refused: do not spend it right away.
    this.tokens = Math.min(this.tokens, 0);
    return true;
  }

  /** A call through this bucket succeeded: creep back towards the configured rate. */
  onSuccess(now: number): void {
    const { configuredPerMinute, recoveryFractionPerSecond } = this.settings;
    if (this.rate >= configuredPerMinute) return;
    this.refill(now);
    const step = (60 * configuredPerMinute * recoveryFractionPerSecond) / this.rate;
    this.rate = Math.min(configuredPerMinute, this.rate + step);
  }

  /** Full and not throttled: indistinguishable from a fresh bucket, so it may be forgotten. */
  isPristine(now: number): boolean {
    return this.rate >= this.settings.configuredPerMinute && this.available(now) >= this.capacity - EPSILON;
  }

  state(now: number): BucketState {
    return {
      available: this.available(now),
      capacity: this.capacity,
      ratePerMinute: this.rate,
      configuredPerMinute: this.settings.configuredPerMinute,
    };
  }
}
