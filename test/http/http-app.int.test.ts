import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { MAX_ID_LENGTH } from '../../src/contract/bounds.js';
import { channelTokenFor } from '../../src/contract/channel-token.js';
import { webhookMessageSchema } from '../../src/contract/inbound.js';
import { type HttpFixture, httpFixture } from './http-fixture.js';
import { InMemoryInspector, SwitchableCheck } from './in-memory-inspector.js';

let fixture: HttpFixture | null = null;
afterEach(async () => {
  await fixture?.close();
  fixture = null;
});

const in5Minutes = () => new Date(Date.now() + 5 * 60_000).toISOString();

describe('health', () => {
  it('is live while serving, and ready only when every check is ok, naming the ones that are not', async () => {
    const consumer = new SwitchableCheck('consumer', false, 'group not joined');
    const producer = new SwitchableCheck('producer', true);
    fixture = await httpFixture({ readiness: [consumer, producer] });
    const { app } = fixture;

    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);

    const notReady = await app.inject({ url: '/health/ready' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ ready: false, reasons: ['consumer: group not joined'] });

    producer.ok = false;
    producer.reason = undefined;
    expect((await app.inject({ url: '/health/ready' })).json()).toEqual({
      ready: false,
      reasons: ['consumer: group not joined', 'producer: not ready'],
    });

    consumer.ok = true;
    producer.ok = true;
    const ready = await app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ ready: true, checks: ['consumer', 'producer'] });
  });

  it('is not live only when a liveness check says a restart is needed, naming it', async () => {
    const consumer = new SwitchableCheck('consumer', true);
    fixture = await httpFixture({
      liveness: [
        consumer,
        {
          name: 'undecided',
          check: () => {
            throw new TypeError('boom');
          },
        },
      ],
    });
    // A check that throws cannot tell: no reason to restart the process.
    expect((await fixture.app.inject({ url: '/health/live' })).json()).toEqual({ live: true });
    consumer.ok = false;
    consumer.reason = 'crashed for good';
    const dead = await fixture.app.inject({ url: '/health/live' });
    expect(dead.statusCode).toBe(503);
    expect(dead.json()).toEqual({ live: false, reasons: ['consumer: crashed for good'] });
  });

  it('reports a check that throws as not ready instead of failing the probe', async () => {
    fixture = await httpFixture({
      readiness: [
        {
          name: 'checkpoints',
          check: () => {
            throw new TypeError('boom');
          },
        },
      ],
    });
    const answer = await fixture.app.inject({ url: '/health/ready' });
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toEqual({ ready: false, reasons: ['checkpoints: check failed (TypeError)'] });
  });
});

