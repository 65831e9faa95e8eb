import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Optional bearer-token protection of the state endpoints and the page (HTTP_AUTH_TOKEN).
 * Scripts send `Authorization: Bearer <token>`; a browser opens `/?token=<token>` once,
 * gets the token back as an HttpOnly cookie and is redirected to `/`, so the token leaves
 * the address bar and the page's own fetches and EventSource (which cannot set headers)
 * carry it. Health and metrics stay open: probes and Prometheus must not need a secret.
 */

export const AUTH_COOKIE = 'gdrive_worker_token';

/** Digests first so the comparison takes the same time whatever the lengths. */
export function tokensMatch(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return null;
    }
  }
  return null;
}

/** The token a request presents (Authorization header first, then the page's cookie), or null. */
export function presentedToken(request: FastifyRequest): string | null {
  const authorization = request.headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    return match?.[1]?.trim() ?? null;
  }
  return cookieValue(request.headers.cookie, AUTH_COOKIE);
}

export function isAuthorized(request: FastifyRequest, expected: string | null): boolean {
  if (expected === null) return true;
  const presented = presentedToken(request);
  return presented !== null && tokensMatch(presented, expected);
}

export function authCookie(token: string, secure: boolean): string {
  return [
    `${AUTH_COOKIE}=${encodeURIComponent(token)}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

/** An `onRequest` hook for the protected routes; a no-op when no token is configured. */
export function requireToken(expected: string | null) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (isAuthorized(request, expected)) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="gdrive-worker"')
      .send({ error: 'unauthorized', message: 'a valid bearer token is required' });
  };
}
