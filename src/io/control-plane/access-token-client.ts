import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { type CallFailure, ClassifiedError, classifyFailure } from '../../machines/classify.js';

export interface AccessToken {
  readonly accessToken: string;
  readonly expiresAt: Date;
  readonly scopes: readonly string[];
  /** Opaque id of the Google user: keys the per-user quota. */
  readonly googleUser: string;
}

export interface AccessTokenRequestOptions {
  /** Skip the cache and ask the control plane to refresh with Google (after a Drive 401). */
  readonly forceRefresh?: boolean;
}

export interface AccessTokenProvider {
  getToken(connectionId: string, options?: AccessTokenRequestOptions): Promise<AccessToken>;
}

/** The client with its cache's upkeep: what the worker drops when a connection leaves memory. */
export interface AccessTokenClient extends AccessTokenProvider {
  /** Drops the connection's cached token; an answer already in flight for it is not cached either. */
  forget(connectionId: string): void;
  /** `forget` for every cached connection the predicate names (a revoked partition's). */
  forgetWhere(predicate: (connectionId: string) => boolean): void;
  /** Tokens cached now. */
  cachedTokens(): number;
}

export interface AccessTokenClientOptions {
  /** Sent as `integration_id` (WORKER_INTEGRATION_ID). */
  readonly integrationId: string;
  /** A cached token is used until this long before its `expires_at`. Default 60 s. */
  readonly refreshMarginMs?: number;
  /** One request's deadline. Default 10 s. */
  readonly timeoutMs?: number;
  /** Wall-clock milliseconds (compared with `expires_at`). Default Date.now. */
  readonly now?: () => number;
  /**
   * Tokens kept at most (least recently used dropped first). A worker holds many more
   * connections than are active at once; an idle one asks again when it wakes. Default 10,000.
   */
  readonly maxCachedTokens?: number;
}

export const DEFAULT_MAX_CACHED_TOKENS = 10_000;

/**
 * A failed token request: the neutral `CallFailure` (what happened) plus its contract
 * classification (what it means), inherited from ClassifiedError so `failureOf` reads it.
 * `reauthRequired` marks the control plane's 409: the user must authorize again, and the
 * connection parks without retrying. The message never holds a token.
 */
export class AccessTokenError extends ClassifiedError {
  readonly reauthRequired: boolean;
  constructor(
    readonly callFailure: CallFailure,
    options?: { cause?: unknown },
  ) {
    const failure = classifyFailure(callFailure);
    super(failure, options);
    this.name = 'AccessTokenError';
    this.reauthRequired = failure.code === 'reauth_required';
  }
}

const tokenAnswerSchema = z.object({
  access_token: z.string().min(1),
  expires_at: z.iso.datetime({ offset: true }),
  scopes: z.array(z.string()).default([]),
  google_user: z.string().min(1),
});

const errorAnswerSchema = z.object({ error: z.string() }).loose();

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly retryAfter: string | null;
}

export const DEFAULT_REFRESH_MARGIN_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The control plane's token endpoint (CONTRACT.md, "Control plane: credentials"), over
 * mutual TLS when a client certificate is configured (plain http stays possible for the
 * emulator, which plays the control plane in mock mode). Tokens are cached per connection
 * until `refreshMarginMs` before they expire; concurrent callers share one request;
 * `forceRefresh` bypasses the cache. No token ever appears in an error message.
 */
