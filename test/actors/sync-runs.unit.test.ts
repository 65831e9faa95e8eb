import { describe, expect, it } from 'vitest';
import type {
  DriveCorpus,
  DriveReader,
  ExtraOutcome,
  ExtraRequest,
  FileExtras,
  FileQuery,
} from '../../src/actors/ports.js';
import {
  extraRequestsOf,
  type FullSyncProgress,
  readPageExtras,
  runFullSync,
  runIncrementalSync,
  type SyncRunDeps,
} from '../../src/actors/sync-runs.js';
import { SyncSlots } from '../../src/actors/sync-slots.js';
import type { FullSyncResume } from '../../src/contract/checkpoint.js';
import type { DriveChange, DriveFile } from '../../src/contract/drive-resources.js';
import type { OutboundRecord } from '../../src/contract/records.js';
import { ClassifiedError } from '../../src/machines/classify.js';

/**
 * The full-sync page loop over a stand-in Drive of two corpora (My Drive and one shared
 * drive) of three items each, two to a page, answering keyset queries (`createdTime >=`,
 * in creation order) with offset page tokens as the emulator does: where the checkpoint
 * says to resume after each page.
 */
const corpora: Record<string, DriveFile[]> = {
  user: [file('u1', 1), file('u2', 2), file('u3', 3)],
  'drive-1': [file('d1', 4), file('d2', 5), file('d3', 6)],
};

function file(id: string, second = 0): DriveFile {
  return {
    id,
    name: id,
    mimeType: 'text/plain',
    trashed: false,
    createdTime: new Date(Date.UTC(2025, 0, 1, 0, 0, second, 250)).toISOString(),
  } as DriveFile;
}

const at = (second: number) =>
  new Date(Date.UTC(2025, 0, 1, 0, 0, second)).toISOString().replace('.000Z', 'Z');

function standInDrive(listed: string[], items: Record<string, DriveFile[]> = corpora): DriveReader {
  return {
    getStartPageToken: async () => '100',
    listDrives: async () => ({ items: [{ id: 'drive-1', name: 'Team' }], nextPageToken: null }),
    listFiles: async (corpus: DriveCorpus, pageToken: string | null, query?: FileQuery) => {
      const name = corpus.kind === 'user' ? 'user' : corpus.driveId;
      listed.push(`${name}:${query?.q ?? 'start'}${pageToken ? `@${pageToken}` : ''}`);
      const bound = /createdTime >= '([^']+)'/.exec(query?.q ?? '')?.[1];
      const matching = (items[name] ?? []).filter(
        (f) => bound === undefined || Date.parse(f.createdTime as string) >= Date.parse(bound),
      );
      const offset = pageToken === null ? 0 : Number(pageToken);
      const next = offset + 2 < matching.length ? String(offset + 2) : null;
      return { items: matching.slice(offset, offset + 2), nextPageToken: next };
    },
    listChanges: async () => ({ changes: [], nextPageToken: null, newStartPageToken: '101' }),
    getFile: async (fileId) => {
      const found = Object.values(items)
        .flat()
        .find((f) => f.id === fileId);
      if (!found)
        throw new ClassifiedError({
          classification: 'not_found',
          code: 'notFound',
          message: 'File not found',
          retryable: false,
          httpStatus: 404,
          retryAfterMs: null,
          cursorInvalid: false,
        });
      return found;
    },
    allPermissions: async () => [],
    allRevisions: async () => [],
    allComments: async () => [],
    exportFile: async () => {
      throw new Error('no content in this stand-in');
    },
    downloadFile: async () => {
      throw new Error('no content in this stand-in');
    },
  };
}

function deps(listed: string[], items?: Record<string, DriveFile[]>): SyncRunDeps {
  return {
    drive: standInDrive(listed, items),
    records: {
      drive: () => [],
      file: (f) => [{ resource_type: 'file', resource_id: f.id } as OutboundRecord],
      change: () => [],
      removed: (type, id) => [
        { resource_type: type, resource_id: id, operation: 'delete' } as OutboundRecord,
      ],
    },
    publisher: { publish: async () => undefined },
    slots: new SyncSlots(1),
    isRetryable: () => true,
    onExtraFailed: async () => undefined,
    extrasConcurrency: 2,
    itemIsolation: { sleep: async () => undefined },
  };
}

