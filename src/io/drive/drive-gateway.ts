import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { drive_v3 } from '@googleapis/drive';
import * as google from '@googleapis/drive';
import type { z } from 'zod';
import {
  CHANGE_LIST_FIELDS,
  CHANNEL_FIELDS,
  COMMENT_LIST_FIELDS,
  changeListSchema,
  channelSchema,
  commentListSchema,
  DRIVE_LIST_FIELDS,
  type DriveChange,
  type DriveChannel,
  type DriveComment,
  type DriveFile,
  type DrivePermission,
  type DriveRevision,
  driveFileSchema,
  driveListSchema,
  FILE_FIELDS,
  FILE_LIST_FIELDS,
  FILE_LOCATOR_LIST_FIELDS,
  fileListSchema,
  PERMISSION_LIST_FIELDS,
  permissionListSchema,
  REVISION_LIST_FIELDS,
  revisionListSchema,
  type SharedDrive,
  START_PAGE_TOKEN_FIELDS,
  startPageTokenSchema,
} from '../../contract/drive-resources.js';
import type { ErrorClassification } from '../../contract/records.js';
import { publish } from '../../instrumentation.js';
import type { CallFailure } from '../../machines/classify.js';
import type { AccessToken, AccessTokenProvider } from '../control-plane/access-token-client.js';
import {
  type BatchAnswer,
  BatchDecodeError,
  BatchHttpFailure,
  type BatchRequestPart,
  sendBatch,
} from './batch.js';
import {
  DriveCallError,
  failureOfHttpAnswer,
  failureOfThrown,
  type HeaderSource,
  headerOf,
} from './drive-call-error.js';

/**
 * One connection's door to Drive v3, over the official `googleapis` client.
 *
 * Every call: a bearer token from the control plane (per request, never stored in the
 * client), the `beforeCall` hook (where the shared quota governor plugs in), googleapis'
 * own retry OFF (it would retry 429/5xx blind to Retry-After and never retry a 403 rate
 * limit: retrying is the connection machine's job, DRIVE_API.md §0), `supportsAllDrives`
 * wherever Drive's discovery document defines it, list `fields` selectors that keep
 * nextPageToken / newStartPageToken, and the answer parsed with zod. A 401 gets one forced
 * token refresh and one replay; every other failure leaves as a DriveCallError carrying
 * its classification.
 */

/** Discovery ids of the calls the gateway makes (the emulator counts by the same names). */
export type DriveMethod =
  | 'drive.changes.getStartPageToken'
  | 'drive.changes.list'
  | 'drive.changes.watch'
  | 'drive.channels.stop'
  | 'drive.drives.list'
  | 'drive.files.list'
  | 'drive.files.get'
  | 'drive.files.export'
  | 'drive.permissions.list'
  | 'drive.revisions.list'
  | 'drive.comments.list';

export type DriveCorpus = { readonly kind: 'user' } | { readonly kind: 'drive'; readonly driveId: string };

export interface DrivePage<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string | null;
}

/** What narrows or orders a `files.list` beyond its corpus. */
export interface DriveFileQuery {
  /** A `q` expression (Drive's query language), e.g. a keyset bound or `'<id>' in parents`. */
  readonly q?: string;
  /** Drive's `orderBy`, e.g. `createdTime`. */
  readonly orderBy?: string;
  /** Only what locating an item needs (id, name, type, drive, creation time, trashed): cheap listings. */
  readonly idsOnly?: boolean;
  /**
   * `user` corpus only: items of shared drives too (those shared with the user directly,
   * which no `drive` corpus lists when the user is not a member). Default true.
   */
  readonly sharedDriveItems?: boolean;
}

export interface DriveFilePage extends DrivePage<DriveFile> {
  /** Drive did not search every corpus it should have: results may be missing. */
  readonly incompleteSearch: boolean;
}

