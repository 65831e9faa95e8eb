import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  CO_PARTITIONED_ASSIGNER_NAME,
  coPartitionedAssigner,
  decodeHeldPartitions,
  encodeHeldPartitions,
} from '../../../src/io/kafka/co-partitioned-assigner.js';
import {
  assignCoPartitioned,
  type CoPartitionedAssignment,
  type MemberClaim,
} from '../../../src/io/kafka/co-partitioned-assignment.js';

const { AssignerProtocol } = kafkajs;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const members = (n: number, previous: (i: number) => number[] = () => []): MemberClaim[] =>
  range(n).map((i) => ({ memberId: `m${i}`, previous: previous(i) }));

/** Every number owned exactly once, per-member counts within one of each other. */
function expectValid(assignment: CoPartitionedAssignment, memberCount: number, partitions: number[]) {
  expect(assignment.size).toBe(memberCount);
  const owned = [...assignment.values()].flat().sort((a, b) => a - b);
  expect(owned).toEqual([...partitions].sort((a, b) => a - b));
  const counts = [...assignment.values()].map((l) => l.length);
  expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
}

/** Numbers whose owner changed between two assignments (a member gone counts as a move). */
function moved(before: CoPartitionedAssignment, after: CoPartitionedAssignment): number {
  const ownerBefore = new Map<number, string>();
  for (const [id, list] of before) for (const p of list) ownerBefore.set(p, id);
  let count = 0;
  for (const [id, list] of after) for (const p of list) if (ownerBefore.get(p) !== id) count++;
  return count;
}

const claimsFrom = (assignment: CoPartitionedAssignment, ids: readonly string[]): MemberClaim[] =>
  ids.map((memberId) => ({ memberId, previous: [...(assignment.get(memberId) ?? [])] }));

describe('co-partitioned assignment', () => {
  it('is balanced and complete for every member count from 1 to 7 on 1 to 12 partitions', () => {
    for (let m = 1; m <= 7; m++) {
      for (let p = 1; p <= 12; p++) expectValid(assignCoPartitioned(members(m), range(p)), m, range(p));
    }
  });

  it('gives members beyond the partition count nothing (5 members on 4 partitions)', () => {
    const assignment = assignCoPartitioned(members(5), range(4));
    expectValid(assignment, 5, range(4));
    expect([...assignment.values()].filter((l) => l.length === 0)).toHaveLength(1);
  });

  it('keeps a full previous assignment as it was', () => {
    const previous = [[3, 1], [0], [2]];
    const assignment = assignCoPartitioned(
      members(3, (i) => previous[i] ?? []),
      range(4),
    );
    expect(Object.fromEntries(assignment)).toEqual({ m0: [1, 3], m1: [0], m2: [2] });
  });

  it('moves only what balance needs when a member joins', () => {
    let current = assignCoPartitioned(members(2), range(12));
    for (const joiner of ['m2', 'm3', 'm4', 'm5']) {
      const ids = [...current.keys(), joiner];
      const next = assignCoPartitioned(claimsFrom(current, ids), range(12));
      expectValid(next, ids.length, range(12));
      // The joiner takes ⌊12/M⌋ and nothing else moves.
      expect(moved(current, next)).toBe(Math.floor(12 / ids.length));
      current = next;
    }
  });

  it('moves only the leaver’s partitions when a member leaves', () => {
    const four = assignCoPartitioned(members(4), range(12));
    const leaver = 'm1';
    const ids = ['m0', 'm2', 'm3'];
    const next = assignCoPartitioned(claimsFrom(four, ids), range(12));
    expectValid(next, 3, range(12));
    expect(moved(four, next)).toBe(four.get(leaver)?.length);
    for (const id of ids) expect(next.get(id)).toEqual(expect.arrayContaining([...(four.get(id) ?? [])]));
  });

  it('stays sticky through joins and leaves at random, never moving more than the difference needs', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const partitions = range(16);
    let ids = ['a', 'b', 'c'];
    let current = assignCoPartitioned(claimsFrom(new Map(), ids), partitions);
    let next = 0;
    for (let round = 0; round < 200; round++) {
      const join = ids.length < 2 || (ids.length < 9 && random() < 0.5);
      const leaving = Math.floor(random() * ids.length);
      ids = join ? [...ids, `n${next++}`] : ids.filter((_, i) => i !== leaving);
      const after = assignCoPartitioned(claimsFrom(current, ids), partitions);
      expectValid(after, ids.length, partitions);
      // Lower bound of moves: a leaver's numbers, and what the members over the new ceiling
      // must give; anything more is needless churn.
      const ceiling = Math.ceil(partitions.length / ids.length);
      const orphaned = [...current].filter(([id]) => !ids.includes(id)).reduce((n, [, l]) => n + l.length, 0);
      const surplus = ids.reduce((n, id) => n + Math.max(0, (current.get(id)?.length ?? 0) - ceiling), 0);
      expect(moved(current, after)).toBeLessThanOrEqual(orphaned + surplus + ids.length);
      current = after;
    }
  });

  it('settles a number claimed by two members (a fenced one that has not noticed) on one', () => {
    const assignment = assignCoPartitioned(
      [
        { memberId: 'a', previous: [0, 1] },
        { memberId: 'b', previous: [1, 2, 3] },
      ],
      range(4),
    );
    expectValid(assignment, 2, range(4));
  });

  it('ignores claims of numbers that no longer exist and repeated member ids', () => {
    const assignment = assignCoPartitioned(
      [
        { memberId: 'a', previous: [7, 0] },
        { memberId: 'a', previous: [1] },
        { memberId: 'b', previous: [] },
      ],
      range(2),
    );
    expect(Object.fromEntries(assignment)).toEqual({ a: [0], b: [1] });
  });

  it('is deterministic whatever the order of the members', () => {
    const claims = members(5, (i) => (i % 2 === 0 ? [i] : []));
    const forward = assignCoPartitioned(claims, range(9));
    const backward = assignCoPartitioned([...claims].reverse(), range(9));
    expect(Object.fromEntries(backward)).toEqual(Object.fromEntries(forward));
  });
});

