import { describe, expect, it } from 'vitest';
import { channelTokenFor, verifyChannelToken } from '../../src/contract/channel-token.js';

describe('channel tokens', () => {
  const key = 'test-key';
  it('verifies its own token and nothing else', () => {
    const token = channelTokenFor(key, 'conn_a', 'chan-1');
    expect(token.length).toBeLessThanOrEqual(256);
    expect(verifyChannelToken(key, 'conn_a', 'chan-1', token)).toBe(true);
    expect(verifyChannelToken(key, 'conn_b', 'chan-1', token)).toBe(false);
    expect(verifyChannelToken(key, 'conn_a', 'chan-2', token)).toBe(false);
    expect(verifyChannelToken('other-key', 'conn_a', 'chan-1', token)).toBe(false);
    expect(verifyChannelToken(key, 'conn_a', 'chan-1', undefined)).toBe(false);
    expect(verifyChannelToken(key, 'conn_a', 'chan-1', `${token}x`)).toBe(false);
  });
});
