import type { drive_v3 } from '@googleapis/drive';
import type { FastifyInstance } from 'fastify';
import { driveErrors } from '../errors.js';
import { selectionOf } from '../fields.js';
import { boundaryOf, parseMultipart } from '../multipart.js';
import { filesPageLength } from '../realism.js';
import { canExport, EXPORT_SIZE_LIMIT_BYTES, renderExport } from '../store/exports.js';
import { type FileListOptions, listFiles } from '../store/listing.js';
import { hasBinaryContent, isWorkspaceType, mimeTypeForName, SHORTCUT_MIME } from '../store/mime.js';
import { renderFileFields } from '../store/render.js';
import { type FileRecord, roleRank } from '../store/types.js';
import { contentBytes, type FilePatch, type NewFileSpec } from '../store/world.js';
import {
  boolParam,
  decodeOffsetToken,
  encodeOffsetToken,
  intParam,
  listParam,
  offsetTokenAttempt,
  optionalBoolean,
  optionalString,
  optionalStringMap,
  parseJsonBody,
  stringParam,
} from './params.js';
import { type DriveCall, type DriveResult, driveRoute } from './route.js';
import type { EmulatorRuntime } from './runtime.js';

const CORPORA = new Set(['user', 'drive', 'allDrives', 'domain']);

function listOptions(call: DriveCall): FileListOptions {
  const { query } = call;
  const corporaParam = stringParam(query, 'corpora') ?? stringParam(query, 'corpus');
  const corpora = corporaParam ?? 'user';
  if (!CORPORA.has(corpora)) throw driveErrors.badRequest(`Invalid Value`, 'corpora');
  const spaces = listParam(query, 'spaces');
  return {
    q: stringParam(query, 'q'),
    orderBy: stringParam(query, 'orderBy'),
    corpora: corpora as FileListOptions['corpora'],
    driveId: stringParam(query, 'driveId') ?? stringParam(query, 'teamDriveId'),
    includeItemsFromAllDrives:
      boolParam(query, 'includeItemsFromAllDrives', false) ||
      boolParam(query, 'includeTeamDriveItems', false),
    supportsAllDrives: call.support.supportsAllDrives,
    spaces: spaces.length > 0 ? spaces : ['drive'],
  };
}

function filesList(call: DriveCall): DriveResult {
  const options = listOptions(call);
  const pageSize = intParam(call.query, 'pageSize', 100, 1, 1000);
  const key = `${call.user.id}\u0000${JSON.stringify(options)}`;
  const token = stringParam(call.query, 'pageToken');
  const offset = decodeOffsetToken(token, 'files');
  const { runtime, world } = call;
  let cached = runtime.listCache.get(key);
  // Results are recomputed when the world changed; offsets may then shift, as Google warns.
  if (!cached || cached.generation !== world.generation)
    cached = runtime.rememberList(key, listFiles(world, call.user, options));
  const length = runtime.realism.partialPages
    ? filesPageLength(runtime.seed, offset, pageSize, offsetTokenAttempt(token))
    : pageSize;
  const ids = cached.ids.slice(offset, offset + length);
  const files: drive_v3.Schema$File[] = [];
  // Only the fields the request selects are rendered (none when `files` is not selected).
  const selection = selectionOf(call.mask, 'fileList', ['files']);
  if (selection !== 'none') {
    for (const id of ids) {
      const file = world.files.get(id);
      if (file) files.push(renderFileFields(call.ctx, file, selection));
    }
  }
  const list: drive_v3.Schema$FileList = { kind: 'drive#fileList', incompleteSearch: false, files };
  if (length === 0 && offset < cached.ids.length) {
    // An empty page before the end: the same position, one more empty page served.
    list.nextPageToken = encodeOffsetToken(offset, 'files', offsetTokenAttempt(token) + 1);
  } else if (offset + length < cached.ids.length) {
    list.nextPageToken = encodeOffsetToken(offset + length, 'files');
  }
  return { kind: 'json', value: list, resource: 'fileList' };
}

