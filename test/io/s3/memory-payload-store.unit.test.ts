import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMemoryPayloadStore } from '../../../src/io/s3/memory-payload-store.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the in-memory payload store of mock mode', () => {
  it('stores buffers and streams under the content-addressed key S3 would use', async () => {
    const store = createMemoryPayloadStore({ bucket: 'payloads', keyPrefix: 'google-drive' });
    const bytes = Buffer.from('{"big":"body"}');
    const first = await store.put({ connectionId: 'conn/1', body: bytes, contentType: 'application/json' });
    expect(first).toEqual({
      bucket: 'payloads',
      key: `google-drive/conn%2F1/${sha(bytes)}`,
      s3Url: `s3://payloads/google-drive/conn%2F1/${sha(bytes)}`,
      sha256: sha(bytes),
      sizeBytes: bytes.length,
      contentType: 'application/json',
      alreadyStored: false,
    });
    const again = await store.put({
      connectionId: 'conn/1',
      body: Readable.from([bytes.subarray(0, 3), bytes.subarray(3)]),
      contentType: 'application/json',
    });
    expect(again).toEqual({ ...first, alreadyStored: true });
    expect(store.objects.get(first.key)?.body.equals(bytes)).toBe(true);
  });

  it('refuses a sha256 that does not match the bytes', async () => {
    const store = createMemoryPayloadStore({ bucket: 'payloads', keyPrefix: '' });
    await expect(
      store.put({
        connectionId: 'c',
        body: Buffer.from('x'),
        contentType: 'text/plain',
        sha256: 'ab'.repeat(32),
      }),
    ).rejects.toThrow(/does not match/);
  });
});
