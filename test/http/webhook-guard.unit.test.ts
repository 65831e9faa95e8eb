import { describe, expect, it } from 'vitest';
import { channelTokenFor } from '../../src/contract/channel-token.js';
import { WebhookGuard } from '../../src/http/webhook-guard.js';

const key = 'guard-key';
const note = (messageNumber: string, channelId = 'chan-1', connectionId = 'conn_a') => ({
  connectionId,
  channelId,
  token: channelTokenFor(key, connectionId, channelId),
  messageNumber,
});

describe('WebhookGuard', () => {
  const guard = (overrides: Partial<ConstructorParameters<typeof WebhookGuard>[0]> = {}) =>
    new WebhookGuard({ tokenKey: key, burstPerChannel: 1000, ratePerSecond: 100, ...overrides });

  it('refuses a token that does not verify for the connection and channel, and remembers nothing for it', () => {
    const g = guard();
    expect(g.check({ ...note('1'), token: undefined }, 0)).toEqual({ kind: 'refuse', reason: 'bad_token' });
    expect(g.check({ ...note('1'), token: 'v1.forged' }, 0).kind).toBe('refuse');
    expect(g.check({ ...note('1'), connectionId: 'conn_b' }, 0).kind).toBe('refuse');
    expect(g.channelsRemembered).toBe(0);
  });

  it('lets a number through once per channel; the same number on another channel is not a replay', () => {
    const g = guard();
    expect(g.check(note('7'), 0).kind).toBe('produce');
    expect(g.check(note('7'), 0).kind).toBe('replay');
    expect(g.check(note('7', 'chan-2'), 0).kind).toBe('produce');
  });

  it('forgets a number whose produce failed, so Google retrying it is produced', () => {
    const g = guard();
    expect(g.check(note('9'), 0).kind).toBe('produce');
    g.failed(note('9'));
    expect(g.check(note('9'), 0).kind).toBe('produce');
  });

  it('remembers the newest 64 numbers per channel and 10,000 channels at most', () => {
    const g = guard({ burstPerChannel: 1_000_000 });
    for (let n = 1; n <= 65; n++) g.check(note(String(n)), 0);
    expect(g.check(note('1'), 0).kind).toBe('produce');
    expect(g.check(note('65'), 0).kind).toBe('replay');
    for (let c = 0; c < 10_050; c++) g.check(note('1', `chan-x${c}`), 0);
    expect(g.channelsRemembered).toBe(10_000);
  });

  it('rate-limits each channel with a token bucket and says when to retry', () => {
    const g = guard({ burstPerChannel: 2, ratePerSecond: 1 });
    expect(g.check(note('1'), 0).kind).toBe('produce');
    expect(g.check(note('2'), 0).kind).toBe('produce');
    expect(g.check(note('3'), 0)).toEqual({ kind: 'rate_limited', retryAfterSeconds: 1 });
    expect(g.check(note('1', 'chan-other'), 0).kind).toBe('produce');
    expect(g.check(note('3'), 1000).kind).toBe('produce');
  });
});
