import { createHash } from 'node:crypto';
import { driveErrors } from '../errors.js';
import { FOLDER_MIME, hasBinaryContent, isWorkspaceType, SHORTCUT_MIME } from './mime.js';
import { IdFactory, SeededRandom } from './random.js';
import {
  type BinaryRevisionRecord,
  type ChangeEntry,
  type CommentRecord,
  type ContentSource,
  type DriveRole,
  type FileRecord,
  higherRole,
  type PermissionRecord,
  type PermissionType,
  type ReplyRecord,
  type Role,
  roleRank,
  type SharedDriveRecord,
  type UserRecord,
} from './types.js';

/** What a caller says about shared drives on a per-file call. */
export interface DriveSupport {
  readonly supportsAllDrives: boolean;
}

export interface NewFileSpec {
  readonly name?: string;
  readonly mimeType?: string;
  readonly parentId?: string;
  readonly description?: string;
  readonly starred?: boolean;
  readonly properties?: Record<string, string>;
  readonly appProperties?: Record<string, string>;
  readonly content?: Buffer;
  /** Body of a Workspace file, when the caller (generator, import) provides one. */
  readonly workspaceText?: string;
  readonly shortcutTargetId?: string;
  readonly createdTime?: number;
  readonly modifiedTime?: number;
  readonly writersCanShare?: boolean;
  readonly originalFilename?: string;
  readonly keepRevisionForever?: boolean;
}

export interface FilePatch {
  readonly name?: string;
  readonly description?: string;
  readonly starred?: boolean;
  readonly trashed?: boolean;
  readonly mimeType?: string;
  readonly properties?: Record<string, string | null>;
  readonly appProperties?: Record<string, string | null>;
  readonly addParents?: readonly string[];
  readonly removeParents?: readonly string[];
  readonly content?: Buffer;
  readonly keepRevisionForever?: boolean;
  readonly modifiedTime?: number;
  readonly writersCanShare?: boolean;
  readonly originalFilename?: string;
}

export interface NewPermissionSpec {
  readonly type: PermissionType;
  readonly role: Role;
  readonly emailAddress?: string;
  readonly domain?: string;
  readonly allowFileDiscovery?: boolean;
  readonly expirationTime?: number;
  readonly transferOwnership?: boolean;
}

/** An effective permission on an item: its own or one inherited from a folder or drive membership. */
export interface EffectivePermission {
  readonly permission: PermissionRecord;
  readonly inherited: boolean;
  readonly inheritedFrom: string | undefined;
  /** 'member' for shared-drive membership, 'file' for permissions on items. */
  readonly permissionType: 'file' | 'member';
}

/** Sources of binary bytes the generator can describe without holding them. */
export function contentBytes(source: ContentSource): Buffer {
  if (source.kind === 'bytes') return source.bytes;
  if (source.size === 0) return Buffer.alloc(0);
  return Buffer.alloc(source.size, source.seedText.length > 0 ? source.seedText : ' ');
}

export function md5Hex(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex');
}

const MY_DRIVE_ROOT_NAME = 'My Drive';

/**
 * The whole emulated Drive: users, shared drives, items, and the change log. Pure and
 * synchronous; HTTP adapts it. Every mutation records change-log entries for the users
 * that can (or could) see the item, and bumps `generation` so list caches can tell.
 */
export class DriveWorld {
  readonly users = new Map<string, UserRecord>();
  readonly usersByEmail = new Map<string, UserRecord>();
  readonly drives = new Map<string, SharedDriveRecord>();
  readonly files = new Map<string, FileRecord>();
  /** parent id → child ids, insertion ordered. */
  readonly children = new Map<string, Set<string>>();
  readonly changes: ChangeEntry[] = [];
  /** Sequence number of changes[0]. */
  private readonly firstSeq = 1;
  generation = 0;
  readonly random: SeededRandom;
  readonly ids: IdFactory;
  private lastTime = 0;
  /** user id → (item id → role, or null for none), memoised role on an item; cleared on sharing or moves. */
  private roleMemo = new Map<string, Map<string, Role | null>>();
  private readonly driveRequestIds = new Map<string, string>();
  /** Listeners told about every appended change entry (push notifications). */
  private readonly changeListeners = new Set<(entry: ChangeEntry) => void>();
  /** Admin-visible override of the clock, for deterministic corpora. */
  private fixedClock: number | undefined;

  constructor(readonly seed: number) {
    this.random = new SeededRandom(seed);
    this.ids = new IdFactory(this.random);
  }

  // ---------------------------------------------------------------- time

  /** Strictly increasing milliseconds, so every edit moves modifiedTime. */
  now(): number {
    const wall = this.fixedClock ?? Date.now();
    this.lastTime = Math.max(wall, this.lastTime + 1);
    return this.lastTime;
  }

  /** The generator stamps items with synthetic past times; this keeps the clock monotonic after it. */
  withFixedClock<T>(start: number, run: () => T): T {
    this.fixedClock = start;
    try {
      return run();
    } finally {
      this.fixedClock = undefined;
    }
  }

