import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { ConnectionInspector } from '../../actors/inspection.js';
import { connectionJson } from '../connection-json.js';
import { parseOr400 } from '../validation.js';

export const connectionsQuerySchema = z.object({
  state: z
    .string()
    .regex(/^[a-z][a-z-]{0,39}$/, { message: 'must be a machine state such as idle or full-syncing' })
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

/** `GET /connections?state=&limit=&offset=`: resident connections, ordered by id for stable paging. */
export const connectionsListRoute: FastifyPluginAsync<{ inspector: ConnectionInspector }> = async (
  app,
  { inspector },
) => {
  app.get('/connections', async (request, reply) => {
    const query = parseOr400(connectionsQuerySchema, request.query, reply);
    if (!query) return reply;
    const now = Date.now();
    const views = inspector
      .list(query.state ? { state: query.state } : undefined)
      .sort((a, b) => (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0));
    return {
      now: new Date(now).toISOString(),
      total: views.length,
      limit: query.limit,
      offset: query.offset,
      connections: views.slice(query.offset, query.offset + query.limit).map((v) => connectionJson(v, now)),
    };
  });
};
