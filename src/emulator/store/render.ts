import { createHash } from 'node:crypto';
import type { drive_v3 } from 'googleapis';
import {
  EXPORT_FORMATS,
  extensionFor,
  FOLDER_MIME,
  hasBinaryContent,
  IMPORT_FORMATS,
  isWorkspaceType,
  SHORTCUT_MIME,
} from './mime.js';
import type {
  BinaryRevisionRecord,
  CommentRecord,
  FileRecord,
  ReplyRecord,
  RevisionRecord,
  Role,
  SharedDriveRecord,
  UserRecord,
} from './types.js';
import { roleRank } from './types.js';
import { contentBytes, type DriveWorld, type EffectivePermission } from './world.js';

/** Who is looking, and where the emulator lives (links point back at it). */
export interface RenderContext {
  readonly world: DriveWorld;
  readonly viewer: UserRecord;
  readonly baseUrl: string;
}

const rfc3339 = (ms: number): string => new Date(ms).toISOString();

export function renderUser(
  world: DriveWorld,
  userId: string | undefined,
  viewer: UserRecord | undefined,
): drive_v3.Schema$User | undefined {
  const user = userId === undefined ? undefined : world.users.get(userId);
  if (!user) return undefined;
  return {
    kind: 'drive#user',
    displayName: user.displayName,
    photoLink: photoLinkFor(user),
    me: viewer !== undefined && viewer.id === user.id,
    permissionId: user.id,
    emailAddress: user.email,
  };
}

function photoLinkFor(user: UserRecord): string {
  return `https://lh3.googleusercontent.com/a/default-user=s64?u=${user.id}`;
}

export function exportLinksFor(
  ctx: RenderContext,
  file: FileRecord,
  revisionId?: string,
): Record<string, string> {
  const links: Record<string, string> = {};
  for (const target of EXPORT_FORMATS[file.mimeType] ?? []) {
    const revision = revisionId === undefined ? '' : `&revision=${encodeURIComponent(revisionId)}`;
    links[target] =
      `${ctx.baseUrl}/feeds/download/export?id=${file.id}&mimeType=${encodeURIComponent(target)}${revision}`;
  }
  return links;
}

function webViewLinkFor(file: FileRecord): string {
  if (file.mimeType === FOLDER_MIME) return `https://drive.google.com/drive/folders/${file.id}`;
  const kind = file.mimeType.slice('application/vnd.google-apps.'.length);
  if (file.mimeType === 'application/vnd.google-apps.document')
    return `https://docs.google.com/document/d/${file.id}/edit?usp=drivesdk`;
  if (file.mimeType === 'application/vnd.google-apps.spreadsheet')
    return `https://docs.google.com/spreadsheets/d/${file.id}/edit?usp=drivesdk`;
  if (file.mimeType === 'application/vnd.google-apps.presentation')
    return `https://docs.google.com/presentation/d/${file.id}/edit?usp=drivesdk`;
  if (isWorkspaceType(file.mimeType)) return `https://docs.google.com/${kind}/d/${file.id}/edit?usp=drivesdk`;
  return `https://drive.google.com/file/d/${file.id}/view?usp=drivesdk`;
}

