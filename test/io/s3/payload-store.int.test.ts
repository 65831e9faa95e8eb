import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { type EmbeddedS3, startEmbeddedS3 } from '../../../src/embedded/s3-server.js';
import { createPayloadStore, PayloadStoreError, payloadKey } from '../../../src/io/s3/payload-store.js';
import { createS3Client } from '../../../src/io/s3/s3-client.js';
import { failureOf } from '../../../src/machines/classify.js';

let s3: EmbeddedS3;
let client: S3Client;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function read(key: string, bucket = s3.bucket): Promise<Buffer> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(
    await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

function clientFor(server: EmbeddedS3): S3Client {
  // The credentials come from the environment through the standard chain, as in production.
  Object.assign(process.env, server.env);
  return createS3Client(loadConfig(server.env).s3);
}

function chunked(bytes: Buffer, size: number): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size)
    pieces.push(bytes.subarray(offset, offset + size));
  return Readable.from(pieces);
}

beforeAll(async () => {
  s3 = await startEmbeddedS3({ bucket: 'payload-store-test' });
  client = clientFor(s3);
});

afterAll(async () => {
  client?.destroy();
  await s3?.close();
});

describe('the payload store against s3rver', () => {
  it('puts a 300 KB payload under its content address and reads back the same bytes', async () => {
    const store = createPayloadStore({ client, bucket: s3.bucket, keyPrefix: 'google-drive' });
    const body = randomBytes(300 * 1024);
    const stored = await store.put({ connectionId: 'conn_abc', body, contentType: 'application/pdf' });

    expect(stored).toEqual({
      bucket: s3.bucket,
      key: `google-drive/conn_abc/${sha256(body)}`,
      s3Url: `s3://${s3.bucket}/google-drive/conn_abc/${sha256(body)}`,
      sha256: sha256(body),
      sizeBytes: body.length,
      contentType: 'application/pdf',
      alreadyStored: false,
    });
    const back = await read(stored.key);
    expect(sha256(back)).toBe(stored.sha256);
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: stored.key }));
    expect(head.ContentType).toBe('application/pdf');
  });

  it('puts a streamed payload, spooled to disk past the threshold, with the right digest and size', async () => {
    const spoolDirectory = await mkdtemp(path.join(tmpdir(), 'spool-test-'));
    try {
      const store = createPayloadStore({
        client,
        bucket: s3.bucket,
        keyPrefix: 'google-drive',
        spoolThresholdBytes: 64 * 1024,
        spoolDirectory,
      });
      const bytes = randomBytes(1024 * 1024 + 123);
      const stored = await store.put({
        connectionId: 'conn_abc',
        body: chunked(bytes, 16 * 1024),
        contentType: 'application/octet-stream',
      });
      expect(stored.sha256).toBe(sha256(bytes));
      expect(stored.sizeBytes).toBe(bytes.length);
      expect(sha256(await read(stored.key))).toBe(sha256(bytes));
      // The spool file is gone once the put resolved.
      const { readdir } = await import('node:fs/promises');
      expect(await readdir(spoolDirectory)).toEqual([]);
    } finally {
      await rm(spoolDirectory, { recursive: true, force: true });
    }
  });

  it('a small stream stays in memory and lands the same as a buffer', async () => {
    const store = createPayloadStore({ client, bucket: s3.bucket, keyPrefix: '' });
    const bytes = Buffer.from('a small exported document\n'.repeat(50));
    const stored = await store.put({
      connectionId: 'conn/with slash',
      body: chunked(bytes, 100),
      contentType: 'text/plain',
    });
    expect(stored.key).toBe(`${encodeURIComponent('conn/with slash')}/${sha256(bytes)}`);
    expect(await read(stored.key)).toEqual(bytes);
  });

  it('is idempotent: the same bytes again find the object and upload nothing', async () => {
    const store = createPayloadStore({ client, bucket: s3.bucket, keyPrefix: 'google-drive' });
    const body = randomBytes(64 * 1024);
    const first = await store.put({ connectionId: 'conn_idem', body, contentType: 'image/png' });
    const before = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: first.key }));
    const again = await store.put({
      connectionId: 'conn_idem',
      body: Readable.from([body]),
      contentType: 'image/png',
    });

    expect(again).toEqual({ ...first, alreadyStored: true });
    const after = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: first.key }));
    expect(after.ETag).toBe(before.ETag);
    expect(after.LastModified?.getTime()).toBe(before.LastModified?.getTime());
    expect(sha256(await read(first.key))).toBe(first.sha256);
  });

  it('refuses bytes that do not match the digest the caller announced', async () => {
    const store = createPayloadStore({ client, bucket: s3.bucket, keyPrefix: 'google-drive' });
    await expect(
      store.put({
        connectionId: 'conn_abc',
        body: Buffer.from('x'),
        contentType: 'text/plain',
        sha256: sha256(Buffer.from('y')),
      }),
    ).rejects.toThrow(/does not match/);
  });

  it('a missing bucket is internal and not retried', async () => {
    let sleeps = 0;
    const store = createPayloadStore({
      client,
      bucket: 'no-such-bucket-here',
      keyPrefix: 'google-drive',
      sleep: async () => {
        sleeps++;
      },
    });
    const error = await store
      .put({ connectionId: 'c', body: Buffer.from('x'), contentType: 'text/plain' })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(PayloadStoreError);
    expect(failureOf(error)).toMatchObject({ classification: 'internal', retryable: false });
    expect((error as PayloadStoreError).attempts).toBe(1);
    expect(sleeps).toBe(0);
  });

  it('retries with backoff through an outage and returns only once the object is there', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 's3rver-outage-'));
    const first = await startEmbeddedS3({ bucket: 'outage-test', directory });
    const port = first.port;
    const outageClient = clientFor(first);
    await first.close(); // S3 is down when the put starts
    let restarted: EmbeddedS3 | null = null;
    const waits: number[] = [];
    try {
      const store = createPayloadStore({
        client: outageClient,
        bucket: 'outage-test',
        keyPrefix: 'google-drive',
        retry: { maxAttempts: 3, capMs: 1_000 },
        random: () => 0,
        sleep: async (ms) => {
          waits.push(ms);
          // The outage ends during the first wait.
          if (!restarted) restarted = await startEmbeddedS3({ bucket: 'outage-test', directory, port });
        },
      });
      const body = randomBytes(10_000);
      const stored = await store.put({
        connectionId: 'conn_outage',
        body,
        contentType: 'application/octet-stream',
      });
      expect(waits).toEqual([1_000]);
      expect(stored.alreadyStored).toBe(false);
      const got = await outageClient.send(new GetObjectCommand({ Bucket: 'outage-test', Key: stored.key }));
      const back = Buffer.from(
        await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
      expect(sha256(back)).toBe(sha256(body));
    } finally {
      outageClient.destroy();
      await (restarted as EmbeddedS3 | null)?.close();
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('gives up after the bounded attempts with a transient failure when S3 stays down', async () => {
    const down = await startEmbeddedS3({ bucket: 'down-test' });
    const downClient = clientFor(down);
    await down.close();
    const waits: number[] = [];
    try {
      const store = createPayloadStore({
        client: downClient,
        bucket: 'down-test',
        keyPrefix: 'p',
        retry: { maxAttempts: 2, capMs: 5_000 },
        random: () => 0,
        sleep: async (ms) => {
          waits.push(ms);
        },
      });
      const error = await store
        .put({ connectionId: 'c', body: Buffer.from('x'), contentType: 'text/plain' })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(PayloadStoreError);
      expect(failureOf(error)).toMatchObject({ classification: 'transient', retryable: true });
      expect((error as PayloadStoreError).attempts).toBe(3);
      expect(waits).toEqual([1_000, 2_000]);
    } finally {
      downClient.destroy();
    }
  });

  it('a put whose caller stopped (its sync ended) stops waiting to retry', async () => {
    const down = await startEmbeddedS3({ bucket: 'stopped-test' });
    const downClient = clientFor(down);
    await down.close();
    try {
      const controller = new AbortController();
      let waits = 0;
      const store = createPayloadStore({
        client: downClient,
        bucket: 'stopped-test',
        keyPrefix: 'p',
        // A wait that never ends by itself: only the put's own signal can end it.
        sleep: (_ms, signal) =>
          new Promise<void>((_resolve, reject) => {
            waits++;
            signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
            controller.abort(new Error('sync stopped'));
          }),
      });
      await expect(
        store.put({
          connectionId: 'c',
          body: Buffer.from('x'),
          contentType: 'text/plain',
          signal: controller.signal,
        }),
      ).rejects.toThrow('sync stopped');
      expect(waits).toBe(1);
    } finally {
      downClient.destroy();
    }
  });

  it('keys are content addresses under the prefix', () => {
    expect(payloadKey('google-drive/', 'conn_1', 'ab')).toBe('google-drive/conn_1/ab');
    expect(payloadKey('', 'conn_1', 'ab')).toBe('conn_1/ab');
  });
});
