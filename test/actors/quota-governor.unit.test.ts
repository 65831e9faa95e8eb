import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createQuotaGovernor,
  type QuotaGovernor,
  QuotaGovernorClosedError,
  type QuotaGovernorOptions,
  rateLimitScopeOf,
} from '../../src/actors/quota-governor.js';
import { CallControl } from '../../src/emulator/control.js';
import { type InstrumentationEvents, subscribe } from '../../src/instrumentation.js';

interface Grant {
  readonly connectionId: string;
  readonly googleUser: string;
  readonly at: number;
}

/** A governor on vitest's fake clock, with a log of every grant in order. */
function governed(options: Omit<QuotaGovernorOptions, 'now'>) {
  const governor = createQuotaGovernor({ ...options, now: () => Date.now() });
  const grants: Grant[] = [];
  const failures: unknown[] = [];
  const call = (
    connectionId: string,
    googleUser: string,
    extra: { cost?: number; signal?: AbortSignal } = {},
  ) =>
    governor.acquire({ connectionId, googleUser, ...extra }).then(
      () => {
        grants.push({ connectionId, googleUser, at: Date.now() });
      },
      (error: unknown) => {
        failures.push(error);
      },
    );
  return { governor, grants, failures, call };
}

function busiestWindow(times: readonly number[], windowMs: number): number {
  let busiest = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= windowMs) start++;
    busiest = Math.max(busiest, end - start + 1);
  }
  return busiest;
}

const inMinute = (grants: readonly Grant[], from: number) =>
  grants.filter((grant) => grant.at >= from && grant.at < from + 60_000);

