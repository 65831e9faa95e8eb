import { Writable } from 'node:stream';
import type { ReadinessCheck } from '../../src/actors/inspection.js';
import { loadConfig } from '../../src/config.js';
import { buildHttpApp, type HttpApp } from '../../src/http/app.js';
import { createWorkerMetrics, type WorkerMetrics } from '../../src/http/metrics.js';
import type { MessageSink, OutboundMessage } from '../../src/io/kafka/message-sink.js';
import { createLogger } from '../../src/logger.js';
import { InMemoryInspector } from './in-memory-inspector.js';

/** A MessageSink that keeps what it was given, or fails while `failing` is set. */
export class RecordingSink implements MessageSink {
  readonly sent: OutboundMessage[] = [];
  failing = false;
  async send(messages: readonly OutboundMessage[]): Promise<void> {
    if (this.failing) throw new Error('broker unavailable');
    this.sent.push(...messages);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface HttpFixture {
  readonly app: HttpApp;
  readonly inspector: InMemoryInspector;
  readonly metrics: WorkerMetrics;
  readonly sink: RecordingSink;
  /** Every log line the app wrote, to check that no secret reached them. */
  readonly logLines: string[];
  close(): Promise<void>;
}

export async function httpFixture(
  options: {
    env?: Record<string, string>;
    readiness?: ReadinessCheck[];
    liveness?: ReadinessCheck[];
    inspector?: InMemoryInspector;
    sseKeepAliveMs?: number;
    sseMaxBufferedBytes?: number;
  } = {},
): Promise<HttpFixture> {
  const config = loadConfig({ HTTP_PORT: '0', ...options.env });
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logLines.push(String(chunk));
      callback();
    },
  });
  const logger = createLogger({ level: 'debug', format: 'json', destination });
  const inspector = options.inspector ?? new InMemoryInspector();
  const metrics = createWorkerMetrics();
  const sink = new RecordingSink();
  const app = await buildHttpApp({
    config,
    logger,
    inspector,
    readiness: options.readiness ?? [],
    liveness: options.liveness ?? [],
    metrics,
    webhookSink: sink,
    sseKeepAliveMs: options.sseKeepAliveMs,
    sseMaxBufferedBytes: options.sseMaxBufferedBytes,
  });
  return {
    app,
    inspector,
    metrics,
    sink,
    logLines,
    async close() {
      await app.close();
      metrics.close();
    },
  };
}
