import { z } from 'zod';

/**
 * The fewest Drive calls a full sync of one user's view can make, derived from the corpus
 * as Drive serves it (not from the worker's code), with Drive's own largest page sizes:
 *
 *   1 changes.getStartPageToken (the cursor incremental syncs continue from)
 * + ⌈shared drives / 100⌉ drives.list pages (at least 1)
 * + Σ over corpora (My Drive with shared-with-me, each shared drive) ⌈items / 1000⌉ files.list pages (at least 1)
 * + 1 changes.list page (the catch-up from the start token; it brings newStartPageToken)
 * + per item not in the trash, what files.list cannot inline:
 *     permissions.list  unless Drive put `permissions` in the listing (only My Drive items
 *                       the caller may share: never shared-drive items)
 *     revisions.list    for non-folders the caller may read revisions of
 *     comments.list     for non-folders (replies come inside comments)
 *
 * One page per per-item list (up to 100 permissions, 1,000 revisions, 100 comments each);
 * the generated corpus has no item past those.
 */

const FOLDER = 'application/vnd.google-apps.folder';
const PAGE = { drives: 100, files: 1000 } as const;

export interface MinimumCalls {
  readonly items: number;
  readonly byMethod: Readonly<Record<string, number>>;
  readonly total: number;
}

const drivesPage = z.object({
  nextPageToken: z.string().optional(),
  drives: z.array(z.object({ id: z.string() })),
});
const filesPage = z.object({
  nextPageToken: z.string().optional(),
  files: z.array(
    z.object({
      id: z.string(),
      mimeType: z.string(),
      trashed: z.boolean().optional(),
      permissions: z.array(z.unknown()).optional(),
      capabilities: z.object({ canReadRevisions: z.boolean().optional() }).optional(),
    }),
  ),
});

async function getJson<T>(url: string, token: string, schema: z.ZodType<T>): Promise<T> {
  const answer = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!answer.ok) throw new Error(`${url.split('?')[0]} answered ${answer.status} to the minimum-calls walk`);
  return schema.parse(await answer.json());
}

/** Walks one user's view with the largest pages and returns the minimum calls of its full sync. */
export async function minimumCallsFor(emulatorUrl: string, accessToken: string): Promise<MinimumCalls> {
  const base = `${emulatorUrl}/drive/v3`;
  const driveIds: string[] = [];
  let pageToken: string | undefined;
  do {
    const page: z.infer<typeof drivesPage> = await getJson(
      `${base}/drives?pageSize=${PAGE.drives}&fields=nextPageToken,drives(id)${pageToken ? `&pageToken=${pageToken}` : ''}`,
      accessToken,
      drivesPage,
    );
    driveIds.push(...page.drives.map((d) => d.id));
    pageToken = page.nextPageToken;
  } while (pageToken);

  const fields = encodeURIComponent(
    'nextPageToken,files(id,mimeType,trashed,permissions(id),capabilities(canReadRevisions))',
  );
  const corpora = [
    'corpora=user&includeItemsFromAllDrives=false',
    ...driveIds.map((id) => `corpora=drive&driveId=${id}&includeItemsFromAllDrives=true`),
  ];
  let items = 0;
  let filesListPages = 0;
  let permissions = 0;
  let revisions = 0;
  let comments = 0;
  for (const corpus of corpora) {
    let count = 0;
    pageToken = undefined;
    do {
      const page: z.infer<typeof filesPage> = await getJson(
        `${base}/files?${corpus}&supportsAllDrives=true&pageSize=${PAGE.files}&fields=${fields}${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`,
        accessToken,
        filesPage,
      );
      for (const file of page.files) {
        count++;
        // A trashed item becomes a delete record: nothing about it is worth a call.
        if (file.trashed) continue;
        if (!file.permissions) permissions++;
        if (file.mimeType === FOLDER) continue;
        if (file.capabilities?.canReadRevisions !== false) revisions++;
        comments++;
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    items += count;
    filesListPages += Math.max(1, Math.ceil(count / PAGE.files));
  }
  const byMethod = {
    'drive.changes.getStartPageToken': 1,
    'drive.drives.list': Math.max(1, Math.ceil(driveIds.length / PAGE.drives)),
    'drive.files.list': filesListPages,
    'drive.changes.list': 1,
    'drive.permissions.list': permissions,
    'drive.revisions.list': revisions,
    'drive.comments.list': comments,
  };
  return { items, byMethod, total: Object.values(byMethod).reduce((a, b) => a + b, 0) };
}

/** Sums the minimum of several connections (each syncs its own user's view). */
export function sumMinimum(parts: readonly MinimumCalls[]): MinimumCalls {
  const byMethod: Record<string, number> = {};
  for (const part of parts)
    for (const [method, n] of Object.entries(part.byMethod)) byMethod[method] = (byMethod[method] ?? 0) + n;
  return {
    items: parts.reduce((n, p) => n + p.items, 0),
    byMethod,
    total: parts.reduce((n, p) => n + p.total, 0),
  };
}

export const minimumFormula =
  'Minimum per connection = 1 changes.getStartPageToken + ⌈drives/100⌉ drives.list + Σ over corpora ⌈items/1000⌉ files.list + 1 changes.list, plus per item not in the trash: permissions.list unless Drive inlined its permissions (it never does for shared-drive items), revisions.list for non-folders whose revisions the user may read, comments.list for non-folders (replies come inside comments); derived by listing each user’s view before the run.';
