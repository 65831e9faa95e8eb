import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { publish } from '../../instrumentation.js';
import { type PayloadStore, payloadKey } from './payload-store.js';

/**
 * Payloads kept in the process's memory, for mock mode where no S3 is at hand (the
 * container image, which has no development dependencies and so no s3rver): records carry
 * `s3_url`s as they would, and the bytes live as long as the process. Never for production.
 */
export interface MemoryPayloadStore extends PayloadStore {
  /** Stored objects by key. */
  readonly objects: ReadonlyMap<string, { readonly body: Buffer; readonly contentType: string }>;
}

async function bytesOf(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

export function createMemoryPayloadStore(options: {
  readonly bucket: string;
  readonly keyPrefix: string;
}): MemoryPayloadStore {
  const objects = new Map<string, { readonly body: Buffer; readonly contentType: string }>();
  return {
    objects,
    async put(payload) {
      const body = await bytesOf(payload.body);
      const sha256 = createHash('sha256').update(body).digest('hex');
      if (payload.sha256 !== undefined && payload.sha256.toLowerCase() !== sha256) {
        throw new Error('payload sha256 given by the caller does not match its bytes');
      }
      const key = payloadKey(options.keyPrefix, payload.connectionId, sha256);
      const alreadyStored = objects.get(key)?.body.length === body.length;
      if (!alreadyStored) objects.set(key, { body, contentType: payload.contentType });
      publish('s3.offloaded', { bytes: body.length });
      return {
        bucket: options.bucket,
        key,
        s3Url: `s3://${options.bucket}/${key}`,
        sha256,
        sizeBytes: body.length,
        contentType: payload.contentType,
        alreadyStored,
      };
    },
  };
}
