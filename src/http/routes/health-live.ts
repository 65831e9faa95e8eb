import type { FastifyPluginAsync } from 'fastify';

/** Liveness: the process answers HTTP. Nothing else is checked, so a slow broker never gets the pod killed. */
export const healthLiveRoute: FastifyPluginAsync = async (app) => {
  app.get('/health/live', async () => ({ live: true }));
};
