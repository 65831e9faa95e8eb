/**
 * Google's truncated exponential backoff (DRIVE_API.md §6.3): attempt n (1-based) waits
 * min(2^(n-1) s + up to 1 s of jitter, cap), and never less than a Retry-After the server sent.
 */
export const BACKOFF_CAP_MS = 64_000;

export function backoffDelayMs(attempt: number, retryAfterMs: number | null, random: () => number): number {
  const exponential = 2 ** Math.max(0, attempt - 1) * 1000 + Math.floor(random() * 1000);
  return Math.max(Math.min(exponential, BACKOFF_CAP_MS), retryAfterMs ?? 0);
}
