import type { drive_v3 } from '@googleapis/drive';
import type { FastifyInstance } from 'fastify';
import { driveErrors } from '../errors.js';
import { selectionOf } from '../fields.js';
import { type ChangeFilter, listChanges, parsePageToken, startPageToken } from '../store/changes.js';
import { boolParam, intParam, listParam, parseJsonBody, stringParam } from './params.js';
import {
  type ChannelTarget,
  DEFAULT_CHANNEL_LIFETIME_MS,
  MAX_CHANGES_CHANNEL_MS,
  MAX_FILE_CHANNEL_MS,
  type PushNotifier,
} from './push.js';
import { type DriveCall, type DriveResult, driveRoute } from './route.js';
import type { EmulatorRuntime } from './runtime.js';

const SPACES = new Set(['drive', 'appDataFolder', 'photos']);

function changeFilter(call: DriveCall): ChangeFilter {
  const driveId = stringParam(call.query, 'driveId') ?? stringParam(call.query, 'teamDriveId');
  const spaces = listParam(call.query, 'spaces');
  for (const space of spaces) if (!SPACES.has(space)) throw driveErrors.badRequest('Invalid Value', 'spaces');
  return {
    spaces: spaces.length > 0 ? spaces : ['drive'],
    driveId,
    includeRemoved: boolParam(call.query, 'includeRemoved', true),
    includeCorpusRemovals: boolParam(call.query, 'includeCorpusRemovals', false),
    restrictToMyDrive: boolParam(call.query, 'restrictToMyDrive', false),
    includeItemsFromAllDrives:
      boolParam(call.query, 'includeItemsFromAllDrives', false) ||
      boolParam(call.query, 'includeTeamDriveItems', false),
    supportsAllDrives: call.support.supportsAllDrives,
  };
}

function getStartPageToken(call: DriveCall): DriveResult {
  const driveId = stringParam(call.query, 'driveId') ?? stringParam(call.query, 'teamDriveId');
  if (driveId !== undefined) call.world.driveOrThrow(driveId, call.user);
  const value: drive_v3.Schema$StartPageToken = {
    kind: 'drive#startPageToken',
    startPageToken: startPageToken(call.world),
  };
  return { kind: 'json', value, resource: 'startPageToken' };
}

function changesList(call: DriveCall): DriveResult {
  const pageToken = stringParam(call.query, 'pageToken');
  if (pageToken === undefined || pageToken === '') throw driveErrors.required('pageToken');
  const pageSize = intParam(call.query, 'pageSize', 100, 1, 1000);
  const { realism, seed } = call.runtime;
  const page = listChanges(
    call.ctx,
    {
      ...changeFilter(call),
      pageToken,
      pageSize,
      fileSelection: selectionOf(call.mask, 'changeList', ['changes', 'file']),
    },
    { seed, partialPages: realism.partialPages, coalesce: realism.coalesceChanges },
  );
  const value: drive_v3.Schema$ChangeList = { kind: 'drive#changeList', changes: page.changes };
  if (page.nextPageToken !== undefined) value.nextPageToken = page.nextPageToken;
  if (page.newStartPageToken !== undefined) value.newStartPageToken = page.newStartPageToken;
  return { kind: 'json', value, resource: 'changeList' };
}

interface ChannelRequest {
  readonly id: string;
  readonly address: string;
  readonly token: string | undefined;
  readonly expiration: number;
}

/** Validates a Channel body as Drive does; `maxLifetimeMs` is the per-resource cap. */
function channelRequest(call: DriveCall, maxLifetimeMs: number, notifier: PushNotifier): ChannelRequest {
  const body = parseJsonBody(call.body);
  if (Object.keys(body).length === 0) throw driveErrors.required('entity.resource');
  const id = body.id;
  if (typeof id !== 'string' || id === '') throw driveErrors.required('entity.resource.id');
  if (id.length > 64)
    throw driveErrors.badRequest(`Channel id must be at most 64 characters: ${id.slice(0, 64)}…`, 'id');
  const type = body.type;
  if (type !== 'web_hook' && type !== 'webhook')
    throw driveErrors.badRequest('Invalid value for channel type.', 'type');
  const address = body.address;
  if (typeof address !== 'string' || address === '') throw driveErrors.required('entity.resource.address');
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw driveErrors.badRequest(`Invalid address: ${address}`, 'address');
  }
  // Google requires HTTPS; the emulator also accepts plain HTTP so local receivers work.
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw driveErrors.badRequest(`Invalid address: ${address}`, 'address');
  const token = body.token;
  if (token !== undefined && (typeof token !== 'string' || token.length > 256)) {
    throw driveErrors.badRequest('Channel token must be a string of at most 256 characters.', 'token');
  }
  if (notifier.isLive(id)) throw driveErrors.badRequest(`Channel id ${id} not unique`, 'id');
  const now = Date.now();
  let expiration = now + DEFAULT_CHANNEL_LIFETIME_MS;
  if (body.expiration !== undefined && body.expiration !== null) {
    const requested = typeof body.expiration === 'string' ? Number(body.expiration) : body.expiration;
    if (typeof requested !== 'number' || !Number.isFinite(requested))
      throw driveErrors.badRequest(`Invalid value at 'expiration'.`, 'expiration');
    // Google reports the lifetime it computed, in whole seconds (negative for a past time).
    if (requested <= now) throw driveErrors.invalidChannelTtl(Math.trunc((requested - now) / 1000));
    expiration = Math.min(requested, now + maxLifetimeMs);
  }
  return { id, address, token: typeof token === 'string' ? token : undefined, expiration };
}

