import type { drive_v3 } from '@googleapis/drive';
import type { FastifyInstance } from 'fastify';
import { driveErrors } from '../errors.js';
import { compileDriveQuery, type QueryableDrive } from '../query.js';
import {
  renderAbout,
  renderComment,
  renderDrive,
  renderPermission,
  renderReply,
  renderRevision,
} from '../store/render.js';
import { isRole, type PermissionType, type Role, type SharedDriveRecord } from '../store/types.js';
import { contentBytes } from '../store/world.js';
import {
  boolParam,
  intParam,
  optionalBoolean,
  optionalString,
  pageOf,
  parseJsonBody,
  stringParam,
} from './params.js';
import { type DriveCall, type DriveResult, driveRoute } from './route.js';
import type { EmulatorRuntime } from './runtime.js';

function fileOf(call: DriveCall) {
  return call.world.fileFor(call.user, call.params.fileId ?? '', call.support);
}

// ------------------------------------------------------------------ about

function aboutGet(call: DriveCall): DriveResult {
  return { kind: 'json', value: renderAbout(call.ctx), resource: 'about' };
}

// ------------------------------------------------------------------ permissions

function permissionsList(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const inSharedDrive = file.driveId !== undefined;
  const explicitSize = stringParam(call.query, 'pageSize') !== undefined;
  const pageSize = intParam(call.query, 'pageSize', 100, 1, 100);
  const all = call.world
    .effectivePermissions(file)
    .map((p) => renderPermission(call.world, p, inSharedDrive));
  // Without pageSize, My Drive items return every permission at once; shared-drive items at most 100.
  const size = explicitSize || inSharedDrive ? pageSize : Math.max(all.length, 1);
  const { page, nextPageToken } = pageOf(
    all,
    stringParam(call.query, 'pageToken'),
    size,
    `permissions:${file.id}`,
  );
  const list: drive_v3.Schema$PermissionList = { kind: 'drive#permissionList', permissions: page };
  if (nextPageToken !== undefined) list.nextPageToken = nextPageToken;
  return { kind: 'json', value: list, resource: 'permissionList' };
}

function permissionsGet(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const id = call.params.permissionId ?? '';
  const found = call.world.effectivePermissions(file).find((p) => p.permission.id === id);
  if (!found) throw driveErrors.notFound('Permission', id, 'permissionId');
  return {
    kind: 'json',
    value: renderPermission(call.world, found, file.driveId !== undefined),
    resource: 'permission',
  };
}

const PERMISSION_TYPES = new Set<PermissionType>(['user', 'group', 'domain', 'anyone']);

function permissionsCreate(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const body = parseJsonBody(call.body);
  const type = optionalString(body, 'type');
  const role = optionalString(body, 'role');
  if (type === undefined) throw driveErrors.required('permission.type');
  if (role === undefined) throw driveErrors.required('permission.role');
  if (!PERMISSION_TYPES.has(type as PermissionType))
    throw driveErrors.badRequest('Invalid permission type.', 'permission.type');
  if (!isRole(role)) throw driveErrors.badRequest('Invalid permission role.', 'permission.role');
  const emailAddress = optionalString(body, 'emailAddress');
  const domain = optionalString(body, 'domain');
  const allowFileDiscovery = optionalBoolean(body, 'allowFileDiscovery');
  const expiration = optionalString(body, 'expirationTime');
  const record = call.world.createPermission(call.user, file, {
    type: type as PermissionType,
    role,
    ...(emailAddress !== undefined ? { emailAddress } : {}),
    ...(domain !== undefined ? { domain } : {}),
    ...(allowFileDiscovery !== undefined ? { allowFileDiscovery } : {}),
    ...(expiration !== undefined ? { expirationTime: Date.parse(expiration) } : {}),
    transferOwnership: boolParam(call.query, 'transferOwnership', false),
  });
  const effective = call.world.effectivePermissions(file).find((p) => p.permission.id === record.id) ?? {
    permission: record,
    inherited: false,
    inheritedFrom: undefined,
    permissionType: 'file' as const,
  };
  return {
    kind: 'json',
    value: renderPermission(call.world, effective, file.driveId !== undefined),
    resource: 'permission',
  };
}

function permissionsUpdate(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const body = parseJsonBody(call.body);
  const role = optionalString(body, 'role');
  if (role === undefined) throw driveErrors.required('permission.role');
  if (!isRole(role)) throw driveErrors.badRequest('Invalid permission role.', 'permission.role');
  const record = call.world.updatePermission(call.user, file, call.params.permissionId ?? '', role as Role);
  return {
    kind: 'json',
    value: renderPermission(
      call.world,
      { permission: record, inherited: false, inheritedFrom: undefined, permissionType: 'file' },
      file.driveId !== undefined,
    ),
    resource: 'permission',
  };
}

