import { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.js';

/**
 * The worker's S3 client: endpoint and path-style addressing for S3-compatible stores,
 * credentials from the standard AWS chain (environment, profile, web identity, instance
 * role) — never passed here, so none sits in configuration or logs.
 */
export function createS3Client(config: Config['s3']): S3Client {
  return new S3Client({
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
  });
}
