import type { FastifyReply } from 'fastify';
import type { z } from 'zod';

/**
 * Parses params, query or body with zod; on failure answers 400 with the issues (paths and
 * messages only, never the input) and returns undefined so the handler stops.
 */
export function parseOr400<S extends z.ZodType>(
  schema: S,
  input: unknown,
  reply: FastifyReply,
): z.infer<S> | undefined {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  void reply.code(400).send({
    error: 'bad_request',
    issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
  });
  return undefined;
}
