import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { createContentAttacher, createRecordOffloader } from '../../src/actors/content-payloads.js';
import type { DriveReader, PayloadStorePort } from '../../src/actors/ports.js';
import { defaultExportMimeMap } from '../../src/config.js';
import type { DriveFile } from '../../src/contract/drive-resources.js';
import type { OutboundRecord } from '../../src/contract/records.js';
import { failureOf } from '../../src/machines/classify.js';
import { recordsForFile } from '../../src/machines/normalize.js';
import type { RecordContext } from '../../src/machines/records.js';

/**
 * Content into records and records into S3, over a stand-in Drive (bodies as in-memory
 * streams) and a stand-in store that keeps what it was given; the real S3 path is proven
 * by test/e2e/content.e2e.test.ts.
 */

const ctx: RecordContext = {
  integrationId: 'google-drive',
  connectionId: 'conn_abc',
  customerId: 'cust_123',
  mode: 'full',
  syncId: 'sync-1',
  cursor: '12',
  now: new Date('2025-01-20T15:30:00Z'),
};
const INLINE_LIMIT = 4096;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function memoryStore(failWith?: Error) {
  const objects = new Map<string, { bytes: Buffer; contentType: string }>();
  const store: PayloadStorePort = {
    async put({ connectionId, body, contentType }) {
      const bytes = Buffer.isBuffer(body) ? body : await buffer(body);
      if (failWith) throw failWith;
      const key = `google-drive/${connectionId}/${sha256(bytes)}`;
      objects.set(key, { bytes, contentType });
      return { bucket: 'b', key, sha256: sha256(bytes), sizeBytes: bytes.length, contentType };
    },
  };
  return { store, objects };
}

/** Bodies in chunks of 1 KiB, so the attacher has to stop reading in the middle. */
function chunked(bytes: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 1024) chunks.push(bytes.subarray(at, at + 1024));
  return Readable.from(chunks);
}

function drive(bodies: Record<string, Buffer | (() => Readable)>, calls: string[] = []) {
  const open = (fileId: string) => {
    const body = bodies[fileId];
    if (body === undefined) throw new Error(`no body for ${fileId}`);
    return typeof body === 'function' ? body() : chunked(body);
  };
  const reader: Pick<DriveReader, 'exportFile' | 'downloadFile'> = {
    exportFile: async (fileId, mimeType) => {
      calls.push(`export ${fileId} ${mimeType}`);
      return { body: open(fileId), contentType: mimeType };
    },
    downloadFile: async (fileId) => {
      calls.push(`download ${fileId}`);
      return { body: open(fileId), contentType: 'application/octet-stream' };
    },
  };
  return reader;
}

function fileOf(id: string, mimeType: string, size?: number): DriveFile {
  return { id, name: id, mimeType, version: '1', ...(size !== undefined ? { size: String(size) } : {}) };
}

function recordOf(file: DriveFile): OutboundRecord {
  return recordsForFile(file, {}, ctx)[0] as OutboundRecord;
}

function attacher(
  bodies: Record<string, Buffer | (() => Readable)>,
  store: PayloadStorePort,
  calls?: string[],
) {
  return createContentAttacher({
    drive: drive(bodies, calls),
    store,
    connectionId: 'conn_abc',
    maxInlineBytes: INLINE_LIMIT,
    settings: { exportMimeMap: defaultExportMimeMap, contentMaxBytes: 100_000 },
  });
}

