import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../../src/io/kafka/message-sink.js';
import {
  epochOf,
  isOwnerMarkerKey,
  judgeStateRecord,
  leaseHolds,
  nextEpoch,
  ownerMarkerKey,
} from '../../../src/io/kafka/owner-epoch.js';

describe('owner epochs', () => {
  it('reads the header, treating absent or malformed values as the oldest epoch', () => {
    expect(epochOf('7')).toBe(7);
    expect(epochOf(undefined)).toBe(0);
    expect(epochOf('-1')).toBe(0);
    expect(epochOf('x')).toBe(0);
  });

  it('applies values at or above the highest epoch read, ignores those below', () => {
    expect(judgeStateRecord({ highest: 3, ours: null }, { epoch: 3, isMarker: false })).toEqual({
      kind: 'apply',
    });
    expect(judgeStateRecord({ highest: 3, ours: null }, { epoch: 4, isMarker: false })).toEqual({
      kind: 'apply',
    });
    expect(judgeStateRecord({ highest: 3, ours: 3 }, { epoch: 2, isMarker: false })).toEqual({
      kind: 'stale',
    });
    // Written before fencing existed, before any marker: still a value.
    expect(judgeStateRecord({ highest: 0, ours: null }, { epoch: 0, isMarker: false })).toEqual({
      kind: 'apply',
    });
  });

  it('tells an owner that a marker above its epoch fenced it, and not its own marker', () => {
    expect(judgeStateRecord({ highest: 2, ours: 2 }, { epoch: 3, isMarker: true })).toEqual({
      kind: 'marker',
      fencesUs: true,
    });
    expect(judgeStateRecord({ highest: 2, ours: 2 }, { epoch: 2, isMarker: true })).toEqual({
      kind: 'marker',
      fencesUs: false,
    });
    expect(judgeStateRecord({ highest: 2, ours: null }, { epoch: 3, isMarker: true })).toEqual({
      kind: 'marker',
      fencesUs: false,
    });
  });

  it('replays a zombie scenario: the zombie’s later writes never become the last applied value', () => {
    // Partition log in order: A claims 1 and writes; B claims 2 and writes; A (frozen, then
    // running again) writes twice more with epoch 1; B writes again.
    const log = [
      { key: 'm', epoch: 1, isMarker: true, value: null },
      { key: 'c', epoch: 1, isMarker: false, value: 'A1' },
      { key: 'm', epoch: nextEpoch(1), isMarker: true, value: null },
      { key: 'c', epoch: 2, isMarker: false, value: 'B1' },
      { key: 'c', epoch: 1, isMarker: false, value: 'A2' },
      { key: 'c', epoch: 1, isMarker: false, value: 'A3' },
    ];
    let highest = 0;
    let last: string | null = null;
    for (const record of log) {
      const verdict = judgeStateRecord({ highest, ours: null }, record);
      if (verdict.kind === 'apply') last = record.value;
      highest = Math.max(highest, record.epoch);
    }
    expect(last).toBe('B1');
  });

  it('finds a marker key on every partition, never a connection id', () => {
    for (const count of [1, 3, 4, 12]) {
      for (let p = 0; p < count; p++) {
        const key = ownerMarkerKey(p, count);
        expect(partitionForKey(key, count)).toBe(p);
        expect(isOwnerMarkerKey(key)).toBe(true);
      }
    }
    expect(isOwnerMarkerKey('conn_abc')).toBe(false);
  });

  it('holds the lease only while the last confirmation is within the session timeout less the margin', () => {
    const base = { sessionTimeoutMs: 10_000, marginMs: 1_000 };
    expect(leaseHolds({ ...base, lastConfirmedAt: null, now: 0 })).toBe(false);
    expect(leaseHolds({ ...base, lastConfirmedAt: 0, now: 8_999 })).toBe(true);
    expect(leaseHolds({ ...base, lastConfirmedAt: 0, now: 9_000 })).toBe(false);
  });
});
