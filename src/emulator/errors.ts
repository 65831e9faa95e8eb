/**
 * Drive's error envelope, exactly as Google's front end and Drive backend write it.
 *
 * Source grades follow ../../shared/DRIVE_API.md: A = discovery document or Google's own
 * guides, B = real bodies quoted in client-library issues, C = recollection. Each factory
 * names its grade where the body is not taken straight from DRIVE_API §6.
 *
 * `status` and `details` appear only on errors raised by Google's shared front end (auth,
 * scopes, quota, backend availability); Drive-backend errors such as `notFound` or a bad
 * page token carry `code`, `message` and `errors[]` only (DRIVE_API §6.1).
 */

export interface DriveErrorItem {
  domain: string;
  reason: string;
  message: string;
  location?: string;
  locationType?: string;
  extendedHelp?: string;
}

export interface DriveErrorBody {
  error: { code: number; message: string; errors: DriveErrorItem[]; status?: string; details?: unknown[] };
}

/** A Drive answer other than 2xx: the HTTP status, the JSON body and any extra response headers. */
export class DriveApiError extends Error {
  readonly status: number;
  readonly body: DriveErrorBody;
  readonly headers: Record<string, string>;

  constructor(status: number, body: DriveErrorBody, headers: Record<string, string> = {}) {
    // The message is Google's own text; it never holds a token or header value.
    super(body.error.message);
    this.name = 'DriveApiError';
    this.status = status;
    this.body = body;
    this.headers = headers;
  }

  /** The first `errors[].reason`, where clients read it (DRIVE_API §0). */
  get reason(): string {
    return this.body.error.errors[0]?.reason ?? '';
  }
}

/** The gRPC-style names Google's front end puts in `error.status`. */
export type GoogleRpcStatus =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED';

export interface DriveErrorOptions {
  readonly status?: GoogleRpcStatus;
  readonly details?: unknown[];
  readonly headers?: Record<string, string>;
  /** Top-level `error.message` when it differs from the first item's message. */
  readonly message?: string;
}

/** Builds any Drive error; the named factories below are the ones Drive is known to send. */
export function driveError(
  code: number,
  item: DriveErrorItem,
  options: DriveErrorOptions = {},
): DriveApiError {
  const error: DriveErrorBody['error'] = { code, message: options.message ?? item.message, errors: [item] };
  if (options.status !== undefined) error.status = options.status;
  if (options.details !== undefined) error.details = options.details;
  return new DriveApiError(code, { error }, options.headers ?? {});
}

const DRIVE_SERVICE = 'drive.googleapis.com';

/** The `google.rpc.ErrorInfo` detail Google's front end attaches to auth, scope and quota errors. */
function errorInfo(reason: string, metadata: Record<string, string> = {}): unknown {
  return {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason,
    domain: 'googleapis.com',
    metadata: { service: DRIVE_SERVICE, ...metadata },
  };
}

function parameterItem(domain: string, reason: string, message: string, location: string): DriveErrorItem {
  return { domain, reason, message, location, locationType: 'parameter' };
}

const AUTH_HELP =
  'Expected OAuth 2 access token, login cookie or other valid authentication credential. ' +
  'See https://developers.google.com/identity/sign-in/web/devconsole-project.';

/** The project number printed in quota messages; the emulator has one project. */
export const EMULATOR_PROJECT_NUMBER = '000000000000';

const BACKEND_ERRORS: Record<
  500 | 502 | 503 | 504,
  { message: string; status: GoogleRpcStatus | undefined }
> = {
  // 500: Drive's handle-errors guide ("Backend Error"), no status (B).
  500: { message: 'Backend Error', status: undefined },
  // 502/504: no capture in DRIVE_API; the gRPC names Google uses for these codes (C).
  502: { message: 'Bad Gateway', status: 'UNAVAILABLE' },
  // 503: "The service is currently unavailable." (DRIVE_API §6.2, B).
  503: { message: 'The service is currently unavailable.', status: 'UNAVAILABLE' },
  504: { message: 'Deadline expired before operation could complete.', status: 'DEADLINE_EXCEEDED' },
};

