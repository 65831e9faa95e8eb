import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import type { OutboundRecord } from '../../src/contract/records.js';
import { partitionForKey } from '../../src/io/kafka/message-sink.js';
import type { RunningWorker } from '../../src/worker.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { until } from '../support/until.js';
import { connectionsPerPartition, PARTITIONS, QUICK_GROUP, WorkerWorld } from '../support/worker-world.js';

/** Short group timings so rebalances take seconds (see rebalance.e2e.test.ts). */
const FAST_GROUP = { GDRIVE_PAGE_SIZE: '20', ...QUICK_GROUP };

describe('one owner per connection, scaled out', () => {
  let world: WorkerWorld;
  const connections = connectionsPerPartition('conn_own_', 2).sort();
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    world = await WorkerWorld.start(
      { files: 160, users: connections.length, sharedDrives: 0, revisionDensity: 0.1, commentDensity: 0.05 },
      41,
    );
    const users = await world.emulator.admin.listUsers();
    for (const [i, connectionId] of connections.entries()) {
      const user = users[i];
      if (!user) throw new Error('fewer users than connections');
      await world.emulator.admin.mapConnection(connectionId, user.id);
      tokens.set(connectionId, (await world.emulator.admin.issueTokens(user.id)).accessToken);
    }
  }, 120_000);

  afterAll(async () => {
    await world?.stop();
  });

  const partitionsOf = (worker: RunningWorker, topic: string) =>
    [...(worker.consumer.status().assignment.get(topic) ?? [])].sort((a, b) => a - b);

  /** One settled generation: every worker joined, each partition held once, both topics alike. */
  function settled(workers: readonly RunningWorker[]): boolean {
    if (!workers.every((w) => w.consumer.status().joined)) return false;
    const held = workers.flatMap((w) => partitionsOf(w, world.topics.trigger));
    if (held.length !== PARTITIONS || new Set(held).size !== PARTITIONS) return false;
    return workers.every(
      (w) => partitionsOf(w, world.topics.trigger).join() === partitionsOf(w, world.topics.webhook).join(),
    );
  }

  const residentOn = (workers: readonly RunningWorker[], connectionId: string) =>
    workers.filter((w) => w.supervisor.get(connectionId)?.resident === true);

  /** The `worker-id` header of each record of a sync, by sync id. */
  function producersBySync(connectionId: string): Map<string, Set<string>> {
    const bySync = new Map<string, Set<string>>();
    for (const message of world.reader.all(world.topics.records)) {
      if (message.value === null) continue;
      const record = JSON.parse(message.value) as OutboundRecord;
      if (record.integration_connection_id !== connectionId) continue;
      const set = bySync.get(record.sync.sync_id) ?? new Set<string>();
      set.add(message.headers['worker-id'] ?? '(none)');
      bySync.set(record.sync.sync_id, set);
    }
    return bySync;
  }

  it('3 workers on 4 partitions, then 5: each connection handled by exactly one worker across both topics', async () => {
    const three = await Promise.all([0, 1, 2].map(() => world.startWorker(FAST_GROUP)));
    await until(() => settled(three), 'three workers settle on co-partitioned assignments', 120_000);
    const counts = three.map((w) => partitionsOf(w, world.topics.trigger).length).sort();
    expect(counts).toEqual([1, 1, 2]);

    for (const id of connections) await world.trigger(id, 'full_sync');
    for (const id of connections) await world.waitForSyncs(id, 1, 120_000);
    for (const id of connections) {
      const owners = residentOn(three, id);
      expect(owners).toHaveLength(1);
      // The owner is the member holding the connection's partition, in both topics.
      const partition = partitionForKey(id, PARTITIONS);
      expect(partitionsOf(owners[0] as RunningWorker, world.topics.trigger)).toContain(partition);
      expect(partitionsOf(owners[0] as RunningWorker, world.topics.webhook)).toContain(partition);
      const bySync = producersBySync(id);
      expect(bySync.size).toBe(1);
      for (const producers of bySync.values()) expect(producers.size).toBe(1);
    }

    const five = [...three, ...(await Promise.all([0, 1].map(() => world.startWorker(FAST_GROUP))))];
    await until(() => settled(five), 'five workers settle on co-partitioned assignments', 120_000);
    expect(five.map((w) => partitionsOf(w, world.topics.trigger).length).sort()).toEqual([0, 1, 1, 1, 1]);

    for (const id of connections) await world.trigger(id, 'incremental');
    for (const id of connections) await world.waitForSyncs(id, 2, 120_000);
    for (const id of connections) {
      expect(residentOn(five, id)).toHaveLength(1);
      // Every sync's records come from one worker: no connection ran on two at once.
      for (const producers of producersBySync(id).values()) expect(producers.size).toBe(1);
      expectRecordsMatchDrive(world.records(id), await visibleTo(world, tokens.get(id) as string));
    }
    expect(world.records().filter((r) => r.resource_type === 'sync_checkpoint')).toHaveLength(
      2 * connections.length,
    );
    expect(world.errors()).toEqual([]);
  }, 420_000);

  it('runs a full sync sent right after a disconnect, on a fresh connection', async () => {
    const id = connections[0] as string;
    const before = world.checkpointsDone(id);
    const owner = () => world.workers.find((w) => w.supervisor.get(id)?.resident === true);
    await world.trigger(id, 'disconnect');
    await world.trigger(id, 'full_sync');
    await world.waitForSyncs(id, before + 1, 120_000);
    const last = world
      .records(id)
      .filter((r) => r.resource_type === 'sync_checkpoint')
      .at(-1);
    expect(last?.sync.mode).toBe('full');
    // The tombstone came first, then the new connection's checkpoints, ending idle after its full sync.
    const afterTombstone = () => {
      const stateOfKey = world.reader.all(world.topics.state).filter((m) => m.key === id);
      const tombstoneAt = stateOfKey.findLastIndex((m) => m.value === null);
      if (tombstoneAt < 0) return [];
      return stateOfKey
        .slice(tombstoneAt + 1)
        .map((m) => JSON.parse(m.value as string) as ConnectionCheckpoint);
    };
    await world.reader.waitFor('the fresh connection checkpointed idle after its full sync', () => {
      const last = afterTombstone().at(-1);
      return last?.activeSync === null && last.lastSync?.mode === 'full';
    });
    expect(afterTombstone().at(-1)).toMatchObject({
      connectionId: id,
      pending: null,
      cursor: expect.any(String),
    });
    await until(() => owner()?.supervisor.get(id)?.state === 'idle', 'the fresh connection is idle');
  }, 180_000);
});