const scope = {
  connectionId: 'conn_1',
  correlationId: null,
  options: { include: [], driveIds: null },
  includeSharedDrives: true,
  // After every stand-in item was created: none of them needs confirming.
  startedAt: '2030-01-01T00:00:00.000Z',
};

describe('runFullSync resume points', () => {
  it('after a corpus’s last page names the next corpus, and after the last corpus the catch-up', async () => {
    const progress: FullSyncResume[] = [];
    await runFullSync(
      deps([]),
      scope,
      { startPageToken: null, resume: null, counts: {} },
      (p: FullSyncProgress) => progress.push(p.resume),
      new AbortController().signal,
    );
    expect(progress.filter((r) => r.phase === 'files')).toEqual([
      { phase: 'files', corpus: null, pageToken: null },
      { phase: 'files', corpus: 'user', pageToken: null, after: { since: at(2), seen: ['u2'] } },
      { phase: 'files', corpus: 'drive-1', pageToken: null },
      { phase: 'files', corpus: 'drive-1', pageToken: null, after: { since: at(5), seen: ['d2'] } },
    ]);
    expect(progress.at(-2)).toEqual({ phase: 'catch_up', corpus: null, pageToken: '100' });
  });

  it('lists the shared drives once when it walks them in the same life, again only when resumed past that list', async () => {
    const countingDrives = () => {
      const base = deps([]);
      const counter = { calls: 0 };
      const drive: DriveReader = {
        ...base.drive,
        listDrives: (pageToken) => {
          counter.calls++;
          return base.drive.listDrives(pageToken);
        },
      };
      return { deps: { ...base, drive }, counter };
    };
    const fresh = countingDrives();
    await runFullSync(
      fresh.deps,
      scope,
      { startPageToken: null, resume: null, counts: {} },
      () => undefined,
      new AbortController().signal,
    );
    expect(fresh.counter.calls).toBe(1);
    const resumed = countingDrives();
    await runFullSync(
      resumed.deps,
      scope,
      { startPageToken: '100', resume: { phase: 'files', corpus: null, pageToken: null }, counts: {} },
      () => undefined,
      new AbortController().signal,
    );
    expect(resumed.counter.calls).toBe(1);
  });

  it('resumed after My Drive’s last page, it does not walk My Drive again', async () => {
    const listed: string[] = [];
    await runFullSync(
      deps(listed),
      scope,
      { startPageToken: '100', resume: { phase: 'files', corpus: 'drive-1', pageToken: null }, counts: {} },
      () => undefined,
      new AbortController().signal,
    );
    expect(listed).toEqual(['drive-1:start', `drive-1:createdTime >= '${at(5)}'`]);
  });
});

describe('the keyset walk loses no unchanged item when the listing shifts', () => {
  it('items deleted before the position between two pages shift nothing: every survivor is listed', async () => {
    const items = { user: [1, 2, 3, 4, 5, 6].map((n) => file(`u${n}`, n)), 'drive-1': [] };
    const published: string[] = [];
    const base = deps([], items);
    const drive = base.drive;
    let pages = 0;
    await runFullSync(
      {
        ...base,
        drive: {
          ...drive,
          listFiles: async (corpus, pageToken, query) => {
            const page = await drive.listFiles(corpus, pageToken, query);
            // After the first page, the first two items are deleted: an offset walk would skip u3 and u4.
            if (corpus.kind === 'user' && ++pages === 1) items.user.splice(0, 2);
            return page;
          },
        },
        publisher: {
          publish: async (records) => {
            published.push(...records.map((r) => r.resource_id));
          },
        },
      },
      scope,
      { startPageToken: null, resume: null, counts: {} },
      () => undefined,
      new AbortController().signal,
    );
    expect([...new Set(published)].sort()).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
  });

  it('a resume token Drive no longer accepts restarts that corpus from its position, nothing else', async () => {
    const listed: string[] = [];
    const base = deps(listed);
    const stale = new ClassifiedError({
      classification: 'invalid_input',
      code: 'invalidPageToken',
      message: 'Invalid Value',
      retryable: false,
      httpStatus: 400,
      retryAfterMs: null,
      // Not the change log's cursor: a files.list token says nothing about it.
      cursorInvalid: false,
    });
    let changeTokens: string[] = [];
    await runFullSync(
      {
        ...base,
        drive: {
          ...base.drive,
          listFiles: async (corpus, pageToken, query) => {
            if (pageToken === 'expired') {
              listed.push('refused');
              throw stale;
            }
            return base.drive.listFiles(corpus, pageToken, query);
          },
          listChanges: async (token) => {
            changeTokens = [...changeTokens, token];
            return { changes: [], nextPageToken: null, newStartPageToken: '101' };
          },
        },
      },
      scope,
      {
        startPageToken: '100',
        resume: { phase: 'files', corpus: 'drive-1', pageToken: 'expired', after: null },
        counts: {},
      },
      () => undefined,
      new AbortController().signal,
    );
    expect(listed).toEqual(['refused', 'drive-1:start', `drive-1:createdTime >= '${at(5)}'`]);
    expect(changeTokens).toEqual(['100']);
  });
});

