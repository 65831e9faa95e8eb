import type { ErrorClassification } from '../contract/records.js';

/**
 * Per-item isolation: what a page does when one item's extra (permissions, revisions,
 * comments, content) keeps failing. One bad item must not hold a connection's sync back
 * forever, yet a Drive outage must not be mistaken for many bad items (each would become
 * an error record and a record without its extras, and the page would move on for good).
 *
 * - A retryable failure is read again alone — never its whole page — after a short
 *   backoff, up to `maxAttempts` reads in all.
 * - Past them, a transient failure is the item's own: one error record against it, its
 *   record goes without that part, the page moves on.
 * - A rate limit past them is not the item's fault (the quota is the user's or the
 *   project's): the page fails and the connection backs off as a whole.
 * - Outage guard: when most of a page's items that needed calls failed the same way
 *   (at least OUTAGE_MIN_ITEMS of them), Drive is failing, not the items: the page fails
 *   and the connection backs off, nothing is reported.
 *
 * Pure: randomness is injected, like backoff.ts.
 */

export const DEFAULT_ITEM_MAX_ATTEMPTS = 4;
export const ITEM_RETRY_BASE_MS = 250;
export const ITEM_RETRY_CAP_MS = 8_000;
export const ITEM_RETRY_MAX_JITTER_MS = 250;
/** Fewer items failing alike than this are item faults whatever the page's size. */
export const OUTAGE_MIN_ITEMS = 3;

export interface ItemIsolationPolicy {
  /** Reads of one item's extra in all, the first included (GDRIVE_ITEM_MAX_ATTEMPTS). */
  readonly maxAttempts: number;
}

export interface ItemFailureFacts {
  readonly retryable: boolean;
  readonly classification: ErrorClassification;
  readonly retryAfterMs: number | null;
}

export type ItemRetryDecision =
  | { readonly kind: 'retry'; readonly delayMs: number }
  /** The item's own failure: report it against the item and leave the part out. */
  | { readonly kind: 'report' }
  /** Not the item's fault: the page fails and is read again after the connection's backoff. */
  | { readonly kind: 'fail_page' };

/** The delay before read number `attempt + 1` of an item's extra (`attempt` reads made). */
export function itemRetryDelayMs(attempt: number, retryAfterMs: number | null, random: () => number): number {
  const n = Math.max(1, Math.floor(attempt));
  const jitter = Math.floor(Math.min(Math.max(random(), 0), 0.999_999) * (ITEM_RETRY_MAX_JITTER_MS + 1));
  const exponential = Math.min(ITEM_RETRY_BASE_MS * 2 ** (n - 1), ITEM_RETRY_CAP_MS) + jitter;
  const asked = retryAfterMs !== null && Number.isFinite(retryAfterMs) ? Math.max(0, retryAfterMs) : 0;
  return Math.max(exponential, asked);
}

/** What follows a failed read of an item's extra, after `attempts` reads (1 after the first). */
export function itemRetryDecision(
  failure: ItemFailureFacts,
  attempts: number,
  policy: ItemIsolationPolicy,
  random: () => number,
): ItemRetryDecision {
  if (!failure.retryable) return { kind: 'report' };
  if (attempts < policy.maxAttempts)
    return { kind: 'retry', delayMs: itemRetryDelayMs(attempts, failure.retryAfterMs, random) };
  return failure.classification === 'rate_limited' ? { kind: 'fail_page' } : { kind: 'report' };
}

export interface GivenUpItem {
  readonly fileId: string;
  readonly retryable: boolean;
  readonly classification: ErrorClassification;
  readonly code: string;
}

export type PageVerdict =
  | { readonly kind: 'items' }
  | {
      readonly kind: 'outage';
      readonly classification: ErrorClassification;
      readonly code: string;
      readonly items: number;
    };

/**
 * Whether a page's given-up items are item faults (report them, the page moves on) or one
 * outage (the page fails). `itemsWithCalls`: the page's items that needed any call.
 * Failures for good (a 403 on one file) are never an outage: they are what Drive says of
 * that item, and reading the page again would not change them.
 */
export function pageVerdict(givenUp: readonly GivenUpItem[], itemsWithCalls: number): PageVerdict {
  const byKind = new Map<string, { classification: ErrorClassification; code: string; files: Set<string> }>();
  for (const item of givenUp) {
    if (!item.retryable) continue;
    const key = `${item.classification}\u0000${item.code}`;
    const group = byKind.get(key) ?? {
      classification: item.classification,
      code: item.code,
      files: new Set(),
    };
    group.files.add(item.fileId);
    byKind.set(key, group);
  }
  let worst: { classification: ErrorClassification; code: string; files: Set<string> } | null = null;
  for (const group of byKind.values()) if (!worst || group.files.size > worst.files.size) worst = group;
  if (worst && worst.files.size >= OUTAGE_MIN_ITEMS && worst.files.size * 2 > itemsWithCalls)
    return {
      kind: 'outage',
      classification: worst.classification,
      code: worst.code,
      items: worst.files.size,
    };
  return { kind: 'items' };
}
