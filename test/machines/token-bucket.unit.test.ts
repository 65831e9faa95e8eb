import { describe, expect, it } from 'vitest';
import {
  type AdaptiveBucketSettings,
  AdaptiveTokenBucket,
  defaultAdaptiveBucketSettings,
} from '../../src/machines/token-bucket.js';

const settings = (overrides: Partial<AdaptiveBucketSettings> = {}): AdaptiveBucketSettings => ({
  ...defaultAdaptiveBucketSettings,
  configuredPerMinute: 12_000,
  ...overrides,
});

/** Takes greedily, one call at a time, whenever the bucket allows; returns the grant times. */
function drainGreedily(bucket: AdaptiveTokenBucket, from: number, until: number): number[] {
  const grants: number[] = [];
  let at = from;
  while (at < until) {
    if (bucket.canTake(1, at)) {
      bucket.take(1, at);
      grants.push(at);
    } else {
      at += bucket.msUntil(1, at);
    }
  }
  return grants;
}

function busiestWindow(grants: readonly number[], windowMs: number): number {
  let busiest = 0;
  let start = 0;
  for (let end = 0; end < grants.length; end++) {
    while ((grants[end] as number) - (grants[start] as number) >= windowMs) start++;
    busiest = Math.max(busiest, end - start + 1);
  }
  return busiest;
}

