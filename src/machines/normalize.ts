import type {
  DriveChange,
  DriveComment,
  DriveFile,
  DrivePermission,
  DriveReply,
  DriveRevision,
  DriveUser,
  SharedDrive,
} from '../contract/drive-resources.js';
import type { OutboundRecord } from '../contract/records.js';
import { buildRecord, deleteRecord, type RecordContext } from './records.js';

/**
 * The pure normalizer: Drive resources → CONTRACT.md records. `data` is snake_case, times are
 * ISO-8601 UTC, sizes are numbers, absent values are null (never missing keys, so every record
 * of a type has the same shape). Per-file children get composite resource ids, since Drive's
 * permission, revision, comment and reply ids are unique only within their file.
 *
 * Message ids follow each record's body (records.ts), so nothing here may put into `data`
 * what differs between two reports of one state: a removal's change time, for instance.
 */

export const FOLDER_MIME_TYPE = 'application/vnd.google-apps.folder';

/** What the caller fetched for a file, per `options.include`; absent means not asked for. */
export interface FileExtras {
  readonly permissions?: readonly DrivePermission[] | undefined;
  readonly revisions?: readonly DriveRevision[] | undefined;
  /** Comments with their embedded replies. */
  readonly comments?: readonly DriveComment[] | undefined;
}

export function fileTypeOf(file: Pick<DriveFile, 'mimeType'>): 'file' | 'folder' {
  return file.mimeType === FOLDER_MIME_TYPE ? 'folder' : 'file';
}

export const permissionResourceId = (fileId: string, permissionId: string) => `${fileId}:${permissionId}`;
export const revisionResourceId = (fileId: string, revisionId: string) => `${fileId}:${revisionId}`;
export const commentResourceId = (fileId: string, commentId: string) => `${fileId}:${commentId}`;
export const replyResourceId = (fileId: string, commentId: string, replyId: string) =>
  `${fileId}:${commentId}:${replyId}`;

/**
 * The file's permissions when Drive filled them inline and completely (My Drive items the
 * user may share), so `permissions.list` can be skipped; null when the list must be fetched
 * (shared drives never fill them; DRIVE_API.md §1.5, §3).
 */
export function inlinePermissionsOf(file: DriveFile): readonly DrivePermission[] | null {
  if (file.driveId !== undefined || file.permissions === undefined) return null;
  if (file.permissionIds !== undefined) {
    const inline = new Set(file.permissions.map((p) => p.id));
    if (file.permissionIds.some((id) => !inline.has(id))) return null;
  }
  return file.permissions;
}