export const driveErrors = {
  /** 400 `invalid` on `pageToken` (DRIVE_API §4, B: several clients agree). */
  invalidPageToken(): DriveApiError {
    return driveError(400, parameterItem('global', 'invalid', 'Invalid Value', 'pageToken'));
  },

  /**
   * 400 `required`. Query parameters read "Required parameter: X" (DRIVE_API §6.2). A missing
   * request body reads just "entity.resource" with no location (B: googleapis #796, #2909,
   * node-samples #84). Missing permission fields read "The permission role field is
   * required." (B: field reports of permissions.update).
   */
  required(param: string): DriveApiError {
    if (param === 'entity.resource' || param.startsWith('entity.')) {
      return driveError(400, { domain: 'global', reason: 'required', message: param });
    }
    const permissionField = /^permission\.(\w+)$/.exec(param)?.[1];
    if (permissionField !== undefined) {
      const message =
        permissionField === 'emailAddress'
          ? 'The email address field is required for user and group permissions.'
          : `The permission ${permissionField} field is required.`;
      return driveError(400, {
        domain: 'global',
        reason: 'required',
        message,
        location: param,
        locationType: 'other',
      });
    }
    return driveError(400, parameterItem('global', 'required', `Required parameter: ${param}`, param));
  },

  /** 400 when comments/replies/about are called without `fields` (DRIVE_API §1.4, B). */
  fieldsRequired(): DriveApiError {
    return driveError(
      400,
      parameterItem('global', 'required', "The 'fields' parameter is required for this method.", 'fields'),
    );
  },

  /**
   * 400 `invalidParameter` on `fields` (B: java-samples #1547 quotes the whole body,
   * "Invalid field selection items"). For a bad name nested in parentheses the emulator
   * names the bad segment itself (C).
   */
  invalidFieldSelection(name: string): DriveApiError {
    return driveError(
      400,
      parameterItem('global', 'invalidParameter', `Invalid field selection ${name}`, 'fields'),
    );
  },

  /** 400 `badRequest` (DRIVE_API §6.2): a missing or invalid combination, cycle, duplicate parent… */
  badRequest(message: string, location?: string): DriveApiError {
    return driveError(
      400,
      location === undefined
        ? { domain: 'global', reason: 'badRequest', message }
        : parameterItem('global', 'badRequest', message, location),
    );
  },

  /** 400 for a `q` Drive cannot parse or does not know: "Invalid Value" on `q` (B). */
  invalidQuery(): DriveApiError {
    return driveError(400, parameterItem('global', 'invalid', 'Invalid Value', 'q'));
  },

  /** 400 when an export target is not one the source type produces (DRIVE_API §2, B). */
  conversionNotSupported(): DriveApiError {
    return driveError(
      400,
      parameterItem('global', 'badRequest', 'The requested conversion is not supported.', 'convertTo'),
    );
  },

  /**
   * 401 for a token that is unknown, expired or revoked, as Google's front end answers it
   * (DRIVE_API §6.2; top-level message and WWW-Authenticate from captures, B). The ErrorInfo
   * reason tells expired tokens apart from unusable ones (C).
   */
  invalidCredentials(
    reason: 'ACCESS_TOKEN_EXPIRED' | 'ACCESS_TOKEN_TYPE_UNSUPPORTED' = 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
  ): DriveApiError {
    return driveError(
      401,
      {
        domain: 'global',
        reason: 'authError',
        message: 'Invalid Credentials',
        location: 'Authorization',
        locationType: 'header',
      },
      {
        message: `Request had invalid authentication credentials. ${AUTH_HELP}`,
        status: 'UNAUTHENTICATED',
        details: [errorInfo(reason)],
        headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      },
    );
  },

  /** 401 when no credential was sent at all (DRIVE_API §6.2: "Login Required.", CREDENTIALS_MISSING). */
  loginRequired(): DriveApiError {
    return driveError(
      401,
      {
        domain: 'global',
        reason: 'required',
        message: 'Login Required.',
        location: 'Authorization',
        locationType: 'header',
      },
      {
        message: `Request is missing required authentication credential. ${AUTH_HELP}`,
        status: 'UNAUTHENTICATED',
        details: [errorInfo('CREDENTIALS_MISSING')],
        headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' },
      },
    );
  },

  /** 403 when the token lacks a scope the method needs (DRIVE_API §6.2 message; ErrorInfo C). */
  insufficientPermissions(): DriveApiError {
    return driveError(
      403,
      {
        domain: 'global',
        reason: 'insufficientPermissions',
        message: 'Insufficient Permission: Request had insufficient authentication scopes.',
      },
      {
        status: 'PERMISSION_DENIED',
        details: [errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT')],
        headers: {
          'www-authenticate':
            'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://www.googleapis.com/auth/drive"',
        },
      },
    );
  },

  /** 403 when the caller may see the file but not do this to it (Drive's handle-errors guide, A). */
  insufficientFilePermissions(fileId: string): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'insufficientFilePermissions',
      message: `The user does not have sufficient permissions for file ${fileId}.`,
    });
  },

  /**
   * 403 when the per-user budget is spent. Message as Google's quota guide prints it (B);
   * `status` and ErrorInfo `RATE_LIMIT_EXCEEDED` as the front end attaches to quota errors (C).
   */
  userRateLimitExceeded(projectNumber: string = EMULATOR_PROJECT_NUMBER): DriveApiError {
    const message =
      'User Rate Limit Exceeded. Rate of requests for user exceed configured project quota. ' +
      'You may consider re-evaluating expected per-user traffic to the API and adjust project quota limits accordingly. ' +
      'You may monitor aggregate quota usage and adjust limits in the API Console: ' +
      `https://console.developers.google.com/apis/api/drive.googleapis.com/quotas?project=${projectNumber}`;
    return driveError(
      403,
      { domain: 'usageLimits', reason: 'userRateLimitExceeded', message },
      {
        status: 'PERMISSION_DENIED',
        details: [
          errorInfo('RATE_LIMIT_EXCEEDED', {
            consumer: `projects/${projectNumber}`,
            quota_metric: 'drive.googleapis.com/default',
            quota_limit: 'defaultPerMinutePerUser',
          }),
        ],
      },
    );
  },

  /** 403 when the per-project budget is spent: "Rate Limit Exceeded" (Drive's handle-errors guide, A). */
  rateLimitExceeded(): DriveApiError {
    return driveError(403, {
      domain: 'usageLimits',
      reason: 'rateLimitExceeded',
      message: 'Rate Limit Exceeded',
    });
  },

  /** 429 from backend throttling (DRIVE_API §6.2; `status` as the front end names it). No Retry-After. */
  tooManyRequests(): DriveApiError {
    return driveError(
      429,
      { domain: 'usageLimits', reason: 'rateLimitExceeded', message: 'Rate Limit Exceeded' },
      { status: 'RESOURCE_EXHAUSTED' },
    );
  },

  /** 5xx `backendError`: retryable. */
  backendError(status: 500 | 502 | 503 | 504): DriveApiError {
    const known = BACKEND_ERRORS[status];
    return driveError(
      status,
      { domain: 'global', reason: 'backendError', message: known.message },
      known.status === undefined ? {} : { status: known.status },
    );
  },

  /** 403 when an export would exceed 10 MB (DRIVE_API §2, B). */
  exportSizeLimitExceeded(): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'exportSizeLimitExceeded',
      message: 'This file is too large to be exported.',
    });
  },

  /** 403 for `alt=media` on a Docs Editors file (DRIVE_API §2, B). */
  /**
   * 403 for a second parent, or for addParents without removeParents by someone who may not
   * move the item that way (single-parent model; message and reason from field reports, B).
   */
  cannotAddParent(): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'cannotAddParent',
      message: 'Increasing the number of parents is not allowed.',
    });
  },

  /** 403 for a second parent on a shared-drive item (field report, B). */
  teamDrivesParentLimit(): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'teamDrivesParentLimit',
      message: 'A shared drive item must have exactly one parent.',
    });
  },

  /** 403 on alt=media for a file whose download is restricted for this caller. */
  cannotDownloadFile(): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'cannotDownloadFile',
      message: 'The user does not have permission to download this file.',
    });
  },

  /** 416 for a Range that starts past the end of the content (C: shape as other Drive errors). */
  rangeNotSatisfiable(total: number): DriveApiError {
    return driveError(416, {
      domain: 'global',
      reason: 'requestedRangeNotSatisfiable',
      message: `Request range not satisfiable; the content has ${total} bytes.`,
    });
  },

  fileNotDownloadable(): DriveApiError {
    return driveError(
      403,
      parameterItem(
        'global',
        'fileNotDownloadable',
        'Only files with binary content can be downloaded. Use Export with Docs Editors files.',
        'alt',
      ),
    );
  },

  /** 404 for a file that does not exist or that the caller cannot see (DRIVE_API §6.2). */
  fileNotFound(fileId: string): DriveApiError {
    return driveError(404, parameterItem('global', 'notFound', `File not found: ${fileId}.`, 'fileId'));
  },

  /**
   * 404 for other resources: "Comment not found: X.", "Permission not found: X.", "Shared
   * drive not found: X" (C, by analogy with files). Channels read as Google answers
   * channels.stop for an unknown channel: "Channel 'X' not found for project 'N'" (B:
   * google-api-nodejs-client #627).
   */
  notFound(what: string, id: string, location: string): DriveApiError {
    if (what === 'Channel') {
      return driveError(404, {
        domain: 'global',
        reason: 'notFound',
        message: `Channel '${id}' not found for project '${EMULATOR_PROJECT_NUMBER}'`,
      });
    }
    const message = what === 'Shared drive' ? `Shared drive not found: ${id}` : `${what} not found: ${id}.`;
    return driveError(404, parameterItem('global', 'notFound', message, location));
  },

  /** 400 when `driveId` and `corpora=drive` do not come together (DRIVE_API §1.1, B). */
  teamDriveIdRequiresTeamDriveCorpora(): DriveApiError {
    return driveError(400, {
      domain: 'global',
      reason: 'teamDriveIdRequiresTeamDriveCorpora',
      message: 'The driveId parameter must be specified if and only if corpora is set to drive.',
    });
  },

  /**
   * 403 when shared-drive corpora are asked for without `includeItemsFromAllDrives`
   * (DRIVE_API §1.1 gives status and message, B; the reason is not captured: `badRequest`, C).
   */
  includeItemsFromAllDrivesRequired(): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'badRequest',
      message:
        'The includeItemsFromAllDrives parameter must be set to true when driveId is specified or corpora contains drive or allDrives.',
    });
  },

  /**
   * 400 for a past or too distant channel expiration. Google prints the TTL it computed in
   * seconds after "channel" (B: googleapis #3263 shows "Invalid ttl value for channel
   * -1687450148"); callers pass that value.
   */
  invalidChannelTtl(ttlSeconds: number): DriveApiError {
    return driveError(400, {
      domain: 'global',
      reason: 'badRequest',
      message: `Invalid ttl value for channel ${ttlSeconds}`,
    });
  },

  /** 400 `fullText` with `orderBy` (DRIVE_API §1.2). */
  sortingNotSupportedForFullText(): DriveApiError {
    return driveError(
      400,
      parameterItem(
        'global',
        'badRequest',
        'Sorting is not supported for queries with fullText terms. Results are always in descending relevance order.',
        'orderBy',
      ),
    );
  },

  /** 403 `sharingRateLimitExceeded` (DRIVE_API §6.2, B). */
  sharingRateLimitExceeded(): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'sharingRateLimitExceeded',
      message:
        'Rate limit exceeded. User message: "These item(s) could not be shared because a rate limit was exceeded: <items>"',
    });
  },

  /** 403 `dailyLimitExceeded` (DRIVE_API §6.2, B). */
  dailyLimitExceeded(): DriveApiError {
    return driveError(403, {
      domain: 'usageLimits',
      reason: 'dailyLimitExceeded',
      message: 'Daily Limit Exceeded',
    });
  },

  /** 403 `storageQuotaExceeded` (DRIVE_API §6.2 lists the reason; message C). */
  storageQuotaExceeded(): DriveApiError {
    return driveError(403, {
      domain: 'global',
      reason: 'storageQuotaExceeded',
      message: 'The user has exceeded their Drive storage quota',
    });
  },

  /** 400 `invalidSharingRequest` (DRIVE_API §6.2): sharing refused. */
  invalidSharingRequest(message: string): DriveApiError {
    return driveError(400, { domain: 'global', reason: 'invalidSharingRequest', message });
  },
};

export type DriveErrors = typeof driveErrors;
