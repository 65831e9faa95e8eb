import { describe, expect, it } from 'vitest';
import {
  BACKOFF_CAP_MS,
  backoffDelayMs,
  DEFAULT_MAX_ATTEMPTS,
  nextBackoff,
} from '../../src/machines/backoff.js';

const noJitter = () => 0;
const fullJitter = () => 0.999_999_9;

describe('truncated exponential backoff', () => {
  it('doubles from one second per attempt', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n, null, noJitter))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000,
    ]);
  });

  it('adds up to one second of jitter, drawn from the injected random', () => {
    expect(backoffDelayMs(1, null, () => 0.5)).toBe(1_500);
    expect(backoffDelayMs(1, null, fullJitter)).toBe(2_000);
    expect(backoffDelayMs(3, null, () => 0.25)).toBe(4_250);
  });

  it('never exceeds the 64 s cap, however late the attempt or large the jitter', () => {
    expect(backoffDelayMs(7, null, fullJitter)).toBe(BACKOFF_CAP_MS);
    expect(backoffDelayMs(8, null, fullJitter)).toBe(BACKOFF_CAP_MS);
    expect(backoffDelayMs(5_000, null, () => 0.3)).toBe(BACKOFF_CAP_MS);
    expect(backoffDelayMs(2, null, noJitter, 1_500)).toBe(1_500);
  });

  it('waits at least what Retry-After asked, even beyond the cap', () => {
    expect(backoffDelayMs(1, 5_000, () => 0.5)).toBe(5_000);
    expect(backoffDelayMs(4, 5_000, noJitter)).toBe(8_000);
    expect(backoffDelayMs(1, 120_000, noJitter)).toBe(120_000);
    expect(backoffDelayMs(1, -3, noJitter)).toBe(1_000);
  });

  it('treats nonsense attempt numbers as the first attempt', () => {
    expect(backoffDelayMs(0, null, noJitter)).toBe(1_000);
    expect(backoffDelayMs(Number.NaN, null, noJitter)).toBe(1_000);
  });
});

describe('bounded attempts', () => {
  it('retries up to maxAttempts times, then gives up', () => {
    const policy = { maxAttempts: 3, capMs: BACKOFF_CAP_MS };
    expect(nextBackoff(0, null, noJitter, policy)).toEqual({ kind: 'retry', attempt: 1, delayMs: 1_000 });
    expect(nextBackoff(2, 10_000, noJitter, policy)).toEqual({ kind: 'retry', attempt: 3, delayMs: 10_000 });
    expect(nextBackoff(3, null, noJitter, policy)).toEqual({ kind: 'give_up', attempts: 3 });
  });

  it('defaults to eight attempts', () => {
    expect(DEFAULT_MAX_ATTEMPTS).toBe(8);
    expect(nextBackoff(7, null, noJitter).kind).toBe('retry');
    expect(nextBackoff(8, null, noJitter).kind).toBe('give_up');
  });
});
