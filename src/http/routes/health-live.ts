import type { FastifyPluginAsync } from 'fastify';
import type { ReadinessCheck } from '../../actors/inspection.js';

/**
 * Liveness: the process answers HTTP and none of the given checks says it is beyond
 * repair. Only states a restart would cure belong here (the inbound consumer crashed and
 * kafkajs will not restart it); a slow or unreachable broker is readiness, never liveness,
 * so an outage does not get every pod killed.
 */
export const healthLiveRoute: FastifyPluginAsync<{ liveness: readonly ReadinessCheck[] }> = async (
  app,
  { liveness },
) => {
  app.get('/health/live', async (request, reply) => {
    const reasons: string[] = [];
    for (const check of liveness) {
      try {
        const result = check.check();
        if (!result.ok) reasons.push(`${check.name}: ${result.reason ?? 'not live'}`);
      } catch (error) {
        // A check that cannot tell is no reason to restart the process.
        request.log.warn(
          { check: check.name, error: error instanceof Error ? error.name : 'error' },
          'liveness check failed',
        );
      }
    }
    if (reasons.length > 0) return reply.code(503).send({ live: false, reasons });
    return { live: true };
  });
};
