import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { type EmbeddedS3, startEmbeddedS3 } from '../../../src/embedded/s3-server.js';
import { createS3Client, openPayloadStore } from '../../../src/io/s3/s3-client.js';
import { createLogger } from '../../../src/logger.js';

describe('the S3 client against s3rver', () => {
  let s3: EmbeddedS3;
  beforeAll(async () => {
    s3 = await startEmbeddedS3({ bucket: 'gdrive-worker-test' });
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  });
  afterAll(async () => {
    await s3?.close();
  });

  it('puts and gets a 300 KB object with path-style addressing', async () => {
    const config = loadConfig({
      S3_ENDPOINT: s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_BUCKET_NAME: s3.bucket,
    });
    const client = createS3Client(config.s3);
    const body = Buffer.alloc(300 * 1024, 7);
    const key = `google-drive/conn_test/${createHash('sha256').update(body).digest('hex')}`;
    await client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: key,
        Body: body,
        ContentType: 'application/octet-stream',
      }),
    );
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    const bytes = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(key.split('/').at(-1));
    client.destroy();
  });

  it('in mock mode without S3_ENDPOINT, the payload store is an embedded S3 started for the worker', async () => {
    const config = loadConfig({ GOOGLE_DRIVE_MOCK_MODE: 'true', S3_BUCKET_NAME: 'mock-payloads' });
    const opened = await openPayloadStore(config, createLogger({ level: 'silent', format: 'json' }));
    try {
      const body = Buffer.from('mock content');
      const stored = await opened.store.put({ connectionId: 'conn_demo', body, contentType: 'text/plain' });
      const sha = createHash('sha256').update(body).digest('hex');
      expect(stored).toMatchObject({
        bucket: 'mock-payloads',
        key: `google-drive/conn_demo/${sha}`,
        sha256: sha,
        sizeBytes: body.length,
      });
      // stored once, found the second time
      expect(
        (await opened.store.put({ connectionId: 'conn_demo', body, contentType: 'text/plain' }))
          .alreadyStored,
      ).toBe(true);
    } finally {
      await opened.close();
    }
  });
});
