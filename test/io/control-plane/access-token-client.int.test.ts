import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AccessTokenClient,
  AccessTokenError,
  createAccessTokenClient,
} from '../../../src/io/control-plane/access-token-client.js';
import { failureOf } from '../../../src/machines/classify.js';

/**
 * A control plane on a real HTTPS server that demands a client certificate signed by a CA
 * made for the test (openssl), so every passing call proves mutual TLS was used.
 */

interface Received {
  readonly connectionId: string;
  readonly body: unknown;
  readonly clientCommonName: string | undefined;
}

type Script = (connectionId: string, forceRefresh: boolean) => { status: number; body: unknown };

let directory: string;
let server: https.Server;
let baseUrl: string;
let received: Received[] = [];
let script: Script;
let answerDelayMs = 0;
let tokenCounter = 0;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: directory, stdio: 'pipe' });
}

function makePki(): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
  );
  writeFileSync(path.join(directory, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '1',
    '-extfile',
    'server.ext',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'client.key',
    '-out',
    'client.csr',
    '-subj',
    '/CN=gdrive-worker',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'client.crt',
    '-days',
    '1',
  );
}

const file = (name: string) => path.join(directory, name);

function client(
  overrides: { tls?: boolean; now?: () => number; refreshMarginMs?: number; maxCachedTokens?: number } = {},
): AccessTokenClient {
  return createAccessTokenClient(
    {
      baseUrl,
      tls:
        overrides.tls === false
          ? null
          : { certPath: file('client.crt'), keyPath: file('client.key'), caPath: file('ca.crt') },
    },
    {
      integrationId: 'google-drive',
      ...(overrides.now ? { now: overrides.now } : {}),
      ...(overrides.refreshMarginMs !== undefined ? { refreshMarginMs: overrides.refreshMarginMs } : {}),
      ...(overrides.maxCachedTokens !== undefined ? { maxCachedTokens: overrides.maxCachedTokens } : {}),
    },
  );
}

const validToken = (expiresInMs = 3_600_000) => ({
  status: 200,
  body: {
    access_token: `ya29.secret-token-${++tokenCounter}`,
    expires_at: new Date(Date.now() + expiresInMs).toISOString(),
    scopes: ['https://www.googleapis.com/auth/drive.readonly'],
    google_user: 'google-user-1',
  },
});

async function rejection(promise: Promise<unknown>): Promise<AccessTokenError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AccessTokenError) return error;
    throw error;
  }
  throw new Error('expected the request to fail');
}

