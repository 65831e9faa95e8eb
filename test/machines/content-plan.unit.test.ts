import { describe, expect, it } from 'vitest';
import { defaultExportMimeMap } from '../../src/config.js';
import type { DriveFile } from '../../src/contract/drive-resources.js';
import { type OutboundRecord, outboundRecordSchema } from '../../src/contract/records.js';
import {
  contentPlanFor,
  inlinePayloadOf,
  isTextContentType,
  offloadDecision,
  serializedSize,
} from '../../src/machines/content-plan.js';
import { recordsForFile } from '../../src/machines/normalize.js';
import {
  offloadedBodyOf,
  type RecordContext,
  withOffloadedBody,
  withPayload,
} from '../../src/machines/records.js';

const settings = { exportMimeMap: defaultExportMimeMap, contentMaxBytes: 1_000_000 };
const file = (mimeType: string, size?: string) => ({ mimeType, ...(size ? { size } : {}) });

const ctx: RecordContext = {
  integrationId: 'google-drive',
  connectionId: 'conn_abc',
  customerId: 'cust_123',
  mode: 'full',
  syncId: 'sync-1',
  cursor: '12',
  now: new Date('2025-01-20T15:30:00Z'),
};

function fileRecord(overrides: Partial<DriveFile> = {}): OutboundRecord {
  const driveFile: DriveFile = {
    id: 'f1',
    name: 'Plan',
    mimeType: 'application/vnd.google-apps.document',
    version: '3',
    ...overrides,
  };
  return recordsForFile(driveFile, {}, ctx)[0] as OutboundRecord;
}