  advanceFixedClock(ms: number): void {
    if (this.fixedClock !== undefined) this.fixedClock += ms;
  }

  // ---------------------------------------------------------------- users and drives

  createUser(email: string, displayName: string): UserRecord {
    const normalised = email.toLowerCase();
    if (this.usersByEmail.has(normalised)) throw driveErrors.badRequest(`User ${normalised} already exists.`);
    const id = this.ids.permissionId();
    const rootFolderId = this.ids.root();
    const createdTime = this.now();
    const user: UserRecord = { id, email: normalised, displayName, rootFolderId, createdTime };
    this.users.set(id, user);
    this.usersByEmail.set(normalised, user);
    const root = this.blankFile(rootFolderId, MY_DRIVE_ROOT_NAME, FOLDER_MIME, undefined, undefined, id, createdTime);
    this.files.set(root.id, Object.assign(root, { isRoot: true }));
    this.generation++;
    return user;
  }

  userOrThrow(id: string): UserRecord {
    const user = this.users.get(id);
    if (!user) throw driveErrors.notFound('User', id, 'userId');
    return user;
  }

  createSharedDrive(actor: UserRecord, name: string, requestId?: string): SharedDriveRecord {
    if (requestId !== undefined) {
      const existing = this.driveRequestIds.get(`${actor.id}:${requestId}`);
      const drive = existing ? this.drives.get(existing) : undefined;
      if (drive) return drive;
    }
    const id = this.ids.sharedDrive();
    const createdTime = this.now();
    const drive: SharedDriveRecord = {
      id,
      name,
      createdTime,
      hidden: false,
      colorRgb: '#4986e7',
      themeId: 'abacus',
      members: new Map([[actor.id, 'organizer']]),
    };
    this.drives.set(id, drive);
    const root = this.blankFile(id, name, FOLDER_MIME, undefined, id, undefined, createdTime);
    this.files.set(id, Object.assign(root, { isRoot: true }));
    if (requestId !== undefined) this.driveRequestIds.set(`${actor.id}:${requestId}`, id);
    this.invalidateAccess();
    this.appendDriveChange(drive.id, [actor.id], []);
    return drive;
  }

  driveOrThrow(driveId: string, viewer: UserRecord): SharedDriveRecord {
    const drive = this.drives.get(driveId);
    if (!drive || !drive.members.has(viewer.id)) throw driveErrors.notFound('Shared drive', driveId, 'driveId');
    return drive;
  }

  renameSharedDrive(actor: UserRecord, driveId: string, name: string): SharedDriveRecord {
    const drive = this.driveOrThrow(driveId, actor);
    if (drive.members.get(actor.id) !== 'organizer') throw driveErrors.insufficientFilePermissions(driveId);
    drive.name = name;
    const root = this.files.get(driveId);
    if (root) root.name = name;
    this.generation++;
    this.appendDriveChange(driveId, [...drive.members.keys()], []);
    return drive;
  }

  /** Admin: adds (or changes the role of) a member; the drive and its items enter their corpus. */
  setDriveMember(driveId: string, userId: string, role: DriveRole): void {
    const drive = this.drives.get(driveId);
    if (!drive) throw driveErrors.notFound('Shared drive', driveId, 'driveId');
    this.userOrThrow(userId);
    const subtree = this.subtreeIds(driveId, false);
    const before = this.audienceSnapshot(subtree);
    drive.members.set(userId, role);
    this.invalidateAccess();
    this.appendDriveChange(driveId, [...drive.members.keys()], []);
    this.logAudienceDeltas(subtree, before, undefined);
  }

  /** Admin: removes a member; a removed drive change and removals for the drive's items follow. */
  removeDriveMember(driveId: string, userId: string): void {
    const drive = this.drives.get(driveId);
    if (!drive) throw driveErrors.notFound('Shared drive', driveId, 'driveId');
    if (!drive.members.has(userId)) return;
    const subtree = this.subtreeIds(driveId, false);
    const before = this.audienceSnapshot(subtree);
    drive.members.delete(userId);
    this.invalidateAccess();
    this.appendDriveChange(driveId, [...drive.members.keys()], [userId]);
    this.logAudienceDeltas(subtree, before, undefined);
  }

  // ---------------------------------------------------------------- access

  invalidateAccess(): void {
    this.roleMemo = new Map();
    this.generation++;
  }

  /**
   * The role a user holds on an item through ownership, membership, or a user/group
   * permission on the item or any folder above it. This is what puts an item in the
   * user's corpus (lists, change log). Link sharing ("anyone") is not included.
   */
  corpusRole(user: UserRecord, file: FileRecord): Role | undefined {
    let memo = this.roleMemo.get(user.id);
    if (!memo) {
      memo = new Map();
      this.roleMemo.set(user.id, memo);
    }
    const cached = memo.get(file.id);
    if (cached !== undefined) return cached ?? undefined;
    const role = this.computeCorpusRole(user, file, memo);
    memo.set(file.id, role ?? null);
    return role;
  }