export interface DriveChangePage {
  readonly changes: readonly DriveChange[];
  readonly nextPageToken: string | null;
  /** Only on the last page: the cursor of the next incremental sync. */
  readonly newStartPageToken: string | null;
}

export interface DriveContent {
  readonly body: Readable;
  readonly contentType: string;
  /** From Content-Length when Drive sent one. */
  readonly contentLength: number | null;
}

export interface WatchChannelRequest {
  /** Channel id, unique per channel (a UUID), at most 64 characters. */
  readonly id: string;
  /** HTTPS URL Drive posts notifications to. */
  readonly address: string;
  /** Echoed back in X-Goog-Channel-Token; at most 256 characters. */
  readonly token: string;
  /** Absolute expiry, Unix time in milliseconds (Drive's `expiration`). */
  readonly expirationMs: number;
}

export interface DriveCallContext {
  readonly connectionId: string;
  /** The control plane's `google_user` for this connection: keys per-user quota. */
  readonly googleUser: string;
}

/** Awaited before every Drive HTTP request, batch parts included (one call each). */
export type BeforeDriveCall = (method: DriveMethod, context: DriveCallContext) => Promise<void>;

export interface DriveCallReport extends DriveCallContext {
  readonly method: DriveMethod;
  readonly outcome: 'ok' | 'error';
  /** HTTP status; null when no answer came. */
  readonly status: number | null;
  readonly reason: string | null;
  /** The failure's classification; null on success. */
  readonly classification: ErrorClassification | null;
  readonly durationMs: number;
}

/** Told after every Drive HTTP request (batch parts included), e.g. so the governor adapts. */
export type AfterDriveCall = (report: DriveCallReport) => void;

/** Told when a batch request was answered: its parts and the time from send to answer. */
export type AfterDriveBatch = (report: { readonly parts: number; readonly durationMs: number }) => void;

export type DriveBatchRequest =
  | { readonly method: 'drive.files.get'; readonly fileId: string }
  | { readonly method: 'drive.permissions.list'; readonly fileId: string; readonly pageToken?: string | null }
  | { readonly method: 'drive.revisions.list'; readonly fileId: string; readonly pageToken?: string | null }
  | {
      readonly method: 'drive.comments.list';
      readonly fileId: string;
      readonly pageToken?: string | null;
      readonly includeDeleted?: boolean;
    };

export interface DriveBatchAnswers {
  'drive.files.get': DriveFile;
  'drive.permissions.list': DrivePage<DrivePermission>;
  'drive.revisions.list': DrivePage<DriveRevision>;
  'drive.comments.list': DrivePage<DriveComment>;
}

/** One part's outcome, discriminated by `method` and `ok`. */
export type DriveBatchResult<R extends DriveBatchRequest = DriveBatchRequest> = R extends DriveBatchRequest
  ?
      | {
          readonly method: R['method'];
          readonly ok: true;
          readonly request: R;
          readonly value: DriveBatchAnswers[R['method']];
        }
      | {
          readonly method: R['method'];
          readonly ok: false;
          readonly request: R;
          readonly error: DriveCallError;
        }
  : never;

