import { describe, expect, it } from 'vitest';
import type { ExtraRequest } from '../../../src/actors/ports.js';
import type { DrivePermission } from '../../../src/contract/drive-resources.js';
import { DriveCallError } from '../../../src/io/drive/drive-call-error.js';
import type {
  DriveBatchRequest,
  DriveBatchResult,
  DriveGateway,
} from '../../../src/io/drive/drive-gateway.js';
import { readExtrasBatched } from '../../../src/io/drive/drive-reader.js';
import type { BatchPlan } from '../../../src/machines/batch-pacing.js';

/**
 * How batched extras are completed: first pages from batch parts, further pages by plain
 * calls, failed parts as they are (the sync run reads a retryable one again alone, with
 * backoff). The gateway is a stand-in recording every call.
 */

const failure = (status: number, reason: string) =>
  new DriveCallError('drive.permissions.list', {
    source: 'drive',
    httpStatus: status,
    reason,
    location: null,
    message: reason,
    retryAfterMs: null,
  });

function standInGateway(
  calls: string[],
  answer: (request: DriveBatchRequest) => DriveBatchResult,
): DriveGateway {
  const permission = (id: string) => ({ id, type: 'user', role: 'reader' }) as DrivePermission;
  return {
    batchGet: async (requests: readonly DriveBatchRequest[]) => {
      calls.push(`batch(${requests.length})`);
      return requests.map(answer);
    },
    listPermissions: async (fileId: string, pageToken?: string | null) => {
      calls.push(`permissions ${fileId} ${pageToken ?? 'start'}`);
      return pageToken === 'p2'
        ? { items: [permission(`${fileId}-2`)], nextPageToken: 'p3' }
        : pageToken === 'p3'
          ? { items: [permission(`${fileId}-3`)], nextPageToken: null }
          : { items: [permission(`${fileId}-1`)], nextPageToken: 'p2' };
    },
    listAllPermissions: async (fileId: string) => {
      calls.push(`all permissions ${fileId}`);
      return [permission(`${fileId}-alone`)];
    },
    listAllRevisions: async (fileId: string) => {
      calls.push(`all revisions ${fileId}`);
      return [];
    },
  } as unknown as DriveGateway;
}

const fullBatches = (): BatchPlan => ({ partsPerBatch: 100, batchesInFlight: 4 });

describe('readExtrasBatched', () => {
  const requests: ExtraRequest[] = [
    { fileId: 'one-page', extra: 'permissions' },
    { fileId: 'three-pages', extra: 'permissions' },
    { fileId: 'busy', extra: 'permissions' },
    { fileId: 'gone', extra: 'revisions' },
  ];

  it('continues long lists; a failed part, retryable or not, is its outcome (the sync run reads it again)', async () => {
    const calls: string[] = [];
    const gone = failure(404, 'notFound');
    const rateLimited = failure(403, 'userRateLimitExceeded');
    const gateway = standInGateway(calls, (request) => {
      switch (request.fileId) {
        case 'one-page':
          return {
            method: 'drive.permissions.list',
            ok: true,
            request,
            value: { items: [{ id: 'only', type: 'anyone', role: 'reader' }], nextPageToken: null },
          } as DriveBatchResult;
        case 'three-pages':
          return {
            method: 'drive.permissions.list',
            ok: true,
            request,
            value: { items: [{ id: 'first', type: 'anyone', role: 'reader' }], nextPageToken: 'p2' },
          } as DriveBatchResult;
        case 'busy':
          return {
            method: 'drive.permissions.list',
            ok: false,
            request,
            error: rateLimited,
          } as DriveBatchResult;
        default:
          return { method: 'drive.revisions.list', ok: false, request, error: gone } as DriveBatchResult;
      }
    });

    const outcomes = await readExtrasBatched(gateway, requests, 2, fullBatches);

    expect(calls).toEqual(['batch(4)', 'permissions three-pages p2', 'permissions three-pages p3']);
    expect(outcomes).toEqual([
      { ok: true, extras: { permissions: [{ id: 'only', type: 'anyone', role: 'reader' }] } },
      {
        ok: true,
        extras: {
          permissions: [
            { id: 'first', type: 'anyone', role: 'reader' },
            { id: 'three-pages-2', type: 'user', role: 'reader' },
            { id: 'three-pages-3', type: 'user', role: 'reader' },
          ],
        },
      },
      { ok: false, error: rateLimited },
      { ok: false, error: gone },
    ]);
  });

  it('sends a large page as several batch requests of at most 100 parts, outcomes in request order', async () => {
    const calls: string[] = [];
    const many: ExtraRequest[] = Array.from({ length: 250 }, (_, n) => ({
      fileId: `f${n}`,
      extra: 'permissions',
    }));
    const gateway = standInGateway(
      calls,
      (request) =>
        ({
          method: 'drive.permissions.list',
          ok: true,
          request,
          value: { items: [{ id: request.fileId, type: 'anyone', role: 'reader' }], nextPageToken: null },
        }) as DriveBatchResult,
    );
    const outcomes = await readExtrasBatched(gateway, many, 8, fullBatches);
    expect(calls.sort()).toEqual(['batch(100)', 'batch(100)', 'batch(50)']);
    expect(outcomes.map((o) => (o.ok ? o.extras.permissions?.[0]?.id : null))).toEqual(
      many.map((r) => r.fileId),
    );
  });

  it('sends batches as large and as many at once as the plan for the page says', async () => {
    const many: ExtraRequest[] = Array.from({ length: 50 }, (_, n) => ({
      fileId: `f${n}`,
      extra: 'comments',
    }));
    const sizes: number[] = [];
    let inFlight = 0;
    let mostInFlight = 0;
    const gateway = {
      batchGet: async (batch: readonly DriveBatchRequest[]) => {
        sizes.push(batch.length);
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
        return batch.map(
          (request) =>
            ({
              method: 'drive.comments.list',
              ok: true,
              request,
              value: { items: [{ id: request.fileId }], nextPageToken: null },
            }) as unknown as DriveBatchResult,
        );
      },
    } as unknown as DriveGateway;
    const planned: number[] = [];
    const outcomes = await readExtrasBatched(gateway, many, 8, (parts) => {
      planned.push(parts);
      return { partsPerBatch: 7, batchesInFlight: 3 };
    });
    expect(planned).toEqual([50]);
    expect(sizes).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
    expect(mostInFlight).toBe(3);
    expect(outcomes.map((o) => (o.ok ? o.extras.comments?.[0]?.id : null))).toEqual(
      many.map((r) => r.fileId),
    );
  });

  it('asks nothing for no requests', async () => {
    const calls: string[] = [];
    expect(
      await readExtrasBatched(
        standInGateway(calls, () => ({}) as DriveBatchResult),
        [],
        8,
        fullBatches,
      ),
    ).toEqual([]);
    expect(calls).toEqual([]);
  });
});
