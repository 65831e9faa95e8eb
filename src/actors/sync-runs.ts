import type { FullSyncResume, SyncCounts } from '../contract/checkpoint.js';
import type { DriveChange, DriveFile, SharedDrive } from '../contract/drive-resources.js';
import type { SyncOptions } from '../contract/inbound.js';
import type { OutboundRecord } from '../contract/records.js';
import { failureOf } from '../machines/classify.js';
import {
  DEFAULT_ITEM_MAX_ATTEMPTS,
  type GivenUpItem,
  itemRetryDecision,
  pageVerdict,
} from '../machines/item-isolation.js';
import { endedByDriveCascade, trackLostDrives } from '../machines/normalize.js';
import {
  corporaInOptions,
  driveInOptions,
  planScopeChange,
  type ScopeChangePlan,
} from '../machines/scope-change.js';
import { addListed, forCheckpoint, settle } from '../machines/unconfirmed-items.js';
import type { FileContentAttacher } from './content-payloads.js';
import { CORPUS_START, type CorpusPosition, pageChunks, readCorpusPage } from './corpus-walk.js';
import { pause } from './pause.js';
import type {
  DriveCorpus,
  DriveReader,
  ExtraKind,
  ExtraOutcome,
  ExtraRequest,
  FileExtras,
  RecordPublisher,
} from './ports.js';
import { foldersToRefresh, listSubtrees } from './subtree-refresh.js';
import type { SyncSlots } from './sync-slots.js';

/**
 * The page loops of full and incremental syncs. Each page is fetched, normalized,
 * published and acknowledged by Kafka before its progress is reported — the progress is
 * what the connection's checkpoint stores, so a crash repeats at most the page in flight
 * (whose records carry the same message ids the second time).
 */

export interface SyncRecords {
  drive(drive: SharedDrive): OutboundRecord[];
  file(file: DriveFile, extras: FileExtras): OutboundRecord[];
  change(change: DriveChange, extras: FileExtras): OutboundRecord[];
  /** An item or drive the connection no longer has in scope: its delete. */
  removed(type: 'file' | 'folder' | 'drive', id: string): OutboundRecord[];
}

/**
 * A per-file extra (or the file's content) given up on after `attempts` reads: reported as
 * an error record against the item, and the sync goes on without that part.
 */
export type ExtraFailureHandler = (
  fileId: string,
  extra: keyof FileExtras | 'content',
  error: unknown,
  attempts: number,
) => Promise<void>;

/** How an item's failing extra is read again (item-isolation.ts); every field defaulted. */
export interface ItemIsolation {
  /** Reads of one item's extra in all (GDRIVE_ITEM_MAX_ATTEMPTS). */
  readonly maxAttempts?: number;
  readonly random?: () => number;
  /** Waits between reads; resolves early when the sync is stopped. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface SyncRunDeps {
  readonly drive: DriveReader;
  readonly records: SyncRecords;
  readonly publisher: RecordPublisher;
  readonly slots: SyncSlots;
  /** Whether a failed extra is read again (item-isolation.ts) or reported at once. */
  readonly isRetryable: (error: unknown) => boolean;
  readonly onExtraFailed: ExtraFailureHandler;
  /** Per-file calls in flight at once within one page. */
  readonly extrasConcurrency: number;
  /** Reads file content into file records when `options.include` has `content`; absent: never. */
  readonly content?: FileContentAttacher | null;
  readonly itemIsolation?: ItemIsolation;
  /** A walked page's items published and checkpointed this many at a time; absent or null: the page whole. */
  readonly chunkItems?: number | null;
}

export interface SyncRunScope {
  readonly connectionId: string;
  readonly correlationId: string | null;
  readonly options: SyncOptions;
  readonly includeSharedDrives: boolean;
  /** The options the records reflected before the scope changed: what left it gets deletes. */
  readonly scopeFrom?: SyncOptions | null;
  /** Walk only what `scopeFrom` lacked (a backfill), not every corpus. */
  readonly backfill?: boolean;
  /** When the run began: listed items created since (less a margin) are checked (unconfirmed-items.ts). */
  readonly startedAt: string;
}

export interface FullSyncPosition {
  readonly startPageToken: string | null;
  readonly resume: FullSyncResume | null;
  readonly counts: SyncCounts;
  /** Listed items the change log has not spoken of yet (unconfirmed-items.ts). */
  readonly unconfirmed?: readonly string[];
}

