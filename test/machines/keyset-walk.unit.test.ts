import { describe, expect, it } from 'vitest';
import {
  advanceKeyset,
  keysetBound,
  keysetForCheckpoint,
  keysetMoved,
  secondOf,
} from '../../src/machines/keyset-walk.js';

const item = (id: string, createdTime?: string) => ({ id, createdTime });

describe('the keyset walk', () => {
  it('bounds the next page by the last item’s whole second and remembers the ids taken in it', () => {
    const step = advanceKeyset(null, [
      item('a', '2025-01-01T00:00:01.100Z'),
      item('b', '2025-01-01T00:00:02.200Z'),
      item('c', '2025-01-01T00:00:02.900Z'),
    ]);
    expect(step).toEqual({
      kind: 'ordered',
      fresh: [
        item('a', '2025-01-01T00:00:01.100Z'),
        item('b', '2025-01-01T00:00:02.200Z'),
        item('c', '2025-01-01T00:00:02.900Z'),
      ],
      next: { since: '2025-01-01T00:00:02Z', seen: ['b', 'c'] },
    });
    expect(keysetBound(step.kind === 'ordered' ? step.next : null)).toBe(
      "createdTime >= '2025-01-01T00:00:02Z'",
    );
  });

  it('skips what the bound’s second brings again, and moves on only when something new came', () => {
    const from = { since: '2025-01-01T00:00:02Z', seen: ['b', 'c'] };
    const again = advanceKeyset(from, [
      item('b', '2025-01-01T00:00:02.200Z'),
      item('c', '2025-01-01T00:00:02.900Z'),
    ]);
    expect(again).toEqual({ kind: 'ordered', fresh: [], next: from });
    expect(keysetMoved(from, again.kind === 'ordered' ? again.next : null)).toBe(false);
    const more = advanceKeyset(from, [
      item('c', '2025-01-01T00:00:02.900Z'),
      item('d', '2025-01-01T00:00:02.950Z'),
    ]);
    expect(more.kind === 'ordered' && more.fresh.map((i) => i.id)).toEqual(['d']);
    expect(keysetMoved(from, more.kind === 'ordered' ? more.next : null)).toBe(true);
  });

  it('an item before the bound, times going backwards or no creation time: Drive ignored the order', () => {
    const from = { since: '2025-01-01T00:00:02Z', seen: [] };
    expect(advanceKeyset(from, [item('x', '2025-01-01T00:00:01.000Z')]).kind).toBe('unordered');
    expect(
      advanceKeyset(null, [item('y', '2025-01-01T00:00:05.000Z'), item('z', '2025-01-01T00:00:03.000Z')])
        .kind,
    ).toBe('unordered');
    expect(advanceKeyset(null, [item('w')]).kind).toBe('unordered');
    expect(secondOf('2025-01-01T00:00:07.999+01:00')).toBe('2024-12-31T23:00:07Z');
  });

  it('a checkpoint keeps at most the bound of the second’s ids, and a walk from it skips only those', () => {
    const position = { since: '2025-01-01T00:00:02Z', seen: ['a', 'b', 'c', 'd'] };
    const kept = keysetForCheckpoint(position, 2);
    expect(kept).toEqual({ since: '2025-01-01T00:00:02Z', seen: ['a', 'b'] });
    const page = ['a', 'b', 'c', 'd', 'e'].map((id) => item(id, '2025-01-01T00:00:02.500Z'));
    const step = advanceKeyset(kept, page);
    expect(step.kind === 'ordered' && step.fresh.map((i) => i.id)).toEqual(['c', 'd', 'e']);
    expect(keysetForCheckpoint(position)).toEqual(position);
  });
});
