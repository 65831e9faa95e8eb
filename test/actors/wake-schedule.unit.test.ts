import { describe, expect, it } from 'vitest';
import { WakeSchedule } from '../../src/actors/wake-schedule.js';

describe('WakeSchedule', () => {
  it('hands out due connections earliest first, with their partition, and only once', () => {
    const schedule = new WakeSchedule();
    schedule.set('c', 30, 2);
    schedule.set('a', 10, 0);
    schedule.set('b', 20, 1);
    expect(schedule.earliest()).toBe(10);
    expect(schedule.takeDue(20)).toEqual([
      { connectionId: 'a', partition: 0 },
      { connectionId: 'b', partition: 1 },
    ]);
    expect(schedule.takeDue(20)).toEqual([]);
    expect(schedule.earliest()).toBe(30);
    expect(schedule.size).toBe(1);
  });

  it('moves a rescheduled connection and forgets a deleted one', () => {
    const schedule = new WakeSchedule();
    schedule.set('a', 10, 0);
    schedule.set('b', 20, 0);
    schedule.set('a', 50, 0);
    schedule.delete('b');
    expect(schedule.earliest()).toBe(50);
    expect(schedule.takeDue(49)).toEqual([]);
    expect(schedule.takeDue(50)).toEqual([{ connectionId: 'a', partition: 0 }]);
    expect(schedule.earliest()).toBeNull();
  });

  it('drops the connections of revoked partitions', () => {
    const schedule = new WakeSchedule();
    for (let i = 0; i < 100; i++) schedule.set(`c${i}`, i, i % 4);
    expect(schedule.deleteWhere((partition) => partition === 1 || partition === 3)).toBe(50);
    const due = schedule.takeDue(1000);
    expect(due).toHaveLength(50);
    expect(due.every(({ partition }) => partition === 0 || partition === 2)).toBe(true);
    expect(due.map(({ connectionId }) => Number(connectionId.slice(1)))).toEqual(
      [...Array(100).keys()].filter((i) => i % 2 === 0),
    );
  });

  it('keeps order through many reschedules (heap against a sorted reference)', () => {
    const schedule = new WakeSchedule();
    const reference = new Map<string, number>();
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let i = 0; i < 5_000; i++) {
      const id = `c${Math.floor(random() * 500)}`;
      if (random() < 0.2) {
        schedule.delete(id);
        reference.delete(id);
      } else {
        const at = Math.floor(random() * 10_000);
        schedule.set(id, at, null);
        reference.set(id, at);
      }
    }
    const expected = [...reference].sort(([a, x], [b, y]) => x - y || (a < b ? -1 : 1)).map(([id]) => id);
    expect(schedule.takeDue(10_000).map(({ connectionId }) => connectionId)).toEqual(expected);
  });
});
