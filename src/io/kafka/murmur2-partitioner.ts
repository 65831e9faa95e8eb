import { randomInt } from 'node:crypto';
import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`), in 32-bit integer arithmetic.
 *
 * kafkajs ships the same hash, but its `Long` helper multiplies BigInts it never cuts back to
 * 64 bits, so each step costs more than the last and hashing an n-byte key is quadratic: one
 * 2 MB key froze the event loop for good. `Math.imul` keeps every step at 32 bits, which is
 * all Java's `int` arithmetic ever holds, so the cost is linear and the result identical.
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data[i4] ?? 0) |
      ((data[i4 + 1] ?? 0) << 8) |
      ((data[i4 + 2] ?? 0) << 16) |
      ((data[i4 + 3] ?? 0) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & ~3;
  // Java's switch falls through from 3 to 1; spelled as guards for the compiler's sake.
  const rest = length & 3;
  if (rest >= 3) h ^= (data[tail + 2] ?? 0) << 16;
  if (rest >= 2) h ^= (data[tail + 1] ?? 0) << 8;
  if (rest >= 1) {
    h ^= data[tail] ?? 0;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Java's `Utils.toPositive`: not the absolute value, the sign bit cleared. */
function toPositive(n: number): number {
  return n & 0x7fffffff;
}

function keyBytes(key: Buffer | string): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** The partition Kafka's standard partitioner picks for a key among `partitionCount`. */
export function partitionForKey(key: Buffer | string, partitionCount: number): number {
  return toPositive(murmur2(keyBytes(key))) % partitionCount;
}

/**
 * A drop-in for kafkajs' `Partitioners.DefaultPartitioner` with the linear hash: an explicit
 * partition wins, a key is hashed over all partitions (as Java does, available or not), and
 * a keyless message goes round-robin over the partitions that have a leader.
 */
export const Murmur2Partitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) {
      return partitionForKey(message.key, partitionMetadata.length);
    }
    const counter = (counters.get(topic) ?? randomInt(0, 2 ** 31)) + 1;
    counters.set(topic, counter);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    const pool = available.length > 0 ? available : partitionMetadata;
    return pool[toPositive(counter) % pool.length]?.partitionId ?? 0;
  };
};
