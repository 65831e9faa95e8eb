import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApacheKafka, startApacheKafka } from '../../src/embedded/apache-kafka.js';
import { type TopicRole, topicConfigsFor } from '../../src/io/kafka/topic-layout.js';
import { createLogger } from '../../src/logger.js';
import { type RunningService, startService } from '../../src/service.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Readiness follows the broker: 503 naming the reason while the (only) broker process is
 * killed, liveness unaffected, 200 again once it is restarted with its data. On a broker of
 * this file's own, since killing the shared one would disturb every other test.
 */
describe('readiness while the broker is down', () => {
  let world: WorkerWorld;
  let broker: ApacheKafka;
  let service: RunningService | undefined;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 20, users: 1, sharedDrives: 0 }, 5);
    broker = await startApacheKafka({ brokers: 1 });
    await broker.createTopics(
      (Object.entries(world.topics) as Array<[TopicRole, string]>).map(([role, name]) => ({
        name,
        partitions: 2,
        configs: topicConfigsFor(role),
      })),
    );
  });

  afterAll(async () => {
    await service?.stop().catch(() => undefined);
    await broker?.stop();
    await world?.stop();
  });

  it('answers 503 with the reason while the broker is gone, and 200 again once it is back', async () => {
    const running = await startService({
      config: world.config({
        KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers.join(','),
        KAFKA_CONSUMER_SESSION_TIMEOUT_MS: '6000',
        KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: '500',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: '0',
      }),
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
    service = running;
    const ready = async () => {
      const response = await fetch(`${running.url}/health/ready`);
      return { status: response.status, body: await response.text() };
    };
    await until(async () => (await ready()).status === 200, 'ready', 30_000);

    await broker.kill(1);
    await until(async () => (await ready()).status === 503, 'not ready with the broker down', 90_000, 500);
    expect((await ready()).body).toMatch(/consumer group/);
    expect((await fetch(`${running.url}/health/live`)).status).toBe(200);

    await broker.restart(1);
    await until(async () => (await ready()).status === 200, 'ready again', 90_000, 500);
  });
});
