import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';

export interface EmbeddedS3 {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  /**
   * The environment that points the worker at this server: its S3_* configuration and the
   * fixed credentials s3rver accepts (S3RVER/S3RVER) as AWS_ACCESS_KEY_ID /
   * AWS_SECRET_ACCESS_KEY, so the client finds them through the standard AWS chain and the
   * worker never passes credentials itself. Merge into `process.env` (or pass to loadConfig
   * and set the two AWS variables) before creating the client.
   */
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export interface EmbeddedS3Options {
  /** 3 to 63 characters (S3's rule). */
  readonly bucket: string;
  /** 0 (default) picks a free port; a fixed one lets a test restart the server in place. */
  readonly port?: number;
  /** Where objects live; a fresh temporary directory (removed on close) unless given. */
  readonly directory?: string;
}

/** An S3-protocol server (s3rver) on 127.0.0.1 with one bucket, for tests and the demo. */
export async function startEmbeddedS3(options: EmbeddedS3Options): Promise<EmbeddedS3> {
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? (await mkdtemp(path.join(tmpdir(), 's3rver-')));
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  const address: AddressInfo = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    port: address.port,
    bucket: options.bucket,
    env: {
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      S3_BUCKET_NAME: options.bucket,
      S3_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
    async close() {
      await server.close();
      if (ownDirectory) await rm(directory, { recursive: true, force: true });
    },
  };
}
