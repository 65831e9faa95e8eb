import type { DriveChange, DriveFile } from '../contract/drive-resources.js';
import { failureOf } from '../machines/classify.js';
import {
  advanceKeyset,
  KEYSET_ORDER_BY,
  type KeysetPosition,
  type KeysetStep,
  keysetBound,
  keysetMoved,
} from '../machines/keyset-walk.js';
import type { DriveCorpus, DriveReader, FilePage } from './ports.js';

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
  const inFolder = `'${escapeQuery(folder.id)}' in parents`;
  // In creation order by keyset, as the corpus walk (keyset-walk.ts): offset page tokens
  // skip a child when an earlier one leaves the folder between two pages. Drive not
  // honouring the order falls back to page tokens.
  const read = async (corpus: DriveCorpus) => {
    const items: DriveFile[] = [];
    let after: KeysetPosition | null = null;
    let pageToken: string | null = null;
    let keyset = true;
    for (;;) {
      const bound = keyset ? keysetBound(after) : null;
      const page: FilePage = await drive.listFiles(corpus, pageToken, {
        q: bound ? `${inFolder} and ${bound}` : inFolder,
        ...(keyset ? { orderBy: KEYSET_ORDER_BY } : {}),
      });
      if (!keyset) {
        items.push(...page.items);
        if (page.nextPageToken === null) return items;
        pageToken = page.nextPageToken;
        continue;
      }
      const step: KeysetStep<DriveFile> = advanceKeyset(after, page.items);
      if (step.kind === 'unordered') {
        keyset = false;
        items.length = 0;
        pageToken = null;
        continue;
      }
      items.push(...step.fresh);
      if (page.nextPageToken === null) return items;
      if (keysetMoved(after, step.next)) {
        after = step.next;
        pageToken = null;
      } else {
        pageToken = page.nextPageToken;
      }
    }
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
