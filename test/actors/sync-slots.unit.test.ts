import { describe, expect, it } from 'vitest';
import { SyncSlots } from '../../src/actors/sync-slots.js';

describe('SyncSlots', () => {
  it('never lets more than its capacity run at once', async () => {
    const slots = new SyncSlots(3);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        slots.withSlot(`conn-${i}`, async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((resolve) => setImmediate(resolve));
          running--;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(slots.busy).toBe(0);
  });

  it('lets a small connection in between the pages of a huge one', async () => {
    const slots = new SyncSlots(1);
    const order: string[] = [];
    const huge = (async () => {
      for (let page = 1; page <= 3; page++) {
        await slots.withSlot('huge', async () => {
          order.push(`huge-${page}`);
          await new Promise((resolve) => setImmediate(resolve));
        });
      }
    })();
    // Queued while the huge drive holds its first page.
    const small = slots.withSlot('small', async () => {
      order.push('small-1');
    });
    await Promise.all([huge, small]);
    expect(order).toEqual(['huge-1', 'small-1', 'huge-2', 'huge-3']);
  });

  it('drops a waiter whose sync was stopped', async () => {
    const slots = new SyncSlots(1);
    const release = await slots.acquire('a');
    const controller = new AbortController();
    const waiting = slots.acquire('b', controller.signal);
    expect(slots.waiting).toBe(1);
    controller.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
    expect(slots.waiting).toBe(0);
    release();
    release(); // releasing twice frees one slot only
    expect(slots.busy).toBe(0);
  });
});
