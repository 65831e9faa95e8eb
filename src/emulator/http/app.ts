import { gunzipSync, inflateSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../../contract/bounds.js';
import { DriveApiError, driveErrors } from '../errors.js';
import { registerAdminRoutes } from './admin.js';
import { registerBatchRoute } from './batch.js';
import { registerChangeRoutes } from './changes.js';
import { exportBytes, registerFileRoutes } from './files.js';
import { registerOAuthRoutes } from './oauth.js';
import { stringParam } from './params.js';
import { PushNotifier } from './push.js';
import { registerResourceRoutes } from './resources.js';
import { driveRoute } from './route.js';
import type { EmulatorRuntime } from './runtime.js';

/** Uploads may be large; Drive itself allows far more, but tests never need it. */
const BODY_LIMIT_BYTES = 256 * 1024 * 1024;

function decodeBody(raw: Buffer, encoding: string | string[] | undefined): Buffer {
  if (encoding === 'gzip') return gunzipSync(raw);
  if (encoding === 'deflate') return inflateSync(raw);
  return raw;
}

function methodNotFound(): string {
  return JSON.stringify({
    error: {
      code: 404,
      message: 'Method not found.',
      errors: [{ message: 'Method not found.', domain: 'global', reason: 'notFound' }],
      status: 'NOT_FOUND',
    },
  });
}

export interface EmulatorApp {
  readonly app: FastifyInstance;
  readonly notifier: PushNotifier;
}

/** The whole emulator as one Fastify instance: Drive, uploads, batch, OAuth, control plane, admin. */
export function buildEmulatorApp(runtime: EmulatorRuntime): EmulatorApp {
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    // Fastify's default (100) would answer 414 for connection ids the contract accepts (up to
    // 256 characters, each percent-encoded at worst), where the control plane it stands in for answers.
    routerOptions: { ignoreDuplicateSlashes: true, maxParamLength: 3 * MAX_ID_LENGTH },
  });
  const notifier = new PushNotifier(runtime);

  // Every body arrives as bytes: JSON, media, multipart/related, multipart/mixed and forms alike.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (request, body, done) => {
    try {
      done(null, decodeBody(body as Buffer, request.headers['content-encoding']));
    } catch {
      done(driveErrors.badRequest('The request body could not be decompressed.'), undefined);
    }
  });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof DriveApiError) {
      for (const [name, value] of Object.entries(error.headers ?? {})) reply.header(name, value);
      return reply
        .code(error.status)
        .header('content-type', 'application/json; charset=UTF-8')
        .send(JSON.stringify(error.body));
    }
    const status =
      typeof (error as { statusCode?: unknown }).statusCode === 'number'
        ? (error as { statusCode: number }).statusCode
        : 500;
    const mapped =
      status >= 400 && status < 500 ? driveErrors.badRequest('Bad Request') : driveErrors.backendError(500);
    return reply
      .code(mapped.status)
      .header('content-type', 'application/json; charset=UTF-8')
      .send(JSON.stringify(mapped.body));
  });

  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).header('content-type', 'application/json; charset=UTF-8').send(methodNotFound());
  });

  registerFileRoutes(app, runtime);
  registerResourceRoutes(app, runtime);
  registerChangeRoutes(app, runtime, notifier);
  registerOAuthRoutes(app, runtime);
  registerBatchRoute(app, runtime);
  registerAdminRoutes(app, runtime, notifier);

  // exportLinks point here: same bytes as files.export, without the 10 MB cap, as Google's links.
  driveRoute(app, runtime, {
    method: 'GET',
    url: '/feeds/download/export',
    id: 'drive.exportLinks.download',
    handler: (call) => {
      const id = stringParam(call.query, 'id') ?? '';
      const target = stringParam(call.query, 'mimeType');
      if (target === undefined) throw driveErrors.required('mimeType');
      const file = call.world.fileFor(call.user, id, { supportsAllDrives: true });
      const revision = stringParam(call.query, 'revision');
      return { kind: 'media', bytes: exportBytes(call, file, target, false, revision), contentType: target };
    },
  });

  app.addHook('onClose', async () => notifier.stopAll());
  return { app, notifier };
}
