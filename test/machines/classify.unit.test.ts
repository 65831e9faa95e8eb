import { describe, expect, it } from 'vitest';
import {
  type CallFailure,
  ClassifiedError,
  classifyFailure,
  extraFailureOutcome,
  failureOf,
  MAX_MESSAGE_LENGTH,
  redactSecrets,
} from '../../src/machines/classify.js';

const drive = (
  httpStatus: number | null,
  reason: string | null,
  extra: Partial<CallFailure> = {},
): CallFailure => ({
  source: 'drive',
  httpStatus,
  reason,
  location: null,
  message: 'm',
  retryAfterMs: null,
  ...extra,
});
const controlPlane = (httpStatus: number | null, reason: string | null = null): CallFailure => ({
  ...drive(httpStatus, reason),
  source: 'control_plane',
});

const outcome = (failure: CallFailure) => {
  const c = classifyFailure(failure);
  return [c.classification, c.retryable, c.code] as const;
};

describe('Drive failures', () => {
  it.each([
    [403, 'userRateLimitExceeded'],
    [403, 'rateLimitExceeded'],
    [403, 'sharingRateLimitExceeded'],
    [429, 'rateLimitExceeded'],
    [429, null],
  ])('%i %s is a rate limit, retried — never lost access', (status, reason) => {
    const c = classifyFailure(drive(status, reason));
    expect(c.classification).toBe('rate_limited');
    expect(c.retryable).toBe(true);
  });

  it('keeps Retry-After and the HTTP status for the backoff and the error record', () => {
    expect(classifyFailure(drive(429, null, { retryAfterMs: 7_000 }))).toMatchObject({
      httpStatus: 429,
      retryAfterMs: 7_000,
      code: 'http_429',
    });
  });

  it('stops on an exhausted daily quota', () => {
    expect(outcome(drive(403, 'dailyLimitExceeded'))).toEqual([
      'quota_exhausted',
      false,
      'dailyLimitExceeded',
    ]);
  });

  it.each([
    [500, 'backendError'],
    [502, null],
    [503, 'backendError'],
    [504, null],
    [408, null],
  ])('%i is transient and retried', (status, reason) => {
    expect(outcome(drive(status, reason)).slice(0, 2)).toEqual(['transient', true]);
  });

  it('treats a call that got no answer as transient', () => {
    expect(outcome(drive(null, null))).toEqual(['transient', true, 'network_error']);
    expect(outcome(drive(200, null, { network: true }))).toEqual(['transient', true, 'network_error']);
  });

  it('treats a 401 (after its one forced refresh) as lost authorization', () => {
    expect(outcome(drive(401, 'authError'))).toEqual(['auth', false, 'authError']);
  });

  it.each([
    'insufficientPermissions',
    'insufficientFilePermissions',
    'appNotAuthorizedToFile',
    'domainPolicy',
    'cannotExportFile',
  ])('403 %s is a permission problem, not retried', (reason) => {
    expect(outcome(drive(403, reason))).toEqual(['permission', false, reason]);
  });

  it.each([
    [403, 'exportSizeLimitExceeded'],
    [403, 'fileNotDownloadable'],
  ])('%i %s: content not fetchable in that form is invalid input, not retried', (status, reason) => {
    expect(outcome(drive(status, reason))).toEqual(['invalid_input', false, reason]);
  });

  it('reads 404 as not found', () => {
    expect(outcome(drive(404, 'notFound'))).toEqual(['not_found', false, 'notFound']);
  });

  it('recognises a refused changes cursor', () => {
    const c = classifyFailure(drive(400, 'invalid', { location: 'pageToken', message: 'Invalid Value' }));
    expect(c).toMatchObject({
      classification: 'invalid_input',
      code: 'invalidPageToken',
      cursorInvalid: true,
    });
    expect(c.retryable).toBe(false);
    expect(classifyFailure(drive(400, 'invalid', { location: 'q' })).cursorInvalid).toBe(false);
  });

  it('invalidates the cursor only when changes.list refuses its page token', () => {
    const refused = (operation: string) =>
      classifyFailure({ ...drive(400, 'invalid', { location: 'pageToken' }), operation }).cursorInvalid;
    expect(refused('drive.changes.list')).toBe(true);
    expect(refused('drive.files.list')).toBe(false);
    expect(refused('drive.permissions.list')).toBe(false);
  });

  it('reads other client errors as invalid input', () => {
    expect(outcome(drive(400, 'badRequest'))).toEqual(['invalid_input', false, 'badRequest']);
    expect(outcome(drive(400, 'required'))).toEqual(['invalid_input', false, 'required']);
  });
});

