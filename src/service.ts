import type { AddressInfo } from 'node:net';
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
   * Graceful stop: the HTTP server first (new requests get 503, in-flight webhook ingress
   * finishes while the producer is still open), then the worker (no more fetching,
   * in-flight pages checkpointed, offsets committed, producer flushed, clients closed).
   */
  stop(): Promise<void>;
}

/** How often the consumer's per-partition lag is copied into the metrics. */
const LAG_SAMPLE_MS = 5_000;

/** The whole process minus signals: the worker and its HTTP surface (`main.ts` adds signals). */
export async function startService(options: { config: Config; logger: Logger }): Promise<RunningService> {
  const { config, logger } = options;
  const metrics = createWorkerMetrics();
  const worker = await startWorker({ config, logger });
  const http = await buildHttpApp({
    config,
    logger,
    inspector: worker.supervisor,
    readiness: worker.readiness,
    metrics,
    webhookSink: worker.sink,
  });
  await http.listen({ host: config.http.host, port: config.http.port });
  const address = http.server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  // Partitions this member no longer owns drop out of the metrics instead of freezing there.
  let reported = new Set<string>();
  const sampleLag = () => {
    const now = new Set<string>();
    for (const p of worker.consumer.status().partitions) {
      if (p.lag === null) continue;
      metrics.setConsumerLag(p.topic, p.partition, p.lag);
      now.add(`${p.topic}\u0000${p.partition}`);
    }
    for (const key of reported) {
      if (now.has(key)) continue;
      const [topic, partition] = key.split('\u0000') as [string, string];
      metrics.removeConsumerLag(topic, Number(partition));
    }
    reported = now;
  };
  const lagTimer = setInterval(sampleLag, LAG_SAMPLE_MS);
  lagTimer.unref();

  let stopping: Promise<void> | null = null;
  return {
    worker,
    http,
    metrics,
    url,
    stop() {
      stopping ??= (async () => {
        clearInterval(lagTimer);
        await http.close();
        await worker.stop();
        metrics.close();
      })();
      return stopping;
    },
  };
}
