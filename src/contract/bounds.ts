import { z } from 'zod';

/**
 * The bounds of what crosses the worker's boundary (Kafka inbound topics and the HTTP
 * routes alike). Everything an inbound message carries ends up in a Kafka key, a URL, a
 * checkpoint or a log line; an unbounded id there costs the whole worker (a 2 MB key used to
 * freeze the producer's partitioner; a 4 MB `message_id` became an 8 MB checkpoint the
 * broker would refuse forever). So ids are checked once, here, and one definition serves
 * both doors.
 */

export const MAX_ID_LENGTH = 256;
export const MAX_HEADER_NAME_LENGTH = 64;
export const MAX_HEADER_VALUE_LENGTH = 4096;
export const MAX_HEADERS = 64;
export const MAX_INCLUDE_ITEMS = 16;
export const MAX_DRIVE_IDS = 100;
export const MAX_CURSOR_LENGTH = 4096;

/** C0/C1 controls, and lone UTF-16 surrogates (`u` mode sees an unpaired one as a code point in Cs). */
const controlOrLoneSurrogate = /[\p{Cc}\p{Cs}]/u;

/**
 * The connection id: 1 to 256 characters of printable ASCII (0x21–0x7E, no space), and not
 * `.` or `..` — those two would move the control plane's URL (`…/integration-connections/../access-token`)
 * even percent-encoded. ASCII only, so the UTF-8 Kafka key is the id itself, byte for byte.
 */
export const connectionIdSchema = z
  .string()
  .min(1)
  .max(MAX_ID_LENGTH)
  .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' })
  .refine((id) => id !== '.' && id !== '..', { message: "must not be '.' or '..'" });

/** Other opaque ids (`message_id`, `customer_id`, drive ids): 1 to 256 characters, no controls, well-formed UTF-16. */
export const opaqueIdSchema = z
  .string()
  .min(1)
  .max(MAX_ID_LENGTH)
  .refine((id) => !controlOrLoneSurrogate.test(id), {
    message: 'must hold no control characters or lone surrogates',
  });

/** Free text with a bound (cursors, header values): no lone surrogates, which UTF-8 cannot carry. */
export function boundedText(max: number) {
  return z
    .string()
    .max(max)
    .refine((text) => !/\p{Cs}/u.test(text), { message: 'must hold no lone surrogates' });
}

const QUOTE_LENGTH = 64;

/**
 * An inbound string as an error record, a log line or a key may quote it: whole when it has
 * at most `keepUpTo` characters and none of them a control or lone surrogate, else its first
 * 64 characters, those escaped, and its length — so the record stays small and still says
 * which message it was.
 */
export function quoteBounded(value: string, keepUpTo = QUOTE_LENGTH): string {
  const head = value.slice(0, Math.max(keepUpTo, QUOTE_LENGTH));
  if (value.length <= keepUpTo && !controlOrLoneSurrogate.test(head)) return value;
  const cut = Math.min(keepUpTo, QUOTE_LENGTH);
  const escaped = Array.from(value.slice(0, cut), (char) =>
    controlOrLoneSurrogate.test(char) ? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}` : char,
  ).join('');
  return `${escaped}…(${value.length} chars)`;
}

/** An inbound id as an error record quotes it: whole within the id bounds, else cut with its length. */
export function quoteId(value: string): string {
  return quoteBounded(value, MAX_ID_LENGTH);
}