function iso(value: string | undefined | null): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** Drive's int64 fields are JSON strings; the contract wants numbers. */
function int64(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function userData(u: DriveUser | undefined) {
  return u ? { display_name: u.displayName ?? null, email: u.emailAddress ?? null } : null;
}

/**
 * `permission_ids` only when the file's permissions were read: a consumer drops the
 * permissions a file record does not list, so ids the worker could not read (or was not
 * asked to) are left out, never sent as `[]` (CONTRACT.md).
 */
export function fileData(file: DriveFile, permissions?: readonly DrivePermission[]) {
  return {
    id: file.id,
    type: fileTypeOf(file),
    name: file.name,
    mime_type: file.mimeType,
    size_bytes: int64(file.size),
    created_at: iso(file.createdTime),
    modified_at: iso(file.modifiedTime),
    parents: [...(file.parents ?? [])],
    drive_id: file.driveId ?? null,
    trashed: file.trashed ?? false,
    explicitly_trashed: file.explicitlyTrashed ?? false,
    starred: file.starred ?? false,
    // Not populated for shared-drive items: null there, not false.
    shared: file.shared ?? null,
    owned_by_me: file.ownedByMe ?? null,
    owners: (file.owners ?? []).flatMap((o) => (o.emailAddress ? [o.emailAddress] : [])),
    description: file.description ?? null,
    md5_checksum: file.md5Checksum ?? null,
    head_revision_id: file.headRevisionId ?? null,
    version: int64(file.version),
    web_view_link: file.webViewLink ?? null,
    last_modifying_user: userData(file.lastModifyingUser),
    shortcut_target_id: file.shortcutDetails?.targetId ?? null,
    shortcut_target_mime_type: file.shortcutDetails?.targetMimeType ?? null,
    ...(permissions ? { permission_ids: permissions.map((p) => p.id).sort() } : {}),
  };
}

export function permissionData(fileId: string, p: DrivePermission) {
  const inheritedFrom = p.permissionDetails?.find((d) => d.inherited === true)?.inheritedFrom;
  return {
    id: p.id,
    file_id: fileId,
    type: p.type,
    role: p.role,
    email_address: p.emailAddress ?? null,
    domain: p.domain ?? null,
    display_name: p.displayName ?? null,
    allow_file_discovery: p.allowFileDiscovery ?? null,
    expiration_time: iso(p.expirationTime),
    deleted: p.deleted ?? false,
    inherited: p.permissionDetails ? p.permissionDetails.some((d) => d.inherited === true) : null,
    inherited_from: inheritedFrom ?? null,
  };
}

export function revisionData(fileId: string, r: DriveRevision) {
  return {
    id: r.id,
    file_id: fileId,
    mime_type: r.mimeType ?? null,
    modified_at: iso(r.modifiedTime),
    keep_forever: r.keepForever ?? null,
    md5_checksum: r.md5Checksum ?? null,
    size_bytes: int64(r.size),
    original_filename: r.originalFilename ?? null,
    last_modifying_user: userData(r.lastModifyingUser),
  };
}

export function commentData(fileId: string, c: DriveComment) {
  return {
    id: c.id,
    file_id: fileId,
    author: c.author?.displayName ?? null,
    content: c.content ?? null,
    created_at: iso(c.createdTime),
    modified_at: iso(c.modifiedTime),
    resolved: c.resolved ?? false,
    deleted: c.deleted ?? false,
    quoted_content: c.quotedFileContent?.value ?? null,
    reply_ids: (c.replies ?? []).map((r) => r.id),
  };
}

export function replyData(fileId: string, commentId: string, r: DriveReply) {
  return {
    id: r.id,
    file_id: fileId,
    comment_id: commentId,
    author: r.author?.displayName ?? null,
    content: r.content ?? null,
    created_at: iso(r.createdTime),
    modified_at: iso(r.modifiedTime),
    deleted: r.deleted ?? false,
    action: r.action ?? null,
  };
}

export function driveData(d: SharedDrive) {
  return {
    id: d.id,
    type: 'drive' as const,
    name: d.name,
    created_at: iso(d.createdTime),
    hidden: d.hidden ?? false,
    color_rgb: d.colorRgb ?? null,
  };
}

/** A live file's or folder's upsert; `permissions`, when fetched, are the truth for `permission_ids`. */
export function fileRecord(
  file: DriveFile,
  ctx: RecordContext,
  permissions?: readonly DrivePermission[],
): OutboundRecord {
  const data = fileData(file, permissions);
  return buildRecord(ctx, data.type, file.id, 'upsert', data);
}

export function permissionRecord(fileId: string, p: DrivePermission, ctx: RecordContext): OutboundRecord {
  const data = permissionData(fileId, p);
  return buildRecord(ctx, 'permission', permissionResourceId(fileId, p.id), 'upsert', data);
}

export function revisionRecord(fileId: string, r: DriveRevision, ctx: RecordContext): OutboundRecord {
  const data = revisionData(fileId, r);
  return buildRecord(ctx, 'revision', revisionResourceId(fileId, r.id), 'upsert', data);
}

export function commentRecord(fileId: string, c: DriveComment, ctx: RecordContext): OutboundRecord {
  const data = commentData(fileId, c);
  return buildRecord(ctx, 'comment', commentResourceId(fileId, c.id), 'upsert', data);
}

export function replyRecord(
  fileId: string,
  commentId: string,
  r: DriveReply,
  ctx: RecordContext,
): OutboundRecord {
  const data = replyData(fileId, commentId, r);
  return buildRecord(ctx, 'reply', replyResourceId(fileId, commentId, r.id), 'upsert', data);
}

export function driveRecord(d: SharedDrive, ctx: RecordContext): OutboundRecord {
  const data = driveData(d);
  return buildRecord(ctx, 'drive', d.id, 'upsert', data);
}

/** A live file and what was fetched for it: the file first, then its children, replies after their comment. */
export function recordsForFile(file: DriveFile, extras: FileExtras, ctx: RecordContext): OutboundRecord[] {
  const records = [fileRecord(file, ctx, extras.permissions)];
  for (const p of extras.permissions ?? []) records.push(permissionRecord(file.id, p, ctx));
  for (const r of extras.revisions ?? []) records.push(revisionRecord(file.id, r, ctx));
  for (const c of extras.comments ?? []) {
    records.push(commentRecord(file.id, c, ctx));
    for (const reply of c.replies ?? []) records.push(replyRecord(file.id, c.id, reply, ctx));
  }
  return records;
}

/**
 * A trashed file is a delete. It carries the version it was trashed at, so trashing it again
 * after a restore is a new message, not a duplicate of the first delete.
 */
function trashedFileDelete(file: DriveFile, ctx: RecordContext): OutboundRecord {
  return deleteRecord(ctx, fileTypeOf(file), file.id, {
    drive_id: file.driveId ?? null,
    version: int64(file.version),
  });
}

/** A file found by a full sync's listing: trashed files are deletes there too. */
export function recordsForListedFile(
  file: DriveFile,
  extras: FileExtras,
  ctx: RecordContext,
): OutboundRecord[] {
  if (file.trashed) return [trashedFileDelete(file, ctx)];
  return recordsForFile(file, extras, ctx);
}

export function recordsForDrive(drive: SharedDrive, ctx: RecordContext): OutboundRecord[] {
  return [driveRecord(drive, ctx)];
}

/**
 * One entry of the change log. Removed files (deleted, or access lost) and trashed ones
 * become deletes; everything else — moves and renames included — is an upsert of the
 * current state with the extras the caller refetched. A removed drive (deleted, or the user
 * left it) is a drive delete with `cascade: true`: the connection lost everything in it.
 * An entry naming no id yields nothing.
 */
export function recordsForChange(
  change: DriveChange,
  extras: FileExtras,
  ctx: RecordContext,
): OutboundRecord[] {
  if (change.changeType === 'drive') {
    const driveId = change.driveId ?? change.drive?.id;
    if (!driveId) return [];
    if (change.removed || !change.drive) return [deleteRecord(ctx, 'drive', driveId, { cascade: true })];
    return recordsForDrive(change.drive, ctx);
  }
  const fileId = change.fileId ?? change.file?.id;
  if (!fileId) return [];
  if (change.removed || !change.file) {
    // A removal seldom carries the file (only with includeCorpusRemovals), so its type is
    // usually unknown: `file` then; the key's namespace is `file` for folders too.
    return [deleteRecord(ctx, change.file ? fileTypeOf(change.file) : 'file', fileId)];
  }
  if (change.file.trashed) return [trashedFileDelete(change.file, ctx)];
  return recordsForFile(change.file, extras, ctx);
}

/**
 * Keeps `lost` — the shared drives a run of the change log has lost so far — up to date with
 * the next entries: a drive removal adds its drive, an entry showing the drive again (the
 * user re-joined) takes it back out.
 */
export function trackLostDrives(lost: Set<string>, changes: readonly DriveChange[]): void {
  for (const change of changes) {
    if (change.changeType !== 'drive' || !change.driveId) continue;
    if (change.removed || !change.drive) lost.add(change.driveId);
    else lost.delete(change.driveId);
  }
}

/**
 * A file removal the change log lists for a shared drive the connection lost: the drive's
 * cascading delete already ends it downstream, so it gets no delete record of its own.
 */
export function endedByDriveCascade(change: DriveChange, lostDriveIds: ReadonlySet<string>): boolean {
  return (
    change.changeType === 'file' &&
    change.removed === true &&
    change.driveId !== undefined &&
    lostDriveIds.has(change.driveId)
  );
}
