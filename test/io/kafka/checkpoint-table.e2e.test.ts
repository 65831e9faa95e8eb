import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../../src/contract/checkpoint.js';
import { createCheckpointTable, FencedWriteError } from '../../../src/io/kafka/checkpoint-table.js';
import { createMessageSink, partitionForKey } from '../../../src/io/kafka/message-sink.js';
import { sharedKafka, uniqueName } from '../../setup/kafka-broker.global.js';
import { until } from '../../support/until.js';
import { capturingLogger, cleanupList, kcatRead, quickGroup, workerKafka } from './kafka-fixture.js';

const cleanups = cleanupList();
afterEach(() => cleanups.runAll());

const broker = sharedKafka();
const plainKafka = new Kafka({
  clientId: 'table-e2e',
  brokers: broker.bootstrapServers,
  logLevel: logLevel.NOTHING,
});

function checkpoint(connectionId: string, cursor: string): ConnectionCheckpoint {
  return {
    version: 1,
    connectionId,
    customerId: 'cust_1',
    cursor,
    options: { include: ['permissions'], driveIds: null },
    activeSync: null,
    pending: null,
    backoff: null,
    channel: null,
    parked: null,
    lastSync: null,
    updatedAt: '2025-01-20T10:00:00.000Z',
  };
}

async function producer(): Promise<Producer> {
  const p = plainKafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await p.connect();
  cleanups.add(() => p.disconnect());
  return p;
}

async function startedTable(
  topic: string,
  extra: { onFenced?: (partitions: readonly number[]) => void } = {},
) {
  const { logger, lines } = capturingLogger();
  const kafka = workerKafka(broker, logger);
  const sink = await createMessageSink(kafka, { idempotent: true, logger });
  const table = createCheckpointTable(kafka, {
    topic,
    groupIdPrefix: 'table-e2e',
    clientId: 'worker-0',
    sink,
    logger,
    sessionTimeoutMs: quickGroup.sessionTimeoutMs,
    heartbeatIntervalMs: quickGroup.heartbeatIntervalMs,
    ...extra,
  });
  cleanups.add(() => sink.close());
  cleanups.add(() => table.stop());
  await table.start();
  return { table, lines };
}

const cursorsOf = (list: readonly ConnectionCheckpoint[]) =>
  Object.fromEntries(list.map((c) => [c.connectionId, c.cursor]));

