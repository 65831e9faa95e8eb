import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer, text } from 'node:stream/consumers';
import * as google from '@googleapis/drive';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FILE_LIST_FIELDS } from '../../../src/contract/drive-resources.js';
import type { GeneratedCorpusSummary } from '../../../src/emulator/admin-client.js';
import { type RunningDriveEmulator, startDriveEmulator } from '../../../src/emulator/index.js';
import { type InstrumentationEvents, subscribe } from '../../../src/instrumentation.js';
import {
  AccessTokenError,
  type AccessTokenProvider,
  createAccessTokenClient,
} from '../../../src/io/control-plane/access-token-client.js';
import { DriveCallError } from '../../../src/io/drive/drive-call-error.js';
import {
  type AfterDriveBatch,
  createDriveGateway,
  type DriveBatchRequest,
  type DriveGateway,
  type DriveMethod,
} from '../../../src/io/drive/drive-gateway.js';
import { failureOf } from '../../../src/machines/classify.js';

/** The user corpus as these tests knew it: My Drive and shared with me, no shared-drive items. */
const MY_DRIVE_ONLY = { sharedDriveItems: false } as const;

/**
 * The gateway against the Drive emulator, which also plays the control plane: real
 * googleapis requests, real HTTP, the emulator's call counters as the witness.
 */

let emulator: RunningDriveEmulator;
let corpus: GeneratedCorpusSummary;
let tokens: AccessTokenProvider;
const CONNECTION = 'conn_gateway';