describe('how a file’s content is read (GDRIVE_EXPORT_MIME_MAP, GDRIVE_CONTENT_MAX_BYTES)', () => {
  it('exports Workspace files through the map’s defaults', () => {
    expect(contentPlanFor(file('application/vnd.google-apps.document'), settings)).toEqual({
      kind: 'export',
      mimeType: 'text/markdown',
      maxBytes: 1_000_000,
    });
    expect(contentPlanFor(file('application/vnd.google-apps.spreadsheet'), settings)).toMatchObject({
      mimeType: 'text/csv',
    });
    expect(contentPlanFor(file('application/vnd.google-apps.presentation'), settings)).toMatchObject({
      mimeType: 'application/pdf',
    });
    expect(contentPlanFor(file('application/vnd.google-apps.drawing'), settings)).toMatchObject({
      mimeType: 'image/svg+xml',
    });
  });

  it('follows a configured map, and reads nothing of types it does not name', () => {
    const custom = {
      ...settings,
      exportMimeMap: {
        'application/vnd.google-apps.document':
          'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      },
    };
    expect(contentPlanFor(file('application/vnd.google-apps.document'), custom)).toMatchObject({
      kind: 'export',
      mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    });
    expect(contentPlanFor(file('application/vnd.google-apps.spreadsheet'), custom)).toEqual({ kind: 'none' });
    expect(contentPlanFor(file('application/vnd.google-apps.form'), settings)).toEqual({ kind: 'none' });
  });

  it('reads nothing of folders and shortcuts', () => {
    expect(contentPlanFor(file('application/vnd.google-apps.folder'), settings)).toEqual({ kind: 'none' });
    expect(contentPlanFor(file('application/vnd.google-apps.shortcut'), settings)).toEqual({ kind: 'none' });
  });

  it('downloads binary files up to the maximum, and knows a larger one without calling Drive', () => {
    expect(contentPlanFor(file('application/pdf', '1000000'), settings)).toEqual({
      kind: 'download',
      maxBytes: 1_000_000,
    });
    expect(contentPlanFor(file('image/png'), settings)).toEqual({ kind: 'download', maxBytes: 1_000_000 });
    expect(contentPlanFor(file('video/mp4', '1000001'), settings)).toEqual({
      kind: 'too_large',
      sizeBytes: 1_000_001,
      maxBytes: 1_000_000,
    });
  });
});

describe('content in a record (text as a string, binary as base64)', () => {
  it('tells text types from binary ones', () => {
    for (const type of ['text/markdown', 'text/csv; charset=utf-8', 'image/svg+xml', 'application/json'])
      expect(isTextContentType(type)).toBe(true);
    for (const type of ['application/pdf', 'image/png', 'application/octet-stream'])
      expect(isTextContentType(type)).toBe(false);
  });

  it('keeps UTF-8 text as it is and base64-encodes binary or text that is not UTF-8', () => {
    expect(inlinePayloadOf(Buffer.from('# Plan\n\nété'), 'text/markdown')).toEqual({
      payload: '# Plan\n\nété',
      encoding: 'utf8',
    });
    const pdf = Buffer.from('%PDF-1.4\n\xff\xfe', 'latin1');
    expect(inlinePayloadOf(pdf, 'application/pdf')).toEqual({
      payload: pdf.toString('base64'),
      encoding: 'base64',
    });
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
    expect(inlinePayloadOf(latin1, 'text/plain')).toEqual({
      payload: latin1.toString('base64'),
      encoding: 'base64',
    });
  });
});

describe('what goes to S3 (KAFKA_MAX_INLINE_BYTES)', () => {
  it('keeps a record inline while its JSON fits, counted in UTF-8 bytes', () => {
    const record = withPayload(fileRecord(), { kind: 'inline', content: 'é'.repeat(400) });
    const size = serializedSize(record);
    expect(size).toBe(Buffer.byteLength(JSON.stringify(record)));
    expect(offloadDecision(record, size)).toEqual({ kind: 'inline' });
    expect(offloadDecision(record, size - 1)).toEqual({ kind: 'payload' });
  });

  it('moves the body when the record is too large without a payload (a huge description)', () => {
    const record = fileRecord({ description: 'x'.repeat(5000) });
    expect(offloadDecision(record, 4096)).toEqual({ kind: 'body' });
    const body = JSON.parse(offloadedBodyOf(record)) as { data: Record<string, unknown> };
    expect(body.data).toEqual(record.data);
    const offloaded = withOffloadedBody(record, {
      bucket: 'b',
      key: 'google-drive/conn_abc/abc',
      sha256: 'abc',
      sizeBytes: 5400,
    });
    // a new body (its S3 address), so a new id; the same object again, the same id
    expect(offloaded.message_id).not.toBe(record.message_id);
    expect(
      withOffloadedBody(record, {
        bucket: 'b',
        key: 'google-drive/conn_abc/abc',
        sha256: 'abc',
        sizeBytes: 5400,
      }).message_id,
    ).toBe(offloaded.message_id);
    expect(offloaded).toMatchObject({
      data: { id: 'f1' },
      payload: null,
      s3_url: 's3://b/google-drive/conn_abc/abc',
      metadata: { offloaded: 'body', sha256: 'abc', size_bytes: 5400, content_type: 'application/json' },
    });
    expect(serializedSize(offloaded)).toBeLessThan(1024);
    outboundRecordSchema.parse(offloaded);
  });

  it('describes inline content in metadata and drops the encoding once the bytes are in S3', () => {
    const inline = withPayload(fileRecord(), {
      kind: 'inline',
      content: 'aGk=',
      encoding: 'base64',
      contentType: 'application/pdf',
      sha256: 'h',
      sizeBytes: 2,
    });
    expect(inline.metadata).toEqual({
      content_type: 'application/pdf',
      encoding: 'base64',
      sha256: 'h',
      size_bytes: 2,
    });
    const stored = withPayload(inline, {
      kind: 's3',
      bucket: 'b',
      key: 'k',
      sha256: 'h',
      sizeBytes: 2,
      contentType: 'application/pdf',
    });
    expect(stored).toMatchObject({ payload: null, s3_url: 's3://b/k' });
    expect(stored.metadata).toEqual({
      offloaded: 'payload',
      sha256: 'h',
      size_bytes: 2,
      content_type: 'application/pdf',
    });
  });
});
