import { describe, expect, it } from 'vitest';
import { ChannelOverlap } from '../../src/actors/channel-overlap.js';
import { createInboundHandler } from '../../src/actors/inbound-handler.js';
import { ConnectionSupervisor } from '../../src/actors/supervisor.js';
import { channelTokenFor } from '../../src/contract/channel-token.js';
import { subscribe } from '../../src/instrumentation.js';
import { createLogger } from '../../src/logger.js';
import { blankCheckpoint, MemoryCheckpointStore, RecordingFactory } from '../support/stand-in-connections.js';

type Event = { type: 'trigger' | 'webhook'; id: string };
const topics = { trigger: 'trig', webhook: 'hook' };
const key = 'channel-key';

function setup(
  ownedPartitionOf?: (connectionId: string) => number | null,
  known = [
    blankCheckpoint('conn_live', {
      channel: {
        id: 'chan-now',
        resourceId: 'r1',
        expiration: '2030-01-01T00:00:00.000Z',
        openedAt: '2026-01-01T00:00:00.000Z',
      },
    }),
  ],
) {
  const factory = new RecordingFactory<Event>();
  const store = new MemoryCheckpointStore(known);
  const logger = createLogger({ level: 'silent', format: 'json' });
  const supervisor = new ConnectionSupervisor(factory, store, logger, { idleEvictionMs: 0 });
  const invalid: Array<{ problem: string; connectionId: string | null; offset: string }> = [];
  const stopped: string[] = [];
  const overlap = new ChannelOverlap(() => Date.parse('2026-06-01T00:00:00.000Z'));
  const handle = createInboundHandler<Event>({
    integrationId: 'google-drive',
    topics,
    supervisor,
    logger,
    channelTokenKey: key,
    recentMessageIds: 100,
    triggerEvent: (m) => ({ type: 'trigger', id: m.message_id }),
    webhookEvent: (m) => ({ type: 'webhook', id: m.message_id }),
    reportInvalid: async (d) => {
      invalid.push({ problem: d.problem, connectionId: d.connectionId, offset: d.source.offset });
    },
    overlapChannels: (connectionId) => overlap.idsOf(connectionId),
    stopStaleChannel: (_c, channel) => stopped.push(`${channel.id} ${channel.resourceId}`),
    ...(ownedPartitionOf ? { ownedPartitionOf } : {}),
  });
  let offset = 0;
  const deliver = (topic: string, value: unknown) =>
    handle({
      topic,
      partition: 0,
      offset: String(offset++),
      value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
    });
  return { deliver, factory, store, invalid, stopped, overlap };
}

const trigger = (id: string, connection = 'conn_new') => ({
  message_id: id,
  customer_id: 'cust_1',
  integration_id: 'google-drive',
  integration_connection_id: connection,
  trigger_type: 'full_sync',
});

const webhook = (id: string, channelId: string, token: string | undefined, resourceId?: string) => ({
  message_id: id,
  customer_id: 'cust_1',
  integration_id: 'google-drive',
  integration_connection_id: 'conn_live',
  headers: {
    'x-goog-channel-id': channelId,
    'x-goog-resource-state': 'change',
    ...(token ? { 'x-goog-channel-token': token } : {}),
    ...(resourceId ? { 'x-goog-resource-id': resourceId } : {}),
  },
});

function countIgnored() {
  const reasons: string[] = [];
  const unsubscribe = subscribe('webhook.ignored', ({ reason }) => reasons.push(reason));
  return { reasons, unsubscribe };
}

