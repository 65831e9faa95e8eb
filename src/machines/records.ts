import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type {
  DriveChange,
  DriveComment,
  DriveFile,
  DrivePermission,
  DriveReply,
  DriveRevision,
  SharedDrive,
} from '../contract/drive-resources.js';
import {
  type ErrorRecord,
  type MessageSource,
  type OutboundRecord,
  type ResourceType,
  SCHEMA_VERSION,
  type SyncMode,
} from '../contract/records.js';

/**
 * The pure normalizer: Drive resources → CONTRACT.md records. Same input, same output —
 * in particular the same `message_id`, a UUIDv5 of the idempotency key and the resource's
 * version, so a record re-sent after a crash or retry deduplicates downstream.
 */

/** Our namespace for message ids (a fixed random UUID; changing it changes every message id). */
export const MESSAGE_ID_NAMESPACE = '6f1c3a52-8d0e-4b8a-9a57-2f4f0e6b9c11';

const FOLDER = 'application/vnd.google-apps.folder';

export interface RecordContext {
  readonly integrationId: string;
  readonly connectionId: string;
  readonly customerId: string;
  readonly mode: SyncMode;
  readonly syncId: string;
  /** The changes cursor the sync started from (null for the walk of a full sync). */
  readonly cursor: string | null;
  readonly now: Date;
}

export function idempotencyKey(
  ctx: Pick<RecordContext, 'integrationId' | 'connectionId'>,
  type: ResourceType,
  resourceId: string,
) {
  return `${ctx.integrationId}:${ctx.connectionId}:${type}:${resourceId}`;
}

export function messageIdFor(key: string, version: string): string {
  return uuidv5(`${key}#${version}`, MESSAGE_ID_NAMESPACE);
}

function stableVersion(data: unknown): string {
  return `h:${createHash('sha256').update(JSON.stringify(data)).digest('base64url').slice(0, 22)}`;
}