export interface FullSyncProgress {
  readonly startPageToken: string;
  readonly resume: FullSyncResume;
  readonly counts: SyncCounts;
  readonly unconfirmed: readonly string[];
}

export interface IncrementalProgress {
  /** The token the next page (or the next sync) starts from. */
  readonly cursor: string;
  readonly counts: SyncCounts;
  readonly unconfirmed: readonly string[];
}

export interface SyncOutcome {
  readonly cursor: string;
  readonly counts: SyncCounts;
}

const FOLDER = 'application/vnd.google-apps.folder';

export async function runFullSync(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  from: FullSyncPosition,
  onProgress: (progress: FullSyncProgress) => void,
  signal: AbortSignal,
): Promise<SyncOutcome> {
  let counts: SyncCounts = { ...from.counts };
  let unconfirmed: string[] = [...(from.unconfirmed ?? [])];
  const report = (resume: FullSyncResume) =>
    onProgress({ startPageToken, resume, counts, unconfirmed: forCheckpoint(unconfirmed) });
  // Bootstrap order (DRIVE_API §10.1): the token comes before the walk, so edits made
  // during a long walk are replayed by the catch-up below.
  const startPageToken = from.startPageToken ?? (await deps.drive.getStartPageToken());
  let resume: FullSyncResume = from.resume ?? { phase: 'drives', corpus: null, pageToken: null };
  if (from.startPageToken === null) report(resume);

  // The member drives this life listed from the first page on: the walk below needs exactly
  // them, so it lists again only when an earlier life listed some of the pages.
  let listedDrives: string[] | null = null;
  if (resume.phase === 'drives') {
    let pageToken = resume.pageToken;
    if (wantsSharedDrives(scope)) {
      const fromFirstPage = pageToken === null;
      const listed: string[] = [];
      do {
        throwIfAborted(signal);
        const page = await withSlot(deps, scope, signal, async () => {
          const drives = await deps.drive.listDrives(pageToken);
          for (const drive of drives.items) listed.push(drive.id);
          const records = drives.items
            .filter((d) => driveInScope(scope, d.id) && !(scope.backfill && driveWasInScope(scope, d.id)))
            .flatMap((d) => deps.records.drive(d));
          await deps.publisher.publish(records, scope.correlationId);
          return { records, nextPageToken: drives.nextPageToken };
        });
        counts = addCounts(counts, page.records);
        pageToken = page.nextPageToken;
        resume = pageToken
          ? { phase: 'drives', corpus: null, pageToken }
          : { phase: 'files', corpus: null, pageToken: null };
        report(resume);
      } while (pageToken);
      if (fromFirstPage) listedDrives = listed;
    } else {
      resume = { phase: 'files', corpus: null, pageToken: null };
    }
  }

  if (resume.phase === 'files') {
    const memberDrives = wantsSharedDrives(scope)
      ? (listedDrives ?? (await memberDriveIds(deps, signal)))
      : [];
    const plan = scope.scopeFrom
      ? planScopeChange(scope.scopeFrom, scope.options, scope.includeSharedDrives, memberDrives)
      : null;
    if (resume.corpus === null && plan && plan.leaving.length > 0) {
      // Before any corpus is walked, so a resumed walk (corpus named) has done it already.
      counts = await sendLeavingDeletes(deps, scope, plan, counts, signal);
    }
    const targets = walkTargets(scope, plan, memberDrives);
    // Items of a drive walked on its own are left to that walk: the `user` corpus lists
    // some of them too (those the user created, opened or was given).
    const walkedDrives = new Set(
      corporaInOptions(scope.options, scope.includeSharedDrives, memberDrives).filter((n) => n !== 'user'),
    );
    const belongsTo = (name: string, file: DriveFile): boolean =>
      name !== 'user' ||
      (!(file.driveId && walkedDrives.has(file.driveId)) && driveInScope(scope, file.driveId));
    const startAt = resume.corpus;
    for (const [index, target] of targets.entries()) {
      const { name, corpus } = target;
      if (startAt !== null && compareCorpus(name, startAt) < 0) continue;
      let position: CorpusPosition | null = name === startAt ? positionOf(resume) : CORPUS_START;
      const targetScope = { ...scope, options: { ...scope.options, include: target.include } };
      while (position !== null) {
        throwIfAborted(signal);
        const from: CorpusPosition = position;
        // After a corpus's last page the checkpoint names where the walk goes next: "this
        // corpus, no position" would mean "this corpus from its start" on resume.
        const following = targets[index + 1];
        const resumeFrom = (next: CorpusPosition | null): FullSyncResume =>
          next
            ? resumeAt(name, next)
            : following
              ? { phase: 'files', corpus: following.name, pageToken: null }
              : { phase: 'catch_up', corpus: null, pageToken: startPageToken };
        position = await withSlot(deps, scope, signal, async () => {
          const step = await readCorpusPage(deps.drive, corpus, from);
          let next: CorpusPosition | null = from;
          // Each chunk is durable before the next is read: its checkpoint names the position
          // inside the page, so a crash repeats at most one chunk.
          for (const chunk of pageChunks(from, step, deps.chunkItems ?? null)) {
            throwIfAborted(signal);
            const wanted = chunk.items.filter((file) => belongsTo(name, file));
            const records = await recordsForFiles(deps, targetScope, wanted, signal);
            await deps.publisher.publish(records, scope.correlationId);
            counts = addCounts(counts, records);
            unconfirmed = addListed(unconfirmed, wanted, scope.startedAt);
            next = chunk.next;
            resume = resumeFrom(next);
            report(resume);
          }
          return next;
        });
      }
    }
    if (resume.phase === 'files') {
      // Nothing was in scope to walk (or the resumed corpus is gone): straight to the catch-up.
      resume = { phase: 'catch_up', corpus: null, pageToken: startPageToken };
      report(resume);
    }
  }

  const catchUpFrom = resume.pageToken ?? startPageToken;
  return runChangeLoop(deps, scope, catchUpFrom, counts, unconfirmed, signal, (progress) =>
    onProgress({
      startPageToken,
      resume: { phase: 'catch_up', corpus: null, pageToken: progress.cursor },
      counts: progress.counts,
      unconfirmed: progress.unconfirmed,
    }),
  );
}

