import type { AddressInfo } from 'node:net';
import type { ConnectionInspector, ReadinessCheck } from './actors/inspection.js';
import type { Config } from './config.js';
import { buildHttpApp, type HttpApp } from './http/app.js';
import { createWorkerMetrics, type WorkerMetrics } from './http/metrics.js';
import type { MessageSink } from './io/kafka/message-sink.js';
import type { Logger } from './logger.js';
import { type RunningWorker, startWorker } from './worker.js';

export interface RunningService {
  readonly worker: RunningWorker;
  readonly http: HttpApp;
  readonly metrics: WorkerMetrics;
  /** Where the HTTP server listens, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /**
   * Graceful stop. Readiness turns 503 at once (`shutdown: shutting down`) so no new
   * traffic is routed here; the worker stops (no more fetching, in-flight pages finish and
   * checkpoint, offsets committed, producer flushed, clients closed) while health and
   * metrics still answer; then the HTTP server closes. Webhook ingress answers 503 once the
   * producer is closed, and Google retries. Safe to call more than once.
   */
  stop(): Promise<void>;
}

/**
 * The whole process minus signals: the worker and its HTTP surface (`main.ts` adds
 * signals). The HTTP server listens first, before the worker connects to Kafka, restores
 * its checkpoints and joins its group (tens of seconds after a crash, until the dead
 * member's session times out): liveness and metrics answer from the first second, and
 * readiness says the worker is still starting.
 */
export async function startService(options: {
  config: Config;
  logger: Logger;
  /** Process-level liveness checks (unhandled rejections), installed by `main.ts`. */
  extraLiveness?: readonly ReadinessCheck[];
  /** Called once the HTTP server listens, before the worker has started. */
  onListening?: (url: string) => void;
}): Promise<RunningService> {
  const { config, logger } = options;
  const metrics = createWorkerMetrics();
  let worker: RunningWorker | null = null;
  metrics.observeConsumerLag(() => worker?.consumer.status().partitions ?? []);

  let stopping: Promise<void> | null = null;
  const readiness: ReadinessCheck[] = [
    {
      name: 'startup',
      check: () =>
        worker
          ? { ok: true }
          : { ok: false, reason: 'starting: connecting to Kafka, restoring checkpoints, joining the group' },
    },
    {
      name: 'shutdown',
      check: () => (stopping ? { ok: false, reason: 'shutting down' } : { ok: true }),
    },
  ];
  const liveness: ReadinessCheck[] = [
    {
      // kafkajs restarts its consumer after retriable failures (a broker outage among them)
      // but not after others; such a process would stay unready forever, so it asks for a restart.
      name: 'consumer',
      check: () =>
        stopping || !worker || worker.consumer.status().running
          ? { ok: true }
          : { ok: false, reason: 'the inbound consumer crashed and kafkajs does not restart it' },
    },
    ...(options.extraLiveness ?? []),
  ];

  const http = await buildHttpApp({
    config,
    logger,
    inspector: lateInspector(() => worker?.supervisor ?? null),
    readiness,
    liveness,
    metrics,
    webhookSink: lateSink(() => worker?.sink ?? null),
  });
  try {
    await http.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    // Port taken or not allowed: without its probes the process is of no use.
    metrics.close();
    throw error;
  }
  const address = http.server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  options.onListening?.(url);

  try {
    worker = await startWorker({ config, logger });
  } catch (error) {
    await http.close();
    metrics.close();
    throw error;
  }
  const started = worker;
  // The worker's own checks (consumer joined, checkpoints restored) from now on.
  readiness.splice(1, 0, ...started.readiness);

  return {
    worker: started,
    http,
    metrics,
    url,
    stop() {
      stopping ??= (async () => {
        try {
          await started.stop();
        } finally {
          await http.close();
          metrics.close();
        }
      })();
      return stopping;
    },
  };
}

/** The supervisor once the worker runs; no connection before. */
function lateInspector(current: () => ConnectionInspector | null): ConnectionInspector {
  return {
    list: (filter) => current()?.list(filter) ?? [],
    get: (connectionId) => current()?.get(connectionId),
    subscribe: (connectionId, listener) => current()?.subscribe(connectionId, listener) ?? (() => undefined),
    subscribeAll: (listener) => current()?.subscribeAll(listener) ?? (() => undefined),
  };
}

/** The worker's producer once it runs; before, a send fails and the ingress answers 503 (Google retries). */
function lateSink(current: () => MessageSink | null): MessageSink {
  const sink = () => {
    const found = current();
    if (!found) throw new Error('the worker is still starting');
    return found;
  };
  return {
    send: async (messages) => sink().send(messages),
    flush: async () => current()?.flush(),
    close: async () => current()?.close(),
  };
}
