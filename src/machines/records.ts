import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type { DriveChange, DriveFile, DrivePermission, SharedDrive } from '../contract/drive-resources.js';
import {
  type ErrorClassification,
  type ErrorRecord,
  type MessageSource,
  type OutboundRecord,
  type ResourceType,
  SCHEMA_VERSION,
  type SyncMode,
} from '../contract/records.js';
import * as normalize from './normalize.js';

/**
 * The envelopes of CONTRACT.md's outbound messages ("Outbound: record", "Outbound: error"),
 * built purely: same input, same output — in particular the same `message_id`, a UUIDv5 of
 * the idempotency key, the operation and a digest of the record's body, so a record re-sent
 * after a crash or a retry deduplicates downstream and a record whose body changed never
 * does. What goes inside `data` is normalize.ts's business.
 */

/** Our namespace for message ids (a fixed random UUID; changing it changes every message id). */
export const MESSAGE_ID_NAMESPACE = '6f1c3a52-8d0e-4b8a-9a57-2f4f0e6b9c11';

/** `WORKER_INTEGRATION_ID`'s default; the configured value is passed in through `RecordContext`. */
export const DEFAULT_INTEGRATION_ID = 'google-drive';

/** Everything about the sync a record is produced in, `now` included (the normalizer reads no clock). */
export interface RecordContext {
  readonly integrationId: string;
  readonly connectionId: string;
  readonly customerId: string;
  readonly mode: SyncMode;
  readonly syncId: string;
  /** The changes cursor the records were read from (a full sync's walk: its start token). */
  readonly cursor: string | null;
  readonly now: Date;
}

export type RecordOperation = OutboundRecord['operation'];

/**
 * The namespace of a resource type in idempotency keys. Files and folders share `file`:
 * Drive gives them one id space and a removal does not say which it was, so a folder's
 * upsert and its delete typed `file` must land on the same key.
 */
export function keyNamespaceOf(type: ResourceType): string {
  return type === 'folder' ? 'file' : type;
}

/** `{integration_id}:{integration_connection_id}:{namespace}:{resource_id}`. */
export function idempotencyKey(
  ctx: Pick<RecordContext, 'integrationId' | 'connectionId'>,
  type: ResourceType,
  resourceId: string,
): string {
  return `${ctx.integrationId}:${ctx.connectionId}:${keyNamespaceOf(type)}:${resourceId}`;
}

/** UUIDv5 of the idempotency key and what distinguishes this message among the key's. */
export function messageIdFor(key: string, distinction: string): string {
  return uuidv5(`${key}#${distinction}`, MESSAGE_ID_NAMESPACE);
}

/** JSON with object keys sorted, so equal values serialize equally whatever built them. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

const sha256Of = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * The digest of what a consumer applies from a record: `data`, the content (by its sha256,
 * not its bytes) and `s3_url`. `emitted_at` and `sync` change on every emission and are
 * left out, so a record re-sent after a retry or a crash digests the same.
 */
export function bodyDigest(record: Pick<OutboundRecord, 'data' | 'payload' | 's3_url'>): string {
  return sha256Of(
    canonicalJson({
      data: record.data,
      payload_sha256: record.payload === null ? null : sha256Of(record.payload),
      s3_url: record.s3_url,
    }),
  );
}

/** The record's `message_id` for its key, operation and body as they are now. */
export function withBodyMessageId(record: OutboundRecord): OutboundRecord {
  return {
    ...record,
    message_id: messageIdFor(record.idempotency_key, `${record.operation}:${bodyDigest(record)}`),
  };
}

/** One record; its `message_id` follows from its key, operation and body. */
export function buildRecord(
  ctx: RecordContext,
  type: ResourceType,
  resourceId: string,
  operation: RecordOperation,
  data: Record<string, unknown>,
): OutboundRecord {
  return withBodyMessageId({
    message_id: '',
    schema_version: SCHEMA_VERSION,
    customer_id: ctx.customerId,
    integration_id: ctx.integrationId,
    integration_connection_id: ctx.connectionId,
    resource_type: type,
    resource_id: resourceId,
    operation,
    idempotency_key: idempotencyKey(ctx, type, resourceId),
    sync: { mode: ctx.mode, sync_id: ctx.syncId, cursor: ctx.cursor },
    emitted_at: ctx.now.toISOString(),
    data,
    payload: null,
    s3_url: null,
    metadata: {},
  });
}

/**
 * A delete: `data` is `{id, type}` and whatever the caller knows of the item's last state
 * (a trashed file's version and drive). Nothing that changes between two reports of one
 * removal goes in — not the change's time — so the same removal is one message id.
 */