describe('connections', () => {
  function seeded(): InMemoryInspector {
    const inspector = new InMemoryInspector();
    inspector.add('conn_b', 'idle', {
      customerId: 'cust_b',
      cursor: '777',
      channel: {
        id: 'chan-1',
        resourceId: 'res-1',
        expiration: new Date(Date.now() + 2 * 86_400_000).toISOString(),
        openedAt: '2026-01-01T00:00:00.000Z',
      },
      lastSync: {
        syncId: 'sync-1',
        mode: 'full',
        finishedAt: '2026-01-01T00:10:00.000Z',
        counts: { file: 12, permission: 30 },
      },
    });
    inspector.add('conn_a', 'backing-off', {
      customerId: 'cust_a',
      backoff: {
        attempt: 2,
        until: in5Minutes(),
        reason: 'userRateLimitExceeded',
        classification: 'rate_limited',
      },
    });
    inspector.add('conn_c', 'parked', {
      parked: { reason: 'reauth_required', since: '2026-01-01T00:00:00.000Z' },
    });
    inspector.transition('conn_b', 'full-syncing', 'TRIGGER');
    inspector.transition('conn_b', 'idle', 'SYNC.DONE');
    return inspector;
  }

  it('lists connections ordered by id, filtered by state, paged', async () => {
    fixture = await httpFixture({ inspector: seeded() });
    const { app } = fixture;

    const all = await app.inject({ url: '/connections' });
    expect(all.statusCode).toBe(200);
    const body = all.json();
    expect(body.total).toBe(3);
    expect(body.connections.map((c: { connectionId: string }) => c.connectionId)).toEqual([
      'conn_a',
      'conn_b',
      'conn_c',
    ]);
    expect(Number.isNaN(Date.parse(body.now))).toBe(false);

    const parked = (await app.inject({ url: '/connections?state=parked' })).json();
    expect(parked.total).toBe(1);
    expect(parked.connections[0].parked).toEqual({
      reason: 'reauth_required',
      since: '2026-01-01T00:00:00.000Z',
    });

    const page = (await app.inject({ url: '/connections?limit=1&offset=1' })).json();
    expect(page).toMatchObject({ total: 3, limit: 1, offset: 1 });
    expect(page.connections.map((c: { connectionId: string }) => c.connectionId)).toEqual(['conn_b']);
  });

  it('rejects bad query parameters with 400 and the offending parameter', async () => {
    fixture = await httpFixture({ inspector: seeded() });
    for (const url of [
      '/connections?limit=0',
      '/connections?limit=abc',
      '/connections?offset=-1',
      '/connections?state=Idle!',
    ]) {
      const answer = await fixture.app.inject({ url });
      expect(answer.statusCode, url).toBe(400);
      expect(answer.json().error).toBe('bad_request');
    }
  });

  it('shows one connection: state, cursor, channel and its expiry, backoff, last sync, transitions', async () => {
    fixture = await httpFixture({ inspector: seeded() });
    const { app } = fixture;

    const b = (await app.inject({ url: '/connections/conn_b' })).json().connection;
    expect(b).toMatchObject({
      connectionId: 'conn_b',
      customerId: 'cust_b',
      state: 'idle',
      resident: true,
      cursor: '777',
      channel: { id: 'chan-1', resourceId: 'res-1' },
      backoff: null,
      lastSync: { syncId: 'sync-1', mode: 'full', counts: { file: 12, permission: 30 } },
    });
    expect(b.channel.expiresInSeconds).toBeGreaterThan(86_400);
    expect(
      b.transitions.map((t: { from: string; to: string; event: string }) => [t.from, t.to, t.event]),
    ).toEqual([
      ['idle', 'full-syncing', 'TRIGGER'],
      ['full-syncing', 'idle', 'SYNC.DONE'],
    ]);

    const a = (await app.inject({ url: '/connections/conn_a' })).json().connection;
    expect(a.backoff).toMatchObject({
      attempt: 2,
      reason: 'userRateLimitExceeded',
      classification: 'rate_limited',
    });
    expect(a.backoff.remainingSeconds).toBeGreaterThan(200);
    expect(a.backoff.remainingSeconds).toBeLessThanOrEqual(300);

    const unknown = await app.inject({ url: '/connections/nope' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('not_found');
  });

  it('routes the longest id the contract allows, fully percent-encoded, to the connection (not 414)', async () => {
    const longest = '%'.repeat(MAX_ID_LENGTH);
    const inspector = seeded();
    inspector.add(longest, 'idle', {});
    fixture = await httpFixture({ inspector });
    const param = encodeURIComponent(longest);
    expect(param.length).toBe(3 * MAX_ID_LENGTH);
    const url = `/connections/${param}`;
    const found = await fixture.app.inject({ url });
    expect(found.statusCode).toBe(200);
    expect(found.json()).toMatchObject({ connection: { connectionId: longest } });
    const tooLong = await fixture.app.inject({ url: `/connections/${'a'.repeat(MAX_ID_LENGTH + 1)}` });
    expect(tooLong.statusCode).toBe(400);
  });

  it('answers 404 for the event stream of an unknown connection', async () => {
    fixture = await httpFixture({ inspector: seeded() });
    expect((await fixture.app.inject({ url: '/connections/nope/events' })).statusCode).toBe(404);
  });
});

describe('bearer token', () => {
  const token = 's3cr3t-token-value';

  it('leaves everything open when no token is configured', async () => {
    fixture = await httpFixture();
    expect((await fixture.app.inject({ url: '/connections' })).statusCode).toBe(200);
    expect((await fixture.app.inject({ url: '/' })).statusCode).toBe(200);
  });

  it('protects the state endpoints and the page, not health and metrics', async () => {
    fixture = await httpFixture({ env: { HTTP_AUTH_TOKEN: token } });
    fixture.inspector.add('conn_a', 'idle');
    const { app } = fixture;

    for (const url of ['/connections', '/connections/conn_a']) {
      const denied = await app.inject({ url });
      expect(denied.statusCode, url).toBe(401);
      expect(denied.headers['www-authenticate']).toContain('Bearer');
      expect((await app.inject({ url, headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
      expect((await app.inject({ url, headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
    }
    expect((await app.inject({ url: '/events' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/connections/conn_a/events' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
  });

  it('lets a browser in with ?token= once: a cookie, a redirect that drops the token, then the page', async () => {
    fixture = await httpFixture({ env: { HTTP_AUTH_TOKEN: token } });
    const { app } = fixture;

    const form = await app.inject({ url: '/' });
    expect(form.statusCode).toBe(401);
    expect(form.body).toContain('name="token"');

    expect((await app.inject({ url: '/?token=wrong' })).statusCode).toBe(401);

    const accepted = await app.inject({ url: `/?token=${token}` });
    expect(accepted.statusCode).toBe(303);
    expect(accepted.headers.location).toBe('/');
    const setCookie = String(accepted.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = setCookie.split(';')[0] ?? '';

    const page = await app.inject({ url: '/', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<svg');
    expect((await app.inject({ url: '/connections', headers: { cookie } })).statusCode).toBe(200);
    expect(fixture.logLines.join('')).not.toContain(token);
  });
});

describe('status page assets', () => {
  it('serves the page, its script and its stylesheet, and nothing else from the page folder', async () => {
    fixture = await httpFixture();
    const { app } = fixture;
    const page = await app.inject({ url: '/' });
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const script = await app.inject({ url: '/page/app.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    expect((await app.inject({ url: '/page/style.css' })).headers['content-type']).toMatch(/^text\/css/);
    expect((await app.inject({ url: '/page/index.html' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/page/..%2F..%2Fconfig.ts' })).statusCode).toBe(404);
  });
});

describe('webhook ingress', () => {
  const secret = 'ingress-test-secret';
  const ingressEnv = { HTTP_WEBHOOK_INGRESS: 'true', GDRIVE_CHANNEL_TOKEN_SECRET: secret };
  const signedToken = channelTokenFor(secret, 'conn_abc', 'chan-42');
  const googleHeaders = {
    'X-Goog-Channel-ID': 'chan-42',
    'X-Goog-Channel-Token': signedToken,
    'X-Goog-Channel-Expiration': 'Mon, 27 Jan 2025 10:00:00 GMT',
    'X-Goog-Resource-ID': 'res-9',
    'X-Goog-Resource-URI': 'https://www.googleapis.com/drive/v3/changes?pageToken=1',
    'X-Goog-Resource-State': 'change',
    'X-Goog-Message-Number': '42',
  };

  it('is not there unless enabled', async () => {
    fixture = await httpFixture();
    const answer = await fixture.app.inject({
      method: 'POST',
      url: '/webhooks/google-drive/conn_abc',
      headers: googleHeaders,
    });
    expect(answer.statusCode).toBe(404);
    expect(fixture.sink.sent).toEqual([]);
  });

  it("turns Google's notification into the contract's webhook message, keyed by connection, and answers 200 once produced", async () => {
    fixture = await httpFixture({
      env: { ...ingressEnv, WORKER_INTEGRATION_ID: 'google-drive' },
    });
    const answer = await fixture.app.inject({
      method: 'POST',
      url: '/webhooks/google-drive/conn_abc?customer_id=cust_123',
      headers: { ...googleHeaders, 'content-length': '0' },
    });
    expect(answer.statusCode).toBe(200);
    expect(fixture.sink.sent).toHaveLength(1);
    const sent = fixture.sink.sent[0];
    expect(sent?.topic).toBe('integrations-inbound-webhook');
    expect(sent?.key).toBe('conn_abc');
    expect(sent?.headers).toMatchObject({ 'content-type': 'application/json', 'resource-type': 'webhook' });
    const value = JSON.parse(sent?.value ?? 'null');
    expect(webhookMessageSchema.safeParse(value).success).toBe(true);
    expect(value).toMatchObject({
      integration_id: 'google-drive',
      integration_connection_id: 'conn_abc',
      customer_id: 'cust_123',
      headers: {
        'x-goog-channel-id': 'chan-42',
        'x-goog-channel-token': signedToken,
        'x-goog-channel-expiration': 'Mon, 27 Jan 2025 10:00:00 GMT',
        'x-goog-resource-id': 'res-9',
        'x-goog-resource-uri': 'https://www.googleapis.com/drive/v3/changes?pageToken=1',
        'x-goog-resource-state': 'change',
        'x-goog-message-number': '42',
      },
    });
    expect(value.message_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sent?.headers['correlation-id']).toBe(value.message_id);
    expect(Math.abs(Date.parse(value.received_at) - Date.now())).toBeLessThan(60_000);
    // Only x-goog-* headers are forwarded.
    expect(Object.keys(value.headers).every((name) => name.startsWith('x-goog-'))).toBe(true);
  });

  it("uses 'unknown' as the customer when the channel address carries none, and accepts a JSON content type with an empty body", async () => {
    fixture = await httpFixture({ env: ingressEnv });
    const answer = await fixture.app.inject({
      method: 'POST',
      url: '/webhooks/google-drive/conn_abc',
      headers: { ...googleHeaders, 'content-type': 'application/json; charset=UTF-8' },
      payload: '',
    });
    expect(answer.statusCode).toBe(200);
    expect(JSON.parse(fixture.sink.sent[0]?.value ?? 'null').customer_id).toBe('unknown');
  });

  it('answers 400 without the channel id, the resource state or the message number, and produces nothing', async () => {
    fixture = await httpFixture({ env: ingressEnv });
    for (const missing of ['X-Goog-Channel-ID', 'X-Goog-Resource-State', 'X-Goog-Message-Number']) {
      const headers: Record<string, string> = { ...googleHeaders };
      delete headers[missing];
      const answer = await fixture.app.inject({
        method: 'POST',
        url: '/webhooks/google-drive/conn_abc',
        headers,
      });
      expect(answer.statusCode, missing).toBe(400);
    }
    expect(fixture.sink.sent).toEqual([]);
  });

  it('refuses, with 400 and no produce, the ids and headers the webhook topic would refuse', async () => {
    fixture = await httpFixture({ env: ingressEnv });
    const refused: Array<[string, Record<string, string>]> = [
      [`/webhooks/google-drive/${'c'.repeat(257)}`, googleHeaders],
      ['/webhooks/google-drive/.', googleHeaders],
      ['/webhooks/google-drive/%2E%2E', googleHeaders],
      ['/webhooks/google-drive/conn%C3%A9', googleHeaders],
      ['/webhooks/google-drive/conn_abc?customer_id=c%00', googleHeaders],
      [`/webhooks/google-drive/conn_abc?customer_id=${'c'.repeat(257)}`, googleHeaders],
      ['/webhooks/google-drive/conn_abc', { ...googleHeaders, 'x-goog-resource-uri': 'u'.repeat(4097) }],
      ['/webhooks/google-drive/conn_abc', { ...googleHeaders, [`x-goog-${'n'.repeat(60)}`]: 'v' }],
    ];
    for (const [url, headers] of refused) {
      const answer = await fixture.app.inject({ method: 'POST', url, headers });
      // `%2E%2E` never reaches the route (the router answers 404); refused either way.
      expect([400, 404], url.slice(0, 80)).toContain(answer.statusCode);
      expect(answer.body.length).toBeLessThan(2000);
    }
    expect(fixture.sink.sent).toEqual([]);
    const atBound = await fixture.app.inject({
      method: 'POST',
      url: `/webhooks/google-drive/${'c'.repeat(255)}~`,
      headers: {
        ...googleHeaders,
        'X-Goog-Channel-Token': channelTokenFor(secret, `${'c'.repeat(255)}~`, 'chan-42'),
      },
    });
    expect(atBound.statusCode).toBe(200);
  });

  it('answers 503 when Kafka did not take the message, so Google retries, and logs no channel token', async () => {
    fixture = await httpFixture({ env: ingressEnv });
    fixture.sink.failing = true;
    const answer = await fixture.app.inject({
      method: 'POST',
      url: '/webhooks/google-drive/conn_abc',
      headers: googleHeaders,
    });
    expect(answer.statusCode).toBe(503);
    fixture.sink.failing = false;
    const retried = await fixture.app.inject({
      method: 'POST',
      url: '/webhooks/google-drive/conn_abc',
      headers: googleHeaders,
    });
    expect(retried.statusCode).toBe(200);
    expect(fixture.logLines.join('')).toContain('webhook notification not produced');
    expect(fixture.logLines.join('')).not.toContain(signedToken);
  });
});

describe('webhook ingress guard', () => {
  const secret = 'guard-test-secret';
  const env = {
    HTTP_WEBHOOK_INGRESS: 'true',
    GDRIVE_CHANNEL_TOKEN_SECRET: secret,
    HTTP_WEBHOOK_BURST_PER_CHANNEL: '3',
    HTTP_WEBHOOK_RATE_PER_CHANNEL: '1',
  };
  const notification = (number: number, token = channelTokenFor(secret, 'conn_abc', 'chan-7')) => ({
    method: 'POST' as const,
    url: '/webhooks/google-drive/conn_abc',
    headers: {
      'x-goog-channel-id': 'chan-7',
      'x-goog-channel-token': token,
      'x-goog-resource-id': 'res-1',
      'x-goog-resource-state': 'change',
      'x-goog-message-number': String(number),
    },
  });
  const refused = async (reason: string) => {
    if (!fixture) throw new Error('no fixture');
    const counted = await fixture.metrics.webhooksRefused.get();
    return counted.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  };

  it('answers 403 to a forged or missing token, which Google does not retry, and produces nothing', async () => {
    fixture = await httpFixture({ env });
    const forged = await fixture.app.inject(notification(1, 'v1.forged'));
    expect(forged.statusCode).toBe(403);
    const otherConnection = await fixture.app.inject(
      notification(2, channelTokenFor(secret, 'conn_other', 'chan-7')),
    );
    expect(otherConnection.statusCode).toBe(403);
    const { 'x-goog-channel-token': _, ...withoutToken } = notification(3).headers;
    const missing = await fixture.app.inject({ ...notification(3), headers: withoutToken });
    expect(missing.statusCode).toBe(403);
    expect(fixture.sink.sent).toEqual([]);
    expect(await refused('bad_token')).toBe(3);
  });

  it('acknowledges a replayed (channel, message number) with 200 and produces it once', async () => {
    fixture = await httpFixture({ env });
    expect((await fixture.app.inject(notification(5))).statusCode).toBe(200);
    expect((await fixture.app.inject(notification(5))).statusCode).toBe(200);
    expect(fixture.sink.sent).toHaveLength(1);
    expect(await refused('replay')).toBe(1);
  });

  it('answers 503 with Retry-After past the channel burst, so Google retries later', async () => {
    fixture = await httpFixture({ env });
    for (const n of [1, 2, 3]) expect((await fixture.app.inject(notification(n))).statusCode).toBe(200);
    const limited = await fixture.app.inject(notification(4));
    expect(limited.statusCode).toBe(503);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(fixture.sink.sent).toHaveLength(3);
    expect(await refused('rate_limited')).toBe(1);
  });

  it('is a configuration error without GDRIVE_CHANNEL_TOKEN_SECRET', () => {
    expect(() => loadConfig({ HTTP_WEBHOOK_INGRESS: 'true' })).toThrow(/GDRIVE_CHANNEL_TOKEN_SECRET/);
  });
});

describe('state endpoints without HTTP_AUTH_TOKEN', () => {
  it('answer loopback clients only; health and metrics answer everyone', async () => {
    fixture = await httpFixture();
    const remote = { remoteAddress: '10.1.2.3' };
    for (const url of ['/connections', '/connections/conn_abc', '/events', '/']) {
      expect((await fixture.app.inject({ url, ...remote })).statusCode, url).toBe(403);
    }
    expect((await fixture.app.inject({ url: '/connections', remoteAddress: '127.0.0.1' })).statusCode).toBe(
      200,
    );
    expect((await fixture.app.inject({ url: '/connections', remoteAddress: '::1' })).statusCode).toBe(200);
    expect((await fixture.app.inject({ url: '/health/live', ...remote })).statusCode).toBe(200);
    expect((await fixture.app.inject({ url: '/metrics', ...remote })).statusCode).toBe(200);
  });

  it('with a token, require it from loopback clients too', async () => {
    fixture = await httpFixture({ env: { HTTP_AUTH_TOKEN: 'state-token' } });
    expect((await fixture.app.inject({ url: '/connections', remoteAddress: '127.0.0.1' })).statusCode).toBe(
      401,
    );
    const remote = await fixture.app.inject({
      url: '/connections',
      remoteAddress: '10.1.2.3',
      headers: { authorization: 'Bearer state-token' },
    });
    expect(remote.statusCode).toBe(200);
  });
});
