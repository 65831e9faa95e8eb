/** The emulator's own records. HTTP renders them into googleapis' `drive_v3.Schema$*` shapes per viewer. */

export type Role = 'owner' | 'organizer' | 'fileOrganizer' | 'writer' | 'commenter' | 'reader';
export type DriveRole = Exclude<Role, 'owner'>;
export type PermissionType = 'user' | 'group' | 'domain' | 'anyone';

const ROLE_RANK: Readonly<Record<Role, number>> = {
  reader: 1,
  commenter: 2,
  writer: 3,
  fileOrganizer: 4,
  organizer: 5,
  owner: 6,
};

export function roleRank(role: Role | undefined): number {
  return role === undefined ? 0 : ROLE_RANK[role];
}

export function higherRole(a: Role | undefined, b: Role | undefined): Role | undefined {
  return roleRank(a) >= roleRank(b) ? a : b;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && value in ROLE_RANK;
}

export interface UserRecord {
  /** Also the user's permission id, as Google uses one id for both. */
  readonly id: string;
  readonly email: string;
  displayName: string;
  readonly rootFolderId: string;
  readonly createdTime: number;
}

export interface SharedDriveRecord {
  readonly id: string;
  name: string;
  readonly createdTime: number;
  hidden: boolean;
  colorRgb: string;
  themeId: string;
  /** user id → role. */
  readonly members: Map<string, DriveRole>;
}

export interface PermissionRecord {
  readonly id: string;
  readonly type: PermissionType;
  role: Role;
  /** For user and group permissions. */
  readonly emailAddress?: string;
  readonly domain?: string;
  allowFileDiscovery?: boolean;
  expirationTime?: number;
  readonly createdTime: number;
}

/** Bytes are either stored (uploads) or derived on demand from a seed (generated corpora). */
export type ContentSource =
  | { readonly kind: 'bytes'; readonly bytes: Buffer }
  | { readonly kind: 'generated'; readonly seedText: string; readonly size: number };

export interface BinaryRevisionRecord {
  readonly kind: 'binary';
  readonly id: string;
  readonly mimeType: string;
  readonly modifiedTime: number;
  readonly lastModifyingUserId: string;
  readonly originalFilename: string;
  readonly content: ContentSource;
  readonly size: number;
  md5?: string;
  keepForever: boolean;
}

export interface WorkspaceRevisionRecord {
  readonly kind: 'workspace';
  readonly id: string;
  readonly mimeType: string;
  readonly modifiedTime: number;
  readonly lastModifyingUserId: string;
  /** The text body every export is derived from. */
  readonly text: string;
}

export type RevisionRecord = BinaryRevisionRecord | WorkspaceRevisionRecord;

export interface ReplyRecord {
  readonly id: string;
  readonly authorId: string;
  content: string;
  readonly createdTime: number;
  modifiedTime: number;
  deleted: boolean;
  action?: 'resolve' | 'reopen';
}

export interface CommentRecord {
  readonly id: string;
  readonly authorId: string;
  content: string;
  readonly createdTime: number;
  modifiedTime: number;
  deleted: boolean;
  resolved: boolean;
  anchor?: string;
  quotedFileContent?: { mimeType: string; value: string };
  readonly replies: ReplyRecord[];
}

export interface FileRecord {
  readonly id: string;
  name: string;
  mimeType: string;
  /** Absent only for root folders (a user's My Drive root, a shared drive's root). */
  parentId: string | undefined;
  /** Set for items inside a shared drive, including its root folder; moves between drives change it. */
  driveId: string | undefined;
  /** Owner of a My Drive item; shared-drive items have none. */
  ownerId: string | undefined;
  readonly isRoot: boolean;
  readonly createdTime: number;
  modifiedTime: number;
  /** Increases on every change of the item. */
  version: number;
  description: string | undefined;
  explicitlyTrashed: boolean;
  trashedTime: number | undefined;
  trashingUserId: string | undefined;
  /** Whose edit was last: renders as lastModifyingUser. */
  lastModifyingUserId: string;
  writersCanShare: boolean;
  properties: Record<string, string>;
  appProperties: Record<string, string>;
  shortcutTargetId: string | undefined;
  /** Readers and commenters may not download, copy or print the file. */
  copyRequiresWriterPermission: boolean;
  /** Per-user state. */
  readonly starredBy: Set<string>;
  readonly viewedByMe: Map<string, number>;
  readonly modifiedByMe: Map<string, number>;
  /** user id → when the file was shared with them directly. */
  readonly sharedWithMeTime: Map<string, number>;
  /** Direct permissions; inherited ones are computed from ancestors. */
  readonly permissions: PermissionRecord[];
  /** Oldest first; the last one is the head. */
  readonly revisions: RevisionRecord[];
  readonly comments: CommentRecord[];
  /** Next numeric revision id for Workspace files. */
  nextWorkspaceRevision: number;
  /** Admin knob: pad every export of this file to this many bytes (tests of the 10 MB cap). */
  exportPadBytes: number | undefined;
}

export type ChangeKind = 'file' | 'drive';

export interface ChangeEntry {
  readonly seq: number;
  readonly time: number;
  readonly changeType: ChangeKind;
  /** For file changes. */
  readonly fileId: string | undefined;
  /** The shared drive a file change happened in, or the drive of a drive change. */
  readonly driveId: string | undefined;
  /** Users for whom this is an ordinary change. */
  readonly audience: readonly string[];
  /** Users for whom the item left their corpus (deleted or access lost). */
  readonly removedFor: readonly string[];
  /** The item moved out of `driveId`: that shared drive's own log reads a removal. */
  readonly departed?: boolean;
}