describe('AdaptiveTokenBucket', () => {
  it('starts full with one second of burst sized so that burst plus a minute of refill is the budget', () => {
    const bucket = new AdaptiveTokenBucket(settings(), 0);
    expect(bucket.capacity).toBeCloseTo(12_000 / 61, 6);
    expect(bucket.available(0)).toBeCloseTo(12_000 / 61, 6);
    // Refill: the remaining 60/61 of the budget over 60 s.
    bucket.take(150, 0);
    expect(bucket.available(100)).toBeCloseTo(12_000 / 61 - 150 + (12_000 * 60) / 61 / 600, 6);
    expect(bucket.available(60_000)).toBeCloseTo(12_000 / 61, 6);
  });

  it('never lets any 60 s window exceed the configured rate, yet delivers nearly all of it', () => {
    const bucket = new AdaptiveTokenBucket(settings({ configuredPerMinute: 6_000 }), 0);
    const grants = drainGreedily(bucket, 0, 180_000);
    expect(busiestWindow(grants, 60_000)).toBeLessThanOrEqual(6_000);
    expect(grants.filter((at) => at >= 60_000 && at < 120_000).length).toBeGreaterThanOrEqual(5_850);
  });

  it('says how long until a token is there, and the token is there then', () => {
    const bucket = new AdaptiveTokenBucket(settings({ configuredPerMinute: 610 }), 0);
    bucket.take(bucket.capacity, 0);
    expect(bucket.canTake(1, 0)).toBe(false);
    // 610 a minute with a 1 s burst refills 600 a minute: one token per 100 ms.
    expect(bucket.msUntil(1, 0)).toBe(100);
    expect(bucket.canTake(1, 99)).toBe(false);
    expect(bucket.canTake(1, 100)).toBe(true);
    expect(bucket.msUntil(1, 100)).toBe(0);
  });

  it('lets a call costing more than the burst through on a full bucket and makes later calls wait the debt out', () => {
    const bucket = new AdaptiveTokenBucket(settings({ configuredPerMinute: 610 }), 0); // burst 10, 10 a second
    expect(bucket.capacity).toBeCloseTo(10, 9);
    bucket.take(5, 0);
    expect(bucket.canTake(100, 0)).toBe(false);
    expect(bucket.msUntil(100, 0)).toBe(500);
    expect(bucket.canTake(100, 500)).toBe(true);
    bucket.take(100, 500);
    expect(bucket.available(500)).toBeCloseTo(-90, 9);
    // 91 tokens to refill at 10 a second before the next single call.
    expect(bucket.msUntil(1, 500)).toBe(9_100);
  });

  it('drops multiplicatively on a rate limit, once per cooldown, down to the floor, and empties its burst', () => {
    const bucket = new AdaptiveTokenBucket(settings(), 0);
    expect(bucket.onRateLimited(0)).toBe(true);
    expect(bucket.ratePerMinute).toBeCloseTo(8_400, 6);
    expect(bucket.available(0)).toBe(0);
    // Calls that were in flight report the same event.
    expect(bucket.onRateLimited(999)).toBe(false);
    expect(bucket.ratePerMinute).toBeCloseTo(8_400, 6);
    expect(bucket.onRateLimited(1_000)).toBe(true);
    expect(bucket.ratePerMinute).toBeCloseTo(5_880, 6);
    for (let second = 2; second < 100; second++) bucket.onRateLimited(second * 1_000);
    expect(bucket.ratePerMinute).toBeCloseTo(120, 6);
  });

  it('recovers linearly while calls succeed, in about a minute per decrease, never above the configured rate', () => {
    const bucket = new AdaptiveTokenBucket(settings(), 0);
    bucket.onRateLimited(0);
    // Full demand: successes arrive as fast as the adapted rate allows.
    let at = 0;
    let recoveredAt: number | undefined;
    while (at < 120_000) {
      at += 60_000 / bucket.ratePerMinute;
      bucket.onSuccess(at);
      if (recoveredAt === undefined && bucket.ratePerMinute >= 12_000) recoveredAt = at;
      if (at < 30_000) expect(bucket.ratePerMinute).toBeLessThan(12_000);
      expect(bucket.ratePerMinute).toBeLessThanOrEqual(12_000);
    }
    // 0.3 of the rate at 0.5% a second: 60 s.
    expect(recoveredAt).toBeGreaterThan(55_000);
    expect(recoveredAt).toBeLessThan(65_000);
    expect(bucket.ratePerMinute).toBe(12_000);
  });

  it('is pristine only when full and not throttled', () => {
    const bucket = new AdaptiveTokenBucket(settings({ configuredPerMinute: 610 }), 0);
    expect(bucket.isPristine(0)).toBe(true);
    bucket.take(1, 0);
    expect(bucket.isPristine(0)).toBe(false);
    expect(bucket.isPristine(100)).toBe(true);
    bucket.onRateLimited(100);
    expect(bucket.isPristine(1_000_000)).toBe(false);
  });

  it('takes a new configured rate keeping its tokens, its debt and its throttle', () => {
    const bucket = new AdaptiveTokenBucket(settings({ configuredPerMinute: 12_200 }), 0);
    bucket.take(150, 0);
    bucket.reconfigure(6_100, 0);
    // Neither refilled to the new capacity nor emptied: the 50 tokens left are still there.
    expect(bucket.state(0)).toEqual({
      available: 50,
      capacity: 100,
      ratePerMinute: 6_100,
      configuredPerMinute: 6_100,
    });
    bucket.reconfigure(12_200, 0);
    expect(bucket.available(0)).toBe(50);
    // A full bucket shrinks to the new capacity; a debt stays a debt.
    expect(bucket.available(1_000)).toBe(200);
    bucket.reconfigure(6_100, 1_000);
    expect(bucket.available(1_000)).toBe(100);
    bucket.take(400, 1_000);
    bucket.reconfigure(24_400, 1_000);
    expect(bucket.available(1_000)).toBe(-300);
    // A throttled rate keeps its fraction of the configured one.
    bucket.onRateLimited(2_000);
    bucket.reconfigure(12_200, 2_000);
    expect(bucket.ratePerMinute).toBeCloseTo(12_200 * 0.7, 6);
    // At the new rate, no 60 s window holds more than it.
    const throttled = new AdaptiveTokenBucket(settings({ configuredPerMinute: 12_200 }), 0);
    throttled.reconfigure(4_000, 0);
    expect(busiestWindow(drainGreedily(throttled, 0, 180_000), 60_000)).toBeLessThanOrEqual(4_000);
    expect(() => throttled.reconfigure(0, 0)).toThrow(RangeError);
  });

  it('refuses settings that make no sense', () => {
    expect(() => new AdaptiveTokenBucket(settings({ configuredPerMinute: 0 }), 0)).toThrow(RangeError);
    expect(() => new AdaptiveTokenBucket(settings({ burstSeconds: -1 }), 0)).toThrow(RangeError);
    expect(() => new AdaptiveTokenBucket(settings({ decreaseFactor: 1 }), 0)).toThrow(RangeError);
    expect(() => new AdaptiveTokenBucket(settings({ minRateFraction: 2 }), 0)).toThrow(RangeError);
    expect(() => new AdaptiveTokenBucket(settings({ decreaseCooldownMs: Number.NaN }), 0)).toThrow(
      RangeError,
    );
  });
});