export function runIncrementalSync(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  cursor: string,
  counts: SyncCounts,
  onProgress: (progress: IncrementalProgress) => void,
  signal: AbortSignal,
  unconfirmed: readonly string[] = [],
): Promise<SyncOutcome> {
  return runChangeLoop(deps, scope, cursor, counts, unconfirmed, signal, onProgress);
}

async function runChangeLoop(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  cursor: string,
  initialCounts: SyncCounts,
  initialUnconfirmed: readonly string[],
  signal: AbortSignal,
  onProgress: (progress: IncrementalProgress) => void,
): Promise<SyncOutcome> {
  let counts = { ...initialCounts };
  let unconfirmed = [...initialUnconfirmed];
  let pageToken = cursor;
  // Shared drives lost in this run: their files' removals are covered by the drive's cascade.
  const lostDriveIds = new Set<string>();
  for (;;) {
    throwIfAborted(signal);
    const page = await withSlot(deps, scope, signal, async () => {
      const changes = await deps.drive.listChanges(pageToken);
      let pageCounts = counts;
      // Published as they are built, a chunk at a time: a page's records (its content, the
      // subtrees and shared drives it brings) are never all held at once. The cursor still
      // moves per page, so a crash repeats the page.
      const emit: EmitRecords = async (records) => {
        if (records.length === 0) return;
        await deps.publisher.publish(records, scope.correlationId);
        pageCounts = addCounts(pageCounts, records);
      };
      const { listed } = await publishChanges(deps, scope, changes.changes, lostDriveIds, signal, emit);
      return { counts: pageCounts, changes, listed };
    });
    counts = page.counts;
    unconfirmed = settle(
      unconfirmed,
      page.changes.changes.flatMap((change) => (change.fileId ? [change.fileId] : [])),
    );
    const before = new Set(unconfirmed);
    unconfirmed = addListed(unconfirmed, page.listed, scope.startedAt);
    const listedNew = unconfirmed.some((id) => !before.has(id));
    // newStartPageToken comes only on the last page (DRIVE_API §4); it is stored only now,
    // after every change of the window was published.
    const next = page.changes.nextPageToken ?? page.changes.newStartPageToken;
    if (next === null)
      throw new Error('changes.list answered with neither nextPageToken nor newStartPageToken');
    onProgress({ cursor: next, counts, unconfirmed: forCheckpoint(unconfirmed) });
    pageToken = next;
    // Items this page's listings brought may have been created after the page was read:
    // one more read covers their creation, so the log speaks of them or swallowed them.
    if (page.changes.nextPageToken !== null || listedNew) continue;
    counts = await confirmListed(deps, scope, unconfirmed, counts, signal);
    return { cursor: next, counts };
  }
}