describe('per-file extras grouped for batch requests', () => {
  const include = ['permissions', 'revisions', 'comments'] as const;
  const doc = (id: string, extra: Partial<DriveFile> = {}) =>
    ({ id, name: id, mimeType: 'application/vnd.google-apps.document', ...extra }) as DriveFile;
  const folder = { id: 'dir', name: 'dir', mimeType: 'application/vnd.google-apps.folder' } as DriveFile;
  const inlinePermission = { id: 'p-inline', type: 'user', role: 'owner' } as const;

  it('asks one part per file and extra, skipping what the unbatched path skips', () => {
    const files = [
      doc('a'),
      doc('mine', { permissions: [inlinePermission] }),
      doc('shared', { permissions: [inlinePermission], driveId: 'd1' }),
      doc('no-history', { capabilities: { canReadRevisions: false } }),
      folder,
    ];
    expect(extraRequestsOf(files, include)).toEqual([
      { fileId: 'a', extra: 'permissions' },
      { fileId: 'a', extra: 'revisions' },
      { fileId: 'a', extra: 'comments' },
      // My Drive permissions came inline with the file: no call
      { fileId: 'mine', extra: 'revisions' },
      { fileId: 'mine', extra: 'comments' },
      // shared-drive items never carry them inline
      { fileId: 'shared', extra: 'permissions' },
      { fileId: 'shared', extra: 'revisions' },
      { fileId: 'shared', extra: 'comments' },
      { fileId: 'no-history', extra: 'permissions' },
      { fileId: 'no-history', extra: 'comments' },
      // folders have neither revisions nor comments
      { fileId: 'dir', extra: 'permissions' },
    ]);
    expect(extraRequestsOf(files, ['comments'])).toHaveLength(4);
    expect(extraRequestsOf(files, [])).toEqual([]);
  });

  it('puts outcomes back per file; a failure for good is given up at once and its extra left out', async () => {
    const files = [doc('a'), doc('mine', { permissions: [inlinePermission] })];
    const notFound = new Error('comments gone');
    const asked: ExtraRequest[] = [];
    const base = deps([]);
    const extras = await readPageExtras(
      {
        ...base,
        isRetryable: () => false,
        drive: {
          ...base.drive,
          batchExtras: async (requests) => {
            asked.push(...requests);
            return requests.map((request) =>
              request.fileId === 'a' && request.extra === 'comments'
                ? { ok: false, error: notFound }
                : {
                    ok: true,
                    extras: { [request.extra]: [{ id: `${request.fileId}-${request.extra}` }] } as FileExtras,
                  },
            );
          },
        },
      },
      { ...scope, options: { include: [...include], driveIds: null } },
      files,
      new AbortController().signal,
    );
    expect(asked).toEqual(extraRequestsOf(files, include));
    expect(extras.givenUp.map((g) => [g.fileId, g.extra, g.attempts, g.error])).toEqual([
      ['a', 'comments', 1, notFound],
    ]);
    expect(extras.byFile.get('a')).toEqual({
      permissions: [{ id: 'a-permissions' }],
      revisions: [{ id: 'a-revisions' }],
    });
    expect(extras.byFile.get('mine')).toEqual({
      permissions: [inlinePermission],
      revisions: [{ id: 'mine-revisions' }],
      comments: [{ id: 'mine-comments' }],
    });
  });

  it('a full sync gives the same records batched and unbatched, the batched one in one call per page', async () => {
    const corpus: DriveFile[] = [
      doc('a'),
      doc('mine', { permissions: [inlinePermission] }),
      folder,
      { ...doc('gone'), trashed: true },
    ];
    const drive = (): DriveReader => {
      const base = standInDrive([]);
      const list = (kind: string) => async (fileId: string) => [{ id: `${fileId}-${kind}` }];
      return {
        ...base,
        listDrives: async () => ({ items: [], nextPageToken: null }),
        listFiles: async (corpusName: DriveCorpus) =>
          corpusName.kind === 'user'
            ? { items: corpus, nextPageToken: null }
            : { items: [], nextPageToken: null },
        allPermissions: list('permission') as DriveReader['allPermissions'],
        allRevisions: list('revision') as DriveReader['allRevisions'],
        allComments: list('comment') as DriveReader['allComments'],
      };
    };
    const recordsOf = async (batched: boolean) => {
      const published: OutboundRecord[] = [];
      const batches: ExtraRequest[][] = [];
      const reader = drive();
      const withBatch: DriveReader = batched
        ? {
            ...reader,
            batchExtras: async (requests) => {
              batches.push([...requests]);
              return Promise.all(
                requests.map(async (request): Promise<ExtraOutcome> => {
                  const read = {
                    permissions: reader.allPermissions,
                    revisions: reader.allRevisions,
                    comments: reader.allComments,
                  }[request.extra];
                  return { ok: true, extras: { [request.extra]: await read(request.fileId) } };
                }),
              );
            },
          }
        : reader;
      await runFullSync(
        {
          ...deps([]),
          drive: withBatch,
          records: {
            drive: () => [],
            file: (f, extras) => [
              {
                resource_type: 'file',
                resource_id: f.id,
                data: { extras: JSON.parse(JSON.stringify(extras)) },
              } as unknown as OutboundRecord,
            ],
            change: () => [],
            removed: () => [],
          },
          publisher: {
            publish: async (records) => {
              published.push(...records);
            },
          },
        },
        { ...scope, options: { include, driveIds: null }, includeSharedDrives: false },
        { startPageToken: null, resume: null, counts: {} },
        () => undefined,
        new AbortController().signal,
      );
      return { published, batches };
    };
    const plain = await recordsOf(false);
    const batched = await recordsOf(true);
    expect(batched.published).toEqual(plain.published);
    expect(batched.batches).toHaveLength(1);
    expect(batched.batches[0]).toEqual(
      extraRequestsOf(
        corpus.filter((f) => !f.trashed),
        include,
      ),
    );
    expect(plain.published.find((r) => r.resource_id === 'a')?.data).toEqual({
      extras: {
        permissions: [{ id: 'a-permission' }],
        revisions: [{ id: 'a-revision' }],
        comments: [{ id: 'a-comment' }],
      },
    });
  });
});