/** A File answer rendered for the request's `fields` (Drive's default set when absent). */
function fileResult(call: DriveCall, file: FileRecord): DriveResult {
  return {
    kind: 'json',
    value: renderFileFields(call.ctx, file, selectionOf(call.mask, 'file', [])),
    resource: 'file',
  };
}

function fileOf(call: DriveCall): FileRecord {
  const fileId = call.params.fileId;
  if (fileId === undefined) throw driveErrors.required('fileId');
  return call.world.fileFor(call.user, fileId, call.support);
}

/** copyRequiresWriterPermission: readers and commenters see the file but may not take its bytes. */
function refuseRestrictedDownload(call: DriveCall, file: FileRecord): void {
  if (!file.copyRequiresWriterPermission) return;
  if (roleRank(call.world.accessRole(call.user, file)) < roleRank('writer'))
    throw driveErrors.cannotDownloadFile();
}

function mediaOf(file: FileRecord, call: DriveCall): DriveResult {
  if (!hasBinaryContent(file.mimeType)) throw driveErrors.fileNotDownloadable();
  refuseRestrictedDownload(call, file);
  const head = call.world.headRevision(file);
  const bytes = head?.kind === 'binary' ? contentBytes(head.content) : Buffer.alloc(0);
  const range = call.headers.range;
  if (typeof range === 'string') return rangeOf(bytes, range, file.mimeType);
  return { kind: 'media', bytes, contentType: file.mimeType, headers: { 'accept-ranges': 'bytes' } };
}

/**
 * `Range: bytes=a-b` (also `a-` and `-n`, one range only): 206 with Content-Range, as
 * media downloads answer; a range starting past the end 416. Anything else is ignored and
 * the whole body sent, as HTTP allows.
 */
function rangeOf(bytes: Buffer, header: string, contentType: string): DriveResult {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const whole: DriveResult = { kind: 'media', bytes, contentType, headers: { 'accept-ranges': 'bytes' } };
  if (!match || (match[1] === '' && match[2] === '')) return whole;
  const total = bytes.length;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    start = Math.max(0, total - suffix);
    end = total - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? total - 1 : Math.min(Number(match[2]), total - 1);
  }
  if (start >= total || end < start) throw driveErrors.rangeNotSatisfiable(total);
  return {
    kind: 'media',
    bytes: bytes.subarray(start, end + 1),
    contentType,
    status: 206,
    headers: { 'accept-ranges': 'bytes', 'content-range': `bytes ${start}-${end}/${total}` },
  };
}

function filesGet(call: DriveCall): DriveResult {
  const file = fileOf(call);
  if (stringParam(call.query, 'alt') === 'media') return mediaOf(file, call);
  return fileResult(call, file);
}

export function exportBytes(
  call: DriveCall,
  file: FileRecord,
  target: string,
  capped: boolean,
  revisionId?: string,
): Buffer {
  if (!isWorkspaceType(file.mimeType) || !canExport(file.mimeType, target))
    throw driveErrors.conversionNotSupported();
  const revision =
    revisionId === undefined
      ? call.world.headRevision(file)
      : file.revisions.find((r) => r.id === revisionId);
  const text = revision?.kind === 'workspace' ? revision.text : '';
  const bytes = renderExport({ name: file.name, mimeType: file.mimeType, text }, target, file.exportPadBytes);
  if (capped && bytes.length > EXPORT_SIZE_LIMIT_BYTES) throw driveErrors.exportSizeLimitExceeded();
  return bytes;
}

function filesExport(call: DriveCall): DriveResult {
  const target = stringParam(call.query, 'mimeType');
  if (target === undefined || target === '') throw driveErrors.required('mimeType');
  const file = fileOf(call);
  refuseRestrictedDownload(call, file);
  return { kind: 'media', bytes: exportBytes(call, file, target, true), contentType: target };
}

