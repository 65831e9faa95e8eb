import { createHash } from 'node:crypto';
import type { drive_v3 } from '@googleapis/drive';
import { type FieldMask, ProjectedResource, projectField, type Selection } from '../fields.js';
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

const DAY_MS = 86_400_000;
/** Day number → `YYYY-MM-DDT`; every list page formats two or more times per item. */
const dayPrefixes = new Map<number, string>();
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/** `Date.prototype.toISOString` (RFC 3339, UTC, milliseconds), without a Date per call. */
function rfc3339(time: number): string {
  const ms = Math.trunc(time); // as Date's TimeClip
  const day = Math.floor(ms / DAY_MS);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    const iso = new Date(day * DAY_MS).toISOString(); // throws RangeError on NaN, as before
    prefix = iso.slice(0, iso.indexOf('T') + 1);
    if (dayPrefixes.size >= 50_000) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = Math.floor(rest - seconds * 1000);
  return `${prefix}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(millis)}Z`;
}

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

/** What the capabilities of one item for one viewer are derived from. */
interface CapabilityInputs {
  readonly ctx: RenderContext;
  readonly file: FileRecord;
  readonly role: Role | undefined;
  readonly rank: number;
  readonly inSharedDrive: boolean;
  readonly canEdit: boolean;
  readonly isFolder: boolean;
  readonly trashed: boolean;
  readonly canTrash: boolean;
  /** copyRequiresWriterPermission on an item the viewer only reads or comments. */
  readonly downloadRestricted: boolean;
}

/** Every capability the emulator reports, in the order a full rendering lists them. */
const CAPABILITY_RENDERERS: ReadonlyMap<string, (c: CapabilityInputs) => boolean | undefined> = new Map<
  string,
  (c: CapabilityInputs) => boolean | undefined
>([
  ['canAddChildren', (c) => c.isFolder && c.canEdit],
  ['canChangeCopyRequiresWriterPermission', (c) => c.canEdit],
  ['canChangeViewersCanCopyContent', (c) => c.canEdit],
  ['canComment', (c) => c.rank >= roleRank('commenter')],
  ['canCopy', (c) => !c.isFolder && !c.downloadRestricted],
  ['canDelete', (c) => (c.inSharedDrive ? c.rank >= roleRank('organizer') : c.role === 'owner')],
  ['canDownload', (c) => !c.downloadRestricted],
  ['canEdit', (c) => c.canEdit],
  ['canListChildren', (c) => c.isFolder],
  ['canModifyContent', (c) => c.canEdit],
  ['canMoveItemWithinDrive', (c) => (c.inSharedDrive ? c.rank >= roleRank('fileOrganizer') : c.canEdit)],
  ['canReadRevisions', (c) => c.canEdit],
  ['canRemoveChildren', (c) => c.isFolder && c.canEdit],
  ['canRename', (c) => c.canEdit],
  ['canShare', (c) => c.ctx.world.canShare(c.ctx.viewer, c.file)],
  ['canTrash', (c) => c.canTrash && !c.trashed],
  ['canUntrash', (c) => c.canTrash && c.trashed],
  ['canReadLabels', () => false],
  ['canModifyLabels', () => false],
  ['canAcceptOwnership', () => false],
  ['canMoveItemOutOfDrive', (c) => !c.inSharedDrive && c.role === 'owner'],
  // Google: can add a parent without removing one; only an owner's item without a parent could.
  [
    'canAddMyDriveParent',
    (c) => (c.inSharedDrive ? undefined : c.role === 'owner' && c.file.parentId === undefined),
  ],
  ['canRemoveMyDriveParent', (c) => !c.inSharedDrive && c.canEdit],
  ['canReadDrive', (c) => (c.inSharedDrive ? true : undefined)],
]);

/**
 * The item's capabilities for the viewer; with a sub-mask (`capabilities(canEdit)`) only
 * those named are computed, in the mask's order, already projected.
 */
