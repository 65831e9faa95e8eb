import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import type { RunningWorker } from '../../src/worker.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { until } from '../support/until.js';
import { connectionsPerPartition, QUICK_GROUP, WorkerWorld } from '../support/worker-world.js';

const PAGE = 20;

const FAST_GROUP = { GDRIVE_PAGE_SIZE: String(PAGE), ...QUICK_GROUP };

describe('two workers in one consumer group', () => {
  let world: WorkerWorld;
  const connections = connectionsPerPartition('conn_split_');
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    world = await WorkerWorld.start(
      { files: 640, users: 4, sharedDrives: 0, revisionDensity: 0.1, commentDensity: 0.05 },
      23,
    );
    const users = await world.emulator.admin.listUsers();
    for (const [i, connectionId] of connections.entries()) {
      const user = users[i];
      if (!user) throw new Error('fewer users than connections');
      await world.emulator.admin.mapConnection(connectionId, user.id);
      tokens.set(connectionId, (await world.emulator.admin.issueTokens(user.id)).accessToken);
    }
  });

  afterAll(async () => {
    await world?.stop();
  });

  const checkpoints = (connectionId: string) =>
    world.reader
      .values<ConnectionCheckpoint>(world.topics.state)
      .filter((c) => c.connectionId === connectionId);
  const fileRecords = (connectionId: string) =>
    world
      .records(connectionId)
      .filter(
        (r) => (r.resource_type === 'file' || r.resource_type === 'folder') && r.operation === 'upsert',
      );

  it('split the connections; when one stops, the other resumes its connections from their checkpoints', async () => {
    const [first, second] = await Promise.all([world.startWorker(FAST_GROUP), world.startWorker(FAST_GROUP)]);
    if (!first || !second) throw new Error('two workers expected');
    const triggerPartitions = (worker: RunningWorker) =>
      worker.consumer.status().assignment.get(world.topics.trigger) ?? [];
    // One generation with both: the four trigger partitions split between them.
    await until(
      () =>
        [...triggerPartitions(first), ...triggerPartitions(second)].sort().join() === '0,1,2,3' &&
        triggerPartitions(first).length > 0 &&
        triggerPartitions(second).length > 0,
      'both workers own trigger partitions',
      90_000,
    );

    // Listing slowed so that the walks are mid-way when the worker stops.
    await world.emulator.admin.setLatency('drive.files.list', 250);
    for (const connectionId of connections) await world.trigger(connectionId, 'full_sync');
    const ownedBy = (worker: RunningWorker) =>
      connections.filter((id) => worker.supervisor.get(id)?.resident === true);
    await until(
      () => ownedBy(first).length + ownedBy(second).length === connections.length,
      'every connection has an actor on one of the workers',
    );
    const handedOver = ownedBy(first);
    expect(handedOver.length).toBeGreaterThan(0);
    expect(ownedBy(second).length).toBeGreaterThan(0);
    await world.reader.waitFor('two pages of files checkpointed by each connection of the first worker', () =>
      handedOver.every((id) =>
        checkpoints(id).some(
          (c) => (c.activeSync?.counts.file ?? 0) + (c.activeSync?.counts.folder ?? 0) >= 2 * PAGE,
        ),
      ),
    );

    await first.stop();
    world.workers.splice(world.workers.indexOf(first), 1);
    const listedBefore = new Map(
      handedOver.map((id) => [id, new Set(fileRecords(id).map((r) => r.resource_id))]),
    );
    for (const id of handedOver) {
      // The stopped worker left these walks unfinished: what remains is the survivor's to do.
      expect(checkpoints(id).at(-1)?.activeSync?.mode).toBe('full');
      expect(world.checkpointsDone(id)).toBe(0);
    }
    await world.emulator.admin.setLatency('drive.files.list', 0);

    for (const id of connections) await world.waitForSyncs(id, 1);
    expect([...triggerPartitions(second)].sort()).toEqual([0, 1, 2, 3]);
    expect(ownedBy(second).sort()).toEqual([...connections].sort());

    for (const id of connections) {
      expectRecordsMatchDrive(world.records(id), await visibleTo(world, tokens.get(id) as string));
      expect(world.records(id).filter((r) => r.resource_type === 'sync_checkpoint')).toHaveLength(1);
    }
    // Resumed, not restarted: of the items listed before the stop, at most the page in
    // flight was listed again (a restart would list every one of them again).
    for (const id of handedOver) {
      const before = listedBefore.get(id) ?? new Set<string>();
      const upserts = fileRecords(id).map((r) => r.resource_id);
      const listedAgain = upserts.length - new Set(upserts).size;
      expect(before.size).toBeGreaterThanOrEqual(2 * PAGE);
      expect(listedAgain).toBeLessThanOrEqual(PAGE);
    }
    expect(world.errors()).toEqual([]);
  });
});
