import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { opaqueIdSchema, quoteBounded } from '../../contract/bounds.js';
import { webhookMessageSchema } from '../../contract/inbound.js';
import type { MessageSink } from '../../io/kafka/message-sink.js';
import { parseOr400 } from '../validation.js';
import { connectionIdSchema } from './connection-id.js';

/**
 * `POST /webhooks/google-drive/:connectionId` (HTTP_WEBHOOK_INGRESS): what the platform's
 * webhook proxy does, for deployments without one. Google's notification is headers only;
 * they become the contract's webhook message on the webhook topic, keyed by the connection
 * id. 200 only once Kafka acknowledged, so when the produce fails Google gets a 503 and
 * retries the notification with its own backoff.
 *
 * Google sends nothing but the X-Goog-* headers, so the customer id can only come from the
 * channel address the worker registered: `?customer_id=` on it, else `unknown` (the worker
 * routes webhooks by connection id and takes the customer from the connection's checkpoint).
 */

export const UNKNOWN_CUSTOMER = 'unknown';

const paramsSchema = z.object({ connectionId: connectionIdSchema });
const querySchema = z.object({ customer_id: opaqueIdSchema.optional() });
const requiredHeadersSchema = z.object({
  'x-goog-channel-id': z.string().min(1, { message: 'X-Goog-Channel-ID is required' }),
  'x-goog-resource-state': z.string().min(1, { message: 'X-Goog-Resource-State is required' }),
});

export interface WebhookIngressOptions {
  readonly sink: MessageSink;
  readonly topic: string;
  readonly integrationId: string;
  readonly now?: () => Date;
}

export const webhookIngressRoute: FastifyPluginAsync<WebhookIngressOptions> = async (app, options) => {
  const now = options.now ?? (() => new Date());
  // Google posts an empty body, with or without a content type; whatever comes is ignored.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_request, _body, done) =>
    done(null, undefined),
  );

  app.post('/webhooks/google-drive/:connectionId', async (request, reply) => {
    const params = parseOr400(paramsSchema, request.params, reply);
    if (!params) return reply;
    const query = parseOr400(querySchema, request.query, reply);
    if (!query) return reply;
    const required = requiredHeadersSchema.safeParse({
      'x-goog-channel-id': request.headers['x-goog-channel-id'] ?? '',
      'x-goog-resource-state': request.headers['x-goog-resource-state'] ?? '',
    });
    if (!required.success) {
      return reply.code(400).send({
        error: 'bad_request',
        issues: required.error.issues.map((issue) => ({
          path: issue.path.join('.'),
          message: issue.message,
        })),
      });
    }
    // Node lower-cases header names already; repeated headers are joined as Google never repeats them.
    const googHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (!name.startsWith('x-goog-') || value === undefined) continue;
      googHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    // The same schema the worker applies to the webhook topic: a notification it would
    // refuse there (a header out of bounds) is refused here, before it costs a produce.
    const parsed = webhookMessageSchema.safeParse({
      message_id: randomUUID(),
      integration_id: options.integrationId,
      integration_connection_id: params.connectionId,
      customer_id: query.customer_id ?? UNKNOWN_CUSTOMER,
      received_at: now().toISOString(),
      headers: googHeaders,
    });
    if (!parsed.success) {
      return reply.code(400).send({
        error: 'bad_request',
        issues: parsed.error.issues.slice(0, 5).map((issue) => ({
          path: issue.path.map((segment) => quoteBounded(String(segment), 32)).join('.'),
          message: issue.message,
        })),
      });
    }
    const message = parsed.data;
    const messageNumber = googHeaders['x-goog-message-number'] ?? message.message_id;
    try {
      await options.sink.send([
        {
          topic: options.topic,
          key: params.connectionId,
          value: JSON.stringify(message),
          headers: {
            'content-type': 'application/json',
            'idempotency-key': `${options.integrationId}:${params.connectionId}:webhook:${googHeaders['x-goog-channel-id']}:${messageNumber}`,
            'resource-type': 'webhook',
            'correlation-id': message.message_id,
          },
        },
      ]);
    } catch (error) {
      // The error's name only: a producer error may quote the message, and the message holds the channel token.
      request.log.warn(
        { connectionId: params.connectionId, error: error instanceof Error ? error.name : 'error' },
        'webhook notification not produced; Google will retry',
      );
      return reply.code(503).header('retry-after', '5').send({ error: 'unavailable' });
    }
    return reply.code(200).send();
  });
};