  private computeCorpusRole(user: UserRecord, file: FileRecord, memo: Map<string, Role | null>): Role | undefined {
    let role: Role | undefined;
    if (file.driveId !== undefined) {
      role = this.drives.get(file.driveId)?.members.get(user.id);
    } else if (file.ownerId === user.id) {
      return 'owner';
    }
    if (file.isRoot) return role;
    for (const permission of file.permissions) {
      if ((permission.type === 'user' || permission.type === 'group') && permission.emailAddress === user.email) {
        role = higherRole(role, permission.role);
      }
    }
    const parent = file.parentId === undefined ? undefined : this.files.get(file.parentId);
    if (parent) {
      let fromParent = memo.get(parent.id);
      if (fromParent === undefined) {
        fromParent = this.computeCorpusRole(user, parent, memo) ?? null;
        memo.set(parent.id, fromParent);
      }
      // Owning a folder gives write access to what others put in it, not ownership of it.
      role = higherRole(role, fromParent === 'owner' ? 'writer' : (fromParent ?? undefined));
    }
    return role;
  }

  /** Corpus role, or failing that the role granted by link/domain sharing on the item or above. */
  accessRole(user: UserRecord, file: FileRecord): Role | undefined {
    const role = this.corpusRole(user, file);
    if (role) return role;
    let linkRole: Role | undefined;
    for (let item: FileRecord | undefined = file; item; item = this.parentOf(item)) {
      for (const permission of item.permissions) {
        if (permission.type === 'anyone' || permission.type === 'domain') {
          linkRole = higherRole(linkRole, permission.role);
        }
      }
    }
    return linkRole;
  }

  /**
   * Resolves an id for a caller: `root` is their My Drive root; shared-drive items are
   * invisible (404) unless the caller declared `supportsAllDrives`, as with Google.
   */
  fileFor(viewer: UserRecord, fileId: string, support: DriveSupport): FileRecord {
    const id = fileId === 'root' ? viewer.rootFolderId : fileId;
    const file = this.files.get(id);
    if (!file) throw driveErrors.fileNotFound(fileId);
    if (file.driveId !== undefined && !support.supportsAllDrives) throw driveErrors.fileNotFound(fileId);
    if (!this.accessRole(viewer, file)) throw driveErrors.fileNotFound(fileId);
    return file;
  }

  requireRole(viewer: UserRecord, file: FileRecord, minimum: Role): Role {
    const role = this.accessRole(viewer, file);
    if (roleRank(role) < roleRank(minimum) || role === undefined) {
      throw driveErrors.insufficientFilePermissions(file.id);
    }
    return role;
  }

  canShare(viewer: UserRecord, file: FileRecord): boolean {
    const role = this.accessRole(viewer, file);
    if (role === 'owner' || role === 'organizer' || role === 'fileOrganizer') return true;
    if (role === 'writer') return file.driveId !== undefined || file.writersCanShare;
    return false;
  }

  parentOf(file: FileRecord): FileRecord | undefined {
    return file.parentId === undefined ? undefined : this.files.get(file.parentId);
  }

  /** Trashed explicitly or through a trashed folder above. */
  isTrashed(file: FileRecord): boolean {
    for (let item: FileRecord | undefined = file; item; item = this.parentOf(item)) {
      if (item.explicitlyTrashed) return true;
    }
    return false;
  }

  /** The root folder at the top of the item's tree (a My Drive root or a shared drive). */
  topRootId(file: FileRecord): string {
    let item = file;
    for (let parent = this.parentOf(item); parent; parent = this.parentOf(item)) item = parent;
    return item.id;
  }

  /** Shared with the user directly or through a folder, and not in their own My Drive tree. */
  isSharedWithMe(user: UserRecord, file: FileRecord): boolean {
    if (file.driveId !== undefined || file.isRoot) return false;
    if (this.topRootId(file) === user.rootFolderId) return false;
    return this.corpusRole(user, file) !== undefined;
  }

  /** Users who have the item in their corpus right now. */
  audienceOf(file: FileRecord): string[] {
    const audience: string[] = [];
    for (const user of this.users.values()) if (this.corpusRole(user, file)) audience.push(user.id);
    return audience;
  }

