import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ApacheKafka, startApacheKafka } from '../../src/embedded/apache-kafka.js';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { createMessageSink } from '../../src/io/kafka/message-sink.js';
import { capturingLogger, workerKafka } from '../io/kafka/kafka-fixture.js';
import { type SharedKafka, uniqueName } from '../setup/kafka-broker.global.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { TestKafkaClients } from '../support/kafka-clients.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Real broker faults on a three-node Apache Kafka cluster of this file's own (replication
 * factor 3, `min.insync.replicas` 2): a partition leader killed mid-stream, a node frozen
 * with SIGSTOP past the consumer session timeout and resumed.
 */
describe('on a three-node cluster with faults', () => {
  let cluster: ApacheKafka;
  let control: SharedKafka;
  let clients: TestKafkaClients;

  beforeAll(async () => {
    cluster = await startApacheKafka({ brokers: 3, heapMb: 384 });
    control = {
      bootstrapServers: cluster.bootstrapServers,
      createTopic: (name, partitions, configs = {}) => cluster.createTopics([{ name, partitions, configs }]),
    };
    clients = new TestKafkaClients(cluster.bootstrapServers, { idempotent: true });
  });

  afterEach(async () => {
    // Every node back for the next test, whatever this one did to them.
    for (const id of cluster.brokerIds) {
      cluster.thaw(id);
      if (cluster.pidOf(id) === null) await cluster.restart(id);
    }
    await clients.closeAll();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('the idempotent producer loses nothing and writes nothing twice through a leader failover', async () => {
    const topic = uniqueName('failover');
    await control.createTopic(topic, 1);
    const { logger } = capturingLogger();
    const sink = await createMessageSink(workerKafka(cluster, logger), { idempotent: true, logger });
    const total = 600;
    let acknowledged = 0;
    // Several sends in flight at once, as the worker's connections share one sink.
    const sending = (async () => {
      for (let next = 0; next < total; next += 10) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            sink.send([{ topic, key: 'conn_failover', value: String(next + i), headers: {} }]),
          ),
        );
        acknowledged = next + 10;
      }
    })();
    await until(() => acknowledged >= 150, '150 messages acknowledged before the failover');
    const leader = await cluster.leaderOf(topic, 0);
    await cluster.kill(leader);
    await sending;
    await sink.close();
    // The node comes back, as after a crash, before a fresh consumer reads the partition.
    await cluster.restart(leader);
    const stored = await clients.readAllValues(topic);
    // One partition: the order of sends is the order on the log, each exactly once.
    expect(stored).toEqual(Array.from({ length: total }, (_, i) => String(i)));
  });

  it('a full sync stays exact while a records leader is killed and a node is frozen past the session timeout', async () => {
    const world = await WorkerWorld.start(
      { files: 200, users: 1, sharedDrives: 1, revisionDensity: 0.5, commentDensity: 0.3 },
      21,
      control,
    );
    try {
      const [user] = await world.emulator.admin.listUsers();
      if (!user) throw new Error('no users');
      const credentials: UserCredentials = await world.emulator.admin.issueTokens(user.id);
      await world.emulator.admin.mapConnection('conn_faults', user.id);
      // Slow listing, so the faults land mid-walk.
      await world.emulator.admin.setLatency('drive.files.list', 200);
      await world.startWorker({
        GDRIVE_PAGE_SIZE: '10',
        KAFKA_CONSUMER_SESSION_TIMEOUT_MS: '6000',
        KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: '500',
      });
      await world.trigger('conn_faults', 'full_sync');
      await world.reader.waitFor('records landing', () => world.records('conn_faults').length >= 30);

      const victim = await cluster.leaderOf(world.topics.records, 0);
      await cluster.kill(victim);
      const frozen = cluster.brokerIds.find((id) => id !== victim) as number;
      cluster.freeze(frozen);
      await new Promise((resolve) => setTimeout(resolve, 9_000)); // past the 6 s session timeout
      cluster.thaw(frozen);
      await cluster.restart(victim);

      await world.emulator.admin.setLatency('drive.files.list', 0);
      await world.waitForSyncs('conn_faults', 1, 180_000);
      expectRecordsMatchDrive(world.records('conn_faults'), await visibleTo(world, credentials.accessToken));
      expect(world.errors()).toEqual([]);
    } finally {
      await world.stop();
    }
  });
});