/** The metadata fields Drive accepts on create/copy/update bodies. */
function metadataOf(body: Record<string, unknown>): {
  name?: string;
  mimeType?: string;
  description?: string;
  starred?: boolean;
  trashed?: boolean;
  parents?: string[];
  properties?: Record<string, string | null>;
  appProperties?: Record<string, string | null>;
  shortcutTargetId?: string;
  modifiedTime?: number;
  createdTime?: number;
  writersCanShare?: boolean;
  copyRequiresWriterPermission?: boolean;
  originalFilename?: string;
} {
  const parents = body.parents;
  if (parents !== undefined && (!Array.isArray(parents) || parents.some((p) => typeof p !== 'string'))) {
    throw driveErrors.badRequest("Invalid value at 'parents'.", 'parents');
  }
  const shortcut = body.shortcutDetails;
  const shortcutTargetId =
    typeof shortcut === 'object' &&
    shortcut !== null &&
    'targetId' in shortcut &&
    typeof shortcut.targetId === 'string'
      ? shortcut.targetId
      : undefined;
  const time = (name: string): number | undefined => {
    const value = optionalString(body, name);
    if (value === undefined) return undefined;
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw driveErrors.badRequest(`Invalid value at '${name}'.`, name);
    return ms;
  };
  const out: ReturnType<typeof metadataOf> = {};
  const name = optionalString(body, 'name');
  if (name !== undefined) out.name = name;
  const mimeType = optionalString(body, 'mimeType');
  if (mimeType !== undefined) out.mimeType = mimeType;
  const description = optionalString(body, 'description');
  if (description !== undefined) out.description = description;
  const starred = optionalBoolean(body, 'starred');
  if (starred !== undefined) out.starred = starred;
  const trashed = optionalBoolean(body, 'trashed');
  if (trashed !== undefined) out.trashed = trashed;
  if (parents !== undefined) out.parents = parents as string[];
  const properties = optionalStringMap(body, 'properties');
  if (properties !== undefined) out.properties = properties;
  const appProperties = optionalStringMap(body, 'appProperties');
  if (appProperties !== undefined) out.appProperties = appProperties;
  if (shortcutTargetId !== undefined) out.shortcutTargetId = shortcutTargetId;
  const modifiedTime = time('modifiedTime');
  if (modifiedTime !== undefined) out.modifiedTime = modifiedTime;
  const createdTime = time('createdTime');
  if (createdTime !== undefined) out.createdTime = createdTime;
  const writersCanShare = optionalBoolean(body, 'writersCanShare');
  if (writersCanShare !== undefined) out.writersCanShare = writersCanShare;
  const originalFilename = optionalString(body, 'originalFilename');
  if (originalFilename !== undefined) out.originalFilename = originalFilename;
  const copyRequiresWriterPermission = optionalBoolean(body, 'copyRequiresWriterPermission');
  if (copyRequiresWriterPermission !== undefined)
    out.copyRequiresWriterPermission = copyRequiresWriterPermission;
  return out;
}

function nonNullProperties(
  map: Record<string, string | null> | undefined,
): Record<string, string> | undefined {
  if (!map) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(map)) if (value !== null) out[key] = value;
  return out;
}

interface UploadBody {
  readonly metadata: Record<string, unknown>;
  readonly media: Buffer | undefined;
  readonly mediaType: string | undefined;
}

/** Splits an upload request into metadata and media as `uploadType` says. */
function readUpload(call: DriveCall, isUploadPath: boolean): UploadBody {
  if (!isUploadPath) return { metadata: parseJsonBody(call.body), media: undefined, mediaType: undefined };
  const uploadType = stringParam(call.query, 'uploadType');
  const contentType = String(call.headers['content-type'] ?? 'application/octet-stream');
  if (uploadType === 'media') {
    return {
      metadata: {},
      media: call.body ?? Buffer.alloc(0),
      mediaType: contentType.split(';')[0]?.trim(),
    };
  }
  if (uploadType === 'multipart') {
    const boundary = boundaryOf(contentType);
    const parts = parseMultipart(call.body ?? Buffer.alloc(0), boundary);
    const [metadataPart, mediaPart] = parts;
    if (!metadataPart || !mediaPart)
      throw driveErrors.badRequest('Multipart upload needs a metadata part and a media part.');
    const mediaHeaders = mediaPart.headers as Record<string, string | undefined>;
    return {
      metadata: parseJsonBody(metadataPart.body),
      media: mediaPart.body,
      mediaType: mediaHeaders['content-type']?.split(';')[0]?.trim(),
    };
  }
  if (uploadType === undefined) throw driveErrors.required('uploadType');
  throw driveErrors.badRequest(
    `Invalid upload type: ${uploadType}. Supported: media, multipart.`,
    'uploadType',
  );
}