describe('the kafkajs assigner', () => {
  const topics = ['trigger', 'webhook'];
  const cluster = {
    findTopicPartitionMetadata: (topic: string) =>
      range(4).map((partitionId) => ({ partitionId, topic, leader: 0, replicas: [0], isr: [0] })),
  };
  // Only the two cluster methods the assigner reads are needed.
  const assignerFor = (held: number[]) =>
    coPartitionedAssigner(() => held)({ cluster } as unknown as Parameters<
      ReturnType<typeof coPartitionedAssigner>
    >[0]);

  it('reports what the member holds in its join metadata', () => {
    const { name, metadata } = assignerFor([2, 3]).protocol({ topics });
    expect(name).toBe(CO_PARTITIONED_ASSIGNER_NAME);
    const decoded = AssignerProtocol.MemberMetadata.decode(metadata);
    expect(decoded?.topics).toEqual(topics);
    expect(decodeHeldPartitions(decoded?.userData)).toEqual([2, 3]);
  });

  it('gives partition p of both topics to the same member, keeping what members held', async () => {
    const metadataOf = (held: number[]) => assignerFor(held).protocol({ topics }).metadata;
    const result = await assignerFor([]).assign({
      members: [
        { memberId: 'x', memberMetadata: metadataOf([3]) },
        { memberId: 'y', memberMetadata: metadataOf([0, 1]) },
        { memberId: 'z', memberMetadata: metadataOf([]) },
      ],
      topics,
    });
    const decoded = Object.fromEntries(
      result.map(({ memberId, memberAssignment }) => [
        memberId,
        AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment,
      ]),
    );
    expect(decoded).toEqual({
      x: { trigger: [3], webhook: [3] },
      y: { trigger: [0, 1], webhook: [0, 1] },
      z: { trigger: [2], webhook: [2] },
    });
  });

  it('reads unreadable user data as holding nothing', () => {
    expect(decodeHeldPartitions(Buffer.from('not json'))).toEqual([]);
    expect(decodeHeldPartitions(Buffer.from('{"partitions":[-1]}'))).toEqual([]);
    expect(decodeHeldPartitions(encodeHeldPartitions([1]))).toEqual([1]);
  });
});
