import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotificationQuiet } from '../../src/actors/channel-quiet.js';

describe('notification quiet', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  const settledAt = (quiet: NotificationQuiet, connectionId: string, signal?: AbortSignal) => {
    const at: { value: number | null; error: unknown } = { value: null, error: null };
    quiet.settle(connectionId, signal).then(
      () => {
        at.value = Date.now();
      },
      (error: unknown) => {
        at.error = error;
      },
    );
    return at;
  };

  it('does not wait when nothing was heard (a poll, a trigger)', async () => {
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 5_000 });
    const at = settledAt(quiet, 'conn_a');
    await vi.advanceTimersByTimeAsync(0);
    expect(at.value).toBe(0);
    expect(quiet.decide('conn_a', 0)).toEqual({ kind: 'now', leading: false });
  });

  it("reads at once for a quiet connection's first notification, then waits out the rest of its burst", async () => {
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 5_000 });
    quiet.heard('conn_a');
    const leading = settledAt(quiet, 'conn_a');
    await vi.advanceTimersByTimeAsync(0);
    expect(leading.value).toBe(0);
    // The burst goes on: the next run waits until it went quiet for 500 ms.
    for (let t = 0; t < 5; t++) {
      await vi.advanceTimersByTimeAsync(200);
      quiet.heard('conn_a');
    }
    const followUp = settledAt(quiet, 'conn_a');
    const other = settledAt(quiet, 'conn_b');
    await vi.advanceTimersByTimeAsync(499);
    expect(followUp.value).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(followUp.value).toBe(1_500);
    expect(other.value).toBe(1_000);
    expect(quiet.size).toBe(0);
    // Quiet again: the next notification reads at once.
    await vi.advanceTimersByTimeAsync(10_000);
    quiet.heard('conn_a');
    expect(quiet.decide('conn_a', Date.now())).toEqual({ kind: 'now', leading: true });
  });

  it('opens a new spell for a notification heard quietMs after the last one, run or not', () => {
    let now = 0;
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 5_000, now: () => now });
    quiet.heard('conn_a');
    expect(quiet.decide('conn_a', now)).toEqual({ kind: 'now', leading: true });
    now = 300;
    quiet.heard('conn_a');
    expect(quiet.decide('conn_a', now)).toEqual({ kind: 'wait', untilMs: 800 });
    now = 900;
    quiet.heard('conn_a');
    expect(quiet.decide('conn_a', now)).toEqual({ kind: 'now', leading: true });
    quiet.forget('conn_a');
    expect(quiet.size).toBe(0);
  });

  it('waits no longer than maxWaitMs when notifications never stop', async () => {
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 2_000 });
    quiet.heard('conn_a');
    await quiet.settle('conn_a');
    const at = settledAt(quiet, 'conn_a');
    for (let t = 0; t < 30; t++) {
      await vi.advanceTimersByTimeAsync(100);
      quiet.heard('conn_a');
    }
    expect(at.value).toBe(2_000);
  });

  it('rejects when aborted', async () => {
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 2_000 });
    quiet.heard('conn_a');
    await quiet.settle('conn_a');
    const controller = new AbortController();
    const at = settledAt(quiet, 'conn_a', controller.signal);
    controller.abort(new Error('sync stopped'));
    await vi.advanceTimersByTimeAsync(0);
    expect(at.value).toBeNull();
    expect(at.error).toBeInstanceOf(Error);
  });
});
