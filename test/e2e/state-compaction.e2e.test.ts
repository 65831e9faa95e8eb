import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/io/kafka/message-sink.js';
import { kcatRead } from '../io/kafka/kafka-fixture.js';
import { type SharedKafka, sharedKafka } from '../setup/kafka-broker.global.js';
import { until } from '../support/until.js';
import { PARTITIONS, WorkerWorld } from '../support/worker-world.js';

/**
 * The state topic is really compacted by Apache Kafka: after a `disconnect`, its tombstone
 * and every earlier checkpoint of the connection are cleaned out of the log, and a restarted
 * worker restores nothing for it. Correctness never depended on compaction (the table keeps
 * the last value per key); this shows the broker-side half that the mock broker lacked.
 */
const GONE = 'conn_gone';
// A connection whose checkpoints land in the same state partition, so that its writes roll
// that partition's segments and let the cleaner reach the tombstone.
const KEEP = Array.from({ length: 500 }, (_, i) => `conn_keep_${i}`).find(
  (id) => partitionForKey(id, PARTITIONS) === partitionForKey(GONE, PARTITIONS),
) as string;

/** Compacted topics of this file's world clean as soon as the broker's cleaner looks. */
function quicklyCompacting(shared: SharedKafka): SharedKafka {
  return {
    bootstrapServers: shared.bootstrapServers,
    createTopic: (name, partitions, configs = {}) =>
      shared.createTopic(
        name,
        partitions,
        configs['cleanup.policy'] === 'compact'
          ? {
              ...configs,
              'segment.ms': '500',
              'min.cleanable.dirty.ratio': '0.001',
              'min.compaction.lag.ms': '0',
              'delete.retention.ms': '0',
            }
          : configs,
      ),
  };
}

describe('the compacted state topic', () => {
  let world: WorkerWorld;

  beforeAll(async () => {
    world = await WorkerWorld.start(
      { files: 15, users: 2, sharedDrives: 0 },
      13,
      quicklyCompacting(sharedKafka()),
    );
    const users = await world.emulator.admin.listUsers();
    await world.emulator.admin.mapConnection(GONE, users[0]?.id ?? '');
    await world.emulator.admin.mapConnection(KEEP, users[1]?.id ?? '');
  });

  afterAll(async () => {
    await world?.stop();
  });

  it('loses a disconnected connection for good once the log is cleaned, and a restart restores nothing of it', async () => {
    const first = await world.startWorker();
    await world.trigger(GONE, 'full_sync');
    await world.trigger(KEEP, 'full_sync');
    await world.waitForSyncs(GONE, 1);
    await world.waitForSyncs(KEEP, 1);
    const state = () => kcatRead({ bootstrapServers: world.brokers }, world.topics.state);
    expect((await state()).filter((m) => m.key === GONE).length).toBeGreaterThan(1);

    await world.trigger(GONE, 'disconnect');
    await until(
      async () => (await state()).some((m) => m.key === GONE && m.value === null),
      'the tombstone of the disconnected connection',
      30_000,
    );

    // Each poll of the other connection appends checkpoints, so segments roll and the
    // cleaner gets to the old ones; with delete.retention.ms 0 the tombstone goes too.
    await until(
      async () => {
        await world.trigger(KEEP, 'poll');
        return !(await state()).some((m) => m.key === GONE);
      },
      'no message of the disconnected connection left in the log',
      90_000,
      1_000,
    );

    await first.stop();
    world.workers.splice(world.workers.indexOf(first), 1);
    const restarted = await world.startWorker();
    await until(() => restarted.supervisor.get(KEEP) !== undefined, 'the kept connection restored', 60_000);
    expect(restarted.supervisor.get(GONE)).toBeUndefined();
    expect(restarted.supervisor.list().map((view) => view.connectionId)).not.toContain(GONE);
  });
});
