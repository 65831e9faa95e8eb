import type { FastifyPluginAsync } from 'fastify';
import type { WorkerMetrics } from '../metrics.js';

/** Prometheus exposition of the worker's own registry; open, like health, for scrapers. */
export const metricsRoute: FastifyPluginAsync<{ metrics: WorkerMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.render();
    return reply.header('content-type', metrics.contentType).send(body);
  });
};
