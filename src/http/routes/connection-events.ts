import type { FastifyPluginAsync } from 'fastify';
import type { ConnectionInspector } from '../../actors/inspection.js';
import { connectionJson } from '../connection-json.js';
import type { EventStreams } from '../sse.js';
import { parseOr400 } from '../validation.js';
import { connectionParamsSchema } from './connection-id.js';

/**
 * `GET /connections/:id/events`: a `snapshot` event with the connection as it is, then one
 * `transition` event per transition, live, until the client goes away.
 */
export const connectionEventsRoute: FastifyPluginAsync<{
  inspector: ConnectionInspector;
  streams: EventStreams;
}> = async (app, { inspector, streams }) => {
  app.get('/connections/:id/events', async (request, reply) => {
    const params = parseOr400(connectionParamsSchema, request.params, reply);
    if (!params) return reply;
    const view = inspector.get(params.id);
    if (!view) return reply.code(404).send({ error: 'not_found', message: 'unknown connection' });
    const stream = streams.open(request, reply);
    const now = Date.now();
    stream.send('snapshot', { now: new Date(now).toISOString(), connection: connectionJson(view, now) });
    const unsubscribe = inspector.subscribe(params.id, (current, transition) => {
      const at = Date.now();
      stream.send('transition', {
        now: new Date(at).toISOString(),
        connection: connectionJson(current, at),
        transition,
      });
    });
    stream.onClose(unsubscribe);
    return reply;
  });
};
