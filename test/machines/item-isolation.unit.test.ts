import { describe, expect, it } from 'vitest';
import {
  type GivenUpItem,
  ITEM_RETRY_BASE_MS,
  ITEM_RETRY_CAP_MS,
  itemRetryDecision,
  itemRetryDelayMs,
  OUTAGE_MIN_ITEMS,
  pageVerdict,
} from '../../src/machines/item-isolation.js';

const policy = { maxAttempts: 4 };
const noJitter = () => 0;
const transient = { retryable: true, classification: 'transient', retryAfterMs: null } as const;
const rateLimited = { retryable: true, classification: 'rate_limited', retryAfterMs: null } as const;

describe('an item’s failing extra', () => {
  it('is read again with growing waits until its attempts are spent, then reported', () => {
    const decisions = [1, 2, 3, 4].map((n) => itemRetryDecision(transient, n, policy, noJitter));
    expect(decisions).toEqual([
      { kind: 'retry', delayMs: ITEM_RETRY_BASE_MS },
      { kind: 'retry', delayMs: ITEM_RETRY_BASE_MS * 2 },
      { kind: 'retry', delayMs: ITEM_RETRY_BASE_MS * 4 },
      { kind: 'report' },
    ]);
  });

  it('a rate limit past its attempts fails the page: the quota is not the item’s fault', () => {
    expect(itemRetryDecision(rateLimited, 1, policy, noJitter).kind).toBe('retry');
    expect(itemRetryDecision(rateLimited, 4, policy, noJitter)).toEqual({ kind: 'fail_page' });
  });

  it('a failure for good is reported at once', () => {
    const denied = { retryable: false, classification: 'permission', retryAfterMs: null } as const;
    expect(itemRetryDecision(denied, 1, policy, noJitter)).toEqual({ kind: 'report' });
  });

  it('waits at least what the server asked, at most the cap otherwise', () => {
    expect(itemRetryDelayMs(1, 5_000, noJitter)).toBe(5_000);
    expect(itemRetryDelayMs(30, null, noJitter)).toBe(ITEM_RETRY_CAP_MS);
    expect(itemRetryDelayMs(1, null, () => 0.999)).toBeLessThanOrEqual(ITEM_RETRY_BASE_MS + 250);
  });
});

describe('a page’s given-up items', () => {
  const failing = (n: number, over: Partial<GivenUpItem> = {}): GivenUpItem[] =>
    Array.from({ length: n }, (_, i) => ({
      fileId: `f${i}`,
      retryable: true,
      classification: 'transient',
      code: 'backendError',
      ...over,
    }));

  it('one or two bad items are item faults, whatever the page’s size', () => {
    expect(pageVerdict(failing(1), 1)).toEqual({ kind: 'items' });
    expect(pageVerdict(failing(OUTAGE_MIN_ITEMS - 1), 2)).toEqual({ kind: 'items' });
  });

  it('most items failing the same way is an outage', () => {
    expect(pageVerdict(failing(6), 10)).toEqual({
      kind: 'outage',
      classification: 'transient',
      code: 'backendError',
      items: 6,
    });
    expect(pageVerdict(failing(5), 10)).toEqual({ kind: 'items' });
  });

  it('counts items, not extras, and never failures for good', () => {
    const sameFile = failing(4).map((g) => ({ ...g, fileId: 'one' }));
    expect(pageVerdict(sameFile, 1)).toEqual({ kind: 'items' });
    expect(pageVerdict(failing(10, { retryable: false, classification: 'permission' }), 10)).toEqual({
      kind: 'items',
    });
  });

  it('failures of different kinds are not one outage', () => {
    const mixed = [
      ...failing(3),
      ...failing(3, { code: 'http_502' }).map((g) => ({ ...g, fileId: `x${g.fileId}` })),
    ];
    expect(pageVerdict(mixed, 10)).toEqual({ kind: 'items' });
  });
});
