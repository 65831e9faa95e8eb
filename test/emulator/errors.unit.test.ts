import { describe, expect, it } from 'vitest';
import { DriveApiError, driveError, driveErrors } from '../../src/emulator/errors.js';

describe('Drive error envelope', () => {
  it('carries code, message and errors[] in Drive shape, and the status on the exception', () => {
    const error = driveErrors.invalidPageToken();
    expect(error).toBeInstanceOf(DriveApiError);
    expect(error).toBeInstanceOf(Error);
    expect(error.status).toBe(400);
    expect(error.message).toBe('Invalid Value');
    expect(error.reason).toBe('invalid');
    expect(error.body).toEqual({
      error: {
        code: 400,
        message: 'Invalid Value',
        errors: [
          {
            domain: 'global',
            reason: 'invalid',
            message: 'Invalid Value',
            location: 'pageToken',
            locationType: 'parameter',
          },
        ],
      },
    });
    expect(error.headers).toEqual({});
  });

  it('serialises to exactly the JSON a client parses', () => {
    const parsed = JSON.parse(JSON.stringify(driveErrors.fileNotFound('abc').body));
    expect(parsed).toEqual({
      error: {
        code: 404,
        message: 'File not found: abc.',
        errors: [
          {
            domain: 'global',
            reason: 'notFound',
            message: 'File not found: abc.',
            location: 'fileId',
            locationType: 'parameter',
          },
        ],
      },
    });
  });

  it('builds arbitrary errors with status, details and headers', () => {
    const error = driveError(
      409,
      { domain: 'global', reason: 'conflict', message: 'Conflict' },
      { status: 'INVALID_ARGUMENT', details: [{ a: 1 }], headers: { 'x-test': '1' }, message: 'Top' },
    );
    expect(error.body.error).toEqual({
      code: 409,
      message: 'Top',
      errors: [{ domain: 'global', reason: 'conflict', message: 'Conflict' }],
      status: 'INVALID_ARGUMENT',
      details: [{ a: 1 }],
    });
    expect(error.headers).toEqual({ 'x-test': '1' });
  });
});

