import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

export interface EmbeddedS3 {
  readonly endpoint: string;
  readonly bucket: string;
  close(): Promise<void>;
}

/**
 * An S3-protocol server (s3rver) on 127.0.0.1 with one bucket, for tests and the demo.
 * s3rver accepts the fixed credentials S3RVER/S3RVER; callers put them in the standard
 * AWS environment variables so the worker's client finds them through the usual chain.
 */
export async function startEmbeddedS3(options: { bucket: string }): Promise<EmbeddedS3> {
  const directory = await mkdtemp(path.join(tmpdir(), 's3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  const address: AddressInfo = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket: options.bucket,
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
