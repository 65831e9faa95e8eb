import type { DriveFile } from '../contract/drive-resources.js';
import type { OutboundRecord } from '../contract/records.js';
import { FOLDER_MIME_TYPE } from './normalize.js';

/**
 * Pure decisions about file content (`options.include` with `content`) and about records too
 * large for Kafka (CONTRACT.md, "Outbound: record"): how a file's bytes are read, whether
 * they travel as text or base64, and whether a record must leave its payload in S3.
 */

const GOOGLE_APPS_PREFIX = 'application/vnd.google-apps.';
const SHORTCUT_MIME_TYPE = 'application/vnd.google-apps.shortcut';

/** Drive's own cap on `files.export` output (DRIVE_API.md §2). */
export const DRIVE_EXPORT_LIMIT_BYTES = 10 * 1024 * 1024;

export type ContentPlan =
  /** A Workspace file converted by `files.export` to `mimeType`. */
  | { readonly kind: 'export'; readonly mimeType: string; readonly maxBytes: number }
  /** A binary file's own bytes (`alt=media`), refused beyond `maxBytes`. */
  | { readonly kind: 'download'; readonly maxBytes: number }
  /** Drive already says the file is larger than the configured maximum: no call is made. */
  | { readonly kind: 'too_large'; readonly sizeBytes: number; readonly maxBytes: number }
  /** Nothing to read: folders, shortcuts, Workspace types the export map does not name (forms, sites…). */
  | { readonly kind: 'none' };

export interface ContentSettings {
  /** GDRIVE_EXPORT_MIME_MAP: Workspace MIME type → export MIME type. */
  readonly exportMimeMap: Readonly<Record<string, string>>;
  /** GDRIVE_CONTENT_MAX_BYTES. */
  readonly contentMaxBytes: number;
}

export function contentPlanFor(
  file: Pick<DriveFile, 'mimeType' | 'size'>,
  settings: ContentSettings,
): ContentPlan {
  const { mimeType } = file;
  if (mimeType === FOLDER_MIME_TYPE || mimeType === SHORTCUT_MIME_TYPE) return { kind: 'none' };
  if (mimeType.startsWith(GOOGLE_APPS_PREFIX)) {
    const target = settings.exportMimeMap[mimeType];
    if (target === undefined) return { kind: 'none' };
    // Drive refuses more than 10 MB itself; the configured maximum may be lower still.
    return { kind: 'export', mimeType: target, maxBytes: settings.contentMaxBytes };
  }
  const size = file.size === undefined ? null : Number(file.size);
  if (size !== null && Number.isFinite(size) && size > settings.contentMaxBytes) {
    return { kind: 'too_large', sizeBytes: size, maxBytes: settings.contentMaxBytes };
  }
  return { kind: 'download', maxBytes: settings.contentMaxBytes };
}

/** `text/csv; charset=utf-8` → `text/csv`. */
export function bareContentType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

/** Types whose bytes are text, so a payload carries them as a string rather than base64. */
export function isTextContentType(contentType: string): boolean {
  const bare = bareContentType(contentType);
  return (
    bare.startsWith('text/') ||
    bare === 'application/json' ||
    bare === 'application/xml' ||
    bare === 'application/javascript' ||
    bare.endsWith('+json') ||
    bare.endsWith('+xml')
  );
}

export type InlineEncoding = 'utf8' | 'base64';

/** The payload string of some bytes: text as it is when it is valid UTF-8 text, base64 otherwise. */
export function inlinePayloadOf(
  bytes: Uint8Array,
  contentType: string,
): { readonly payload: string; readonly encoding: InlineEncoding } {
  if (isTextContentType(contentType)) {
    try {
      return { payload: new TextDecoder('utf-8', { fatal: true }).decode(bytes), encoding: 'utf8' };
    } catch {
      // Declared as text but not UTF-8: base64 keeps every byte.
    }
  }
  return { payload: Buffer.from(bytes).toString('base64'), encoding: 'base64' };
}

/** The bytes a record takes on the records topic (its value is the record's JSON). */
export function serializedSize(record: OutboundRecord): number {
  return Buffer.byteLength(JSON.stringify(record), 'utf8');
}

export type OffloadDecision =
  /** The record fits. */
  | { readonly kind: 'inline' }
  /** Its payload goes to S3 (the record then fits, or is checked again). */
  | { readonly kind: 'payload' }
  /** Too large even without its payload bytes: its body (data and payload) goes to S3. */
  | { readonly kind: 'body' };

export function offloadDecision(record: OutboundRecord, maxInlineBytes: number): OffloadDecision {
  if (serializedSize(record) <= maxInlineBytes) return { kind: 'inline' };
  if (record.payload !== null) return { kind: 'payload' };
  return { kind: 'body' };
}