describe('the catalogue of DRIVE_API §6', () => {
  const item = (error: DriveApiError) => error.body.error.errors[0];

  it('required parameters, request bodies and permission fields', () => {
    expect(driveErrors.required('pageToken').body.error).toEqual({
      code: 400,
      message: 'Required parameter: pageToken',
      errors: [
        {
          domain: 'global',
          reason: 'required',
          message: 'Required parameter: pageToken',
          location: 'pageToken',
          locationType: 'parameter',
        },
      ],
    });
    expect(item(driveErrors.required('entity.resource'))).toEqual({
      domain: 'global',
      reason: 'required',
      message: 'entity.resource',
    });
    expect(item(driveErrors.required('permission.role'))).toMatchObject({
      reason: 'required',
      message: 'The permission role field is required.',
      location: 'permission.role',
    });
    expect(item(driveErrors.required('permission.type'))?.message).toBe(
      'The permission type field is required.',
    );
  });

  it('fields: required and invalid selections', () => {
    const required = driveErrors.fieldsRequired();
    expect(required.status).toBe(400);
    expect(item(required)).toEqual({
      domain: 'global',
      reason: 'required',
      message: "The 'fields' parameter is required for this method.",
      location: 'fields',
      locationType: 'parameter',
    });
    const invalid = driveErrors.invalidFieldSelection('items');
    expect(invalid.body.error.message).toBe('Invalid field selection items');
    expect(item(invalid)).toEqual({
      domain: 'global',
      reason: 'invalidParameter',
      message: 'Invalid field selection items',
      location: 'fields',
      locationType: 'parameter',
    });
  });

  it('bad requests, bad queries and unsupported conversions', () => {
    expect(item(driveErrors.badRequest('The parent would create a cycle.'))).toEqual({
      domain: 'global',
      reason: 'badRequest',
      message: 'The parent would create a cycle.',
    });
    expect(item(driveErrors.badRequest('Invalid Value', 'corpora'))).toMatchObject({
      location: 'corpora',
      locationType: 'parameter',
    });
    expect(item(driveErrors.invalidQuery())).toEqual({
      domain: 'global',
      reason: 'invalid',
      message: 'Invalid Value',
      location: 'q',
      locationType: 'parameter',
    });
    const conversion = driveErrors.conversionNotSupported();
    expect(conversion.status).toBe(400);
    expect(item(conversion)).toMatchObject({
      reason: 'badRequest',
      message: 'The requested conversion is not supported.',
      location: 'convertTo',
    });
  });

  it('401s as the front end answers them, with a WWW-Authenticate challenge', () => {
    const invalid = driveErrors.invalidCredentials();
    expect(invalid.status).toBe(401);
    expect(invalid.body.error.status).toBe('UNAUTHENTICATED');
    expect(item(invalid)).toEqual({
      domain: 'global',
      reason: 'authError',
      message: 'Invalid Credentials',
      location: 'Authorization',
      locationType: 'header',
    });
    expect(invalid.headers['www-authenticate']).toContain('invalid_token');
    expect(JSON.stringify(driveErrors.invalidCredentials('ACCESS_TOKEN_EXPIRED').body)).toContain(
      'ACCESS_TOKEN_EXPIRED',
    );

    const missing = driveErrors.loginRequired();
    expect(missing.status).toBe(401);
    expect(missing.body.error.status).toBe('UNAUTHENTICATED');
    expect(item(missing)).toMatchObject({
      reason: 'required',
      message: 'Login Required.',
      location: 'Authorization',
    });
    expect(missing.body.error.details).toEqual([
      expect.objectContaining({
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'CREDENTIALS_MISSING',
        domain: 'googleapis.com',
      }),
    ]);
  });

  it('403s: scopes, file permissions, quotas, export and download', () => {
    const scopes = driveErrors.insufficientPermissions();
    expect([scopes.status, scopes.reason, scopes.body.error.status]).toEqual([
      403,
      'insufficientPermissions',
      'PERMISSION_DENIED',
    ]);
    expect(scopes.message).toBe('Insufficient Permission: Request had insufficient authentication scopes.');

    expect(item(driveErrors.insufficientFilePermissions('F1'))).toEqual({
      domain: 'global',
      reason: 'insufficientFilePermissions',
      message: 'The user does not have sufficient permissions for file F1.',
    });

    const user = driveErrors.userRateLimitExceeded();
    expect([user.status, item(user)?.domain, user.reason, user.body.error.status]).toEqual([
      403,
      'usageLimits',
      'userRateLimitExceeded',
      'PERMISSION_DENIED',
    ]);
    expect(user.message).toMatch(/^User Rate Limit Exceeded/);
    expect(JSON.stringify(user.body.error.details)).toContain('RATE_LIMIT_EXCEEDED');

    const project = driveErrors.rateLimitExceeded();
    expect([project.status, item(project)?.domain, project.reason, project.message]).toEqual([
      403,
      'usageLimits',
      'rateLimitExceeded',
      'Rate Limit Exceeded',
    ]);

    expect(item(driveErrors.exportSizeLimitExceeded())).toEqual({
      domain: 'global',
      reason: 'exportSizeLimitExceeded',
      message: 'This file is too large to be exported.',
    });
    expect(item(driveErrors.fileNotDownloadable())).toEqual({
      domain: 'global',
      reason: 'fileNotDownloadable',
      message: 'Only files with binary content can be downloaded. Use Export with Docs Editors files.',
      location: 'alt',
      locationType: 'parameter',
    });
    expect(driveErrors.cannotAddParent().status).toBe(403);
  });

  it('429 and 5xx', () => {
    const throttled = driveErrors.tooManyRequests();
    expect([throttled.status, throttled.reason, throttled.body.error.status]).toEqual([
      429,
      'rateLimitExceeded',
      'RESOURCE_EXHAUSTED',
    ]);
    for (const status of [500, 502, 503, 504] as const) {
      const error = driveErrors.backendError(status);
      expect(error.status).toBe(status);
      expect(error.body.error.code).toBe(status);
      expect(error.reason).toBe('backendError');
    }
    expect(driveErrors.backendError(500).message).toBe('Backend Error');
    expect(driveErrors.backendError(503).message).toBe('The service is currently unavailable.');
  });

  it('404s for files, other resources and channels', () => {
    expect(driveErrors.fileNotFound('X').message).toBe('File not found: X.');
    expect(item(driveErrors.notFound('Comment', 'C1', 'commentId'))).toEqual({
      domain: 'global',
      reason: 'notFound',
      message: 'Comment not found: C1.',
      location: 'commentId',
      locationType: 'parameter',
    });
    expect(driveErrors.notFound('Shared drive', 'D1', 'driveId').message).toBe('Shared drive not found: D1');
    expect(driveErrors.notFound('Channel', 'ch-1', 'id').message).toMatch(
      /^Channel 'ch-1' not found for project '/,
    );
    expect(driveErrors.notFound('Channel', 'ch-1', 'id').status).toBe(404);
  });

  it('shared-drive parameter errors and channel ttl', () => {
    const corpora = driveErrors.teamDriveIdRequiresTeamDriveCorpora();
    expect([corpora.status, corpora.reason, corpora.message]).toEqual([
      400,
      'teamDriveIdRequiresTeamDriveCorpora',
      'The driveId parameter must be specified if and only if corpora is set to drive.',
    ]);
    const include = driveErrors.includeItemsFromAllDrivesRequired();
    expect(include.status).toBe(403);
    expect(include.message).toBe(
      'The includeItemsFromAllDrives parameter must be set to true when driveId is specified or corpora contains drive or allDrives.',
    );
    expect(driveErrors.invalidChannelTtl(-5).message).toBe('Invalid ttl value for channel -5');
  });

  it('never puts status or details on Drive-backend errors', () => {
    for (const error of [
      driveErrors.invalidPageToken(),
      driveErrors.fileNotFound('x'),
      driveErrors.fileNotDownloadable(),
      driveErrors.badRequest('x'),
    ]) {
      expect(error.body.error).not.toHaveProperty('status');
      expect(error.body.error).not.toHaveProperty('details');
    }
  });
});