describe('inbound handler', () => {
  it('routes a trigger to a new actor and writes its checkpoint before resolving', async () => {
    const { deliver, factory, store } = setup();
    await deliver('trig', trigger('m1'));
    expect(factory.handles.get('conn_new')?.received).toEqual([{ type: 'trigger', id: 'm1' }]);
    expect(store.written.at(-1)?.connectionId).toBe('conn_new');
    expect(store.written.at(-1)?.customerId).toBe('cust_1');
  });

  it('drops a redelivered message id', async () => {
    const { deliver, factory } = setup();
    await deliver('trig', trigger('m1'));
    await deliver('trig', trigger('m1'));
    expect(factory.handles.get('conn_new')?.received).toHaveLength(1);
  });

  it('skips other integrations silently and reports garbage once', async () => {
    const { deliver, factory, invalid } = setup();
    await deliver('trig', { ...trigger('m2'), integration_id: 'slack' });
    await deliver('hook', '{oops');
    await deliver('trig', { ...trigger('m3'), trigger_type: 'explode' });
    expect(factory.handles.size).toBe(0);
    expect(invalid).toEqual([
      { problem: 'value is not valid JSON', connectionId: null, offset: '1' },
      expect.objectContaining({ connectionId: 'conn_new', offset: '2' }),
    ]);
  });

  it('accepts a webhook of the current channel with a token that verifies', async () => {
    const { deliver, factory } = setup();
    await deliver('hook', webhook('w1', 'chan-now', channelTokenFor(key, 'conn_live', 'chan-now')));
    expect(factory.handles.get('conn_live')?.received).toEqual([{ type: 'webhook', id: 'w1' }]);
  });

  it('rejects a token that does not verify as invalid input', async () => {
    const { deliver, factory, invalid } = setup();
    await deliver('hook', webhook('w2', 'chan-now', 'v1.forged'));
    await deliver('hook', webhook('w3', 'chan-now', undefined));
    expect(factory.handles.size).toBe(0);
    expect(invalid.map((i) => i.problem)).toEqual([
      expect.stringContaining('does not verify'),
      expect.stringContaining('does not verify'),
    ]);
  });

  it('ignores, counts and stops an old channel of ours, and ignores unknown connections', async () => {
    const { deliver, factory, stopped, invalid } = setup();
    const ignored = countIgnored();
    await deliver('hook', webhook('w4', 'chan-old', channelTokenFor(key, 'conn_live', 'chan-old'), 'r-old'));
    await deliver('hook', webhook('w4b', 'chan-old2', channelTokenFor(key, 'conn_live', 'chan-old2')));
    await deliver('hook', { ...webhook('w5', 'chan-x', 'v1.x'), integration_connection_id: 'conn_unknown' });
    ignored.unsubscribe();
    expect(factory.handles.size).toBe(0);
    // no resource id, nothing channels.stop could be called with
    expect(stopped).toEqual(['chan-old r-old']);
    expect(invalid).toEqual([]);
    expect(ignored.reasons).toEqual(['stale_channel', 'stale_channel', 'unknown_connection']);
  });

  it('accepts the channel being opened and the one just replaced (the overlap)', async () => {
    const { deliver, factory, overlap, stopped } = setup();
    overlap.admit('conn_live', 'chan-next', Date.parse('2026-06-01T00:10:00.000Z'));
    overlap.admit('conn_live', 'chan-prev', Date.parse('2026-06-01T00:10:00.000Z'));
    await deliver('hook', webhook('w6', 'chan-next', channelTokenFor(key, 'conn_live', 'chan-next'), 'r-n'));
    await deliver('hook', webhook('w7', 'chan-prev', channelTokenFor(key, 'conn_live', 'chan-prev'), 'r-p'));
    expect(factory.handles.get('conn_live')?.received.map((e) => e.id)).toEqual(['w6', 'w7']);
    expect(stopped).toEqual([]);
  });

  it('a forged token naming the overlap is still invalid input', async () => {
    const { deliver, factory, overlap, invalid } = setup();
    overlap.admit('conn_live', 'chan-next', Date.parse('2026-06-01T00:10:00.000Z'));
    await deliver('hook', webhook('w8', 'chan-next', channelTokenFor('other-key', 'conn_live', 'chan-next')));
    expect(factory.handles.size).toBe(0);
    expect(invalid).toHaveLength(1);
  });
});

describe('inbound handler: ownership', () => {
  it('routes a message to its connection’s state partition when this member owns it', async () => {
    const { deliver, factory } = setup((id) => (id === 'conn_new' ? 3 : null));
    await deliver(topics.trigger, trigger('m1'));
    expect(factory.handles.get('conn_new')?.received).toEqual([{ type: 'trigger', id: 'm1' }]);
  });

  it('reports a message whose connection another member owns, and runs nothing for it', async () => {
    const { deliver, factory, invalid } = setup(() => null);
    await deliver(topics.trigger, trigger('m2', 'conn_elsewhere'));
    expect(factory.handles.has('conn_elsewhere')).toBe(false);
    expect(invalid).toEqual([
      {
        problem: expect.stringContaining('does not route to its integration_connection_id'),
        connectionId: 'conn_elsewhere',
        offset: '0',
      },
    ]);
  });
});