describe('quota governor', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never lets a 60 s window exceed the budget at full demand, and delivers nearly all of it', async () => {
    const { grants, call } = governed({ userPerMinute: 1_200, projectPerMinute: 1_200 });
    for (let i = 0; i < 4_000; i++) void call('conn-a', 'user-a');
    for (let second = 0; second < 180; second++) {
      await vi.advanceTimersByTimeAsync(1_000);
      // One timer for the earliest token, never one per waiter.
      expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
    }
    expect(
      busiestWindow(
        grants.map((grant) => grant.at),
        60_000,
      ),
    ).toBeLessThanOrEqual(1_200);
    expect(inMinute(grants, 60_000).length).toBeGreaterThanOrEqual(1_170);
  });

  it('gives each Google user its own budget while the project bucket caps the sum', async () => {
    const roomy = governed({ userPerMinute: 600, projectPerMinute: 6_000 });
    for (let i = 0; i < 2_000; i++) {
      void roomy.call('conn-a', 'user-a');
      void roomy.call('conn-b', 'user-b');
    }
    await vi.advanceTimersByTimeAsync(120_000);
    for (const user of ['user-a', 'user-b']) {
      const times = roomy.grants.filter((grant) => grant.googleUser === user).map((grant) => grant.at);
      expect(busiestWindow(times, 60_000)).toBeLessThanOrEqual(600);
      expect(times.filter((at) => at >= 60_000 && at < 120_000).length).toBeGreaterThanOrEqual(585);
    }
    roomy.governor.close();

    vi.setSystemTime(0);
    const tight = governed({ userPerMinute: 1_200, projectPerMinute: 1_200 });
    for (let i = 0; i < 2_000; i++) {
      void tight.call('conn-a', 'user-a');
      void tight.call('conn-b', 'user-b');
    }
    await vi.advanceTimersByTimeAsync(120_000);
    expect(
      busiestWindow(
        tight.grants.map((grant) => grant.at),
        60_000,
      ),
    ).toBeLessThanOrEqual(1_200);
    const secondMinute = inMinute(tight.grants, 60_000);
    const ofA = secondMinute.filter((grant) => grant.googleUser === 'user-a').length;
    const ofB = secondMinute.filter((grant) => grant.googleUser === 'user-b').length;
    expect(ofA + ofB).toBeGreaterThanOrEqual(1_170);
    // Round-robin splits the project budget evenly.
    expect(Math.abs(ofA - ofB)).toBeLessThanOrEqual(1);
    tight.governor.close();
  });

  it("serves a connection's first call within one round of a connection with a huge backlog", async () => {
    const { governor, grants, call } = governed({ userPerMinute: 1_200, projectPerMinute: 1_200 });
    for (let i = 0; i < 10_000; i++) void call('huge', 'user-a');
    await vi.advanceTimersByTimeAsync(5_000);
    const before = grants.length;
    void call('small', 'user-a');
    void call('other', 'user-b');
    await vi.advanceTimersByTimeAsync(1_000);
    const order = grants.slice(before).map((grant) => grant.connectionId);
    // One round: at most one call of the huge backlog ahead of each newcomer.
    expect(order.indexOf('small')).toBeLessThanOrEqual(1);
    expect(order.indexOf('other')).toBeLessThanOrEqual(2);
    expect(order.indexOf('small')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('other')).toBeGreaterThanOrEqual(0);
    governor.close();
  });

  it("does not let a user out of tokens hold up another user's connection", async () => {
    const { governor, grants, call } = governed({ userPerMinute: 61, projectPerMinute: 61_000 });
    for (let i = 0; i < 10; i++) void call('slow-user', 'user-a');
    await vi.advanceTimersByTimeAsync(0);
    expect(grants).toHaveLength(1); // user-a's burst is one call
    await call('fast-user', 'user-b');
    expect(grants.at(-1)).toMatchObject({ connectionId: 'fast-user', at: 0 });
    governor.close();
  });

  it('lowers the rate on reported rate limits and brings it back on successes, bounded both ways', async () => {
    const { governor, grants, call } = governed({ userPerMinute: 1_200, projectPerMinute: 100_000 });
    governor.reportRateLimited({ googleUser: 'user-a', scope: 'user' });
    expect(governor.userState('user-a')?.ratePerMinute).toBeCloseTo(840, 6);
    expect(governor.snapshot().project.ratePerMinute).toBe(100_000);
    // The calls in flight during the same event do not compound the drop.
    governor.reportRateLimited({ googleUser: 'user-a', scope: 'user' });
    expect(governor.userState('user-a')?.ratePerMinute).toBeCloseTo(840, 6);

    for (let i = 0; i < 3_000; i++) void call('conn-a', 'user-a');
    await vi.advanceTimersByTimeAsync(60_000);
    // Held to the lowered rate (no successes reported yet, so no recovery).
    expect(
      busiestWindow(
        grants.map((grant) => grant.at),
        60_000,
      ),
    ).toBeLessThanOrEqual(840);
    expect(grants.length).toBeGreaterThanOrEqual(820);

    for (let second = 0; second < 1_000; second++) {
      vi.advanceTimersByTime(1_000);
      governor.reportRateLimited({ googleUser: 'user-a', scope: 'user' });
    }
    expect(governor.userState('user-a')?.ratePerMinute).toBeCloseTo(12, 6);

    for (let i = 0; i < 100_000; i++) governor.reportSuccess({ googleUser: 'user-a' });
    expect(governor.userState('user-a')?.ratePerMinute).toBe(1_200);
    expect(governor.snapshot().users.throttled).toBe(0);
    governor.close();
  });

  it('charges rateLimitExceeded and 429 to the project, userRateLimitExceeded to the user, unknown to both', () => {
    expect(rateLimitScopeOf(403, 'userRateLimitExceeded')).toBe('user');
    expect(rateLimitScopeOf(403, 'rateLimitExceeded')).toBe('project');
    expect(rateLimitScopeOf(429, 'rateLimitExceeded')).toBe('project');
    expect(rateLimitScopeOf(429, null)).toBe('project');
    expect(rateLimitScopeOf(403, 'sharingRateLimitExceeded')).toBeNull();
    expect(rateLimitScopeOf(403, 'dailyLimitExceeded')).toBeNull();
    expect(rateLimitScopeOf(500, 'backendError')).toBeNull();

    const project = createQuotaGovernor({ userPerMinute: 1_000, projectPerMinute: 2_000 });
    project.reportRateLimited({ googleUser: 'user-a', scope: 'project' });
    expect(project.snapshot().project.ratePerMinute).toBeCloseTo(1_400, 6);
    expect(project.userState('user-a')).toBeUndefined();
    // Any user's success is evidence for the project bucket.
    for (let i = 0; i < 10_000; i++) project.reportSuccess({ googleUser: 'user-z' });
    expect(project.snapshot().project.ratePerMinute).toBe(2_000);

    const unknown = createQuotaGovernor({ userPerMinute: 1_000, projectPerMinute: 2_000 });
    unknown.reportRateLimited({ googleUser: 'user-a' });
    expect(unknown.snapshot().project.ratePerMinute).toBeCloseTo(1_400, 6);
    expect(unknown.userState('user-a')?.ratePerMinute).toBeCloseTo(700, 6);
  });

  it('removes an aborted waiter, rejects it with the reason, and frees nothing it did not take', async () => {
    const { governor, grants, failures, call } = governed({ userPerMinute: 610, projectPerMinute: 610 });
    for (let i = 0; i < 10; i++) void call('conn-a', 'user-a'); // the whole burst
    await vi.advanceTimersByTimeAsync(0);
    const controller = new AbortController();
    const aborted = call('conn-a', 'user-a', { signal: controller.signal });
    void call('conn-a', 'user-a');
    expect(governor.snapshot().waiting).toEqual({ calls: 2, connections: 1 });
    const availableBefore = governor.snapshot().project.available;

    controller.abort(new Error('sync cancelled'));
    await aborted;
    expect(failures).toEqual([new Error('sync cancelled')]);
    expect(governor.snapshot().waiting).toEqual({ calls: 1, connections: 1 });
    expect(governor.snapshot().project.available).toBe(availableBefore);
    // The next token (100 ms at 10 a second) goes to the call behind it.
    await vi.advanceTimersByTimeAsync(100);
    expect(grants).toHaveLength(11);
    expect(governor.snapshot().waiting).toEqual({ calls: 0, connections: 0 });
    expect(vi.getTimerCount()).toBe(0);

    const already = new AbortController();
    already.abort(new Error('before asking'));
    await expect(
      governor.acquire({ connectionId: 'c', googleUser: 'u', signal: already.signal }),
    ).rejects.toThrow('before asking');
  });

  it('unblocks the calls behind an aborted large call', async () => {
    const { governor, grants, call } = governed({ userPerMinute: 610, projectPerMinute: 610 });
    await call('conn-a', 'user-a', { cost: 5 });
    const controller = new AbortController();
    void call('batch', 'user-b', { cost: 10, signal: controller.signal }); // needs a full bucket
    void call('single', 'user-c');
    await vi.advanceTimersByTimeAsync(0);
    // Behind the batch on the project bucket, although a token is there.
    expect(grants.map((grant) => grant.connectionId)).toEqual(['conn-a']);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(grants.map((grant) => grant.connectionId)).toEqual(['conn-a', 'single']);
    governor.close();
  });

  it('lets a call costing more than the burst through and makes later calls wait it out', async () => {
    const { governor, grants, call } = governed({ userPerMinute: 610, projectPerMinute: 610 });
    void call('batch', 'user-a', { cost: 100 });
    void call('after', 'user-a');
    await vi.advanceTimersByTimeAsync(0);
    expect(grants.map((grant) => grant.connectionId)).toEqual(['batch']);
    expect(governor.snapshot().project.available).toBeCloseTo(-90, 6);
    // 91 tokens at 10 a second.
    await vi.advanceTimersByTimeAsync(9_099);
    expect(grants).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(grants.at(-1)).toMatchObject({ connectionId: 'after', at: 9_100 });
    governor.close();
  });

  it("takes its share of the project's budget, recomputed when the group's members change", async () => {
    const shares: InstrumentationEvents['quota.share'][] = [];
    const unsubscribe = subscribe('quota.share', (event) => shares.push(event));
    const { governor, grants, call } = governed({ userPerMinute: 100_000, projectPerMinute: 1_220 });
    governor.shareProject(2);
    expect(shares).toEqual([{ members: 2, perMinute: 610 }]);
    expect(governor.snapshot().fleet).toEqual({ members: 2, projectPerMinute: 1_220 });
    expect(governor.snapshot().project.configuredPerMinute).toBe(610);
    for (let i = 0; i < 3_000; i++) void call('conn-a', 'user-a');
    await vi.advanceTimersByTimeAsync(60_000);
    const half = grants.length;
    expect(half).toBeLessThanOrEqual(610);
    expect(half).toBeGreaterThanOrEqual(590);
    // The other member left: the whole budget from now on, without a fresh burst.
    expect(governor.snapshot().project.available).toBeLessThan(1);
    governor.shareProject(1);
    expect(governor.snapshot().project.available).toBeLessThan(1);
    await vi.advanceTimersByTimeAsync(60_000);
    const whole = grants.length - half;
    expect(whole).toBeLessThanOrEqual(1_220);
    expect(whole).toBeGreaterThanOrEqual(1_190);
    expect(
      busiestWindow(
        grants.filter((g) => g.at < 60_000).map((g) => g.at),
        60_000,
      ),
    ).toBeLessThanOrEqual(610);
    expect(shares.at(-1)).toEqual({ members: 1, perMinute: 1_220 });
    expect(() => governor.shareProject(0)).toThrow(RangeError);
    unsubscribe();
    governor.close();
  });

  it('reports tokens, rates and waiters in its snapshot', async () => {
    const { governor, call } = governed({ userPerMinute: 610, projectPerMinute: 1_220 });
    expect(governor.snapshot()).toEqual({
      project: { available: 20, capacity: 20, ratePerMinute: 1_220, configuredPerMinute: 1_220 },
      users: {
        tracked: 0,
        throttled: 0,
        configuredPerMinute: 610,
        lowestRatePerMinute: null,
        lowestAvailable: null,
      },
      waiting: { calls: 0, connections: 0 },
      fleet: { members: 1, projectPerMinute: 1_220 },
    });
    for (let i = 0; i < 12; i++) void call('conn-a', 'user-a');
    void call('conn-b', 'user-b');
    await vi.advanceTimersByTimeAsync(0);
    governor.reportRateLimited({ googleUser: 'user-b', scope: 'user' });
    const snapshot = governor.snapshot();
    expect(snapshot.project.available).toBeCloseTo(9, 6);
    expect(snapshot.users).toEqual({
      tracked: 2,
      throttled: 1,
      configuredPerMinute: 610,
      lowestRatePerMinute: 427,
      lowestAvailable: 0,
    });
    expect(snapshot.waiting).toEqual({ calls: 2, connections: 1 });
    expect(governor.userState('user-a')).toEqual({
      available: 0,
      capacity: 10,
      ratePerMinute: 610,
      configuredPerMinute: 610,
    });
    governor.close();
  });

  it("publishes 'quota.tokens' at most once a second on activity, and at once when asked", async () => {
    const events: InstrumentationEvents['quota.tokens'][] = [];
    const unsubscribe = subscribe('quota.tokens', (event) => events.push(event));
    try {
      const { governor, call } = governed({ userPerMinute: 6_100, projectPerMinute: 6_100 });
      for (let i = 0; i < 300; i++) void call('conn-a', 'user-a');
      await vi.advanceTimersByTimeAsync(2_500);
      // Activity at 0, 1 s and 2 s: project and user each time.
      expect(events.map((event) => event.scope)).toEqual([
        'project',
        'user',
        'project',
        'user',
        'project',
        'user',
      ]);
      governor.publishTokens();
      expect(events).toHaveLength(8);
      expect(events.at(-2)).toEqual({ scope: 'project', available: governor.snapshot().project.available });
      governor.close();
    } finally {
      unsubscribe();
    }
  });

  it('rejects every waiter on close and refuses calls afterwards', async () => {
    const { governor, failures, call } = governed({ userPerMinute: 610, projectPerMinute: 610 });
    for (let i = 0; i < 12; i++) void call('conn-a', 'user-a');
    await vi.advanceTimersByTimeAsync(0);
    governor.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(failures).toHaveLength(2);
    expect(failures[0]).toBeInstanceOf(QuotaGovernorClosedError);
    expect(vi.getTimerCount()).toBe(0);
    await expect(governor.acquire({ connectionId: 'c', googleUser: 'u' })).rejects.toBeInstanceOf(
      QuotaGovernorClosedError,
    );
  });

  it('refuses a cost that is not a positive integer', async () => {
    const governor: QuotaGovernor = createQuotaGovernor({ userPerMinute: 10, projectPerMinute: 10 });
    await expect(governor.acquire({ connectionId: 'c', googleUser: 'u', cost: 0 })).rejects.toThrow(
      RangeError,
    );
    await expect(governor.acquire({ connectionId: 'c', googleUser: 'u', cost: 1.5 })).rejects.toThrow(
      RangeError,
    );
    expect(() => createQuotaGovernor({ userPerMinute: 0, projectPerMinute: 10 })).toThrow(RangeError);
  });
});

