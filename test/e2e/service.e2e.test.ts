import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricPrefix } from '../../src/http/metrics.js';
import { createLogger } from '../../src/logger.js';
import { type RunningService, startService } from '../../src/service.js';
import { promtoolCheck, sample } from '../support/exposition.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * The process as `main.ts` runs it (worker + HTTP surface), over the embedded broker and
 * the emulator: readiness, the connection endpoints and the metrics while a real sync runs.
 */
describe('the service: HTTP surface over a real worker', () => {
  let world: WorkerWorld;
  let service: RunningService;

  const get = async (path: string) => {
    const response = await fetch(`${service.url}${path}`);
    return { status: response.status, text: await response.text() };
  };

  /** Sum of every series of a metric family (all label sets). */
  const total = (exposition: string, name: string) =>
    exposition
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 150, users: 1, sharedDrives: 1, commentDensity: 0.2 }, 23);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection('conn_http', user.id);
    service = await startService({
      config: world.config({ HTTP_HOST: '127.0.0.1', HTTP_PORT: '0' }),
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
  });

  afterAll(async () => {
    await service?.stop();
    await world?.stop();
  });

  it('is live and ready once the consumer joined, the producer connected and checkpoints are restored', async () => {
    expect((await get('/health/live')).status).toBe(200);
    await until(async () => (await get('/health/ready')).status === 200, 'ready');
    const ready = JSON.parse((await get('/health/ready')).text) as { checks?: unknown };
    expect(JSON.stringify(ready)).toMatch(/consumer/);
    expect(JSON.stringify(ready)).toMatch(/checkpoints/);
  });

  it('listens before the worker has started: live, not ready with the reason, closed if the worker cannot start', async () => {
    let url: string | null = null;
    // Nothing listens on port 1: the worker cannot reach Kafka and will give up.
    const starting = startService({
      config: world.config({
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: '0',
        KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:1',
      }),
      logger: createLogger({ level: 'silent', format: 'json' }),
      onListening: (listening) => {
        url = listening;
      },
    });
    const failure = starting.then(
      () => null,
      (error: unknown) => error,
    );
    await until(async () => url !== null, 'listening');
    const probe = async (path: string) => {
      const response = await fetch(`${url}${path}`);
      return { status: response.status, text: await response.text() };
    };
    expect((await probe('/health/live')).status).toBe(200);
    const ready = await probe('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.text).toMatch(/starting/);
    expect((await probe('/metrics')).status).toBe(200);
    expect(JSON.parse((await probe('/connections')).text)).toMatchObject({ connections: [] });

    expect(await failure).toBeInstanceOf(Error);
    await expect(fetch(`${url}/health/live`)).rejects.toThrow();
  });

  it('metrics move with a sync and pass promtool; the connection shows its finished sync', async () => {
    const before = (await get('/metrics')).text;
    expect(promtoolCheck(before)).toEqual({ status: 0, output: '' });

    await world.trigger('conn_http', 'full_sync');
    await world.waitForSyncs('conn_http', 1);
    const produced = world.records('conn_http').length;

    const after = (await get('/metrics')).text;
    expect(promtoolCheck(after)).toEqual({ status: 0, output: '' });
    expect(total(after, `${metricPrefix}records_produced_total`)).toBe(
      total(before, `${metricPrefix}records_produced_total`) + produced,
    );
    expect(sample(after, `${metricPrefix}syncs_total{mode="full",outcome="ok"}`)).toBe(1);
    expect(
      sample(after, `${metricPrefix}drive_requests_total{method="drive.files.list",outcome="ok"}`),
    ).toBeGreaterThan(0);
    // Read from the consumer at scrape time: the trigger partition that delivered the trigger, caught up.
    const triggerLag = after
      .split('\n')
      .filter((line) =>
        line.startsWith(`${metricPrefix}consumer_lag_messages{topic="${world.topics.trigger}"`),
      );
    expect(triggerLag.length).toBeGreaterThan(0);
    expect(triggerLag.every((line) => line.endsWith(' 0'))).toBe(true);
    expect(after).not.toContain('conn_http');

    const { connection: view } = JSON.parse((await get('/connections/conn_http')).text) as {
      connection: {
        state: string;
        cursor: string | null;
        lastSync: { mode: string; counts: Record<string, number> } | null;
        transitions: { to: string }[];
      };
    };
    expect(view.state).toBe('idle');
    expect(view.cursor).not.toBeNull();
    expect(view.lastSync?.mode).toBe('full');
    // The corpus has trashed files: their delete records are counted apart.
    const fileRecords = world.records('conn_http').filter((r) => r.resource_type === 'file');
    expect(view.lastSync?.counts.file).toBe(fileRecords.filter((r) => r.operation === 'upsert').length);
    expect(view.lastSync?.counts.file_deleted ?? 0).toBe(
      fileRecords.filter((r) => r.operation === 'delete').length,
    );
    expect(view.transitions.map((t) => t.to)).toContain('full-syncing');
    const list = JSON.parse((await get('/connections?state=idle')).text) as unknown;
    expect(JSON.stringify(list)).toContain('conn_http');
  });
});
