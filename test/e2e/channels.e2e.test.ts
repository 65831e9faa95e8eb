import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConnectionInspector } from '../../src/actors/inspection.js';
import { channelTokenFor } from '../../src/contract/channel-token.js';
import type { ChannelState, ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import type { WebhookMessage } from '../../src/contract/inbound.js';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { buildHttpApp, type HttpApp } from '../../src/http/app.js';
import { createWorkerMetrics, metricPrefix, type WorkerMetrics } from '../../src/http/metrics.js';
import { subscribe } from '../../src/instrumentation.js';
import { createKafka } from '../../src/io/kafka/kafka-client.js';
import { createMessageSink, type MessageSink } from '../../src/io/kafka/message-sink.js';
import { createLogger } from '../../src/logger.js';
import { type RunningWorker, startWorker } from '../../src/worker.js';
import { sample } from '../support/exposition.js';
import { TopicReader } from '../support/topic-reader.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Push channels end to end: the emulator posts its notifications to the worker's own
 * webhook ingress (src/http, HTTP_WEBHOOK_INGRESS), which produces the contract's webhook
 * message to the webhook topic, which the worker consumes — what a real proxy would do.
 * Nothing here sends a trigger after the first full sync, except `disconnect`.
 *
 * Channels live 15 s (the worker asks for that; GDRIVE_CHANNEL_TTL_SECONDS accepts 60 s
 * at least, so the parsed config is overridden), so renewals happen throughout, 1.5 s
 * before expiry (the margin is capped at 10% of a channel's life).
 */

const SECRET = 'e2e-channel-token-secret';
const TTL_SECONDS = 15;
const QUIET_MS = 1_500;
const CONNECTION = 'conn_ada';
const silent = createLogger({ level: 'silent', format: 'json' });

async function eventually(describe: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${describe}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Delivery {
  readonly channelId: string;
  readonly state: string;
  readonly messageNumber: number;
  readonly status: number | 'network-error';
}

describe('push channels end to end (embedded broker, Drive emulator, webhook ingress)', () => {
  let world: WorkerWorld;
  let worker: RunningWorker;
  let ada: UserCredentials;
  let adaUserId: string;
  let app: HttpApp;
  let metrics: WorkerMetrics;
  let ingressSink: MessageSink;
  let webhookReader: TopicReader;
  let address: string;
  const unsubscribers: Array<() => void> = [];
  /** Watch and stop calls the worker made, in order, with their outcome. */
  const channelCalls: string[] = [];
  const incrementalRuns: string[] = [];
  const ignored: string[] = [];
  let webhooksHandled = 0;
  /** Webhooks handled ('heard') and change-log reads ('read'), in the order the worker did them. */
  const heardAndRead: Array<'heard' | 'read'> = [];

  /** Every checkpoint of the connection that landed on the state topic, in order. */
  const states = () =>
    world.reader
      .values<ConnectionCheckpoint>(world.topics.state)
      .filter((c) => c.connectionId === CONNECTION);
  /** The distinct channels the connection held, in the order it held them. */
  const channelHistory = (): ChannelState[] => {
    const seen = new Map<string, ChannelState>();
    for (const c of states()) if (c.channel && !seen.has(c.channel.id)) seen.set(c.channel.id, c.channel);
    return [...seen.values()];
  };
  const currentChannel = () => worker.supervisor.get(CONNECTION)?.checkpoint.channel ?? null;
  const adaChannels = async () =>
    (await world.emulator.admin.channels()).filter((c) => c.userId === adaUserId && c.kind === 'changes');
  const deliveries = async (): Promise<Delivery[]> =>
    ((await (await fetch(`${world.emulator.url}/_emulator/channels`)).json()) as { deliveries: Delivery[] })
      .deliveries;
  const settled = () => {
    const view = worker.supervisor.get(CONNECTION);
    return (
      view !== undefined &&
      (view.state === 'idle' || view.state === 'channel-renewing') &&
      view.checkpoint.pending === null &&
      view.checkpoint.activeSync === null
    );
  };

  /** One notification as Google would post it for the channel. */
  function notify(
    channel: Pick<ChannelState, 'id' | 'resourceId' | 'expiration'>,
    n: number,
    token?: string,
  ) {
    return fetch(`${address}/${CONNECTION}?customer_id=cust_${CONNECTION}`, {
      method: 'POST',
      headers: {
        'user-agent': 'APIs-Google',
        'x-goog-channel-id': channel.id,
        'x-goog-channel-token': token ?? channelTokenFor(SECRET, CONNECTION, channel.id),
        'x-goog-channel-expiration': new Date(channel.expiration).toUTCString(),
        'x-goog-resource-id': channel.resourceId,
        'x-goog-resource-uri': 'https://www.googleapis.com/drive/v3/changes',
        'x-goog-resource-state': 'change',
        'x-goog-message-number': String(n),
      },
    });
  }

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 40, users: 2, sharedDrives: 1, sharedDriveMembers: 2 });
    const [first] = await world.emulator.admin.listUsers();
    if (!first) throw new Error('no users');
    adaUserId = first.id;
    ada = await world.emulator.admin.issueTokens(first.id);
    await world.emulator.admin.mapConnection(CONNECTION, first.id);

    // The ingress is up before the worker, whose channels need its address.
    const base = world.config({ HTTP_WEBHOOK_INGRESS: 'true', GDRIVE_CHANNEL_TOKEN_SECRET: SECRET });
    ingressSink = await createMessageSink(createKafka({ ...base.kafka, clientId: 'e2e-ingress' }, silent), {
      idempotent: true,
    });
    metrics = createWorkerMetrics({ collectDefaults: false });
    const inspector: ConnectionInspector = {
      list: (filter) => worker.supervisor.list(filter),
      get: (id) => worker.supervisor.get(id),
      subscribe: (id, listener) => worker.supervisor.subscribe(id, listener),
      subscribeAll: (listener) => worker.supervisor.subscribeAll(listener),
    };
    app = await buildHttpApp({
      config: base,
      logger: silent,
      inspector,
      readiness: [],
      metrics,
      webhookSink: ingressSink,
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    address = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks/google-drive`;

    // A burst's follow-up run waits for 1.5 s of quiet rather than the default 0.5 s: on a
    // loaded machine the worker's own handling can pause half a second mid-burst, which
    // would read early and let the burst's tail open a third run.
    const config = world.config({
      GDRIVE_CHANNEL_ADDRESS: address,
      GDRIVE_CHANNEL_TOKEN_SECRET: SECRET,
      GDRIVE_NOTIFICATION_QUIET_MS: String(QUIET_MS),
    });
    const channels = config.drive.channels;
    if (!channels) throw new Error('channels not configured');
    worker = await startWorker({
      config: { ...config, drive: { ...config.drive, channels: { ...channels, ttlSeconds: TTL_SECONDS } } },
      logger: silent,
    });
    world.workers.push(worker);
    webhookReader = await TopicReader.start(inject('kafkaBootstrap'), [world.topics.webhook]);

    unsubscribers.push(
      subscribe('drive.call', ({ method, outcome }) => {
        if (method === 'drive.changes.list') heardAndRead.push('read');
        if (method === 'drive.changes.watch' || method === 'drive.channels.stop')
          channelCalls.push(`${method === 'drive.changes.watch' ? 'watch' : 'stop'}:${outcome}`);
      }),
      subscribe('sync.started', ({ connectionId, mode }) => {
        if (connectionId === CONNECTION && mode === 'incremental')
          incrementalRuns.push(new Date().toISOString());
      }),
      subscribe('webhook.ignored', ({ reason }) => ignored.push(reason)),
      subscribe('message.processed', ({ topic, outcome }) => {
        if (topic === world.topics.webhook && outcome === 'handled') {
          webhooksHandled++;
          heardAndRead.push('heard');
        }
      }),
    );
  });

  afterAll(async () => {
    for (const unsubscribe of unsubscribers) unsubscribe();
    await app?.close();
    metrics?.close();
    await ingressSink?.close();
    await webhookReader?.stop();
    await world?.stop();
  });

  it('opens a channel once the first full sync is done; the emulator shows it live, its expiry is in the state', async () => {
    await world.trigger(CONNECTION, 'full_sync');
    await world.waitForSyncs(CONNECTION, 1);
    await world.reader.waitFor('a checkpoint with a channel', () => states().some((c) => c.channel !== null));

    const firstWithChannel = states().find((c) => c.channel !== null);
    expect(firstWithChannel?.lastSync?.mode).toBe('full');
    expect(states().every((c) => c.channel === null || c.cursor !== null)).toBe(true);

    const live = await adaChannels();
    const history = channelHistory().map((c) => c.id);
    expect(live.some((c) => history.includes(c.id))).toBe(true);
    // Google's `sync` message went through the ingress and was answered 200.
    await eventually('the sync confirmation', async () =>
      (await deliveries()).some((d) => d.channelId === history[0] && d.state === 'sync' && d.status === 200),
    );

    const answer = await app.inject({ method: 'GET', url: `/connections/${CONNECTION}` });
    const { connection } = answer.json() as {
      connection: { channel: { id: string; expiresInSeconds: number } | null };
    };
    expect(connection.channel?.expiresInSeconds).toBeGreaterThan(0);
    expect(connection.channel?.expiresInSeconds).toBeLessThanOrEqual(TTL_SECONDS);
    const exposition = await metrics.render();
    expect(exposition).toMatch(/channel_expiry_seconds \d/);
  });

  it('an edit made as the user reaches the records topic through notification → webhook topic → incremental sync', async () => {
    const { drive, auth } = world.driveAs(ada.accessToken);
    const created = await drive.files.create(
      { requestBody: { name: 'Pushed', mimeType: 'text/plain' }, fields: 'id' },
      auth,
    );
    const fileId = created.data.id as string;
    await world.reader.waitFor('the record of the new file', () =>
      world.records(CONNECTION).some((r) => r.resource_id === fileId),
    );
    const landed = world.reader
      .all(world.topics.records)
      .find(
        (m) => m.value !== null && (JSON.parse(m.value) as { resource_id: string }).resource_id === fileId,
      );
    const record = JSON.parse(landed?.value ?? '{}') as { sync: { mode: string }; data: { name: string } };
    expect(record.sync.mode).toBe('incremental');
    expect(record.data.name).toBe('Pushed');
    // The run was caused by a webhook message the ingress produced, as a proxy would.
    const webhooks = webhookReader.values<WebhookMessage>(world.topics.webhook);
    const cause = webhooks.find((w) => w.message_id === landed?.headers['correlation-id']);
    expect(cause?.integration_connection_id).toBe(CONNECTION);
    expect(cause?.customer_id).toBe(`cust_${CONNECTION}`);
    expect(cause?.headers['x-goog-resource-state']).toBe('change');
    expect(channelHistory().map((c) => c.id)).toContain(cause?.headers['x-goog-channel-id']);
    // The run that served the notification is timed: webhook-to-record latency observed.
    await until(
      async () =>
        (sample(await metrics.render(), `${metricPrefix}webhook_to_record_latency_seconds_count`) ?? 0) > 0,
      'webhook-to-record latency observed',
    );
  });

  it('a burst of 500 notifications costs one or two incremental runs', async () => {
    await eventually('the connection to settle', settled);
    const channel = currentChannel();
    if (!channel) throw new Error('no channel');
    await world.emulator.admin.resetCounters();
    const runsBefore = incrementalRuns.length;
    const handledBefore = webhooksHandled;
    const { drive, auth } = world.driveAs(ada.accessToken);
    const created = await drive.files.create(
      { requestBody: { name: 'In the burst', mimeType: 'text/plain' }, fields: 'id' },
      auth,
    );

    // 500 notifications as Google would post them, 25 in flight at a time.
    let next = 0;
    await Promise.all(
      Array.from({ length: 25 }, async () => {
        while (next < 500) {
          const n = next++;
          const answer = await notify(channel, 10_000 + n);
          expect(answer.status).toBe(200);
        }
      }),
    );
    await eventually('500 notifications handled', () => webhooksHandled - handledBefore >= 500);
    await eventually('the record of the file edited in the burst', () =>
      world.records(CONNECTION).some((r) => r.resource_id === created.data.id),
    );
    await eventually('the connection to settle', settled);
    const counters = await world.emulator.admin.counters();
    const runs = incrementalRuns.length - runsBefore;
    console.info(
      `burst of 500: ${counters['drive.changes.list']} changes.list calls, ${runs} incremental runs`,
    );
    // One or two runs; each reads the log to its end, over as many pages as Drive hands out
    // (short and empty pages included), so the calls are a few, never one per notification.
    expect(runs).toBeLessThanOrEqual(2);
    expect(counters['drive.changes.list']).toBeGreaterThanOrEqual(Math.max(1, runs));
    expect(counters['drive.changes.list']).toBeLessThanOrEqual(10);
  });

  it("reads at once on a quiet connection's first notification, while its burst goes on", async () => {
    await eventually('the connection to settle', settled);
    // Quiet for longer than the settle window since the last notification.
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 500));
    const channel = currentChannel();
    if (!channel) throw new Error('no channel');
    heardAndRead.length = 0;
    // A notification every 100 ms for at most 4 s: never quiet for QUIET_MS, and shorter than
    // the 5 s a waiting run waits at most, so only a run that did not wait reads meanwhile.
    let sent = 0;
    for (; sent < 40 && !heardAndRead.includes('read'); sent++) {
      expect((await notify(channel, 50_000 + sent)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Read while the notifications went on, before the last one was even posted.
    expect(heardAndRead).toContain('read');
    expect(sent).toBeLessThan(40);
    await eventually('the connection to settle', settled);
  });

  it('renews before expiry with no gap — new channel first, then the old one stopped — and no edit is lost', async () => {
    const { drive, auth } = world.driveAs(ada.accessToken);
    const renewalsBefore = channelHistory().length;
    const created: string[] = [];
    // A new file every 2 s until the connection held three channels: edits before, during
    // and after renewals. (A run that follows a recent notification waits for QUIET_MS of
    // quiet: denser edits would keep runs at their 5 s cap, longer than this test's 1.5 s margin.)
    while (channelHistory().length < Math.max(3, renewalsBefore + 1)) {
      const file = await drive.files.create(
        { requestBody: { name: `tick ${created.length}`, mimeType: 'text/plain' }, fields: 'id' },
        auth,
      );
      created.push(file.data.id as string);
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 500));
      if (created.length > 30) throw new Error('no renewal within a minute');
    }
    await world.reader.waitFor(`records of all ${created.length} files created across the renewals`, () => {
      const seen = new Set(world.records(CONNECTION).map((r) => r.resource_id));
      return created.every((id) => seen.has(id));
    });

    const history = channelHistory();
    expect(history.length).toBeGreaterThanOrEqual(3);
    const leads = history
      .slice(1)
      .map((next, i) => Date.parse((history[i] as ChannelState).expiration) - Date.parse(next.openedAt));
    console.info(
      `renewals: ${history.length - 1}, opened before the old channel expired by ${leads.join(', ')} ms`,
    );
    for (let i = 1; i < history.length; i++) {
      const [previous, next] = [history[i - 1] as ChannelState, history[i] as ChannelState];
      // the new channel opened before the old one expired: no gap
      expect(Date.parse(next.openedAt)).toBeLessThan(Date.parse(previous.expiration));
      // and was granted the life asked for
      expect(Date.parse(next.expiration) - Date.parse(next.openedAt)).toBeGreaterThan(
        (TTL_SECONDS - 1) * 1000,
      );
    }
    // Every stop came after the watch of the channel replacing it, and succeeded.
    const calls = channelCalls.join(' ');
    expect(calls).toMatch(/^watch:ok( watch:ok stop:ok)+( watch:ok)?$/);
    // Drive has no channel of the connection left but the current one (and one being opened).
    const live = (await adaChannels()).map((c) => c.id);
    const known = channelHistory().map((c) => c.id);
    const older = known.slice(0, -1);
    expect(live.filter((id) => older.includes(id))).toEqual([]);
    expect(live).toContain(known.at(-1));
    // Nothing was taken for stale: the overlap covered every new channel's early messages
    // and the replaced channels' late ones.
    expect(ignored).toEqual([]);
  });

  it('a stale channel of ours is ignored, counted and stopped; a forged token is refused at the ingress and never produced', async () => {
    const { drive, auth } = world.driveAs(ada.accessToken);
    // A channel the connection does not know, as one opened just before a crash would be.
    const zombieId = randomUUID();
    const start = await drive.changes.getStartPageToken({}, auth);
    await drive.changes.watch(
      {
        pageToken: start.data.startPageToken as string,
        requestBody: {
          id: zombieId,
          type: 'web_hook',
          address: `${address}/${CONNECTION}?customer_id=cust_${CONNECTION}`,
          token: channelTokenFor(SECRET, CONNECTION, zombieId),
          expiration: String(Date.now() + 600_000),
        },
      },
      auth,
    );
    // Its `sync` message is enough for the worker to stop it.
    await eventually(
      'the stale channel stopped',
      async () => !(await adaChannels()).some((c) => c.id === zombieId),
    );
    expect(ignored).toContain('stale_channel');

    const errorsBefore = world.errors().length;
    const channel = currentChannel();
    if (!channel) throw new Error('no channel');
    // 403: Google retries only 500/502/503/504, and nothing reaches the webhook topic.
    const answer = await notify(channel, 99_998, 'v1.forged-token');
    expect(answer.status).toBe(403);
    // A genuine notification after it, on the same key and so the same partition: once it
    // has landed, anything the forgery had produced would have landed before it.
    expect((await notify(channel, 99_999)).status).toBe(200);
    await webhookReader.waitFor('the genuine notification', () =>
      webhookReader
        .values<WebhookMessage>(world.topics.webhook)
        .some((m) => m.headers['x-goog-message-number'] === '99999'),
    );
    const landed = webhookReader.all(world.topics.webhook).map((m) => JSON.stringify(m));
    expect(landed.filter((m) => m.includes('forged-token'))).toEqual([]);
    // Replayed: acknowledged, not produced again.
    expect((await notify(channel, 99_999)).status).toBe(200);
    expect(
      world
        .errors()
        .slice(errorsBefore)
        .filter((e) => e.error.classification === 'invalid_input'),
    ).toEqual([]);
  });

  it('disconnect stops the channel (the emulator shows none) and tombstones the state', async () => {
    const stopsBefore = channelCalls.filter((c) => c === 'stop:ok').length;
    await world.trigger(CONNECTION, 'disconnect');
    await world.reader.waitFor('the tombstone', () =>
      world.reader.all(world.topics.state).some((m) => m.key === CONNECTION && m.value === null),
    );
    expect(channelCalls.filter((c) => c === 'stop:ok').length).toBeGreaterThan(stopsBefore);
    // A renewal cut short by the disconnect stops its new channel right after.
    await eventually(
      'no live channel of the connection',
      async () => (await adaChannels()).length === 0,
      5_000,
    );
  });
});