describe('quota governor timers', () => {
  it('keeps one timer, set for the earliest token, through an injected clock and timer', async () => {
    let clock = 0;
    const timers: { callback: () => void; dueAt: number; cancelled: boolean }[] = [];
    const governor = createQuotaGovernor({
      userPerMinute: 610,
      projectPerMinute: 6_100,
      now: () => clock,
      setTimer: (callback, delayMs) => {
        const timer = { callback, dueAt: clock + delayMs, cancelled: false };
        timers.push(timer);
        return () => {
          timer.cancelled = true;
        };
      },
    });
    const pending = () => timers.filter((timer) => !timer.cancelled);
    let granted = 0;
    for (let i = 0; i < 25; i++)
      void governor.acquire({ connectionId: 'conn-a', googleUser: 'u' }).then(() => granted++);
    await Promise.resolve();
    expect(granted).toBe(10);
    expect(pending()).toHaveLength(1);
    expect(pending()[0]?.dueAt).toBe(100);

    while (pending().length > 0) {
      const [next] = pending().sort((a, b) => a.dueAt - b.dueAt);
      if (!next) break;
      next.cancelled = true;
      clock = next.dueAt;
      next.callback();
      await Promise.resolve();
      expect(pending().length).toBeLessThanOrEqual(1);
    }
    expect(granted).toBe(25);
    expect(clock).toBe(1_500);
    // 15 waits, 15 timers: no polling.
    expect(timers).toHaveLength(15);
  });
});