beforeAll(async () => {
  directory = mkdtempSync(path.join(tmpdir(), 'control-plane-mtls-'));
  makePki();
  server = https.createServer(
    {
      key: readFileSync(file('server.key')),
      cert: readFileSync(file('server.crt')),
      ca: readFileSync(file('ca.crt')),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      request.on('end', () => {
        const match = /^\/v1\/integration-connections\/([^/]+)\/access-token$/.exec(request.url ?? '');
        if (request.method !== 'POST' || !match?.[1]) {
          response.writeHead(404).end();
          return;
        }
        const connectionId = decodeURIComponent(match[1]);
        const body = JSON.parse(text) as { force_refresh: boolean };
        const peer = (request.socket as TLSSocket).getPeerCertificate();
        const commonName = peer.subject?.CN;
        received.push({
          connectionId,
          body,
          clientCommonName: Array.isArray(commonName) ? commonName[0] : commonName,
        });
        const answer = script(connectionId, body.force_refresh);
        setTimeout(() => {
          response.writeHead(answer.status, { 'content-type': 'application/json' });
          response.end(JSON.stringify(answer.body));
        }, answerDelayMs);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  rmSync(directory, { recursive: true, force: true });
});

beforeEach(() => {
  received = [];
  answerDelayMs = 0;
  script = () => validToken();
});

describe('the control-plane access-token client', () => {
  it('asks over mutual TLS with the contract body and reads the token', async () => {
    const token = await client().getToken('conn_abc');
    expect(token.accessToken).toMatch(/^ya29\.secret-token-/);
    expect(token.googleUser).toBe('google-user-1');
    expect(token.scopes).toEqual(['https://www.googleapis.com/auth/drive.readonly']);
    expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect(received).toEqual([
      {
        connectionId: 'conn_abc',
        body: { integration_id: 'google-drive', force_refresh: false },
        clientCommonName: 'gdrive-worker',
      },
    ]);
  });

  it('is refused by the server without a client certificate (so the call above proves mTLS)', async () => {
    // Trusts the server, presents no certificate of its own.
    const outcome = await new Promise<string>((resolve) => {
      const request = https.request(
        `${baseUrl}/v1/integration-connections/conn_abc/access-token`,
        { method: 'POST', ca: readFileSync(file('ca.crt')) },
        (response) => resolve(`answered ${response.statusCode}`),
      );
      request.on('error', (error) => resolve(`refused: ${error.message}`));
      request.end('{}');
    });
    expect(outcome).toMatch(/^refused/);
    expect(received).toEqual([]);
  });

  it('reports an unreachable or untrusted control plane as transient, flagged network', async () => {
    // No client configuration at all: the server's CA is unknown and no certificate is shown.
    const error = await rejection(client({ tls: false }).getToken('conn_abc'));
    expect(error.failure.classification).toBe('transient');
    expect(error.failure.retryable).toBe(true);
    expect(error.callFailure.network).toBe(true);
    expect(received).toEqual([]);
  });

  it('serves a cached token until shortly before it expires, then asks again', async () => {
    let clock = Date.now();
    const provider = client({ now: () => clock, refreshMarginMs: 60_000 });
    script = () => validToken(120_000);
    const first = await provider.getToken('conn_abc');
    const second = await provider.getToken('conn_abc');
    expect(second.accessToken).toBe(first.accessToken);
    expect(received).toHaveLength(1);

    clock += 59_000; // 61 s left: still outside the 60 s margin
    expect((await provider.getToken('conn_abc')).accessToken).toBe(first.accessToken);
    expect(received).toHaveLength(1);

    clock += 2_000; // 59 s left: inside the margin
    const third = await provider.getToken('conn_abc');
    expect(third.accessToken).not.toBe(first.accessToken);
    expect(received).toHaveLength(2);
  });

  it('caches per connection', async () => {
    const provider = client();
    const a = await provider.getToken('conn_a');
    const b = await provider.getToken('conn_b');
    expect(a.accessToken).not.toBe(b.accessToken);
    expect(received.map((r) => r.connectionId)).toEqual(['conn_a', 'conn_b']);
  });

  it('keeps at most maxCachedTokens tokens, dropping the least recently used', async () => {
    const provider = client({ maxCachedTokens: 2 });
    await provider.getToken('conn_a');
    await provider.getToken('conn_b');
    await provider.getToken('conn_a');
    await provider.getToken('conn_c');
    // conn_b was used least recently: asked for again; conn_a and conn_c are served.
    await provider.getToken('conn_a');
    await provider.getToken('conn_c');
    await provider.getToken('conn_b');
    expect(received.map((r) => r.connectionId)).toEqual(['conn_a', 'conn_b', 'conn_c', 'conn_b']);
  });

  it('forgets a connection (evicted, or its partition revoked), even one whose answer is still in flight', async () => {
    const provider = client();
    await provider.getToken('conn_a');
    await provider.getToken('conn_b');
    await provider.getToken('conn_c');
    expect(provider.cachedTokens()).toBe(3);
    provider.forget('conn_a');
    provider.forgetWhere((id) => id === 'conn_b');
    expect(provider.cachedTokens()).toBe(1);
    answerDelayMs = 50;
    const late = provider.getToken('conn_d');
    provider.forgetWhere((id) => id === 'conn_d');
    await late;
    expect(provider.cachedTokens()).toBe(1);
    answerDelayMs = 0;
    await provider.getToken('conn_a');
    await provider.getToken('conn_c');
    expect(received.map((r) => r.connectionId)).toEqual(['conn_a', 'conn_b', 'conn_c', 'conn_d', 'conn_a']);
    expect(provider.cachedTokens()).toBe(2);
  });

  it('lets concurrent callers share one request', async () => {
    answerDelayMs = 50;
    const provider = client();
    const tokens = await Promise.all([1, 2, 3, 4, 5].map(() => provider.getToken('conn_abc')));
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(received).toHaveLength(1);
  });

  it('bypasses the cache on forceRefresh and caches the refreshed token', async () => {
    const provider = client();
    const first = await provider.getToken('conn_abc');
    const refreshed = await provider.getToken('conn_abc', { forceRefresh: true });
    expect(refreshed.accessToken).not.toBe(first.accessToken);
    expect(received.map((r) => (r.body as { force_refresh: boolean }).force_refresh)).toEqual([false, true]);
    expect((await provider.getToken('conn_abc')).accessToken).toBe(refreshed.accessToken);
    expect(received).toHaveLength(2);
  });

  it('maps 404 to an auth failure: unknown connection', async () => {
    script = () => ({ status: 404, body: { error: 'not_found' } });
    const error = await rejection(client().getToken('conn_gone'));
    expect(error.failure).toMatchObject({
      classification: 'auth',
      code: 'unknown_connection',
      retryable: false,
    });
    expect(error.reauthRequired).toBe(false);
    expect(error.callFailure).toMatchObject({ source: 'control_plane', httpStatus: 404 });
    expect(failureOf(error).classification).toBe('auth');
  });

  it('maps 409 reauth_required to an auth failure flagged reauthRequired, and forgets the cached token', async () => {
    const provider = client();
    await provider.getToken('conn_abc');
    script = () => ({ status: 409, body: { error: 'reauth_required' } });
    const error = await rejection(provider.getToken('conn_abc', { forceRefresh: true }));
    expect(error.failure).toMatchObject({
      classification: 'auth',
      code: 'reauth_required',
      retryable: false,
    });
    expect(error.reauthRequired).toBe(true);
    // The revoked connection's old token is not served from the cache any more.
    await rejection(provider.getToken('conn_abc'));
    expect(received).toHaveLength(3);
  });

  it('maps 503 and 429 to transient failures the caller backs off from', async () => {
    script = () => ({ status: 503, body: { error: 'unavailable' } });
    const unavailable = await rejection(client().getToken('conn_abc'));
    expect(unavailable.failure).toMatchObject({
      classification: 'transient',
      retryable: true,
      httpStatus: 503,
    });
    script = () => ({ status: 429, body: {} });
    const busy = await rejection(client().getToken('conn_abc'));
    expect(busy.failure).toMatchObject({ classification: 'transient', retryable: true, httpStatus: 429 });
  });

  it('treats a 200 without a valid token document as transient, and never echoes a token', async () => {
    script = () => ({ status: 200, body: { access_token: 'ya29.leaked-secret', expires_at: 'not a date' } });
    const error = await rejection(client().getToken('conn_abc'));
    expect(error.failure.classification).toBe('transient');
    expect(error.message).not.toContain('ya29');
    expect(JSON.stringify(error.failure)).not.toContain('leaked-secret');
  });
});