function channelResponse(record: {
  id: string;
  resourceId: string;
  resourceUri: string;
  token: string | undefined;
  expiration: number;
}): drive_v3.Schema$Channel {
  const channel: drive_v3.Schema$Channel = {
    kind: 'api#channel',
    id: record.id,
    resourceId: record.resourceId,
    resourceUri: record.resourceUri,
    expiration: String(record.expiration),
  };
  if (record.token !== undefined) channel.token = record.token;
  return channel;
}

function openChannel(
  call: DriveCall,
  notifier: PushNotifier,
  request: ChannelRequest,
  target: ChannelTarget,
  resourceUri: string,
  trashed: boolean,
): DriveResult {
  const record = notifier.open(
    {
      id: request.id,
      resourceId: call.world.ids.channelResource(),
      resourceUri,
      token: request.token,
      expiration: request.expiration,
      address: request.address,
      userId: call.user.id,
      target,
    },
    trashed,
  );
  return { kind: 'json', value: channelResponse(record), resource: 'channel' };
}

export function registerChangeRoutes(
  app: FastifyInstance,
  runtime: EmulatorRuntime,
  notifier: PushNotifier,
): void {
  driveRoute(app, runtime, {
    method: 'GET',
    url: '/drive/v3/changes/startPageToken',
    id: 'drive.changes.getStartPageToken',
    resource: 'startPageToken',
    handler: getStartPageToken,
  });
  driveRoute(app, runtime, {
    method: 'GET',
    url: '/drive/v3/changes',
    id: 'drive.changes.list',
    resource: 'changeList',
    handler: changesList,
  });
  driveRoute(app, runtime, {
    method: 'POST',
    url: '/drive/v3/changes/watch',
    id: 'drive.changes.watch',
    resource: 'channel',
    handler: (call) => {
      const pageToken = stringParam(call.query, 'pageToken');
      if (pageToken === undefined || pageToken === '') throw driveErrors.required('pageToken');
      parsePageToken(call.world, pageToken);
      const filter = changeFilter(call);
      if (filter.driveId !== undefined) call.world.driveOrThrow(filter.driveId, call.user);
      const request = channelRequest(call, MAX_CHANGES_CHANNEL_MS, notifier);
      const uri = `https://www.googleapis.com/drive/v3/changes?alt=json&pageToken=${encodeURIComponent(pageToken)}`;
      return openChannel(call, notifier, request, { kind: 'changes', filter }, uri, false);
    },
  });
  driveRoute(app, runtime, {
    method: 'POST',
    url: '/drive/v3/files/:fileId/watch',
    id: 'drive.files.watch',
    resource: 'channel',
    handler: (call) => {
      const file = call.world.fileFor(call.user, call.params.fileId ?? '', call.support);
      const request = channelRequest(call, MAX_FILE_CHANNEL_MS, notifier);
      const uri = `https://www.googleapis.com/drive/v3/files/${file.id}?alt=json`;
      return openChannel(
        call,
        notifier,
        request,
        { kind: 'file', fileId: file.id },
        uri,
        call.world.isTrashed(file),
      );
    },
  });
  driveRoute(app, runtime, {
    method: 'POST',
    url: '/drive/v3/channels/stop',
    id: 'drive.channels.stop',
    handler: (call) => {
      const body = parseJsonBody(call.body);
      const id = typeof body.id === 'string' ? body.id : undefined;
      const resourceId = typeof body.resourceId === 'string' ? body.resourceId : undefined;
      if (id === undefined) throw driveErrors.required('entity.resource.id');
      if (resourceId === undefined) throw driveErrors.required('entity.resource.resourceId');
      if (!notifier.stop(id, resourceId, call.user.id)) throw driveErrors.notFound('Channel', id, 'id');
      return { kind: 'empty' };
    },
  });
}
