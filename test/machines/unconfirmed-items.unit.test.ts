import { describe, expect, it } from 'vitest';
import {
  addListed,
  CHECKPOINT_LIMIT,
  forCheckpoint,
  mayPostdateLog,
  settle,
} from '../../src/machines/unconfirmed-items.js';

describe('items a listing published that the change log may never mention', () => {
  const started = '2026-01-01T12:00:00.000Z';

  it('counts items created since the run began, less five minutes for the clocks, and items of unknown age', () => {
    expect(mayPostdateLog({ id: 'a', createdTime: '2026-01-01T11:55:00.000Z' }, started)).toBe(true);
    expect(mayPostdateLog({ id: 'b', createdTime: '2026-01-01T11:54:59.999Z' }, started)).toBe(false);
    expect(mayPostdateLog({ id: 'c' }, started)).toBe(true);
  });

  it('keeps each id once until a change names it', () => {
    const listed = [
      { id: 'old', createdTime: '2025-01-01T00:00:00Z' },
      { id: 'new', createdTime: '2026-01-01T12:00:01Z' },
      { id: 'newer', createdTime: '2026-01-01T12:00:02Z' },
    ];
    const set = addListed(addListed([], listed, started), listed, started);
    expect(set).toEqual(['new', 'newer']);
    expect(settle(set, ['new', 'other'])).toEqual(['newer']);
  });

  it('puts a bounded number of ids in the checkpoint', () => {
    const many = Array.from({ length: CHECKPOINT_LIMIT + 5 }, (_, i) => `id${i}`);
    expect(forCheckpoint(many)).toHaveLength(CHECKPOINT_LIMIT);
  });
});
