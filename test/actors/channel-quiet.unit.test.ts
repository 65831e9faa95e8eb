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

  it('does not wait when nothing was heard lately', async () => {
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 5_000 });
    const at = settledAt(quiet, 'conn_a');
    await vi.advanceTimersByTimeAsync(0);
    expect(at.value).toBe(0);
    quiet.heard('conn_a');
    await vi.advanceTimersByTimeAsync(600);
    const later = settledAt(quiet, 'conn_a');
    await vi.advanceTimersByTimeAsync(0);
    expect(later.value).toBe(600);
  });

  it('waits until the burst has been quiet for quietMs, per connection', async () => {
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 5_000 });
    quiet.heard('conn_a');
    const at = settledAt(quiet, 'conn_a');
    const other = settledAt(quiet, 'conn_b');
    for (let t = 0; t < 5; t++) {
      await vi.advanceTimersByTimeAsync(200);
      quiet.heard('conn_a');
    }
    await vi.advanceTimersByTimeAsync(499);
    expect(at.value).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(at.value).toBe(1_500);
    expect(other.value).toBe(0);
  });

  it('waits no longer than maxWaitMs when notifications never stop', async () => {
    const quiet = new NotificationQuiet({ quietMs: 500, maxWaitMs: 2_000 });
    quiet.heard('conn_a');
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
    const controller = new AbortController();
    const at = settledAt(quiet, 'conn_a', controller.signal);
    controller.abort(new Error('sync stopped'));
    await vi.advanceTimersByTimeAsync(0);
    expect(at.value).toBeNull();
    expect(at.error).toBeInstanceOf(Error);
  });
});
