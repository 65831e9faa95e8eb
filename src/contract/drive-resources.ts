import { z } from 'zod';

/**
 * The Drive v3 resources the worker depends on (DRIVE_API.md §1.5, §3, §4), as zod schemas
 * lenient on fields we do not use and strict on those we do, plus the exact `fields`
 * selectors the worker sends. Every list selector names nextPageToken (and changes also
 * newStartPageToken): leaving it out silently ends a sync after its first page.
 */

const int64 = z.string().regex(/^-?\d+$/);

export const driveUserSchema = z
  .object({
    displayName: z.string().optional(),
    emailAddress: z.string().optional(),
    permissionId: z.string().optional(),
    me: z.boolean().optional(),
  })
  .loose();
export type DriveUser = z.infer<typeof driveUserSchema>;

export const drivePermissionSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    role: z.string(),
    emailAddress: z.string().optional(),
    domain: z.string().optional(),
    displayName: z.string().optional(),
    allowFileDiscovery: z.boolean().optional(),
    expirationTime: z.string().optional(),
    deleted: z.boolean().optional(),
    permissionDetails: z
      .array(
        z
          .object({
            permissionType: z.string().optional(),
            role: z.string().optional(),
            inherited: z.boolean().optional(),
            inheritedFrom: z.string().optional(),
          })
          .loose(),
      )
      .optional(),
  })
  .loose();
export type DrivePermission = z.infer<typeof drivePermissionSchema>;

export const driveFileSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    mimeType: z.string(),
    parents: z.array(z.string()).optional(),
    driveId: z.string().optional(),
    trashed: z.boolean().optional(),
    explicitlyTrashed: z.boolean().optional(),
    size: int64.optional(),
    md5Checksum: z.string().optional(),
    version: int64.optional(),
    createdTime: z.string().optional(),
    modifiedTime: z.string().optional(),
    owners: z.array(driveUserSchema).optional(),
    ownedByMe: z.boolean().optional(),
    permissionIds: z.array(z.string()).optional(),
    permissions: z.array(drivePermissionSchema).optional(),
    webViewLink: z.string().optional(),
    description: z.string().optional(),
    starred: z.boolean().optional(),
    shared: z.boolean().optional(),
    headRevisionId: z.string().optional(),
    lastModifyingUser: driveUserSchema.optional(),
    shortcutDetails: z
      .object({ targetId: z.string().optional(), targetMimeType: z.string().optional() })
      .loose()
      .optional(),
    capabilities: z
      .object({ canReadRevisions: z.boolean().optional(), canDownload: z.boolean().optional() })
      .loose()
      .optional(),
  })
  .loose();
export type DriveFile = z.infer<typeof driveFileSchema>;

export const driveRevisionSchema = z
  .object({
    id: z.string(),
    mimeType: z.string().optional(),
    modifiedTime: z.string().optional(),
    keepForever: z.boolean().optional(),
    md5Checksum: z.string().optional(),
    size: int64.optional(),
    originalFilename: z.string().optional(),
    lastModifyingUser: driveUserSchema.optional(),
  })
  .loose();
export type DriveRevision = z.infer<typeof driveRevisionSchema>;

export const driveReplySchema = z
  .object({
    id: z.string(),
    createdTime: z.string().optional(),
    modifiedTime: z.string().optional(),
    author: driveUserSchema.optional(),
    content: z.string().optional(),
    deleted: z.boolean().optional(),
    action: z.string().optional(),
  })
  .loose();
export type DriveReply = z.infer<typeof driveReplySchema>;

export const driveCommentSchema = z
  .object({
    id: z.string(),
    createdTime: z.string().optional(),
    modifiedTime: z.string().optional(),
    author: driveUserSchema.optional(),
    content: z.string().optional(),
    deleted: z.boolean().optional(),
    resolved: z.boolean().optional(),
    quotedFileContent: z
      .object({ mimeType: z.string().optional(), value: z.string().optional() })
      .loose()
      .optional(),
    replies: z.array(driveReplySchema).optional(),
  })
  .loose();
export type DriveComment = z.infer<typeof driveCommentSchema>;

export const sharedDriveSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    createdTime: z.string().optional(),
    hidden: z.boolean().optional(),
    colorRgb: z.string().optional(),
  })
  .loose();
export type SharedDrive = z.infer<typeof sharedDriveSchema>;

export const driveChangeSchema = z
  .object({
    changeType: z.enum(['file', 'drive']),
    time: z.string(),
    removed: z.boolean().optional(),
    fileId: z.string().optional(),
    file: driveFileSchema.optional(),
    driveId: z.string().optional(),
    drive: sharedDriveSchema.optional(),
  })
  .loose();
export type DriveChange = z.infer<typeof driveChangeSchema>;

/*
 * List envelopes. Items default to [] because Drive leaves an empty page's array out, and
 * pages can be empty before the end of a list (DRIVE_API.md §1.3): only the absence of
 * nextPageToken ends one.
 */
