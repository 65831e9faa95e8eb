import { type drive_v3, google } from 'googleapis';
import type { z } from 'zod';
import type { ChangePage, DriveCorpus, DriveReader, Page } from '../../actors/ports.js';
import { type QuotaGovernor, rateLimitScopeOf } from '../../actors/quota-governor.js';
import {
  CHANGE_LIST_FIELDS,
  COMMENT_LIST_FIELDS,
  changeListSchema,
  commentListSchema,
  DRIVE_LIST_FIELDS,
  driveListSchema,
  FILE_LIST_FIELDS,
  fileListSchema,
  PERMISSION_LIST_FIELDS,
  permissionListSchema,
  REVISION_LIST_FIELDS,
  revisionListSchema,
  startPageTokenSchema,
} from '../../contract/drive-resources.js';
import { publish } from '../../instrumentation.js';
import { type CallFailure, ClassifiedError, classifyFailure } from '../../machines/classify.js';
import type { AccessTokenProvider } from '../control-plane/access-token-client.js';

/** googleapis' Drive client for one root URL; its own retry is off on every call (see `call`). */
export function createDriveApi(baseUrl: string): drive_v3.Drive {
  return google.drive({ version: 'v3', rootUrl: `${baseUrl}/` });
}

export interface DriveReaderOptions {
  readonly api: drive_v3.Drive;
  readonly tokens: AccessTokenProvider;
  readonly connectionId: string;
  readonly pageSize: number;
  readonly governor: QuotaGovernor | null;
  readonly signal?: AbortSignal;
}

interface GaxiosLikeError {
  status?: number;
  response?: {
    status?: number;
    data?: unknown;
    headers?: Record<string, string> | { get?(name: string): string | null };
  };
  message?: string;
  code?: string;
}

/** What Drive said, read defensively: 429s have come back as HTML (DRIVE_API §6.1). */
function failureOfDriveError(error: unknown): CallFailure {
  const e = (error ?? {}) as GaxiosLikeError;
  const status = e.response?.status ?? e.status ?? null;
  const data = e.response?.data as
    | { error?: { message?: string; errors?: Array<{ reason?: string; location?: string }> } }
    | undefined;
  const first = typeof data === 'object' && data !== null ? data.error?.errors?.[0] : undefined;
  const headers = e.response?.headers;
  const retryAfter =
    headers && typeof (headers as { get?: unknown }).get === 'function'
      ? (headers as { get(name: string): string | null }).get('retry-after')
      : (headers as Record<string, string> | undefined)?.['retry-after'];
  return {
    source: 'drive',
    httpStatus: typeof status === 'number' && status > 0 ? status : null,
    reason: first?.reason ?? null,
    location: first?.location ?? null,
    message: (typeof data === 'object' && data?.error?.message) || e.message || 'Drive call failed',
    retryAfterMs: parseRetryAfter(retryAfter ?? null),
  };
}

function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

/**
 * One connection's reads from Drive through googleapis. Every call: a token from the
 * control plane, a place in the shared quota, `supportsAllDrives`, a `fields` selector
 * that keeps the page tokens, the answer checked with zod. A 401 gets one forced token
 * refresh and one replay; every other failure leaves classified (ClassifiedError).
 */
