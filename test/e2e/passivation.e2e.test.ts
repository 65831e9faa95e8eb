import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelState, ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { subscribe } from '../../src/instrumentation.js';
import { createLogger } from '../../src/logger.js';
import { type RunningWorker, startWorker } from '../../src/worker.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * An idle connection with a push channel leaves memory and still renews its channel on
 * time: the supervisor's wake schedule rebuilds the actor from its checkpoint at the
 * renewal deadline. Channels live 15 s (renewed 1.5 s before expiry); actors idle for 1 s
 * are evicted (swept every 0.5 s). Notifications go to a sink that answers 200.
 */

const TTL_SECONDS = 15;
const CONNECTION = 'conn_sleeper';
const silent = createLogger({ level: 'silent', format: 'json' });

describe('passivation with push channels (embedded broker, Drive emulator)', () => {
  let world: WorkerWorld;
  let worker: RunningWorker;
  let notificationSink: Server;
  /** How the connection's actors came to be: `fresh` or rebuilt from its `checkpoint`. */
  const activations: string[] = [];
  const restores: Array<{ partitions: number; started: number; sleeping: number }> = [];
  const unsubscribers = [
    subscribe('connection.activated', ({ connectionId, from }) => {
      if (connectionId === CONNECTION) activations.push(from);
    }),
    subscribe('checkpoints.restored', (restored) => restores.push(restored)),
  ];

  const channelHistory = (): ChannelState[] => {
    const seen = new Map<string, ChannelState>();
    for (const c of world.reader.values<ConnectionCheckpoint>(world.topics.state))
      if (c.connectionId === CONNECTION && c.channel && !seen.has(c.channel.id))
        seen.set(c.channel.id, c.channel);
    return [...seen.values()];
  };

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 20, users: 1 });
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('no users');
    await world.emulator.admin.mapConnection(CONNECTION, user.id);
    notificationSink = createServer((_request, response) => response.writeHead(200).end());
    await new Promise<void>((resolve) => notificationSink.listen(0, '127.0.0.1', resolve));
    const address = `http://127.0.0.1:${(notificationSink.address() as AddressInfo).port}/webhooks/google-drive`;
    const config = world.config({
      GDRIVE_CHANNEL_ADDRESS: address,
      GDRIVE_CHANNEL_TOKEN_SECRET: 'e2e-passivation-secret',
      WORKER_IDLE_EVICTION_SECONDS: '1',
    });
    const channels = config.drive.channels;
    if (!channels) throw new Error('channels not configured');
    worker = await startWorker({
      config: { ...config, drive: { ...config.drive, channels: { ...channels, ttlSeconds: TTL_SECONDS } } },
      logger: silent,
    });
    world.workers.push(worker);
  });

  afterAll(async () => {
    for (const off of unsubscribers) off();
    await world?.stop();
    await new Promise((resolve) => notificationSink?.close(resolve));
  });

  it('evicts the idle connection between renewals and wakes it to renew before each expiry', async () => {
    await world.trigger(CONNECTION, 'full_sync');
    await world.waitForSyncs(CONNECTION, 1);
    await world.reader.waitFor('a checkpoint with a channel', () => channelHistory().length > 0);

    // Sampled until two renewals happened: was the connection out of memory meanwhile?
    let sampledAsleep = 0;
    let sampledResident = 0;
    const deadline = Date.now() + 3 * TTL_SECONDS * 1000;
    while (channelHistory().length < 3) {
      if (Date.now() > deadline) throw new Error(`only ${channelHistory().length - 1} renewals`);
      const view = worker.supervisor.get(CONNECTION);
      if (view?.resident === false) sampledAsleep++;
      else sampledResident++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    console.info(`samples: ${sampledAsleep} evicted, ${sampledResident} resident`);
    // Most of a channel's 15 s life is spent out of memory.
    expect(sampledAsleep).toBeGreaterThan(sampledResident);
    // The worker's first assignment, over an empty state topic: nothing to start or to wake.
    expect(restores.length).toBeGreaterThanOrEqual(1);
    expect(restores[0]).toMatchObject({ started: 0, sleeping: 0 });
    expect(restores[0]?.partitions).toBeGreaterThan(0);
    // Created for the trigger, then rebuilt from its checkpoint for each renewal at least.
    expect(activations[0]).toBe('fresh');
    expect(activations.filter((from) => from === 'checkpoint').length).toBeGreaterThanOrEqual(2);

    const history = channelHistory();
    for (let i = 1; i < history.length; i++) {
      const [previous, next] = [history[i - 1] as ChannelState, history[i] as ChannelState];
      // Woken in time: the new channel opened before the old one expired.
      expect(Date.parse(next.openedAt)).toBeLessThan(Date.parse(previous.expiration));
    }
    // Drive holds the current channel; the replaced ones were stopped.
    const live = (await world.emulator.admin.channels()).filter((c) => c.kind === 'changes').map((c) => c.id);
    expect(live).toContain(history.at(-1)?.id);
    expect(live.filter((id) => history.slice(0, -1).some((c) => c.id === id))).toEqual([]);
  });
});