describe('the checkpoint table on the embedded broker', () => {
  it('restores the last value per key across partitions, forgets tombstones and skips garbage', async () => {
    const topic = uniqueName('state-restore');
    await broker.createTopic(topic, 3);
    const p = await producer();
    const put = (key: string, value: string | null) => p.send({ topic, messages: [{ key, value }] });
    const keys = Array.from({ length: 12 }, (_, i) => `conn-${i}`);
    for (const key of keys) await put(key, JSON.stringify(checkpoint(key, 'v1')));
    for (const key of keys.slice(0, 6)) await put(key, JSON.stringify(checkpoint(key, 'v2')));
    await put('conn-1', null);
    await put('conn-2', 'this is not JSON');
    await put('conn-3', JSON.stringify({ ...checkpoint('conn-3', 'v3'), version: 2 }));
    await put('conn-gone', JSON.stringify(checkpoint('conn-gone', 'v1')));
    await put('conn-gone', null);
    await put('conn-bad', '{"version":1}');

    const { table, lines } = await startedTable(topic);
    await table.claim([0, 1, 2]);

    const expected: Record<string, string> = {};
    for (const key of keys) expected[key] = keys.indexOf(key) < 6 ? 'v2' : 'v1';
    delete expected['conn-1'];
    expect(cursorsOf(table.connectionsInPartitions([0, 1, 2]))).toEqual(expected);
    expect(table.get('conn-1')).toBeUndefined();
    expect(table.get('conn-gone')).toBeUndefined();
    expect(table.get('conn-bad')).toBeUndefined();
    // Garbage does not replace the last good value.
    expect(table.get('conn-2')?.cursor).toBe('v2');
    expect(table.get('conn-3')?.cursor).toBe('v2');
    expect(table.get('conn-0')).toEqual(checkpoint('conn-0', 'v2'));

    // Each connection is answered for the partition it was stored in.
    const landed = await kcatRead(broker, topic);
    for (const partition of [0, 1, 2]) {
      const stored = new Set(landed.filter((m) => m.partition === partition).map((m) => m.key));
      const answered = table.connectionsInPartitions([partition]).map((c) => c.connectionId);
      expect(answered.length).toBeGreaterThan(0);
      for (const id of answered) {
        expect(stored.has(id)).toBe(true);
        expect(partitionForKey(id, 3)).toBe(partition);
      }
    }
    const skipped = lines().filter((l) => typeof l.msg === 'string' && l.msg.includes('skipped'));
    expect(skipped.map((l) => l.connectionId).sort()).toEqual(['conn-2', 'conn-3', 'conn-bad']);
  });

  it('waitUntilCaughtUp returns only after reading what was written before the call', async () => {
    const topic = uniqueName('state-catch-up');
    await broker.createTopic(topic, 3);
    const { table } = await startedTable(topic);
    await table.claim([0, 1, 2]);
    expect(table.connectionsInPartitions([0, 1, 2])).toEqual([]);

    // Written by another process with the owner's epoch: the table learns of them only by reading.
    const p = await producer();
    for (let round = 1; round <= 5; round++) {
      await p.send({
        topic,
        messages: Array.from({ length: 20 }, (_, i) => ({
          key: `conn-${i}`,
          value: JSON.stringify(checkpoint(`conn-${i}`, `round-${round}`)),
          headers: { 'owner-epoch': '1' },
        })),
      });
    }
    await table.waitUntilCaughtUp();

    const all = table.connectionsInPartitions([0, 1, 2]);
    expect(all).toHaveLength(20);
    expect(new Set(all.map((c) => c.cursor))).toEqual(new Set(['round-5']));
  });

  it('reflects its own writes at once and a fresh table reads them back', async () => {
    const topic = uniqueName('state-write');
    await broker.createTopic(topic, 4);
    const { table: writer } = await startedTable(topic);
    await writer.claim([0, 1, 2, 3]);

    for (let i = 0; i < 8; i++) await writer.write(checkpoint(`conn-${i}`, 'first'));
    for (let i = 0; i < 8; i++) await writer.write(checkpoint(`conn-${i}`, 'second'));
    await writer.tombstone('conn-7');

    // Read-your-writes, before (or whether or not) the table's consumer read them back.
    expect(writer.get('conn-3')?.cursor).toBe('second');
    // Every read is a copy: what a caller does with it never reaches the table.
    const copy = writer.get('conn-3');
    if (copy) copy.cursor = 'changed by a caller';
    expect(writer.get('conn-3')).toEqual(checkpoint('conn-3', 'second'));
    expect(writer.get('conn-7')).toBeUndefined();
    for (let i = 0; i < 7; i++) {
      expect(
        writer.connectionsInPartitions([partitionForKey(`conn-${i}`, 4)]).map((c) => c.connectionId),
      ).toContain(`conn-${i}`);
    }
    // Reading its own writes back never takes the table back to an older value.
    await writer.waitUntilCaughtUp();
    expect(cursorsOf(writer.connectionsInPartitions([0, 1, 2, 3]))).toEqual(
      Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`conn-${i}`, 'second'])),
    );

    const { table: reader } = await startedTable(topic);
    await reader.claim([0, 1, 2, 3]);
    expect(cursorsOf(reader.connectionsInPartitions([0, 1, 2, 3]))).toEqual(
      cursorsOf(writer.connectionsInPartitions([0, 1, 2, 3])),
    );
    for (const partition of [0, 1, 2, 3]) {
      expect(
        reader
          .connectionsInPartitions([partition])
          .map((c) => c.connectionId)
          .sort(),
      ).toEqual(
        writer
          .connectionsInPartitions([partition])
          .map((c) => c.connectionId)
          .sort(),
      );
    }
    const landed = await kcatRead(broker, topic);
    expect(landed.find((m) => m.key === 'conn-0')?.headers).toContain('resource-type=checkpoint');
  });

  it('reads only the partitions it claimed', async () => {
    const topic = uniqueName('state-owned');
    await broker.createTopic(topic, 4);
    const p = await producer();
    const keys = Array.from({ length: 16 }, (_, i) => `conn-${i}`);
    await p.send({
      topic,
      messages: keys.map((key) => ({ key, value: JSON.stringify(checkpoint(key, 'v1')) })),
    });
    const { table } = await startedTable(topic);
    await table.claim([1, 3]);
    const expected = keys.filter((k) => [1, 3].includes(partitionForKey(k, 4))).sort();
    expect(expected.length).toBeGreaterThan(0);
    expect(
      table
        .connectionsInPartitions([0, 1, 2, 3])
        .map((c) => c.connectionId)
        .sort(),
    ).toEqual(expected);
    await expect(
      table.write(checkpoint(keys.find((k) => partitionForKey(k, 4) === 0) ?? '', 'x')),
    ).rejects.toThrow(FencedWriteError);
    expect(table.size()).toBe(expected.length);

    // Released: nothing of that partition stays in memory; claimed again: read again from the start.
    const onThree = keys.filter((k) => partitionForKey(k, 4) === 3);
    table.release([3]);
    expect(table.connectionsInPartitions([3])).toEqual([]);
    expect(onThree.map((k) => table.get(k))).toEqual(onThree.map(() => undefined));
    expect(table.size()).toBe(expected.length - onThree.length);
    await table.claim([3]);
    expect(cursorsOf(table.connectionsInPartitions([3]))).toEqual(
      Object.fromEntries(onThree.map((k) => [k, 'v1'])),
    );
    expect(table.size()).toBe(expected.length);
  });

  it('fences a replaced owner: its later writes are never a key’s last value, and it learns it lost the partition', async () => {
    const topic = uniqueName('state-fence');
    await broker.createTopic(topic, 2);
    const fenced: number[] = [];
    const { table: zombie } = await startedTable(topic, { onFenced: (ps) => fenced.push(...ps) });
    await zombie.claim([0, 1]);
    const key = 'conn-z';
    const partition = partitionForKey(key, 2);
    await zombie.write(checkpoint(key, 'zombie-before'));
    expect(zombie.owned().get(partition)).toBe(1);

    const { table: owner } = await startedTable(topic);
    await owner.claim([0, 1]);
    expect(owner.owned().get(partition)).toBe(2);
    expect(owner.get(key)?.cursor).toBe('zombie-before');
    await owner.write(checkpoint(key, 'owner'));

    // The zombie's late writes, as a frozen process would send them: its old epoch, after the marker.
    const p = await producer();
    for (let i = 0; i < 3; i++) {
      await p.send({
        topic,
        messages: [
          {
            key,
            value: JSON.stringify(checkpoint(key, `zombie-late-${i}`)),
            headers: { 'owner-epoch': '1' },
          },
        ],
      });
    }
    await until(() => fenced.includes(partition), 'the zombie sees the new marker');
    await expect(zombie.write(checkpoint(key, 'zombie-after'))).rejects.toThrow(FencedWriteError);
    await owner.waitUntilCaughtUp();
    expect(owner.get(key)?.cursor).toBe('owner');

    // The owner wrote the key again, so the newest record on the broker is its own.
    await until(async () => {
      const landed = (await kcatRead(broker, topic)).filter((m) => m.key === key);
      return landed.at(-1)?.headers.includes('owner-epoch=2') ?? false;
    }, 'the owner writes the key again after the fenced writes');
    const { table: fresh } = await startedTable(topic);
    await fresh.claim([partition]);
    expect(fresh.get(key)?.cursor).toBe('owner');
    expect(fresh.owned().get(partition)).toBe(3);
  });

  it('rejects waitUntilCaughtUp once stopped', async () => {
    const topic = uniqueName('state-stop');
    await broker.createTopic(topic, 1);
    const { table } = await startedTable(topic);
    await table.stop();
    await expect(table.waitUntilCaughtUp()).rejects.toThrow(/stopped/);
  });
});
