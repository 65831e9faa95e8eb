import { z } from 'zod';

/** `:id` / `:connectionId` path parameters: opaque platform ids, bounded so they cannot bloat logs. */
export const connectionIdSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' });

export const connectionParamsSchema = z.object({ id: connectionIdSchema });
