import type { DriveFile } from '../contract/drive-resources.js';
import { failureOf } from '../machines/classify.js';
import {
  advanceKeyset,
  KEYSET_ORDER_BY,
  type KeysetPosition,
  keysetAfter,
  keysetBound,
  keysetMoved,
} from '../machines/keyset-walk.js';
import type { DriveCorpus, DriveReader, FilePage } from './ports.js';

/**
 * One page of a corpus walk at a time, in creation order by keyset (why: keyset-walk.ts),
 * with the fall-backs Drive may force:
 * - a page token Drive no longer accepts (an old resume point, a token that expired during
 *   a long backoff) restarts this corpus's walk from its keyset position — from the
 *   corpus's start when there is none — and never touches the change-log cursor;
 * - Drive not honouring the creation order (documented for very large corpora) makes the
 *   corpus walk by page tokens from its start instead;
 * - `incompleteSearch` on the `user` corpus (Drive did not search every shared drive it
 *   had items of) restarts that corpus without shared-drive items, which Drive can always
 *   search; the shared drives the user is a member of are walked on their own anyway.
 */

export interface CorpusPosition {
  readonly pageToken: string | null;
  readonly after: KeysetPosition | null;
  readonly walk: 'keyset' | 'pages';
  /** `user` corpus without shared-drive items. */
  readonly narrow: boolean;
}

export const CORPUS_START: CorpusPosition = { pageToken: null, after: null, walk: 'keyset', narrow: false };

export interface CorpusStep {
  /** Items this page brings that the walk did not bring before. */
  readonly fresh: readonly DriveFile[];
  /** Where the walk goes on; null: the corpus is done. */
  readonly next: CorpusPosition | null;
  /** Why the walk restarted the corpus, when it did (for logs and tests). */
  readonly restarted?: 'stale_page_token' | 'unordered' | 'incomplete_search';
}

export async function readCorpusPage(
  drive: DriveReader,
  corpus: DriveCorpus,
  position: CorpusPosition,
  options: { readonly idsOnly?: boolean } = {},
): Promise<CorpusStep> {
  const keyset = position.walk === 'keyset';
  const query = {
    ...(options.idsOnly ? { idsOnly: true } : {}),
    ...(keyset ? { orderBy: KEYSET_ORDER_BY } : {}),
    ...(keyset && position.after ? { q: keysetBound(position.after) as string } : {}),
    ...(corpus.kind === 'user' ? { sharedDriveItems: !position.narrow } : {}),
  };
  let page: FilePage;
  try {
    page = await drive.listFiles(corpus, position.pageToken, query);
  } catch (error) {
    // Drive's answer to a page token it no longer accepts (classify.ts: `invalidPageToken`).
    if (position.pageToken === null || failureOf(error).code !== 'invalidPageToken') throw error;
    return {
      fresh: [],
      next: { ...position, pageToken: null, ...(keyset ? {} : { after: null }) },
      restarted: 'stale_page_token',
    };
  }
  if (page.incompleteSearch && corpus.kind === 'user' && !position.narrow) {
    return {
      fresh: [],
      next: { ...CORPUS_START, walk: position.walk, narrow: true },
      restarted: 'incomplete_search',
    };
  }
  if (!keyset) {
    return {
      fresh: page.items,
      next: page.nextPageToken === null ? null : { ...position, pageToken: page.nextPageToken },
    };
  }
  const step = advanceKeyset(position.after, page.items);
  if (step.kind === 'unordered') {
    return {
      fresh: [],
      next: { ...CORPUS_START, walk: 'pages', narrow: position.narrow },
      restarted: 'unordered',
    };
  }
  if (page.nextPageToken === null) return { fresh: step.fresh, next: null };
  // Progress: ask afresh from the new position. None (an empty page, or one of the bound's
  // second only): follow this query's own token, under the same bound.
  return keysetMoved(position.after, step.next)
    ? { fresh: step.fresh, next: { ...position, pageToken: null, after: step.next } }
    : { fresh: step.fresh, next: { ...position, pageToken: page.nextPageToken } };
}

export interface PageChunk {
  readonly items: readonly DriveFile[];
  /** Where the walk resumes once this chunk is durable: inside the page, or `step.next` after its last chunk. */
  readonly next: CorpusPosition | null;
}

/**
 * A page's fresh items in chunks of at most `size` (null: the page whole), each with the
 * position a walk resumes from once its records are acknowledged — so a crash repeats at
 * most one chunk. Inside a keyset page that position is the keyset after the chunk's last
 * item, asked afresh (no page token); a walk by page tokens has no position inside a page,
 * so its chunks before the last keep the page's own (a crash reads the page again).
 */
export function pageChunks(from: CorpusPosition, step: CorpusStep, size: number | null): PageChunk[] {
  const items = step.fresh;
  if (size === null || items.length <= size) return [{ items, next: step.next }];
  const chunks: PageChunk[] = [];
  for (let start = 0; start < items.length; start += size) {
    const end = Math.min(start + size, items.length);
    if (end === items.length) {
      chunks.push({ items: items.slice(start, end), next: step.next });
      break;
    }
    const after = from.walk === 'keyset' ? keysetAfter(from.after, items.slice(0, end)) : null;
    chunks.push({
      items: items.slice(start, end),
      next: after === null ? from : { ...from, pageToken: null, after },
    });
  }
  return chunks;
}
