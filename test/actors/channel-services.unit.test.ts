import { describe, expect, it } from 'vitest';
import { channelAddressFor } from '../../src/actors/channel-address.js';
import { ChannelOverlap } from '../../src/actors/channel-overlap.js';
import { type ChannelGateway, createChannelServices } from '../../src/actors/channel-services.js';
import { verifyChannelToken } from '../../src/contract/channel-token.js';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import type { WatchChannelRequest } from '../../src/io/drive/drive-gateway.js';
import { createLogger } from '../../src/logger.js';
import { blankCheckpoint } from '../support/stand-in-connections.js';

const NOW = new Date('2026-11-25T00:00:00.000Z');
const KEY = 'k';

/** Records the calls in order; watch answers like Drive, granting at most `grantMs`. */
class RecordingGateway implements ChannelGateway {
  readonly calls: string[] = [];
  readonly watched: WatchChannelRequest[] = [];
  failWatch = false;
  failStop = false;
  onWatch: () => void = () => undefined;
  constructor(private readonly grantMs: number = Number.POSITIVE_INFINITY) {}
  async watchChanges(pageToken: string, channel: WatchChannelRequest) {
    this.calls.push(`watch ${channel.id} from ${pageToken}`);
    this.watched.push(channel);
    this.onWatch();
    if (this.failWatch) throw new Error('watch refused');
    return {
      id: channel.id,
      resourceId: `res-${channel.id}`,
      expiration: String(Math.min(channel.expirationMs, NOW.getTime() + this.grantMs)),
    };
  }
  async stopChannel(id: string, resourceId: string) {
    this.calls.push(`stop ${id} ${resourceId}`);
    if (this.failStop) throw new Error('404');
  }
}

function setup(gateway = new RecordingGateway()) {
  const overlap = new ChannelOverlap(() => NOW.getTime());
  let ids = 0;
  const services = createChannelServices({
    address: 'https://hooks.example.com/webhooks/google-drive',
    tokenKey: KEY,
    ttlMs: 7 * 86_400_000,
    overlap,
    gatewayFor: () => gateway,
    logger: createLogger({ level: 'silent', format: 'json' }),
    now: () => NOW,
    newChannelId: () => `chan-${++ids}`,
  });
  return { services, overlap, gateway };
}

const withCursor = (over: Partial<ConnectionCheckpoint> = {}) =>
  blankCheckpoint('conn_a', { cursor: '42', customerId: 'cust_a', ...over });

describe('channel services', () => {
  it('opens a channel from the cursor with a fresh id, the address and a verifiable token', async () => {
    const { services, gateway } = setup();
    const channel = await services.renew({ checkpoint: withCursor(), channel: null });
    expect(channel).toEqual({
      id: 'chan-1',
      resourceId: 'res-chan-1',
      expiration: new Date(NOW.getTime() + 7 * 86_400_000).toISOString(),
      openedAt: NOW.toISOString(),
    });
    const [request] = gateway.watched;
    expect(gateway.calls).toEqual(['watch chan-1 from 42']);
    expect(request?.address).toBe(
      channelAddressFor('https://hooks.example.com/webhooks/google-drive', {
        connectionId: 'conn_a',
        customerId: 'cust_a',
      }),
    );
    expect(verifyChannelToken(KEY, 'conn_a', 'chan-1', request?.token)).toBe(true);
  });

  it('keeps the expiry Drive granted, not the one asked for', async () => {
    const { services } = setup(new RecordingGateway(10_000));
    const channel = await services.renew({ checkpoint: withCursor(), channel: null });
    expect(channel.expiration).toBe(new Date(NOW.getTime() + 10_000).toISOString());
  });

  it('renews new-first: the new channel is accepted while its watch is answered, then the old one is stopped and still accepted', async () => {
    const { services, gateway, overlap } = setup();
    const old = await services.renew({ checkpoint: withCursor(), channel: null });
    let acceptedDuringWatch: string[] = [];
    gateway.onWatch = () => {
      acceptedDuringWatch = overlap.idsOf('conn_a');
    };
    const fresh = await services.renew({ checkpoint: withCursor({ channel: old }), channel: old });
    expect(acceptedDuringWatch).toContain('chan-2');
    expect(gateway.calls).toEqual(['watch chan-1 from 42', 'watch chan-2 from 42', 'stop chan-1 res-chan-1']);
    expect(fresh.id).toBe('chan-2');
    expect(overlap.idsOf('conn_a')).toContain('chan-1');
  });

  it('a stop that fails is not fatal', async () => {
    const { services, gateway } = setup();
    const old = await services.renew({ checkpoint: withCursor(), channel: null });
    gateway.failStop = true;
    await expect(
      services.renew({ checkpoint: withCursor({ channel: old }), channel: old }),
    ).resolves.toMatchObject({
      id: 'chan-2',
    });
  });

  it('a failed watch rejects and leaves nothing accepted', async () => {
    const gateway = new RecordingGateway();
    gateway.failWatch = true;
    const { services, overlap } = setup(gateway);
    await expect(services.renew({ checkpoint: withCursor(), channel: null })).rejects.toThrow(
      'watch refused',
    );
    expect(overlap.idsOf('conn_a')).toEqual([]);
  });

  it('a renewal abandoned during the watch stops the channel it opened', async () => {
    const { services, gateway } = setup();
    const controller = new AbortController();
    gateway.onWatch = () => controller.abort();
    await expect(
      services.renew({ checkpoint: withCursor(), channel: null }, controller.signal),
    ).rejects.toThrow('abandoned');
    expect(gateway.calls).toEqual(['watch chan-1 from 42', 'stop chan-1 res-chan-1']);
  });

  it('disconnect stops the live channel; stale channels are stopped once however often they deliver', async () => {
    const { services, gateway } = setup();
    const live = await services.renew({ checkpoint: withCursor(), channel: null });
    await services.stopForDisconnect(withCursor({ channel: live }));
    for (let i = 0; i < 5; i++) services.stopStale('conn_a', { id: 'chan-zombie', resourceId: 'res-z' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(gateway.calls).toEqual([
      'watch chan-1 from 42',
      'stop chan-1 res-chan-1',
      'stop chan-zombie res-z',
    ]);
  });
});
