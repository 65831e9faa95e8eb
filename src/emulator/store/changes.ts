import type { drive_v3 } from '@googleapis/drive';
import { driveErrors } from '../errors.js';
import type { Selection } from '../fields.js';
import { changesScanBudget, DRAW, draw } from '../realism.js';
import { type RenderContext, renderDrive, renderFileFields, rfc3339 } from './render.js';
import type { ChangeEntry, FileRecord } from './types.js';
import type { DriveWorld } from './world.js';

/** Which entries of the log a caller (or a push channel) wants. */
export interface ChangeFilter {
  readonly driveId: string | undefined;
  readonly includeRemoved: boolean;
  readonly includeCorpusRemovals: boolean;
  readonly restrictToMyDrive: boolean;
  readonly includeItemsFromAllDrives: boolean;
  readonly supportsAllDrives: boolean;
  /** `drive` (the default) and/or `appDataFolder`; the emulator holds nothing in appDataFolder. */
  readonly spaces?: readonly string[];
}

export interface ChangeListOptions extends ChangeFilter {
  readonly pageToken: string;
  readonly pageSize: number;
  /** What the request's `fields` selects of `changes/file`. */
  readonly fileSelection: Selection;
}

export interface ChangePage {
  readonly changes: drive_v3.Schema$Change[];
  readonly nextPageToken?: string;
  readonly newStartPageToken?: string;
}

/**
 * Page tokens are the sequence number of the next entry to read, as decimal strings like
 * Google's ("660"). One global sequence serves every user log and every shared-drive log;
 * a token is valid anywhere between 1 and the next sequence number.
 */
export function parsePageToken(world: DriveWorld, token: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(token)) throw driveErrors.invalidPageToken();
  const seq = Number(token);
  if (seq > world.nextSeq) throw driveErrors.invalidPageToken();
  return seq;
}

export function startPageToken(world: DriveWorld): string {
  return String(world.nextSeq);
}

function inMyDrive(world: DriveWorld, ctx: RenderContext, file: FileRecord | undefined): boolean {
  return (
    file !== undefined && file.driveId === undefined && world.topRootId(file) === ctx.viewer.rootFolderId
  );
}

/**
 * Renders one entry for the viewer, or undefined when it does not concern them under these
 * options. `fileSelection` is what the caller will keep of `file` ('none' to only filter).
 */
export function changeFor(
  ctx: RenderContext,
  entry: ChangeEntry,
  options: ChangeFilter,
  fileSelection: Selection = 'all',
): drive_v3.Schema$Change | undefined {
  const { world, viewer } = ctx;
  if (options.spaces !== undefined && !options.spaces.includes('drive')) return undefined;
  const allDrives = options.includeItemsFromAllDrives && options.supportsAllDrives;
  if (options.driveId !== undefined) {
    if (entry.driveId !== options.driveId) return undefined;
  } else {
    const concerns = entry.audience.includes(viewer.id) || entry.removedFor.includes(viewer.id);
    if (!concerns) return undefined;
    if (entry.driveId !== undefined && !allDrives) return undefined;
  }
  const time = rfc3339(entry.time);
  if (entry.changeType === 'drive') {
    const driveId = entry.driveId as string;
    const drive = world.drives.get(driveId);
    const member = drive?.members.has(viewer.id) ?? false;
    const removed = !member || entry.removedFor.includes(viewer.id);
    if (removed && !options.includeRemoved) return undefined;
    const change: drive_v3.Schema$Change = {
      kind: 'drive#change',
      changeType: 'drive',
      time,
      removed,
      driveId,
    };
    if (!removed && drive) change.drive = renderDrive(ctx, drive);
    return change;
  }
  const fileId = entry.fileId as string;
  if (entry.departed) {
    // Only a shared drive's own log reads this: the item left that drive.
    if (options.driveId === undefined || !options.includeRemoved) return undefined;
    return { kind: 'drive#change', changeType: 'file', time, removed: true, fileId, driveId: entry.driveId };
  }
  const file = world.files.get(fileId);
  // The file shown is the item's current state; if it is gone, or the viewer can no longer
  // see it, the entry reads as a removal, as Google's coalesced log does.
  const visible = file !== undefined && world.corpusRole(viewer, file) !== undefined;
  const removed = !visible || (entry.removedFor.includes(viewer.id) && !entry.audience.includes(viewer.id));
  if (removed && !options.includeRemoved) return undefined;
  if (options.restrictToMyDrive && !removed && !inMyDrive(world, ctx, file)) return undefined;
  const change: drive_v3.Schema$Change = { kind: 'drive#change', changeType: 'file', time, removed, fileId };
  if (entry.driveId !== undefined) change.driveId = entry.driveId;
  if (fileSelection === 'none') return change;
  if (file && !removed) change.file = renderFileFields(ctx, file, fileSelection);
  else if (file && removed && options.includeCorpusRemovals && world.accessRole(viewer, file)) {
    change.file = renderFileFields(ctx, file, fileSelection);
  }
  return change;
}

