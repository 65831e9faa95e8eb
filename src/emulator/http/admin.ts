import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { FaultStatus } from '../control.js';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from '../identity.js';
import { realismSchema, withRealism } from '../realism.js';
import { generateCorpus } from '../store/generator.js';
import type { UserRecord } from '../store/types.js';
import { DriveWorld } from '../store/world.js';
import type { PushNotifier } from './push.js';
import type { BatchMode, EmulatorRuntime } from './runtime.js';

/** Everything Drive's own API cannot do lives under this prefix, which Google never uses. */
export const ADMIN_PREFIX = '/_emulator';

const createUserSchema = z.object({ email: z.string().email(), displayName: z.string().min(1).optional() });
const driveSchema = z.object({ name: z.string().min(1), organizerId: z.string().min(1) });
const memberSchema = z.object({
  role: z.enum(['organizer', 'fileOrganizer', 'writer', 'commenter', 'reader']),
});
const connectionSchema = z.object({ connectionId: z.string().min(1), userId: z.string().min(1) });
const lifetimeSchema = z.object({ seconds: z.number().int().positive() });
const expireSchema = z.object({ accessToken: z.string().min(1) });
const quotaSchema = z.object({
  perUserPerMinute: z.number().int().positive().optional(),
  perProjectPerMinute: z.number().int().positive().optional(),
  projectBucketEmpty: z.boolean().optional(),
});
const probability = z.number().min(0).max(1).optional();
const faultProbabilitySchema = z.object({ '429': probability, '500': probability, '503': probability });
const faultScriptSchema = z.object({
  status: z.union([
    z.literal(429),
    z.literal(500),
    z.literal(502),
    z.literal(503),
    z.literal(504),
    z.literal(403),
  ]),
  count: z.number().int().positive().default(1),
  /** Only calls about this file (its `:fileId`) draw these answers. */
  fileId: z.string().min(1).optional(),
});
const latencySchema = z.object({ ms: z.number().int().min(0) });
const exportSizeSchema = z.object({ bytes: z.number().int().positive().nullable() });
const batchSettingsSchema = z.object({ mode: z.enum(['serial', 'parallel']) satisfies z.ZodType<BatchMode> });
const resetSchema = z.object({ seed: z.number().int().optional() });
const count = z.number().int().min(0);
const density = z.number().min(0);
export const corpusSchema = z.object({
  seed: z.number().int().optional(),
  users: z.number().int().min(1).optional(),
  firstUserShare: z.number().min(0).max(1).optional(),
  files: count.optional(),
  folderDepth: count.optional(),
  folderFraction: z.number().min(0).max(1).optional(),
  workspaceFraction: z.number().min(0).max(1).optional(),
  sharedDrives: count.optional(),
  sharedDriveMembers: count.optional(),
  sharedDriveFraction: z.number().min(0).max(1).optional(),
  shareDensity: z.number().min(0).max(1).optional(),
  linkShareDensity: z.number().min(0).max(1).optional(),
  revisionDensity: density.optional(),
  commentDensity: density.optional(),
  replyDensity: density.optional(),
  maxFileBytes: z.number().int().positive().optional(),
  oversizedDocs: count.optional(),
  domain: z.string().min(1).optional(),
  trashDensity: z.number().min(0).max(1).optional(),
  shortcutDensity: density.optional(),
  directShareFromDrivesDensity: z.number().min(0).max(1).optional(),
  restrictedDownloadDensity: z.number().min(0).max(1).optional(),
});

function parse<T>(schema: z.ZodType<T>, body: unknown, reply: FastifyReply): T | undefined {
  let value: unknown = {};
  if (Buffer.isBuffer(body) && body.length > 0) {
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      reply.code(400).send({ error: 'invalid_json' });
      return undefined;
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    reply.code(400).send({
      error: 'invalid_request',
      issues: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    });
    return undefined;
  }
  return result.data;
}

function describeUser(user: UserRecord) {
  return { id: user.id, email: user.email, displayName: user.displayName, rootFolderId: user.rootFolderId };
}

export function userWithTokens(runtime: EmulatorRuntime, user: UserRecord) {
  const tokens = runtime.identity.issue(user.id);
  return {
    user: describeUser(user),
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: new Date(tokens.expiresAt).toISOString(),
    clientId: DEFAULT_CLIENT_ID,
    clientSecret: DEFAULT_CLIENT_SECRET,
  };
}