describe('control-plane failures', () => {
  it('parks on an unknown connection or a revoked grant', () => {
    expect(outcome(controlPlane(404))).toEqual(['auth', false, 'unknown_connection']);
    expect(outcome(controlPlane(409, 'reauth_required'))).toEqual(['auth', false, 'reauth_required']);
  });

  it('retries when the control plane is busy or down', () => {
    for (const status of [429, 500, 503, null])
      expect(outcome(controlPlane(status)).slice(0, 2)).toEqual(['transient', true]);
  });

  it('reads a refusal of the worker itself (401, 403) as its own fault, retried, never parking', () => {
    expect(outcome(controlPlane(401))).toEqual(['internal', true, 'control_plane_unauthorized']);
    expect(outcome(controlPlane(403))).toEqual(['internal', true, 'control_plane_unauthorized']);
  });

  it('does not read an unexpected answer as retryable', () => {
    expect(outcome(controlPlane(400))).toEqual(['internal', false, 'http_400']);
  });
});

describe('storage and broker failures', () => {
  it('retries busy services and reports configuration problems as internal', () => {
    expect(outcome({ ...drive(503, null), source: 's3' }).slice(0, 2)).toEqual(['transient', true]);
    expect(outcome({ ...drive(null, null), source: 'kafka' }).slice(0, 2)).toEqual(['transient', true]);
    expect(outcome({ ...drive(403, 'AccessDenied'), source: 's3' })).toEqual([
      'internal',
      false,
      'AccessDenied',
    ]);
  });
});

describe('secrets never leave in a message', () => {
  const secrets = [
    'Authorization: Bearer ya29.a0AfH6SMBx-secret_Token.value',
    'token ya29.c.Kp8B-abc_DEF.ghi',
    'refresh 1//0gSECRETrefreshTOKENvalue-xyz',
    'jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl',
    'url https://oauth2.googleapis.com/token?access_token=abc123&x=1',
    'body {"access_token": "tok-123", "expires_in": 3599}',
    'Basic dXNlcjpwYXNz',
  ];

  it.each(secrets)('redacts %s', (text) => {
    const out = redactSecrets(text);
    expect(out).toContain('[REDACTED]');
    for (const leaked of ['ya29.', 'secret_Token', '1//0g', 'eyJzdWIi', 'abc123', 'tok-123', 'dXNlcjpwYXNz'])
      expect(out).not.toContain(leaked);
  });

  it('leaves ordinary messages alone', () => {
    expect(redactSecrets('File not found: 1BxiMVs0XRA5nFMdKvBd.')).toBe(
      'File not found: 1BxiMVs0XRA5nFMdKvBd.',
    );
  });

  it('applies to every classified and unclassified failure, bounded in length', () => {
    const c = classifyFailure(
      drive(401, 'authError', { message: `Invalid Credentials Bearer ya29.zzz ${'x'.repeat(900)}` }),
    );
    expect(c.message).not.toContain('ya29');
    expect(c.message.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(failureOf(new Error('socket hang up, Bearer ya29.qqq')).message).not.toContain('ya29');
    expect(failureOf('boom')).toMatchObject({ classification: 'internal', retryable: false });
    const classified = classifyFailure(drive(503, null));
    expect(failureOf(new ClassifiedError(classified))).toBe(classified);
  });
});

describe('a per-file read that failed mid-page', () => {
  it('is skipped without an error record when the file vanished (404), and reported otherwise', () => {
    const vanished = classifyFailure(drive(404, 'notFound'));
    for (const extra of ['permissions', 'revisions', 'comments', 'content'] as const)
      expect(extraFailureOutcome('f1', extra, vanished)).toEqual({ report: false, reason: 'not_found' });
    const refused = classifyFailure(drive(403, 'insufficientFilePermissions'));
    expect(extraFailureOutcome('f1', 'permissions', refused)).toEqual({
      report: true,
      resource: { type: 'permission', id: 'f1' },
    });
    expect(extraFailureOutcome('f1', 'content', refused)).toEqual({
      report: true,
      resource: { type: 'file', id: 'f1' },
    });
  });
});
