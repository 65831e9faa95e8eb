import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Optional bearer-token protection of the state endpoints and the page (HTTP_AUTH_TOKEN).
 * Scripts send `Authorization: Bearer <token>`; a browser opens `/?token=<token>` once,
 * gets the token back as an HttpOnly cookie and is redirected to `/`, so the token leaves
 * the address bar and the page's own fetches and EventSource (which cannot set headers)
 * carry it. Without a token only loopback clients are served. Health and metrics stay
 * open: probes and Prometheus must not need a secret.
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

/**
 * Loopback peers: `kubectl port-forward` and a sidecar arrive on 127.0.0.1 inside the pod's
 * network namespace, anything through the Service or the pod IP does not.
 */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * With a token configured, every client must present it (loopback included: a sidecar is
 * not necessarily trusted). Without one, only loopback clients are served: the server
 * listens on 0.0.0.0 for the probes and Prometheus, and the state it lists (customer and
 * connection ids) must not be open to whoever reaches the pod.
 */
export function isAuthorized(request: FastifyRequest, expected: string | null): boolean {
  if (expected === null) return isLoopback(request.socket.remoteAddress);
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

/** An `onRequest` hook for the protected routes: the token, or loopback when none is configured. */
export function requireToken(expected: string | null) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (isAuthorized(request, expected)) return;
    if (expected === null) {
      await reply.code(403).send({
        error: 'forbidden',
        message: 'state endpoints answer loopback clients only while HTTP_AUTH_TOKEN is unset',
      });
      return;
    }
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="gdrive-worker"')
      .send({ error: 'unauthorized', message: 'a valid bearer token is required' });
  };
}