describe('file content into records', () => {
  it('keeps a small export inline as text, with its hash and type in metadata', async () => {
    const { store, objects } = memoryStore();
    const file = fileOf('doc', 'application/vnd.google-apps.document');
    const text = Buffer.from('# Plan\n\nShip it.\n');
    const calls: string[] = [];
    const outcome = await attacher({ doc: text }, store, calls).attach(file, recordOf(file));
    expect(calls).toEqual(['export doc text/markdown']);
    expect(outcome).toMatchObject({
      ok: true,
      record: {
        payload: '# Plan\n\nShip it.\n',
        s3_url: null,
        metadata: {
          content_type: 'text/markdown',
          encoding: 'utf8',
          sha256: sha256(text),
          size_bytes: text.length,
        },
      },
    });
    expect(objects.size).toBe(0);
  });

  it('streams content larger than the inline limit into the store and points at it', async () => {
    const { store, objects } = memoryStore();
    const file = fileOf('bin', 'application/pdf', 20_000);
    const bytes = Buffer.alloc(20_000, 0xfe);
    const outcome = await attacher({ bin: bytes }, store).attach(file, recordOf(file));
    const key = `google-drive/conn_abc/${sha256(bytes)}`;
    expect(outcome).toMatchObject({
      ok: true,
      record: {
        payload: null,
        s3_url: `s3://b/${key}`,
        metadata: {
          offloaded: 'payload',
          sha256: sha256(bytes),
          size_bytes: 20_000,
          content_type: 'application/pdf',
        },
      },
    });
    expect(objects.get(key)?.bytes.equals(bytes)).toBe(true);
  });

  it('offloads content under the limit whose record would not fit (base64 grows it by a third)', async () => {
    const { store, objects } = memoryStore();
    const file = fileOf('img', 'image/png', 3500);
    const bytes = Buffer.alloc(3500, 0x89);
    const outcome = await attacher({ img: bytes }, store).attach(file, recordOf(file));
    expect(outcome.ok && outcome.record.s3_url).toBe(`s3://b/google-drive/conn_abc/${sha256(bytes)}`);
    expect(objects.size).toBe(1);
  });

  it('reads nothing for a folder, and refuses a file Drive says is too large without a call', async () => {
    const { store } = memoryStore();
    const calls: string[] = [];
    const folder = fileOf('dir', 'application/vnd.google-apps.folder');
    expect(await attacher({}, store, calls).attach(folder, recordOf(folder))).toEqual({
      ok: true,
      record: recordOf(folder),
    });
    const big = fileOf('big', 'video/mp4', 100_001);
    const outcome = await attacher({}, store, calls).attach(big, recordOf(big));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok)
      expect(failureOf(outcome.error)).toMatchObject({
        classification: 'invalid_input',
        code: 'contentTooLarge',
        retryable: false,
      });
    expect(calls).toEqual([]);
  });

  it('a body that breaks off is Drive’s transient failure, not the store’s', async () => {
    const { store } = memoryStore();
    const file = fileOf('flaky', 'application/zip');
    const broken = () =>
      Readable.from(
        (async function* () {
          yield Buffer.alloc(INLINE_LIMIT + 1);
          throw new Error('socket hang up');
        })(),
      );
    const outcome = await attacher({ flaky: broken }, store).attach(file, recordOf(file));
    expect(outcome.ok).toBe(false);
    if (!outcome.ok)
      expect(failureOf(outcome.error)).toMatchObject({ classification: 'transient', retryable: true });
  });

  it('a failed upload rejects: no record goes out without its object', async () => {
    const { store } = memoryStore(new Error('S3 down'));
    const file = fileOf('bin', 'application/pdf');
    await expect(attacher({ bin: Buffer.alloc(10_000) }, store).attach(file, recordOf(file))).rejects.toThrow(
      'S3 down',
    );
  });
});

describe('records too large for Kafka', () => {
  it('leaves small records alone and serializes each once', async () => {
    const { store, objects } = memoryStore();
    const record = recordOf(fileOf('f', 'text/plain'));
    const prepared = await createRecordOffloader({ store, maxInlineBytes: INLINE_LIMIT })([record]);
    expect(prepared).toEqual([{ record, value: JSON.stringify(record) }]);
    expect(objects.size).toBe(0);
  });

  it('moves a huge description’s record body to S3, and the object holds the whole data', async () => {
    const { store, objects } = memoryStore();
    const record = recordOf({ ...fileOf('f', 'text/plain'), description: 'd'.repeat(10_000) });
    const [prepared] = await createRecordOffloader({ store, maxInlineBytes: INLINE_LIMIT })([record]);
    expect(prepared?.record).toMatchObject({ data: { id: 'f' }, metadata: { offloaded: 'body' } });
    expect(Buffer.byteLength(prepared?.value ?? '')).toBeLessThanOrEqual(INLINE_LIMIT);
    const key = prepared?.record.s3_url?.replace('s3://b/', '') ?? '';
    const stored = JSON.parse(objects.get(key)?.bytes.toString('utf8') ?? '{}') as { data: unknown };
    expect(stored.data).toEqual(record.data);
    expect(prepared?.record.metadata.sha256).toBe(sha256(objects.get(key)?.bytes ?? Buffer.alloc(0)));
  });
});
