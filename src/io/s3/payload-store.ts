import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { publish } from '../../instrumentation.js';
import { type BackoffPolicy, nextBackoff } from '../../machines/backoff.js';
import { type CallFailure, ClassifiedError, classifyFailure } from '../../machines/classify.js';

/**
 * Where payloads too large for a Kafka record go (CONTRACT.md, "Outbound: record"):
 * content-addressed objects `{prefix}/{connectionId}/{sha256}`, so a payload re-sent after a
 * retry or a crash lands on the same key and a record's `s3_url` always names the bytes it
 * describes.
 *
 * Retrying, decided: the SDK's standard retry stays on for quick in-request retries
 * (throttling, 5xx, resets; a few attempts within about a second), and around it this store
 * retries the whole put with the project's truncated exponential backoff
 * (src/machines/backoff.ts) while the failure classifies as retryable — an S3 outage longer
 * than the SDK's window does not lose the payload; a refused credential or a missing bucket
 * (`internal`) fails at once. Each attempt re-reads the body from memory or from its spool
 * file, since a consumed stream cannot be replayed. `put` resolves only after S3 accepted
 * the object (PutObject success; S3 is strongly read-after-write consistent) or found it
 * already stored with the same size.
 */

export interface PayloadPut {
  readonly connectionId: string;
  readonly body: Buffer | Readable;
  readonly contentType: string;
  /** When the caller already knows it: checked against the bytes, a mismatch is refused. */
  readonly sha256?: string;
  /** Stops this put's requests and waits (e.g. its sync stopped), besides the store's own signal. */
  readonly signal?: AbortSignal;
}

export interface StoredPayload {
  readonly bucket: string;
  readonly key: string;
  /** `s3://{bucket}/{key}` */
  readonly s3Url: string;
  /** Lower-case hex. */
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly contentType: string;
  /** The object was there already (same key and size): nothing was uploaded. */
  readonly alreadyStored: boolean;
}

export interface PayloadStore {
  put(payload: PayloadPut): Promise<StoredPayload>;
}

export interface PayloadStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** S3_KEY_PREFIX; empty means keys start with the connection id. */
  readonly keyPrefix: string;
  /** Whole-put retries. Default 6 retries, each wait capped at 30 s. */
  readonly retry?: BackoffPolicy;
  /** Awaited between attempts. Default: a real timer, abortable through `signal`. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Streamed bodies above this size are spooled to a temporary file rather than held in memory. Default 8 MiB. */
  readonly spoolThresholdBytes?: number;
  /** Where spool files go. Default the OS temporary directory. */
  readonly spoolDirectory?: string;
  readonly signal?: AbortSignal;
}

/** An S3 failure: what happened (`callFailure`) and what it means (`failure`). */
export class PayloadStoreError extends ClassifiedError {
  constructor(
    readonly callFailure: CallFailure,
    /** Attempts made, the last one included. */
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(classifyFailure(callFailure), options);
    this.name = 'PayloadStoreError';
  }
}

export const DEFAULT_PAYLOAD_RETRY: BackoffPolicy = { maxAttempts: 6, capMs: 30_000 };
const DEFAULT_SPOOL_THRESHOLD = 8 * 1024 * 1024;

/** The content-addressed key of a payload. The connection id stays one path segment. */
export function payloadKey(keyPrefix: string, connectionId: string, sha256: string): string {
  const prefix = keyPrefix.replace(/^\/+|\/+$/g, '');
  const own = `${encodeURIComponent(connectionId)}/${sha256}`;
  return prefix === '' ? own : `${prefix}/${own}`;
}

type Spooled =
  | { readonly kind: 'memory'; readonly bytes: Buffer; readonly sha256: string; readonly size: number }
  | { readonly kind: 'file'; readonly file: string; readonly sha256: string; readonly size: number };