describe('content in the page loop', () => {
  const withContent = (attach: NonNullable<SyncRunDeps['content']>['attach']) => {
    const published: OutboundRecord[] = [];
    const reported: string[] = [];
    const run = runFullSync(
      {
        ...deps([]),
        isRetryable: (error) => (error as Error).message === 'busy',
        onExtraFailed: async (fileId, extra) => {
          reported.push(`${fileId}:${extra}`);
        },
        records: {
          drive: () => [],
          file: (f) => [{ resource_type: 'file', resource_id: f.id, operation: 'upsert' } as OutboundRecord],
          change: () => [],
          removed: () => [],
        },
        publisher: {
          publish: async (records) => {
            published.push(...records);
          },
        },
        content: { attach },
      },
      { ...scope, options: { include: ['content'], driveIds: null }, includeSharedDrives: false },
      { startPageToken: null, resume: null, counts: {} },
      () => undefined,
      new AbortController().signal,
    );
    return { run, published, reported };
  };

  it('content Drive cannot give is reported against the file, whose record goes without it', async () => {
    const { run, published, reported } = withContent(async (file, record) =>
      file.id === 'u1'
        ? { ok: false, error: new Error('exportSizeLimitExceeded') }
        : { ok: true, record: { ...record, payload: `content of ${file.id}` } },
    );
    await run;
    expect(reported).toEqual(['u1:content']);
    expect(published.map((r) => [r.resource_id, r.payload ?? null])).toEqual([
      ['u1', null],
      ['u2', 'content of u2'],
      ['u3', 'content of u3'],
    ]);
  });

  it('a failed upload fails the page: nothing of it is published', async () => {
    const { run, published, reported } = withContent(async () => {
      throw new Error('S3 unreachable');
    });
    await expect(run).rejects.toThrow('S3 unreachable');
    expect(published).toEqual([]);
    expect(reported).toEqual([]);
  });

  it('a retryable content failure is read again alone; past its attempts it is reported and the page goes on', async () => {
    const reads: string[] = [];
    const { run, published, reported } = withContent(async (file, record) => {
      reads.push(file.id);
      return file.id === 'u1'
        ? { ok: false, error: new Error('busy') }
        : { ok: true, record: { ...record, payload: `content of ${file.id}` } };
    });
    await run;
    expect(reads.filter((id) => id === 'u1')).toHaveLength(4);
    expect(reads.filter((id) => id !== 'u1')).toEqual(['u2', 'u3']);
    expect(reported).toEqual(['u1:content']);
    expect(published.map((r) => r.resource_id)).toEqual(['u1', 'u2', 'u3']);
  });
});

