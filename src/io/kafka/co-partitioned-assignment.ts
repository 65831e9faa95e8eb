/**
 * Which member of the consumer group owns which partition number (pure; the kafkajs
 * assigner around it is in co-partitioned-assigner.ts).
 *
 * A partition number, not a topic-partition, is the unit handed out: the connections of
 * partition p of the trigger topic are exactly those of partition p of the webhook and state
 * topics (same key, same partitioner, same count), so one member must hold p of all of them.
 *
 * Balanced: every member gets ⌊P/M⌋ or ⌈P/M⌉ numbers. Sticky: a member keeps the numbers
 * it held before (its own report, carried in the join's userData) as far as balance allows,
 * so a rebalance moves only what it must; each moved number costs a restore and a fence.
 */

export interface MemberClaim {
  readonly memberId: string;
  /** Partition numbers this member held in its last generation, from its userData. */
  readonly previous: readonly number[];
}

/** memberId → the partition numbers it owns, ascending; every member appears, possibly with none. */
export type CoPartitionedAssignment = ReadonlyMap<string, readonly number[]>;

export function assignCoPartitioned(
  members: readonly MemberClaim[],
  partitions: readonly number[],
): CoPartitionedAssignment {
  const ids = [...new Set(members.map((m) => m.memberId))].sort();
  const result = new Map<string, number[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return result;
  const all = [...new Set(partitions)].sort((a, b) => a - b);
  const min = Math.floor(all.length / ids.length);
  const extra = all.length % ids.length;
  const max = extra === 0 ? min : min + 1;

  const previousOf = new Map<string, number[]>();
  for (const member of members) {
    const list = previousOf.get(member.memberId) ?? [];
    list.push(...member.previous);
    previousOf.set(member.memberId, list);
  }

  // Keep what each member held, up to `max`. A number claimed twice (a member that was
  // fenced and has not noticed yet) goes to the claimant holding fewer, then the lower id.
  const valid = new Set(all);
  const claimants = new Map<number, string[]>();
  for (const id of ids) {
    for (const p of new Set(previousOf.get(id) ?? [])) {
      if (!valid.has(p)) continue;
      const list = claimants.get(p) ?? [];
      list.push(id);
      claimants.set(p, list);
    }
  }
  const taken = new Set<number>();
  for (const p of all) {
    const list = claimants.get(p);
    if (!list) continue;
    const winner = [...list]
      .filter((id) => (result.get(id)?.length ?? 0) < max)
      .sort((a, b) => (result.get(a)?.length ?? 0) - (result.get(b)?.length ?? 0) || cmp(a, b))[0];
    if (winner === undefined) continue;
    result.get(winner)?.push(p);
    taken.add(p);
  }

  // Only `extra` members may hold `max` when it exceeds `min`: the others give back their
  // highest numbers (members that hold the most, then the highest ids, give first).
  if (max > min) {
    const atMax = ids.filter((id) => (result.get(id)?.length ?? 0) === max);
    for (const id of atMax.slice(extra)) {
      const list = result.get(id) ?? [];
      while (list.length > min) {
        const given = list.pop();
        if (given !== undefined) taken.delete(given);
      }
    }
  } else {
    for (const list of result.values()) {
      while (list.length > max) {
        const given = list.pop();
        if (given !== undefined) taken.delete(given);
      }
    }
  }

  // The rest, each to the member holding fewest (then the lowest id): this ends with every
  // member at min or max and exactly `extra` at max (see the unit tests' invariants).
  for (const p of all) {
    if (taken.has(p)) continue;
    const target = ids.reduce((best, id) =>
      (result.get(id)?.length ?? 0) < (result.get(best)?.length ?? 0) ? id : best,
    );
    result.get(target)?.push(p);
  }
  for (const list of result.values()) list.sort((a, b) => a - b);
  return result;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
