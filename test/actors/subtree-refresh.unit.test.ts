import { describe, expect, it } from 'vitest';
import type { DriveCorpus, DriveReader, FileQuery } from '../../src/actors/ports.js';
import { listSubtrees } from '../../src/actors/subtree-refresh.js';
import type { DriveFile } from '../../src/contract/drive-resources.js';

/**
 * A folder's children re-read while the folder changes: a stand-in Drive with offset page
 * tokens (as the emulator's, and as Google documents results may shift while paging), two
 * items a page, honouring `createdTime >=` and `orderBy createdTime`.
 */
function child(id: string, second: number): DriveFile {
  return {
    id,
    name: id,
    mimeType: 'text/plain',
    trashed: false,
    parents: ['folder'],
    createdTime: new Date(Date.UTC(2025, 0, 1, 0, 0, second, 250)).toISOString(),
  } as DriveFile;
}

const folder = { id: 'folder', name: 'F', mimeType: 'application/vnd.google-apps.folder' } as DriveFile;

function shiftingDrive(children: DriveFile[], afterFirstPage: () => void): DriveReader {
  let calls = 0;
  const unused = async (): Promise<never> => {
    throw new Error('not in this stand-in');
  };
  return {
    listFiles: async (_corpus: DriveCorpus, pageToken: string | null, query?: FileQuery) => {
      if (calls++ === 1) afterFirstPage();
      const bound = /createdTime >= '([^']+)'/.exec(query?.q ?? '')?.[1];
      const matching = children.filter(
        (f) => bound === undefined || Date.parse(f.createdTime as string) >= Date.parse(bound),
      );
      const offset = pageToken === null ? 0 : Number(pageToken);
      const next = offset + 2 < matching.length ? String(offset + 2) : null;
      return { items: matching.slice(offset, offset + 2), nextPageToken: next };
    },
    getStartPageToken: unused,
    listDrives: unused,
    listChanges: unused,
    getFile: unused,
    allPermissions: unused,
    allRevisions: unused,
    allComments: unused,
    exportFile: unused,
    downloadFile: unused,
  };
}

describe('a subtree re-read while the folder changes', () => {
  it('a child leaving the folder between two pages shifts no other child past the reader', async () => {
    const children = [child('c1', 1), child('c2', 2), child('c3', 3), child('c4', 4)];
    // c1 is moved out after the first page was read: with offset tokens, c3 slides into
    // the page already read and is never listed.
    const drive = shiftingDrive(children, () => children.splice(0, 1));
    const found = await listSubtrees(drive, [folder], new AbortController().signal);
    expect(found.map((f) => f.id).sort()).toEqual(['c1', 'c2', 'c3', 'c4']);
  });
});