export function createAccessTokenClient(
  config: Config['controlPlane'],
  options: AccessTokenClientOptions,
): AccessTokenClient {
  const now = options.now ?? Date.now;
  const margin = options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const baseUrl = config.baseUrl.replace(/\/+$/, '');
  // Read once: a certificate rotated on disk is picked up by a restart (Kubernetes rolls pods on Secret change).
  const agent = config.tls
    ? new https.Agent({
        cert: readFileSync(config.tls.certPath),
        key: readFileSync(config.tls.keyPath),
        ...(config.tls.caPath ? { ca: readFileSync(config.tls.caPath) } : {}),
        keepAlive: true,
      })
    : undefined;
  // Each cached token remembers the number of the request that fetched it: an older answer
  // landing after a newer one (a plain fetch racing a forced refresh) must not replace it.
  const cache = new LRUCache<string, { readonly token: AccessToken; readonly sequence: number }>({
    max: options.maxCachedTokens ?? DEFAULT_MAX_CACHED_TOKENS,
  });
  const inFlight = new Map<string, Promise<AccessToken>>();
  let requestSequence = 0;
  /** Connections forgotten while a request of theirs was in flight: answers up to that request are not cached. */
  const forgottenUpTo = new Map<string, number>();

  function post(connectionId: string, forceRefresh: boolean): Promise<Answer> {
    const url = new URL(
      `${baseUrl}/v1/integration-connections/${encodeURIComponent(connectionId)}/access-token`,
    );
    const body = JSON.stringify({ integration_id: options.integrationId, force_refresh: forceRefresh });
    const secure = url.protocol === 'https:';
    if (!secure && agent) {
      return Promise.reject(
        new Error('control plane URL is plain http while mutual TLS is configured; refusing to send'),
      );
    }
    const transport = secure ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          ...(agent ? { agent } : {}),
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const retryAfter = response.headers['retry-after'];
            resolve({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () =>
        request.destroy(new Error(`control plane did not answer within ${timeoutMs} ms`)),
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  async function fetchToken(
    connectionId: string,
    forceRefresh: boolean,
    sequence: number,
  ): Promise<AccessToken> {
    let answer: Answer;
    try {
      answer = await post(connectionId, forceRefresh);
    } catch (error) {
      throw new AccessTokenError(
        {
          source: 'control_plane',
          httpStatus: null,
          reason: null,
          location: null,
          message: `control plane unreachable: ${error instanceof Error ? error.message : String(error)}`,
          retryAfterMs: null,
          network: true,
        },
        { cause: error },
      );
    }
    if (answer.status === 200) {
      const parsed = tokenAnswerSchema.safeParse(safeJson(answer.body));
      if (!parsed.success) {
        // A 502 by our own reading: the upstream answered, but with nothing usable; transient.
        throw new AccessTokenError({
          source: 'control_plane',
          httpStatus: 502,
          reason: 'bad_answer',
          location: null,
          message: 'control plane answered 200 without a valid token document',
          retryAfterMs: null,
        });
      }
      const token: AccessToken = {
        accessToken: parsed.data.access_token,
        expiresAt: new Date(parsed.data.expires_at),
        scopes: parsed.data.scopes,
        googleUser: parsed.data.google_user,
      };
      const newest = Math.max(cache.get(connectionId)?.sequence ?? 0, forgottenUpTo.get(connectionId) ?? 0);
      if (newest < sequence) cache.set(connectionId, { token, sequence });
      return token;
    }
    // Whatever we had is suspect now (revoked, unknown connection): never serve it again.
    if (answer.status === 404 || answer.status === 409 || answer.status === 401 || answer.status === 403)
      cache.delete(connectionId);
    const errorBody = errorAnswerSchema.safeParse(safeJson(answer.body));
    throw new AccessTokenError({
      source: 'control_plane',
      httpStatus: answer.status,
      reason: errorBody.success ? errorBody.data.error : null,
      location: null,
      message:
        answer.status === 404
          ? 'unknown connection: the control plane does not know it'
          : answer.status === 409
            ? 'the user must authorize the connection again (reauth_required)'
            : `control plane answered ${answer.status}`,
      retryAfterMs: parseRetryAfter(answer.retryAfter, now),
    });
  }

  const isInFlight = (connectionId: string) =>
    inFlight.has(`force\n${connectionId}`) || inFlight.has(`plain\n${connectionId}`);

  function forget(connectionId: string): void {
    cache.delete(connectionId);
    if (isInFlight(connectionId)) forgottenUpTo.set(connectionId, requestSequence);
  }

  return {
    forget,
    forgetWhere(predicate) {
      for (const connectionId of [...cache.keys()]) if (predicate(connectionId)) forget(connectionId);
      for (const key of inFlight.keys()) {
        const connectionId = key.slice(key.indexOf('\n') + 1);
        if (predicate(connectionId)) forget(connectionId);
      }
    },
    cachedTokens: () => cache.size,
    getToken(connectionId, requestOptions) {
      const forceRefresh = requestOptions?.forceRefresh ?? false;
      const cached = cache.get(connectionId)?.token;
      if (!forceRefresh && cached && cached.expiresAt.getTime() - margin > now())
        return Promise.resolve(cached);
      // Forced and plain requests are shared separately: a caller that saw a 401 must not
      // be handed the answer of a plain request that may return the very token refused.
      const key = `${forceRefresh ? 'force' : 'plain'}\n${connectionId}`;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const request = fetchToken(connectionId, forceRefresh, ++requestSequence).finally(() => {
        inFlight.delete(key);
        if (!isInFlight(connectionId)) forgottenUpTo.delete(connectionId);
      });
      inFlight.set(key, request);
      return request;
    },
  };
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now; null when absent or unreadable. */
export function parseRetryAfter(
  value: string | null | undefined,
  now: () => number = Date.now,
): number | null {
  if (value === null || value === undefined || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now());
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
