import { z } from 'zod';
import { type CallFailure, ClassifiedError, classifyFailure } from '../../machines/classify.js';
import { parseRetryAfter } from '../control-plane/access-token-client.js';

/**
 * Turning whatever a Drive call failed with — a GaxiosError with Drive's error envelope, an
 * HTML 429, a bare HTTP answer from the batch endpoint, a refused connection — into the
 * neutral `CallFailure` that src/machines/classify.ts gives a meaning to.
 */

/** A Drive call that failed; `failure` is the contract classification, `callFailure` what happened. */
export class DriveCallError extends ClassifiedError {
  constructor(
    /** Discovery id of the call, e.g. `drive.files.list`. */
    readonly method: string,
    readonly callFailure: CallFailure,
    options?: { cause?: unknown },
  ) {
    super(classifyFailure({ ...callFailure, operation: method }), options);
    this.name = 'DriveCallError';
  }

  /** Drive refused the changes cursor: take a fresh start token, then resync in full. */
  get cursorInvalid(): boolean {
    return this.failure.cursorInvalid;
  }
}

// Drive's envelope (DRIVE_API.md §6.1); everything optional because bodies are read defensively.
const driveErrorEnvelopeSchema = z.object({
  error: z
    .object({
      code: z.number().optional(),
      message: z.string().optional(),
      errors: z
        .array(z.object({ reason: z.string().optional(), location: z.string().optional() }).loose())
        .optional(),
    })
    .loose(),
});

export type HeaderSource =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | string[] | undefined>>
  | undefined;

/** A header from a fetch `Headers` or from googleapis' plain object (lower-cased names). */
export function headerOf(headers: HeaderSource, name: string): string | null {
  if (headers === undefined || headers === null) return null;
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name);
  const record = headers as Readonly<Record<string, string | string[] | undefined>>;
  const value = record[name] ?? record[name.toLowerCase()];
  if (Array.isArray(value)) return value[0] ?? null;
  return typeof value === 'string' ? value : null;
}

function bodyOf(data: unknown): unknown {
  if (typeof data === 'string') {
    try {
      return JSON.parse(data) as unknown;
    } catch {
      return data;
    }
  }
  if (data instanceof ArrayBuffer) return bodyOf(Buffer.from(data).toString('utf8'));
  if (Buffer.isBuffer(data)) return bodyOf(data.toString('utf8'));
  return data;
}

/** The failure described by an HTTP answer: status, headers and (raw or parsed) body. */
export function failureOfHttpAnswer(answer: {
  readonly status: number;
  readonly headers?: HeaderSource;
  readonly body: unknown;
}): CallFailure {
  const envelope = driveErrorEnvelopeSchema.safeParse(bodyOf(answer.body));
  const error = envelope.success ? envelope.data.error : undefined;
  const first = error?.errors?.[0];
  return {
    source: 'drive',
    httpStatus: answer.status,
    reason: first?.reason ?? null,
    location: first?.location ?? null,
    // 429s have come back as HTML (DRIVE_API §6.1): say what status it was, never echo the page.
    message: error?.message ?? first?.reason ?? `Drive answered ${answer.status}`,
    retryAfterMs: parseRetryAfter(headerOf(answer.headers, 'retry-after')),
  };
}

interface GaxiosErrorShape {
  readonly message?: unknown;
  readonly status?: unknown;
  readonly code?: unknown;
  readonly response?: { readonly status?: unknown; readonly data?: unknown; readonly headers?: HeaderSource };
}

/** The failure behind anything a googleapis call threw. No answer at all is a network failure. */
export function failureOfThrown(error: unknown): CallFailure {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as GaxiosErrorShape;
  const status =
    typeof shape.response?.status === 'number'
      ? shape.response.status
      : typeof shape.status === 'number'
        ? shape.status
        : null;
  if (status !== null && status > 0) {
    return failureOfHttpAnswer({ status, headers: shape.response?.headers, body: shape.response?.data });
  }
  const message = typeof shape.message === 'string' && shape.message !== '' ? shape.message : String(error);
  return {
    source: 'drive',
    httpStatus: null,
    reason: null,
    location: null,
    message: `Drive unreachable: ${message}`,
    retryAfterMs: null,
    network: true,
  };
}
