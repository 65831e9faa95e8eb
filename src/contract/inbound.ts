import { z } from 'zod';

/** The inbound messages of CONTRACT.md ("Inbound: trigger", "Inbound: webhook"). */

export const triggerTypes = ['full_sync', 'incremental', 'poll', 'disconnect'] as const;
export type TriggerType = (typeof triggerTypes)[number];

export const includeKinds = ['permissions', 'revisions', 'comments', 'content'] as const;
export type IncludeKind = (typeof includeKinds)[number];

/** Default of `options.include` when a trigger omits it: content is opt-in. */
export const defaultInclude: readonly IncludeKind[] = ['permissions', 'revisions', 'comments'];

const nonEmpty = z.string().min(1);

export const syncOptionsSchema = z.object({
  include: z.array(z.enum(includeKinds)).optional(),
  drive_ids: z.array(nonEmpty).optional(),
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
  message_id: nonEmpty,
  customer_id: nonEmpty,
  integration_id: nonEmpty,
  integration_connection_id: nonEmpty,
  trigger_type: z.enum(triggerTypes),
  last_cursor: z.object({ page_token: nonEmpty, timestamp: z.string().optional() }).nullish(),
  options: syncOptionsSchema.nullish(),
});
export type TriggerMessage = z.infer<typeof triggerMessageSchema>;

/** Header names arrive lower-cased from the proxy; we accept any case and normalise. */
export const webhookHeadersSchema = z
  .record(z.string(), z.string())
  .transform((headers) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])))
  .pipe(
    z.object({
      'x-goog-channel-id': nonEmpty,
      'x-goog-resource-state': nonEmpty,
      'x-goog-channel-token': z.string().optional(),
      'x-goog-channel-expiration': z.string().optional(),
      'x-goog-resource-id': z.string().optional(),
      'x-goog-resource-uri': z.string().optional(),
      'x-goog-message-number': z.string().optional(),
      'x-goog-changed': z.string().optional(),
    }),
  );

export const webhookMessageSchema = z.object({
  message_id: nonEmpty,
  integration_id: nonEmpty,
  integration_connection_id: nonEmpty,
  customer_id: nonEmpty,
  received_at: z.string().optional(),
  headers: webhookHeadersSchema,
});
export type WebhookMessage = z.infer<typeof webhookMessageSchema>;

/** Just enough of any inbound value to route or skip it before full validation. */
export const inboundEnvelopeSchema = z.object({
  message_id: z.string().optional(),
  customer_id: z.string().optional(),
  integration_id: z.string().optional(),
  integration_connection_id: z.string().optional(),
});
export type InboundEnvelope = z.infer<typeof inboundEnvelopeSchema>;
