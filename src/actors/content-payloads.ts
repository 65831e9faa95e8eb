import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DriveFile } from '../contract/drive-resources.js';
import type { OutboundRecord } from '../contract/records.js';
import { ClassifiedError, classifyFailure } from '../machines/classify.js';
import {
  bareContentType,
  type ContentSettings,
  contentPlanFor,
  inlinePayloadOf,
  offloadDecision,
  serializedSize,
} from '../machines/content-plan.js';
import {
  OFFLOADED_BODY_CONTENT_TYPE,
  offloadedBodyOf,
  withOffloadedBody,
  withPayload,
} from '../machines/records.js';
import type { DriveReader, FileContent, PayloadStorePort } from './ports.js';

/**
 * File content into records (`options.include` with `content`) and records too large for
 * Kafka into S3 (CONTRACT.md, "Outbound: record"). Content is streamed: at most
 * KAFKA_MAX_INLINE_BYTES of it is held to decide inline or not; anything larger flows
 * straight into the payload store (which hashes it and spools big bodies to disk). Every
 * S3 put resolves before the record naming it is returned, so a produced record never
 * points at an object that is not stored.
 */

export type ContentOutcome =
  | { readonly ok: true; readonly record: OutboundRecord }
  /**
   * Drive could not give the content (too large, not downloadable, export over 10 MB, a
   * broken stream…): `error` carries its classification. A failed S3 upload is no outcome:
   * it rejects, and the page fails (nothing is produced without its object).
   */
  | { readonly ok: false; readonly error: unknown };

export interface FileContentAttacher {
  /** `record` is the file's upsert; it comes back with its payload set (or unchanged when the type has none). */
  attach(file: DriveFile, record: OutboundRecord): Promise<ContentOutcome>;
}

export interface ContentAttacherDeps {
  readonly drive: Pick<DriveReader, 'exportFile' | 'downloadFile'>;
  readonly store: PayloadStorePort;
  readonly connectionId: string;
  readonly maxInlineBytes: number;
  readonly settings: ContentSettings;
  /** The sync's: a stopped sync does not keep uploading or waiting to retry. */
  readonly signal?: AbortSignal;
}

export function createContentAttacher(deps: ContentAttacherDeps): FileContentAttacher {
  return {
    async attach(file, record) {
      const plan = contentPlanFor(file, deps.settings);
      if (plan.kind === 'none') return { ok: true, record };
      if (plan.kind === 'too_large') {
        return {
          ok: false,
          error: contentFailure(
            413,
            'contentTooLarge',
            `file is ${plan.sizeBytes} bytes, more than GDRIVE_CONTENT_MAX_BYTES (${plan.maxBytes})`,
          ),
        };
      }
      let content: FileContent;
      try {
        content =
          plan.kind === 'export'
            ? await deps.drive.exportFile(file.id, plan.mimeType, plan.maxBytes)
            : await deps.drive.downloadFile(file.id, plan.maxBytes);
      } catch (error) {
        return { ok: false, error };
      }
      // An export is what was asked for; a download is what Drive says the file is (its
      // answer's Content-Type only when the file names none).
      const contentType =
        plan.kind === 'export'
          ? plan.mimeType
          : bareContentType(file.mimeType) || bareContentType(content.contentType);
      const source = new TrackedSource(content.body);
      try {
        const head = await source.readUpTo(deps.maxInlineBytes);
        if (head.complete) {
          const inline = withInlineContent(record, head.bytes, contentType);
          if (fits(inline, deps.maxInlineBytes)) {
            return { ok: true, record: inline };
          }
          const stored = await deps.store.put({
            connectionId: deps.connectionId,
            body: head.bytes,
            contentType,
            ...(deps.signal ? { signal: deps.signal } : {}),
          });
          return { ok: true, record: withPayload(record, { kind: 's3', ...stored }) };
        }
        const stored = await deps.store.put({
          connectionId: deps.connectionId,
          body: source.rest(head.bytes),
          contentType,
          ...(deps.signal ? { signal: deps.signal } : {}),
        });
        return { ok: true, record: withPayload(record, { kind: 's3', ...stored }) };
      } catch (error) {
        // The store rethrows what broke the body it was reading: that is Drive's failure, not S3's.
        if (source.failure !== null) return { ok: false, error: asContentFailure(source.failure) };
        throw error;
      } finally {
        source.close();
      }
    },
  };
}

function fits(record: OutboundRecord, maxInlineBytes: number): boolean {
  return serializedSize(record) <= maxInlineBytes;
}

function withInlineContent(record: OutboundRecord, bytes: Buffer, contentType: string): OutboundRecord {
  const { payload, encoding } = inlinePayloadOf(bytes, contentType);
  return withPayload(record, {
    kind: 'inline',
    content: payload,
    encoding,
    contentType,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    sizeBytes: bytes.length,
  });
}

