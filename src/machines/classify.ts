import type { ErrorClassification } from '../contract/records.js';

/**
 * Classification of failed calls into the contract's error classes (CONTRACT.md, "Outbound:
 * error"; DRIVE_API.md §6). Adapters describe what happened as a neutral `CallFailure`;
 * everything that decides what it means lives here, so the rules are read and tested in
 * one place.
 *
 * Choices the sources leave open, written down:
 * - A 403 rate limit (`userRateLimitExceeded`, `rateLimitExceeded`, `sharingRateLimitExceeded`)
 *   is `rate_limited` and retried — never "access lost".
 * - `dailyLimitExceeded` is `quota_exhausted` and NOT retried by the connection's short
 *   backoff (at most minutes), which cannot outlast a daily quota; the next trigger retries.
 * - Content that cannot be fetched in the form asked for — `exportSizeLimitExceeded` (export
 *   over 10 MB) and `fileNotDownloadable` (a Docs Editors file asked for raw bytes) — is
 *   `invalid_input`: the request does not fit the file, the user's access is intact.
 *   `cannotExportFile` is `permission`: the owner forbade downloads for this user.
 *   None of them is retryable.
 * - A 401 reaching this point already had its one forced token refresh: `auth`.
 * - The control plane's 404 (unknown connection) and 409 `reauth_required` are `auth`; its
 *   429, 5xx and network failures are `transient`. Its 401 and 403 refuse the worker itself
 *   (its mTLS certificate or its authorization), not the user: `internal`, retried with
 *   backoff (an operator fixes the certificate and syncs resume), never a parked connection.
 * - Only `changes.list` refusing its page token invalidates the cursor. Other lists' page
 *   tokens (a full sync's `files.list` resume point) say nothing about the change log.
 * - S3 and Kafka failures are `transient` when the service was busy or unreachable, and
 *   `internal` otherwise (a refused credential or missing bucket is the worker's own
 *   configuration, not the user's authorization).
 */
export interface CallFailure {
  readonly source: 'drive' | 'control_plane' | 's3' | 'kafka';
  /** HTTP status; null when no answer came (network failure, timeout). */
  readonly httpStatus: number | null;
  /** Drive's `errors[0].reason`, or the control plane's `error`. */
  readonly reason: string | null;
  /** Drive's `errors[0].location`, when given (`pageToken` marks a refused cursor). */
  readonly location: string | null;
  readonly message: string;
  /** The server's Retry-After, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | null;
  /** The call that failed (`drive.changes.list`, …), when known. */
  readonly operation?: string;
  /** No HTTP answer at all (connection refused or reset, DNS, timeout). Implied by a null status. */
  readonly network?: boolean;
}

export interface ClassifiedFailure {
  readonly classification: ErrorClassification;
  /** Drive's reason when there is one; otherwise `http_<status>`, `network_error` or a named case. */
  readonly code: string;
  /** Redacted (see `redactSecrets`) and at most MAX_MESSAGE_LENGTH characters. */
  readonly message: string;
  readonly retryable: boolean;
  readonly httpStatus: number | null;
  readonly retryAfterMs: number | null;
  /** The changes cursor was refused: take a fresh start token, then resync in full. */
  readonly cursorInvalid: boolean;
  /**
   * The worker's own Kafka was away: no user's doing, and a give-up could not be reported
   * on the error topic anyway, so the sync retries at the backoff's pace for as long as the
   * outage lasts instead of waiting for the next trigger.
   */
  readonly retryWithoutLimit?: boolean;
}

export const MAX_MESSAGE_LENGTH = 500;

const RATE_LIMIT_REASONS: ReadonlySet<string> = new Set([
  'userRateLimitExceeded',
  'rateLimitExceeded',
  'sharingRateLimitExceeded',
]);
const PERMISSION_REASONS: ReadonlySet<string> = new Set([
  'insufficientPermissions',
  'insufficientFilePermissions',
  'appNotAuthorizedToFile',
  'domainPolicy',
  'cannotExportFile',
]);
const UNFIT_CONTENT_REASONS: ReadonlySet<string> = new Set([
  'exportSizeLimitExceeded',
  'fileNotDownloadable',
]);
const QUOTA_REASONS: ReadonlySet<string> = new Set(['dailyLimitExceeded', 'storageQuotaExceeded']);

const REDACTED = '[REDACTED]';

