import { z } from 'zod';
import {
  boundedText,
  connectionIdSchema,
  MAX_CURSOR_LENGTH,
  MAX_DRIVE_IDS,
  MAX_HEADER_NAME_LENGTH,
  MAX_HEADER_VALUE_LENGTH,
  MAX_HEADERS,
  MAX_INCLUDE_ITEMS,
  opaqueIdSchema,
} from './bounds.js';

/** The inbound messages of CONTRACT.md ("Inbound: trigger", "Inbound: webhook"). */

export const triggerTypes = ['full_sync', 'incremental', 'poll', 'disconnect'] as const;
export type TriggerType = (typeof triggerTypes)[number];

export const includeKinds = ['permissions', 'revisions', 'comments', 'content'] as const;
export type IncludeKind = (typeof includeKinds)[number];

/** Default of `options.include` when a trigger omits it: content is opt-in. */
export const defaultInclude: readonly IncludeKind[] = ['permissions', 'revisions', 'comments'];

/** Bounds of every field: see bounds.ts and the README's "Inbound bounds". */
export const syncOptionsSchema = z.object({
  include: z.array(z.enum(includeKinds)).max(MAX_INCLUDE_ITEMS).optional(),
  drive_ids: z.array(opaqueIdSchema).max(MAX_DRIVE_IDS).optional(),
});
export type SyncOptionsInput = z.infer<typeof syncOptionsSchema>;

/** The effective options of a sync, defaults applied. `driveIds: null` means My Drive plus every shared drive. */
export interface SyncOptions {
  readonly include: readonly IncludeKind[];
  readonly driveIds: readonly string[] | null;
}

export function resolveSyncOptions(input: SyncOptionsInput | undefined): SyncOptions {
  const include = input?.include ? [...new Set(input.include)] : [...defaultInclude];
  const driveIds = input?.drive_ids && input.drive_ids.length > 0 ? [...new Set(input.drive_ids)] : null;
  return { include, driveIds };
}

export const triggerMessageSchema = z.object({
  message_id: opaqueIdSchema,
  customer_id: opaqueIdSchema,
  integration_id: opaqueIdSchema,
  integration_connection_id: connectionIdSchema,
  trigger_type: z.enum(triggerTypes),
  last_cursor: z
    .object({ page_token: boundedText(MAX_CURSOR_LENGTH).min(1), timestamp: boundedText(64).optional() })
    .nullish(),
  options: syncOptionsSchema.nullish(),
});
export type TriggerMessage = z.infer<typeof triggerMessageSchema>;

const headerValue = boundedText(MAX_HEADER_VALUE_LENGTH);

/** Header names arrive lower-cased from the proxy; we accept any case and normalise. */
export const webhookHeadersSchema = z
  .record(z.string().min(1).max(MAX_HEADER_NAME_LENGTH), headerValue)
  .refine((headers) => Object.keys(headers).length <= MAX_HEADERS, {
    message: `must hold at most ${MAX_HEADERS} headers`,
  })
  .transform((headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])))
  .pipe(
    z.object({
      'x-goog-channel-id': opaqueIdSchema,
      'x-goog-resource-state': opaqueIdSchema,
      'x-goog-channel-token': headerValue.optional(),
      'x-goog-channel-expiration': headerValue.optional(),
      'x-goog-resource-id': headerValue.optional(),
      'x-goog-resource-uri': headerValue.optional(),
      'x-goog-message-number': headerValue.optional(),
      'x-goog-changed': headerValue.optional(),
    }),
  );

export const webhookMessageSchema = z.object({
  message_id: opaqueIdSchema,
  integration_id: opaqueIdSchema,
  integration_connection_id: connectionIdSchema,
  customer_id: opaqueIdSchema,
  received_at: boundedText(64).optional(),
  headers: webhookHeadersSchema,
});
export type WebhookMessage = z.infer<typeof webhookMessageSchema>;

/**
 * Just enough of any inbound value to route or skip it before full validation. Unbounded on
 * purpose: an oversized id still routes its message to one (quoted, truncated) error record.
 */
export const inboundEnvelopeSchema = z.object({
  message_id: z.string().optional(),
  customer_id: z.string().optional(),
  integration_id: z.string().optional(),
  integration_connection_id: z.string().optional(),
});
export type InboundEnvelope = z.infer<typeof inboundEnvelopeSchema>;
