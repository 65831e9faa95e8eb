import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookMessageSchema } from '../../src/contract/inbound.js';
import { type HttpFixture, httpFixture } from '../http/http-fixture.js';
import { fuzzCount, fuzzSeed, nastyString, seededRandom } from '../support/seeded-random.js';

/**
 * Random requests to every route of the Fastify app: fixed seed and count in `npm test`;
 * FUZZ_SEED and FUZZ_COUNT replay or widen a run. Held to: never a 5xx, liveness 200 after,
 * and nothing produced that the webhook topic's schema refuses.
 */
const seed = fuzzSeed('HTTP', 1414);
const count = fuzzCount(600);
const random = seededRandom(seed);
const { pick, int } = random;
const nasty = () => nastyString(random);

function pathSegment(): string {
  return encodeURIComponent(nasty().replace(/[\uD800-\uDFFF]/g, '?')).slice(0, 2_000) || 'x';
}

function body(): string | undefined {
  switch (int(6)) {
    case 0:
      return undefined;
    case 1:
      return nasty();
    case 2:
      return JSON.stringify({ kind: 'api#channel', extra: nasty() });
    case 3:
      return '{"unterminated": ';
    case 4:
      return JSON.stringify(Array.from({ length: int(2_000) }, () => nasty().slice(0, 20)));
    default:
      return 'x'.repeat(int(200_000));
  }
}

function googHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const names = [
    'x-goog-channel-id',
    'x-goog-channel-token',
    'x-goog-resource-id',
    'x-goog-resource-uri',
    'x-goog-resource-state',
    'x-goog-message-number',
    'x-goog-channel-expiration',
  ];
  for (const name of names) {
    if (random.next() < 0.6) {
      const value = pick([nasty(), 'change', 'sync', 'update', String(int(1e6))]);
      // HTTP header values carry no controls and nothing outside Latin-1; inject refuses them.
      headers[name] = value.replace(/[^\x20-\x7e]/g, '?').slice(0, 8_000);
    }
  }
  return headers;
}

type Request = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  body?: string;
  headers?: Record<string, string>;
};

function request(): Request {
  const query =
    random.next() < 0.3
      ? `?${pick(['state', 'limit', 'offset', 'token', 'customer_id'])}=${pathSegment()}`
      : '';
  switch (int(11)) {
    case 0:
      return { method: 'GET', url: `/${query}` };
    case 1:
      return { method: 'GET', url: `/health/live${query}` };
    case 2:
      return { method: 'GET', url: `/health/ready${query}` };
    case 3:
      return { method: 'GET', url: `/metrics${query}` };
    case 4:
      return { method: 'GET', url: `/connections${query}` };
    case 5:
      return { method: 'GET', url: `/connections/${pathSegment()}${query}` };
    case 6:
      // Only unknown ids: a known one would stream for good.
      return { method: 'GET', url: `/connections/${pathSegment()}/events${query}` };
    case 7:
      return { method: 'GET', url: `/page/${pathSegment()}` };
    case 8:
      return { method: 'GET', url: `/favicon.ico${query}` };
    case 9:
      return { method: pick(['PUT', 'DELETE', 'POST'] as const), url: `/${pathSegment()}`, ...maybeBody() };
    default:
      return {
        method: 'POST',
        url: `/webhooks/google-drive/${pathSegment()}${query}`,
        headers: googHeaders(),
        ...maybeBody(),
      };
  }
}

function isEventStream(url: string): boolean {
  try {
    return new URL(url, 'http://fuzz.invalid').pathname.endsWith('/events');
  } catch {
    return false;
  }
}

function maybeBody(): { body?: string } {
  const b = body();
  return b === undefined ? {} : { body: b };
}

describe(`HTTP fuzz (seed ${seed}, ${count} requests)`, () => {
  let fixture: HttpFixture;

  beforeAll(async () => {
    fixture = await httpFixture({
      env: { HTTP_WEBHOOK_INGRESS: 'true', GDRIVE_CHANNEL_TOKEN_SECRET: 'fuzz-channel-token-secret' },
    });
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it(
    'answers every random request without a 5xx, stays live, and produces only valid webhook messages',
    async () => {
      const failures: string[] = [];
      for (let i = 0; i < count; i++) {
        const req = request();
        // Event streams never end under inject: `/connections/../events` is `/events` too.
        if (isEventStream(req.url)) continue;
        const answer = await Promise.race([
          fixture.app.inject({
            method: req.method,
            url: req.url,
            ...(req.headers ? { headers: req.headers } : {}),
            ...(req.body !== undefined ? { payload: req.body } : {}),
          }),
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000).unref()),
        ]);
        if (answer === null) {
          failures.push(`#${i} ${req.method} ${req.url.slice(0, 120)} → no answer within 5 s`);
          break;
        }
        if (answer.statusCode >= 500)
          failures.push(`#${i} ${req.method} ${req.url.slice(0, 120)} → ${answer.statusCode}`);
      }
      expect(failures, `replay with FUZZ_SEED=${seed} FUZZ_COUNT=${count}`).toEqual([]);
      expect((await fixture.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
      for (const message of fixture.sink.sent) {
        expect(webhookMessageSchema.safeParse(JSON.parse(message.value ?? 'null')).success).toBe(true);
      }
    },
    30_000 + count * 20,
  );
});
