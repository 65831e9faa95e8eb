import { describe, expect, it } from 'vitest';
import { channelAddressFor } from '../../src/actors/channel-address.js';
import { admitWebhook, type WebhookFacts } from '../../src/actors/channel-admission.js';
import { ChannelOverlap } from '../../src/actors/channel-overlap.js';

const current = {
  id: 'chan-now',
  resourceId: 'res-now',
  expiration: '2030-01-01T00:00:00.000Z',
  openedAt: '2029-12-25T00:00:00.000Z',
};

const facts = (over: Partial<WebhookFacts> = {}): WebhookFacts => ({
  connectionKnown: true,
  channelsEnabled: true,
  current,
  overlap: [],
  channelId: 'chan-now',
  resourceId: 'res-now',
  tokenVerifies: true,
  ...over,
});

describe('webhook admission', () => {
  it('accepts the current channel and the overlap (being opened, just replaced)', () => {
    expect(admitWebhook(facts())).toEqual({ kind: 'accept' });
    expect(admitWebhook(facts({ channelId: 'chan-new', overlap: ['chan-new'] }))).toEqual({ kind: 'accept' });
    // the first channel's sync message comes before the checkpoint names any channel
    expect(admitWebhook(facts({ current: null, channelId: 'chan-1', overlap: ['chan-1'] }))).toEqual({
      kind: 'accept',
    });
  });

  it('ignores a stale channel of ours and names it to stop, when it carries a resource id', () => {
    expect(admitWebhook(facts({ channelId: 'chan-old', resourceId: 'res-old' }))).toEqual({
      kind: 'ignore',
      reason: 'stale_channel',
      stopChannel: { id: 'chan-old', resourceId: 'res-old' },
    });
    expect(admitWebhook(facts({ channelId: 'chan-old', resourceId: undefined }))).toEqual({
      kind: 'ignore',
      reason: 'stale_channel',
      stopChannel: null,
    });
    expect(admitWebhook(facts({ current: null, channelId: 'chan-old' }))).toMatchObject({
      reason: 'stale_channel',
    });
  });

  it('rejects a token that does not verify, whichever channel it names', () => {
    expect(admitWebhook(facts({ tokenVerifies: false }))).toEqual({ kind: 'reject', reason: 'bad_token' });
    expect(admitWebhook(facts({ channelId: 'chan-x', tokenVerifies: false }))).toEqual({
      kind: 'reject',
      reason: 'bad_token',
    });
  });

  it('ignores, without stopping anything, unknown connections and a worker without channels', () => {
    expect(admitWebhook(facts({ connectionKnown: false, tokenVerifies: false }))).toEqual({
      kind: 'ignore',
      reason: 'unknown_connection',
      stopChannel: null,
    });
    expect(admitWebhook(facts({ channelsEnabled: false, tokenVerifies: false }))).toEqual({
      kind: 'ignore',
      reason: 'channels_off',
      stopChannel: null,
    });
  });
});

describe('channel overlap', () => {
  it('accepts an id until its deadline, per connection', () => {
    let now = 1_000;
    const overlap = new ChannelOverlap(() => now);
    overlap.admit('conn_a', 'c1', 2_000);
    overlap.admit('conn_a', 'c2', 3_000);
    expect(overlap.idsOf('conn_a')).toEqual(['c1', 'c2']);
    expect(overlap.idsOf('conn_b')).toEqual([]);
    now = 2_000;
    expect(overlap.idsOf('conn_a')).toEqual(['c2']);
    overlap.revoke('conn_a', 'c2');
    expect(overlap.idsOf('conn_a')).toEqual([]);
    overlap.admit('conn_a', 'c3', 5_000);
    overlap.forget('conn_a');
    expect(overlap.idsOf('conn_a')).toEqual([]);
  });
});

describe('channel address', () => {
  it('appends the connection id and customer id to a plain base (the ingress path)', () => {
    expect(
      channelAddressFor('https://hooks.example.com/webhooks/google-drive/', {
        connectionId: 'conn abc',
        customerId: 'cust_1',
      }),
    ).toBe('https://hooks.example.com/webhooks/google-drive/conn%20abc?customer_id=cust_1');
  });

  it('fills a template', () => {
    expect(
      channelAddressFor('https://proxy.example.com/in/{customer_id}/{connection_id}?src=gd', {
        connectionId: 'conn/1',
        customerId: 'c&1',
      }),
    ).toBe('https://proxy.example.com/in/c%261/conn%2F1?src=gd');
  });
});
