/**
 * Google's truncated exponential backoff (DRIVE_API.md §6.3): attempt n (1-based) waits
 * min(2^(n-1) s + up to 1 s of jitter, cap), and never less than a Retry-After the server
 * sent — Drive does not document Retry-After, so it is honoured when present and never
 * relied on. Attempts are bounded: past `maxAttempts` the caller gives up and reports.
 * Pure: randomness is injected (a function returning [0, 1), like Math.random).
 */

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_CAP_MS = 64_000;
export const BACKOFF_MAX_JITTER_MS = 1_000;
export const DEFAULT_MAX_ATTEMPTS = 8;

export interface BackoffPolicy {
  /** Retries allowed after the first failure; the failure after the last one gives up. */
  readonly maxAttempts: number;
  readonly capMs: number;
}

export const defaultBackoffPolicy: BackoffPolicy = {
  maxAttempts: DEFAULT_MAX_ATTEMPTS,
  capMs: BACKOFF_CAP_MS,
};

/** The delay before retry number `attempt` (1-based). */
export function backoffDelayMs(
  attempt: number,
  retryAfterMs: number | null,
  random: () => number,
  capMs: number = BACKOFF_CAP_MS,
): number {
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  // Clamped so that a stand-in random returning exactly 1 cannot exceed the documented jitter.
  const jitter = Math.floor(Math.min(Math.max(random(), 0), 0.999_999) * (BACKOFF_MAX_JITTER_MS + 1));
  // 2^(n-1) overflows to Infinity long after it passed the cap; min() truncates either way.
  const exponential = Math.min(BACKOFF_BASE_MS * 2 ** (n - 1) + jitter, capMs);
  const serverAsked = retryAfterMs !== null && Number.isFinite(retryAfterMs) ? Math.max(0, retryAfterMs) : 0;
  return Math.max(exponential, serverAsked);
}

export type BackoffDecision =
  | { readonly kind: 'retry'; readonly attempt: number; readonly delayMs: number }
  | { readonly kind: 'give_up'; readonly attempts: number };

/**
 * What to do after a retryable failure, given how many retries were already made for the
 * same piece of work (0 after the first failure).
 */
export function nextBackoff(
  previousAttempts: number,
  retryAfterMs: number | null,
  random: () => number,
  policy: BackoffPolicy = defaultBackoffPolicy,
): BackoffDecision {
  const attempt = previousAttempts + 1;
  if (attempt > policy.maxAttempts) return { kind: 'give_up', attempts: previousAttempts };
  return { kind: 'retry', attempt, delayMs: backoffDelayMs(attempt, retryAfterMs, random, policy.capMs) };
}
