import type { ErrorClassification } from '../contract/records.js';

/**
 * Classification of failed calls into the contract's error classes (CONTRACT.md, "Outbound:
 * error"; DRIVE_API.md §6). Adapters describe what happened as a neutral `CallFailure`;
 * everything that decides what it means lives here.
 */
export interface CallFailure {
  readonly source: 'drive' | 'control_plane' | 's3' | 'kafka';
  /** HTTP status; null when no answer came (network failure, timeout). */
  readonly httpStatus: number | null;
  /** Drive's `errors[0].reason`, or the control plane's `error`. */
  readonly reason: string | null;
  /** Drive's `errors[0].location`, when given. */
  readonly location: string | null;
  readonly message: string;
  readonly retryAfterMs: number | null;
}

export interface ClassifiedFailure {
  readonly classification: ErrorClassification;
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly httpStatus: number | null;
  readonly retryAfterMs: number | null;
  /** The changes cursor was refused: take a fresh start token, then resync in full. */
  readonly cursorInvalid: boolean;
}

const RATE_LIMIT_REASONS = new Set([
  'userRateLimitExceeded',
  'rateLimitExceeded',
  'sharingRateLimitExceeded',
]);
const PERMISSION_REASONS = new Set([
  'insufficientPermissions',
  'insufficientFilePermissions',
  'appNotAuthorizedToFile',
  'domainPolicy',
  'cannotExportFile',
  'exportSizeLimitExceeded',
  'fileNotDownloadable',
]);

/** Bearer credentials, Google access tokens and JWT-shaped strings never leave in a message. */
export function redactSecrets(text: string): string {
  return text
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/-]+=*/g, '$1[REDACTED]')
    .replace(/ya29\.[A-Za-z0-9._-]+/g, '[REDACTED]')
    .replace(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, '[REDACTED]')
    .replace(/(access_token|refresh_token|client_secret)=[^&\s]+/g, '$1=[REDACTED]');
}

export function classifyFailure(failure: CallFailure): ClassifiedFailure {
  const base = {
    httpStatus: failure.httpStatus,
    retryAfterMs: failure.retryAfterMs,
    message: redactSecrets(failure.message).slice(0, 500),
    cursorInvalid: false,
  };
  const status = failure.httpStatus;
  const reason = failure.reason;
  const code = reason ?? (status === null ? 'network_error' : `http_${status}`);

  if (failure.source === 'control_plane') {
    if (status === 404)
      return { ...base, classification: 'auth', code: 'unknown_connection', retryable: false };
    if (status === 409 || reason === 'reauth_required')
      return { ...base, classification: 'auth', code: 'reauth_required', retryable: false };
    if (status === 401 || status === 403) return { ...base, classification: 'auth', code, retryable: false };
    if (status === null || status === 429 || status >= 500)
      return { ...base, classification: 'transient', code, retryable: true };
    return { ...base, classification: 'internal', code, retryable: false };
  }

  if (status === null) return { ...base, classification: 'transient', code, retryable: true };
  // A 403 rate limit is a rate limit, never "access lost" (DRIVE_API §6.2).
  if (status === 429 || (reason !== null && RATE_LIMIT_REASONS.has(reason)))
    return { ...base, classification: 'rate_limited', code, retryable: true };
  if (reason === 'dailyLimitExceeded')
    return { ...base, classification: 'quota_exhausted', code, retryable: true };
  if (status >= 500) return { ...base, classification: 'transient', code, retryable: true };
  if (status === 401) return { ...base, classification: 'auth', code, retryable: false };
  if (status === 403) return { ...base, classification: 'permission', code, retryable: false };
  if (status === 404) return { ...base, classification: 'not_found', code, retryable: false };
  if (status === 400 && reason === 'invalid' && failure.location === 'pageToken')
    return {
      ...base,
      classification: 'invalid_input',
      code: 'invalidPageToken',
      retryable: false,
      cursorInvalid: true,
    };
  if (status === 408) return { ...base, classification: 'transient', code, retryable: true };
  if (reason !== null && PERMISSION_REASONS.has(reason))
    return { ...base, classification: 'permission', code, retryable: false };
  if (status >= 400 && status < 500)
    return { ...base, classification: 'invalid_input', code, retryable: false };
  return { ...base, classification: 'internal', code, retryable: false };
}

/** Errors thrown by the adapters in src/io carry their classified failure. */
export class ClassifiedError extends Error {
  constructor(
    readonly failure: ClassifiedFailure,
    options?: { cause?: unknown },
  ) {
    super(failure.message, options);
    this.name = 'ClassifiedError';
  }
}

/** The classified failure of anything thrown: unknown errors are `internal` and not retried. */
export function failureOf(error: unknown): ClassifiedFailure {
  if (error instanceof ClassifiedError) return error.failure;
  const message = error instanceof Error ? error.message : String(error);
  return {
    classification: 'internal',
    code: 'internal_error',
    message: redactSecrets(message).slice(0, 500),
    retryable: false,
    httpStatus: null,
    retryAfterMs: null,
    cursorInvalid: false,
  };
}