/**
 * Removes anything shaped like a credential: bearer/basic credentials, Google access
 * (`ya29.`) and refresh (`1//`) tokens, JWTs, and token-named query or JSON fields.
 * Error messages echo request details often enough that every message passes through here.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/-]+=*/gi, `$1$2${REDACTED}`)
    .replace(/ya29\.[A-Za-z0-9._-]+/g, REDACTED)
    .replace(/\b1\/\/[A-Za-z0-9._-]{10,}/g, REDACTED)
    .replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED)
    .replace(/\b(access_token|refresh_token|id_token|client_secret|assertion)=[^&\s"']+/gi, `$1=${REDACTED}`)
    .replace(
      /("(?:access_token|refresh_token|id_token|client_secret|authorization)"\s*:\s*)"[^"]*"/gi,
      `$1"${REDACTED}"`,
    );
}

function cleanMessage(message: string): string {
  return redactSecrets(message).slice(0, MAX_MESSAGE_LENGTH);
}

function isBusy(status: number | null): boolean {
  return status === null || status === 408 || status === 429 || status >= 500;
}

export function classifyFailure(failure: CallFailure): ClassifiedFailure {
  const status = failure.network ? null : failure.httpStatus;
  const reason = failure.reason;
  const base = {
    httpStatus: status,
    retryAfterMs: failure.retryAfterMs,
    message: cleanMessage(failure.message),
    cursorInvalid: false,
  };
  const code = reason ?? (status === null ? 'network_error' : `http_${status}`);
  const as = (classification: ErrorClassification, retryable: boolean, named = code): ClassifiedFailure => ({
    ...base,
    classification,
    code: named,
    retryable,
  });

  if (failure.source === 'control_plane') {
    if (status === 404) return as('auth', false, 'unknown_connection');
    if (status === 409 || reason === 'reauth_required') return as('auth', false, 'reauth_required');
    if (status === 401 || status === 403) return as('internal', true, 'control_plane_unauthorized');
    if (isBusy(status)) return as('transient', true);
    return as('internal', false);
  }

  if (failure.source === 's3' || failure.source === 'kafka') {
    return isBusy(status) ? as('transient', true) : as('internal', false);
  }

  // Drive. Rate limits first: they arrive as 403 as well as 429 (DRIVE_API §6.2).
  if (status === 429 || (reason !== null && RATE_LIMIT_REASONS.has(reason))) return as('rate_limited', true);
  if (reason !== null && QUOTA_REASONS.has(reason)) return as('quota_exhausted', false);
  if (isBusy(status)) return as('transient', true);
  if (status === 401) return as('auth', false);
  if (reason !== null && UNFIT_CONTENT_REASONS.has(reason)) return as('invalid_input', false);
  if (status === 403) return as('permission', false);
  if (status === 404) return as('not_found', false);
  if (status === 400 && reason === 'invalid' && failure.location === 'pageToken')
    return {
      ...as('invalid_input', false, 'invalidPageToken'),
      cursorInvalid: failure.operation === undefined || failure.operation === 'drive.changes.list',
    };
  if (reason !== null && PERMISSION_REASONS.has(reason)) return as('permission', false);
  if (status !== null && status >= 400 && status < 500) return as('invalid_input', false);
  return as('internal', false);
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
    message: cleanMessage(message),
    retryable: false,
    httpStatus: null,
    retryAfterMs: null,
    cursorInvalid: false,
  };
}

/** A per-file read that failed while a sync walked its page: what becomes of it. */
export type ExtraFailureOutcome =
  | { readonly report: false; readonly reason: 'not_found' }
  | { readonly report: true; readonly resource: { readonly type: string; readonly id: string } };

/**
 * A file whose permissions, revisions, comments or content answer 404 vanished after its
 * page was listed (deleted, or unshared): no error of the connection's — the change log will
 * say what became of it — so it is skipped. Anything else is an error record against the
 * resource that could not be read.
 */
export function extraFailureOutcome(
  fileId: string,
  extra: 'permissions' | 'revisions' | 'comments' | 'content',
  failure: Pick<ClassifiedFailure, 'classification'>,
): ExtraFailureOutcome {
  if (failure.classification === 'not_found') return { report: false, reason: 'not_found' };
  const type = extra === 'content' ? 'file' : extra.replace(/s$/, '');
  return { report: true, resource: { type, id: fileId } };
}