function permissionsDelete(call: DriveCall): DriveResult {
  call.world.deletePermission(call.user, fileOf(call), call.params.permissionId ?? '');
  return { kind: 'empty' };
}

// ------------------------------------------------------------------ revisions

function readableRevisions(call: DriveCall) {
  const file = fileOf(call);
  call.world.requireRole(call.user, file, 'writer');
  return file;
}

function revisionsList(call: DriveCall): DriveResult {
  const file = readableRevisions(call);
  const pageSize = intParam(call.query, 'pageSize', 200, 1, 1000);
  const { page, nextPageToken } = pageOf(
    file.revisions,
    stringParam(call.query, 'pageToken'),
    pageSize,
    `revisions:${file.id}`,
  );
  const list: drive_v3.Schema$RevisionList = {
    kind: 'drive#revisionList',
    revisions: page.map((r) => renderRevision(call.ctx, file, r)),
  };
  if (nextPageToken !== undefined) list.nextPageToken = nextPageToken;
  return { kind: 'json', value: list, resource: 'revisionList' };
}

function revisionOf(call: DriveCall) {
  const file = readableRevisions(call);
  const id = call.params.revisionId ?? '';
  const revision = id === 'head' ? call.world.headRevision(file) : file.revisions.find((r) => r.id === id);
  if (!revision) throw driveErrors.notFound('Revision', id, 'revisionId');
  return { file, revision };
}

function revisionsGet(call: DriveCall): DriveResult {
  const { file, revision } = revisionOf(call);
  if (stringParam(call.query, 'alt') === 'media') {
    if (revision.kind !== 'binary') throw driveErrors.fileNotDownloadable();
    return { kind: 'media', bytes: contentBytes(revision.content), contentType: revision.mimeType };
  }
  return { kind: 'json', value: renderRevision(call.ctx, file, revision), resource: 'revision' };
}

function revisionsUpdate(call: DriveCall): DriveResult {
  const { file, revision } = revisionOf(call);
  const keepForever = optionalBoolean(parseJsonBody(call.body), 'keepForever');
  if (keepForever !== undefined && revision.kind === 'binary') {
    revision.keepForever = keepForever;
    file.version++;
    call.world.generation++;
  }
  return { kind: 'json', value: renderRevision(call.ctx, file, revision), resource: 'revision' };
}

// ------------------------------------------------------------------ comments and replies

function commentsList(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const pageSize = intParam(call.query, 'pageSize', 20, 1, 100);
  const includeDeleted = boolParam(call.query, 'includeDeleted', false);
  const since = stringParam(call.query, 'startModifiedTime');
  const sinceMs = since === undefined ? undefined : Date.parse(since);
  if (sinceMs !== undefined && Number.isNaN(sinceMs))
    throw driveErrors.badRequest('Invalid Value', 'startModifiedTime');
  const comments = file.comments.filter(
    (c) => (includeDeleted || !c.deleted) && (sinceMs === undefined || c.modifiedTime >= sinceMs),
  );
  const { page, nextPageToken } = pageOf(
    comments,
    stringParam(call.query, 'pageToken'),
    pageSize,
    `comments:${file.id}`,
  );
  const list: drive_v3.Schema$CommentList = {
    kind: 'drive#commentList',
    comments: page.map((c) => renderComment(call.ctx, c, includeDeleted)),
  };
  if (nextPageToken !== undefined) list.nextPageToken = nextPageToken;
  return { kind: 'json', value: list, resource: 'commentList' };
}

function commentsGet(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const comment = call.world.commentOf(file, call.params.commentId ?? '');
  const includeDeleted = boolParam(call.query, 'includeDeleted', false);
  if (comment.deleted && !includeDeleted) throw driveErrors.notFound('Comment', comment.id, 'commentId');
  return { kind: 'json', value: renderComment(call.ctx, comment, includeDeleted), resource: 'comment' };
}

function quotedContentOf(body: Record<string, unknown>): { mimeType: string; value: string } | undefined {
  const quoted = body.quotedFileContent;
  if (typeof quoted !== 'object' || quoted === null) return undefined;
  const record = quoted as Record<string, unknown>;
  return {
    mimeType: typeof record.mimeType === 'string' ? record.mimeType : 'text/plain',
    value: typeof record.value === 'string' ? record.value : '',
  };
}