describe('quota governor against the Drive emulator quota accounting', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /**
   * Connections send `callsPerUser` calls each through the governor to the emulator's
   * own buckets (full-minute burst, as the emulator has), retrying refused calls at once:
   * the governor alone paces them. Returns refusals and the simulated seconds taken.
   */
  async function syncAgainstDrive(options: {
    governor: { userPerMinute: number; projectPerMinute: number };
    drive: { perUserPerMinute: number; perProjectPerMinute: number };
    users: readonly string[];
    callsPerUser: number;
  }) {
    const drive = new CallControl(1, () => Date.now());
    drive.setQuota(options.drive);
    const governor = createQuotaGovernor({ ...options.governor, now: () => Date.now() });
    let refused = 0;
    let completed = 0;
    const call = async (googleUser: string) => {
      for (;;) {
        await governor.acquire({ googleUser, connectionId: `conn-${googleUser}` });
        const verdict = drive.charge(googleUser);
        if (verdict === 'ok') {
          governor.reportSuccess({ googleUser });
          completed++;
          return;
        }
        refused++;
        governor.reportRateLimited({ googleUser, scope: verdict });
      }
    };
    const total = options.users.length * options.callsPerUser;
    const all = Promise.all(
      options.users.flatMap((user) => Array.from({ length: options.callsPerUser }, () => call(user))),
    );
    let seconds = 0;
    while (completed < total && seconds < 3_600) {
      await vi.advanceTimersByTimeAsync(1_000);
      seconds++;
    }
    await all;
    governor.close();
    return { refused, completed, seconds };
  }

  it('receives no rate-limit answer when the governor is sized to the quota', async () => {
    const outcome = await syncAgainstDrive({
      governor: { userPerMinute: 1_200, projectPerMinute: 2_400 },
      drive: { perUserPerMinute: 1_200, perProjectPerMinute: 2_400 },
      users: ['user-a', 'user-b'],
      callsPerUser: 4_000,
    });
    expect(outcome).toMatchObject({ refused: 0, completed: 8_000 });
    // At least 95% of the quota: 4,000 calls at 1,200 a minute take 200 s.
    expect(outcome.seconds).toBeLessThanOrEqual(Math.ceil(((4_000 / 1_200) * 60) / 0.95));
  });

  it('adapts to a user quota a quarter of its configuration and completes every call', async () => {
    const outcome = await syncAgainstDrive({
      governor: { userPerMinute: 1_200, projectPerMinute: 12_000 },
      drive: { perUserPerMinute: 300, perProjectPerMinute: 12_000 },
      users: ['user-a'],
      callsPerUser: 3_000,
    });
    expect(outcome.completed).toBe(3_000);
    expect(outcome.refused).toBeLessThan(3_000 * 0.03);
    expect(outcome.seconds).toBeLessThanOrEqual(Math.ceil(((3_000 - 300) / 300) * 60 * 1.1));
  });

  it('adapts to a project quota below its configuration and completes every call', async () => {
    const outcome = await syncAgainstDrive({
      governor: { userPerMinute: 1_200, projectPerMinute: 2_400 },
      drive: { perUserPerMinute: 1_200, perProjectPerMinute: 600 },
      users: ['user-a', 'user-b', 'user-c'],
      callsPerUser: 1_000,
    });
    expect(outcome.completed).toBe(3_000);
    expect(outcome.refused).toBeLessThan(3_000 * 0.03);
    expect(outcome.seconds).toBeLessThanOrEqual(Math.ceil(((3_000 - 600) / 600) * 60 * 1.1));
  });
});
