import type { FastifyPluginAsync } from 'fastify';
import type { ReadinessCheck } from '../../actors/inspection.js';

/**
 * Readiness: every check ok (consumer joined, producer connected, checkpoints restored…).
 * 503 names the failing checks so `kubectl describe` and `curl` tell why.
 */
export const healthReadyRoute: FastifyPluginAsync<{ readiness: readonly ReadinessCheck[] }> = async (
  app,
  { readiness },
) => {
  app.get('/health/ready', async (_request, reply) => {
    const reasons: string[] = [];
    for (const check of readiness) {
      try {
        const result = check.check();
        if (!result.ok) reasons.push(`${check.name}: ${result.reason ?? 'not ready'}`);
      } catch (error) {
        reasons.push(`${check.name}: check failed (${error instanceof Error ? error.name : 'error'})`);
      }
    }
    if (reasons.length > 0) return reply.code(503).send({ ready: false, reasons });
    return { ready: true, checks: readiness.map((c) => c.name) };
  });
};