function filesCreate(isUploadPath: boolean) {
  return (call: DriveCall): DriveResult => {
    const upload = readUpload(call, isUploadPath);
    const meta = metadataOf(upload.metadata);
    if ((meta.parents?.length ?? 0) > 1)
      throw driveErrors.badRequest('A file can only have one parent.', 'parents');
    const mimeType =
      meta.mimeType ??
      (upload.media !== undefined
        ? upload.mediaType && upload.mediaType !== 'application/octet-stream'
          ? upload.mediaType
          : (mimeTypeForName(meta.name ?? '') ?? upload.mediaType)
        : undefined);
    if (mimeType === SHORTCUT_MIME && meta.shortcutTargetId === undefined) {
      throw driveErrors.required('shortcutDetails.targetId');
    }
    const spec: NewFileSpec = {
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(mimeType !== undefined ? { mimeType } : {}),
      ...(meta.parents?.[0] !== undefined ? { parentId: meta.parents[0] } : {}),
      ...(meta.description !== undefined ? { description: meta.description } : {}),
      ...(meta.starred !== undefined ? { starred: meta.starred } : {}),
      ...(meta.properties ? { properties: nonNullProperties(meta.properties) } : {}),
      ...(meta.appProperties ? { appProperties: nonNullProperties(meta.appProperties) } : {}),
      ...(meta.shortcutTargetId !== undefined ? { shortcutTargetId: meta.shortcutTargetId } : {}),
      ...(meta.createdTime !== undefined ? { createdTime: meta.createdTime } : {}),
      ...(meta.modifiedTime !== undefined ? { modifiedTime: meta.modifiedTime } : {}),
      ...(meta.writersCanShare !== undefined ? { writersCanShare: meta.writersCanShare } : {}),
      ...(meta.copyRequiresWriterPermission !== undefined
        ? { copyRequiresWriterPermission: meta.copyRequiresWriterPermission }
        : {}),
      ...(meta.originalFilename !== undefined ? { originalFilename: meta.originalFilename } : {}),
      ...(upload.media !== undefined && mimeType !== undefined && isWorkspaceType(mimeType)
        ? { workspaceText: upload.media.toString('utf8') }
        : upload.media !== undefined
          ? { content: upload.media }
          : {}),
      keepRevisionForever: boolParam(call.query, 'keepRevisionForever', false),
    };
    const file = call.world.createFile(call.user, spec, call.support);
    return fileResult(call, file);
  };
}

function filesUpdate(isUploadPath: boolean) {
  return (call: DriveCall): DriveResult => {
    const file = fileOf(call);
    const upload = readUpload(call, isUploadPath);
    const meta = metadataOf(upload.metadata);
    if (meta.parents !== undefined) {
      throw driveErrors.badRequest(
        'The parents field is not directly writable in update requests. Use the addParents and removeParents parameters instead.',
        'parents',
      );
    }
    const addParents = listParam(call.query, 'addParents');
    const removeParents = listParam(call.query, 'removeParents');
    const patch: FilePatch = {
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.description !== undefined ? { description: meta.description } : {}),
      ...(meta.starred !== undefined ? { starred: meta.starred } : {}),
      ...(meta.trashed !== undefined ? { trashed: meta.trashed } : {}),
      ...(meta.mimeType !== undefined ? { mimeType: meta.mimeType } : {}),
      ...(meta.properties ? { properties: meta.properties } : {}),
      ...(meta.appProperties ? { appProperties: meta.appProperties } : {}),
      ...(meta.modifiedTime !== undefined ? { modifiedTime: meta.modifiedTime } : {}),
      ...(meta.writersCanShare !== undefined ? { writersCanShare: meta.writersCanShare } : {}),
      ...(meta.copyRequiresWriterPermission !== undefined
        ? { copyRequiresWriterPermission: meta.copyRequiresWriterPermission }
        : {}),
      ...(meta.originalFilename !== undefined ? { originalFilename: meta.originalFilename } : {}),
      ...(addParents.length > 0 ? { addParents } : {}),
      ...(removeParents.length > 0 ? { removeParents } : {}),
      ...(upload.media !== undefined ? { content: upload.media } : {}),
      keepRevisionForever: boolParam(call.query, 'keepRevisionForever', false),
    };
    call.world.updateFile(call.user, file, patch, call.support);
    return fileResult(call, file);
  };
}