export function registerAdminRoutes(
  app: FastifyInstance,
  runtime: EmulatorRuntime,
  notifier: PushNotifier,
): void {
  const p = ADMIN_PREFIX;
  const userOr404 = (userId: string, reply: FastifyReply): UserRecord | undefined => {
    const user = runtime.world.users.get(userId);
    if (!user) reply.code(404).send({ error: 'unknown_user' });
    return user;
  };

  app.get(`${p}/state`, async () => ({
    seed: runtime.seed,
    users: runtime.world.users.size,
    sharedDrives: runtime.world.drives.size,
    files: runtime.world.files.size,
    nextChangeToken: String(runtime.world.nextSeq),
    tokenLifetimeSeconds: runtime.identity.tokenLifetimeSeconds,
    quota: runtime.control.quotaSettings(),
    realism: runtime.realism,
    batchMode: runtime.batchMode,
  }));

  app.get(`${p}/settings/batch`, async () => ({ mode: runtime.batchMode }));

  app.put(`${p}/settings/batch`, async (request, reply) => {
    const body = parse(batchSettingsSchema, request.body, reply);
    if (!body) return reply;
    runtime.batchMode = body.mode;
    return { mode: runtime.batchMode };
  });

  app.get(`${p}/settings/realism`, async () => runtime.realism);

  app.put(`${p}/settings/realism`, async (request, reply) => {
    const body = parse(realismSchema, request.body, reply);
    if (!body) return reply;
    runtime.realism = withRealism(runtime.realism, body);
    return runtime.realism;
  });

  app.post(`${p}/users`, async (request, reply) => {
    const body = parse(createUserSchema, request.body, reply);
    if (!body) return reply;
    const displayName = body.displayName ?? body.email.split('@')[0] ?? body.email;
    const user = runtime.world.createUser(body.email, displayName);
    return reply.code(201).send(userWithTokens(runtime, user));
  });

  app.get(`${p}/users`, async () => ({ users: [...runtime.world.users.values()].map(describeUser) }));

  app.post(`${p}/users/:userId/tokens`, async (request, reply) => {
    const user = userOr404((request.params as { userId: string }).userId, reply);
    if (!user) return reply;
    return reply.code(201).send(userWithTokens(runtime, user));
  });

  app.post(`${p}/users/:userId/revoke`, async (request, reply) => {
    const user = userOr404((request.params as { userId: string }).userId, reply);
    if (!user) return reply;
    runtime.identity.revokeUser(user.id);
    return reply.code(204).send();
  });

  app.post(`${p}/tokens/expire`, async (request, reply) => {
    const body = parse(expireSchema, request.body, reply);
    if (!body) return reply;
    return runtime.identity.expireAccessToken(body.accessToken)
      ? reply.code(204).send()
      : reply.code(404).send({ error: 'unknown_token' });
  });

  app.put(`${p}/settings/token-lifetime`, async (request, reply) => {
    const body = parse(lifetimeSchema, request.body, reply);
    if (!body) return reply;
    runtime.identity.tokenLifetimeSeconds = body.seconds;
    return { seconds: body.seconds };
  });

  app.post(`${p}/connections`, async (request, reply) => {
    const body = parse(connectionSchema, request.body, reply);
    if (!body) return reply;
    if (!userOr404(body.userId, reply)) return reply;
    runtime.identity.mapConnection(body.connectionId, body.userId);
    return reply.code(204).send();
  });

  app.post(`${p}/drives`, async (request, reply) => {
    const body = parse(driveSchema, request.body, reply);
    if (!body) return reply;
    const organizer = userOr404(body.organizerId, reply);
    if (!organizer) return reply;
    const drive = runtime.world.createSharedDrive(organizer, body.name);
    return reply.code(201).send({ id: drive.id, name: drive.name });
  });

  app.put(`${p}/drives/:driveId/members/:userId`, async (request, reply) => {
    const { driveId, userId } = request.params as { driveId: string; userId: string };
    const body = parse(memberSchema, request.body, reply);
    if (!body) return reply;
    if (!runtime.world.drives.has(driveId)) return reply.code(404).send({ error: 'unknown_drive' });
    if (!userOr404(userId, reply)) return reply;
    runtime.world.setDriveMember(driveId, userId, body.role);
    return reply.code(204).send();
  });

  app.delete(`${p}/drives/:driveId/members/:userId`, async (request, reply) => {
    const { driveId, userId } = request.params as { driveId: string; userId: string };
    if (!runtime.world.drives.has(driveId)) return reply.code(404).send({ error: 'unknown_drive' });
    runtime.world.removeDriveMember(driveId, userId);
    return reply.code(204).send();
  });

  app.put(`${p}/files/:fileId/export-size`, async (request, reply) => {
    const { fileId } = request.params as { fileId: string };
    const body = parse(exportSizeSchema, request.body, reply);
    if (!body) return reply;
    if (!runtime.world.files.has(fileId)) return reply.code(404).send({ error: 'unknown_file' });
    runtime.world.setExportPadding(fileId, body.bytes ?? undefined);
    return reply.code(204).send();
  });

  app.post(`${p}/corpus`, async (request, reply) => {
    const body = parse(corpusSchema, request.body, reply);
    if (!body) return reply;
    const { seed = runtime.seed, ...options } = body;
    const corpus = generateCorpus(seed, options);
    runtime.seed = seed;
    runtime.identity.clear();
    runtime.replaceWorld(corpus.world);
    return reply.code(201).send({
      seed,
      files: corpus.world.files.size,
      users: corpus.users.map((user) => userWithTokens(runtime, user)),
      sharedDriveIds: corpus.driveIds,
      oversizedDocIds: corpus.oversizedDocIds,
      startPageToken: String(corpus.world.nextSeq),
    });
  });

  app.get(`${p}/counters`, async () => ({ counters: runtime.control.counts() }));
  app.get(`${p}/counters/files/:fileId`, async (request) => ({
    counters: runtime.control.fileCounts((request.params as { fileId: string }).fileId),
  }));
  app.delete(`${p}/counters`, async (_request, reply) => {
    runtime.control.resetCounts();
    return reply.code(204).send();
  });

  app.put(`${p}/quota`, async (request, reply) => {
    const body = parse(quotaSchema, request.body, reply);
    if (!body) return reply;
    return runtime.control.setQuota(
      {
        ...(body.perUserPerMinute !== undefined ? { perUserPerMinute: body.perUserPerMinute } : {}),
        ...(body.perProjectPerMinute !== undefined ? { perProjectPerMinute: body.perProjectPerMinute } : {}),
      },
      body.projectBucketEmpty ?? false,
    );
  });

  app.put(`${p}/faults/:method`, async (request, reply) => {
    const body = parse(faultProbabilitySchema, request.body, reply);
    if (!body) return reply;
    runtime.control.setFaultProbabilities((request.params as { method: string }).method, {
      ...(body['429'] !== undefined ? { 429: body['429'] } : {}),
      ...(body['500'] !== undefined ? { 500: body['500'] } : {}),
      ...(body['503'] !== undefined ? { 503: body['503'] } : {}),
    });
    return reply.code(204).send();
  });

  app.post(`${p}/faults/:method/script`, async (request, reply) => {
    const body = parse(faultScriptSchema, request.body, reply);
    if (!body) return reply;
    runtime.control.scriptFault(
      (request.params as { method: string }).method,
      body.status as FaultStatus,
      body.count,
      body.fileId ?? null,
    );
    return reply.code(204).send();
  });

  app.delete(`${p}/faults`, async (_request, reply) => {
    runtime.control.clearFaults();
    return reply.code(204).send();
  });

  app.put(`${p}/latency/:method`, async (request, reply) => {
    const body = parse(latencySchema, request.body, reply);
    if (!body) return reply;
    runtime.control.setLatency((request.params as { method: string }).method, body.ms);
    return reply.code(204).send();
  });

  app.get(`${p}/channels`, async () => ({
    channels: notifier.list().map((c) => ({
      id: c.id,
      resourceId: c.resourceId,
      userId: c.userId,
      kind: c.target.kind,
      expiration: new Date(c.expiration).toISOString(),
      messages: c.messageNumber,
    })),
    deliveries: notifier.deliveries,
  }));

  app.post(`${p}/reset`, async (request, reply) => {
    const body = parse(resetSchema, request.body, reply);
    if (!body) return reply;
    runtime.seed = body.seed ?? runtime.seed;
    runtime.identity.clear();
    runtime.control.reset();
    runtime.replaceWorld(new DriveWorld(runtime.seed));
    return reply.code(204).send();
  });
}