export const fileListSchema = z
  .object({
    nextPageToken: z.string().optional(),
    incompleteSearch: z.boolean().optional(),
    files: z.array(driveFileSchema).default([]),
  })
  .loose();
export type FileList = z.infer<typeof fileListSchema>;

/** `newStartPageToken` appears on the last page only; it is the next sync's cursor. */
export const changeListSchema = z
  .object({
    nextPageToken: z.string().optional(),
    newStartPageToken: z.string().optional(),
    changes: z.array(driveChangeSchema).default([]),
  })
  .loose();
export type ChangeList = z.infer<typeof changeListSchema>;

export const permissionListSchema = z
  .object({
    nextPageToken: z.string().optional(),
    permissions: z.array(drivePermissionSchema).default([]),
  })
  .loose();
export type PermissionList = z.infer<typeof permissionListSchema>;

export const revisionListSchema = z
  .object({
    nextPageToken: z.string().optional(),
    revisions: z.array(driveRevisionSchema).default([]),
  })
  .loose();
export type RevisionList = z.infer<typeof revisionListSchema>;

export const commentListSchema = z
  .object({
    nextPageToken: z.string().optional(),
    comments: z.array(driveCommentSchema).default([]),
  })
  .loose();
export type CommentList = z.infer<typeof commentListSchema>;

/** `replies.list`, for a comment whose embedded replies were cut short. */
export const replyListSchema = z
  .object({
    nextPageToken: z.string().optional(),
    replies: z.array(driveReplySchema).default([]),
  })
  .loose();
export type ReplyList = z.infer<typeof replyListSchema>;

export const driveListSchema = z
  .object({
    nextPageToken: z.string().optional(),
    drives: z.array(sharedDriveSchema).default([]),
  })
  .loose();
export type DriveList = z.infer<typeof driveListSchema>;

export const startPageTokenSchema = z.object({ startPageToken: z.string().min(1) }).loose();
export type StartPageToken = z.infer<typeof startPageTokenSchema>;

/** A push channel as `changes.watch` returns it; `expiration` (int64 ms) may come as a string or a number. */
export const channelSchema = z
  .object({
    id: z.string(),
    resourceId: z.string(),
    resourceUri: z.string().optional(),
    token: z.string().optional(),
    expiration: z.union([z.string(), z.number()]).optional(),
  })
  .loose();
export type DriveChannel = z.infer<typeof channelSchema>;

const USER_FIELDS = 'displayName,emailAddress,permissionId';
export const PERMISSION_FIELDS =
  'id,type,role,emailAddress,domain,displayName,allowFileDiscovery,expirationTime,deleted,permissionDetails';
export const FILE_FIELDS = [
  'id,name,mimeType,parents,driveId,trashed,explicitlyTrashed,size,md5Checksum,version,createdTime,modifiedTime',
  `owners(${USER_FIELDS}),ownedByMe,permissionIds,permissions(${PERMISSION_FIELDS})`,
  'webViewLink,description,starred,shared,headRevisionId',
  `lastModifyingUser(${USER_FIELDS}),shortcutDetails(targetId,targetMimeType),capabilities(canReadRevisions,canDownload)`,
].join(',');
export const REVISION_FIELDS = `id,mimeType,modifiedTime,keepForever,md5Checksum,size,originalFilename,lastModifyingUser(${USER_FIELDS})`;
// Comment and reply authors carry no email address or permission id (DRIVE_API.md §3).
export const REPLY_FIELDS = 'id,createdTime,modifiedTime,author(displayName),content,deleted,action';
export const COMMENT_FIELDS = `id,createdTime,modifiedTime,author(displayName),content,deleted,resolved,quotedFileContent,replies(${REPLY_FIELDS})`;
export const DRIVE_FIELDS = 'id,name,createdTime,hidden,colorRgb';

export const FILE_LIST_FIELDS = `nextPageToken,incompleteSearch,files(${FILE_FIELDS})`;
/** Just enough to place an item (scope, keyset position, trashed): listings that fetch no records. */
export const FILE_LOCATOR_LIST_FIELDS =
  'nextPageToken,incompleteSearch,files(id,name,mimeType,driveId,parents,createdTime,trashed)';
export const CHANGE_LIST_FIELDS = `nextPageToken,newStartPageToken,changes(changeType,time,removed,fileId,driveId,file(${FILE_FIELDS}),drive(${DRIVE_FIELDS}))`;
export const PERMISSION_LIST_FIELDS = `nextPageToken,permissions(${PERMISSION_FIELDS})`;
export const REVISION_LIST_FIELDS = `nextPageToken,revisions(${REVISION_FIELDS})`;
export const COMMENT_LIST_FIELDS = `nextPageToken,comments(${COMMENT_FIELDS})`;
export const REPLY_LIST_FIELDS = `nextPageToken,replies(${REPLY_FIELDS})`;
export const DRIVE_LIST_FIELDS = `nextPageToken,drives(${DRIVE_FIELDS})`;
export const START_PAGE_TOKEN_FIELDS = 'startPageToken';
export const CHANNEL_FIELDS = 'id,resourceId,resourceUri,token,expiration';