  effectivePermissions(file: FileRecord): EffectivePermission[] {
    const byId = new Map<string, EffectivePermission>();
    const consider = (candidate: EffectivePermission): void => {
      const existing = byId.get(candidate.permission.id);
      if (!existing || roleRank(candidate.permission.role) > roleRank(existing.permission.role)) {
        byId.set(candidate.permission.id, candidate);
      } else if (!candidate.inherited && existing.inherited) {
        byId.set(candidate.permission.id, candidate);
      }
    };
    if (file.driveId !== undefined) {
      const drive = this.drives.get(file.driveId);
      for (const [userId, role] of drive?.members ?? []) {
        const user = this.users.get(userId);
        if (!user) continue;
        consider({
          permission: { id: user.id, type: 'user', role, emailAddress: user.email, createdTime: drive?.createdTime ?? 0 },
          inherited: !file.isRoot,
          inheritedFrom: file.isRoot ? undefined : file.driveId,
          permissionType: 'member',
        });
      }
    }
    for (let item: FileRecord | undefined = file; item; item = this.parentOf(item)) {
      const inherited = item !== file;
      if (item.ownerId !== undefined) {
        const owner = this.users.get(item.ownerId);
        if (owner) {
          consider({
            permission: {
              id: owner.id,
              type: 'user',
              role: inherited ? 'writer' : 'owner',
              emailAddress: owner.email,
              createdTime: item.createdTime,
            },
            inherited,
            inheritedFrom: inherited ? item.id : undefined,
            permissionType: 'file',
          });
        }
      }
      if (item.isRoot) break;
      for (const permission of item.permissions) {
        consider({ permission, inherited, inheritedFrom: inherited ? item.id : undefined, permissionType: 'file' });
      }
    }
    return [...byId.values()];
  }

  // ---------------------------------------------------------------- change log

  get nextSeq(): number {
    return this.firstSeq + this.changes.length;
  }

  entryAt(seq: number): ChangeEntry | undefined {
    return this.changes[seq - this.firstSeq];
  }

  onChange(listener: (entry: ChangeEntry) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private append(entry: Omit<ChangeEntry, 'seq' | 'time'>): void {
    if (entry.audience.length === 0 && entry.removedFor.length === 0) return;
    const full: ChangeEntry = { ...entry, seq: this.nextSeq, time: this.now() };
    this.changes.push(full);
    for (const listener of this.changeListeners) listener(full);
  }

  private appendDriveChange(driveId: string, audience: string[], removedFor: string[]): void {
    this.append({ changeType: 'drive', fileId: undefined, driveId, audience, removedFor });
  }

  private appendFileChange(file: FileRecord, audience: string[], removedFor: string[]): void {
    this.append({ changeType: 'file', fileId: file.id, driveId: file.driveId, audience, removedFor });
  }

  private audienceSnapshot(ids: readonly string[]): Map<string, Set<string>> {
    const snapshot = new Map<string, Set<string>>();
    for (const id of ids) {
      const file = this.files.get(id);
      if (file) snapshot.set(id, new Set(this.audienceOf(file)));
    }
    return snapshot;
  }

  /**
   * After a change of sharing or position: items whose audience changed get an entry for
   * the users who gained them (ordinary change) and for those who lost them (removal).
   * `touched` is the item the caller edited: it gets an ordinary entry for everyone.
   */
  private logAudienceDeltas(ids: readonly string[], before: Map<string, Set<string>>, touched: string | undefined): void {
    for (const id of ids) {
      const file = this.files.get(id);
      if (!file || file.isRoot) continue;
      const was = before.get(id) ?? new Set<string>();
      const now = this.audienceOf(file);
      const lost = [...was].filter((userId) => !now.includes(userId));
      if (id === touched) {
        this.appendFileChange(file, now, lost);
        continue;
      }
      const gained = now.filter((userId) => !was.has(userId));
      if (gained.length === 0 && lost.length === 0) continue;
      file.version++;
      this.appendFileChange(file, gained, lost);
    }
  }

  // ---------------------------------------------------------------- tree

  subtreeIds(rootId: string, includeRoot = true): string[] {
    const out: string[] = includeRoot ? [rootId] : [];
    const stack = [rootId];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      for (const child of this.children.get(id) ?? []) {
        out.push(child);
        stack.push(child);
      }
    }
    return out;
  }

  private link(childId: string, parentId: string): void {
    let set = this.children.get(parentId);
    if (!set) {
      set = new Set();
      this.children.set(parentId, set);
    }
    set.add(childId);
  }

  private unlink(childId: string, parentId: string | undefined): void {
    if (parentId !== undefined) this.children.get(parentId)?.delete(childId);
  }

  private blankFile(
    id: string,
    name: string,
    mimeType: string,
    parentId: string | undefined,
    driveId: string | undefined,
    ownerId: string | undefined,
    time: number,
  ): FileRecord {
    return {
      id,
      name,
      mimeType,
      parentId,
      driveId,
      ownerId,
      isRoot: false,
      createdTime: time,
      modifiedTime: time,
      version: 1,
      description: undefined,
      explicitlyTrashed: false,
      trashedTime: undefined,
      trashingUserId: undefined,
      lastModifyingUserId: ownerId ?? '',
      writersCanShare: true,
      properties: {},
      appProperties: {},
      shortcutTargetId: undefined,
      starredBy: new Set(),
      viewedByMe: new Map(),
      modifiedByMe: new Map(),
      sharedWithMeTime: new Map(),
      permissions: [],
      revisions: [],
      comments: [],
      nextWorkspaceRevision: 1,
      exportPadBytes: undefined,
    };
  }

  // ---------------------------------------------------------------- files