/** Hashes a body while keeping it replayable: in memory up to the threshold, in a temporary file beyond. */
async function spool(body: Buffer | Readable, threshold: number, directory: string): Promise<Spooled> {
  if (Buffer.isBuffer(body)) {
    return { kind: 'memory', bytes: body, sha256: sha256Of(body), size: body.length };
  }
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let size = 0;
  let spoolDirectory: string | null = null;
  let handle: FileHandle | null = null;
  try {
    for await (const piece of body) {
      const chunk = typeof piece === 'string' ? Buffer.from(piece) : (piece as Buffer);
      hash.update(chunk);
      size += chunk.length;
      if (handle) {
        await handle.write(chunk);
        continue;
      }
      chunks.push(chunk);
      if (size > threshold) {
        spoolDirectory = await mkdtemp(path.join(directory, 'payload-'));
        handle = await open(path.join(spoolDirectory, 'body'), 'w');
        for (const held of chunks) await handle.write(held);
        chunks.length = 0;
      }
    }
  } catch (error) {
    await handle?.close();
    if (spoolDirectory) await rm(spoolDirectory, { recursive: true, force: true });
    throw error;
  }
  const sha256 = hash.digest('hex');
  if (handle && spoolDirectory) {
    await handle.close();
    return { kind: 'file', file: path.join(spoolDirectory, 'body'), sha256, size };
  }
  return { kind: 'memory', bytes: Buffer.concat(chunks, size), sha256, size };
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

interface SdkErrorShape {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** One S3 request that failed, inside an attempt (the attempt loop decides what follows). */
class S3RequestFailed extends Error {
  constructor(readonly callFailure: CallFailure) {
    super(callFailure.message);
    this.name = 'S3RequestFailed';
  }
}

function failureOfS3Error(error: unknown, operation: string): S3RequestFailed {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const status = typeof shape.$metadata?.httpStatusCode === 'number' ? shape.$metadata.httpStatusCode : null;
  const name = typeof shape.name === 'string' ? shape.name : null;
  const message = typeof shape.message === 'string' && shape.message !== '' ? shape.message : String(error);
  return new S3RequestFailed({
    source: 's3',
    httpStatus: status,
    reason: name,
    location: null,
    message: `S3 ${operation} failed: ${message}`,
    retryAfterMs: null,
    ...(status === null ? { network: true } : {}),
  });
}

export function createPayloadStore(options: PayloadStoreOptions): PayloadStore {
  const { client, bucket, keyPrefix } = options;
  const policy = options.retry ?? DEFAULT_PAYLOAD_RETRY;
  const random = options.random ?? Math.random;
  const sleep =
    options.sleep ??
    ((ms: number, abort?: AbortSignal) => sleepFor(ms, undefined, abort ? { signal: abort } : {}));
  const threshold = options.spoolThresholdBytes ?? DEFAULT_SPOOL_THRESHOLD;
  const spoolDirectory = options.spoolDirectory ?? tmpdir();

  /** The stored object's size, or null when it is absent (or unreadable for us: then we upload). */
  async function storedSize(key: string, signal: AbortSignal | undefined): Promise<number | null> {
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
        ...(signal ? { abortSignal: signal } : {}),
      });
      return head.ContentLength ?? null;
    } catch (error) {
      const status = (error as SdkErrorShape).$metadata?.httpStatusCode;
      // 404: absent. 403: S3 answers HEAD of a missing key so when the role may not list the bucket.
      if (status === 404 || status === 403) return null;
      throw failureOfS3Error(error, 'HeadObject');
    }
  }

  async function attempt(
    body: Spooled,
    key: string,
    contentType: string,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    if ((await storedSize(key, signal)) === body.size) return true;
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body.kind === 'memory' ? body.bytes : createReadStream(body.file),
          ContentLength: body.size,
          ContentType: contentType,
          // S3 verifies the bytes it received against the digest we computed.
          ChecksumSHA256: Buffer.from(body.sha256, 'hex').toString('base64'),
          Metadata: { sha256: body.sha256 },
        }),
        { ...(signal ? { abortSignal: signal } : {}) },
      );
    } catch (error) {
      throw failureOfS3Error(error, 'PutObject');
    }
    return false;
  }

  return {
    async put(payload) {
      const signals = [options.signal, payload.signal].filter((s): s is AbortSignal => s !== undefined);
      const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
      const body = await spool(payload.body, threshold, spoolDirectory);
      try {
        if (payload.sha256 !== undefined && payload.sha256.toLowerCase() !== body.sha256) {
          throw new Error('payload sha256 given by the caller does not match its bytes');
        }
        const key = payloadKey(keyPrefix, payload.connectionId, body.sha256);
        for (let retries = 0; ; retries++) {
          let failure: CallFailure;
          try {
            const alreadyStored = await attempt(body, key, payload.contentType, signal);
            publish('s3.offloaded', { bytes: body.size });
            return {
              bucket,
              key,
              s3Url: `s3://${bucket}/${key}`,
              sha256: body.sha256,
              sizeBytes: body.size,
              contentType: payload.contentType,
              alreadyStored,
            };
          } catch (thrown) {
            if (!(thrown instanceof S3RequestFailed)) throw thrown;
            failure = thrown.callFailure;
          }
          const classified = classifyFailure(failure);
          const decision = classified.retryable
            ? nextBackoff(retries, failure.retryAfterMs, random, policy)
            : null;
          if (decision === null || decision.kind === 'give_up')
            throw new PayloadStoreError(failure, retries + 1);
          await sleep(decision.delayMs, signal);
        }
      } finally {
        if (body.kind === 'file') await rm(path.dirname(body.file), { recursive: true, force: true });
      }
    },
  };
}
