import {
  type InboundEnvelope,
  inboundEnvelopeSchema,
  type TriggerMessage,
  triggerMessageSchema,
  type WebhookMessage,
  webhookMessageSchema,
} from '../contract/inbound.js';

/**
 * What one inbound Kafka value means for the worker (CONTRACT.md, "Topics" and the two
 * inbound schemas). Pure: parsing, validation and routing decisions only.
 */
export type InboundInterpretation =
  | { readonly kind: 'trigger'; readonly message: TriggerMessage }
  | { readonly kind: 'webhook'; readonly message: WebhookMessage }
  /** Another integration's message, or one without a value: skipped, offset committed, counted. */
  | { readonly kind: 'skip'; readonly reason: 'other_integration' | 'tombstone' }
  /** Not JSON or not the schema: one `invalid_input` error record, offset committed. */
  | { readonly kind: 'invalid'; readonly envelope: InboundEnvelope; readonly problem: string };

export interface InboundTopics {
  readonly trigger: string;
  readonly webhook: string;
}

export function interpretInbound(
  topic: string,
  value: Buffer | null,
  integrationId: string,
  topics: InboundTopics,
): InboundInterpretation {
  if (value === null) return { kind: 'skip', reason: 'tombstone' };
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch {
    return { kind: 'invalid', envelope: {}, problem: 'value is not valid JSON' };
  }
  const envelopeResult = inboundEnvelopeSchema.safeParse(json);
  const envelope: InboundEnvelope = envelopeResult.success ? readableIds(envelopeResult.data) : {};
  if (!envelopeResult.success || typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { kind: 'invalid', envelope, problem: 'value is not a JSON object with string ids' };
  }
  if (envelope.integration_id !== undefined && envelope.integration_id !== integrationId) {
    return { kind: 'skip', reason: 'other_integration' };
  }
  if (topic === topics.trigger) {
    const parsed = triggerMessageSchema.safeParse(json);
    return parsed.success
      ? { kind: 'trigger', message: parsed.data }
      : { kind: 'invalid', envelope, problem: describeIssues(parsed.error.issues) };
  }
  if (topic === topics.webhook) {
    const parsed = webhookMessageSchema.safeParse(json);
    return parsed.success
      ? { kind: 'webhook', message: parsed.data }
      : { kind: 'invalid', envelope, problem: describeIssues(parsed.error.issues) };
  }
  return { kind: 'invalid', envelope, problem: `unexpected topic ${topic}` };
}

/** Keeps ids that are plausible to echo into an error record (bounded, no control characters). */
function readableIds(envelope: InboundEnvelope): InboundEnvelope {
  const keep = (v: string | undefined) =>
    v !== undefined && v.length <= 256 && !/[\p{Cc}]/u.test(v) ? v : undefined;
  return {
    message_id: keep(envelope.message_id),
    customer_id: keep(envelope.customer_id),
    integration_id: keep(envelope.integration_id),
    integration_connection_id: keep(envelope.integration_connection_id),
  };
}

/** Names the fields at fault without echoing their values (a value may be a token). */
function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${issue.path.map(String).join('.') || 'value'}: ${issue.message}`)
    .join('; ');
}
