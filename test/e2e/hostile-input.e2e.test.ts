import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../setup/kafka-broker.global.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Oversized ids through the real broker and the real worker: a 2 MB connection id used to
 * freeze the whole worker in kafkajs' partitioner, and a 4 MB message_id to become an 8 MB
 * checkpoint the broker refuses forever. Each must cost one small `invalid_input` record,
 * and the worker must go on to sync a normal connection.
 */

const CONNECTION = 'conn_after_hostile';
const SMALL = 2_000;

describe('hostile inbound ids (embedded broker, Drive emulator)', () => {
  let world: WorkerWorld;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 10, users: 1 }, 14);
    await world.allowInboundValues(16 * 1024 * 1024);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('no users');
    await world.emulator.admin.mapConnection(CONNECTION, user.id);
    await world.startWorker();
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  const hostileTrigger = (override: Record<string, unknown>) => ({
    message_id: uniqueName('msg'),
    customer_id: 'cust_hostile',
    integration_id: 'google-drive',
    integration_connection_id: 'conn_hostile',
    trigger_type: 'full_sync',
    ...override,
  });

  it.each([
    [
      'a 2 MB connection id',
      { integration_connection_id: 'k'.repeat(2 * 1024 * 1024) },
      'integration_connection_id',
    ],
    ['a 4 MB message_id', { message_id: 'm'.repeat(4 * 1024 * 1024) }, 'message_id'],
  ])(
    'a trigger with %s is one small invalid_input record',
    async (_name, override, field) => {
      const errorsBefore = world.reader.all(world.topics.errors).length;
      // Keyed short: the worker never relies on the inbound key, and the point is its own produce.
      await world.send('trigger', 'hostile-key', hostileTrigger(override));
      await world.reader.waitFor(
        'an invalid_input error',
        () => world.reader.all(world.topics.errors).length > errorsBefore,
        60_000,
      );
      const landed = world.reader.all(world.topics.errors).slice(errorsBefore);
      expect(landed).toHaveLength(1);
      const [message] = landed;
      expect((message?.key ?? '').length).toBeLessThan(100);
      expect((message?.value ?? '').length).toBeLessThan(SMALL);
      const error = world.errors().slice(-1)[0];
      expect(error?.error.classification).toBe('invalid_input');
      expect(error?.error.message).toContain(field);
      expect((error?.integration_connection_id ?? '').length).toBeLessThan(100);
      expect((error?.source?.message_id ?? '').length).toBeLessThan(100);
    },
    90_000,
  );

  it('goes on to sync a normal connection afterwards', async () => {
    const done = world.checkpointsDone(CONNECTION);
    await world.trigger(CONNECTION, 'full_sync');
    await world.waitForSyncs(CONNECTION, done + 1);
    expect(world.records(CONNECTION).length).toBeGreaterThan(0);
    // Nothing of the hostile messages reached the state topic.
    const state = world.reader.all(world.topics.state);
    expect(state.every((m) => (m.key ?? '').length <= 256)).toBe(true);
    // Every trigger's offset committed, the hostile ones included: no lag left behind.
    await until(async () => (await world.inboundLag()) === 0, 'no inbound lag', 30_000, 250);
    expect(await world.inboundLag()).toBe(0);
  }, 120_000);
});
