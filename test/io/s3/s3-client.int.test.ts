import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { type EmbeddedS3, startEmbeddedS3 } from '../../../src/embedded/s3-server.js';
import { createS3Client } from '../../../src/io/s3/s3-client.js';

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
});
