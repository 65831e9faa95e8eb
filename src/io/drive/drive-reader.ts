import type { drive_v3 } from '@googleapis/drive';
import type {
  ChangePage,
  DriveReader,
  ExtraKind,
  ExtraOutcome,
  ExtraRequest,
  FileExtras,
} from '../../actors/ports.js';
import { type QuotaGovernor, rateLimitScopeOf } from '../../actors/quota-governor.js';
import { BatchPacer, type BatchPlan } from '../../machines/batch-pacing.js';
import type { AccessTokenProvider } from '../control-plane/access-token-client.js';
import {
  type AfterDriveCall,
  type BeforeDriveCall,
  createDriveGateway,
  type DriveBatchRequest,
  type DriveBatchResult,
  type DriveGateway,
  MAX_BATCH_PARTS,
} from './drive-gateway.js';

export { createDriveApi } from './drive-gateway.js';

export interface DriveReaderOptions {
  readonly api: drive_v3.Drive;
  readonly tokens: AccessTokenProvider;
  readonly connectionId: string;
  readonly pageSize: number;
  readonly governor: QuotaGovernor | null;
  readonly signal?: AbortSignal;
  /** Drive's root; read from the googleapis client's configuration when absent. */
  readonly rootUrl?: string;
  /** GDRIVE_BATCH_REQUESTS: per-file lists grouped into batch requests (`batchExtras`). */
  readonly batchRequests?: boolean;
  /**
   * Sizes batches and how many go at once, from the governor's rate and the batch latency
   * observed; one per process, so that what one run learnt serves the next. A fresh one otherwise.
   */
  readonly batchPacer?: BatchPacer;
  /** Follow-up calls (continued pages, parts retried alone) in flight at once. Default 8. */
  readonly followUpConcurrency?: number;
}

/**
 * The quota governor as the gateway's two hooks: every call waits for its place in the
 * user's and the project's buckets, and every answer tells the buckets whether Drive
 * still said "slow down".
 */
export function governorHooks(
  governor: QuotaGovernor,
  signal?: AbortSignal,
): { beforeCall: BeforeDriveCall; afterCall: AfterDriveCall } {
  return {
    beforeCall: (_method, context) =>
      governor.acquire({
        googleUser: context.googleUser,
        connectionId: context.connectionId,
        ...(signal ? { signal } : {}),
      }),
    afterCall: (report) => {
      if (report.status === null) return;
      const scope = rateLimitScopeOf(report.status, report.reason);
      if (scope) governor.reportRateLimited({ googleUser: report.googleUser, scope });
      else governor.reportSuccess({ googleUser: report.googleUser });
    },
  };
}

/** A gateway for one connection, wired to the process's quota governor when there is one. */
export function createGovernedDriveGateway(options: DriveReaderOptions): DriveGateway {
  const rootUrl = options.rootUrl ?? options.api.context._options.rootUrl;
  if (!rootUrl) throw new Error('createGovernedDriveGateway: no rootUrl given or configured on the client');
  return createDriveGateway({
    rootUrl,
    api: options.api,
    tokens: options.tokens,
    connectionId: options.connectionId,
    pageSize: options.pageSize,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.governor ? governorHooks(options.governor, options.signal) : {}),
    ...(options.batchPacer
      ? { afterBatch: (report) => options.batchPacer?.observe(report.parts, report.durationMs) }
      : {}),
  });
}

/**
 * Calls a second the governor lets this process make: the project bucket's current rate,
 * and no more than one user's configured rate (the connection's own user may be slower;
 * planning for more than it gets only leaves batches waiting for their places). Infinity
 * without a governor.
 */
export function governedCallsPerSecond(governor: QuotaGovernor | null): number {
  if (!governor) return Number.POSITIVE_INFINITY;
  const { project, users } = governor.snapshot();
  return Math.min(project.ratePerMinute, users.configuredPerMinute) / 60;
}

/** The connection actor's port (src/actors/ports.ts) over the gateway. */
export function createDriveReader(options: DriveReaderOptions): DriveReader {
  const pacer = options.batchRequests ? (options.batchPacer ?? new BatchPacer()) : undefined;
  const gateway = createGovernedDriveGateway({ ...options, ...(pacer ? { batchPacer: pacer } : {}) });
  return {
    getStartPageToken: () => gateway.getStartPageToken(),
    listDrives: (pageToken) => gateway.listDrives(pageToken),
    listFiles: (corpus, pageToken, query) => gateway.listFiles(corpus, pageToken, query),
    listChanges: (pageToken): Promise<ChangePage> => gateway.listChanges(pageToken),
    getFile: (fileId) => gateway.getFile(fileId),
    allPermissions: (fileId) => gateway.listAllPermissions(fileId),
    allRevisions: (fileId) => gateway.listAllRevisions(fileId),
    allComments: (fileId) => gateway.listAllComments(fileId),
    exportFile: (fileId, mimeType, maxBytes) => gateway.exportFile(fileId, mimeType, { maxBytes }),
    downloadFile: (fileId, maxBytes) => gateway.downloadFile(fileId, maxBytes),
    ...(pacer
      ? {
          batchExtras: (requests: readonly ExtraRequest[]) =>
            readExtrasBatched(gateway, requests, options.followUpConcurrency ?? 8, (parts) =>
              pacer.plan(parts, governedCallsPerSecond(options.governor)),
            ),
        }
      : {}),
  };
}

