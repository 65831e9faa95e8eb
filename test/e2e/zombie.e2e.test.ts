import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { partitionForKey } from '../../src/io/kafka/message-sink.js';
import { epochOf, isOwnerMarkerKey } from '../../src/io/kafka/owner-epoch.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { type SpawnedWorker, spawnWorker } from '../support/spawned-worker.js';
import type { LandedMessage } from '../support/topic-reader.js';
import { until } from '../support/until.js';
import { connectionsPerPartition, PARTITIONS, QUICK_GROUP, WorkerWorld } from '../support/worker-world.js';

const PAGE = 20;
const FAST_GROUP = { GDRIVE_PAGE_SIZE: String(PAGE), ...QUICK_GROUP };

/**
 * A worker process frozen with SIGSTOP mid-page past its session timeout while another
 * takes over its connections; then SIGCONT. Whatever the frozen one sends once it runs
 * again must not count: none of its later checkpoints is a key's last valid value, its late
 * records are at most the page it had in flight, and every connection ends exact.
 */
describe('a worker frozen past its session timeout (SIGSTOP), then resumed', () => {
  let world: WorkerWorld;
  let zombie: SpawnedWorker | undefined;
  const connections = connectionsPerPartition('conn_zombie_').sort();
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    world = await WorkerWorld.start(
      { files: 480, users: connections.length, sharedDrives: 0, revisionDensity: 0.1 },
      47,
    );
    const users = await world.emulator.admin.listUsers();
    for (const [i, id] of connections.entries()) {
      const user = users[i];
      if (!user) throw new Error('fewer users than connections');
      await world.emulator.admin.mapConnection(id, user.id);
      tokens.set(id, (await world.emulator.admin.issueTokens(user.id)).accessToken);
    }
  }, 120_000);

  afterAll(async () => {
    zombie?.child.kill('SIGCONT');
    zombie?.child.kill('SIGKILL');
    await world?.stop();
  });

  const state = () => world.reader.all(world.topics.state);
  const from = (worker: string) => (m: LandedMessage) => m.headers['worker-id'] === worker;
  const progressOf = (m: LandedMessage) => {
    if (m.value === null || m.key === null || isOwnerMarkerKey(m.key)) return 0;
    const c = JSON.parse(m.value) as ConnectionCheckpoint;
    return (c.activeSync?.counts.file ?? 0) + (c.activeSync?.counts.folder ?? 0);
  };

  it('its late writes never become a last checkpoint; its late records are at most its page in flight', async () => {
    const owner = await world.startWorker({ ...FAST_GROUP, KAFKA_CLIENT_ID: 'owner-b' });
    zombie = spawnWorker(
      world.env({ ...FAST_GROUP, HTTP_PORT: '0', LOG_LEVEL: 'info', KAFKA_CLIENT_ID: 'zombie-a' }),
    );
    const zombieUrl = await zombie.started();
    const ownerPartitions = () => owner.consumer.status().assignment.get(world.topics.trigger) ?? [];
    await until(
      () => owner.consumer.status().joined && ownerPartitions().length === PARTITIONS / 2,
      'the two workers split the partitions',
      90_000,
    );
    const zombies = connections.filter((id) => !ownerPartitions().includes(partitionForKey(id, PARTITIONS)));
    expect(zombies).toHaveLength(PARTITIONS / 2);

    await world.emulator.admin.setLatency('drive.files.list', 400);
    for (const id of connections) await world.trigger(id, 'full_sync');
    await world.reader.waitFor(
      'a page checkpointed by the frozen-to-be worker for each of its connections',
      () =>
        zombies.every((id) =>
          state().some((m) => m.key === id && from('zombie-a')(m) && progressOf(m) >= PAGE),
        ),
    );

    zombie.child.kill('SIGSTOP');
    await until(
      () => ownerPartitions().length === PARTITIONS,
      'the other worker takes every partition',
      90_000,
    );
    await world.reader.waitFor('the new owner checkpointed progress of the frozen worker’s connections', () =>
      zombies.every((id) => state().some((m) => m.key === id && from('owner-b')(m) && progressOf(m) > 0)),
    );
    const stateSeen = state().length;
    const recordsSeen = world.reader.all(world.topics.records).length;
    zombie.child.kill('SIGCONT');
    await world.emulator.admin.setLatency('drive.files.list', 0);

    for (const id of connections) await world.waitForSyncs(id, 1, 120_000);
    // The resumed worker rejoins and the group settles again.
    await until(
      async () => (await fetch(`${zombieUrl}/health/ready`)).status === 200,
      'the resumed worker is ready again',
      90_000,
    );
    await until(
      () => owner.consumer.status().joined && ownerPartitions().length === PARTITIONS / 2,
      'the group settles with both workers',
      90_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    // Every key's last record in the log is valid: its epoch is the highest seen in its
    // partition up to it (a fenced write after a marker would be below it).
    const highest = new Map<number, number>();
    const lastOfKey = new Map<string, { valid: boolean; worker: string }>();
    for (const m of state()) {
      const epoch = epochOf(m.headers['owner-epoch']);
      const top = Math.max(highest.get(m.partition) ?? 0, epoch);
      highest.set(m.partition, top);
      if (m.key === null || isOwnerMarkerKey(m.key)) continue;
      lastOfKey.set(m.key, { valid: epoch >= top, worker: m.headers['worker-id'] ?? '' });
    }
    for (const id of connections) expect(lastOfKey.get(id)?.valid).toBe(true);

    // What the frozen worker sent under the epochs it held before the freeze, after it ran
    // again (it may rejoin, claim partitions anew and work legitimately under new epochs).
    const epochBeforeFreeze = new Map<number, number>();
    for (const m of state().slice(0, stateSeen).filter(from('zombie-a'))) {
      if (m.key !== null && isOwnerMarkerKey(m.key))
        epochBeforeFreeze.set(m.partition, epochOf(m.headers['owner-epoch']));
    }
    const underOldEpoch = (m: LandedMessage) =>
      m.key !== null &&
      epochOf(m.headers['owner-epoch']) === epochBeforeFreeze.get(partitionForKey(m.key, PARTITIONS));
    const lateCheckpoints = state()
      .slice(stateSeen)
      .filter((m) => from('zombie-a')(m) && m.key !== null && !isOwnerMarkerKey(m.key) && underOldEpoch(m));
    const lateRecords = world.reader
      .all(world.topics.records)
      .slice(recordsSeen)
      .filter((m) => from('zombie-a')(m) && underOldEpoch(m));
    const lapses = zombie
      .output()
      .split('\n')
      .filter((l) => l.includes('lease lapsed') || l.includes('another member owns'));
    console.info(
      `frozen worker after SIGCONT, under its old epochs: ${lateCheckpoints.length} checkpoint writes, ` +
        `${lateRecords.length} records; lease lapses logged: ${lapses.length}`,
    );
    // At most the page each lost connection had in flight (with its extras' records).
    expect(lateRecords.length).toBeLessThanOrEqual(zombies.length * PAGE * 4);
    expect(lapses.length).toBeGreaterThan(0);

    for (const id of connections) {
      expect(world.checkpointsDone(id)).toBe(1);
      expectRecordsMatchDrive(world.records(id), await visibleTo(world, tokens.get(id) as string));
    }
  }, 420_000);
});
