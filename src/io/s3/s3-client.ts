import { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createMemoryPayloadStore } from './memory-payload-store.js';
import { createPayloadStore, type PayloadStore } from './payload-store.js';

/**
 * The worker's S3 client: endpoint and path-style addressing for S3-compatible stores,
 * credentials from the standard AWS chain (environment, profile, web identity, instance
 * role) — never passed here, so none sits in configuration or logs. The one exception is
 * the embedded test server's fixed, public pair (`EMBEDDED_S3_CREDENTIALS`).
 */
export function createS3Client(
  config: Config['s3'],
  options: { readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string } } = {},
): S3Client {
  return new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
  });
}

/** What s3rver accepts; documented by s3rver, not a secret. */
const EMBEDDED_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface OpenedPayloadStore {
  readonly store: PayloadStore;
  /** The bucket objects go to (the embedded server's in mock mode). */
  readonly bucket: string;
  close(): Promise<void>;
}

/**
 * The payload store the configuration describes. In mock mode without S3_ENDPOINT an
 * embedded S3 server (s3rver, a development dependency) is started in-process, so content
 * and large records work with no outside service, like the mock Drive does; where s3rver is
 * not installed (the container image) payloads are kept in memory instead.
 */
export async function openPayloadStore(config: Config, logger: Logger): Promise<OpenedPayloadStore> {
  if (config.drive.mockMode && config.s3.endpoint === null) {
    const embeddedServer = await import('../../embedded/s3-server.js').catch((error: unknown) => {
      if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') return null;
      throw error;
    });
    if (embeddedServer === null) {
      const store = createMemoryPayloadStore({ bucket: config.s3.bucket, keyPrefix: config.s3.keyPrefix });
      logger.info(
        { bucket: config.s3.bucket },
        'mock mode: payloads kept in memory (no S3_ENDPOINT, and s3rver is a development dependency)',
      );
      return { store, bucket: config.s3.bucket, async close() {} };
    }
    const embedded = await embeddedServer.startEmbeddedS3({ bucket: config.s3.bucket });
    const client = createS3Client(
      { ...config.s3, endpoint: embedded.endpoint, forcePathStyle: true },
      { credentials: EMBEDDED_S3_CREDENTIALS },
    );
    logger.info({ endpoint: embedded.endpoint, bucket: embedded.bucket }, 'mock mode: embedded S3 started');
    return {
      store: createPayloadStore({ client, bucket: embedded.bucket, keyPrefix: config.s3.keyPrefix }),
      bucket: embedded.bucket,
      async close() {
        client.destroy();
        await embedded.close();
      },
    };
  }
  const client = createS3Client(config.s3);
  return {
    store: createPayloadStore({ client, bucket: config.s3.bucket, keyPrefix: config.s3.keyPrefix }),
    bucket: config.s3.bucket,
    async close() {
      client.destroy();
    },
  };
}