/** How loose a changes.list answer may be (realism.ts); all off reads the log entry by entry. */
export interface ChangeLooseness {
  readonly seed: number;
  readonly partialPages: boolean;
  readonly coalesce: boolean;
}

const STRICT: ChangeLooseness = { seed: 0, partialPages: false, coalesce: false };

/** Share of entries dropped in favour of a later entry for the same item in the same read. */
const SUPERSEDE_PROBABILITY = 0.8;
/** Share of items created and deleted within one read that leave no entry at all. */
const VANISH_PROBABILITY = 0.5;

/**
 * Google's log keeps the latest state of an item, not each edit: an entry is left out when a
 * later one for the same item, which the caller will also read, is already in the log.
 * An item created after the caller's token and gone since may leave no trace at all, as
 * its creation and removal cancel out. Each choice is a draw on the entry's position, so a
 * page read twice answers the same.
 */
function coalescedAway(
  ctx: RenderContext,
  entry: ChangeEntry,
  options: ChangeFilter,
  pageStart: number,
  end: number,
  seed: number,
): boolean {
  const { world } = ctx;
  const gone = entry.changeType === 'file' && entry.fileId !== undefined && !world.files.has(entry.fileId);
  if (gone) {
    const createdAt = world.createdSeq.get(entry.fileId as string);
    if (
      createdAt !== undefined &&
      createdAt >= pageStart &&
      draw(seed, DRAW.vanish, createdAt) < VANISH_PROBABILITY
    ) {
      return true;
    }
  }
  // A deleted item's entries all read as the same removal: only the last one is kept.
  if (!gone && draw(seed, DRAW.coalesce, entry.seq) >= SUPERSEDE_PROBABILITY) return false;
  for (const later of world.laterEntriesOf(entry)) {
    if (later.seq >= end) break;
    if (changeFor(ctx, later, options, 'none') !== undefined) return true;
  }
  return false;
}

export function listChanges(
  ctx: RenderContext,
  options: ChangeListOptions,
  looseness: ChangeLooseness = STRICT,
): ChangePage {
  const { world, viewer } = ctx;
  if (options.driveId !== undefined) world.driveOrThrow(options.driveId, viewer);
  const pageStart = parsePageToken(world, options.pageToken);
  const changes: drive_v3.Schema$Change[] = [];
  const end = world.nextSeq;
  const budget = looseness.partialPages
    ? changesScanBudget(looseness.seed, pageStart, options.pageSize)
    : undefined;
  let scanned = 0;
  for (let seq = pageStart; seq < end; seq++) {
    // The window is used up: a short or empty page that still says more may follow.
    if (budget !== undefined && scanned >= budget) return { changes, nextPageToken: String(seq) };
    scanned++;
    const entry = world.entryAt(seq);
    if (!entry) continue;
    if (looseness.coalesce && coalescedAway(ctx, entry, options, pageStart, end, looseness.seed)) continue;
    const change = changeFor(ctx, entry, options, options.fileSelection);
    if (!change) continue;
    if (changes.length === options.pageSize) {
      // A further entry concerns the caller: this page is not the last.
      return { changes, nextPageToken: String(seq) };
    }
    changes.push(change);
  }
  return { changes, newStartPageToken: String(end) };
}
