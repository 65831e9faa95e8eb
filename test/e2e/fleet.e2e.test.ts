import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/io/kafka/message-sink.js';
import type { RunningWorker } from '../../src/worker.js';
import { until } from '../support/until.js';
import { connectionsPerPartition, PARTITIONS, QUICK_GROUP, WorkerWorld } from '../support/worker-world.js';

const PROJECT_PER_MINUTE = 12_000;
const GROUP = { ...QUICK_GROUP, GDRIVE_QUOTA_PROJECT_PER_MINUTE: String(PROJECT_PER_MINUTE) };

describe('a fleet of two workers in one consumer group', () => {
  let world: WorkerWorld;
  const connections = connectionsPerPartition('conn_fleet_');

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 40, users: 4, sharedDrives: 0 }, 31);
    const users = await world.emulator.admin.listUsers();
    for (const [i, connectionId] of connections.entries()) {
      const user = users[i];
      if (!user) throw new Error('fewer users than connections');
      await world.emulator.admin.mapConnection(connectionId, user.id);
    }
  });

  afterAll(async () => {
    await world?.stop();
  });

  const share = (worker: RunningWorker) => ({
    members: worker.governor.snapshot().fleet.members,
    perMinute: worker.governor.snapshot().project.configuredPerMinute,
  });
  const held = (worker: RunningWorker) => worker.consumer.heldPartitions();
  const ownedBy = (worker: RunningWorker) =>
    connections.filter((id) => held(worker).includes(partitionForKey(id, PARTITIONS)));

  it("shares the project's budget by the members, and each holds only its partitions' connections", async () => {
    const first = await world.startWorker(GROUP);
    await until(() => held(first).length === PARTITIONS, 'the first worker holds every partition', 60_000);
    for (const id of connections) await world.trigger(id, 'full_sync');
    for (const id of connections) await world.waitForSyncs(id, 1);
    await until(() => first.footprint().cachedTokens === connections.length, 'a token per connection');
    expect(share(first)).toEqual({ members: 1, perMinute: PROJECT_PER_MINUTE });
    expect(first.footprint()).toMatchObject({
      checkpoints: connections.length,
      rememberedMessages: connections.length,
    });

    const second = await world.startWorker(GROUP);
    await until(
      () =>
        held(first).length > 0 &&
        held(second).length > 0 &&
        held(first).length + held(second).length === PARTITIONS &&
        share(first).members === 2 &&
        share(second).members === 2,
      'the partitions split and both workers counted two members',
      90_000,
    );
    expect(share(first)).toEqual({ members: 2, perMinute: PROJECT_PER_MINUTE / 2 });
    expect(share(second)).toEqual({ members: 2, perMinute: PROJECT_PER_MINUTE / 2 });

    // Nothing of the connections that moved stays with the first worker.
    const kept = ownedBy(first);
    const moved = connections.filter((id) => !kept.includes(id));
    expect(moved.length).toBeGreaterThan(0);
    for (const id of moved) expect(first.supervisor.get(id)).toBeUndefined();
    const footprint = first.footprint();
    expect(footprint.checkpoints).toBe(kept.length);
    expect(footprint.residentActors + footprint.sleepingConnections).toBeLessThanOrEqual(kept.length);
    expect(footprint.liveActors).toBe(footprint.residentActors);
    expect(footprint.notificationSpells).toBeLessThanOrEqual(footprint.residentActors);
    expect(footprint.cachedTokens).toBeLessThanOrEqual(kept.length);
    expect(footprint.rememberedMessages).toBe(kept.length);
    await until(
      () => second.footprint().checkpoints === moved.length,
      'the second worker restored what moved',
    );

    // One leaves: the other takes the whole budget again, and every connection.
    await second.stop();
    world.workers.splice(world.workers.indexOf(second), 1);
    await until(
      () => share(first).members === 1 && held(first).length === PARTITIONS,
      'the first worker alone again',
      90_000,
    );
    expect(share(first)).toEqual({ members: 1, perMinute: PROJECT_PER_MINUTE });
    await until(() => first.footprint().checkpoints === connections.length, 'every checkpoint read again');
    expect(world.errors()).toEqual([]);
  });
});