describe('a shared drive lost in the change log', () => {
  it('is the only record for the drive: the removals of its files in the same run, on later pages too, are covered by its cascade', async () => {
    const at = '2026-01-01T00:00:00Z';
    const changePages: DriveChange[][] = [
      [
        { changeType: 'file', time: at, removed: true, fileId: 'f-before', driveId: 'sd1' },
        { changeType: 'drive', time: at, removed: true, driveId: 'sd1' },
        { changeType: 'file', time: at, removed: true, fileId: 'f1', driveId: 'sd1' },
      ],
      [
        { changeType: 'file', time: at, removed: true, fileId: 'f2', driveId: 'sd1' },
        { changeType: 'file', time: at, removed: true, fileId: 'other', driveId: 'sd2' },
        { changeType: 'file', time: at, removed: true, fileId: 'mine' },
      ],
      // the user joins again: later removals in that drive are the files' own again
      [
        { changeType: 'drive', time: at, driveId: 'sd1', drive: { id: 'sd1', name: 'Back' } },
        { changeType: 'file', time: at, removed: true, fileId: 'f3', driveId: 'sd1' },
      ],
    ];
    const changed: string[] = [];
    const run = deps([]);
    await runIncrementalSync(
      {
        ...run,
        drive: {
          ...run.drive,
          listChanges: async (token) => {
            const index = Number(token);
            return {
              changes: changePages[index] ?? [],
              nextPageToken: index + 1 < changePages.length ? String(index + 1) : null,
              newStartPageToken: index + 1 < changePages.length ? null : '9',
            };
          },
        },
        records: {
          ...run.records,
          change: (change) => {
            changed.push(change.fileId ?? `drive:${change.driveId}`);
            return [];
          },
        },
      },
      scope,
      '0',
      {},
      () => undefined,
      new AbortController().signal,
    );
    expect(changed).toEqual(['drive:sd1', 'other', 'mine', 'drive:sd1', 'f3']);
  });
});

describe('an item the walk listed and the change log swallowed', () => {
  it('created after the start token and deleted before the catch-up, it is read once after the catch-up and gets its delete', async () => {
    // u2 and u3 were created after the sync began; u3 is gone by the catch-up, and the log
    // (coalescing its creation and removal) never names it. u2 is named by a change.
    const walked = { user: corpora.user ?? [] };
    const now = { user: (corpora.user ?? []).filter((f) => f.id !== 'u3') };
    const published: OutboundRecord[] = [];
    const gets: string[] = [];
    const run = deps([], walked);
    const afterWalk = deps([], now);
    let caughtUp = false;
    const progress: FullSyncProgress[] = [];
    await runFullSync(
      {
        ...run,
        drive: {
          ...run.drive,
          listDrives: async () => ({ items: [], nextPageToken: null }),
          listChanges: async () => {
            caughtUp = true;
            return {
              changes: [
                { changeType: 'file', time: at(9), removed: false, fileId: 'u2', file: file('u2', 2) },
              ],
              nextPageToken: null,
              newStartPageToken: '101',
            };
          },
          getFile: async (fileId) => {
            expect(caughtUp).toBe(true);
            gets.push(fileId);
            return afterWalk.drive.getFile(fileId);
          },
        },
        publisher: {
          publish: async (records) => {
            published.push(...records);
          },
        },
      },
      // Started five minutes (the clock margin) after u2's second: u1 is older than that.
      {
        ...scope,
        includeSharedDrives: false,
        startedAt: new Date(Date.UTC(2025, 0, 1, 0, 5, 2)).toISOString(),
      },
      { startPageToken: null, resume: null, counts: {} },
      (p) => progress.push(p),
      new AbortController().signal,
    );
    expect(gets).toEqual(['u3']);
    expect(published.filter((r) => r.operation === 'delete').map((r) => r.resource_id)).toEqual(['u3']);
    // The checkpoint carried the items to confirm until the catch-up spoke of them.
    const catchUp = progress.filter((p) => p.resume.phase === 'catch_up');
    expect(catchUp[0]?.unconfirmed).toEqual(['u2', 'u3']);
    expect(catchUp.at(-1)?.unconfirmed).toEqual(['u3']);
  });
});

