import { z } from 'zod';
import { includeKinds } from './inbound.js';
import { errorClassifications, syncModes } from './records.js';

/**
 * The value written to the state topic for one connection (CONTRACT.md, "The worker's
 * checkpoint topic"). It is our own document, versioned so a newer worker can read an
 * older one; it holds the domain state a connection needs to resume — never an XState
 * snapshot (whose shape follows the machine) and never a token.
 */
export const CHECKPOINT_VERSION = 1;

const isoTime = z.iso.datetime();

/**
 * Where a full sync stands: the phase, the corpus being walked and the page within it.
 * Corpora are walked in a fixed order — `user` (My Drive and shared-with-me) first, then
 * shared drives by ascending id — and named rather than numbered, so a drive that
 * disappears mid-walk cannot shift the walk past one that still has pages to read.
 */
export const fullSyncResumeSchema = z.object({
  phase: z.enum(['drives', 'files', 'catch_up']),
  /** `user`, or the id of the shared drive being walked; null before the files phase. */
  corpus: z.string().nullable(),
  pageToken: z.string().nullable(),
  /**
   * Files phase, keyset walk (src/machines/keyset-walk.ts): everything of the corpus
   * created before `since` was listed, and `seen` of its second (at most 1,000 of them; a
   * resume lists that second again and skips only those kept). Absent or null: from the
   * corpus's start (a checkpoint of an older worker resumes from its page token alone).
   */
  after: z
    .object({ since: z.string(), seen: z.array(z.string()) })
    .nullable()
    .optional(),
  /** `pages`: Drive ignored the creation order, so this corpus is walked by page tokens. */
  walk: z.enum(['keyset', 'pages']).optional(),
  /** `user` corpus: Drive reported an incomplete search, so it is walked without shared-drive items. */
  narrow: z.boolean().optional(),
});
export type FullSyncResume = z.infer<typeof fullSyncResumeSchema>;

export const syncCountsSchema = z.record(z.string(), z.number().int().min(0));
export type SyncCounts = z.infer<typeof syncCountsSchema>;

/** What a connection synced with (CONTRACT.md `options`, defaults applied). */
export const syncOptionsStateSchema = z.object({
  include: z.array(z.enum(includeKinds)),
  driveIds: z.array(z.string()).nullable(),
});
export type SyncOptionsState = z.infer<typeof syncOptionsStateSchema>;

export const activeSyncSchema = z.object({
  syncId: z.string(),
  mode: z.enum(syncModes),
  startedAt: isoTime,
  /** `message_id` of the inbound message that caused this sync (the records' `correlation-id`). */
  correlationId: z.string().nullable(),
  /** Full sync: the changes token taken before the walk, where the catch-up starts. */
  startPageToken: z.string().nullable(),
  /** Full sync: position of the walk; null for incremental syncs, which resume from `cursor`. */
  resume: fullSyncResumeSchema.nullable(),
  counts: syncCountsSchema,
  /**
   * The options the records reflected before the scope changed. Set on a backfill (walks
   * only what the change added, from the connection's cursor) and on a full sync that
   * follows a change of scope; either one sends deletes for what left the scope.
   */
  scopeFrom: syncOptionsStateSchema.nullable().optional(),
  /** Walk only what `scopeFrom` lacks (new corpora, new kinds of extras), not everything. */
  backfill: z.boolean().optional(),
  /**
   * Items this sync's listings published that the change log has not spoken of yet, each
   * read once after the last change page (src/machines/unconfirmed-items.ts); bounded.
   */
  unconfirmed: z.array(z.string()).optional(),
});
export type ActiveSync = z.infer<typeof activeSyncSchema>;

export const pendingRunSchema = z.object({
  mode: z.enum(syncModes),
  correlationId: z.string().nullable(),
});
export type PendingRun = z.infer<typeof pendingRunSchema>;

export const backoffSchema = z.object({
  attempt: z.number().int().min(1),
  until: isoTime,
  reason: z.string(),
  classification: z.enum(errorClassifications),
});
export type BackoffState = z.infer<typeof backoffSchema>;

export const channelSchema = z.object({
  id: z.string(),
  resourceId: z.string(),
  expiration: isoTime,
  openedAt: isoTime,
});
export type ChannelState = z.infer<typeof channelSchema>;

/** When a failed channel renewal is tried again (the channel itself is then null). */
export const channelRetrySchema = z.object({
  attempt: z.number().int().min(1),
  until: isoTime,
  /** The last attempt was refused for good: it was reported, and retries are hours apart. */
  refused: z.boolean(),
});
export type ChannelRetry = z.infer<typeof channelRetrySchema>;

export const connectionCheckpointSchema = z.object({
  version: z.literal(CHECKPOINT_VERSION),
  connectionId: z.string().min(1),
  customerId: z.string().min(1),
  /** The changes-log page token the next incremental sync starts from; null before the first full sync. */
  cursor: z.string().nullable(),
  options: syncOptionsStateSchema,
  /**
   * The options the records reflect, while a change of scope waits for its backfill (null
   * or absent: none waits). Kept from the first change until the backfill runs.
   */
  scopeFrom: syncOptionsStateSchema.nullable().optional(),
  activeSync: activeSyncSchema.nullable(),
  pending: pendingRunSchema.nullable(),
  backoff: backoffSchema.nullable(),
  channel: channelSchema.nullable(),
  /**
   * Persisted so that an evicted or restarted connection keeps the renewal's pace (a watch
   * refused for good is tried again hours later, not on the next message). Absent: none.
   */
  channelRetry: channelRetrySchema.nullable().optional(),
  parked: z.object({ reason: z.string(), since: isoTime }).nullable(),
  lastSync: z
    .object({ syncId: z.string(), mode: z.enum(syncModes), finishedAt: isoTime, counts: syncCountsSchema })
    .nullable(),
  updatedAt: isoTime,
});
export type ConnectionCheckpoint = z.infer<typeof connectionCheckpointSchema>;