function filesCopy(call: DriveCall): DriveResult {
  const source = fileOf(call);
  const meta = metadataOf(parseJsonBody(call.body));
  if ((meta.parents?.length ?? 0) > 1)
    throw driveErrors.badRequest('A file can only have one parent.', 'parents');
  const copy = call.world.copyFile(
    call.user,
    source,
    {
      ...(meta.name !== undefined ? { name: meta.name } : {}),
      ...(meta.parents?.[0] !== undefined ? { parentId: meta.parents[0] } : {}),
      ...(meta.description !== undefined ? { description: meta.description } : {}),
      ...(meta.starred !== undefined ? { starred: meta.starred } : {}),
      ...(meta.properties ? { properties: nonNullProperties(meta.properties) } : {}),
      ...(meta.appProperties ? { appProperties: nonNullProperties(meta.appProperties) } : {}),
    },
    call.support,
  );
  return fileResult(call, copy);
}

function filesDelete(call: DriveCall): DriveResult {
  call.world.deleteFile(call.user, fileOf(call));
  return { kind: 'empty' };
}

function filesEmptyTrash(call: DriveCall): DriveResult {
  const { world, user } = call;
  const trashed = [...world.files.values()].filter(
    (f) => f.ownerId === user.id && f.explicitlyTrashed && world.files.has(f.id),
  );
  for (const file of trashed) if (world.files.has(file.id)) world.deleteFile(user, file);
  return { kind: 'empty' };
}

export function registerFileRoutes(app: FastifyInstance, runtime: EmulatorRuntime): void {
  driveRoute(app, runtime, {
    method: 'GET',
    url: '/drive/v3/files',
    id: 'drive.files.list',
    resource: 'fileList',
    handler: filesList,
  });
  driveRoute(app, runtime, {
    method: 'GET',
    url: '/drive/v3/files/:fileId',
    id: 'drive.files.get',
    resource: 'file',
    handler: filesGet,
  });
  driveRoute(app, runtime, {
    method: 'GET',
    url: '/drive/v3/files/:fileId/export',
    id: 'drive.files.export',
    handler: filesExport,
  });
  driveRoute(app, runtime, {
    method: 'POST',
    url: '/drive/v3/files',
    id: 'drive.files.create',
    write: true,
    resource: 'file',
    handler: filesCreate(false),
  });
  driveRoute(app, runtime, {
    method: 'POST',
    url: '/upload/drive/v3/files',
    id: 'drive.files.create',
    write: true,
    resource: 'file',
    handler: filesCreate(true),
  });
  driveRoute(app, runtime, {
    method: 'PATCH',
    url: '/drive/v3/files/:fileId',
    id: 'drive.files.update',
    write: true,
    resource: 'file',
    handler: filesUpdate(false),
  });
  driveRoute(app, runtime, {
    method: 'PATCH',
    url: '/upload/drive/v3/files/:fileId',
    id: 'drive.files.update',
    write: true,
    resource: 'file',
    handler: filesUpdate(true),
  });
  driveRoute(app, runtime, {
    method: 'POST',
    url: '/drive/v3/files/:fileId/copy',
    id: 'drive.files.copy',
    write: true,
    resource: 'file',
    handler: filesCopy,
  });
  driveRoute(app, runtime, {
    method: 'DELETE',
    url: '/drive/v3/files/trash',
    id: 'drive.files.emptyTrash',
    write: true,
    handler: filesEmptyTrash,
  });
  driveRoute(app, runtime, {
    method: 'DELETE',
    url: '/drive/v3/files/:fileId',
    id: 'drive.files.delete',
    write: true,
    handler: filesDelete,
  });
}