export interface DriveGateway {
  readonly connectionId: string;
  /** The user's change log, or a shared drive's own when `driveId` is given. */
  getStartPageToken(driveId?: string): Promise<string>;
  listDrives(pageToken?: string | null): Promise<DrivePage<SharedDrive>>;
  /**
   * `user`: My Drive, shared-with-me and (unless `query.sharedDriveItems` is false) items
   * of shared drives the user was given directly; `drive`: one shared drive. Trashed items included.
   */
  listFiles(corpus: DriveCorpus, pageToken?: string | null, query?: DriveFileQuery): Promise<DriveFilePage>;
  getFile(fileId: string): Promise<DriveFile>;
  listPermissions(fileId: string, pageToken?: string | null): Promise<DrivePage<DrivePermission>>;
  listRevisions(fileId: string, pageToken?: string | null): Promise<DrivePage<DriveRevision>>;
  /** Replies come embedded. Deleted comments only when asked (then without content). */
  listComments(
    fileId: string,
    pageToken?: string | null,
    options?: { readonly includeDeleted?: boolean },
  ): Promise<DrivePage<DriveComment>>;
  /** The user's change log, shared drives included, removals included, no corpus-removal files. */
  listChanges(pageToken: string): Promise<DriveChangePage>;
  /** A Workspace file converted to `mimeType` (Drive caps exports at 10 MB: 403 exportSizeLimitExceeded). */
  exportFile(
    fileId: string,
    mimeType: string,
    options?: { readonly maxBytes?: number },
  ): Promise<DriveContent>;
  /**
   * A binary file's bytes. More than `maxBytes` fails with a DriveCallError (invalid_input,
   * code `contentTooLarge`): before any byte when Drive announces the length, otherwise as
   * an error of the stream.
   */
  downloadFile(fileId: string, maxBytes: number): Promise<DriveContent>;
  /** Opens a push channel on the change log from `pageToken` (same scope as listChanges). */
  watchChanges(pageToken: string, channel: WatchChannelRequest): Promise<DriveChannel>;
  stopChannel(id: string, resourceId: string): Promise<void>;

  listAllDrives(): Promise<SharedDrive[]>;
  listAllFiles(corpus: DriveCorpus, query?: DriveFileQuery): Promise<DriveFile[]>;
  listAllPermissions(fileId: string): Promise<DrivePermission[]>;
  listAllRevisions(fileId: string): Promise<DriveRevision[]>;
  listAllComments(fileId: string, options?: { readonly includeDeleted?: boolean }): Promise<DriveComment[]>;
  /** Every change from `pageToken` to the end, and the new cursor. */
  listAllChanges(pageToken: string): Promise<{ changes: DriveChange[]; newStartPageToken: string }>;

  /**
   * GETs grouped into `POST /batch/drive/v3` requests of up to 100 parts (more are split),
   * results in request order. Each part fails on its own as a DriveCallError classified like
   * the same call made alone; a failure of a whole batch request rejects.
   */
  batchGet<R extends DriveBatchRequest>(requests: readonly R[]): Promise<DriveBatchResult<R>[]>;
}

export interface DriveGatewayOptions {
  /** Drive's root, e.g. `https://www.googleapis.com` or the emulator's URL. */
  readonly rootUrl: string;
  readonly tokens: AccessTokenProvider;
  readonly connectionId: string;
  /** Page size asked of every list (each capped at its method's maximum). */
  readonly pageSize: number;
  /** A googleapis Drive client to share between gateways; one is made from rootUrl otherwise. */
  readonly api?: drive_v3.Drive;
  readonly beforeCall?: BeforeDriveCall;
  readonly afterCall?: AfterDriveCall;
  /** E.g. so that batch pacing learns how long Drive takes with a batch. */
  readonly afterBatch?: AfterDriveBatch;
  /** Aborts waits and requests in flight (e.g. on shutdown). */
  readonly signal?: AbortSignal;
  /** Deadline of one metadata call. Default 60 s. */
  readonly timeoutMs?: number;
  /** Deadline of an export or download, body included. Default 10 min. */
  readonly contentTimeoutMs?: number;
}

const METHOD_MAX_PAGE_SIZE = {
  'drive.drives.list': 100,
  'drive.files.list': 1000,
  'drive.changes.list': 1000,
  'drive.permissions.list': 100,
  'drive.revisions.list': 1000,
  'drive.comments.list': 100,
} as const;

export const MAX_BATCH_PARTS = 100;

/** A googleapis Drive v3 client for `rootUrl`, retry off at the service level as well as per call. */
export function createDriveApi(rootUrl: string): drive_v3.Drive {
  return google.drive({ version: 'v3', rootUrl: `${rootUrl.replace(/\/+$/, '')}/`, retry: false });
}