  private writableParent(actor: UserRecord, parentId: string, support: DriveSupport): FileRecord {
    const parent = this.fileFor(actor, parentId, support);
    if (parent.mimeType !== FOLDER_MIME) throw driveErrors.badRequest('The specified parent is not a folder.');
    this.requireRole(actor, parent, 'writer');
    return parent;
  }

  createFile(actor: UserRecord, spec: NewFileSpec, support: DriveSupport): FileRecord {
    const parent = this.writableParent(actor, spec.parentId ?? actor.rootFolderId, support);
    const mimeType = spec.mimeType ?? (spec.content ? 'application/octet-stream' : 'application/octet-stream');
    if (mimeType === SHORTCUT_MIME) {
      if (spec.shortcutTargetId === undefined) throw driveErrors.badRequest('A shortcut must have a target.');
      this.fileFor(actor, spec.shortcutTargetId, { supportsAllDrives: true });
    }
    const time = spec.createdTime ?? this.now();
    const file = this.blankFile(
      this.ids.file(),
      spec.name ?? 'Untitled',
      mimeType,
      parent.id,
      parent.driveId,
      parent.driveId === undefined ? actor.id : undefined,
      time,
    );
    file.modifiedTime = spec.modifiedTime ?? time;
    file.lastModifyingUserId = actor.id;
    file.modifiedByMe.set(actor.id, file.modifiedTime);
    file.viewedByMe.set(actor.id, file.modifiedTime);
    file.description = spec.description;
    file.properties = { ...(spec.properties ?? {}) };
    file.appProperties = { ...(spec.appProperties ?? {}) };
    file.shortcutTargetId = mimeType === SHORTCUT_MIME ? spec.shortcutTargetId : undefined;
    if (spec.writersCanShare === false) file.writersCanShare = false;
    if (spec.starred) file.starredBy.add(actor.id);
    if (hasBinaryContent(mimeType)) {
      this.pushBinaryRevision(file, actor, {
        content: { kind: 'bytes', bytes: spec.content ?? Buffer.alloc(0) },
        time: file.modifiedTime,
        originalFilename: spec.originalFilename ?? file.name,
        keepForever: spec.keepRevisionForever ?? false,
      });
    } else if (isWorkspaceType(mimeType)) {
      this.pushWorkspaceRevision(file, actor, spec.workspaceText ?? defaultWorkspaceText(file), file.modifiedTime);
    }
    this.files.set(file.id, file);
    this.link(file.id, parent.id);
    this.generation++;
    this.appendFileChange(file, this.audienceOf(file), []);
    return file;
  }

  /** Adds a binary head revision; used by creation, uploads and the generator. */
  pushBinaryRevision(
    file: FileRecord,
    actor: UserRecord,
    revision: { content: ContentSource; time: number; originalFilename: string; keepForever: boolean; id?: string },
  ): BinaryRevisionRecord {
    const size = revision.content.kind === 'bytes' ? revision.content.bytes.length : revision.content.size;
    const record: BinaryRevisionRecord = {
      kind: 'binary',
      id: revision.id ?? this.ids.binaryRevision(),
      mimeType: file.mimeType,
      modifiedTime: revision.time,
      lastModifyingUserId: actor.id,
      originalFilename: revision.originalFilename,
      content: revision.content,
      size,
      keepForever: revision.keepForever,
    };
    file.revisions.push(record);
    return record;
  }

  pushWorkspaceRevision(file: FileRecord, actor: UserRecord, text: string, time: number): void {
    file.revisions.push({
      kind: 'workspace',
      id: String(file.nextWorkspaceRevision++),
      mimeType: file.mimeType,
      modifiedTime: time,
      lastModifyingUserId: actor.id,
      text,
    });
  }

  /** The head revision's md5, computed once on demand (generated corpora defer hashing). */
  md5Of(revision: BinaryRevisionRecord): string {
    if (revision.md5 === undefined) revision.md5 = md5Hex(contentBytes(revision.content));
    return revision.md5;
  }

  headRevision(file: FileRecord): (typeof file.revisions)[number] | undefined {
    return file.revisions[file.revisions.length - 1];
  }

