import type { IncludeKind } from '../contract/inbound.js';

/**
 * What a connection syncs, and what changes when its options do. Pure.
 *
 * A corpus is named `user` (My Drive, shared with me, items given out of shared drives)
 * or by a shared drive's id. Options persist between triggers: a trigger that names no
 * options keeps the saved ones, and one that names some replaces only those it names.
 * When the scope widens — a drive added to `drive_ids`, `drive_ids` dropped, a kind added to
 * `include` — only the new part is walked (a backfill); when it narrows, what left it
 * gets deletes.
 */

export interface ScopeOptions {
  readonly include: readonly IncludeKind[];
  /** null: My Drive plus every shared drive the user sees. */
  readonly driveIds: readonly string[] | null;
}

/** A trigger's options as given: an absent field keeps the saved value. */
export interface OptionsUpdate {
  readonly include?: readonly IncludeKind[] | undefined;
  /** null: every drive (an explicit empty `drive_ids`); undefined: keep. */
  readonly driveIds?: readonly string[] | null | undefined;
}

export function applyOptionsUpdate(saved: ScopeOptions, update: OptionsUpdate): ScopeOptions {
  return {
    include: update.include !== undefined ? [...new Set(update.include)] : [...saved.include],
    driveIds:
      update.driveIds === undefined
        ? saved.driveIds === null
          ? null
          : [...saved.driveIds]
        : update.driveIds === null
          ? null
          : [...new Set(update.driveIds)],
  };
}

export function sameOptions(a: ScopeOptions, b: ScopeOptions): boolean {
  const sorted = (xs: readonly string[]) => [...xs].sort().join('\u0000');
  if (sorted(a.include) !== sorted(b.include)) return false;
  if (a.driveIds === null || b.driveIds === null) return a.driveIds === b.driveIds;
  return sorted(a.driveIds) === sorted(b.driveIds);
}

/**
 * Whether going from `from` to `to` needs a run of its own: a kind of `include` gained, or
 * the drives changed (a corpus may come or go). Kinds dropped need none: records keep what
 * they hold, and nothing more of those kinds is read.
 */
export function scopeChangeNeedsRun(from: ScopeOptions, to: ScopeOptions): boolean {
  if (to.include.some((kind) => !from.include.includes(kind))) return true;
  return !sameOptions({ include: [], driveIds: from.driveIds }, { include: [], driveIds: to.driveIds });
}

/** Whether items of `driveId` (null: My Drive) are in scope. */
export function driveInOptions(
  options: ScopeOptions,
  includeSharedDrives: boolean,
  driveId: string | null | undefined,
): boolean {
  if (driveId === null || driveId === undefined) return options.driveIds === null;
  if (options.driveIds !== null) return options.driveIds.includes(driveId);
  return includeSharedDrives;
}

/** The corpora in scope among the drives the user is a member of: `user` first, then drives by id. */
export function corporaInOptions(
  options: ScopeOptions,
  includeSharedDrives: boolean,
  memberDriveIds: readonly string[],
): string[] {
  const drives = memberDriveIds.filter((id) => driveInOptions(options, includeSharedDrives, id));
  return [...(options.driveIds === null ? ['user'] : []), ...[...new Set(drives)].sort()];
}

export interface ScopeChangePlan {
  /** Corpora new to the scope: walked with every kind of `include`. */
  readonly walk: readonly string[];
  /** Corpora in scope before and after: walked for the kinds `include` gained only. */
  readonly extras: readonly string[];
  readonly newKinds: readonly IncludeKind[];
  /** Corpora that left the scope: each of their items gets a delete, and a drive its own. */
  readonly leaving: readonly string[];
}

export function planScopeChange(
  from: ScopeOptions,
  to: ScopeOptions,
  includeSharedDrives: boolean,
  memberDriveIds: readonly string[],
): ScopeChangePlan {
  const before = new Set(corporaInOptions(from, includeSharedDrives, memberDriveIds));
  const after = corporaInOptions(to, includeSharedDrives, memberDriveIds);
  const newKinds = to.include.filter((kind) => !from.include.includes(kind));
  return {
    walk: after.filter((name) => !before.has(name)),
    extras: newKinds.length > 0 ? after.filter((name) => before.has(name)) : [],
    newKinds,
    leaving: [...before].filter((name) => !after.includes(name)),
  };
}