type Params = Record<string, string | number | boolean>;

// The query parameters of each GET, shared by the direct call and its batch part, so that
// the two paths cannot ask Drive different questions.
function permissionsListParams(pageSize: number, pageToken?: string | null): Params {
  return {
    supportsAllDrives: true,
    pageSize: Math.min(pageSize, METHOD_MAX_PAGE_SIZE['drive.permissions.list']),
    fields: PERMISSION_LIST_FIELDS,
    ...(pageToken ? { pageToken } : {}),
  };
}
function revisionsListParams(pageSize: number, pageToken?: string | null): Params {
  return {
    pageSize: Math.min(pageSize, METHOD_MAX_PAGE_SIZE['drive.revisions.list']),
    fields: REVISION_LIST_FIELDS,
    ...(pageToken ? { pageToken } : {}),
  };
}
function commentsListParams(pageSize: number, pageToken?: string | null, includeDeleted?: boolean): Params {
  return {
    pageSize: Math.min(pageSize, METHOD_MAX_PAGE_SIZE['drive.comments.list']),
    fields: COMMENT_LIST_FIELDS,
    includeDeleted: includeDeleted ?? false,
    ...(pageToken ? { pageToken } : {}),
  };
}
const fileGetParams = (): Params => ({ supportsAllDrives: true, fields: FILE_FIELDS });

function isGaxiosError(error: unknown): boolean {
  // googleapis-common bundles its own gaxios: compare by shape, not by class identity.
  return (
    typeof error === 'object' &&
    error !== null &&
    ((error as { name?: unknown }).name === 'GaxiosError' || 'config' in error)
  );
}

function page<T>(items: readonly T[], next: string | undefined): DrivePage<T> {
  return { items, nextPageToken: next ?? null };
}