  updateFile(actor: UserRecord, file: FileRecord, patch: FilePatch, support: DriveSupport): FileRecord {
    const onlyPersonal =
      patch.name === undefined &&
      patch.description === undefined &&
      patch.trashed === undefined &&
      patch.mimeType === undefined &&
      patch.properties === undefined &&
      patch.appProperties === undefined &&
      patch.addParents === undefined &&
      patch.removeParents === undefined &&
      patch.content === undefined &&
      patch.modifiedTime === undefined &&
      patch.writersCanShare === undefined;
    // Starring is personal: readers may star what they see.
    this.requireRole(actor, file, onlyPersonal ? 'reader' : 'writer');
    if (file.isRoot && !onlyPersonal) throw driveErrors.insufficientFilePermissions(file.id);

    const moves = (patch.addParents?.length ?? 0) > 0 || (patch.removeParents?.length ?? 0) > 0;
    let newParent: FileRecord | undefined;
    if (moves) newParent = this.resolveMove(actor, file, patch, support);

    const subtree = moves || patch.trashed !== undefined ? this.subtreeIds(file.id) : [file.id];
    const before = moves ? this.audienceSnapshot(subtree) : undefined;
    const time = this.now();
    let touchedContent = false;

    if (patch.name !== undefined && patch.name !== file.name) {
      file.name = patch.name;
      touchedContent = true;
    }
    if (patch.description !== undefined && patch.description !== file.description) {
      file.description = patch.description;
      touchedContent = true;
    }
    if (patch.mimeType !== undefined && patch.mimeType !== file.mimeType) {
      if (!hasBinaryContent(file.mimeType) || !hasBinaryContent(patch.mimeType)) {
        throw driveErrors.badRequest('The mimeType of this item cannot be changed.');
      }
      file.mimeType = patch.mimeType;
      touchedContent = true;
    }
    if (patch.properties) {
      file.properties = mergeProperties(file.properties, patch.properties);
      touchedContent = true;
    }
    if (patch.appProperties) {
      file.appProperties = mergeProperties(file.appProperties, patch.appProperties);
      touchedContent = true;
    }
    if (patch.writersCanShare !== undefined) file.writersCanShare = patch.writersCanShare;
    if (patch.starred !== undefined) {
      if (patch.starred) file.starredBy.add(actor.id);
      else file.starredBy.delete(actor.id);
    }
    if (patch.trashed !== undefined && patch.trashed !== file.explicitlyTrashed) {
      if (patch.trashed && file.driveId !== undefined) this.requireRole(actor, file, 'fileOrganizer');
      file.explicitlyTrashed = patch.trashed;
      file.trashedTime = patch.trashed ? time : undefined;
      file.trashingUserId = patch.trashed ? actor.id : undefined;
    }
    if (patch.content !== undefined) {
      if (hasBinaryContent(file.mimeType)) {
        this.pushBinaryRevision(file, actor, {
          content: { kind: 'bytes', bytes: patch.content },
          time,
          originalFilename: patch.originalFilename ?? file.name,
          keepForever: patch.keepRevisionForever ?? false,
        });
      } else if (isWorkspaceType(file.mimeType)) {
        this.pushWorkspaceRevision(file, actor, patch.content.toString('utf8'), time);
      } else {
        throw driveErrors.badRequest('This item cannot have content.');
      }
      touchedContent = true;
    }
    if (newParent) {
      this.unlink(file.id, file.parentId);
      file.parentId = newParent.id;
      this.link(file.id, newParent.id);
      this.invalidateAccess();
    }
    if (touchedContent) {
      file.modifiedTime = patch.modifiedTime ?? time;
      file.lastModifyingUserId = actor.id;
      file.modifiedByMe.set(actor.id, file.modifiedTime);
    } else if (patch.modifiedTime !== undefined) {
      file.modifiedTime = patch.modifiedTime;
    }
    file.version++;
    this.generation++;

    if (before) {
      this.logAudienceDeltas(subtree, before, file.id);
    } else {
      this.appendFileChange(file, this.audienceOf(file), []);
    }
    if (patch.trashed !== undefined) {
      // Items below a trashed folder are trashed too; their state changed for everyone who sees them.
      for (const id of subtree) {
        const item = this.files.get(id);
        if (!item || item === file) continue;
        item.version++;
        this.appendFileChange(item, this.audienceOf(item), []);
      }
    }
    return file;
  }

  private resolveMove(actor: UserRecord, file: FileRecord, patch: FilePatch, support: DriveSupport): FileRecord {
    const add = patch.addParents ?? [];
    const remove = (patch.removeParents ?? []).map((id) => (id === 'root' ? actor.rootFolderId : id));
    if (add.length > 1) throw driveErrors.badRequest('Increasing the number of parents is not allowed.');
    if (add.length === 0) {
      throw driveErrors.badRequest('A file must have exactly one parent; removing the only parent is not supported.');
    }
    if (file.parentId !== undefined && !remove.includes(file.parentId)) {
      throw driveErrors.badRequest('Increasing the number of parents is not allowed.');
    }
    const target = this.writableParent(actor, add[0] as string, support);
    if (target.driveId !== file.driveId) {
      throw driveErrors.badRequest('Moving items between My Drive and shared drives is not supported by the emulator.');
    }
    for (let item: FileRecord | undefined = target; item; item = this.parentOf(item)) {
      if (item.id === file.id) throw driveErrors.badRequest('The parent would create a cycle.');
    }
    if (file.driveId !== undefined) this.requireRole(actor, file, 'fileOrganizer');
    return target;
  }

