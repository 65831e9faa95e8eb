import kafkajs, { type PartitionAssigner } from 'kafkajs';
import { z } from 'zod';
import { assignCoPartitioned, type MemberClaim } from './co-partitioned-assignment.js';

// kafkajs is CommonJS: its runtime values come through the default export under ESM.
const { AssignerProtocol } = kafkajs;

export const CO_PARTITIONED_ASSIGNER_NAME = 'CoPartitionedAssigner';
const VERSION = 1;

/** What a member says about itself when it joins: the partition numbers it holds now. */
const userDataSchema = z.object({ partitions: z.array(z.number().int().nonnegative()) });

export function encodeHeldPartitions(partitions: readonly number[]): Buffer {
  return Buffer.from(JSON.stringify({ partitions: [...partitions] }));
}

/** A member's userData read back; anything unreadable (another assigner, a bad value) holds nothing. */
export function decodeHeldPartitions(userData: Buffer | null | undefined): number[] {
  if (!userData || userData.length === 0) return [];
  try {
    const parsed = userDataSchema.safeParse(JSON.parse(userData.toString('utf8')));
    return parsed.success ? parsed.data.partitions : [];
  } catch {
    return [];
  }
}

/**
 * The group's partition assigner: partition p of every subscribed topic goes to one member
 * (co-partitioned-assignment.ts has the why and the balance and stickiness rules). Only the
 * leader's `assign` runs; every member's `protocol` reports what it holds, so a new leader
 * knows the previous assignment without any state of its own.
 *
 * A group's members must all offer this assigner: the broker refuses a join whose protocols
 * share none with the group's, so during a rolling upgrade from the default round-robin
 * assigner the new members wait until the old ones are gone (which is what we want: the two
 * would hand partition p's topics to different members).
 */
export function coPartitionedAssigner(heldPartitions: () => readonly number[]): PartitionAssigner {
  return ({ cluster }) => ({
    name: CO_PARTITIONED_ASSIGNER_NAME,
    version: VERSION,
    async assign({ members, topics }) {
      const partitionsOf = new Map<string, Set<number>>(
        topics.map((topic) => [
          topic,
          new Set(cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId)),
        ]),
      );
      const numbers = [...new Set([...partitionsOf.values()].flatMap((set) => [...set]))];
      const claims: MemberClaim[] = members.map(({ memberId, memberMetadata }) => {
        let previous: number[] = [];
        try {
          previous = decodeHeldPartitions(AssignerProtocol.MemberMetadata.decode(memberMetadata)?.userData);
        } catch {
          previous = [];
        }
        return { memberId, previous };
      });
      const assignment = assignCoPartitioned(claims, numbers);
      return [...assignment].map(([memberId, owned]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment: Object.fromEntries(
            topics.map((topic) => [topic, owned.filter((p) => partitionsOf.get(topic)?.has(p))]),
          ),
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: CO_PARTITIONED_ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: VERSION,
          topics,
          userData: encodeHeldPartitions(heldPartitions()),
        }),
      };
    },
  });
}
