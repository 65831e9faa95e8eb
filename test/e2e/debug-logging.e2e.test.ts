import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startWorker } from '../../src/worker.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * `LOG_LEVEL=trace` through the real broker: kafkajs' debug entries (which hold Buffers)
 * used to make pino's redaction throw and crash both consumers at start. The worker must
 * sync, and the lines must carry no credential.
 */

const CONNECTION = 'conn_trace_logs';

describe('a worker logging at trace (embedded broker, Drive emulator)', () => {
  let world: WorkerWorld;
  const chunks: string[] = [];

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 8, users: 1 }, 21);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('no users');
    await world.emulator.admin.mapConnection(CONNECTION, user.id);
    const destination = new PassThrough();
    destination.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
    const logger = createLogger({ level: 'trace', format: 'json', destination });
    world.workers.push(await startWorker({ config: world.config({ LOG_LEVEL: 'trace' }), logger }));
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  it('syncs a connection, logs kafkajs debug entries and no access token', async () => {
    await world.trigger(CONNECTION, 'full_sync');
    await world.waitForSyncs(CONNECTION, 1);
    const text = chunks.join('');
    const lines = text.trim().split('\n');
    expect(lines.every((line) => JSON.parse(line) !== null)).toBe(true);
    expect(text).toContain('"component":"kafkajs"');
    expect(text).toMatch(/"level":20/);
    expect(text).not.toMatch(/ya29\.[A-Za-z0-9._-]{8,}/);
  }, 120_000);
});