  copyFile(actor: UserRecord, source: FileRecord, spec: NewFileSpec, support: DriveSupport): FileRecord {
    if (source.mimeType === FOLDER_MIME) throw driveErrors.badRequest('Folders cannot be copied.');
    const head = this.headRevision(source);
    const content = head?.kind === 'binary' ? contentBytes(head.content) : undefined;
    const workspaceText = head?.kind === 'workspace' ? head.text : undefined;
    const parentId = spec.parentId ?? (source.parentId !== undefined && this.accessRole(actor, this.parentOf(source) ?? source) ? source.parentId : actor.rootFolderId);
    return this.createFile(
      actor,
      {
        name: spec.name ?? `Copy of ${source.name}`,
        mimeType: source.mimeType,
        parentId,
        description: spec.description ?? source.description,
        properties: { ...source.properties, ...(spec.properties ?? {}) },
        appProperties: { ...source.appProperties, ...(spec.appProperties ?? {}) },
        starred: spec.starred,
        ...(content !== undefined ? { content } : {}),
        ...(workspaceText !== undefined ? { workspaceText } : {}),
        ...(source.shortcutTargetId !== undefined ? { shortcutTargetId: source.shortcutTargetId } : {}),
      },
      support,
    );
  }

  /** Permanent deletion of the item and everything below it. */
  deleteFile(actor: UserRecord, file: FileRecord): void {
    if (file.isRoot) throw driveErrors.insufficientFilePermissions(file.id);
    this.requireRole(actor, file, file.driveId !== undefined ? 'organizer' : 'owner');
    const subtree = this.subtreeIds(file.id);
    const before = this.audienceSnapshot(subtree);
    this.unlink(file.id, file.parentId);
    for (const id of subtree) {
      this.files.delete(id);
      this.children.delete(id);
    }
    this.invalidateAccess();
    for (const id of subtree) {
      const lost = [...(before.get(id) ?? [])];
      this.append({ changeType: 'file', fileId: id, driveId: file.driveId, audience: [], removedFor: lost });
    }
  }

  markViewed(actor: UserRecord, file: FileRecord): void {
    file.viewedByMe.set(actor.id, this.now());
  }

  // ---------------------------------------------------------------- permissions

  createPermission(actor: UserRecord, file: FileRecord, spec: NewPermissionSpec): PermissionRecord {
    if (!this.canShare(actor, file) || file.isRoot) throw driveErrors.insufficientFilePermissions(file.id);
    if (spec.role === 'owner' && (file.driveId !== undefined || !spec.transferOwnership)) {
      throw driveErrors.badRequest(
        'The transferOwnership parameter must be enabled when the permission role is \'owner\'.',
        'transferOwnership',
      );
    }
    if (file.driveId === undefined && (spec.role === 'organizer' || spec.role === 'fileOrganizer')) {
      throw driveErrors.badRequest('The provided role is not valid for items outside a shared drive.', 'permission.role');
    }
    let id: string;
    let emailAddress: string | undefined;
    if (spec.type === 'user' || spec.type === 'group') {
      if (!spec.emailAddress) throw driveErrors.required('permission.emailAddress');
      emailAddress = spec.emailAddress.toLowerCase();
      const user = this.usersByEmail.get(emailAddress);
      id = user ? user.id : this.stablePermissionId(emailAddress);
    } else if (spec.type === 'domain') {
      if (!spec.domain) throw driveErrors.required('permission.domain');
      id = `${this.stablePermissionId(spec.domain)}k`;
    } else {
      id = 'anyoneWithLink';
    }
    const subtree = this.subtreeIds(file.id);
    const before = this.audienceSnapshot(subtree);
    const time = this.now();
    if (spec.role === 'owner') {
      const newOwner = emailAddress === undefined ? undefined : this.usersByEmail.get(emailAddress);
      if (!newOwner) throw driveErrors.badRequest('The new owner must be a user of this emulator.', 'permission.emailAddress');
      const previousOwner = file.ownerId;
      file.ownerId = newOwner.id;
      removeWhere(file.permissions, (p) => p.id === newOwner.id);
      const previous = previousOwner === undefined ? undefined : this.users.get(previousOwner);
      if (previous) {
        file.permissions.push({ id: previous.id, type: 'user', role: 'writer', emailAddress: previous.email, createdTime: time });
      }
    }
    const existing = file.permissions.find((p) => p.id === id);
    const record: PermissionRecord = existing ?? {
      id,
      type: spec.type,
      role: spec.role,
      ...(emailAddress !== undefined ? { emailAddress } : {}),
      ...(spec.domain !== undefined ? { domain: spec.domain } : {}),
      ...(spec.allowFileDiscovery !== undefined ? { allowFileDiscovery: spec.allowFileDiscovery } : {}),
      ...(spec.expirationTime !== undefined ? { expirationTime: spec.expirationTime } : {}),
      createdTime: time,
    };
    if (spec.role !== 'owner') {
      record.role = spec.role;
      if (!existing) file.permissions.push(record);
    }
    const grantee = emailAddress === undefined ? undefined : this.usersByEmail.get(emailAddress);
    if (grantee && !file.sharedWithMeTime.has(grantee.id)) file.sharedWithMeTime.set(grantee.id, time);
    file.version++;
    this.invalidateAccess();
    this.logAudienceDeltas(subtree, before, file.id);
    return spec.role === 'owner' && grantee
      ? { id: grantee.id, type: 'user', role: 'owner', emailAddress: grantee.email, createdTime: time }
      : record;
  }

