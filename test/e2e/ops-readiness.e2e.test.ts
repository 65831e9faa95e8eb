import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedKafka, startEmbeddedKafka } from '../../src/embedded/kafka-broker.js';
import { createLogger } from '../../src/logger.js';
import { type RunningService, startService } from '../../src/service.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Readiness follows the broker: 503 naming the reason while the (only) broker is down,
 * liveness unaffected, 200 again once it is back. On a broker of this file's own, since
 * taking the shared one down would disturb every other test.
 *
 * Most of the time (about a minute) is the embedded broker's: the member that vanished with
 * the broker never left the group, and the mock makes each rejoin wait the group's session
 * timeout (30 s) minus 1 s, twice here (README, "The embedded Kafka broker").
 */
describe('readiness while the broker is down', () => {
  let world: WorkerWorld;
  let broker: EmbeddedKafka;
  let service: RunningService | undefined;

  beforeAll(async () => {
    // A broker of this test's own: taking the shared one down would disturb other files.
    world = await WorkerWorld.start({ files: 20, users: 1, sharedDrives: 0 }, 5);
    broker = await startEmbeddedKafka({
      brokers: 1,
      topics: Object.values(world.topics).map((name) => ({ name, partitions: 2 })),
    });
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

    await broker.brokerDown(1);
    await until(async () => (await ready()).status === 503, 'not ready with the broker down', 90_000, 500);
    expect((await ready()).body).toMatch(/consumer group/);
    expect((await fetch(`${running.url}/health/live`)).status).toBe(200);

    await broker.brokerUp(1);
    await until(async () => (await ready()).status === 200, 'ready again', 90_000, 500);
  });
});
