import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { ClassifiedError, classifyFailure } from '../../machines/classify.js';

export interface AccessToken {
  readonly accessToken: string;
  readonly expiresAt: Date;
  readonly scopes: readonly string[];
  /** Opaque id of the Google user: keys the per-user quota. */
  readonly googleUser: string;
}

export interface AccessTokenProvider {
  getToken(connectionId: string, options?: { readonly forceRefresh?: boolean }): Promise<AccessToken>;
}

const tokenAnswerSchema = z.object({
  access_token: z.string().min(1),
  expires_at: z.iso.datetime({ offset: true }),
  scopes: z.array(z.string()).default([]),
  google_user: z.string().min(1),
});

interface Answer {
  readonly status: number;
  readonly body: string;
}

/**
 * The control plane's token endpoint (CONTRACT.md, "Control plane: credentials"), over
 * mutual TLS when certificates are configured. Tokens are cached per connection until
 * shortly before they expire; concurrent callers share one request; no token ever appears
 * in an error message.
 */
export function createAccessTokenClient(
  config: Config['controlPlane'],
  options: { integrationId: string; refreshMarginMs?: number; now?: () => number },
): AccessTokenProvider {
  const now = options.now ?? Date.now;
  const margin = options.refreshMarginMs ?? 60_000;
  const agent = config.tls
    ? new https.Agent({
        cert: readFileSync(config.tls.certPath),
        key: readFileSync(config.tls.keyPath),
        ...(config.tls.caPath ? { ca: readFileSync(config.tls.caPath) } : {}),
        keepAlive: true,
      })
    : undefined;
  const cache = new Map<string, AccessToken>();
  const inFlight = new Map<string, Promise<AccessToken>>();

  function post(connectionId: string, forceRefresh: boolean): Promise<Answer> {
    const url = new URL(
      `${config.baseUrl}/v1/integration-connections/${encodeURIComponent(connectionId)}/access-token`,
    );
    const body = JSON.stringify({ integration_id: options.integrationId, force_refresh: forceRefresh });
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          ...(agent && url.protocol === 'https:' ? { agent } : {}),
          timeout: 10_000,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error('control plane request timed out')));
      request.on('error', reject);
      request.end(body);
    });
  }

  async function fetchToken(connectionId: string, forceRefresh: boolean): Promise<AccessToken> {
    let answer: Answer;
    try {
      answer = await post(connectionId, forceRefresh);
    } catch (error) {
      throw new ClassifiedError(
        classifyFailure({
          source: 'control_plane',
          httpStatus: null,
          reason: null,
          location: null,
          message: `control plane unreachable: ${error instanceof Error ? error.message : String(error)}`,
          retryAfterMs: null,
        }),
        { cause: error },
      );
    }
    if (answer.status === 200) {
      const parsed = tokenAnswerSchema.safeParse(safeJson(answer.body));
      if (!parsed.success) {
        throw new ClassifiedError(
          classifyFailure({
            source: 'control_plane',
            httpStatus: 502,
            reason: 'bad_answer',
            location: null,
            message: 'control plane answered 200 without a valid token document',
            retryAfterMs: null,
          }),
        );
      }
      const token: AccessToken = {
        accessToken: parsed.data.access_token,
        expiresAt: new Date(parsed.data.expires_at),
        scopes: parsed.data.scopes,
        googleUser: parsed.data.google_user,
      };
      cache.set(connectionId, token);
      return token;
    }
    const errorBody = safeJson(answer.body);
    const reason =
      typeof errorBody === 'object' &&
      errorBody !== null &&
      'error' in errorBody &&
      typeof errorBody.error === 'string'
        ? errorBody.error
        : null;
    throw new ClassifiedError(
      classifyFailure({
        source: 'control_plane',
        httpStatus: answer.status,
        reason,
        location: null,
        message:
          answer.status === 404
            ? 'the control plane does not know this connection'
            : answer.status === 409
              ? 'the user must authorize the connection again (reauth_required)'
              : `control plane answered ${answer.status}`,
        retryAfterMs: null,
      }),
    );
  }

  return {
    getToken(connectionId, requestOptions) {
      const forceRefresh = requestOptions?.forceRefresh ?? false;
      const cached = cache.get(connectionId);
      if (!forceRefresh && cached && cached.expiresAt.getTime() - margin > now())
        return Promise.resolve(cached);
      const key = `${connectionId}\n${forceRefresh}`;
      const pending = inFlight.get(key);
      if (pending) return pending;
      const request = fetchToken(connectionId, forceRefresh).finally(() => inFlight.delete(key));
      inFlight.set(key, request);
      return request;
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
