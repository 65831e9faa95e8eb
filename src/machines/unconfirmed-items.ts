/**
 * Items a listing published that the change log may never mention again. Pure.
 *
 * Drive's change log keeps an item's latest state, not each edit: an item created after a
 * read position and removed before the log is read from there may leave no entry at all
 * (DRIVE_API.md §10.3; the emulator's coalescing does it too). A full sync's walk runs
 * after its start token was taken, so it can list an item created meanwhile; if that item
 * is deleted before the catch-up reads the log, the catch-up may never say so and the item
 * stays live downstream forever. The same holds for any listing inside a run (a subtree
 * re-read, a joined drive's walk) of an item created after the page that caused it.
 *
 * So a run keeps the ids of the items its listings published whose creation may be after
 * the run's log position (creation time at or after the run's start, less a margin for the
 * clocks of Drive and the worker), drops each id a later change page names (the log spoke
 * of it, so a later removal will be spoken of too), and reads what is left once with
 * `files.get` after its last change page: a 404 is the removal the log swallowed.
 * Bounded: every id is an item created since the run began; the checkpoint holds at most
 * `CHECKPOINT_LIMIT` of them (a crash beyond that loses the check of the rest).
 */

/** Drive's clock and the worker's may disagree; items this much older still count. */
export const CLOCK_MARGIN_MS = 5 * 60_000;

/** At most this many ids travel in a checkpoint (about 70 KB of Drive ids). */
export const CHECKPOINT_LIMIT = 2_000;

export interface ListedItem {
  readonly id: string;
  readonly createdTime?: string | null | undefined;
}

/** Whether `item` may have been created after the log position taken at `runStartedAt`. */
export function mayPostdateLog(item: ListedItem, runStartedAt: string): boolean {
  const created = item.createdTime ? Date.parse(item.createdTime) : Number.NaN;
  // An item without a readable creation time cannot be placed: it is checked.
  if (Number.isNaN(created)) return true;
  return created >= Date.parse(runStartedAt) - CLOCK_MARGIN_MS;
}

/** `unconfirmed` with the listed items that may postdate the log added. */
export function addListed(
  unconfirmed: readonly string[],
  listed: readonly ListedItem[],
  runStartedAt: string,
): string[] {
  const next = new Set(unconfirmed);
  for (const item of listed) if (mayPostdateLog(item, runStartedAt)) next.add(item.id);
  return [...next];
}

/** `unconfirmed` without the items a change page named. */
export function settle(unconfirmed: readonly string[], named: Iterable<string>): string[] {
  if (unconfirmed.length === 0) return [];
  const gone = new Set(named);
  return unconfirmed.filter((id) => !gone.has(id));
}

/** What a checkpoint keeps of the set. */
export function forCheckpoint(unconfirmed: readonly string[]): string[] {
  return unconfirmed.slice(0, CHECKPOINT_LIMIT);
}