function commentsCreate(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const body = parseJsonBody(call.body);
  const content = optionalString(body, 'content');
  if (content === undefined || content === '') throw driveErrors.required('content');
  const anchor = optionalString(body, 'anchor');
  const quotedFileContent = quotedContentOf(body);
  const comment = call.world.createComment(call.user, file, {
    content,
    ...(anchor !== undefined ? { anchor } : {}),
    ...(quotedFileContent !== undefined ? { quotedFileContent } : {}),
  });
  return { kind: 'json', value: renderComment(call.ctx, comment, false), resource: 'comment' };
}

function repliesList(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const comment = call.world.commentOf(file, call.params.commentId ?? '');
  const pageSize = intParam(call.query, 'pageSize', 20, 1, 100);
  const includeDeleted = boolParam(call.query, 'includeDeleted', false);
  const replies = comment.replies.filter((r) => includeDeleted || !r.deleted);
  const { page, nextPageToken } = pageOf(
    replies,
    stringParam(call.query, 'pageToken'),
    pageSize,
    `replies:${comment.id}`,
  );
  const list: drive_v3.Schema$ReplyList = {
    kind: 'drive#replyList',
    replies: page.map((r) => renderReply(call.ctx, r)),
  };
  if (nextPageToken !== undefined) list.nextPageToken = nextPageToken;
  return { kind: 'json', value: list, resource: 'replyList' };
}

function repliesGet(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const comment = call.world.commentOf(file, call.params.commentId ?? '');
  const id = call.params.replyId ?? '';
  const reply = comment.replies.find((r) => r.id === id);
  if (!reply || (reply.deleted && !boolParam(call.query, 'includeDeleted', false))) {
    throw driveErrors.notFound('Reply', id, 'replyId');
  }
  return { kind: 'json', value: renderReply(call.ctx, reply), resource: 'reply' };
}

function repliesCreate(call: DriveCall): DriveResult {
  const file = fileOf(call);
  const comment = call.world.commentOf(file, call.params.commentId ?? '');
  const body = parseJsonBody(call.body);
  const content = optionalString(body, 'content');
  const action = optionalString(body, 'action');
  if (action !== undefined && action !== 'resolve' && action !== 'reopen') {
    throw driveErrors.badRequest('Invalid value for action.', 'action');
  }
  if ((content === undefined || content === '') && action === undefined)
    throw driveErrors.required('content');
  const reply = call.world.createReply(call.user, file, comment, {
    ...(content !== undefined ? { content } : {}),
    ...(action !== undefined ? { action } : {}),
  });
  return { kind: 'json', value: renderReply(call.ctx, reply), resource: 'reply' };
}

// ------------------------------------------------------------------ shared drives

/** drives.list `q`: name, createdTime, hidden, memberCount and organizerCount (Google's shared-drive terms). */
function driveMatcher(q: string | undefined): ((drive: SharedDriveRecord) => boolean) | undefined {
  if (q === undefined || q.trim() === '') return undefined;
  const predicate = compileDriveQuery(q);
  return (drive) => {
    let organizerCount = 0;
    for (const role of drive.members.values()) if (role === 'organizer') organizerCount++;
    const view: QueryableDrive = {
      id: drive.id,
      name: drive.name,
      createdTime: new Date(drive.createdTime).toISOString(),
      hidden: drive.hidden,
      memberCount: drive.members.size,
      organizerCount,
    };
    return predicate(view);
  };
}

function drivesList(call: DriveCall): DriveResult {
  const pageSize = intParam(call.query, 'pageSize', 10, 1, 100);
  const matcher = driveMatcher(stringParam(call.query, 'q'));
  const drives = [...call.world.drives.values()].filter(
    (d) => d.members.has(call.user.id) && (!matcher || matcher(d)),
  );
  const { page, nextPageToken } = pageOf(drives, stringParam(call.query, 'pageToken'), pageSize, 'drives');
  const list: drive_v3.Schema$DriveList = {
    kind: 'drive#driveList',
    drives: page.map((d) => renderDrive(call.ctx, d)),
  };
  if (nextPageToken !== undefined) list.nextPageToken = nextPageToken;
  return { kind: 'json', value: list, resource: 'driveList' };
}

function drivesGet(call: DriveCall): DriveResult {
  const drive = call.world.driveOrThrow(call.params.driveId ?? '', call.user);
  return { kind: 'json', value: renderDrive(call.ctx, drive), resource: 'drive' };
}

function drivesCreate(call: DriveCall): DriveResult {
  const requestId = stringParam(call.query, 'requestId');
  if (requestId === undefined || requestId === '') throw driveErrors.required('requestId');
  const name = optionalString(parseJsonBody(call.body), 'name');
  if (name === undefined || name === '') throw driveErrors.required('name');
  const drive = call.world.createSharedDrive(call.user, name, requestId);
  return { kind: 'json', value: renderDrive(call.ctx, drive), resource: 'drive' };
}

