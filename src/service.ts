import type { AddressInfo } from 'node:net';
import type { ReadinessCheck } from './actors/inspection.js';
import type { Config } from './config.js';
import { buildHttpApp, type HttpApp } from './http/app.js';
import { createWorkerMetrics, type WorkerMetrics } from './http/metrics.js';
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

/** The whole process minus signals: the worker and its HTTP surface (`main.ts` adds signals). */
export async function startService(options: {
  config: Config;
  logger: Logger;
  /** Process-level liveness checks (unhandled rejections), installed by `main.ts`. */
  extraLiveness?: readonly ReadinessCheck[];
}): Promise<RunningService> {
  const { config, logger } = options;
  const metrics = createWorkerMetrics();
  const worker = await startWorker({ config, logger });
  metrics.observeConsumerLag(() => worker.consumer.status().partitions);

  let stopping: Promise<void> | null = null;
  const readiness: ReadinessCheck[] = [
    ...worker.readiness,
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
        stopping || worker.consumer.status().running
          ? { ok: true }
          : { ok: false, reason: 'the inbound consumer crashed and kafkajs does not restart it' },
    },
    ...(options.extraLiveness ?? []),
  ];

  const http = await buildHttpApp({
    config,
    logger,
    inspector: worker.supervisor,
    readiness,
    liveness,
    metrics,
    webhookSink: worker.sink,
  });
  try {
    await http.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    // Port taken or not allowed: without its probes the process is of no use.
    await worker.stop().catch(() => undefined);
    metrics.close();
    throw error;
  }
  const address = http.server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  return {
    worker,
    http,
    metrics,
    url,
    stop() {
      stopping ??= (async () => {
        try {
          await worker.stop();
        } finally {
          await http.close();
          metrics.close();
        }
      })();
      return stopping;
    },
  };
}