function capabilitiesFor(
  state: FileRenderState,
  sub: FieldMask | true,
): drive_v3.Schema$File['capabilities'] {
  const { ctx, file, role } = state;
  const rank = roleRank(role);
  const inSharedDrive = state.inSharedDrive;
  const inputs: CapabilityInputs = {
    ctx,
    file,
    role,
    rank,
    inSharedDrive,
    canEdit: rank >= roleRank('writer'),
    isFolder: file.mimeType === FOLDER_MIME,
    trashed: state.trashed,
    canTrash: inSharedDrive ? rank >= roleRank('fileOrganizer') : role === 'owner',
    downloadRestricted: file.copyRequiresWriterPermission && rank < roleRank('writer'),
  };
  if (sub === true || sub.get('*') === true) {
    const capabilities: Record<string, boolean> = {};
    for (const [name, render] of CAPABILITY_RENDERERS) {
      const value = render(inputs);
      if (value !== undefined) capabilities[name] = value;
    }
    return capabilities;
  }
  const capabilities = new ProjectedResource();
  for (const [name, value] of sub) {
    if (value !== true) continue; // validation refuses sub-selections of a boolean
    const capability = CAPABILITY_RENDERERS.get(name)?.(inputs);
    if (capability !== undefined) capabilities[name] = capability;
  }
  return capabilities as drive_v3.Schema$File['capabilities'];
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
 * What one viewer's rendering of one item needs more than once, computed on first use:
 * a field renderer reads only what its field needs.
 */
class FileRenderState {
  private roleValue: { value: Role | undefined } | undefined;
  private trashedValue: boolean | undefined;
  private effectiveValue: readonly EffectivePermission[] | undefined;
  readonly head: RevisionRecord | undefined;
  readonly inSharedDrive: boolean;

  constructor(
    readonly ctx: RenderContext,
    readonly file: FileRecord,
  ) {
    this.head = ctx.world.headRevision(file);
    this.inSharedDrive = file.driveId !== undefined;
  }

  get world(): DriveWorld {
    return this.ctx.world;
  }

  get viewer(): UserRecord {
    return this.ctx.viewer;
  }

  get role(): Role | undefined {
    this.roleValue ??= { value: this.world.accessRole(this.viewer, this.file) };
    return this.roleValue.value;
  }

  get trashed(): boolean {
    this.trashedValue ??= this.world.isTrashed(this.file);
    return this.trashedValue;
  }

  get effective(): readonly EffectivePermission[] {
    this.effectiveValue ??= this.world.effectivePermissions(this.file);
    return this.effectiveValue;
  }

  /** The head revision when the item has downloadable bytes (checksums, file extensions). */
  get binaryHead(): BinaryRevisionRecord | undefined {
    return this.head?.kind === 'binary' && hasBinaryContent(this.file.mimeType) ? this.head : undefined;
  }

  /** Shared with the viewer and not in their own tree: the time it was shared, if known. */
  get sharedWithMeAt(): number | undefined {
    const sharedAt = this.file.sharedWithMeTime.get(this.viewer.id);
    return sharedAt !== undefined && this.world.isSharedWithMe(this.viewer, this.file) ? sharedAt : undefined;
  }
}

/** `sub` is what the request selects of the field; most renderers ignore it and are projected after. */
type FileFieldRenderer = (state: FileRenderState, sub: FieldMask | true) => unknown;

const myDriveOnly =
  (render: FileFieldRenderer): FileFieldRenderer =>
  (state, sub) =>
    state.inSharedDrive ? undefined : render(state, sub);

const binaryOnly =
  (render: (state: FileRenderState, head: BinaryRevisionRecord) => unknown): FileFieldRenderer =>
  (state) => {
    const head = state.binaryHead;
    return head === undefined ? undefined : render(state, head);
  };

function nonEmptyCopy(map: Record<string, string>): Record<string, string> | undefined {
  for (const _key in map) return { ...map };
  return undefined;
}

function extensionOf(file: FileRecord): string | undefined {
  const lastDot = file.name.lastIndexOf('.');
  return lastDot > 0 ? file.name.slice(lastDot + 1) : extensionFor(file.mimeType);
}

/**
 * Every File field the emulator renders, in the order a full rendering lists them. A
 * renderer answers undefined where Drive leaves the field out for this item or viewer.
 */
const FILE_FIELD_RENDERERS: ReadonlyMap<string, FileFieldRenderer> = new Map<string, FileFieldRenderer>([
  ['kind', () => 'drive#file'],
  ['id', ({ file }) => file.id],
  ['name', ({ file }) => file.name],
  ['mimeType', ({ file }) => file.mimeType],
  ['starred', ({ file, viewer }) => file.starredBy.has(viewer.id)],
  ['trashed', (state) => state.trashed],
  ['explicitlyTrashed', ({ file }) => file.explicitlyTrashed],
  ['description', ({ file }) => file.description],
  [
    'parents',
    ({ world, viewer, file }) => {
      const parent = world.parentOf(file);
      return parent && world.accessRole(viewer, parent) ? [parent.id] : undefined;
    },
  ],
  ['properties', ({ file }) => nonEmptyCopy(file.properties)],
  ['appProperties', ({ file }) => nonEmptyCopy(file.appProperties)],
  ['spaces', () => ['drive']],
  ['version', ({ file }) => String(file.version)],
  ['webViewLink', ({ file }) => webViewLinkFor(file)],
  ['iconLink', ({ file }) => `https://drive-thirdparty.googleusercontent.com/16/type/${file.mimeType}`],
  ['hasThumbnail', () => false],
  ['thumbnailVersion', () => '0'],
  ['viewedByMe', ({ file, viewer }) => file.viewedByMe.has(viewer.id)],
  [
    'viewedByMeTime',
    ({ file, viewer }) => {
      const viewed = file.viewedByMe.get(viewer.id);
      return viewed === undefined ? undefined : rfc3339(viewed);
    },
  ],
  ['createdTime', ({ file }) => rfc3339(file.createdTime)],
  ['modifiedTime', ({ file }) => rfc3339(file.modifiedTime)],
  ['modifiedByMe', ({ file, viewer }) => file.modifiedByMe.has(viewer.id)],
  [
    'modifiedByMeTime',
    ({ file, viewer }) => {
      const modified = file.modifiedByMe.get(viewer.id);
      return modified === undefined ? undefined : rfc3339(modified);
    },
  ],
  ['lastModifyingUser', ({ world, file, viewer }) => renderUser(world, file.lastModifyingUserId, viewer)],
  ['driveId', ({ file }) => file.driveId],
  [
    'trashedTime',
    (state) =>
      state.inSharedDrive && state.trashed && state.file.trashedTime !== undefined
        ? rfc3339(state.file.trashedTime)
        : undefined,
  ],
  [
    'trashingUser',
    (state) =>
      state.inSharedDrive && state.trashed && state.file.trashedTime !== undefined
        ? renderUser(state.world, state.file.trashingUserId, state.viewer)
        : undefined,
  ],
  [
    'owners',
    myDriveOnly(({ world, file, viewer }) => {
      const owner = renderUser(world, file.ownerId, viewer);
      return owner ? [owner] : [];
    }),
  ],
  ['ownedByMe', myDriveOnly(({ file, viewer }) => file.ownerId === viewer.id)],
  ['shared', myDriveOnly((state) => state.effective.some((p) => p.permission.role !== 'owner'))],
  ['writersCanShare', myDriveOnly(({ file }) => file.writersCanShare)],
  [
    'sharedWithMeTime',
    (state) => {
      const sharedAt = state.sharedWithMeAt;
      return sharedAt === undefined ? undefined : rfc3339(sharedAt);
    },
  ],
  [
    'sharingUser',
    (state) =>
      state.sharedWithMeAt === undefined
        ? undefined
        : renderUser(state.world, state.file.ownerId, state.viewer),
  ],
  [
    'permissions',
    myDriveOnly((state) =>
      state.world.canShare(state.viewer, state.file)
        ? state.effective.map((p) => renderPermission(state.world, p, false))
        : undefined,
    ),
  ],
  ['permissionIds', (state) => state.effective.map((p) => p.permission.id)],
  ['capabilities', (state, sub) => capabilitiesFor(state, sub)],
  ['viewersCanCopyContent', ({ file }) => !file.copyRequiresWriterPermission],
  ['copyRequiresWriterPermission', ({ file }) => file.copyRequiresWriterPermission],
  ['isAppAuthorized', () => false],
  ['hasAugmentedPermissions', () => false],
  ['inheritedPermissionsDisabled', () => false],
  [
    'size',
    ({ file, head }) => {
      if (file.mimeType === FOLDER_MIME || file.mimeType === SHORTCUT_MIME) return undefined;
      const size = fileSize(file, head);
      return size === undefined ? undefined : String(size);
    },
  ],
  ['quotaBytesUsed', ({ file }) => String(quotaBytesUsed(file))],
  ['headRevisionId', binaryOnly((_state, head) => head.id)],
  ['originalFilename', binaryOnly((_state, head) => head.originalFilename)],
  ['fileExtension', binaryOnly(({ file }) => extensionOf(file) ?? '')],
  [
    'fullFileExtension',
    binaryOnly(({ file }) => {
      const dot = file.name.indexOf('.');
      return dot > 0 ? file.name.slice(dot + 1) : (extensionOf(file) ?? '');
    }),
  ],
  ['webContentLink', binaryOnly(({ file }) => `https://drive.google.com/uc?id=${file.id}&export=download`)],
  // Hashes are computed on first read and kept: a generated corpus defers hashing until asked.
  ['md5Checksum', binaryOnly(({ world }, head) => world.md5Of(head))],
  ['sha1Checksum', binaryOnly((_state, head) => digestsOf(head).sha1)],
  ['sha256Checksum', binaryOnly((_state, head) => digestsOf(head).sha256)],
  [
    'exportLinks',
    ({ ctx, file }) =>
      isWorkspaceType(file.mimeType) && EXPORT_FORMATS[file.mimeType] ? exportLinksFor(ctx, file) : undefined,
  ],
  [
    'shortcutDetails',
    ({ world, file }) => {
      if (file.mimeType !== SHORTCUT_MIME || file.shortcutTargetId === undefined) return undefined;
      const target = world.files.get(file.shortcutTargetId);
      return { targetId: file.shortcutTargetId, ...(target ? { targetMimeType: target.mimeType } : {}) };
    },
  ],
  ['folderColorRgb', ({ file }) => (file.mimeType === FOLDER_MIME ? '#8f8f8f' : undefined)],
]);

/**
 * The File resource as this viewer sees it, restricted to what `selection` asks for: a
 * request's file mask renders only the fields it names (each projected by its sub-mask, in
 * the mask's order), `'all'` renders every field. The result is marked as projected, so the
 * response's projection passes it through untouched.
 */
export function renderFileFields(
  ctx: RenderContext,
  file: FileRecord,
  selection: Selection,
): drive_v3.Schema$File {
  const state = new FileRenderState(ctx, file);
  if (selection === 'all') {
    const out: Record<string, unknown> = {};
    for (const [name, render] of FILE_FIELD_RENDERERS) {
      const value = render(state, true);
      if (value !== undefined) out[name] = value;
    }
    return out as drive_v3.Schema$File;
  }
  const out = new ProjectedResource();
  if (selection !== 'none') {
    for (const [name, sub] of selection) {
      const value = FILE_FIELD_RENDERERS.get(name)?.(state, sub);
      if (value === undefined || value === null) continue;
      out[name] = sub === true ? value : projectField(value, sub, 'file', name);
    }
  }
  return out as drive_v3.Schema$File;
}

/** The full File resource as this viewer sees it; `fields` projects it afterwards. */
export function renderFile(ctx: RenderContext, file: FileRecord): drive_v3.Schema$File {
  return renderFileFields(ctx, file, 'all');
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