function gateway(
  options: {
    pageSize?: number;
    connectionId?: string;
    beforeCall?: (method: DriveMethod) => Promise<void>;
    afterBatch?: AfterDriveBatch;
  } = {},
): DriveGateway {
  return createDriveGateway({
    rootUrl: emulator.url,
    tokens,
    connectionId: options.connectionId ?? CONNECTION,
    pageSize: options.pageSize ?? 1000,
    ...(options.beforeCall ? { beforeCall: options.beforeCall } : {}),
    ...(options.afterBatch ? { afterBatch: options.afterBatch } : {}),
  });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

function events<N extends keyof InstrumentationEvents>(
  name: N,
): { seen: InstrumentationEvents[N][]; stop(): void } {
  const seen: InstrumentationEvents[N][] = [];
  const stop = subscribe(name, (event) => seen.push(event));
  return { seen, stop };
}

/** All of a user's files read with googleapis directly, in one big page per request: the reference. */
async function referenceFileIds(accessToken: string): Promise<string[]> {
  const drive = google.drive({ version: 'v3', rootUrl: `${emulator.url}/`, retry: false });
  const ids: string[] = [];
  let pageToken: string | undefined;
  do {
    const response = await drive.files.list(
      {
        corpora: 'user',
        supportsAllDrives: true,
        pageSize: 1000,
        fields: FILE_LIST_FIELDS,
        ...(pageToken ? { pageToken } : {}),
      },
      { headers: { Authorization: `Bearer ${accessToken}` } },
    );
    ids.push(...(response.data.files ?? []).map((f) => f.id as string));
    pageToken = response.data.nextPageToken ?? undefined;
  } while (pageToken);
  return ids;
}

beforeAll(async () => {
  emulator = await startDriveEmulator({ seed: 11 });
  corpus = await emulator.admin.generateCorpus({
    seed: 11,
    users: 2,
    files: 80,
    sharedDrives: 1,
    sharedDriveMembers: 1,
    sharedDriveFraction: 0.3,
    revisionDensity: 2,
    commentDensity: 1.5,
    replyDensity: 1,
    oversizedDocs: 1,
    maxFileBytes: 4096,
  });
  const first = corpus.users[0];
  if (!first) throw new Error('the corpus has no user');
  await emulator.admin.mapConnection(CONNECTION, first.user.id);
  tokens = createAccessTokenClient({ baseUrl: emulator.url, tls: null }, { integrationId: 'google-drive' });
});

afterAll(async () => {
  await emulator?.close();
});

beforeEach(async () => {
  await emulator.admin.clearFaults();
  await emulator.admin.resetCounters();
});

describe('paging', () => {
  it('follows nextPageToken to the end with small pages and finds exactly what one big page finds', async () => {
    const user = corpus.users[0];
    if (!user) throw new Error('no user');
    const expected = await referenceFileIds(user.accessToken);
    expect(expected.length).toBeGreaterThan(10);
    await emulator.admin.resetCounters();

    const files = await gateway({ pageSize: 4 }).listAllFiles({ kind: 'user' }, MY_DRIVE_ONLY);

    expect(files.map((f) => f.id)).toEqual(expected);
    const calls = (await emulator.admin.counters())['drive.files.list'] ?? 0;
    expect(calls).toBeGreaterThanOrEqual(Math.ceil(expected.length / 4));
  });

  it('lists shared drives and a shared drive corpus page by page', async () => {
    const drives = await gateway({ pageSize: 1 }).listAllDrives();
    expect(drives.map((d) => d.id)).toEqual([...corpus.sharedDriveIds]);
    const driveId = corpus.sharedDriveIds[0] as string;
    const small = await gateway({ pageSize: 3 }).listAllFiles({ kind: 'drive', driveId });
    const big = await gateway().listAllFiles({ kind: 'drive', driveId });
    expect(small.length).toBeGreaterThan(3);
    expect(small.map((f) => f.id)).toEqual(big.map((f) => f.id));
    expect(small.every((f) => f.driveId === driveId)).toBe(true);
  });

  it('reads the change log to newStartPageToken, and a fresh start token', async () => {
    const drive = gateway({ pageSize: 2 });
    const start = await drive.getStartPageToken();
    expect(start).toMatch(/^\d+$/);
    const { changes, newStartPageToken } = await drive.listAllChanges(corpus.startPageToken);
    expect(newStartPageToken).toBe(start);
    expect(Array.isArray(changes)).toBe(true);
  });
});

describe('failures', () => {
  it('a persisting 503 reaches the caller after exactly one HTTP call: googleapis retry is off', async () => {
    await emulator.admin.scriptFault('drive.files.list', 503, 5);
    const error = await failure(gateway().listFiles({ kind: 'user' }, null, MY_DRIVE_ONLY));
    expect(error).toBeInstanceOf(DriveCallError);
    const driveError = error as DriveCallError;
    expect(driveError.method).toBe('drive.files.list');
    expect(driveError.failure).toMatchObject({
      classification: 'transient',
      retryable: true,
      httpStatus: 503,
    });
    expect((await emulator.admin.counters())['drive.files.list']).toBe(1);
  });

  it('a single 503 also surfaces (nothing retries it behind our back)', async () => {
    await emulator.admin.scriptFault('drive.permissions.list', 503, 1);
    const fileId = (await gateway().listFiles({ kind: 'user' }, null, MY_DRIVE_ONLY)).items[0]?.id as string;
    await emulator.admin.resetCounters();
    const error = (await failure(gateway().listPermissions(fileId))) as DriveCallError;
    expect(error.failure.classification).toBe('transient');
    expect((await emulator.admin.counters())['drive.permissions.list']).toBe(1);
  });

  it('403 rateLimitExceeded is rate_limited, never access lost, and is published', async () => {
    const limited = events('drive.rate_limited');
    try {
      await emulator.admin.scriptFault('drive.files.list', 403, 1);
      const error = (await failure(
        gateway().listFiles({ kind: 'user' }, null, MY_DRIVE_ONLY),
      )) as DriveCallError;
      expect(error.failure).toMatchObject({
        classification: 'rate_limited',
        code: 'rateLimitExceeded',
        retryable: true,
        httpStatus: 403,
      });
      expect(limited.seen).toEqual([
        { method: 'drive.files.list', status: 403, reason: 'rateLimitExceeded' },
      ]);
    } finally {
      limited.stop();
    }
  });

  it('403 userRateLimitExceeded (the per-user quota spent) is rate_limited', async () => {
    await emulator.admin.setQuota({ perUserPerMinute: 1 });
    try {
      const drive = gateway();
      let error: unknown;
      for (let i = 0; i < 5 && error === undefined; i++) {
        error = await drive.getStartPageToken().then(
          () => undefined,
          (e: unknown) => e,
        );
      }
      expect(error).toBeInstanceOf(DriveCallError);
      expect((error as DriveCallError).failure).toMatchObject({
        classification: 'rate_limited',
        code: 'userRateLimitExceeded',
        retryable: true,
      });
    } finally {
      await emulator.admin.setQuota({ perUserPerMinute: 12_000 });
    }
  });

  it('a 401 gets one forced token refresh and a replay, then succeeds', async () => {
    const drive = gateway();
    await drive.getStartPageToken(); // a token is cached now
    const cached = await tokens.getToken(CONNECTION);
    await emulator.admin.expireAccessToken(cached.accessToken);
    await emulator.admin.resetCounters();

    const start = await drive.getStartPageToken();

    expect(start).toMatch(/^\d+$/);
    const counters = await emulator.admin.counters();
    expect(counters['drive.changes.getStartPageToken']).toBe(2);
    expect(counters['controlPlane.accessToken']).toBe(1);
    expect((await tokens.getToken(CONNECTION)).accessToken).not.toBe(cached.accessToken);
  });

  it('a revoked connection: one 401, one forced refresh refused with reauth_required, an auth failure', async () => {
    const revoked = await emulator.admin.createUser('revoked@example.com', 'Revoked');
    await emulator.admin.mapConnection('conn_revoked', revoked.user.id);
    const drive = gateway({ connectionId: 'conn_revoked' });
    await drive.getStartPageToken();
    await emulator.admin.revokeUser(revoked.user.id);
    await emulator.admin.resetCounters();

    const error = await failure(drive.getStartPageToken());

    expect(error).toBeInstanceOf(AccessTokenError);
    expect((error as AccessTokenError).reauthRequired).toBe(true);
    expect(failureOf(error)).toMatchObject({ classification: 'auth', retryable: false });
    const counters = await emulator.admin.counters();
    expect(counters['drive.changes.getStartPageToken']).toBe(1);
    expect(counters['controlPlane.accessToken']).toBe(1);
  });

  it('a refused changes cursor is flagged cursorInvalid', async () => {
    const error = (await failure(gateway().listChanges('99999999'))) as DriveCallError;
    expect(error).toBeInstanceOf(DriveCallError);
    expect(error.cursorInvalid).toBe(true);
    expect(error.failure).toMatchObject({
      classification: 'invalid_input',
      httpStatus: 400,
      retryable: false,
    });
  });

  it('a missing file is not_found', async () => {
    const error = (await failure(gateway().listPermissions('no-such-file'))) as DriveCallError;
    expect(error.failure).toMatchObject({ classification: 'not_found', httpStatus: 404 });
  });
});

describe('hooks and instrumentation', () => {
  it('awaits beforeCall before every request and publishes drive.call with discovery ids', async () => {
    const calls = events('drive.call');
    const before: string[] = [];
    try {
      const drive = gateway({
        pageSize: 5,
        beforeCall: async (method) => {
          before.push(method);
        },
      });
      await drive.listFiles({ kind: 'user' }, null, MY_DRIVE_ONLY);
      await drive.listDrives();
      await emulator.admin.scriptFault('drive.changes.getStartPageToken', 500, 1);
      await failure(drive.getStartPageToken());
    } finally {
      calls.stop();
    }
    expect(before).toEqual(['drive.files.list', 'drive.drives.list', 'drive.changes.getStartPageToken']);
    expect(calls.seen.map((c) => [c.method, c.outcome, c.status])).toEqual([
      ['drive.files.list', 'ok', 200],
      ['drive.drives.list', 'ok', 200],
      ['drive.changes.getStartPageToken', 'error', 500],
    ]);
  });
});

describe('content', () => {
  it('exports a Google Doc as a stream with its content type', async () => {
    const files = await gateway().listAllFiles({ kind: 'user' }, MY_DRIVE_ONLY);
    const doc = files.find(
      (f) => f.mimeType === 'application/vnd.google-apps.document' && !corpus.oversizedDocIds.includes(f.id),
    );
    if (!doc) throw new Error('the corpus has no Google Doc');
    const content = await gateway().exportFile(doc.id, 'text/plain');
    expect(content.contentType).toMatch(/^text\/plain/);
    expect((await text(content.body)).length).toBeGreaterThan(0);
  });

  it('an export over 10 MB keeps Drive reason (exportSizeLimitExceeded): invalid_input, not retried', async () => {
    const docId = corpus.oversizedDocIds[0];
    if (!docId) throw new Error('no oversized doc');
    const error = (await failure(gateway().exportFile(docId, 'text/plain'))) as DriveCallError;
    expect(error).toBeInstanceOf(DriveCallError);
    expect(error.failure).toMatchObject({
      classification: 'invalid_input',
      code: 'exportSizeLimitExceeded',
      retryable: false,
      httpStatus: 403,
    });
  });

  it('downloads a binary file, refuses one above maxBytes, and names a Docs file not downloadable', async () => {
    const files = await gateway().listAllFiles({ kind: 'user' }, MY_DRIVE_ONLY);
    const binary = files.find(
      (f) => !f.mimeType.startsWith('application/vnd.google-apps.') && Number(f.size) > 10,
    );
    if (!binary) throw new Error('the corpus has no binary file');
    const content = await gateway().downloadFile(binary.id, 1_000_000);
    const bytes = await buffer(content.body);
    expect(bytes.length).toBe(Number(binary.size));

    const tooLarge = (await failure(gateway().downloadFile(binary.id, 5))) as DriveCallError;
    expect(tooLarge.failure).toMatchObject({ classification: 'invalid_input', code: 'contentTooLarge' });

    const doc = files.find((f) => f.mimeType === 'application/vnd.google-apps.document');
    if (!doc) throw new Error('no doc');
    const notDownloadable = (await failure(gateway().downloadFile(doc.id, 1_000_000))) as DriveCallError;
    expect(notDownloadable.failure).toMatchObject({
      classification: 'invalid_input',
      code: 'fileNotDownloadable',
    });
  });
});

describe('push channels', () => {
  let receiver: Server;
  let address: string;
  const notifications: string[] = [];
  beforeAll(async () => {
    receiver = createServer((request, response) => {
      notifications.push(String(request.headers['x-goog-resource-state']));
      response.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    address = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/google-drive/${CONNECTION}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('opens a changes channel (channel sent as requestBody) and stops it', async () => {
    const drive = gateway();
    const start = await drive.getStartPageToken();
    const expirationMs = Date.now() + 3_600_000;
    const channel = await drive.watchChanges(start, {
      id: 'channel-gateway-1',
      address,
      token: 'signed-channel-token',
      expirationMs,
    });
    expect(channel.id).toBe('channel-gateway-1');
    expect(channel.resourceId).toBeTruthy();
    expect(Number(channel.expiration)).toBe(expirationMs);
    expect((await emulator.admin.channels()).map((c) => c.id)).toContain('channel-gateway-1');

    await drive.stopChannel(channel.id, channel.resourceId);
    expect((await emulator.admin.channels()).map((c) => c.id)).not.toContain('channel-gateway-1');
  });
});

describe('batch', () => {
  let fileIds: string[];
  beforeAll(async () => {
    const files = await gateway().listAllFiles({ kind: 'user' }, MY_DRIVE_ONLY);
    fileIds = files
      .filter(
        (f) =>
          f.mimeType !== 'application/vnd.google-apps.folder' && f.capabilities?.canReadRevisions !== false,
      )
      .map((f) => f.id);
  });
  afterEach(async () => {
    await emulator.admin.clearFaults();
  });

  it('answers per-file lists equal to the unbatched calls, in one batch request', async () => {
    const drive = gateway();
    const chosen = fileIds.slice(0, 10);
    const requests: DriveBatchRequest[] = chosen.flatMap((fileId) => [
      { method: 'drive.permissions.list' as const, fileId },
      { method: 'drive.revisions.list' as const, fileId },
      { method: 'drive.comments.list' as const, fileId },
      { method: 'drive.files.get' as const, fileId },
    ]);
    await emulator.admin.resetCounters();
    const results = await drive.batchGet(requests);
    const counters = await emulator.admin.counters();
    expect(counters.batch).toBe(1);
    expect(counters['drive.permissions.list']).toBe(10);

    for (const [index, result] of results.entries()) {
      const request = requests[index] as DriveBatchRequest;
      expect(result.request).toBe(request);
      if (!result.ok) throw result.error;
      switch (result.method) {
        case 'drive.permissions.list':
          expect(result.value).toEqual(await drive.listPermissions(request.fileId));
          break;
        case 'drive.revisions.list':
          expect(result.value).toEqual(await drive.listRevisions(request.fileId));
          break;
        case 'drive.comments.list':
          expect(result.value).toEqual(await drive.listComments(request.fileId));
          break;
        case 'drive.files.get':
          expect(result.value).toEqual(await drive.getFile(request.fileId));
          break;
      }
    }
  });

  it('classifies each failed part like the same call alone, the others unaffected', async () => {
    const drive = gateway();
    const fileId = fileIds[0] as string;
    const results = await drive.batchGet([
      { method: 'drive.permissions.list', fileId },
      { method: 'drive.permissions.list', fileId: 'no-such-file' },
    ]);
    expect(results[0]?.ok).toBe(true);
    const missing = results[1];
    if (!missing || missing.ok) throw new Error('expected the second part to fail');
    expect(missing.error).toBeInstanceOf(DriveCallError);
    expect(missing.error.failure).toMatchObject({ classification: 'not_found', httpStatus: 404 });

    await emulator.admin.scriptFault('drive.revisions.list', 403, 1);
    const limited = await drive.batchGet([
      { method: 'drive.revisions.list', fileId },
      { method: 'drive.revisions.list', fileId },
    ]);
    const [first, second] = limited;
    if (!first || first.ok) throw new Error('expected the first part to be rate limited');
    expect(first.error.failure).toMatchObject({ classification: 'rate_limited', code: 'rateLimitExceeded' });
    expect(second?.ok).toBe(true);
  });

  it('splits more than 100 requests into batches of at most 100', async () => {
    const drive = gateway();
    const fileId = fileIds[0] as string;
    const requests = Array.from({ length: 130 }, () => ({ method: 'drive.files.get' as const, fileId }));
    await emulator.admin.resetCounters();
    const results = await drive.batchGet(requests);
    expect(results).toHaveLength(130);
    expect(results.every((r) => r.ok)).toBe(true);
    expect((await emulator.admin.counters()).batch).toBe(2);
  });

  it('concurrent batches take their quota places one batch after another; each answer is reported', async () => {
    const places: string[] = [];
    const batches: { parts: number; durationMs: number }[] = [];
    const drive = gateway({
      // A governor that makes every call wait a turn of the event loop.
      beforeCall: async (method) => {
        await new Promise((resolve) => setImmediate(resolve));
        places.push(method);
      },
      afterBatch: (report) => batches.push(report),
    });
    const fileId = fileIds[0] as string;
    const [gets, permissions] = await Promise.all([
      drive.batchGet(Array.from({ length: 3 }, () => ({ method: 'drive.files.get' as const, fileId }))),
      drive.batchGet(
        Array.from({ length: 2 }, () => ({ method: 'drive.permissions.list' as const, fileId })),
      ),
    ]);
    expect([...gets, ...permissions].every((r) => r.ok)).toBe(true);
    expect(places).toEqual([
      'drive.files.get',
      'drive.files.get',
      'drive.files.get',
      'drive.permissions.list',
      'drive.permissions.list',
    ]);
    expect(batches.map((b) => b.parts).sort()).toEqual([2, 3]);
    expect(batches.every((b) => b.durationMs > 0)).toBe(true);
  });

  it('parts answered 401 get one forced token refresh and go again', async () => {
    const drive = gateway();
    const fileId = fileIds[0] as string;
    await drive.getFile(fileId);
    await emulator.admin.expireAccessToken((await tokens.getToken(CONNECTION)).accessToken);
    await emulator.admin.resetCounters();
    const results = await drive.batchGet([
      { method: 'drive.files.get', fileId },
      { method: 'drive.permissions.list', fileId },
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
    const counters = await emulator.admin.counters();
    expect(counters.batch).toBe(2);
    expect(counters['controlPlane.accessToken']).toBe(1);
  });
});

describe('answers the emulator does not give (a hand-written Drive on node:http)', () => {
  let server: Server;
  let rootUrl: string;
  const fixedTokens: AccessTokenProvider = {
    getToken: async () => ({
      accessToken: 'ya29.fixed',
      expiresAt: new Date(Date.now() + 3_600_000),
      scopes: [],
      googleUser: 'user-1',
    }),
  };
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url?.startsWith('/drive/v3/files?')) {
        // 429 as HTML with a Retry-After: both have been seen from Google's front end.
        response.writeHead(429, { 'content-type': 'text/html', 'retry-after': '7' });
        response.end('<html><body>Too Many Requests</body></html>');
        return;
      }
      if (request.url?.startsWith('/drive/v3/files/big?')) {
        // Chunked: no Content-Length announces the size.
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.write(Buffer.alloc(4096, 1));
        response.end(Buffer.alloc(4096, 2));
        return;
      }
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    rootUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const local = () => createDriveGateway({ rootUrl, tokens: fixedTokens, connectionId: 'c', pageSize: 10 });

  it('an HTML 429 with Retry-After is rate_limited with the delay, and the page is not echoed', async () => {
    const error = (await failure(local().listFiles({ kind: 'user' }, null, MY_DRIVE_ONLY))) as DriveCallError;
    expect(error).toBeInstanceOf(DriveCallError);
    expect(error.failure).toMatchObject({
      classification: 'rate_limited',
      retryAfterMs: 7_000,
      httpStatus: 429,
    });
    expect(error.message).not.toContain('<html>');
  });

  it('a download past maxBytes without Content-Length fails as a stream error, classified', async () => {
    const content = await local().downloadFile('big', 5000);
    expect(content.contentLength).toBeNull();
    const error = (await failure(buffer(content.body))) as DriveCallError;
    expect(error).toBeInstanceOf(DriveCallError);
    expect(error.failure).toMatchObject({ classification: 'invalid_input', code: 'contentTooLarge' });
    const whole = await local().downloadFile('big', 8192);
    expect((await buffer(whole.body)).length).toBe(8192);
  });
});
