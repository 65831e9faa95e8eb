import { describe, expect, it } from 'vitest';
import { createConnectionActorFactory } from '../../src/actors/connection-actor.js';
import { SyncSlots } from '../../src/actors/sync-slots.js';
import {
  AccessTokenError,
  type AccessTokenProvider,
} from '../../src/io/control-plane/access-token-client.js';
import { createDriveApi } from '../../src/io/drive/drive-gateway.js';
import type { MessageSink, OutboundMessage } from '../../src/io/kafka/message-sink.js';
import { createLogger } from '../../src/logger.js';
import { blankCheckpoint } from '../support/stand-in-connections.js';
import { until } from '../support/until.js';

/** The factory with stand-ins for everything a disconnect touches; nothing reaches Drive. */
function factoryWith(
  forget: (connectionId: string) => Promise<void>,
  sent: OutboundMessage[] = [],
  options: { failSends?: number; tokens?: AccessTokenProvider } = {},
) {
  let failures = options.failSends ?? 0;
  const sink: MessageSink = {
    send: async (messages) => {
      if (failures-- > 0) throw new Error('broker away');
      sent.push(...messages);
    },
    flush: async () => undefined,
    close: async () => undefined,
  };
  return createConnectionActorFactory({
    integrationId: 'google-drive',
    topics: { records: 'records', errors: 'errors' },
    sink,
    tokens: options.tokens ?? { getToken: async () => Promise.reject(new Error('no token in this test')) },
    driveApi: createDriveApi('http://127.0.0.1:9'),
    governor: null,
    slots: new SyncSlots(1),
    pageSize: 10,
    includeSharedDrives: false,
    maxAttempts: 1,
    logger: createLogger({ level: 'silent', format: 'json' }),
    forget,
    channels: null,
    ackRetry: { firstMs: 5, maxMs: 20 },
  });
}

describe('the connection actor: disconnect', () => {
  it('retries the tombstone until it is acknowledged, and only then ends', async () => {
    let attempts = 0;
    const factory = factoryWith(async () => {
      attempts++;
      if (attempts < 3) throw new Error('broker away');
    });
    const handle = factory.create(blankCheckpoint('conn_a'));
    handle.send({ type: 'DISCONNECT', correlationId: 'm1' });
    expect(handle.state()).toBe('disconnecting');
    await handle.whenDone();
    expect(attempts).toBe(3);
    expect(handle.isDone()).toBe(true);
  });

  it('stops retrying when the actor is stopped (its partition revoked), without ending as disconnected', async () => {
    let attempts = 0;
    const factory = factoryWith(async () => {
      attempts++;
      throw new Error('broker away');
    });
    const handle = factory.create(blankCheckpoint('conn_b'));
    handle.send({ type: 'DISCONNECT', correlationId: 'm1' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    handle.stop();
    await handle.whenDone();
    const after = attempts;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(after).toBeGreaterThan(1);
    expect(attempts).toBe(after);
    expect(handle.isDone()).toBe(false);
  });

  it('acknowledges the auth error record of a parking connection before its parked state may be written', async () => {
    const sent: OutboundMessage[] = [];
    const reauth = new AccessTokenError({
      source: 'control_plane',
      httpStatus: 409,
      reason: 'reauth_required',
      location: null,
      message: 'the user must authorize the connection again (reauth_required)',
      retryAfterMs: null,
    });
    const factory = factoryWith(async () => undefined, sent, {
      failSends: 2,
      tokens: { getToken: async () => Promise.reject(reauth) },
    });
    const handle = factory.create(blankCheckpoint('conn_c', { cursor: '5' }));
    handle.send({
      type: 'TRIGGER',
      triggerType: 'incremental',
      correlationId: 'm1',
      include: ['permissions'],
      driveIds: null,
      lastCursor: null,
    });
    await until(() => handle.state() === 'parked', 'the connection parks', 10_000, 5);
    // The supervisor awaits this before writing the parked checkpoint.
    await handle.effects?.();
    const errors = sent.filter((m) => m.topic === 'errors');
    expect(errors).toHaveLength(1);
    expect(JSON.parse(errors[0]?.value ?? '{}').error.classification).toBe('auth');
    handle.stop();
  });
});
