import type { FastifyInstance } from 'fastify';
import type { EmulatorRuntime } from './runtime.js';

const TOKEN_ERRORS = {
  invalid_grant: { status: 400, description: 'Token has been expired or revoked.' },
  invalid_client: { status: 401, description: 'The OAuth client was not found.' },
  invalid_request: { status: 400, description: 'Missing required parameter: refresh_token' },
  unsupported_grant_type: { status: 400, description: 'Invalid grant_type.' },
} as const;

function formOf(body: unknown): URLSearchParams {
  if (Buffer.isBuffer(body)) return new URLSearchParams(body.toString('utf8'));
  return new URLSearchParams();
}

function jsonOf(body: unknown): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Google's token endpoint (`POST /token`, as `oauth2TokenUrl`) and the platform control
 * plane's access-token endpoint, so mock mode has a whole world on one server.
 */
export function registerOAuthRoutes(app: FastifyInstance, runtime: EmulatorRuntime): void {
  app.post('/token', async (request, reply) => {
    runtime.control.count('oauth2.token');
    const form = formOf(request.body);
    const outcome = runtime.identity.refresh({
      grantType: form.get('grant_type') ?? undefined,
      refreshToken: form.get('refresh_token') ?? undefined,
      clientId: form.get('client_id') ?? undefined,
      clientSecret: form.get('client_secret') ?? undefined,
    });
    reply.header('cache-control', 'no-cache, no-store, max-age=0, must-revalidate');
    if (!outcome.ok) {
      const error = TOKEN_ERRORS[outcome.error];
      return reply
        .code(error.status)
        .header('content-type', 'application/json; charset=utf-8')
        .send(JSON.stringify({ error: outcome.error, error_description: error.description }));
    }
    return reply.header('content-type', 'application/json; charset=utf-8').send(
      JSON.stringify({
        access_token: outcome.accessToken,
        expires_in: outcome.expiresIn,
        scope: outcome.scopes.join(' '),
        token_type: 'Bearer',
      }),
    );
  });

  app.post('/v1/integration-connections/:connectionId/access-token', async (request, reply) => {
    runtime.control.count('controlPlane.accessToken');
    const { connectionId } = request.params as { connectionId: string };
    const body = jsonOf(request.body);
    const outcome = runtime.identity.connectionToken(connectionId, body.force_refresh === true);
    if (!outcome.ok) {
      if (outcome.error === 'unknown_connection') return reply.code(404).send({ error: 'not_found' });
      return reply.code(409).send({ error: 'reauth_required' });
    }
    return reply.send({
      access_token: outcome.accessToken,
      expires_at: new Date(outcome.expiresAt).toISOString(),
      scopes: outcome.scopes,
      google_user: outcome.userId,
    });
  });
}
