import { z } from 'zod';

/** The outbound messages of CONTRACT.md ("Outbound: record", "Outbound: error"). */

export const SCHEMA_VERSION = 1;

export const resourceTypes = [
  'file',
  'folder',
  'permission',
  'revision',
  'comment',
  'reply',
  'drive',
  'sync_checkpoint',
] as const;
export type ResourceType = (typeof resourceTypes)[number];

export const syncModes = ['full', 'incremental'] as const;
export type SyncMode = (typeof syncModes)[number];

export const errorClassifications = [
  'rate_limited',
  'transient',
  'auth',
  'permission',
  'not_found',
  'invalid_input',
  'quota_exhausted',
  'internal',
] as const;
export type ErrorClassification = (typeof errorClassifications)[number];

export const outboundRecordSchema = z.object({
  message_id: z.uuid(),
  schema_version: z.literal(SCHEMA_VERSION),
  customer_id: z.string(),
  integration_id: z.string(),
  integration_connection_id: z.string(),
  resource_type: z.enum(resourceTypes),
  resource_id: z.string().min(1),
  operation: z.enum(['upsert', 'delete']),
  idempotency_key: z.string(),
  sync: z.object({ mode: z.enum(syncModes), sync_id: z.string(), cursor: z.string().nullable() }),
  emitted_at: z.iso.datetime(),
  data: z.record(z.string(), z.unknown()),
  payload: z.string().nullable(),
  s3_url: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
});
export type OutboundRecord = z.infer<typeof outboundRecordSchema>;

export const errorRecordSchema = z.object({
  message_id: z.uuid(),
  schema_version: z.literal(SCHEMA_VERSION),
  customer_id: z.string().nullable(),
  integration_id: z.string(),
  integration_connection_id: z.string().nullable(),
  error: z.object({
    classification: z.enum(errorClassifications),
    code: z.string(),
    message: z.string(),
    retryable: z.boolean(),
    http_status: z.number().int().nullable(),
  }),
  source: z
    .object({
      topic: z.string(),
      partition: z.number().int(),
      offset: z.string(),
      message_id: z.string().nullable(),
    })
    .nullable(),
  resource: z.object({ type: z.string(), id: z.string() }).nullable(),
  attempt: z.number().int().min(1),
  occurred_at: z.iso.datetime(),
});
export type ErrorRecord = z.infer<typeof errorRecordSchema>;

/** Where an inbound message came from; carried into error records and `correlation-id` headers. */
export interface MessageSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly messageId: string | null;
}