const BATCH_METHOD_OF = {
  permissions: 'drive.permissions.list',
  revisions: 'drive.revisions.list',
  comments: 'drive.comments.list',
} as const satisfies Record<ExtraKind, DriveBatchRequest['method']>;

/**
 * Each extra's first page through `batchGet` (every part through the quota governor), in
 * batches as large and as many at once as `planFor` says (src/machines/batch-pacing.ts); then, one call at a time as the unbatched path makes them, the pages
 * after a first page that had a `nextPageToken`. A part that failed is its outcome's error,
 * classified like the same direct call's (the sync run reads a retryable one again alone).
 */
export async function readExtrasBatched(
  gateway: DriveGateway,
  requests: readonly ExtraRequest[],
  followUpConcurrency: number,
  planFor: (parts: number) => BatchPlan,
): Promise<ExtraOutcome[]> {
  if (requests.length === 0) return [];
  const parts: DriveBatchRequest[] = requests.map((request) => ({
    method: BATCH_METHOD_OF[request.extra],
    fileId: request.fileId,
  }));
  const plan = planFor(parts.length);
  const size = Math.max(1, Math.min(MAX_BATCH_PARTS, plan.partsPerBatch));
  const chunks: DriveBatchRequest[][] = [];
  for (let start = 0; start < parts.length; start += size) chunks.push(parts.slice(start, start + size));
  const answered = new Array<DriveBatchResult[]>(chunks.length);
  await inLanes(
    chunks.map((chunk, index) => async () => {
      answered[index] = await gateway.batchGet(chunk);
    }),
    plan.batchesInFlight,
  );
  const answers = answered.flat();
  const outcomes = new Array<ExtraOutcome>(requests.length);
  const followUps: Array<() => Promise<void>> = [];
  answers.forEach((answer, index) => {
    const request = requests[index] as ExtraRequest;
    const settle = (read: () => Promise<FileExtras>) =>
      followUps.push(async () => {
        try {
          outcomes[index] = { ok: true, extras: await read() };
        } catch (error) {
          outcomes[index] = { ok: false, error };
        }
      });
    if (!answer.ok) {
      // A retryable part is read again alone by the sync run, after a backoff and a bounded
      // number of times (item-isolation.ts): not at once here, which a rate limit would refuse again.
      outcomes[index] = { ok: false, error: answer.error };
      return;
    }
    const first = firstPageOf(answer);
    if (first.nextPageToken === null) outcomes[index] = { ok: true, extras: first.extras };
    else {
      const token = first.nextPageToken;
      settle(async () => merge(first.extras, await readRest(gateway, request, token)));
    }
  });
  await inLanes(followUps, followUpConcurrency);
  return outcomes;
}

/** Runs `tasks` with at most `lanes` of them at once; the first failure rejects. */
async function inLanes(tasks: ReadonlyArray<() => Promise<void>>, lanes: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) await (tasks[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: Math.min(lanes, tasks.length) }, lane));
}

function firstPageOf(answer: Extract<DriveBatchResult, { ok: true }>): {
  extras: FileExtras;
  nextPageToken: string | null;
} {
  switch (answer.method) {
    case 'drive.permissions.list':
      return { extras: { permissions: [...answer.value.items] }, nextPageToken: answer.value.nextPageToken };
    case 'drive.revisions.list':
      return { extras: { revisions: [...answer.value.items] }, nextPageToken: answer.value.nextPageToken };
    case 'drive.comments.list':
      return { extras: { comments: [...answer.value.items] }, nextPageToken: answer.value.nextPageToken };
    default:
      throw new Error(`readExtrasBatched: unexpected batch answer for ${answer.method}`);
  }
}

/** The pages after the first, with plain calls (DriveGateway's `list*` with a page token). */
async function readRest(gateway: DriveGateway, request: ExtraRequest, from: string): Promise<FileExtras> {
  const pages = async <T>(
    read: (token: string) => Promise<{ items: readonly T[]; nextPageToken: string | null }>,
  ) => {
    const items: T[] = [];
    let token: string | null = from;
    while (token !== null) {
      const page: { items: readonly T[]; nextPageToken: string | null } = await read(token);
      items.push(...page.items);
      token = page.nextPageToken;
    }
    return items;
  };
  switch (request.extra) {
    case 'permissions':
      return { permissions: await pages((token) => gateway.listPermissions(request.fileId, token)) };
    case 'revisions':
      return { revisions: await pages((token) => gateway.listRevisions(request.fileId, token)) };
    case 'comments':
      return { comments: await pages((token) => gateway.listComments(request.fileId, token)) };
  }
}

function merge(first: FileExtras, rest: FileExtras): FileExtras {
  return {
    ...(first.permissions ? { permissions: [...first.permissions, ...(rest.permissions ?? [])] } : {}),
    ...(first.revisions ? { revisions: [...first.revisions, ...(rest.revisions ?? [])] } : {}),
    ...(first.comments ? { comments: [...first.comments, ...(rest.comments ?? [])] } : {}),
  };
}