function iso(value: string | undefined | null): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function num(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function record(
  ctx: RecordContext,
  type: ResourceType,
  resourceId: string,
  operation: 'upsert' | 'delete',
  data: Record<string, unknown>,
  version: string,
): OutboundRecord {
  const key = idempotencyKey(ctx, type, resourceId);
  return {
    message_id: messageIdFor(key, `${operation}:${version}`),
    schema_version: SCHEMA_VERSION,
    customer_id: ctx.customerId,
    integration_id: ctx.integrationId,
    integration_connection_id: ctx.connectionId,
    resource_type: type,
    resource_id: resourceId,
    operation,
    idempotency_key: key,
    sync: { mode: ctx.mode, sync_id: ctx.syncId, cursor: ctx.cursor },
    emitted_at: ctx.now.toISOString(),
    data,
    payload: null,
    s3_url: null,
    metadata: {},
  };
}

export function fileTypeOf(file: Pick<DriveFile, 'mimeType'>): 'file' | 'folder' {
  return file.mimeType === FOLDER ? 'folder' : 'file';
}

function user(u: { displayName?: string | undefined; emailAddress?: string | undefined } | undefined) {
  return u ? { display_name: u.displayName ?? null, email: u.emailAddress ?? null } : null;
}

export function fileRecord(
  ctx: RecordContext,
  file: DriveFile,
  permissions?: readonly DrivePermission[],
): OutboundRecord {
  const type = fileTypeOf(file);
  const permissionIds = permissions ? permissions.map((p) => p.id) : (file.permissionIds ?? []);
  const data = {
    id: file.id,
    type,
    name: file.name,
    mime_type: file.mimeType,
    size_bytes: num(file.size),
    created_at: iso(file.createdTime),
    modified_at: iso(file.modifiedTime),
    parents: file.parents ?? [],
    drive_id: file.driveId ?? null,
    trashed: file.trashed ?? false,
    starred: file.starred ?? false,
    shared: file.shared ?? null,
    owned_by_me: file.ownedByMe ?? null,
    description: file.description ?? null,
    md5_checksum: file.md5Checksum ?? null,
    head_revision_id: file.headRevisionId ?? null,
    version: num(file.version),
    web_view_link: file.webViewLink ?? null,
    owners: (file.owners ?? []).map((o) => o.emailAddress ?? o.displayName ?? '').filter(Boolean),
    last_modifying_user: user(file.lastModifyingUser),
    shortcut_target_id: file.shortcutDetails?.targetId ?? null,
    permission_ids: [...permissionIds].sort(),
  };
  return record(ctx, type, file.id, 'upsert', data, file.version ?? stableVersion(data));
}

export function permissionRecord(ctx: RecordContext, fileId: string, p: DrivePermission): OutboundRecord {
  const data = {
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
    inherited: p.permissionDetails?.some((d) => d.inherited === true) ?? null,
  };
  return record(ctx, 'permission', `${fileId}:${p.id}`, 'upsert', data, stableVersion(data));
}

export function revisionRecord(ctx: RecordContext, fileId: string, r: DriveRevision): OutboundRecord {
  const data = {
    id: r.id,
    file_id: fileId,
    mime_type: r.mimeType ?? null,
    modified_at: iso(r.modifiedTime),
    keep_forever: r.keepForever ?? null,
    md5_checksum: r.md5Checksum ?? null,
    size_bytes: num(r.size),
    original_filename: r.originalFilename ?? null,
    last_modifying_user: user(r.lastModifyingUser),
  };
  return record(ctx, 'revision', `${fileId}:${r.id}`, 'upsert', data, stableVersion(data));
}

export function commentRecord(ctx: RecordContext, fileId: string, c: DriveComment): OutboundRecord {
  const data = {
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
  return record(ctx, 'comment', `${fileId}:${c.id}`, 'upsert', data, stableVersion(data));
}

export function replyRecord(
  ctx: RecordContext,
  fileId: string,
  commentId: string,
  r: DriveReply,
): OutboundRecord {
  const data = {
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
  return record(ctx, 'reply', `${fileId}:${commentId}:${r.id}`, 'upsert', data, stableVersion(data));
}

export function driveRecord(ctx: RecordContext, d: SharedDrive): OutboundRecord {
  const data = {
    id: d.id,
    type: 'drive',
    name: d.name,
    created_at: iso(d.createdTime),
    hidden: d.hidden ?? false,
    color_rgb: d.colorRgb ?? null,
  };
  return record(ctx, 'drive', d.id, 'upsert', data, stableVersion(data));
}

/**
 * A delete. The version is the change's time, so the same removal replayed after a crash
 * has the same message id. A removal carries no file (DRIVE_API §4), so its type is unknown:
 * `file` is used, and the resource id — unique within the connection — is what matters.
 */
export function deleteRecord(
  ctx: RecordContext,
  type: ResourceType,
  resourceId: string,
  at: string,
): OutboundRecord {
  return record(ctx, type, resourceId, 'delete', { id: resourceId, type }, `t:${at}`);
}

export interface FileExtrasInput {
  readonly permissions?: readonly DrivePermission[] | undefined;
  readonly revisions?: readonly DriveRevision[] | undefined;
  readonly comments?: readonly DriveComment[] | undefined;
}

/** A live file and what was fetched for it: the file first, then its children. */
export function recordsForFile(
  ctx: RecordContext,
  file: DriveFile,
  extras: FileExtrasInput,
): OutboundRecord[] {
  const records = [fileRecord(ctx, file, extras.permissions)];
  for (const p of extras.permissions ?? []) records.push(permissionRecord(ctx, file.id, p));
  for (const r of extras.revisions ?? []) records.push(revisionRecord(ctx, file.id, r));
  for (const c of extras.comments ?? []) {
    records.push(commentRecord(ctx, file.id, c));
    for (const reply of c.replies ?? []) records.push(replyRecord(ctx, file.id, c.id, reply));
  }
  return records;
}

/** A file found by a full sync's listing: trashed files are deletes there too. */
export function recordsForListedFile(
  ctx: RecordContext,
  file: DriveFile,
  extras: FileExtrasInput,
): OutboundRecord[] {
  if (file.trashed)
    return [deleteRecord(ctx, fileTypeOf(file), file.id, file.modifiedTime ?? file.version ?? 'trashed')];
  return recordsForFile(ctx, file, extras);
}

/**
 * One entry of the change log. Removed (deleted, or access lost) and trashed files become
 * deletes; everything else — moves and renames included — is an upsert of the current state.
 */
export function recordsForChange(
  ctx: RecordContext,
  change: DriveChange,
  extras: FileExtrasInput,
): OutboundRecord[] {
  if (change.changeType === 'drive') {
    const driveId = change.driveId ?? change.drive?.id;
    if (!driveId) return [];
    if (change.removed || !change.drive) return [deleteRecord(ctx, 'drive', driveId, change.time)];
    return [driveRecord(ctx, change.drive)];
  }
  const fileId = change.fileId ?? change.file?.id;
  if (!fileId) return [];
  if (change.removed || !change.file) return [deleteRecord(ctx, 'file', fileId, change.time)];
  if (change.file.trashed) return [deleteRecord(ctx, fileTypeOf(change.file), fileId, change.time)];
  return recordsForFile(ctx, change.file, extras);
}

export interface SyncSummary {
  readonly syncId: string;
  readonly mode: SyncMode;
  readonly cursor: string;
  readonly counts: Readonly<Record<string, number>>;
  readonly startedAt: string;
  readonly finishedAt: string;
}

/** The record that closes every sync, carrying the new cursor for the control plane. */
export function syncCheckpointRecord(ctx: RecordContext, summary: SyncSummary): OutboundRecord {
  const data = {
    id: summary.syncId,
    cursor: summary.cursor,
    counts: summary.counts,
    mode: summary.mode,
    started_at: summary.startedAt,
    finished_at: summary.finishedAt,
  };
  return {
    ...record(ctx, 'sync_checkpoint', summary.syncId, 'upsert', data, summary.cursor),
    sync: { mode: summary.mode, sync_id: summary.syncId, cursor: summary.cursor },
  };
}

export interface ErrorRecordInput {
  readonly integrationId: string;
  readonly connectionId: string | null;
  readonly customerId: string | null;
  readonly failure: {
    readonly classification: ErrorRecord['error']['classification'];
    readonly code: string;
    readonly message: string;
    readonly retryable: boolean;
    readonly httpStatus: number | null;
  };
  readonly source: MessageSource | null;
  readonly resource: { readonly type: string; readonly id: string } | null;
  readonly attempt: number;
  readonly occurredAt: Date;
  /** Distinguishes error records that would otherwise share every field (a fresh UUID per occurrence). */
  readonly occurrenceId: string;
}

/** An error record (CONTRACT.md, "Outbound: error"). */
export function errorRecord(input: ErrorRecordInput): ErrorRecord {
  return {
    message_id: input.occurrenceId,
    schema_version: SCHEMA_VERSION,
    customer_id: input.customerId,
    integration_id: input.integrationId,
    integration_connection_id: input.connectionId,
    error: {
      classification: input.failure.classification,
      code: input.failure.code,
      message: input.failure.message,
      retryable: input.failure.retryable,
      http_status: input.failure.httpStatus,
    },
    source: input.source
      ? {
          topic: input.source.topic,
          partition: input.source.partition,
          offset: input.source.offset,
          message_id: input.source.messageId,
        }
      : null,
    resource: input.resource,
    attempt: Math.max(1, input.attempt),
    occurred_at: input.occurredAt.toISOString(),
  };
}
