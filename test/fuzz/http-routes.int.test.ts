import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookMessageSchema } from '../../src/contract/inbound.js';
import { type HttpFixture, httpFixture } from '../http/http-fixture.js';

/**
 * Random requests to every route of the Fastify app: fixed seed and count in `npm test`;
 * FUZZ_SEED and FUZZ_COUNT replay or widen a run. Held to: never a 5xx, liveness 200 after,
 * and nothing produced that the webhook topic's schema refuses.
 */
const seed =
  process.env.FUZZ_SEED !== undefined
    ? Number(process.env.FUZZ_SEED)
    : process.env.FUZZ_RANDOM === '1'
      ? Math.floor(Math.random() * 2 ** 31)
      : 1414;
// Printed so a failing random run can be replayed.
console.log(`HTTP fuzz seed ${seed}`);
const count = Number(process.env.FUZZ_COUNT ?? 600);

/** mulberry32: small, seedable, good enough to pick inputs. */
function prng(start: number): () => number {
  let a = start >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (max: number) => Math.floor(random() * max);

/** Strings of the kinds that broke things before: long, controls, surrogates, dots, non-ASCII. */
function nastyString(): string {
  switch (int(9)) {
    case 0:
      return 'x'.repeat(1 + int(5_000));
    case 1:
      return pick(['.', '..', '%2e', '%2e%2e', '%2F', '%00', '%E2%80%AE']);
    case 2:
      return String.fromCharCode(...Array.from({ length: 1 + int(20) }, () => int(0x20)));
    case 3:
      return `conn_${'\uD800'}`;
    case 4:
      return `conn_${int(1_000)}`;
    case 5:
      return 'é'.repeat(1 + int(300));
    case 6:
      return JSON.stringify({ a: [1, { b: null }] });
    case 7:
      return '';
    default:
      return Array.from({ length: 1 + int(64) }, () => String.fromCharCode(0x21 + int(0x5e))).join('');
  }
}

function pathSegment(): string {
  return encodeURIComponent(nastyString().replace(/[\uD800-\uDFFF]/g, '?')).slice(0, 2_000) || 'x';
}

function body(): string | undefined {
  switch (int(6)) {
    case 0:
      return undefined;
    case 1:
      return nastyString();
    case 2:
      return JSON.stringify({ kind: 'api#channel', extra: nastyString() });
    case 3:
      return '{"unterminated": ';
    case 4:
      return JSON.stringify(Array.from({ length: int(2_000) }, () => nastyString().slice(0, 20)));
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
    if (random() < 0.6) {
      const value = pick([nastyString(), 'change', 'sync', 'update', String(int(1e6))]);
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
    random() < 0.3 ? `?${pick(['state', 'limit', 'offset', 'token', 'customer_id'])}=${pathSegment()}` : '';
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
