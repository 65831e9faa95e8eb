import { z } from 'zod';
import { connectionIdSchema } from '../../contract/bounds.js';

/**
 * `:id` / `:connectionId` path parameters: the contract's connection id rule, the same one
 * the inbound topics apply, so an id one door refuses the other refuses too.
 */
export { connectionIdSchema };

export const connectionParamsSchema = z.object({ id: connectionIdSchema });
