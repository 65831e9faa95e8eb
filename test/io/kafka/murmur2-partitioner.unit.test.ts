import { performance } from 'node:perf_hooks';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Murmur2Partitioner, murmur2, partitionForKey } from '../../../src/io/kafka/murmur2-partitioner.js';

function metadata(count: number): PartitionMetadata[] {
  return Array.from({ length: count }, (_, id) => ({
    partitionErrorCode: 0,
    partitionId: id,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
}

/** A small deterministic PRNG, so a failure names keys that can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

function randomKey(next: () => number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/é€😀';
  const chars = [...alphabet];
  const length = next() % 64;
  let key = '';
  for (let i = 0; i < length; i++) key += chars[next() % chars.length];
  return key;
}

describe('murmur2', () => {
  // Kafka's own vectors (clients' UtilsTest.testMurmur2) and librdkafka's.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
    ['1', -1993445489],
    ['12', 126087238],
    ['123', -267702483],
    ['1234', -1614185708],
    ['12345', -1188365604],
  ])('hashes %j as Java does', (key, expected) => {
    expect(murmur2(Buffer.from(key, 'utf8'))).toBe(expected);
  });

  it('places 5,000 short keys where kafkajs DefaultPartitioner does, for several partition counts', () => {
    const next = prng(14);
    const ours = Murmur2Partitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const mismatches: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const key = randomKey(next);
      for (const count of [1, 3, 12, 64]) {
        const args = { topic: 't', partitionMetadata: metadata(count), message: { key, value: null } };
        const expected = theirs(args);
        if (ours(args) !== expected || partitionForKey(key, count) !== expected) {
          mismatches.push(`${JSON.stringify(key)}/${count}`);
        }
      }
      const buffer = Buffer.from(key, 'utf8');
      const args = { topic: 't', partitionMetadata: metadata(7), message: { key: buffer, value: null } };
      if (ours(args) !== theirs(args)) mismatches.push(`buffer ${JSON.stringify(key)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('keeps an explicit partition and spreads keyless messages over partitions with a leader', () => {
    const partitioner = Murmur2Partitioner();
    const partitionMetadata = metadata(4).map((p) => (p.partitionId === 2 ? { ...p, leader: -1 } : p));
    expect(
      partitioner({ topic: 't', partitionMetadata, message: { key: 'k', value: null, partition: 3 } }),
    ).toBe(3);
    const chosen = new Set(
      Array.from({ length: 12 }, () =>
        partitioner({ topic: 't', partitionMetadata, message: { value: null } }),
      ),
    );
    expect([...chosen].sort()).toEqual([0, 1, 3]);
  });

  it('measures 1 KB and 100 KB keys against kafkajs (printed, not asserted)', () => {
    const theirs = Partitioners.DefaultPartitioner();
    const partitionMetadata = metadata(12);
    const rows: string[] = [];
    for (const [label, size, runs] of [
      ['1 KB', 1024, 200],
      ['100 KB', 100 * 1024, 3],
    ] as const) {
      const key = 'k'.repeat(size);
      const time = (fn: () => number): number => {
        const start = performance.now();
        for (let i = 0; i < runs; i++) fn();
        return (performance.now() - start) / runs;
      };
      const ourMs = time(() => partitionForKey(key, 12));
      const theirMs = time(() => theirs({ topic: 't', partitionMetadata, message: { key, value: null } }));
      expect(partitionForKey(key, 12)).toBe(
        theirs({ topic: 't', partitionMetadata, message: { key, value: null } }),
      );
      rows.push(`${label}: ours ${ourMs.toFixed(3)} ms/key, kafkajs ${theirMs.toFixed(3)} ms/key`);
    }
    console.log(`partitioner measurement\n${rows.join('\n')}`);
  }, 120_000);
});
