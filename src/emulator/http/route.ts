import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { driveErrors } from '../errors.js';
import {
  type FieldMask,
  parseFields,
  projectResource,
  type ResourceKind,
  validateFields,
} from '../fields.js';
import { DRIVE_SCOPE } from '../identity.js';
import type { RenderContext } from '../store/render.js';
import type { UserRecord } from '../store/types.js';
import type { DriveSupport, DriveWorld } from '../store/world.js';
import { boolParam, type QueryParams, stringParam } from './params.js';
import type { EmulatorRuntime } from './runtime.js';

const METHODS_WITH_ALL_DRIVES_FLAG = /^drive\.(files|permissions|changes)\./;

export interface DriveCall {
  readonly runtime: EmulatorRuntime;
  readonly world: DriveWorld;
  readonly user: UserRecord;
  readonly query: QueryParams;
  readonly params: Record<string, string>;
  readonly body: Buffer | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly ctx: RenderContext;
  readonly support: DriveSupport;
  readonly mask: FieldMask | undefined;
}

export type DriveResult =
  | {
      readonly kind: 'json';
      readonly value: object;
      readonly resource: ResourceKind;
      readonly status?: number;
    }
  | {
      readonly kind: 'media';
      readonly bytes: Buffer;
      readonly contentType: string;
      /** 206 with a Content-Range for a satisfiable Range request. */
      readonly status?: number;
      readonly headers?: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'empty' };

export interface DriveRouteSpec {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly url: string;
  /** Discovery id, e.g. `drive.files.list`: the name used by counters, faults and latency. */
  readonly id: string;
  /** Writes need a scope that allows them. */
  readonly write?: boolean;
  /** comments and replies: Drive refuses them without `fields`. */
  readonly fieldsRequired?: boolean;
  /** The kind `fields` is validated against before the call runs. */
  readonly resource?: ResourceKind;
  readonly handler: (call: DriveCall) => DriveResult | Promise<DriveResult>;
}

const READ_SCOPES = new Set([
  DRIVE_SCOPE,
  'https://www.googleapis.com/auth/drive.readonly',
  'https://www.googleapis.com/auth/drive.metadata.readonly',
  'https://www.googleapis.com/auth/drive.metadata',
  'https://www.googleapis.com/auth/drive.file',
]);
const WRITE_SCOPES = new Set([DRIVE_SCOPE, 'https://www.googleapis.com/auth/drive.file']);

function bearerToken(request: FastifyRequest, query: QueryParams): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  return stringParam(query, 'access_token');
}

/** Resolves the caller of a Drive call: 401s exactly as Google's front end answers them. */
export function authenticate(
  runtime: EmulatorRuntime,
  request: FastifyRequest,
  query: QueryParams,
  write: boolean,
): UserRecord {
  const token = bearerToken(request, query);
  if (token === undefined) throw driveErrors.loginRequired();
  const check = runtime.identity.checkAccessToken(token);
  if (!check.ok)
    throw driveErrors.invalidCredentials(check.reason === 'expired' ? 'ACCESS_TOKEN_EXPIRED' : undefined);
  const user = runtime.world.users.get(check.userId);
  if (!user) throw driveErrors.invalidCredentials();
  const allowed = write ? WRITE_SCOPES : READ_SCOPES;
  if (!check.scopes.some((scope) => allowed.has(scope))) throw driveErrors.insufficientPermissions();
  return user;
}

/** Counting, quota, injected faults and latency, in that order, for every Drive call. */
export async function admitCall(
  runtime: EmulatorRuntime,
  methodId: string,
  user: UserRecord,
  fileId?: string,
): Promise<void> {
  const verdict = runtime.control.charge(user.id);
  // Counted apart from the methods, so a run's refusals are read from the emulator's side.
  if (verdict === 'user') {
    runtime.control.count('quota.userRateLimitExceeded');
    throw driveErrors.userRateLimitExceeded();
  }
  if (verdict === 'project') {
    runtime.control.count('quota.rateLimitExceeded');
    throw driveErrors.rateLimitExceeded();
  }
  const fault = runtime.control.drawFault(methodId, fileId);
  if (fault !== undefined) {
    if (fault === 429) throw driveErrors.tooManyRequests();
    if (fault === 403) throw driveErrors.rateLimitExceeded();
    throw driveErrors.backendError(fault);
  }
  const latency = runtime.control.latencyFor(methodId);
  if (latency > 0) await sleep(latency);
}

export function sendResult(
  reply: FastifyReply,
  result: DriveResult,
  mask: FieldMask | undefined,
): FastifyReply {
  if (result.kind === 'empty') return reply.code(204).send();
  if (result.kind === 'media') {
    reply.code(result.status ?? 200).header('content-type', result.contentType);
    for (const [name, value] of Object.entries(result.headers ?? {})) reply.header(name, value);
    return reply.send(result.bytes);
  }
  const projected = projectResource(result.value, mask, result.resource);
  return reply
    .code(result.status ?? 200)
    .header('content-type', 'application/json; charset=UTF-8')
    .send(JSON.stringify(projected));
}

export function driveRoute(app: FastifyInstance, runtime: EmulatorRuntime, spec: DriveRouteSpec): void {
  app.route({
    method: spec.method,
    url: spec.url,
    handler: async (request, reply) => {
      const fileId = (request.params as { fileId?: string } | undefined)?.fileId;
      runtime.control.count(spec.id, fileId);
      const query = request.query as QueryParams;
      const user = authenticate(runtime, request, query, spec.write ?? false);
      const fields = stringParam(query, 'fields');
      if (spec.fieldsRequired && (fields === undefined || fields === '')) throw driveErrors.fieldsRequired();
      const mask = fields === undefined || fields === '' ? undefined : parseFields(fields);
      if (mask && spec.resource) validateFields(mask, spec.resource);
      await admitCall(runtime, spec.id, user, fileId);
      const world = runtime.world;
      const call: DriveCall = {
        runtime,
        world,
        user,
        query,
        params: request.params as Record<string, string>,
        body: Buffer.isBuffer(request.body) ? request.body : undefined,
        headers: request.headers,
        ctx: { world, viewer: user, baseUrl: runtime.baseUrl },
        support: {
          // Only files, permissions and changes methods take the flag (discovery document);
          // revisions, comments and replies have none and serve shared-drive files as they are.
          supportsAllDrives:
            !METHODS_WITH_ALL_DRIVES_FLAG.test(spec.id) ||
            boolParam(query, 'supportsAllDrives', false) ||
            boolParam(query, 'supportsTeamDrives', false),
        },
        mask,
      };
      const result = await spec.handler(call);
      return sendResult(reply, result, mask);
    },
  });
}
