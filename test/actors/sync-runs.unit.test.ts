import { describe, expect, it } from 'vitest';
import type { DriveCorpus, DriveReader, Page } from '../../src/actors/ports.js';
import { type FullSyncProgress, runFullSync, type SyncRunDeps } from '../../src/actors/sync-runs.js';
import { SyncSlots } from '../../src/actors/sync-slots.js';
import type { FullSyncResume } from '../../src/contract/checkpoint.js';
import type { DriveFile } from '../../src/contract/drive-resources.js';
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