export function deleteRecord(
  ctx: RecordContext,
  type: ResourceType,
  resourceId: string,
  known: Record<string, unknown> = {},
): OutboundRecord {
  return buildRecord(ctx, type, resourceId, 'delete', { id: resourceId, type, ...known });
}

/** File content, once fetched: inline, or already uploaded to S3 because it was too large. */
export type RecordPayload =
  | {
      readonly kind: 'inline';
      /** Text as it is, binary as base64 (CONTRACT.md). */
      readonly content: string;
      /** Described in `metadata` when given, so a consumer knows how to read `payload`. */
      readonly encoding?: 'utf8' | 'base64';
      readonly contentType?: string;
      readonly sha256?: string;
      readonly sizeBytes?: number;
    }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      readonly key: string;
      readonly sha256: string;
      readonly sizeBytes: number;
      readonly contentType: string;
    };

/**
 * The seam for content (`options.include` with `content`): the record stays the same
 * resource with its payload or S3 pointer set — a new body, so a new message id (a consumer
 * that already holds the file without content must not drop this one as a duplicate).
 * Deciding between inline and S3 (KAFKA_MAX_INLINE_BYTES) is the caller's job.
 *
 * `metadata.offloaded` says what the object at `s3_url` is: `payload` — the content's own
 * bytes; `body` — see `withOffloadedBody`.
 */
export function withPayload(record: OutboundRecord, payload: RecordPayload): OutboundRecord {
  if (payload.kind === 'inline') {
    return withBodyMessageId({
      ...record,
      payload: payload.content,
      s3_url: null,
      metadata: {
        ...record.metadata,
        ...(payload.contentType !== undefined ? { content_type: payload.contentType } : {}),
        ...(payload.encoding !== undefined ? { encoding: payload.encoding } : {}),
        ...(payload.sha256 !== undefined ? { sha256: payload.sha256 } : {}),
        ...(payload.sizeBytes !== undefined ? { size_bytes: payload.sizeBytes } : {}),
      },
    });
  }
  const { encoding: _encoding, ...metadata } = record.metadata;
  return withBodyMessageId({
    ...record,
    payload: null,
    s3_url: `s3://${payload.bucket}/${payload.key}`,
    metadata: {
      ...metadata,
      offloaded: 'payload',
      sha256: payload.sha256,
      size_bytes: payload.sizeBytes,
      content_type: payload.contentType,
    },
  });
}

/** The JSON kept in S3 for a record too large even without its content bytes. */
export const OFFLOADED_BODY_CONTENT_TYPE = 'application/json';

/**
 * What a record too large for Kafka without any payload bytes (a huge description, a file
 * shared with thousands) keeps in S3: its `data`, `payload`, `s3_url` and `metadata` as
 * they would have been sent, so nothing is lost and a content pointer stays reachable.
 */
export function offloadedBodyOf(record: OutboundRecord): string {
  return JSON.stringify({
    data: record.data,
    payload: record.payload,
    s3_url: record.s3_url,
    metadata: record.metadata,
  });
}

/**
 * The record once its body is in S3 (`offloadedBodyOf`): `data` keeps only the resource's
 * `id`, and `s3_url` with `metadata` (`offloaded: body`, sha256, size, content type) name
 * the JSON object. Its message id follows that body: the object's key is content-addressed,
 * so the same record offloaded again gets the same id.
 */
export function withOffloadedBody(
  record: OutboundRecord,
  stored: {
    readonly bucket: string;
    readonly key: string;
    readonly sha256: string;
    readonly sizeBytes: number;
  },
): OutboundRecord {
  return withBodyMessageId({
    ...record,
    data: { id: record.data.id ?? record.resource_id },
    payload: null,
    s3_url: `s3://${stored.bucket}/${stored.key}`,
    metadata: {
      offloaded: 'body',
      sha256: stored.sha256,
      size_bytes: stored.sizeBytes,
      content_type: OFFLOADED_BODY_CONTENT_TYPE,
    },
  });
}

export interface SyncSummary {
  readonly syncId: string;
  readonly mode: SyncMode;
  /** The cursor the next incremental sync starts from. */
  readonly cursor: string;
  readonly counts: Readonly<Record<string, number>>;
  readonly startedAt: string;
  readonly finishedAt: string;
}

/** The record that closes every sync, carrying the new cursor for the control plane. */
export function syncCheckpointRecord(ctx: RecordContext, summary: SyncSummary): OutboundRecord {
  const data = {
    id: summary.syncId,
    mode: summary.mode,
    cursor: summary.cursor,
    counts: { ...summary.counts },
    started_at: new Date(summary.startedAt).toISOString(),
    finished_at: new Date(summary.finishedAt).toISOString(),
  };
  return buildRecord(
    { ...ctx, mode: summary.mode, syncId: summary.syncId, cursor: summary.cursor },
    'sync_checkpoint',
    summary.syncId,
    'upsert',
    data,
  );
}