  updatePermission(actor: UserRecord, file: FileRecord, permissionId: string, role: Role): PermissionRecord {
    if (!this.canShare(actor, file)) throw driveErrors.insufficientFilePermissions(file.id);
    const permission = file.permissions.find((p) => p.id === permissionId);
    if (!permission) throw driveErrors.notFound('Permission', permissionId, 'permissionId');
    if (role === 'owner') throw driveErrors.badRequest('Use permissions.create with transferOwnership to change the owner.');
    const subtree = this.subtreeIds(file.id);
    const before = this.audienceSnapshot(subtree);
    permission.role = role;
    file.version++;
    this.invalidateAccess();
    this.logAudienceDeltas(subtree, before, file.id);
    return permission;
  }

  deletePermission(actor: UserRecord, file: FileRecord, permissionId: string): void {
    if (!this.canShare(actor, file)) throw driveErrors.insufficientFilePermissions(file.id);
    const index = file.permissions.findIndex((p) => p.id === permissionId);
    if (index < 0) {
      if (file.ownerId === permissionId) throw driveErrors.badRequest('The owner of a file cannot be removed.');
      throw driveErrors.notFound('Permission', permissionId, 'permissionId');
    }
    const subtree = this.subtreeIds(file.id);
    const before = this.audienceSnapshot(subtree);
    const [removed] = file.permissions.splice(index, 1);
    const formerGrantee = removed?.emailAddress === undefined ? undefined : this.usersByEmail.get(removed.emailAddress);
    if (formerGrantee) file.sharedWithMeTime.delete(formerGrantee.id);
    file.version++;
    this.invalidateAccess();
    this.logAudienceDeltas(subtree, before, file.id);
  }

  private stablePermissionId(key: string): string {
    const digest = createHash('sha256').update(key).digest();
    let out = '';
    for (let i = 0; i < 20; i++) out += String((digest[i] ?? 0) % 10);
    return out;
  }

  // ---------------------------------------------------------------- comments

  createComment(
    actor: UserRecord,
    file: FileRecord,
    spec: { content: string; anchor?: string; quotedFileContent?: { mimeType: string; value: string }; time?: number },
  ): CommentRecord {
    this.requireRole(actor, file, 'commenter');
    const time = spec.time ?? this.now();
    const comment: CommentRecord = {
      id: this.ids.comment(),
      authorId: actor.id,
      content: spec.content,
      createdTime: time,
      modifiedTime: time,
      deleted: false,
      resolved: false,
      ...(spec.anchor !== undefined ? { anchor: spec.anchor } : {}),
      ...(spec.quotedFileContent !== undefined ? { quotedFileContent: spec.quotedFileContent } : {}),
      replies: [],
    };
    file.comments.push(comment);
    this.touchForDiscussion(file);
    return comment;
  }

  createReply(
    actor: UserRecord,
    file: FileRecord,
    comment: CommentRecord,
    spec: { content?: string; action?: 'resolve' | 'reopen'; time?: number },
  ): ReplyRecord {
    this.requireRole(actor, file, 'commenter');
    if (comment.deleted) throw driveErrors.notFound('Comment', comment.id, 'commentId');
    const time = spec.time ?? this.now();
    const reply: ReplyRecord = {
      id: this.ids.reply(),
      authorId: actor.id,
      content: spec.content ?? '',
      createdTime: time,
      modifiedTime: time,
      deleted: false,
      ...(spec.action !== undefined ? { action: spec.action } : {}),
    };
    if (spec.action === 'resolve') comment.resolved = true;
    if (spec.action === 'reopen') comment.resolved = false;
    comment.replies.push(reply);
    comment.modifiedTime = time;
    this.touchForDiscussion(file);
    return reply;
  }

  commentOf(file: FileRecord, commentId: string): CommentRecord {
    const comment = file.comments.find((c) => c.id === commentId);
    if (!comment) throw driveErrors.notFound('Comment', commentId, 'commentId');
    return comment;
  }

  /** Discussions are server-side changes of the item: version moves and the log records it. */
  private touchForDiscussion(file: FileRecord): void {
    file.version++;
    this.generation++;
    this.appendFileChange(file, this.audienceOf(file), []);
  }

  // ---------------------------------------------------------------- admin knobs

  setExportPadding(fileId: string, bytes: number | undefined): void {
    const file = this.files.get(fileId);
    if (!file) throw driveErrors.fileNotFound(fileId);
    file.exportPadBytes = bytes;
  }
}

export function defaultWorkspaceText(file: Pick<FileRecord, 'name' | 'mimeType'>): string {
  return `${file.name}\n`;
}

function mergeProperties(current: Record<string, string>, patch: Record<string, string | null>): Record<string, string> {
  const next = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}

function removeWhere<T>(items: T[], predicate: (item: T) => boolean): void {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i] as T)) items.splice(i, 1);
}
