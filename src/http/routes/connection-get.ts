import type { FastifyPluginAsync } from 'fastify';
import type { ConnectionInspector } from '../../actors/inspection.js';
import { connectionJson } from '../connection-json.js';
import { parseOr400 } from '../validation.js';
import { connectionParamsSchema } from './connection-id.js';

/** `GET /connections/:id`: one connection, resident or restored from its checkpoint; 404 when unknown. */
export const connectionGetRoute: FastifyPluginAsync<{ inspector: ConnectionInspector }> = async (
  app,
  { inspector },
) => {
  app.get('/connections/:id', async (request, reply) => {
    const params = parseOr400(connectionParamsSchema, request.params, reply);
    if (!params) return reply;
    const view = inspector.get(params.id);
    if (!view) return reply.code(404).send({ error: 'not_found', message: 'unknown connection' });
    const now = Date.now();
    return { now: new Date(now).toISOString(), connection: connectionJson(view, now) };
  });
};