/**
 * The listed items the change log never spoke of, read once: a 404 is a removal the log
 * swallowed (created and removed between two reads), and gets its delete. Its kind is not
 * known any more: a `file` delete ends a folder too (one namespace, CONTRACT.md).
 */
async function confirmListed(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  unconfirmed: readonly string[],
  counts: SyncCounts,
  signal: AbortSignal,
): Promise<SyncCounts> {
  if (unconfirmed.length === 0) return counts;
  const records = await withSlot(deps, scope, signal, async () => {
    const gone = await mapWithConcurrency(unconfirmed, deps.extrasConcurrency, async (id) => {
      try {
        await deps.drive.getFile(id);
        return [];
      } catch (error) {
        if (failureOf(error).classification !== 'not_found') throw error;
        return deps.records.removed('file', id);
      }
    });
    const deletes = gone.flat();
    await deps.publisher.publish(deletes, scope.correlationId);
    return deletes;
  });
  return addCounts(counts, records);
}

async function recordsForFiles(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  files: readonly DriveFile[],
  signal: AbortSignal,
): Promise<OutboundRecord[]> {
  const live = files.filter((file) => !file.trashed);
  const extras = await readPageExtras(deps, scope, live, signal);
  const perFile = await mapWithConcurrency(files, deps.extrasConcurrency, async (file) => {
    if (file.trashed) return deps.records.file(file, {});
    const records = deps.records.file(file, extras.byFile.get(file.id) ?? {});
    return withContent(deps, scope, file, records, extras.givenUp, signal);
  });
  await settleGivenUp(deps, extras.givenUp, itemsWithCalls(deps, scope, live));
  return perFile.flat();
}

/** Publishes records built from a page, in the order given; resolves once acknowledged. */
type EmitRecords = (records: readonly OutboundRecord[]) => Promise<void>;

