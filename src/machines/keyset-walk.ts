/**
 * A corpus walked in creation order, each page asked afresh from where the last one ended
 * (a keyset walk), instead of following page tokens.
 *
 * Why: Drive's page tokens are positions in a result list that shifts while it is read
 * (DRIVE_API.md §1.3; the emulator's tokens are plain offsets). When items before the
 * walk's position are deleted or moved away, unchanged items slide into pages already read
 * and are never listed — and the catch-up from the start token replays changed items
 * only, so nothing brings them back. A position that is a value (a creation time) does not
 * move: an unchanged item keeps its creation time, so it is listed once the walk reaches
 * it, live or after a crash and a resume. Items that do move across the position (created,
 * or moved in, during the walk) changed, and the change log replays them.
 *
 * The bound is the creation time cut to whole seconds, asked with `>=`, because Drive's
 * precision on time terms in `q` is not documented: everything of that second comes again
 * and the ids already taken in it (`seen`) are skipped. A page that brings nothing new (an
 * empty page, or one full of that second's items) is followed by its page token rather
 * than asked again, so many items created in one second cannot stall the walk.
 *
 * Pure: the sync runs ask Drive; this module says what to ask and what a page means.
 */

export interface KeysetPosition {
  /** RFC 3339, whole seconds, UTC: everything created before it was listed. */
  readonly since: string;
  /** Ids created within `since`'s second that were listed already. */
  readonly seen: readonly string[];
}

export interface KeysetItem {
  readonly id: string;
  readonly createdTime?: string | undefined;
}

export const KEYSET_ORDER_BY = 'createdTime';

/** The `q` bound of the next page from `position` (none at the start of a corpus). */
export function keysetBound(position: KeysetPosition | null): string | null {
  return position === null ? null : `createdTime >= '${position.since}'`;
}

export type KeysetStep<T extends KeysetItem> =
  /** The page is in creation order from the bound: `fresh` are its items not listed before. */
  | { readonly kind: 'ordered'; readonly fresh: readonly T[]; readonly next: KeysetPosition | null }
  /**
   * Drive did not honour the order (an item before the bound, times going backwards, or an
   * item without a creation time): a keyset walk cannot be trusted for this corpus.
   */
  | { readonly kind: 'unordered' };

/** The whole second an RFC 3339 time falls in, as RFC 3339 UTC; null when unreadable. */
export function secondOf(time: string | undefined): string | null {
  if (time === undefined) return null;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) return null;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** What one page from `position` brings, and where the walk stands after it. */
export function advanceKeyset<T extends KeysetItem>(
  position: KeysetPosition | null,
  items: readonly T[],
): KeysetStep<T> {
  const seen = new Set(position?.seen ?? []);
  const fresh: T[] = [];
  let since = position?.since ?? null;
  let sinceMs = since === null ? Number.NEGATIVE_INFINITY : Date.parse(since);
  let inSecond = new Set(position?.seen ?? []);
  for (const item of items) {
    const second = secondOf(item.createdTime);
    if (second === null) return { kind: 'unordered' };
    const ms = Date.parse(second);
    if (ms < sinceMs) return { kind: 'unordered' };
    if (ms > sinceMs) {
      since = second;
      sinceMs = ms;
      inSecond = new Set();
    }
    inSecond.add(item.id);
    if (ms === Date.parse(position?.since ?? '') && seen.has(item.id)) continue;
    fresh.push(item);
  }
  const next = since === null ? null : { since, seen: [...inSecond].sort() };
  return { kind: 'ordered', fresh, next };
}

/**
 * How many ids of one second a checkpoint keeps. Drive ids are about 33–44 characters, so
 * this keeps a position within ~50 KB, whatever the corpus: 100,000 items created in one
 * second would otherwise make a checkpoint of megabytes, one the broker refuses.
 */
export const MAX_SEEN_IN_CHECKPOINT = 1_000;

/**
 * The position as a checkpoint stores it: `seen` cut to `max` ids. The live walk keeps its
 * whole `seen` in memory and stays exact; a walk resumed from a cut position lists that
 * second again and skips only the ids kept, so the second's other items already listed come
 * once more (duplicates, which records' idempotency keys absorb) and none is missed —
 * `seen` only ever decides what to skip.
 */
export function keysetForCheckpoint(
  position: KeysetPosition,
  max = MAX_SEEN_IN_CHECKPOINT,
): { since: string; seen: string[] } {
  return { since: position.since, seen: position.seen.slice(0, max) };
}

/** Whether `next` is further on than `previous`: the walk made progress. */
export function keysetMoved(previous: KeysetPosition | null, next: KeysetPosition | null): boolean {
  if (next === null) return false;
  if (previous === null) return true;
  if (next.since !== previous.since) return true;
  return next.seen.length > previous.seen.length;
}

/**
 * The position after `items`, a prefix of a page's fresh items read from `position`: where
 * a walk resumes that stopped inside the page. It is a value like any keyset position, so
 * it holds however the page shifts under edits meanwhile. Null when the items are not in
 * creation order (a walk by page tokens has no such position).
 */
export function keysetAfter<T extends KeysetItem>(
  position: KeysetPosition | null,
  items: readonly T[],
): KeysetPosition | null {
  if (items.length === 0) return position;
  const step = advanceKeyset(position, items);
  return step.kind === 'ordered' ? step.next : null;
}
