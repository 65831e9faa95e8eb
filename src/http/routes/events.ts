import type { FastifyPluginAsync } from 'fastify';
import type { ConnectionInspector } from '../../actors/inspection.js';
import { connectionJson } from '../connection-json.js';
import type { EventStreams } from '../sse.js';

/** `GET /events`: every connection's transitions, live (the status page's feed). */
export const eventsRoute: FastifyPluginAsync<{
  inspector: ConnectionInspector;
  streams: EventStreams;
}> = async (app, { inspector, streams }) => {
  app.get('/events', async (request, reply) => {
    const stream = streams.open(request, reply);
    const unsubscribe = inspector.subscribeAll((view, transition) => {
      const now = Date.now();
      stream.send('transition', {
        now: new Date(now).toISOString(),
        connection: connectionJson(view, now),
        transition,
      });
    });
    stream.onClose(unsubscribe);
    return reply;
  });
};