function drivesUpdate(call: DriveCall): DriveResult {
  const name = optionalString(parseJsonBody(call.body), 'name');
  const driveId = call.params.driveId ?? '';
  const drive =
    name === undefined
      ? call.world.driveOrThrow(driveId, call.user)
      : call.world.renameSharedDrive(call.user, driveId, name);
  return { kind: 'json', value: renderDrive(call.ctx, drive), resource: 'drive' };
}

export function registerResourceRoutes(app: FastifyInstance, runtime: EmulatorRuntime): void {
  const route = (spec: Parameters<typeof driveRoute>[2]) => driveRoute(app, runtime, spec);
  route({
    method: 'GET',
    url: '/drive/v3/about',
    id: 'drive.about.get',
    fieldsRequired: true,
    resource: 'about',
    handler: aboutGet,
  });

  const permissions = '/drive/v3/files/:fileId/permissions';
  route({
    method: 'GET',
    url: permissions,
    id: 'drive.permissions.list',
    resource: 'permissionList',
    handler: permissionsList,
  });
  route({
    method: 'GET',
    url: `${permissions}/:permissionId`,
    id: 'drive.permissions.get',
    resource: 'permission',
    handler: permissionsGet,
  });
  route({
    method: 'POST',
    url: permissions,
    id: 'drive.permissions.create',
    write: true,
    resource: 'permission',
    handler: permissionsCreate,
  });
  route({
    method: 'PATCH',
    url: `${permissions}/:permissionId`,
    id: 'drive.permissions.update',
    write: true,
    resource: 'permission',
    handler: permissionsUpdate,
  });
  route({
    method: 'DELETE',
    url: `${permissions}/:permissionId`,
    id: 'drive.permissions.delete',
    write: true,
    handler: permissionsDelete,
  });

  const revisions = '/drive/v3/files/:fileId/revisions';
  route({
    method: 'GET',
    url: revisions,
    id: 'drive.revisions.list',
    resource: 'revisionList',
    handler: revisionsList,
  });
  route({
    method: 'GET',
    url: `${revisions}/:revisionId`,
    id: 'drive.revisions.get',
    resource: 'revision',
    handler: revisionsGet,
  });
  route({
    method: 'PATCH',
    url: `${revisions}/:revisionId`,
    id: 'drive.revisions.update',
    write: true,
    resource: 'revision',
    handler: revisionsUpdate,
  });

  const comments = '/drive/v3/files/:fileId/comments';
  route({
    method: 'GET',
    url: comments,
    id: 'drive.comments.list',
    fieldsRequired: true,
    resource: 'commentList',
    handler: commentsList,
  });
  route({
    method: 'GET',
    url: `${comments}/:commentId`,
    id: 'drive.comments.get',
    fieldsRequired: true,
    resource: 'comment',
    handler: commentsGet,
  });
  route({
    method: 'POST',
    url: comments,
    id: 'drive.comments.create',
    write: true,
    fieldsRequired: true,
    resource: 'comment',
    handler: commentsCreate,
  });
  const replies = `${comments}/:commentId/replies`;
  route({
    method: 'GET',
    url: replies,
    id: 'drive.replies.list',
    fieldsRequired: true,
    resource: 'replyList',
    handler: repliesList,
  });
  route({
    method: 'GET',
    url: `${replies}/:replyId`,
    id: 'drive.replies.get',
    fieldsRequired: true,
    resource: 'reply',
    handler: repliesGet,
  });
  route({
    method: 'POST',
    url: replies,
    id: 'drive.replies.create',
    write: true,
    fieldsRequired: true,
    resource: 'reply',
    handler: repliesCreate,
  });

  route({
    method: 'GET',
    url: '/drive/v3/drives',
    id: 'drive.drives.list',
    resource: 'driveList',
    handler: drivesList,
  });
  route({
    method: 'GET',
    url: '/drive/v3/drives/:driveId',
    id: 'drive.drives.get',
    resource: 'drive',
    handler: drivesGet,
  });
  route({
    method: 'POST',
    url: '/drive/v3/drives',
    id: 'drive.drives.create',
    write: true,
    resource: 'drive',
    handler: drivesCreate,
  });
  route({
    method: 'PATCH',
    url: '/drive/v3/drives/:driveId',
    id: 'drive.drives.update',
    write: true,
    resource: 'drive',
    handler: drivesUpdate,
  });
}