/** `items` in slices of at most `size` (absent or null: one slice). */
function slices<T>(items: readonly T[], size: number | null | undefined): T[][] {
  if (!size || items.length <= size) return [items.slice()];
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/** File records of `files`, built and emitted `chunkItems` files at a time. */
async function emitFiles(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  files: readonly DriveFile[],
  signal: AbortSignal,
  emit: EmitRecords,
): Promise<void> {
  for (const chunk of slices(files, deps.chunkItems)) {
    throwIfAborted(signal);
    await emit(await recordsForFiles(deps, scope, chunk, signal));
  }
}

async function publishChanges(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  changes: readonly DriveChange[],
  lostDriveIds: Set<string>,
  signal: AbortSignal,
  emit: EmitRecords,
): Promise<{ listed: DriveFile[] }> {
  const everyItem = latestChangePerItem(changes);
  const inScope = everyItem.filter((change) => changeInScope(scope, change));
  trackLostDrives(lostDriveIds, inScope);
  const latest = inScope.filter((change) => !endedByDriveCascade(change, lostDriveIds));
  // An item now in a drive out of scope (moved there, or the scope narrowed) may be live
  // downstream: it gets a delete. Deleting what the consumer never had is harmless.
  await emit(
    everyItem.flatMap((change) =>
      change.changeType !== 'drive' && change.file && !changeInScope(scope, change)
        ? deps.records.removed(change.file.mimeType === FOLDER ? 'folder' : 'file', change.file.id)
        : [],
    ),
  );
  const liveFileOf = (change: DriveChange): DriveFile | null =>
    change.changeType !== 'drive' && !change.removed && change.file && !change.file.trashed
      ? change.file
      : null;
  for (const chunk of slices(latest, deps.chunkItems)) {
    throwIfAborted(signal);
    const live = chunk.flatMap((change) => liveFileOf(change) ?? []);
    const extras = await readPageExtras(deps, scope, live, signal);
    const perChange = await mapWithConcurrency(chunk, deps.extrasConcurrency, async (change) => {
      const file = liveFileOf(change);
      if (!file) return deps.records.change(change, {});
      const records = deps.records.change(change, extras.byFile.get(file.id) ?? {});
      return withContent(deps, scope, file, records, extras.givenUp, signal);
    });
    await settleGivenUp(deps, extras.givenUp, itemsWithCalls(deps, scope, live));
    await emit(perChange.flat());
  }
  const below = await publishBelowFolders(deps, scope, latest, signal, emit);
  const joined = await publishJoinedDrives(deps, scope, latest, signal, emit);
  return { listed: [...below, ...joined] };
}

/**
 * The items of each shared drive a change page shows the user (again) as a member of: a
 * join brings the whole drive into sight, yet the change log names the drive alone. The
 * change does not tell a join from a rename or a new setting, so any drive change in scope
 * walks its drive (by keyset, like a full sync's corpus); drive changes are rare.
 */
async function publishJoinedDrives(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  latest: readonly DriveChange[],
  signal: AbortSignal,
  emit: EmitRecords,
): Promise<DriveFile[]> {
  if (!wantsSharedDrives(scope)) return [];
  const driveIds = latest.flatMap((change) =>
    change.changeType === 'drive' && !change.removed && change.driveId && driveInScope(scope, change.driveId)
      ? [change.driveId]
      : [],
  );
  const listed: DriveFile[] = [];
  for (const driveId of driveIds) {
    let position: CorpusPosition | null = CORPUS_START;
    while (position !== null) {
      throwIfAborted(signal);
      const step = await readCorpusPage(deps.drive, { kind: 'drive', driveId }, position);
      listed.push(...step.fresh);
      await emitFiles(deps, scope, step.fresh, signal, emit);
      position = step.next;
    }
  }
  return listed;
}

/**
 * The items below the folders a change page names, read again (subtree-refresh.ts): new
 * inherited permissions, trashed or restored with their folder, moved in or out of scope.
 * Read in full, as a walk reads them: a restored or moved-in item is new downstream, and the
 * change gives no earlier state to tell those from a share.
 */
async function publishBelowFolders(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  latest: readonly DriveChange[],
  signal: AbortSignal,
  emit: EmitRecords,
): Promise<DriveFile[]> {
  const folders = foldersToRefresh(latest);
  if (folders.length === 0) return [];
  const named = new Set(latest.flatMap((change) => (change.fileId ? [change.fileId] : [])));
  const below = (await listSubtrees(deps.drive, folders, signal)).filter((file) => !named.has(file.id));
  await emit(
    below
      .filter((file) => !driveInScope(scope, file.driveId))
      .flatMap((file) => deps.records.removed(file.mimeType === FOLDER ? 'folder' : 'file', file.id)),
  );
  const inScope = below.filter((file) => driveInScope(scope, file.driveId));
  await emitFiles(deps, scope, inScope, signal, emit);
  return inScope;
}

/**
 * The file's content into its upsert, when asked for. Content Drive cannot give (too large,
 * not downloadable, an export over 10 MB) is reported and the record goes without it; a
 * retryable failure is read again alone like an extra (item-isolation.ts) and, past its
 * attempts, given up on with the page's other items; a failed S3 upload rejects.
 */
async function withContent(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  file: DriveFile,
  records: OutboundRecord[],
  givenUp: GivenUpExtra[],
  signal: AbortSignal,
): Promise<OutboundRecord[]> {
  if (!deps.content || !scope.options.include.includes('content')) return records;
  const content = deps.content;
  const index = records.findIndex(
    (r) => r.operation === 'upsert' && r.resource_id === file.id && r.resource_type !== 'drive',
  );
  const record = records[index];
  if (record === undefined) return records;
  let attempts = 1;
  let outcome = await content.attach(file, record);
  while (!outcome.ok) {
    const decision = decide(deps, outcome.error, attempts);
    if (decision.kind === 'fail_page') throw outcome.error;
    if (decision.kind === 'report') {
      givenUp.push(givenUpOf(deps, file.id, 'content', outcome.error, attempts));
      return records;
    }
    await isolationOf(deps).sleep(decision.delayMs, signal);
    throwIfAborted(signal);
    outcome = await content.attach(file, record);
    attempts++;
  }
  const attached = outcome.record;
  return records.map((r, i) => (i === index ? attached : r));
}

/**
 * The same item can appear several times in one window (DRIVE_API §10.3); the file in a
 * change is its current state, so the last entry per item says everything.
 */
export function latestChangePerItem(changes: readonly DriveChange[]): DriveChange[] {
  const byItem = new Map<string, DriveChange>();
  for (const change of changes) {
    const key = change.changeType === 'drive' ? `drive:${change.driveId}` : `file:${change.fileId}`;
    byItem.delete(key);
    byItem.set(key, change);
  }
  return [...byItem.values()];
}

/** Which extras a live file needs read, per `options.include` (the same for both paths). */
export function extrasPlanOf(
  file: DriveFile,
  include: readonly string[],
): { readonly inlinePermissions: FileExtras['permissions'] | null; readonly read: readonly ExtraKind[] } {
  const isFolder = file.mimeType === FOLDER;
  // Drive fills `permissions` inline only for My Drive items the caller may share (DRIVE_API §3).
  const inlinePermissions =
    include.includes('permissions') && file.permissions && !file.driveId ? file.permissions : null;
  const read: ExtraKind[] = [];
  if (include.includes('permissions') && inlinePermissions === null) read.push('permissions');
  if (include.includes('revisions') && !isFolder && file.capabilities?.canReadRevisions !== false)
    read.push('revisions');
  if (include.includes('comments') && !isFolder) read.push('comments');
  return { inlinePermissions, read };
}

/** A page's extras as batch parts: one per file and extra, in file order (`extrasPlanOf`). */
export function extraRequestsOf(files: readonly DriveFile[], include: readonly string[]): ExtraRequest[] {
  return files.flatMap((file) =>
    extrasPlanOf(file, include).read.map((extra) => ({ fileId: file.id, extra })),
  );
}

/** An item's extra (or content) given up on after its attempts: reported unless the page fails. */
export interface GivenUpExtra extends GivenUpItem {
  readonly extra: ExtraKind | 'content';
  readonly error: unknown;
  readonly attempts: number;
}

export interface PageExtras {
  readonly byFile: Map<string, FileExtras>;
  /** Filled by the extras' reads, then by the content's, in the order they gave up. */
  readonly givenUp: GivenUpExtra[];
}

/**
 * Every live file's extras of a page: first in batch requests when batching is on (one call
 * each otherwise), then each failed read again alone with backoff until it succeeds, is
 * given up on (left out of its file's extras, in `givenUp`), or fails the page (a rate
 * limit past its attempts). Nothing is reported here: `settleGivenUp` decides once the
 * whole page was read.
 */
export async function readPageExtras(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  files: readonly DriveFile[],
  signal: AbortSignal,
): Promise<PageExtras> {
  const include = scope.options.include;
  const requests = extraRequestsOf(files, include);
  const first: ExtraOutcome[] = deps.drive.batchExtras
    ? requests.length > 0
      ? await deps.drive.batchExtras(requests)
      : []
    : await mapWithConcurrency(requests, deps.extrasConcurrency * 3, (request) =>
        readExtraAlone(deps.drive, request),
      );
  const byFile = new Map<string, FileExtras>();
  for (const file of files) {
    const { inlinePermissions } = extrasPlanOf(file, include);
    byFile.set(file.id, inlinePermissions ? { permissions: inlinePermissions } : {});
  }
  const givenUp: GivenUpExtra[] = [];
  const settled = await mapWithConcurrency(
    requests.map((request, index) => ({ request, outcome: first[index] })),
    deps.extrasConcurrency * 3,
    async ({ request, outcome }) => {
      let current: ExtraOutcome = outcome ?? { ok: false, error: new Error('no answer for a batch part') };
      let attempts = 1;
      while (!current.ok) {
        const decision = decide(deps, current.error, attempts);
        if (decision.kind === 'fail_page') throw current.error;
        if (decision.kind === 'report')
          return {
            request,
            outcome: current,
            givenUp: givenUpOf(deps, request.fileId, request.extra, current.error, attempts),
          };
        await isolationOf(deps).sleep(decision.delayMs, signal);
        throwIfAborted(signal);
        current = await readExtraAlone(deps.drive, request);
        attempts++;
      }
      return { request, outcome: current, givenUp: null };
    },
  );
  for (const { request, outcome, givenUp: gaveUp } of settled) {
    if (gaveUp) givenUp.push(gaveUp);
    if (outcome.ok) byFile.set(request.fileId, { ...byFile.get(request.fileId), ...outcome.extras });
  }
  return { byFile, givenUp };
}

/**
 * The page's given-up items: one outage (most items failing alike) fails the page with
 * nothing reported, as a page failed before; otherwise each is reported against its item
 * (in the order they were read) and the page goes on without those parts.
 */
async function settleGivenUp(
  deps: SyncRunDeps,
  givenUp: readonly GivenUpExtra[],
  itemsWithCallsCount: number,
): Promise<void> {
  const verdict = pageVerdict(givenUp, itemsWithCallsCount);
  if (verdict.kind === 'outage') {
    const first = givenUp.find((g) => g.classification === verdict.classification && g.code === verdict.code);
    throw first?.error ?? new Error('outage');
  }
  for (const item of givenUp) await deps.onExtraFailed(item.fileId, item.extra, item.error, item.attempts);
}

/** Live items of a page that needed any call of their own (extras or content). */
function itemsWithCalls(deps: SyncRunDeps, scope: SyncRunScope, live: readonly DriveFile[]): number {
  const content = Boolean(deps.content) && scope.options.include.includes('content');
  return live.filter((file) => content || extrasPlanOf(file, scope.options.include).read.length > 0).length;
}

async function readExtraAlone(drive: DriveReader, request: ExtraRequest): Promise<ExtraOutcome> {
  try {
    switch (request.extra) {
      case 'permissions':
        return { ok: true, extras: { permissions: await drive.allPermissions(request.fileId) } };
      case 'revisions':
        return { ok: true, extras: { revisions: await drive.allRevisions(request.fileId) } };
      case 'comments':
        return { ok: true, extras: { comments: await drive.allComments(request.fileId) } };
    }
  } catch (error) {
    return { ok: false, error };
  }
}

function isolationOf(deps: SyncRunDeps): Required<ItemIsolation> {
  return {
    maxAttempts: deps.itemIsolation?.maxAttempts ?? DEFAULT_ITEM_MAX_ATTEMPTS,
    random: deps.itemIsolation?.random ?? Math.random,
    sleep: deps.itemIsolation?.sleep ?? pause,
  };
}

function decide(deps: SyncRunDeps, error: unknown, attempts: number) {
  const isolation = isolationOf(deps);
  const failure = failureOf(error);
  return itemRetryDecision(
    {
      retryable: deps.isRetryable(error),
      classification: failure.classification,
      retryAfterMs: failure.retryAfterMs,
    },
    attempts,
    isolation,
    isolation.random,
  );
}

function givenUpOf(
  deps: SyncRunDeps,
  fileId: string,
  extra: ExtraKind | 'content',
  error: unknown,
  attempts: number,
): GivenUpExtra {
  const failure = failureOf(error);
  return {
    fileId,
    extra,
    error,
    attempts,
    retryable: deps.isRetryable(error),
    classification: failure.classification,
    code: failure.code,
  };
}

function wantsSharedDrives(scope: SyncRunScope): boolean {
  return scope.includeSharedDrives || scope.options.driveIds !== null;
}

function driveInScope(scope: SyncRunScope, driveId: string | null | undefined): boolean {
  return driveInOptions(scope.options, scope.includeSharedDrives, driveId);
}

function driveWasInScope(scope: SyncRunScope, driveId: string): boolean {
  return scope.scopeFrom ? driveInOptions(scope.scopeFrom, scope.includeSharedDrives, driveId) : true;
}

function changeInScope(scope: SyncRunScope, change: DriveChange): boolean {
  if (change.changeType === 'drive') return driveInScope(scope, change.driveId);
  // A removal carries no file: it may have been anywhere, and deleting what the consumer
  // never had is harmless, so removals always pass.
  if (change.removed || !change.file) return true;
  return driveInScope(scope, change.file.driveId);
}

async function memberDriveIds(deps: SyncRunDeps, signal: AbortSignal): Promise<string[]> {
  const driveIds: string[] = [];
  let pageToken: string | null = null;
  do {
    throwIfAborted(signal);
    const page = await deps.drive.listDrives(pageToken);
    for (const drive of page.items) driveIds.push(drive.id);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return driveIds;
}

interface WalkTarget {
  readonly name: string;
  readonly corpus: DriveCorpus;
  /** The kinds of extras read for its items. */
  readonly include: SyncOptions['include'];
}

/** The corpora a full sync walks, or a backfill: only what the scope gained. */
function walkTargets(
  scope: SyncRunScope,
  plan: ScopeChangePlan | null,
  memberDrives: string[],
): WalkTarget[] {
  const corpusOfName = (name: string): DriveCorpus =>
    name === 'user' ? { kind: 'user' } : { kind: 'drive', driveId: name };
  const targets: WalkTarget[] =
    scope.backfill && plan
      ? [
          ...plan.walk.map((name) => ({ name, corpus: corpusOfName(name), include: scope.options.include })),
          ...plan.extras.map((name) => ({ name, corpus: corpusOfName(name), include: plan.newKinds })),
        ]
      : corporaInOptions(scope.options, scope.includeSharedDrives, memberDrives).map((name) => ({
          name,
          corpus: corpusOfName(name),
          include: scope.options.include,
        }));
  return targets.sort((a, b) => compareCorpus(a.name, b.name));
}

function positionOf(resume: FullSyncResume): CorpusPosition {
  return {
    pageToken: resume.pageToken,
    after: resume.after ?? null,
    walk: resume.walk ?? 'keyset',
    narrow: resume.narrow ?? false,
  };
}

function resumeAt(corpus: string, position: CorpusPosition): FullSyncResume {
  return {
    phase: 'files',
    corpus,
    pageToken: position.pageToken,
    after: position.after ? { since: position.after.since, seen: [...position.after.seen] } : null,
    ...(position.walk === 'pages' ? { walk: 'pages' as const } : {}),
    ...(position.narrow ? { narrow: true } : {}),
  };
}

/**
 * Deletes for what left the scope, so nothing out of scope stays live downstream. A shared
 * drive is one `drive` delete with `cascade` (every resource of it ends, CONTRACT.md): no
 * call. My Drive's items are listed ids-only (⌈items/1000⌉ calls) and each gets a delete,
 * but those still in scope through a drive kept.
 */
async function sendLeavingDeletes(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  plan: ScopeChangePlan,
  initial: SyncCounts,
  signal: AbortSignal,
): Promise<SyncCounts> {
  let counts = initial;
  for (const name of plan.leaving) {
    if (name !== 'user') {
      const records = deps.records.removed('drive', name);
      await deps.publisher.publish(records, scope.correlationId);
      counts = addCounts(counts, records);
      continue;
    }
    const corpus: DriveCorpus = { kind: 'user' };
    let position: CorpusPosition | null = CORPUS_START;
    while (position !== null) {
      throwIfAborted(signal);
      const from: CorpusPosition = position;
      const page = await withSlot(deps, scope, signal, async () => {
        const step = await readCorpusPage(deps.drive, corpus, from, { idsOnly: true });
        const records = step.fresh
          .filter((file) => !driveInScope(scope, file.driveId))
          .flatMap((file) => deps.records.removed(file.mimeType === FOLDER ? 'folder' : 'file', file.id));
        await deps.publisher.publish(records, scope.correlationId);
        return { records, next: step.next };
      });
      counts = addCounts(counts, page.records);
      position = page.next;
    }
  }
  return counts;
}

/** `user` first, then shared drives by id: the fixed order the resume point relies on. */
function compareCorpus(a: string, b: string): number {
  if (a === b) return 0;
  if (a === 'user') return -1;
  if (b === 'user') return 1;
  return a < b ? -1 : 1;
}

function addCounts(counts: SyncCounts, records: readonly OutboundRecord[]): SyncCounts {
  const next = { ...counts };
  for (const record of records) {
    const key = record.operation === 'delete' ? `${record.resource_type}_deleted` : record.resource_type;
    next[key] = (next[key] ?? 0) + 1;
  }
  return next;
}

function withSlot<T>(
  deps: SyncRunDeps,
  scope: SyncRunScope,
  signal: AbortSignal,
  work: () => Promise<T>,
): Promise<T> {
  return deps.slots.withSlot(scope.connectionId, work, signal);
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('sync stopped');
}

async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
