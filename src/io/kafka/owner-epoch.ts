import { partitionForKey } from './message-sink.js';

/**
 * Fencing on the state topic (pure; the checkpoint table applies it). Why epochs and not
 * transactions is in the README ("One owner per connection").
 *
 * Every value written to the state topic carries the writer's owner epoch of its partition
 * in the `owner-epoch` header. A member that gains a partition first reads the partition to
 * its end, then writes an owner marker there with an epoch above every epoch it read, so
 * epochs only grow along a partition's log, one per change of owner. Reading the log in
 * order, a value whose epoch is below the highest epoch read before it in its partition was
 * written by an owner that had already been replaced: it is ignored, and it never becomes a
 * connection's last checkpoint for any reader.
 */
export const OWNER_EPOCH_HEADER = 'owner-epoch';

/** Values without the header were written before fencing existed: epoch 0, older than any owner. */
export function epochOf(header: string | undefined): number {
  if (header === undefined || !/^\d{1,15}$/.test(header)) return 0;
  return Number(header);
}

/** What a reader does with one value read from a state partition. */
export type StateRecordVerdict =
  /** A checkpoint or tombstone written by a current owner: it is the key's newest value. */
  | { readonly kind: 'apply' }
  /** Written by an owner fenced before it wrote: ignored; its owner, if reading, writes the key again. */
  | { readonly kind: 'stale' }
  /** An owner marker: the partition's epoch is now `epoch`; `fencesUs` when we held it with a lower one. */
  | { readonly kind: 'marker'; readonly fencesUs: boolean };

export interface PartitionFenceState {
  /** Highest epoch read so far in this partition (markers and values). */
  readonly highest: number;
  /** Our epoch of this partition when we own it, else null. */
  readonly ours: number | null;
}

export function judgeStateRecord(
  state: PartitionFenceState,
  record: { readonly epoch: number; readonly isMarker: boolean },
): StateRecordVerdict {
  if (record.isMarker) {
    return { kind: 'marker', fencesUs: state.ours !== null && record.epoch > state.ours };
  }
  return record.epoch < state.highest ? { kind: 'stale' } : { kind: 'apply' };
}

/** The epoch a member claims for a partition whose log it has read to the end. */
export function nextEpoch(highestRead: number): number {
  return highestRead + 1;
}

const MARKER_PREFIX = '\u0000owner/';

export function isOwnerMarkerKey(key: string): boolean {
  return key.startsWith(MARKER_PREFIX);
}

/**
 * The key of a partition's owner marker: the first of `\0owner/p/0`, `\0owner/p/1`, … that
 * the standard partitioner puts on that partition, so markers go through the same producer
 * path as checkpoints and compaction keeps exactly one per partition. The NUL prefix is no
 * connection id's.
 */
export function ownerMarkerKey(partition: number, partitionCount: number): string {
  for (let i = 0; ; i++) {
    const key = `${MARKER_PREFIX}${partition}/${i}`;
    if (partitionForKey(key, partitionCount) === partition) return key;
  }
}

/**
 * Whether this member may still act as an owner, judged by its own clock: the group drops a
 * member that has not heartbeat for the session timeout, and from then on another one may
 * hold its partitions. A member frozen (SIGSTOP, a long pause) past that point finds its
 * lease lapsed the moment it runs again, before any answer from the broker could tell it,
 * and writes nothing. The margin covers the heartbeat's time in flight.
 */
export function leaseHolds(input: {
  readonly lastConfirmedAt: number | null;
  readonly now: number;
  readonly sessionTimeoutMs: number;
  readonly marginMs: number;
}): boolean {
  if (input.lastConfirmedAt === null) return false;
  return input.now - input.lastConfirmedAt < input.sessionTimeoutMs - input.marginMs;
}