/**
 * A content body read in two steps — a head of bounded size, then (when there is more) the
 * head and the rest as one stream — remembering whether the body itself failed, so a
 * broken download is told apart from a failed upload.
 */
class TrackedSource {
  failure: unknown = null;
  private readonly iterator: AsyncIterator<unknown>;

  constructor(private readonly body: Readable) {
    this.iterator = body[Symbol.asyncIterator]();
  }

  private async next(): Promise<Buffer | null> {
    try {
      const step = await this.iterator.next();
      if (step.done) return null;
      const value = step.value;
      return typeof value === 'string' ? Buffer.from(value) : Buffer.from(value as Uint8Array);
    } catch (error) {
      this.failure = error;
      throw error;
    }
  }

  /**
   * Reads until the body ends (`complete`) or more than `limit` bytes came. Content beyond
   * the limit cannot stay inline — a payload string is never shorter than its bytes (base64
   * adds a third, JSON escapes only add) — so no more is held to find that out.
   */
  async readUpTo(limit: number): Promise<{ bytes: Buffer; complete: boolean }> {
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = await this.next();
      if (chunk === null) return { bytes: Buffer.concat(chunks, size), complete: true };
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) return { bytes: Buffer.concat(chunks, size), complete: false };
    }
  }

  /** `head` and everything after it, as one stream for the payload store. */
  rest(head: Buffer): Readable {
    const next = () => this.next();
    return Readable.from(
      (async function* () {
        yield head;
        for (let chunk = await next(); chunk !== null; chunk = await next()) yield chunk;
      })(),
      { objectMode: false },
    );
  }

  close(): void {
    if (!this.body.destroyed) this.body.destroy();
  }
}

function contentFailure(status: number, reason: string, message: string): ClassifiedError {
  return new ClassifiedError(
    classifyFailure({
      source: 'drive',
      httpStatus: status,
      reason,
      location: null,
      message,
      retryAfterMs: null,
    }),
  );
}

/** A body that broke mid-way without a classification of its own (a reset connection): transient. */
function asContentFailure(error: unknown): unknown {
  if (error instanceof ClassifiedError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ClassifiedError(
    classifyFailure({
      source: 'drive',
      httpStatus: null,
      reason: null,
      location: null,
      message: `content download broke off: ${message}`,
      retryAfterMs: null,
      network: true,
    }),
  );
}

/** A record ready for the records topic: the record as sent and its serialized value. */
export interface PreparedRecord {
  readonly record: OutboundRecord;
  readonly value: string;
}

export interface RecordOffloaderDeps {
  readonly store: PayloadStorePort;
  readonly maxInlineBytes: number;
}

/**
 * Makes every record fit KAFKA_MAX_INLINE_BYTES: first its payload goes to S3 (the content's
 * own bytes), then, if it still does not fit (a huge description, thousands of permission
 * ids), its body (`offloadedBodyOf`). Resolves once every object is stored.
 */
export function createRecordOffloader(deps: RecordOffloaderDeps) {
  return async function prepare(records: readonly OutboundRecord[]): Promise<PreparedRecord[]> {
    const prepared: PreparedRecord[] = [];
    for (const original of records) {
      let record = original;
      let value = JSON.stringify(record);
      if (Buffer.byteLength(value, 'utf8') > deps.maxInlineBytes) {
        record = await offload(deps, record);
        value = JSON.stringify(record);
      }
      prepared.push({ record, value });
    }
    return prepared;
  };
}

async function offload(deps: RecordOffloaderDeps, original: OutboundRecord): Promise<OutboundRecord> {
  let record = original;
  let decision = offloadDecision(record, deps.maxInlineBytes);
  if (decision.kind === 'payload' && record.payload !== null) {
    const contentType =
      typeof record.metadata.content_type === 'string'
        ? record.metadata.content_type
        : 'application/octet-stream';
    const bytes =
      record.metadata.encoding === 'base64'
        ? Buffer.from(record.payload, 'base64')
        : Buffer.from(record.payload, 'utf8');
    const stored = await deps.store.put({
      connectionId: record.integration_connection_id,
      body: bytes,
      contentType,
    });
    record = withPayload(record, { kind: 's3', ...stored });
    decision = offloadDecision(record, deps.maxInlineBytes);
  }
  if (decision.kind === 'inline') return record;
  const stored = await deps.store.put({
    connectionId: record.integration_connection_id,
    body: Buffer.from(offloadedBodyOf(record), 'utf8'),
    contentType: OFFLOADED_BODY_CONTENT_TYPE,
  });
  return withOffloadedBody(record, stored);
}