export function createDriveGateway(options: DriveGatewayOptions): DriveGateway {
  const { tokens, connectionId, pageSize, signal } = options;
  const rootUrl = options.rootUrl.replace(/\/+$/, '');
  const api = options.api ?? createDriveApi(rootUrl);
  const beforeCall = options.beforeCall ?? (async () => {});
  const afterCall = options.afterCall ?? (() => {});
  const afterBatch = options.afterBatch ?? (() => {});
  // Concurrent batches take their parts' places in the governor one batch after another:
  // each leaves as soon as its own parts may go, instead of all of them together when the
  // last of their interleaved places comes.
  let collecting: Promise<void> = Promise.resolve();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const contentTimeoutMs = options.contentTimeoutMs ?? 600_000;

  function report(
    method: DriveMethod,
    token: AccessToken,
    started: number,
    failure: CallFailure | null,
    error: DriveCallError | null,
    okStatus = 200,
  ): void {
    const durationMs = performance.now() - started;
    const status = failure ? failure.httpStatus : okStatus;
    const reason = failure?.reason ?? null;
    publish('drive.call', { method, outcome: failure ? 'error' : 'ok', status, reason, durationMs });
    const classification = error?.failure.classification ?? null;
    if (classification === 'rate_limited' && status !== null) {
      publish('drive.rate_limited', { method, status, reason });
    }
    afterCall({
      method,
      connectionId,
      googleUser: token.googleUser,
      outcome: failure ? 'error' : 'ok',
      status,
      reason,
      classification,
      durationMs,
    });
  }

  interface RequestOptions {
    headers: Record<string, string>;
    retry: false;
    timeout: number;
    signal?: AbortSignal;
    responseType?: 'stream';
    validateStatus?: (status: number) => boolean;
  }

  interface Response {
    readonly status?: number;
    readonly data: unknown;
    readonly headers?: unknown;
  }

  /**
   * Runs one Drive request with the 401 rule: the first 401 forces a token refresh and a
   * replay; a second one is an auth failure. Token failures (AccessTokenError) pass through.
   * With `stream`, error answers come back as responses (gaxios would throw away their body:
   * it stringifies a stream's chunks as lists of numbers) and are read here.
   */
  async function execute<T extends Response>(
    method: DriveMethod,
    run: (requestOptions: RequestOptions) => Promise<T>,
    stream = false,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await tokens.getToken(connectionId, { forceRefresh: attempt > 0 });
      await beforeCall(method, { connectionId, googleUser: token.googleUser });
      const started = performance.now();
      let failure: CallFailure;
      try {
        const response = await run({
          headers: { Authorization: `Bearer ${token.accessToken}` },
          retry: false,
          timeout: stream ? contentTimeoutMs : timeoutMs,
          ...(signal ? { signal } : {}),
          ...(stream ? { responseType: 'stream' as const, validateStatus: () => true } : {}),
        });
        const status = response.status ?? 200;
        if ((status >= 200 && status < 300) || status === 304) {
          report(method, token, started, null, null, status);
          return response;
        }
        // An error body that cannot be read still leaves its status to classify by.
        const body = await buffer(toNodeReadable(response.data)).catch(() => null);
        failure = failureOfHttpAnswer({ status, headers: response.headers as HeaderSource, body });
      } catch (thrown) {
        // Anything but an HTTP or network failure (a missing parameter caught by googleapis
        // itself) is a bug of ours: it leaves unchanged and reads as `internal`.
        if (!isGaxiosError(thrown)) throw thrown;
        failure = failureOfThrown(thrown);
      }
      // No `cause`: a GaxiosError holds the request's configuration, Authorization included.
      const error = new DriveCallError(method, failure);
      report(method, token, started, failure, error);
      if (failure.httpStatus === 401 && attempt === 0) continue;
      throw error;
    }
  }

  async function callJson<S extends z.ZodType>(
    method: DriveMethod,
    schema: S,
    run: (requestOptions: RequestOptions) => Promise<Response>,
  ): Promise<z.infer<S>> {
    const response = await execute(method, run);
    return parseAnswer(method, schema, response.data);
  }

  async function content(
    method: DriveMethod,
    maxBytes: number | undefined,
    run: (requestOptions: RequestOptions) => Promise<Response>,
  ): Promise<DriveContent> {
    const response = await execute(method, run, true);
    const headers = response.headers as HeaderSource;
    const source = toNodeReadable(response.data);
    const lengthHeader = headerOf(headers, 'content-length');
    const contentLength = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
    if (maxBytes !== undefined && contentLength !== null && contentLength > maxBytes) {
      source.destroy();
      throw tooLarge(method, maxBytes);
    }
    let body: Readable = source;
    if (maxBytes !== undefined) {
      // pipeline, not pipe: an error on either side (the limit, a reset connection) reaches the reader.
      const limiter = byteLimit(method, maxBytes);
      pipeline(source, limiter, () => {});
      body = limiter;
    }
    return {
      body,
      contentType: headerOf(headers, 'content-type') ?? 'application/octet-stream',
      contentLength,
    };
  }

  async function all<T>(read: (pageToken: string | null) => Promise<DrivePage<T>>): Promise<T[]> {
    const items: T[] = [];
    let pageToken: string | null = null;
    do {
      const current: DrivePage<T> = await read(pageToken);
      items.push(...current.items);
      pageToken = current.nextPageToken;
    } while (pageToken);
    return items;
  }

  const gateway: DriveGateway = {
    connectionId,

    async getStartPageToken(driveId) {
      const data = await callJson('drive.changes.getStartPageToken', startPageTokenSchema, (o) =>
        api.changes.getStartPageToken(
          { supportsAllDrives: true, fields: START_PAGE_TOKEN_FIELDS, ...(driveId ? { driveId } : {}) },
          o,
        ),
      );
      return data.startPageToken;
    },

    async listDrives(pageToken) {
      const data = await callJson('drive.drives.list', driveListSchema, (o) =>
        api.drives.list(
          {
            pageSize: Math.min(pageSize, METHOD_MAX_PAGE_SIZE['drive.drives.list']),
            fields: DRIVE_LIST_FIELDS,
            ...(pageToken ? { pageToken } : {}),
          },
          o,
        ),
      );
      return page(data.drives, data.nextPageToken);
    },

    async listFiles(corpus, pageToken, query) {
      // `corpora=user` with includeItemsFromAllDrives lists what the user was given out of
      // shared drives too (files shared directly, whose drive the user is no member of);
      // without it those items are in no corpus the worker walks.
      const scope =
        corpus.kind === 'user'
          ? { corpora: 'user', includeItemsFromAllDrives: query?.sharedDriveItems ?? true }
          : { corpora: 'drive', driveId: corpus.driveId, includeItemsFromAllDrives: true };
      const data = await callJson('drive.files.list', fileListSchema, (o) =>
        api.files.list(
          {
            ...scope,
            supportsAllDrives: true,
            pageSize: Math.min(pageSize, METHOD_MAX_PAGE_SIZE['drive.files.list']),
            fields: query?.idsOnly ? FILE_LOCATOR_LIST_FIELDS : FILE_LIST_FIELDS,
            ...(query?.q ? { q: query.q } : {}),
            ...(query?.orderBy ? { orderBy: query.orderBy } : {}),
            ...(pageToken ? { pageToken } : {}),
          },
          o,
        ),
      );
      return { ...page(data.files, data.nextPageToken), incompleteSearch: data.incompleteSearch === true };
    },

    getFile(fileId) {
      return callJson('drive.files.get', driveFileSchema, (o) =>
        api.files.get({ fileId, ...fileGetParams() }, o),
      );
    },

    async listPermissions(fileId, pageToken) {
      const data = await callJson('drive.permissions.list', permissionListSchema, (o) =>
        api.permissions.list({ fileId, ...permissionsListParams(pageSize, pageToken) }, o),
      );
      return page(data.permissions, data.nextPageToken);
    },

    async listRevisions(fileId, pageToken) {
      const data = await callJson('drive.revisions.list', revisionListSchema, (o) =>
        api.revisions.list({ fileId, ...revisionsListParams(pageSize, pageToken) }, o),
      );
      return page(data.revisions, data.nextPageToken);
    },

    async listComments(fileId, pageToken, commentOptions) {
      const data = await callJson('drive.comments.list', commentListSchema, (o) =>
        api.comments.list(
          { fileId, ...commentsListParams(pageSize, pageToken, commentOptions?.includeDeleted) },
          o,
        ),
      );
      return page(data.comments, data.nextPageToken);
    },

    async listChanges(pageToken) {
      const data = await callJson('drive.changes.list', changeListSchema, (o) =>
        api.changes.list(
          {
            pageToken,
            pageSize: Math.min(pageSize, METHOD_MAX_PAGE_SIZE['drive.changes.list']),
            includeItemsFromAllDrives: true,
            supportsAllDrives: true,
            includeRemoved: true,
            includeCorpusRemovals: false,
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

    exportFile(fileId, mimeType, exportOptions) {
      return content('drive.files.export', exportOptions?.maxBytes, (o) =>
        api.files.export({ fileId, mimeType }, o),
      );
    },

    downloadFile(fileId, maxBytes) {
      return content('drive.files.get', maxBytes, (o) =>
        api.files.get({ fileId, alt: 'media', supportsAllDrives: true }, o),
      );
    },

    watchChanges(pageToken, channel) {
      return callJson('drive.changes.watch', channelSchema, (o) =>
        api.changes.watch(
          {
            pageToken,
            includeItemsFromAllDrives: true,
            supportsAllDrives: true,
            includeRemoved: true,
            includeCorpusRemovals: false,
            fields: CHANNEL_FIELDS,
            // The channel MUST travel as requestBody: top-level fields would become query
            // parameters and Drive would answer 400 "entity.resource" (DRIVE_API.md §0).
            requestBody: {
              id: channel.id,
              type: 'web_hook',
              address: channel.address,
              token: channel.token,
              expiration: String(channel.expirationMs),
            },
          },
          o,
        ),
      );
    },

    async stopChannel(id, resourceId) {
      await execute('drive.channels.stop', (o) => api.channels.stop({ requestBody: { id, resourceId } }, o));
    },

    listAllDrives: () => all((token) => gateway.listDrives(token)),
    listAllFiles: (corpus, query) => all((token) => gateway.listFiles(corpus, token, query)),
    listAllPermissions: (fileId) => all((token) => gateway.listPermissions(fileId, token)),
    listAllRevisions: (fileId) => all((token) => gateway.listRevisions(fileId, token)),
    listAllComments: (fileId, commentOptions) =>
      all((token) => gateway.listComments(fileId, token, commentOptions)),

    async listAllChanges(pageToken) {
      const changes: DriveChange[] = [];
      let token = pageToken;
      for (;;) {
        const current = await gateway.listChanges(token);
        changes.push(...current.changes);
        if (current.newStartPageToken !== null)
          return { changes, newStartPageToken: current.newStartPageToken };
        if (current.nextPageToken === null) {
          throw new DriveCallError('drive.changes.list', {
            source: 'drive',
            httpStatus: 502,
            reason: 'unexpectedResponse',
            location: null,
            message: 'drive.changes.list ended without newStartPageToken',
            retryAfterMs: null,
          });
        }
        token = current.nextPageToken;
      }
    },

    async batchGet<R extends DriveBatchRequest>(requests: readonly R[]): Promise<DriveBatchResult<R>[]> {
      const results: DriveBatchResult<R>[] = [];
      for (let start = 0; start < requests.length; start += MAX_BATCH_PARTS) {
        results.push(...(await batchChunk(requests.slice(start, start + MAX_BATCH_PARTS))));
      }
      return results;
    },
  };

  function batchPartOf(request: DriveBatchRequest): BatchRequestPart {
    const file = `/drive/v3/files/${encodeURIComponent(request.fileId)}`;
    switch (request.method) {
      case 'drive.files.get':
        return { path: file, query: fileGetParams() };
      case 'drive.permissions.list':
        return { path: `${file}/permissions`, query: permissionsListParams(pageSize, request.pageToken) };
      case 'drive.revisions.list':
        return { path: `${file}/revisions`, query: revisionsListParams(pageSize, request.pageToken) };
      case 'drive.comments.list':
        return {
          path: `${file}/comments`,
          query: commentsListParams(pageSize, request.pageToken, request.includeDeleted),
        };
    }
  }

  function answerValue(
    request: DriveBatchRequest,
    body: unknown,
  ): DriveBatchAnswers[DriveBatchRequest['method']] {
    switch (request.method) {
      case 'drive.files.get':
        return parseAnswer(request.method, driveFileSchema, body);
      case 'drive.permissions.list': {
        const data = parseAnswer(request.method, permissionListSchema, body);
        return page(data.permissions, data.nextPageToken);
      }
      case 'drive.revisions.list': {
        const data = parseAnswer(request.method, revisionListSchema, body);
        return page(data.revisions, data.nextPageToken);
      }
      case 'drive.comments.list': {
        const data = parseAnswer(request.method, commentListSchema, body);
        return page(data.comments, data.nextPageToken);
      }
    }
  }

  /**
   * One batch request of at most 100 parts. Parts answered 401 get one forced token refresh
   * and go again in a second batch; a second 401 is their auth failure.
   */
  async function batchChunk<R extends DriveBatchRequest>(
    requests: readonly R[],
  ): Promise<DriveBatchResult<R>[]> {
    const results = new Array<DriveBatchResult<R> | undefined>(requests.length);
    let pending = requests.map((_, index) => index);
    for (let attempt = 0; pending.length > 0; attempt++) {
      const token = await tokens.getToken(connectionId, { forceRefresh: attempt > 0 });
      const sending = pending;
      const collected = collecting.then(async () => {
        for (const index of sending) {
          await beforeCall((requests[index] as R).method, { connectionId, googleUser: token.googleUser });
        }
      });
      collecting = collected.catch(() => {});
      await collected;
      const started = performance.now();
      let answers: BatchAnswer[];
      try {
        answers = await sendBatch({
          rootUrl,
          authorization: `Bearer ${token.accessToken}`,
          parts: pending.map((index) => batchPartOf(requests[index] as R)),
          timeoutMs,
          ...(signal ? { signal } : {}),
        });
        afterBatch({ parts: pending.length, durationMs: performance.now() - started });
      } catch (thrown) {
        const failure: CallFailure =
          thrown instanceof BatchHttpFailure
            ? failureOfHttpAnswer(thrown.answer)
            : thrown instanceof BatchDecodeError
              ? {
                  source: 'drive',
                  httpStatus: 502,
                  reason: 'unexpectedResponse',
                  location: null,
                  message: thrown.message,
                  retryAfterMs: null,
                }
              : failureOfThrown(thrown);
        // The whole request failed: every part it carried failed with it, and is reported so.
        const error = new DriveCallError('drive.batch', failure);
        for (const index of pending) report((requests[index] as R).method, token, started, failure, error);
        if (failure.httpStatus === 401 && attempt === 0) continue;
        throw error;
      }
      const retry: number[] = [];
      pending.forEach((index, position) => {
        const request = requests[index] as R;
        const answer = answers[position] as BatchAnswer;
        if (answer.status >= 200 && answer.status < 300) {
          try {
            const value = answerValue(request, answer.body);
            report(request.method, token, started, null, null, answer.status);
            results[index] = { method: request.method, ok: true, request, value } as DriveBatchResult<R>;
          } catch (error) {
            results[index] = {
              method: request.method,
              ok: false,
              request,
              error: error as DriveCallError,
            } as DriveBatchResult<R>;
          }
          return;
        }
        const failure = failureOfHttpAnswer(answer);
        const error = new DriveCallError(request.method, failure);
        report(request.method, token, started, failure, error);
        if (answer.status === 401 && attempt === 0) {
          retry.push(index);
          return;
        }
        results[index] = { method: request.method, ok: false, request, error } as DriveBatchResult<R>;
      });
      pending = retry;
    }
    return results as DriveBatchResult<R>[];
  }

  return gateway;
}

function parseAnswer<S extends z.ZodType>(method: string, schema: S, data: unknown): z.infer<S> {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  // Drive answered 2xx with something we cannot read: a bad gateway by our reading, retried as transient.
  throw new DriveCallError(method, {
    source: 'drive',
    httpStatus: 502,
    reason: 'unexpectedResponse',
    location: null,
    message: `${method} answered with a body the worker cannot read: ${parsed.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ')}`,
    retryAfterMs: null,
  });
}

function toNodeReadable(data: unknown): Readable {
  if (data instanceof Readable) return data;
  if (data && typeof (data as { getReader?: unknown }).getReader === 'function')
    return Readable.fromWeb(data as WebReadableStream<Uint8Array>);
  throw new TypeError('Drive answered a content request without a readable body');
}

function tooLarge(method: string, maxBytes: number): DriveCallError {
  // Our own limit, not Drive's: stated as HTTP would state it (413), so it classifies as
  // invalid_input, not retried — the file does not fit the configured maximum.
  return new DriveCallError(method, {
    source: 'drive',
    httpStatus: 413,
    reason: 'contentTooLarge',
    location: null,
    message: `content is larger than the configured maximum of ${maxBytes} bytes`,
    retryAfterMs: null,
  });
}

function byteLimit(method: string, maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) {
        callback(tooLarge(method, maxBytes));
        return;
      }
      callback(null, chunk);
    },
  });
}
