import { driveErrors } from '../errors.js';
import { compileOrderBy, compileQuery, type QueryableFile, queryHasFullText } from '../query.js';
import { quotaBytesUsed } from './render.js';
import type { FileRecord, UserRecord } from './types.js';
import type { DriveWorld } from './world.js';

export interface FileListOptions {
  readonly q: string | undefined;
  readonly orderBy: string | undefined;
  readonly corpora: 'user' | 'drive' | 'allDrives' | 'domain';
  readonly driveId: string | undefined;
  readonly includeItemsFromAllDrives: boolean;
  readonly supportsAllDrives: boolean;
  readonly spaces: readonly string[];
}

const iso = (ms: number | undefined): string | undefined =>
  ms === undefined ? undefined : new Date(ms).toISOString();

/** The view of an item `q` and `orderBy` evaluate; costly parts are computed only when a term reads them. */
export function toQueryable(world: DriveWorld, viewer: UserRecord, file: FileRecord): QueryableFile {
  const parents: string[] = [];
  if (file.parentId !== undefined) {
    parents.push(file.parentId);
    if (file.parentId === viewer.rootFolderId) parents.push('root');
  }
  let permissionsByRole: { owners: string[]; writers: string[]; readers: string[] } | undefined;
  const byRole = () => {
    if (!permissionsByRole) {
      permissionsByRole = { owners: [], writers: [], readers: [] };
      for (const { permission } of world.effectivePermissions(file)) {
        if (permission.emailAddress === undefined) continue;
        if (permission.role === 'owner') permissionsByRole.owners.push(permission.emailAddress);
        else if (permission.role === 'reader' || permission.role === 'commenter') {
          permissionsByRole.readers.push(permission.emailAddress);
        } else permissionsByRole.writers.push(permission.emailAddress);
      }
    }
    return permissionsByRole;
  };
  const head = world.headRevision(file);
  const queryable = {
    id: file.id,
    name: file.name,
    mimeType: file.mimeType,
    parents,
    createdTime: iso(file.createdTime) as string,
    modifiedTime: iso(file.modifiedTime) as string,
    viewedByMeTime: iso(file.viewedByMe.get(viewer.id)),
    modifiedByMeTime: iso(file.modifiedByMe.get(viewer.id)),
    properties: file.properties,
    appProperties: file.appProperties,
    shortcutTargetId: file.shortcutTargetId,
    get trashed() {
      return world.isTrashed(file);
    },
    get starred() {
      return file.starredBy.has(viewer.id);
    },
    get sharedWithMe() {
      return world.isSharedWithMe(viewer, file);
    },
    get sharedWithMeTime() {
      return world.isSharedWithMe(viewer, file) ? iso(file.sharedWithMeTime.get(viewer.id)) : undefined;
    },
    get quotaBytesUsed() {
      return quotaBytesUsed(file);
    },
    get ownerEmails() {
      return byRole().owners;
    },
    get writerEmails() {
      return byRole().writers;
    },
    get readerEmails() {
      return byRole().readers;
    },
    get visibility() {
      return visibilityOf(world, file);
    },
    get fullText() {
      const body = head?.kind === 'workspace' ? head.text : '';
      return `${file.name}\n${file.description ?? ''}\n${body}`;
    },
  };
  return queryable as QueryableFile;
}

/**
 * `visibility` in q: the widest link sharing on the item or a folder above it —
 * `anyoneCanFind`, `anyoneWithLink`, `domainCanFind`, `domainWithLink`, else `limited`.
 */
function visibilityOf(world: DriveWorld, file: FileRecord): string {
  let best = 0;
  for (const { permission } of world.effectivePermissions(file)) {
    const discoverable = permission.allowFileDiscovery === true;
    if (permission.type === 'anyone') best = Math.max(best, discoverable ? 4 : 3);
    else if (permission.type === 'domain') best = Math.max(best, discoverable ? 2 : 1);
  }
  return ['limited', 'domainWithLink', 'domainCanFind', 'anyoneWithLink', 'anyoneCanFind'][best] as string;
}

/** A plain conjunction naming one parent can be answered from the children index. */
function parentNarrowing(q: string | undefined): string | undefined {
  if (q === undefined) return undefined;
  const stripped = q.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  if (/\b(or|not)\b/i.test(stripped)) return undefined;
  const match = /'((?:[^'\\]|\\.)*)'\s+in\s+parents\b/i.exec(q);
  return match?.[1];
}

export function validateListOptions(options: FileListOptions): void {
  const wantsDrive = options.corpora === 'drive';
  if ((options.driveId !== undefined) !== wantsDrive) throw driveErrors.teamDriveIdRequiresTeamDriveCorpora();
  if ((wantsDrive || options.corpora === 'allDrives') && !options.includeItemsFromAllDrives) {
    throw driveErrors.includeItemsFromAllDrivesRequired();
  }
  if (options.q !== undefined && options.orderBy !== undefined && queryHasFullText(options.q)) {
    throw driveErrors.badRequest(
      'Sorting is not supported for queries with fullText terms. Results are always in descending relevance order.',
    );
  }
  for (const space of options.spaces) {
    if (space !== 'drive' && space !== 'appDataFolder' && space !== 'photos') {
      throw driveErrors.badRequest(`Invalid Value`, 'spaces');
    }
  }
}

/** Every item matching the request, in result order. Paging happens above. */
export function listFiles(world: DriveWorld, viewer: UserRecord, options: FileListOptions): FileRecord[] {
  validateListOptions(options);
  if (!options.spaces.includes('drive')) return [];
  const predicate =
    options.q === undefined || options.q.trim() === ''
      ? undefined
      : compileQuery(options.q, { me: viewer.email });
  const comparator = options.orderBy === undefined ? undefined : compileOrderBy(options.orderBy);
  if (options.driveId !== undefined) world.driveOrThrow(options.driveId, viewer);

  const includeSharedDrives =
    options.corpora === 'drive' ||
    options.corpora === 'allDrives' ||
    (options.includeItemsFromAllDrives && options.supportsAllDrives);

  let candidates: Iterable<string | FileRecord>;
  const narrowedParent = parentNarrowing(options.q);
  if (narrowedParent !== undefined) {
    const parentId = narrowedParent === 'root' ? viewer.rootFolderId : narrowedParent;
    candidates = world.children.get(parentId) ?? [];
  } else if (options.driveId !== undefined) {
    candidates = world.subtreeIds(options.driveId, false);
  } else {
    candidates = world.files.values();
  }

  const matches: { file: FileRecord; view: QueryableFile }[] = [];
  for (const candidate of candidates) {
    const file = typeof candidate === 'string' ? world.files.get(candidate) : candidate;
    if (!file || file.isRoot) continue;
    if (file.driveId !== undefined) {
      if (!includeSharedDrives) continue;
      if (options.driveId !== undefined && file.driveId !== options.driveId) continue;
    } else if (options.corpora === 'drive') {
      continue;
    }
    if (!world.corpusRole(viewer, file)) continue;
    const view = toQueryable(world, viewer, file);
    if (predicate && !predicate(view)) continue;
    matches.push({ file, view });
  }
  if (comparator) matches.sort((a, b) => comparator(a.view, b.view));
  return matches.map((m) => m.file);
}
