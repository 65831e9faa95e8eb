import Fastify, {
  type FastifyInstance,
  LogController,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { ConnectionInspector, ReadinessCheck } from '../actors/inspection.js';
import type { Config } from '../config.js';
import { MAX_ID_LENGTH } from '../contract/bounds.js';
import type { MessageSink } from '../io/kafka/message-sink.js';
import type { Logger } from '../logger.js';
import { requireToken } from './auth.js';
import type { WorkerMetrics } from './metrics.js';
import { connectionEventsRoute } from './routes/connection-events.js';
import { connectionGetRoute } from './routes/connection-get.js';
import { connectionsListRoute } from './routes/connections-list.js';
import { eventsRoute } from './routes/events.js';
import { healthLiveRoute } from './routes/health-live.js';
import { healthReadyRoute } from './routes/health-ready.js';
import { metricsRoute } from './routes/metrics.js';
import { statusPageRoute } from './routes/status-page.js';
import { webhookIngressRoute } from './routes/webhook-ingress.js';
import { DEFAULT_SSE_MAX_BUFFERED_BYTES, EventStreams } from './sse.js';

export interface HttpAppDeps {
  readonly config: Pick<Config, 'http' | 'kafka' | 'worker'>;
  readonly logger: Logger;
  readonly inspector: ConnectionInspector;
  readonly readiness: readonly ReadinessCheck[];
  /** What `/health/live` checks besides answering at all: only states a restart would cure. */
  readonly liveness?: readonly ReadinessCheck[];
  readonly metrics: WorkerMetrics;
  /** Required when config.http.webhookIngress is on; the ingress route is not registered otherwise. */
  readonly webhookSink?: MessageSink;
  /** Interval of SSE keep-alive comments; 15 s by default (below common 30–60 s proxy idle timeouts). */
  readonly sseKeepAliveMs?: number;
  /** Unsent bytes after which an SSE client counts as not reading and is dropped; 1 MiB by default. */
  readonly sseMaxBufferedBytes?: number;
}

/** Requests carry no bodies but the webhook's (empty); 64 KiB is room to spare and no more. */
export const HTTP_BODY_LIMIT_BYTES = 64 * 1024;

export type HttpApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  Logger
>;

/**
 * The worker's HTTP surface as one Fastify instance, not listening: `startService`
 * (src/service.ts) listens on `config.http.host:port`, tests call `app.inject()`.
 * Closing the app ends open event streams first, so shutdown never waits on a browser tab.
 */
export async function buildHttpApp(deps: HttpAppDeps): Promise<HttpApp> {
  const { config } = deps;
  if (config.http.webhookIngress && !deps.webhookSink) {
    throw new Error('HTTP_WEBHOOK_INGRESS is on but no webhook sink was given to buildHttpApp');
  }
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }),
    // No per-request lines: probes and scrapes every few seconds would drown the log, and
    // a request line would carry `/?token=…`. Handlers log what matters themselves.
    logController: new LogController({ disableRequestLogging: true }),
    // While closing, new requests get 503 so the load balancer moves on.
    return503OnClosing: true,
    // Fastify's default (100) would answer 414 for connection ids the Kafka side accepts:
    // room for the longest id, every character percent-encoded; the schema judges the rest.
    routerOptions: { maxParamLength: 3 * MAX_ID_LENGTH },
    bodyLimit: HTTP_BODY_LIMIT_BYTES,
    // A request whose headers and body do not arrive within the timeout gets 408, so a client
    // trickling bytes cannot hold a socket and a handler forever; idle keep-alive sockets close.
    requestTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: config.http.idleTimeoutMs,
    http: {
      requestTimeout: config.http.requestTimeoutMs,
      headersTimeout: config.http.requestTimeoutMs,
      keepAliveTimeout: config.http.idleTimeoutMs,
      // Node checks the timeouts above only this often (30 s by default).
      connectionsCheckingInterval: Math.min(1000, config.http.requestTimeoutMs / 2),
    },
  });
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) {
      // The route pattern, not the URL: a URL may carry `?token=`.
      request.log.error(
        { err: error, method: request.method, route: request.routeOptions.url },
        'request failed',
      );
      return reply.code(status).send({ error: 'internal', message: 'internal error' });
    }
    return reply.code(status).send({ error: 'bad_request', message: error.message });
  });
  const streams = new EventStreams({
    keepAliveMs: deps.sseKeepAliveMs ?? 15_000,
    maxBufferedBytes: deps.sseMaxBufferedBytes ?? DEFAULT_SSE_MAX_BUFFERED_BYTES,
    onDropped: () => deps.metrics.sseClientsDropped.inc(),
  });
  app.addHook('preClose', async () => streams.endAll());
  deps.metrics.observeConnections(deps.inspector);

  await app.register(healthLiveRoute, { liveness: deps.liveness ?? [] });
  await app.register(healthReadyRoute, { readiness: deps.readiness });
  await app.register(metricsRoute, { metrics: deps.metrics });

  const authToken = config.http.authToken;
  await app.register(async (protectedScope) => {
    protectedScope.addHook('onRequest', requireToken(authToken));
    await protectedScope.register(connectionsListRoute, { inspector: deps.inspector });
    await protectedScope.register(connectionGetRoute, { inspector: deps.inspector });
    await protectedScope.register(connectionEventsRoute, { inspector: deps.inspector, streams });
    await protectedScope.register(eventsRoute, { inspector: deps.inspector, streams });
  });
  // The page checks the token itself: it also accepts `?token=` once and answers with a form.
  await app.register(statusPageRoute, { authToken });

  if (config.http.webhookIngress && deps.webhookSink) {
    await app.register(webhookIngressRoute, {
      sink: deps.webhookSink,
      guard: config.http.webhookIngress,
      refused: (reason) => deps.metrics.webhooksRefused.inc({ reason }),
      topic: config.kafka.topics.webhook,
      integrationId: config.worker.integrationId,
    });
  }
  return app;
}