describe('per-item isolation in the page loop', () => {
  const include = ['revisions', 'comments'] as const;
  const busy = (classification: 'transient' | 'rate_limited' = 'transient') =>
    new ClassifiedError({
      classification,
      code: classification === 'transient' ? 'backendError' : 'rateLimitExceeded',
      message: 'busy',
      retryable: true,
      httpStatus: classification === 'transient' ? 500 : 403,
      retryAfterMs: null,
      cursorInvalid: false,
    });
  const items = { user: [1, 2, 3, 4, 5, 6].map((n) => file(`u${n}`, n)), 'drive-1': [] };
  const run = (reader: Partial<DriveReader>) => {
    const listed: string[] = [];
    const reported: string[] = [];
    const published: string[] = [];
    const base = deps(listed, items);
    const promise = runFullSync(
      {
        ...base,
        isRetryable: (error) => error instanceof ClassifiedError && error.failure.retryable,
        drive: { ...base.drive, ...reader },
        onExtraFailed: async (fileId, extra, _error, attempts) => {
          reported.push(`${fileId}:${extra}:${attempts}`);
        },
        publisher: {
          publish: async (records) => {
            published.push(...records.map((r) => r.resource_id));
          },
        },
      },
      { ...scope, options: { include: [...include], driveIds: null }, includeSharedDrives: false },
      { startPageToken: null, resume: null, counts: {} },
      () => undefined,
      new AbortController().signal,
    );
    return { promise, listed, reported, published };
  };

  it('a file whose revisions fail forever: one report after its attempts, its page and the walk go on', async () => {
    const reads: string[] = [];
    const r = run({
      allRevisions: async (fileId) => {
        reads.push(fileId);
        if (fileId === 'u3') throw busy();
        return [];
      },
    });
    await r.promise;
    expect(reads.filter((id) => id === 'u3')).toHaveLength(4);
    expect(r.reported).toEqual(['u3:revisions:4']);
    expect(r.published).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6']);
    // As many listings as a walk without failures (pages of 2, each re-reading its bound's second):
    // the failing item was read again alone, not its page.
    expect(r.listed).toHaveLength(5);
  });

  it('a rate-limited extra is read again alone and lands; nothing reported, no page listed again', async () => {
    let refusals = 2;
    const reads: string[] = [];
    const r = run({
      allComments: async (fileId) => {
        reads.push(fileId);
        if (fileId === 'u2' && refusals-- > 0) throw busy('rate_limited');
        return [];
      },
    });
    await r.promise;
    expect(reads.filter((id) => id === 'u2')).toHaveLength(3);
    expect(reads.filter((id) => id !== 'u2')).toHaveLength(5);
    expect(r.reported).toEqual([]);
    expect(r.listed).toHaveLength(5);
  });

  it('a rate limit past its attempts fails the page, reporting nothing', async () => {
    const r = run({
      allComments: async (fileId) => {
        if (fileId === 'u1') throw busy('rate_limited');
        return [];
      },
    });
    await expect(r.promise).rejects.toThrow('busy');
    expect(r.reported).toEqual([]);
    expect(r.published).toEqual([]);
  });

  it('most items of a page failing alike is an outage: the page fails, nothing reported or published', async () => {
    const wide = { user: [1, 2, 3, 4].map((n) => file(`w${n}`, n)), 'drive-1': [] };
    const reported: string[] = [];
    const published: string[] = [];
    const base = deps([], wide);
    await expect(
      runFullSync(
        {
          ...base,
          isRetryable: () => true,
          drive: {
            ...base.drive,
            listFiles: async () => ({ items: wide.user, nextPageToken: null }),
            allRevisions: async () => {
              throw busy();
            },
          },
          onExtraFailed: async (fileId) => {
            reported.push(fileId);
          },
          publisher: {
            publish: async (records) => {
              published.push(...records.map((r) => r.resource_id));
            },
          },
        },
        { ...scope, options: { include: ['revisions'], driveIds: null }, includeSharedDrives: false },
        { startPageToken: null, resume: null, counts: {} },
        () => undefined,
        new AbortController().signal,
      ),
    ).rejects.toThrow('busy');
    expect(reported).toEqual([]);
    expect(published).toEqual([]);
  });
});