export interface ErrorRecordInput {
  readonly integrationId: string;
  readonly connectionId: string | null;
  readonly customerId: string | null;
  readonly failure: {
    readonly classification: ErrorClassification;
    readonly code: string;
    /** Already redacted when it comes from classify.ts. */
    readonly message: string;
    readonly retryable: boolean;
    readonly httpStatus: number | null;
  };
  /** The inbound message that caused the failure, if any. */
  readonly source: MessageSource | null;
  readonly resource: { readonly type: string; readonly id: string } | null;
  /** 1 for a first failure; the number of attempts made when a retry loop gave up. */
  readonly attempt: number;
  readonly occurredAt: Date;
  /**
   * What the failure happened during, when `source` does not say it alone: the sync's id
   * (kept in the checkpoint, so a sync resumed after a crash reports under the same one).
   * Null for the failure of an inbound message itself, which `source` identifies.
   */
  readonly occasion: string | null;
}

/** The contract's shapes of an error's source, resource and attempt, shared by its id and body. */
function errorSourceOf(input: ErrorRecordInput): ErrorRecord['source'] {
  return input.source
    ? {
        topic: input.source.topic,
        partition: input.source.partition,
        offset: input.source.offset,
        message_id: input.source.messageId,
      }
    : null;
}

function errorResourceOf(input: ErrorRecordInput): ErrorRecord['resource'] {
  return input.resource ? { type: input.resource.type, id: input.resource.id } : null;
}

function errorAttemptOf(input: ErrorRecordInput): number {
  return Math.max(1, Math.floor(input.attempt));
}

/**
 * An error record's `message_id`: derived, like records', from what identifies the failure —
 * connection, classification and code, resource, source message, occasion and attempt — and
 * never from the time or the message text, so the same failure re-sent after a crash or a
 * retried page carries the same id, and a new sync's failure a new one.
 */
export function errorMessageId(input: ErrorRecordInput): string {
  const identity = canonicalJson({
    classification: input.failure.classification,
    code: input.failure.code,
    resource: errorResourceOf(input),
    source: errorSourceOf(input),
    occasion: input.occasion,
    attempt: errorAttemptOf(input),
  });
  return messageIdFor(`${input.integrationId}:${input.connectionId ?? '-'}:error`, sha256Of(identity));
}

/** An error record (CONTRACT.md, "Outbound: error"). */
export function buildErrorRecord(input: ErrorRecordInput): ErrorRecord {
  const body: Omit<ErrorRecord, 'message_id'> = {
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
    source: errorSourceOf(input),
    resource: errorResourceOf(input),
    attempt: errorAttemptOf(input),
    occurred_at: input.occurredAt.toISOString(),
  };
  return { message_id: errorMessageId(input), ...body };
}

/** @deprecated Use `buildErrorRecord`. */
export const errorRecord = buildErrorRecord;

// --------------------------------------------------------------------------------------
// Context-first forms kept for src/actors/connection-actor.ts, written before normalize.ts;
// new code imports normalize.ts (resource first, context last) instead.

/** @deprecated Use `normalize.recordsForChange(change, extras, ctx)`. */
export function recordsForChange(
  ctx: RecordContext,
  change: DriveChange,
  extras: normalize.FileExtras,
): OutboundRecord[] {
  return normalize.recordsForChange(change, extras, ctx);
}

/** @deprecated Use `normalize.recordsForListedFile(file, extras, ctx)`. */
export function recordsForListedFile(
  ctx: RecordContext,
  file: DriveFile,
  extras: normalize.FileExtras,
): OutboundRecord[] {
  return normalize.recordsForListedFile(file, extras, ctx);
}

/** @deprecated Use `normalize.recordsForFile(file, extras, ctx)`. */
export function recordsForFile(
  ctx: RecordContext,
  file: DriveFile,
  extras: normalize.FileExtras,
): OutboundRecord[] {
  return normalize.recordsForFile(file, extras, ctx);
}

/** @deprecated Use `normalize.driveRecord(drive, ctx)`. */
export function driveRecord(ctx: RecordContext, drive: SharedDrive): OutboundRecord {
  return normalize.driveRecord(drive, ctx);
}

/** @deprecated Use `normalize.fileRecord(file, ctx, permissions)`. */
export function fileRecord(
  ctx: RecordContext,
  file: DriveFile,
  permissions?: readonly DrivePermission[],
): OutboundRecord {
  return normalize.fileRecord(file, ctx, permissions);
}
