import type { DriveChange, DriveFile } from '../contract/drive-resources.js';
import { failureOf } from '../machines/classify.js';
import type { DriveCorpus, DriveReader } from './ports.js';

/**
 * What a change to a folder does to the items below it. Drive's change log generally names
 * the folder alone when it is shared, unshared, given a new role or link sharing, moved,
 * trashed or restored (DRIVE_API.md §10.4: "Drive has no changes under folder X"), while
 * every item below now shows other inherited permissions, another trashed state, or another
 * place in or out of the scope. So for each folder a change page names, its subtree is
 * listed again (`'<id>' in parents`, folder by folder) and every item in it re-read; the
 * caller turns them into records. A removed folder cannot be listed: what was below it is
 * removed for the user too, and the change log says so item by item.
 *
 * Cost: one `files.list` per folder of the subtree (per 1,000 children), plus, for items
 * in shared drives, the permissions Drive does not inline. A folder renamed costs the same
 * as one shared: the change carries no earlier state to tell them apart.
 */

const FOLDER = 'application/vnd.google-apps.folder';

/** Folders of a change page whose subtree may now show differently. */
export function foldersToRefresh(changes: readonly DriveChange[]): DriveFile[] {
  return changes.flatMap((change) =>
    change.changeType !== 'drive' && !change.removed && change.file?.mimeType === FOLDER ? [change.file] : [],
  );
}

/** The corpus that lists a folder's children: its shared drive's, or the user's. */
function corpusOf(folder: DriveFile): DriveCorpus {
  return folder.driveId ? { kind: 'drive', driveId: folder.driveId } : { kind: 'user' };
}

function escapeQuery(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}

/**
 * Every item below `roots` (not the roots themselves), each once, breadth first. A folder
 * gone meanwhile (404) or in a drive the user is no member of (listed through the `user`
 * corpus instead) does not stop the rest.
 */
export async function listSubtrees(
  drive: DriveReader,
  roots: readonly DriveFile[],
  signal: AbortSignal,
): Promise<DriveFile[]> {
  const visited = new Set<string>(roots.map((root) => root.id));
  const queue: DriveFile[] = [...roots];
  const found: DriveFile[] = [];
  while (queue.length > 0) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('sync stopped');
    const folder = queue.shift() as DriveFile;
    for (const child of await childrenOf(drive, folder)) {
      if (visited.has(child.id)) continue;
      visited.add(child.id);
      found.push(child);
      if (child.mimeType === FOLDER) queue.push(child);
    }
  }
  return found;
}

async function childrenOf(drive: DriveReader, folder: DriveFile): Promise<DriveFile[]> {
  const q = `'${escapeQuery(folder.id)}' in parents`;
  const read = async (corpus: DriveCorpus) => {
    const items: DriveFile[] = [];
    let pageToken: string | null = null;
    do {
      const page = await drive.listFiles(corpus, pageToken, { q });
      items.push(...page.items);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return items;
  };
  const corpus = corpusOf(folder);
  try {
    return await read(corpus);
  } catch (error) {
    const failure = failureOf(error);
    if (failure.classification !== 'not_found') throw error;
    // A drive the user is no member of (the folder was shared directly): the user corpus lists it.
    if (corpus.kind === 'drive') {
      try {
        return await read({ kind: 'user' });
      } catch (again) {
        if (failureOf(again).classification !== 'not_found') throw again;
      }
    }
    return [];
  }
}
