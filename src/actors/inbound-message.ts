import { quoteBounded, quoteId } from '../contract/bounds.js';
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
      : { kind: 'invalid', envelope, problem: describeIssues(parsed.error.issues, json) };
  }
  if (topic === topics.webhook) {
    const parsed = webhookMessageSchema.safeParse(json);
    return parsed.success
      ? { kind: 'webhook', message: parsed.data }
      : { kind: 'invalid', envelope, problem: describeIssues(parsed.error.issues, json) };
  }
  return { kind: 'invalid', envelope, problem: `unexpected topic ${quoteBounded(topic)}` };
}

/**
 * The ids an error record may quote: an id within the id bounds whole (its record still
 * belongs to its connection), one outside them cut to its first characters and its length, so the record, its key and its headers stay small
 * and still point at the message.
 */
function readableIds(envelope: InboundEnvelope): InboundEnvelope {
  const quote = (v: string | undefined) => (v === undefined || v === '' ? undefined : quoteId(v));
  return {
    message_id: quote(envelope.message_id),
    customer_id: quote(envelope.customer_id),
    integration_id: quote(envelope.integration_id),
    integration_connection_id: quote(envelope.integration_connection_id),
  };
}

/** How large the offending value is, so a bound's error says by how much it was missed. */
function sizeAt(json: unknown, path: readonly PropertyKey[]): string {
  let value: unknown = json;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  if (typeof value === 'string') return ` (${value.length} chars)`;
  if (Array.isArray(value)) return ` (${value.length} items)`;
  if (value !== null && typeof value === 'object') return ` (${Object.keys(value).length} keys)`;
  return '';
}

/**
 * Names the fields at fault without echoing their values (a value may be a token); field
 * names come from the message too, so each is quoted within bounds.
 */
function describeIssues(
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>,
  json: unknown,
): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const field = issue.path.map((segment) => quoteBounded(String(segment), 32)).join('.') || 'value';
      return `${field}: ${quoteBounded(issue.message, 200)}${sizeAt(json, issue.path)}`;
    })
    .join('; ');
}