interface Digests {
  sha1: string;
  sha256: string;
}
const digestCache = new WeakMap<BinaryRevisionRecord, Digests>();
function digestsOf(revision: BinaryRevisionRecord): Digests {
  let digests = digestCache.get(revision);
  if (!digests) {
    const bytes = contentBytes(revision.content);
    digests = {
      sha1: createHash('sha1').update(bytes).digest('hex'),
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
    digestCache.set(revision, digests);
  }
  return digests;
}

export function fileSize(_file: FileRecord, head: RevisionRecord | undefined): number | undefined {
  if (!head) return undefined;
  return head.kind === 'binary' ? head.size : Buffer.byteLength(head.text, 'utf8');
}

/** Head revision plus pinned older ones (binary); Workspace files count their body. */
export function quotaBytesUsed(file: FileRecord): number {
  let total = 0;
  const last = file.revisions.length - 1;
  file.revisions.forEach((revision, index) => {
    if (revision.kind === 'binary') {
      if (index === last || revision.keepForever) total += revision.size;
    } else if (index === last) {
      total += Buffer.byteLength(revision.text, 'utf8');
    }
  });
  return total;
}

function capabilitiesFor(
  ctx: RenderContext,
  file: FileRecord,
  role: Role | undefined,
): drive_v3.Schema$File['capabilities'] {
  const rank = roleRank(role);
  const inSharedDrive = file.driveId !== undefined;
  const canEdit = rank >= roleRank('writer');
  const isFolder = file.mimeType === FOLDER_MIME;
  const trashed = ctx.world.isTrashed(file);
  const canTrash = inSharedDrive ? rank >= roleRank('fileOrganizer') : role === 'owner';
  const capabilities: NonNullable<drive_v3.Schema$File['capabilities']> = {
    canAddChildren: isFolder && canEdit,
    canChangeCopyRequiresWriterPermission: canEdit,
    canChangeViewersCanCopyContent: canEdit,
    canComment: rank >= roleRank('commenter'),
    canCopy: !isFolder,
    canDelete: inSharedDrive ? rank >= roleRank('organizer') : role === 'owner',
    canDownload: true,
    canEdit,
    canListChildren: isFolder,
    canModifyContent: canEdit,
    canMoveItemWithinDrive: inSharedDrive ? rank >= roleRank('fileOrganizer') : canEdit,
    canReadRevisions: canEdit,
    canRemoveChildren: isFolder && canEdit,
    canRename: canEdit,
    canShare: ctx.world.canShare(ctx.viewer, file),
    canTrash: canTrash && !trashed,
    canUntrash: canTrash && trashed,
    canReadLabels: false,
    canModifyLabels: false,
    canAcceptOwnership: false,
    canMoveItemOutOfDrive: !inSharedDrive && role === 'owner',
    canAddMyDriveParent: !inSharedDrive,
    canRemoveMyDriveParent: !inSharedDrive && canEdit,
  };
  if (inSharedDrive) capabilities.canReadDrive = true;
  return capabilities;
}

export function renderPermission(
  world: DriveWorld,
  effective: EffectivePermission,
  inSharedDrive: boolean,
): drive_v3.Schema$Permission {
  const { permission } = effective;
  const user =
    permission.emailAddress === undefined ? undefined : world.usersByEmail.get(permission.emailAddress);
  const out: drive_v3.Schema$Permission = {
    kind: 'drive#permission',
    id: permission.id,
    type: permission.type,
    role: permission.role,
  };
  if (permission.emailAddress !== undefined) out.emailAddress = permission.emailAddress;
  if (permission.type === 'user' || permission.type === 'group') {
    out.displayName = user?.displayName ?? permission.emailAddress ?? '';
    if (user) out.photoLink = photoLinkFor(user);
  }
  if (permission.type === 'domain' && permission.domain !== undefined) {
    out.domain = permission.domain;
    out.displayName = permission.domain;
  }
  if (permission.type === 'domain' || permission.type === 'anyone') {
    out.allowFileDiscovery = permission.allowFileDiscovery ?? false;
  }
  if (permission.expirationTime !== undefined) out.expirationTime = rfc3339(permission.expirationTime);
  out.deleted = false;
  out.pendingOwner = false;
  if (inSharedDrive) {
    const detail: drive_v3.Schema$Permission['permissionDetails'] = [
      {
        permissionType: effective.permissionType,
        role: permission.role,
        inherited: effective.inherited,
        ...(effective.inheritedFrom !== undefined ? { inheritedFrom: effective.inheritedFrom } : {}),
      },
    ];
    out.permissionDetails = detail;
  }
  return out;
}

/**
 * Defines an enumerable field computed on first read: a list page renders a hundred files
 * and `fields` usually selects a handful, so costly fields are only built when asked for.
 */
function lazyField<T extends object, K extends keyof T>(target: T, name: K, compute: () => T[K]): void {
  let cached: { value: T[K] } | undefined;
  Object.defineProperty(target, name, {
    enumerable: true,
    configurable: true,
    get: () => {
      cached ??= { value: compute() };
      return cached.value;
    },
  });
}

/** The full File resource as this viewer sees it; `fields` projects it afterwards. */
export function renderFile(ctx: RenderContext, file: FileRecord): drive_v3.Schema$File {
  const { world, viewer } = ctx;
  const role = world.accessRole(viewer, file);
  const head = world.headRevision(file);
  const inSharedDrive = file.driveId !== undefined;
  const trashed = world.isTrashed(file);
  let effectiveCache: EffectivePermission[] | undefined;
  const effective = (): EffectivePermission[] => {
    effectiveCache ??= world.effectivePermissions(file);
    return effectiveCache;
  };
  const out: drive_v3.Schema$File = {
    kind: 'drive#file',
    id: file.id,
    name: file.name,
    mimeType: file.mimeType,
    starred: file.starredBy.has(viewer.id),
    trashed,
    explicitlyTrashed: file.explicitlyTrashed,
  };
  if (file.description !== undefined) out.description = file.description;
  const parent = world.parentOf(file);
  if (parent && world.accessRole(viewer, parent)) out.parents = [parent.id];
  if (Object.keys(file.properties).length > 0) out.properties = { ...file.properties };
  if (Object.keys(file.appProperties).length > 0) out.appProperties = { ...file.appProperties };
  out.spaces = ['drive'];
  out.version = String(file.version);
  out.webViewLink = webViewLinkFor(file);
  out.iconLink = `https://drive-thirdparty.googleusercontent.com/16/type/${file.mimeType}`;
  out.hasThumbnail = false;
  out.thumbnailVersion = '0';
  const viewed = file.viewedByMe.get(viewer.id);
  out.viewedByMe = viewed !== undefined;
  if (viewed !== undefined) out.viewedByMeTime = rfc3339(viewed);
  out.createdTime = rfc3339(file.createdTime);
  out.modifiedTime = rfc3339(file.modifiedTime);
  const modifiedByMe = file.modifiedByMe.get(viewer.id);
  out.modifiedByMe = modifiedByMe !== undefined;
  if (modifiedByMe !== undefined) out.modifiedByMeTime = rfc3339(modifiedByMe);
  if (world.users.has(file.lastModifyingUserId)) {
    lazyField(out, 'lastModifyingUser', () => renderUser(world, file.lastModifyingUserId, viewer));
  }
  if (inSharedDrive) {
    out.driveId = file.driveId as string;
    if (trashed && file.trashedTime !== undefined) {
      out.trashedTime = rfc3339(file.trashedTime);
      const trashingUser = renderUser(world, file.trashingUserId, viewer);
      if (trashingUser) out.trashingUser = trashingUser;
    }
  } else {
    lazyField(out, 'owners', () => {
      const owner = renderUser(world, file.ownerId, viewer);
      return owner ? [owner] : [];
    });
    out.ownedByMe = file.ownerId === viewer.id;
    lazyField(out, 'shared', () => effective().some((p) => p.permission.role !== 'owner'));
    out.writersCanShare = file.writersCanShare;
    const sharedAt = file.sharedWithMeTime.get(viewer.id);
    if (sharedAt !== undefined && world.isSharedWithMe(viewer, file)) {
      out.sharedWithMeTime = rfc3339(sharedAt);
      const sharingUser = renderUser(world, file.ownerId, viewer);
      if (sharingUser) out.sharingUser = sharingUser;
    }
    if (world.canShare(viewer, file)) {
      lazyField(out, 'permissions', () => effective().map((p) => renderPermission(world, p, false)));
    }
  }
  lazyField(out, 'permissionIds', () => effective().map((p) => p.permission.id));
  lazyField(out, 'capabilities', () => capabilitiesFor(ctx, file, role));
  out.viewersCanCopyContent = true;
  out.copyRequiresWriterPermission = false;
  out.isAppAuthorized = false;
  out.hasAugmentedPermissions = false;
  out.inheritedPermissionsDisabled = false;
  if (file.mimeType !== FOLDER_MIME && file.mimeType !== SHORTCUT_MIME) {
    const size = fileSize(file, head);
    if (size !== undefined) out.size = String(size);
  }
  out.quotaBytesUsed = String(quotaBytesUsed(file));
  if (head?.kind === 'binary' && hasBinaryContent(file.mimeType)) {
    out.headRevisionId = head.id;
    out.originalFilename = head.originalFilename;
    const dot = file.name.indexOf('.');
    const lastDot = file.name.lastIndexOf('.');
    const extension = lastDot > 0 ? file.name.slice(lastDot + 1) : extensionFor(file.mimeType);
    out.fileExtension = extension ?? '';
    out.fullFileExtension = dot > 0 ? file.name.slice(dot + 1) : (extension ?? '');
    out.webContentLink = `https://drive.google.com/uc?id=${file.id}&export=download`;
    // Hashes are computed on first read: a generated corpus defers hashing until asked.
    Object.defineProperties(out, {
      md5Checksum: { enumerable: true, configurable: true, get: () => world.md5Of(head) },
      sha1Checksum: { enumerable: true, configurable: true, get: () => digestsOf(head).sha1 },
      sha256Checksum: { enumerable: true, configurable: true, get: () => digestsOf(head).sha256 },
    });
  }
  if (isWorkspaceType(file.mimeType) && EXPORT_FORMATS[file.mimeType]) {
    lazyField(out, 'exportLinks', () => exportLinksFor(ctx, file));
  }
  if (file.mimeType === SHORTCUT_MIME && file.shortcutTargetId !== undefined) {
    const target = world.files.get(file.shortcutTargetId);
    out.shortcutDetails = {
      targetId: file.shortcutTargetId,
      ...(target ? { targetMimeType: target.mimeType } : {}),
    };
  }
  if (file.mimeType === FOLDER_MIME) out.folderColorRgb = '#8f8f8f';
  return out;
}

export function renderRevision(
  ctx: RenderContext,
  file: FileRecord,
  revision: RevisionRecord,
): drive_v3.Schema$Revision {
  const out: drive_v3.Schema$Revision = {
    kind: 'drive#revision',
    id: revision.id,
    mimeType: revision.mimeType,
    modifiedTime: rfc3339(revision.modifiedTime),
  };
  const user = renderUser(ctx.world, revision.lastModifyingUserId, ctx.viewer);
  if (user) out.lastModifyingUser = user;
  if (revision.kind === 'binary') {
    out.keepForever = revision.keepForever;
    out.originalFilename = revision.originalFilename;
    out.size = String(revision.size);
    Object.defineProperty(out, 'md5Checksum', {
      enumerable: true,
      configurable: true,
      get: () => ctx.world.md5Of(revision),
    });
  } else {
    out.published = false;
    out.publishAuto = false;
    out.publishedOutsideDomain = false;
    out.exportLinks = exportLinksFor(ctx, file, revision.id);
  }
  return out;
}

function commentAuthor(ctx: RenderContext, authorId: string): drive_v3.Schema$User {
  const user = ctx.world.users.get(authorId);
  // Comment authors carry no email address or permission id.
  return {
    kind: 'drive#user',
    displayName: user?.displayName ?? 'Unknown user',
    ...(user ? { photoLink: photoLinkFor(user) } : {}),
    me: authorId === ctx.viewer.id,
  };
}

function htmlOf(text: string): string {
  return text.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderReply(ctx: RenderContext, reply: ReplyRecord): drive_v3.Schema$Reply {
  const out: drive_v3.Schema$Reply = {
    kind: 'drive#reply',
    id: reply.id,
    createdTime: rfc3339(reply.createdTime),
    modifiedTime: rfc3339(reply.modifiedTime),
    author: commentAuthor(ctx, reply.authorId),
    deleted: reply.deleted,
  };
  if (!reply.deleted) {
    out.content = reply.content;
    out.htmlContent = htmlOf(reply.content);
  }
  if (reply.action !== undefined) out.action = reply.action;
  return out;
}

export function renderComment(
  ctx: RenderContext,
  comment: CommentRecord,
  includeDeleted: boolean,
): drive_v3.Schema$Comment {
  const out: drive_v3.Schema$Comment = {
    kind: 'drive#comment',
    id: comment.id,
    createdTime: rfc3339(comment.createdTime),
    modifiedTime: rfc3339(comment.modifiedTime),
    author: commentAuthor(ctx, comment.authorId),
    deleted: comment.deleted,
    resolved: comment.resolved,
  };
  if (!comment.deleted) {
    out.content = comment.content;
    out.htmlContent = htmlOf(comment.content);
  }
  if (comment.anchor !== undefined) out.anchor = comment.anchor;
  if (comment.quotedFileContent !== undefined) out.quotedFileContent = { ...comment.quotedFileContent };
  out.replies = comment.replies.filter((r) => includeDeleted || !r.deleted).map((r) => renderReply(ctx, r));
  return out;
}

export function renderDrive(ctx: RenderContext, drive: SharedDriveRecord): drive_v3.Schema$Drive {
  const role = drive.members.get(ctx.viewer.id);
  const organizer = role === 'organizer';
  const rank = roleRank(role);
  return {
    kind: 'drive#drive',
    id: drive.id,
    name: drive.name,
    createdTime: rfc3339(drive.createdTime),
    hidden: drive.hidden,
    colorRgb: drive.colorRgb,
    themeId: drive.themeId,
    backgroundImageLink: `https://ssl.gstatic.com/team_drive_themes/${drive.themeId}_background.jpg`,
    capabilities: {
      canAddChildren: rank >= roleRank('writer'),
      canChangeCopyRequiresWriterPermissionRestriction: organizer,
      canChangeDomainUsersOnlyRestriction: organizer,
      canChangeDriveBackground: organizer,
      canChangeDriveMembersOnlyRestriction: organizer,
      canChangeSharingFoldersRequiresOrganizerPermissionRestriction: organizer,
      canComment: rank >= roleRank('commenter'),
      canCopy: true,
      canDeleteChildren: organizer,
      canDeleteDrive: organizer,
      canDownload: true,
      canEdit: rank >= roleRank('writer'),
      canListChildren: true,
      canManageMembers: organizer,
      canReadRevisions: rank >= roleRank('writer'),
      canRename: organizer,
      canRenameDrive: organizer,
      canResetDriveRestrictions: organizer,
      canShare: rank >= roleRank('fileOrganizer'),
      canTrashChildren: rank >= roleRank('fileOrganizer'),
    },
    restrictions: {
      adminManagedRestrictions: false,
      copyRequiresWriterPermission: false,
      domainUsersOnly: false,
      driveMembersOnly: false,
      sharingFoldersRequiresOrganizerPermission: false,
    },
  };
}

/** Storage is expensive to total over a big corpus; cached per world generation. */
const storageCache = new WeakMap<
  DriveWorld,
  { generation: number; byUser: Map<string, { usage: number; trash: number }> }
>();

export function renderAbout(ctx: RenderContext): drive_v3.Schema$About {
  const { world, viewer } = ctx;
  let cache = storageCache.get(world);
  if (!cache || cache.generation !== world.generation) {
    cache = { generation: world.generation, byUser: new Map() };
    storageCache.set(world, cache);
  }
  let storage = cache.byUser.get(viewer.id);
  if (!storage) {
    storage = { usage: 0, trash: 0 };
    for (const file of world.files.values()) {
      if (file.ownerId !== viewer.id || file.isRoot) continue;
      const bytes = quotaBytesUsed(file);
      storage.usage += bytes;
      if (world.isTrashed(file)) storage.trash += bytes;
    }
    cache.byUser.set(viewer.id, storage);
  }
  const exportFormats: Record<string, string[]> = {};
  for (const [source, targets] of Object.entries(EXPORT_FORMATS)) exportFormats[source] = [...targets];
  const importFormats: Record<string, string[]> = {};
  for (const [source, targets] of Object.entries(IMPORT_FORMATS)) importFormats[source] = [...targets];
  return {
    kind: 'drive#about',
    user: renderUser(world, viewer.id, viewer) as drive_v3.Schema$User,
    storageQuota: {
      limit: String(15 * 1024 * 1024 * 1024),
      usage: String(storage.usage),
      usageInDrive: String(storage.usage),
      usageInDriveTrash: String(storage.trash),
    },
    exportFormats,
    importFormats,
    maxImportSizes: {
      'application/vnd.google-apps.document': '10485760',
      'application/vnd.google-apps.spreadsheet': '104857600',
      'application/vnd.google-apps.presentation': '104857600',
    },
    maxUploadSize: String(5 * 1024 ** 4),
    appInstalled: false,
    canCreateDrives: true,
    folderColorPalette: [
      '#ac725e',
      '#d06b64',
      '#f83a22',
      '#fa573c',
      '#ff7537',
      '#ffad46',
      '#8f8f8f',
      '#4986e7',
    ],
    driveThemes: [
      {
        id: 'abacus',
        backgroundImageLink: 'https://ssl.gstatic.com/team_drive_themes/abacus_background.jpg',
        colorRgb: '#4986e7',
      },
    ],
  };
}

export { rfc3339 };
