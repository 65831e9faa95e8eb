import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { opaqueIdSchema, quoteBounded } from '../../contract/bounds.js';
import { webhookMessageSchema } from '../../contract/inbound.js';
import type { MessageSink } from '../../io/kafka/message-sink.js';
import { parseOr400 } from '../validation.js';
import { type Notification, WebhookGuard } from '../webhook-guard.js';
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
 *
 * Before producing, the notification passes the guard (src/http/webhook-guard.ts). Answers,
 * chosen for how Google treats them (DRIVE_API.md: 2xx is success, 500/502/503/504 are
 * retried with backoff, anything else is a failed delivery that is not retried):
 * - a token that does not verify → 403: a forgery is not retried by Google and costs no
 *   produce and no error record; Google never sends one for a channel of ours.
 * - a (channel, message number) already produced → 200: Google's own duplicate or a replay,
 *   acknowledged so it is not sent again, and not produced twice.
 * - over the channel's rate → 503 with Retry-After: a genuine burst is retried later.
 */

export const UNKNOWN_CUSTOMER = 'unknown';

const paramsSchema = z.object({ connectionId: connectionIdSchema });
const querySchema = z.object({ customer_id: opaqueIdSchema.optional() });
const requiredHeadersSchema = z.object({
  'x-goog-channel-id': z.string().min(1, { message: 'X-Goog-Channel-ID is required' }),
  'x-goog-resource-state': z.string().min(1, { message: 'X-Goog-Resource-State is required' }),
  // Google sends it on every notification; the replay window is keyed by it.
  'x-goog-message-number': z.string().regex(/^\d{1,20}$/, { message: 'X-Goog-Message-Number is required' }),
});

export type WebhookRefusal = 'bad_token' | 'replay' | 'rate_limited';

export interface WebhookIngressOptions {
  readonly sink: MessageSink;
  readonly topic: string;
  readonly integrationId: string;
  readonly guard: {
    readonly tokenSecret: string;
    readonly burstPerChannel: number;
    readonly ratePerSecond: number;
  };
  readonly refused?: (reason: WebhookRefusal) => void;
  readonly now?: () => Date;
}

export const webhookIngressRoute: FastifyPluginAsync<WebhookIngressOptions> = async (app, options) => {
  const now = options.now ?? (() => new Date());
  const guard = new WebhookGuard({
    tokenKey: options.guard.tokenSecret,
    burstPerChannel: options.guard.burstPerChannel,
    ratePerSecond: options.guard.ratePerSecond,
  });
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
      'x-goog-message-number': request.headers['x-goog-message-number'] ?? '',
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
    const messageNumber = required.data['x-goog-message-number'];
    const notification: Notification = {
      connectionId: params.connectionId,
      channelId: required.data['x-goog-channel-id'],
      token: googHeaders['x-goog-channel-token'],
      messageNumber,
    };
    const verdict = guard.check(notification, now().getTime());
    switch (verdict.kind) {
      case 'refuse':
        options.refused?.('bad_token');
        request.log.warn(
          { connectionId: params.connectionId, channelId: notification.channelId },
          'webhook channel token does not verify: refused, nothing produced',
        );
        return reply.code(403).send({ error: 'forbidden', message: 'channel token does not verify' });
      case 'replay':
        options.refused?.('replay');
        return reply.code(200).send();
      case 'rate_limited':
        options.refused?.('rate_limited');
        return reply
          .code(503)
          .header('retry-after', String(verdict.retryAfterSeconds))
          .send({ error: 'rate_limited', message: 'too many notifications for this channel' });
      case 'produce':
        break;
    }
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
      guard.failed(notification);
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
