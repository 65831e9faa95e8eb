import { describe, expect, it } from 'vitest';
import type {
  DriveCorpus,
  DriveReader,
  ExtraOutcome,
  ExtraRequest,
  FileExtras,
  Page,
} from '../../src/actors/ports.js';
import {
  extraRequestsOf,
  extrasFromOutcomes,
  type FullSyncProgress,
  runFullSync,
  runIncrementalSync,
  type SyncRunDeps,
} from '../../src/actors/sync-runs.js';
import { SyncSlots } from '../../src/actors/sync-slots.js';
import type { FullSyncResume } from '../../src/contract/checkpoint.js';
import type { DriveChange, DriveFile } from '../../src/contract/drive-resources.js';
import type { OutboundRecord } from '../../src/contract/records.js';

/**
 * The full-sync page loop over a stand-in Drive of two corpora (My Drive and one shared
 * drive), two pages each: where the checkpoint says to resume after each page.
 */
const pages: Record<string, Array<Page<DriveFile>>> = {
  user: [
    { items: [file('u1')], nextPageToken: 'u-p2' },
    { items: [file('u2')], nextPageToken: null },
  ],
  'drive-1': [
    { items: [file('d1')], nextPageToken: 'd-p2' },
    { items: [file('d2')], nextPageToken: null },
  ],
};

function file(id: string): DriveFile {
  return { id, name: id, mimeType: 'text/plain', trashed: false } as DriveFile;
}

function standInDrive(listed: string[]): DriveReader {
  return {
    getStartPageToken: async () => '100',
    listDrives: async () => ({ items: [{ id: 'drive-1', name: 'Team' }], nextPageToken: null }),
    listFiles: async (corpus: DriveCorpus, pageToken: string | null) => {
      const name = corpus.kind === 'user' ? 'user' : corpus.driveId;
      listed.push(`${name}:${pageToken ?? 'start'}`);
      const index = pageToken === null ? 0 : 1;
      return pages[name]?.[index] ?? { items: [], nextPageToken: null };
    },
    listChanges: async () => ({ changes: [], nextPageToken: null, newStartPageToken: '101' }),
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

function deps(listed: string[]): SyncRunDeps {
  return {
    drive: standInDrive(listed),
    records: {
      drive: () => [],
      file: (f) => [{ resource_type: 'file', resource_id: f.id } as OutboundRecord],
      change: () => [],
    },
    publisher: { publish: async () => undefined },
    slots: new SyncSlots(1),
    isRetryable: () => true,
    onExtraFailed: async () => undefined,
    extrasConcurrency: 2,
  };
}

const scope = {
  connectionId: 'conn_1',
  correlationId: null,
  options: { include: [], driveIds: null },
  includeSharedDrives: true,
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
      { phase: 'files', corpus: 'user', pageToken: 'u-p2' },
      { phase: 'files', corpus: 'drive-1', pageToken: null },
      { phase: 'files', corpus: 'drive-1', pageToken: 'd-p2' },
    ]);
    expect(progress.at(-2)).toEqual({ phase: 'catch_up', corpus: null, pageToken: '100' });
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
    expect(listed).toEqual(['drive-1:start', 'drive-1:d-p2']);
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

  it('puts outcomes back per file; a failure for good is reported and its extra left out', async () => {
    const files = [doc('a'), doc('mine', { permissions: [inlinePermission] })];
    const requests = extraRequestsOf(files, include);
    const notFound = new Error('comments gone');
    const outcomes: ExtraOutcome[] = requests.map((request) =>
      request.fileId === 'a' && request.extra === 'comments'
        ? { ok: false, error: notFound }
        : {
            ok: true,
            extras: { [request.extra]: [{ id: `${request.fileId}-${request.extra}` }] } as FileExtras,
          },
    );
    const reported: string[] = [];
    const byFile = await extrasFromOutcomes(files, include, requests, outcomes, {
      isRetryable: () => false,
      onExtraFailed: async (fileId, extra, error) => {
        reported.push(`${fileId}:${extra}:${(error as Error).message}`);
      },
    });
    expect(reported).toEqual(['a:comments:comments gone']);
    expect(byFile.get('a')).toEqual({
      permissions: [{ id: 'a-permissions' }],
      revisions: [{ id: 'a-revisions' }],
    });
    expect(byFile.get('mine')).toEqual({
      permissions: [inlinePermission],
      revisions: [{ id: 'mine-revisions' }],
      comments: [{ id: 'mine-comments' }],
    });
  });

  it('a retryable failure stops the page before anything is reported', async () => {
    const files = [doc('a')];
    const requests = extraRequestsOf(files, include);
    const busy = new Error('503');
    const gone = new Error('404');
    const outcomes: ExtraOutcome[] = [
      { ok: false, error: gone },
      { ok: false, error: busy },
      { ok: true, extras: { comments: [] } },
    ];
    const reported: string[] = [];
    await expect(
      extrasFromOutcomes(files, include, requests, outcomes, {
        isRetryable: (error) => error === busy,
        onExtraFailed: async (fileId) => {
          reported.push(fileId);
        },
      }),
    ).rejects.toBe(busy);
    expect(reported).toEqual([]);
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

  it('a retryable content failure fails the page too, to be read again', async () => {
    const { run, published } = withContent(async () => ({ ok: false, error: new Error('busy') }));
    await expect(run).rejects.toThrow('busy');
    expect(published).toEqual([]);
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