export function createDriveReader(options: DriveReaderOptions): DriveReader {
  const { api, tokens, connectionId, pageSize, governor } = options;

  async function call<S extends z.ZodType>(
    method: string,
    schema: S,
    run: (auth: { headers: Record<string, string>; retry: false }) => Promise<{ data: unknown }>,
  ): Promise<z.infer<S>> {
    for (let attempt = 0; ; attempt++) {
      const token = await tokens.getToken(connectionId, { forceRefresh: attempt > 0 });
      if (governor)
        await governor.acquire({
          googleUser: token.googleUser,
          connectionId,
          ...(options.signal ? { signal: options.signal } : {}),
        });
      const started = performance.now();
      try {
        const response = await run({
          headers: { Authorization: `Bearer ${token.accessToken}` },
          retry: false,
        });
        governor?.reportSuccess({ googleUser: token.googleUser });
        publish('drive.call', {
          method,
          outcome: 'ok',
          status: 200,
          reason: null,
          durationMs: performance.now() - started,
        });
        const parsed = schema.safeParse(response.data);
        if (!parsed.success) {
          throw new ClassifiedError(
            classifyFailure({
              source: 'drive',
              httpStatus: 502,
              reason: 'unexpectedResponse',
              location: null,
              message: `${method} answered with a body the worker cannot read`,
              retryAfterMs: null,
            }),
          );
        }
        return parsed.data;
      } catch (error) {
        if (error instanceof ClassifiedError) throw error;
        const failure = failureOfDriveError(error);
        publish('drive.call', {
          method,
          outcome: 'error',
          status: failure.httpStatus,
          reason: failure.reason,
          durationMs: performance.now() - started,
        });
        if (failure.httpStatus !== null) {
          const scope = rateLimitScopeOf(failure.httpStatus, failure.reason);
          if (scope) {
            governor?.reportRateLimited({ googleUser: token.googleUser, scope });
            publish('drive.rate_limited', { method, status: failure.httpStatus, reason: failure.reason });
          } else governor?.reportSuccess({ googleUser: token.googleUser });
        }
        if (failure.httpStatus === 401 && attempt === 0) continue;
        throw new ClassifiedError(classifyFailure(failure), { cause: error });
      }
    }
  }

  async function all<T>(read: (pageToken: string | null) => Promise<Page<T>>): Promise<T[]> {
    const items: T[] = [];
    let pageToken: string | null = null;
    do {
      const page: Page<T> = await read(pageToken);
      items.push(...page.items);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return items;
  }

  const page = <T>(items: T[], next: string | undefined): Page<T> => ({ items, nextPageToken: next ?? null });

  return {
    async getStartPageToken() {
      const data = await call('drive.changes.getStartPageToken', startPageTokenSchema, (o) =>
        api.changes.getStartPageToken({ supportsAllDrives: true, fields: 'startPageToken' }, o),
      );
      return data.startPageToken;
    },
    async listDrives(pageToken) {
      const data = await call('drive.drives.list', driveListSchema, (o) =>
        api.drives.list({ pageSize: 100, fields: DRIVE_LIST_FIELDS, ...(pageToken ? { pageToken } : {}) }, o),
      );
      return page(data.drives, data.nextPageToken);
    },
    async listFiles(corpus: DriveCorpus, pageToken) {
      const scope =
        corpus.kind === 'user'
          ? { corpora: 'user', includeItemsFromAllDrives: false }
          : { corpora: 'drive', driveId: corpus.driveId, includeItemsFromAllDrives: true };
      const data = await call('drive.files.list', fileListSchema, (o) =>
        api.files.list(
          {
            ...scope,
            supportsAllDrives: true,
            pageSize,
            fields: FILE_LIST_FIELDS,
            ...(pageToken ? { pageToken } : {}),
          },
          o,
        ),
      );
      return page(data.files, data.nextPageToken);
    },
    async listChanges(pageToken): Promise<ChangePage> {
      const data = await call('drive.changes.list', changeListSchema, (o) =>
        api.changes.list(
          {
            pageToken,
            pageSize,
            includeItemsFromAllDrives: true,
            supportsAllDrives: true,
            includeRemoved: true,
            fields: CHANGE_LIST_FIELDS,
          },
          o,
        ),
      );
      return {
        changes: data.changes,
        nextPageToken: data.nextPageToken ?? null,
        newStartPageToken: data.newStartPageToken ?? null,
      };
    },
    allPermissions(fileId) {
      return all(async (pageToken) => {
        const data = await call('drive.permissions.list', permissionListSchema, (o) =>
          api.permissions.list(
            {
              fileId,
              supportsAllDrives: true,
              pageSize: 100,
              fields: PERMISSION_LIST_FIELDS,
              ...(pageToken ? { pageToken } : {}),
            },
            o,
          ),
        );
        return page(data.permissions, data.nextPageToken);
      });
    },
    allRevisions(fileId) {
      return all(async (pageToken) => {
        const data = await call('drive.revisions.list', revisionListSchema, (o) =>
          api.revisions.list(
            { fileId, pageSize: 1000, fields: REVISION_LIST_FIELDS, ...(pageToken ? { pageToken } : {}) },
            o,
          ),
        );
        return page(data.revisions, data.nextPageToken);
      });
    },
    allComments(fileId) {
      return all(async (pageToken) => {
        const data = await call('drive.comments.list', commentListSchema, (o) =>
          api.comments.list(
            { fileId, pageSize: 100, fields: COMMENT_LIST_FIELDS, ...(pageToken ? { pageToken } : {}) },
            o,
          ),
        );
        return page(data.comments, data.nextPageToken);
      });
    },
  };
}