describe('sub-page progress', () => {
  it('a page is published and checkpointed in chunks, each naming the keyset position inside the page', async () => {
    const items = { user: [1, 1, 2, 3, 4].map((n, i) => file(`c${i}`, n)), 'drive-1': [] };
    const base = deps([], items);
    const progress: FullSyncResume[] = [];
    const batches: string[][] = [];
    await runFullSync(
      {
        ...base,
        drive: { ...base.drive, listFiles: async () => ({ items: items.user, nextPageToken: null }) },
        chunkItems: 2,
        publisher: {
          publish: async (records) => {
            batches.push(records.map((r) => r.resource_id));
          },
        },
      },
      { ...scope, includeSharedDrives: false },
      { startPageToken: '100', resume: { phase: 'files', corpus: null, pageToken: null }, counts: {} },
      (p) => progress.push(p.resume),
      new AbortController().signal,
    );
    expect(batches.slice(0, 3)).toEqual([['c0', 'c1'], ['c2', 'c3'], ['c4']]);
    expect(progress.slice(0, 3)).toEqual([
      { phase: 'files', corpus: 'user', pageToken: null, after: { since: at(1), seen: ['c0', 'c1'] } },
      { phase: 'files', corpus: 'user', pageToken: null, after: { since: at(3), seen: ['c3'] } },
      { phase: 'catch_up', corpus: null, pageToken: '100' },
    ]);
  });

  it('resumed from a position inside a page, it lists from there and sends only what follows', async () => {
    const items = { user: [1, 2, 3, 4, 5, 6].map((n) => file(`u${n}`, n)), 'drive-1': [] };
    const listed: string[] = [];
    const published: string[] = [];
    await runFullSync(
      {
        ...deps(listed, items),
        chunkItems: 1,
        publisher: {
          publish: async (records) => {
            published.push(...records.map((r) => r.resource_id));
          },
        },
      },
      { ...scope, includeSharedDrives: false },
      {
        startPageToken: '100',
        resume: { phase: 'files', corpus: 'user', pageToken: null, after: { since: at(3), seen: ['u3'] } },
        counts: {},
      },
      () => undefined,
      new AbortController().signal,
    );
    expect(published).toEqual(['u4', 'u5', 'u6']);
    expect(listed[0]).toBe(`user:createdTime >= '${at(3)}'`);
  });
});

describe('a change page’s records', () => {
  it('are published chunkItems at a time, in page order, the joined drive’s walk included, before the cursor moves', async () => {
    const at = '2026-01-01T00:00:00Z';
    const fileChange = (id: string): DriveChange => ({
      changeType: 'file',
      time: at,
      removed: false,
      fileId: id,
      file: file(id),
    });
    const page: DriveChange[] = [
      ...['f1', 'f2', 'f3', 'f4', 'f5'].map(fileChange),
      // The user joined drive-1: its three items are walked with the page.
      { changeType: 'drive', time: at, driveId: 'drive-1', drive: { id: 'drive-1', name: 'Team' } },
    ];
    const calls: string[][] = [];
    const progressAfterCalls: number[] = [];
    const run = deps([]);
    await runIncrementalSync(
      {
        ...run,
        chunkItems: 2,
        drive: {
          ...run.drive,
          listChanges: async () => ({ changes: page, nextPageToken: null, newStartPageToken: '9' }),
        },
        records: {
          ...run.records,
          change: (change) => [
            {
              resource_type: 'file',
              resource_id: change.fileId ?? `drive:${change.driveId}`,
            } as OutboundRecord,
          ],
        },
        publisher: {
          publish: async (records) => {
            calls.push(records.map((r) => r.resource_id));
          },
        },
      },
      scope,
      '0',
      {},
      () => progressAfterCalls.push(calls.length),
      new AbortController().signal,
    );
    expect(calls).toEqual([['f1', 'f2'], ['f3', 'f4'], ['f5', 'drive:drive-1'], ['d1', 'd2'], ['d3']]);
    // The cursor moved once, after the page's last chunk.
    expect(progressAfterCalls).toEqual([5]);
  });
});
