import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { drive_v3 } from '@googleapis/drive';
import * as google from '@googleapis/drive';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { type RunningDriveEmulator, startDriveEmulator } from '../../src/emulator/index.js';

let emulator: RunningDriveEmulator;
let rootUrl: string;

function driveFor(
  credentials: Pick<UserCredentials, 'accessToken' | 'refreshToken' | 'clientId' | 'clientSecret'>,
): drive_v3.Drive {
  const auth = new google.auth.OAuth2({
    clientId: credentials.clientId,
    clientSecret: credentials.clientSecret,
    endpoints: { oauth2TokenUrl: `${emulator.url}/token` },
  });
  auth.setCredentials({ access_token: credentials.accessToken, refresh_token: credentials.refreshToken });
  return google.drive({ version: 'v3', rootUrl, auth, retry: false });
}

function driveWithToken(token: string | undefined): drive_v3.Drive {
  const headers = new Headers(token === undefined ? {} : { authorization: `Bearer ${token}` });
  return google.drive({ version: 'v3', rootUrl, retry: false, headers: Object.fromEntries(headers) });
}

/** The Drive error a call failed with: status and first reason, as a worker would read them. */
async function driveError(
  call: Promise<unknown>,
): Promise<{ status: number; reason: string; body: unknown }> {
  try {
    await call;
  } catch (error) {
    const failure = error as { status?: number; response?: { status: number; data: unknown } };
    const data = failure.response?.data as { error?: { errors?: { reason?: string }[] } } | undefined;
    return {
      status: failure.response?.status ?? failure.status ?? 0,
      reason: data?.error?.errors?.[0]?.reason ?? '',
      body: data,
    };
  }
  throw new Error('expected the call to fail');
}

async function newUser(name: string): Promise<{ creds: UserCredentials; drive: drive_v3.Drive }> {
  const creds = await emulator.admin.createUser(`${name}@example.com`, name);
  return { creds, drive: driveFor(creds) };
}

async function allChanges(
  drive: drive_v3.Drive,
  pageToken: string,
  extra: drive_v3.Params$Resource$Changes$List = {},
) {
  const changes: drive_v3.Schema$Change[] = [];
  let token: string | undefined = pageToken;
  let newStartPageToken: string | undefined;
  while (token !== undefined) {
    const response: { data: drive_v3.Schema$ChangeList } = await drive.changes.list({
      ...extra,
      pageToken: token,
      pageSize: 2,
      fields:
        'nextPageToken,newStartPageToken,changes(fileId,removed,changeType,driveId,file(id,name,trashed,parents))',
    });
    changes.push(...(response.data.changes ?? []));
    token = response.data.nextPageToken ?? undefined;
    if (token !== undefined) expect(response.data.newStartPageToken).toBeUndefined();
    newStartPageToken = response.data.newStartPageToken ?? undefined;
  }
  return { changes, newStartPageToken };
}

/** Every file a listing matches, following nextPageToken: pages may be short or empty before the end. */
async function listAllFiles(
  drive: drive_v3.Drive,
  params: drive_v3.Params$Resource$Files$List & { fields: string },
): Promise<drive_v3.Schema$File[]> {
  const files: drive_v3.Schema$File[] = [];
  let pageToken: string | undefined;
  do {
    const response: { data: drive_v3.Schema$FileList } = await drive.files.list({
      ...params,
      fields: `nextPageToken,${params.fields}`,
      ...(pageToken !== undefined ? { pageToken } : {}),
    });
    files.push(...(response.data.files ?? []));
    pageToken = response.data.nextPageToken ?? undefined;
  } while (pageToken !== undefined);
  return files;
}

beforeAll(async () => {
  emulator = await startDriveEmulator({ seed: 7 });
  rootUrl = `${emulator.url}/`;
});

afterAll(async () => {
  await emulator.close();
});

describe('paging with small page sizes reaches the end', () => {
  it('files, permissions, revisions, comments, replies and drives', async () => {
    const corpus = await emulator.admin.generateCorpus({
      seed: 11,
      files: 120,
      users: 3,
      sharedDrives: 3,
      sharedDriveMembers: 2,
      revisionDensity: 2,
      commentDensity: 2,
      replyDensity: 2,
    });
    const owner = corpus.users[0] as UserCredentials;
    const drive = driveFor(owner);
    const seen = new Set<string>();
    let token: string | undefined;
    let pages = 0;
    do {
      const response: { data: drive_v3.Schema$FileList } = await drive.files.list({
        pageSize: 7,
        pageToken: token,
        fields: 'nextPageToken,files(id,name)',
      });
      for (const file of response.data.files ?? []) seen.add(file.id as string);
      token = response.data.nextPageToken ?? undefined;
      pages++;
    } while (token);
    expect(pages).toBeGreaterThan(3);
    const full = await listAllFiles(drive, { pageSize: 1000, fields: 'files(id)' });
    expect(seen.size).toBe(full.length);

    // The classic mistake: without nextPageToken in fields the caller cannot see there is more.
    const truncated = await drive.files.list({ pageSize: 5, fields: 'files(id,name)' });
    expect(truncated.data.nextPageToken).toBeUndefined();
    expect(truncated.data.files?.length ?? 0).toBeLessThanOrEqual(5);

    const withHistory = await listAllFiles(drive, {
      pageSize: 1000,
      q: "mimeType != 'application/vnd.google-apps.folder'",
      fields: 'files(id,mimeType,capabilities(canReadRevisions))',
    });
    // Reading history needs writer access (DRIVE_API §3): files merely shared with the user are left out.
    const fileIds = withHistory
      .filter((f) => f.capabilities?.canReadRevisions === true)
      .map((f) => f.id as string);
    let revisionsPaged = 0;
    let commentsPaged = 0;
    for (const fileId of fileIds.slice(0, 15)) {
      let revisionToken: string | undefined;
      const revisionIds: string[] = [];
      do {
        const page: { data: drive_v3.Schema$RevisionList } = await drive.revisions.list({
          fileId,
          pageSize: 1,
          pageToken: revisionToken,
          fields: 'nextPageToken,revisions(id)',
        });
        revisionIds.push(...(page.data.revisions ?? []).map((r) => r.id as string));
        revisionToken = page.data.nextPageToken ?? undefined;
      } while (revisionToken);
      const allRevisions = await drive.revisions.list({ fileId, fields: 'revisions(id)' });
      expect(revisionIds).toEqual((allRevisions.data.revisions ?? []).map((r) => r.id));
      revisionsPaged += revisionIds.length;

      let commentToken: string | undefined;
      do {
        const page: { data: drive_v3.Schema$CommentList } = await drive.comments.list({
          fileId,
          pageSize: 1,
          pageToken: commentToken,
          fields: 'nextPageToken,comments(id,author(displayName,emailAddress,me))',
        });
        for (const comment of page.data.comments ?? []) {
          commentsPaged++;
          expect(comment.author?.emailAddress).toBeUndefined();
          let replyToken: string | undefined;
          do {
            const replies: { data: drive_v3.Schema$ReplyList } = await drive.replies.list({
              fileId,
              commentId: comment.id as string,
              pageSize: 1,
              pageToken: replyToken,
              fields: 'nextPageToken,replies(id)',
            });
            replyToken = replies.data.nextPageToken ?? undefined;
          } while (replyToken);
        }
        commentToken = page.data.nextPageToken ?? undefined;
      } while (commentToken);
    }
    expect(revisionsPaged).toBeGreaterThan(15);
    expect(commentsPaged).toBeGreaterThan(0);

    const driveIds: string[] = [];
    let driveToken: string | undefined;
    do {
      const page: { data: drive_v3.Schema$DriveList } = await drive.drives.list({
        pageSize: 1,
        pageToken: driveToken,
        fields: 'nextPageToken,drives(id,name)',
      });
      driveIds.push(...(page.data.drives ?? []).map((d) => d.id as string));
      driveToken = page.data.nextPageToken ?? undefined;
    } while (driveToken);
    expect(driveIds.sort()).toEqual([...corpus.sharedDriveIds].sort());

    const target = fileIds[0] as string;
    for (const other of corpus.users.slice(1)) {
      await drive.permissions.create({
        fileId: target,
        requestBody: { type: 'user', role: 'reader', emailAddress: other.user.email },
      });
    }
    await drive.permissions.create({ fileId: target, requestBody: { type: 'anyone', role: 'reader' } });
    const permissionIds: string[] = [];
    let permissionToken: string | undefined;
    do {
      const page: { data: drive_v3.Schema$PermissionList } = await drive.permissions.list({
        fileId: target,
        pageSize: 1,
        pageToken: permissionToken,
        fields: 'nextPageToken,permissions(id,role)',
      });
      permissionIds.push(...(page.data.permissions ?? []).map((p) => p.id as string));
      permissionToken = page.data.nextPageToken ?? undefined;
    } while (permissionToken);
    const whole = await drive.permissions.list({ fileId: target, fields: 'nextPageToken,permissions(id)' });
    expect(whole.data.nextPageToken).toBeUndefined();
    expect(permissionIds).toEqual((whole.data.permissions ?? []).map((p) => p.id));
    expect(permissionIds.length).toBeGreaterThanOrEqual(4);
  });

  it('generates byte-identical corpora from the same seed', async () => {
    const snapshot = async () => {
      const corpus = await emulator.admin.generateCorpus({ seed: 99, files: 60, sharedDrives: 1 });
      const drive = driveFor(corpus.users[0] as UserCredentials);
      const listed = await listAllFiles(drive, {
        pageSize: 1000,
        includeItemsFromAllDrives: true,
        supportsAllDrives: true,
        corpora: 'allDrives',
        fields:
          'files(id,name,mimeType,size,md5Checksum,createdTime,modifiedTime,version,parents,permissionIds)',
      });
      return JSON.stringify(listed);
    };
    const first = await snapshot();
    expect(await snapshot()).toBe(first);
  });
});

describe('errors in Drive envelope', () => {
  it('answers auth, not-found, paging, fields, export and download errors as Google does', async () => {
    await emulator.admin.reset();
    const { creds, drive } = await newUser('errors');
    expect(await driveError(driveWithToken(undefined).files.list({}))).toMatchObject({
      status: 401,
      reason: 'required',
    });
    expect(await driveError(driveWithToken('ya29.bogus').files.list({}))).toMatchObject({
      status: 401,
      reason: 'authError',
    });
    expect(await driveError(drive.files.get({ fileId: 'missing' }))).toMatchObject({
      status: 404,
      reason: 'notFound',
    });
    expect(await driveError(drive.changes.list({ pageToken: 'garbage' }))).toMatchObject({
      status: 400,
      reason: 'invalid',
    });
    expect(await driveError(drive.changes.list({ pageToken: '99999999' }))).toMatchObject({
      status: 400,
      reason: 'invalid',
    });
    expect(await driveError(drive.about.get({}))).toMatchObject({ status: 400, reason: 'required' });
    expect((await driveError(drive.files.list({ fields: 'files(id),bogusField' }))).status).toBe(400);

    const doc = await drive.files.create({
      requestBody: { name: 'Big doc', mimeType: 'application/vnd.google-apps.document' },
    });
    const docId = doc.data.id as string;
    expect(await driveError(drive.comments.list({ fileId: docId }))).toMatchObject({
      status: 400,
      reason: 'required',
    });
    expect(await driveError(drive.files.get({ fileId: docId, alt: 'media' }))).toMatchObject({
      status: 403,
      reason: 'fileNotDownloadable',
    });
    expect((await driveError(drive.files.export({ fileId: docId, mimeType: 'image/png' }))).status).toBe(400);
    await emulator.admin.setExportSize(docId, 11 * 1024 * 1024);
    expect(await driveError(drive.files.export({ fileId: docId, mimeType: 'text/plain' }))).toMatchObject({
      status: 403,
      reason: 'exportSizeLimitExceeded',
    });
    await emulator.admin.setExportSize(docId, null);
    const exported = await drive.files.export(
      { fileId: docId, mimeType: 'text/markdown' },
      { responseType: 'text' },
    );
    expect(String(exported.data)).toContain('# Big doc');

    const other = await newUser('stranger');
    expect(
      await driveError(other.drive.files.update({ fileId: docId, requestBody: { name: 'x' } })),
    ).toMatchObject({
      status: 404,
      reason: 'notFound',
    });
    await drive.permissions.create({
      fileId: docId,
      requestBody: { type: 'user', role: 'reader', emailAddress: other.creds.user.email },
    });
    expect(
      await driveError(other.drive.files.update({ fileId: docId, requestBody: { name: 'x' } })),
    ).toMatchObject({
      status: 403,
      reason: 'insufficientFilePermissions',
    });

    await emulator.admin.scriptFault('drive.files.list', 503, 1);
    expect(await driveError(drive.files.list({}))).toMatchObject({ status: 503, reason: 'backendError' });
    await emulator.admin.scriptFault('drive.files.list', 500, 1);
    expect(await driveError(drive.files.list({}))).toMatchObject({ status: 500, reason: 'backendError' });
    await emulator.admin.scriptFault('drive.files.list', 429, 1);
    expect((await driveError(drive.files.list({}))).status).toBe(429);
    expect((await drive.files.list({})).status).toBe(200);

    // Scripted per file: only calls about that file draw them, batch parts included; the
    // calls about each file are counted.
    const target = (await drive.files.create({ requestBody: { name: 'target' } })).data.id as string;
    const bystander = (await drive.files.create({ requestBody: { name: 'bystander' } })).data.id as string;
    await emulator.admin.resetCounters();
    await emulator.admin.scriptFault('drive.revisions.list', 500, 2, target);
    expect((await drive.revisions.list({ fileId: bystander })).status).toBe(200);
    expect(await driveError(drive.revisions.list({ fileId: target }))).toMatchObject({
      status: 500,
      reason: 'backendError',
    });
    expect(await driveError(drive.revisions.list({ fileId: target }))).toMatchObject({ status: 500 });
    expect((await drive.revisions.list({ fileId: target })).status).toBe(200);
    await emulator.admin.scriptFault('drive.revisions.list', 403, 1, target);
    expect(await driveError(drive.revisions.list({ fileId: target }))).toMatchObject({
      status: 403,
      reason: 'rateLimitExceeded',
    });
    expect(await emulator.admin.fileCounters(target)).toEqual({ 'drive.revisions.list': 4 });
    expect(await emulator.admin.fileCounters(bystander)).toEqual({ 'drive.revisions.list': 1 });

    await emulator.admin.resetCounters();
    await emulator.admin.setQuota({ perUserPerMinute: 2 });
    await drive.files.list({});
    await drive.files.list({});
    expect(await driveError(drive.files.list({}))).toMatchObject({
      status: 403,
      reason: 'userRateLimitExceeded',
    });
    await emulator.admin.setQuota({ perUserPerMinute: 12_000, perProjectPerMinute: 1 });
    await drive.files.list({});
    expect(await driveError(drive.files.list({}))).toMatchObject({
      status: 403,
      reason: 'rateLimitExceeded',
    });
    // An empty project bucket refuses at once, and grants again as it refills (60 a minute: 1 a second).
    await emulator.admin.setQuota({ perProjectPerMinute: 60, projectBucketEmpty: true });
    expect(await driveError(drive.files.list({}))).toMatchObject({
      status: 403,
      reason: 'rateLimitExceeded',
    });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await drive.files.list({})).status).toBe(200);
    await emulator.admin.setQuota({ perProjectPerMinute: 12_000 });
    expect(await emulator.admin.counters()).toMatchObject({
      'drive.files.list': 7,
      'quota.userRateLimitExceeded': 1,
      'quota.rateLimitExceeded': 2,
    });

    expect(creds.accessToken.startsWith('ya29.')).toBe(true);
  });

  it('hides shared-drive items without supportsAllDrives and checks the all-drives parameters', async () => {
    await emulator.admin.reset();
    const { creds, drive } = await newUser('organizer');
    const created = await drive.drives.create({ requestId: 'r1', requestBody: { name: 'Team' } });
    const driveId = created.data.id as string;
    const again = await drive.drives.create({ requestId: 'r1', requestBody: { name: 'Team' } });
    expect(again.data.id).toBe(driveId);
    const file = await drive.files.create({
      supportsAllDrives: true,
      requestBody: { name: 'inside', parents: [driveId] },
    });
    const fileId = file.data.id as string;
    expect(await driveError(drive.files.get({ fileId }))).toMatchObject({ status: 404, reason: 'notFound' });
    const got = await drive.files.get({
      fileId,
      supportsAllDrives: true,
      fields: 'id,driveId,owners,permissions,permissionIds',
    });
    expect(got.data.driveId).toBe(driveId);
    expect(got.data.owners).toBeUndefined();
    expect(got.data.permissions).toBeUndefined();
    expect(got.data.permissionIds).toContain(creds.user.id);
    expect((await driveError(drive.files.list({ corpora: 'drive', driveId }))).status).toBe(403);
    expect(
      (
        await driveError(
          drive.files.list({ driveId, includeItemsFromAllDrives: true, supportsAllDrives: true }),
        )
      ).status,
    ).toBe(400);
    const listed = await listAllFiles(drive, {
      corpora: 'drive',
      driveId,
      includeItemsFromAllDrives: true,
      supportsAllDrives: true,
      fields: 'files(id)',
    });
    expect(listed.map((f) => f.id)).toEqual([fileId]);
  });
});

describe('change log', () => {
  it('a start token taken before edits sees every edit; trash and move are changes, not removals', async () => {
    await emulator.admin.reset();
    const { drive } = await newUser('changes');
    const start = (await drive.changes.getStartPageToken({})).data.startPageToken as string;
    expect(start).toMatch(/^\d+$/);
    const folderA = await drive.files.create({
      requestBody: { name: 'A', mimeType: 'application/vnd.google-apps.folder' },
    });
    const folderB = await drive.files.create({
      requestBody: { name: 'B', mimeType: 'application/vnd.google-apps.folder' },
    });
    const file = await drive.files.create(
      {
        requestBody: { name: 'notes.txt', parents: [folderA.data.id as string] },
        media: { mimeType: 'text/plain', body: 'v1' },
      },
      { rootUrl },
    );
    const fileId = file.data.id as string;
    await drive.files.update({ fileId, media: { mimeType: 'text/plain', body: 'v2' } }, { rootUrl });
    await drive.files.update({
      fileId,
      addParents: folderB.data.id as string,
      removeParents: folderA.data.id as string,
    });
    await drive.files.update({ fileId, requestBody: { trashed: true } });

    const { changes, newStartPageToken } = await allChanges(drive, start);
    expect(newStartPageToken).toBeDefined();
    // Four edits: Google may show them as fewer entries, each with the item's latest state.
    const forFile = changes.filter((c) => c.fileId === fileId);
    expect(forFile.length).toBeGreaterThanOrEqual(1);
    expect(forFile.length).toBeLessThanOrEqual(4);
    expect(forFile.every((c) => c.removed === false)).toBe(true);
    expect(forFile.at(-1)?.file?.trashed).toBe(true);
    expect(forFile.at(-1)?.file?.parents).toEqual([folderB.data.id]);
    expect(changes.some((c) => c.fileId === folderA.data.id)).toBe(true);

    const revisions = await drive.revisions.list({ fileId, fields: 'revisions(id,md5Checksum,size)' });
    expect(revisions.data.revisions).toHaveLength(2);
    const meta = await drive.files.get({ fileId, fields: 'version,headRevisionId,md5Checksum' });
    expect(meta.data.headRevisionId).toBe(revisions.data.revisions?.[1]?.id);
    expect(Number(meta.data.version)).toBeGreaterThanOrEqual(4);

    await drive.files.delete({ fileId });
    const after = await allChanges(drive, newStartPageToken as string);
    expect(after.changes).toEqual([expect.objectContaining({ fileId, removed: true })]);
    expect(after.changes[0]?.file).toBeUndefined();
    const quiet = await drive.changes.list({
      pageToken: after.newStartPageToken as string,
      fields: 'changes,newStartPageToken,nextPageToken',
    });
    expect(quiet.data.changes).toEqual([]);
    expect(quiet.data.newStartPageToken).toBe(after.newStartPageToken);
  });

  it('unsharing is a removal for the user who lost access only', async () => {
    await emulator.admin.reset();
    const owner = await newUser('owner');
    const reader = await newUser('reader');
    const folder = await owner.drive.files.create({
      requestBody: { name: 'Shared', mimeType: 'application/vnd.google-apps.folder' },
    });
    const folderId = folder.data.id as string;
    const inner = await owner.drive.files.create({ requestBody: { name: 'inner', parents: [folderId] } });
    const readerStart = (await reader.drive.changes.getStartPageToken({})).data.startPageToken as string;
    const ownerStart = (await owner.drive.changes.getStartPageToken({})).data.startPageToken as string;
    const permission = await owner.drive.permissions.create({
      fileId: folderId,
      requestBody: { type: 'user', role: 'reader', emailAddress: reader.creds.user.email },
    });
    const sharedWithMe = await listAllFiles(reader.drive, { q: 'sharedWithMe', fields: 'files(id)' });
    expect(sharedWithMe.map((f) => f.id)).toContain(folderId);
    const gained = await allChanges(reader.drive, readerStart);
    expect(gained.changes.map((c) => [c.fileId, c.removed])).toEqual(
      expect.arrayContaining([
        [folderId, false],
        [inner.data.id, false],
      ]),
    );

    const midpoint = gained.newStartPageToken as string;
    await owner.drive.permissions.delete({ fileId: folderId, permissionId: permission.data.id as string });
    const lost = await allChanges(reader.drive, midpoint);
    expect(lost.changes.map((c) => [c.fileId, c.removed])).toEqual(
      expect.arrayContaining([
        [folderId, true],
        [inner.data.id, true],
      ]),
    );
    const ownerView = await allChanges(owner.drive, ownerStart);
    expect(ownerView.changes.every((c) => c.removed === false)).toBe(true);
  });

  it('a shared-drive change appears in the user log only with both all-drives flags, and in the drive log', async () => {
    await emulator.admin.reset();
    const organizer = await newUser('org');
    const member = await newUser('member');
    const sharedDrive = await organizer.drive.drives.create({
      requestId: 'sd',
      requestBody: { name: 'Eng' },
    });
    const driveId = sharedDrive.data.id as string;
    await emulator.admin.setDriveMember(driveId, member.creds.user.id, 'writer');
    const userStart = (await member.drive.changes.getStartPageToken({})).data.startPageToken as string;
    const driveStart = (await member.drive.changes.getStartPageToken({ driveId, supportsAllDrives: true }))
      .data.startPageToken as string;
    const file = await organizer.drive.files.create({
      supportsAllDrives: true,
      requestBody: { name: 'spec', parents: [driveId] },
    });

    const without = await allChanges(member.drive, userStart);
    expect(without.changes.some((c) => c.fileId === file.data.id)).toBe(false);
    const onlyOne = await allChanges(member.drive, userStart, { includeItemsFromAllDrives: true });
    expect(onlyOne.changes.some((c) => c.fileId === file.data.id)).toBe(false);
    const both = await allChanges(member.drive, userStart, {
      includeItemsFromAllDrives: true,
      supportsAllDrives: true,
    });
    expect(both.changes.find((c) => c.fileId === file.data.id)).toMatchObject({ driveId, removed: false });
    const driveLog = await allChanges(member.drive, driveStart, {
      driveId,
      includeItemsFromAllDrives: true,
      supportsAllDrives: true,
    });
    expect(driveLog.changes.find((c) => c.fileId === file.data.id)).toMatchObject({
      driveId,
      removed: false,
    });

    const beforeLeaving = both.newStartPageToken as string;
    await emulator.admin.removeDriveMember(driveId, member.creds.user.id);
    const left = await allChanges(member.drive, beforeLeaving, {
      includeItemsFromAllDrives: true,
      supportsAllDrives: true,
    });
    // Google's user log shows leaving as one removed drive change, not a removal per item.
    expect(left.changes).toEqual([expect.objectContaining({ changeType: 'drive', driveId, removed: true })]);
  });
});

describe('identity', () => {
  it('refreshes through /token, expires tokens, and answers invalid_grant once revoked', async () => {
    await emulator.admin.reset();
    const { creds, drive } = await newUser('refresher');
    await emulator.admin.expireAccessToken(creds.accessToken);
    // google-auth-library refreshes on 401 and replays the call.
    const listed = await drive.files.list({});
    expect(listed.status).toBe(200);

    await emulator.admin.mapConnection('conn_1', creds.user.id);
    const cp = await fetch(`${emulator.url}/v1/integration-connections/conn_1/access-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ integration_id: 'google-drive', force_refresh: false }),
    });
    expect(cp.status).toBe(200);
    const token = (await cp.json()) as { access_token: string; google_user: string; expires_at: string };
    expect(token.google_user).toBe(creds.user.id);
    expect((await driveWithToken(token.access_token).files.list({})).status).toBe(200);
    const unknown = await fetch(`${emulator.url}/v1/integration-connections/nope/access-token`, {
      method: 'POST',
      body: '{}',
    });
    expect(unknown.status).toBe(404);

    await emulator.admin.revokeUser(creds.user.id);
    const refused = await fetch(`${emulator.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.refreshToken,
        client_id: creds.clientId,
        client_secret: creds.clientSecret,
      }).toString(),
    });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toBe(
      '{"error":"invalid_grant","error_description":"Token has been expired or revoked."}',
    );
    const reauth = await fetch(`${emulator.url}/v1/integration-connections/conn_1/access-token`, {
      method: 'POST',
      body: '{}',
    });
    expect(reauth.status).toBe(409);
    expect(await reauth.json()).toEqual({ error: 'reauth_required' });
  });
});

describe('push notifications', () => {
  let receiver: Server;
  let address: string;
  const received: IncomingHttpHeaders[] = [];
  const waiters: (() => void)[] = [];

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      received.push(request.headers);
      response.writeHead(200).end();
      for (const wake of waiters.splice(0)) wake();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    address = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  async function waitFor(count: number): Promise<void> {
    while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
  }

  it('watch → sync → change → channels.stop → silence', async () => {
    await emulator.admin.reset();
    const { drive } = await newUser('watcher');
    const start = (await drive.changes.getStartPageToken({})).data.startPageToken as string;
    const channel = await drive.changes.watch({
      pageToken: start,
      requestBody: { id: 'channel-1', type: 'web_hook', address, token: 'opaque-token' },
    });
    expect(channel.data).toMatchObject({ kind: 'api#channel', id: 'channel-1', token: 'opaque-token' });
    expect(typeof channel.data.expiration).toBe('string');
    await waitFor(1);
    expect(received[0]).toMatchObject({
      'x-goog-channel-id': 'channel-1',
      'x-goog-channel-token': 'opaque-token',
      'x-goog-resource-state': 'sync',
      'x-goog-message-number': '1',
      'x-goog-resource-id': channel.data.resourceId,
    });
    expect(received[0]?.['x-goog-channel-expiration']).toMatch(/GMT$/);

    await drive.files.create({ requestBody: { name: 'ping' } });
    await waitFor(2);
    expect(received[1]).toMatchObject({
      'x-goog-resource-state': 'change',
      'x-goog-channel-id': 'channel-1',
    });
    expect(Number(received[1]?.['x-goog-message-number'])).toBeGreaterThan(1);

    expect(
      (await driveError(drive.channels.stop({ requestBody: { id: 'channel-1', resourceId: 'wrong' } })))
        .status,
    ).toBe(404);
    await drive.channels.stop({
      requestBody: { id: 'channel-1', resourceId: channel.data.resourceId as string },
    });
    await drive.files.create({ requestBody: { name: 'after stop' } });
    // A later channel's sync proves the emulator has processed the earlier write.
    const probe = await drive.changes.watch({
      pageToken: start,
      requestBody: { id: 'channel-2', type: 'web_hook', address },
    });
    await waitFor(3);
    expect(received).toHaveLength(3);
    expect(received[2]).toMatchObject({ 'x-goog-channel-id': 'channel-2', 'x-goog-resource-state': 'sync' });
    await drive.channels.stop({
      requestBody: { id: 'channel-2', resourceId: probe.data.resourceId as string },
    });

    expect(
      (
        await driveError(
          drive.changes.watch({
            pageToken: start,
            requestBody: { id: 'late', type: 'web_hook', address, expiration: '1000' },
          }),
        )
      ).status,
    ).toBe(400);
  });
  it('files.watch: update names what changed, then trash, untrash and remove', async () => {
    await emulator.admin.reset();
    const { drive } = await newUser('file-watcher');
    const made = await drive.files.create({ requestBody: { name: 'watched' } });
    const fileId = made.data.id as string;
    const before = received.length;
    const channel = await drive.files.watch({
      fileId,
      requestBody: { id: 'file-channel', type: 'web_hook', address },
    });
    expect(channel.data.resourceUri).toContain(`/files/${fileId}`);
    await waitFor(before + 1);
    expect(received[before]).toMatchObject({ 'x-goog-resource-state': 'sync' });

    await drive.files.update({ fileId, requestBody: { name: 'renamed' } });
    await waitFor(before + 2);
    expect(received[before + 1]).toMatchObject({
      'x-goog-resource-state': 'update',
      'x-goog-changed': 'properties',
    });

    await drive.files.update({ fileId, media: { mimeType: 'text/plain', body: 'new bytes' } }, { rootUrl });
    await waitFor(before + 3);
    expect(received[before + 2]?.['x-goog-resource-state']).toBe('update');
    expect(String(received[before + 2]?.['x-goog-changed']).split(',')).toContain('content');

    await drive.files.update({ fileId, requestBody: { trashed: true } });
    await waitFor(before + 4);
    expect(received[before + 3]).toMatchObject({ 'x-goog-resource-state': 'trash' });
    expect(received[before + 3]?.['x-goog-changed']).toBeUndefined();

    await drive.files.update({ fileId, requestBody: { trashed: false } });
    await waitFor(before + 5);
    expect(received[before + 4]).toMatchObject({ 'x-goog-resource-state': 'untrash' });

    await drive.files.delete({ fileId });
    await waitFor(before + 6);
    expect(received[before + 5]).toMatchObject({ 'x-goog-resource-state': 'remove' });
  });
});

describe('batch and counters', () => {
  it('runs parts as ordinary calls, answers response-<id> parts, counts each inner call', async () => {
    await emulator.admin.reset();
    const { creds, drive } = await newUser('batcher');
    const made = await drive.files.create({ requestBody: { name: 'one' } });
    await emulator.admin.resetCounters();
    const boundary = 'b0undary';
    const parts = [
      `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <a>\r\n\r\nGET /drive/v3/files/${made.data.id}?fields=id,name HTTP/1.1\r\n\r\n`,
      `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <b>\r\n\r\nGET /drive/v3/files/missing HTTP/1.1\r\n\r\n`,
      `--${boundary}--\r\n`,
    ].join('');
    const response = await fetch(`${emulator.url}/batch/drive/v3`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${creds.accessToken}`,
        'content-type': `multipart/mixed; boundary=${boundary}`,
      },
      body: parts,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^multipart\/mixed; boundary=/);
    const text = await response.text();
    expect(text).toContain('Content-ID: <response-a>');
    expect(text).toContain('Content-ID: <response-b>');
    expect(text).toContain('"name":"one"');
    expect(text).toMatch(/HTTP\/1\.1 404/);
    expect(await emulator.admin.counters()).toMatchObject({ batch: 1, 'drive.files.get': 2 });
  });
});

describe('query terms, drive queries and small envelopes', () => {
  it("'me' in owners is the caller; drives.list q reads hidden, memberCount and organizerCount", async () => {
    await emulator.admin.reset();
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const own = await alice.drive.files.create({ requestBody: { name: 'mine' } });
    const theirs = await bob.drive.files.create({ requestBody: { name: 'shared by bob' } });
    await bob.drive.permissions.create({
      fileId: theirs.data.id as string,
      requestBody: { type: 'user', role: 'reader', emailAddress: 'alice@example.com' },
    });
    const everything = await listAllFiles(alice.drive, { fields: 'files(id)' });
    expect(everything.map((f) => f.id).sort()).toEqual([own.data.id, theirs.data.id].sort());
    const owned = await listAllFiles(alice.drive, { q: "'me' in owners", fields: 'files(id)' });
    expect(owned.map((f) => f.id)).toEqual([own.data.id]);
    const notOwned = await listAllFiles(alice.drive, { q: "not 'me' in owners", fields: 'files(id)' });
    expect(notOwned.map((f) => f.id)).toEqual([theirs.data.id]);

    await emulator.admin.createSharedDrive('Small', alice.creds.user.id);
    const big = await emulator.admin.createSharedDrive('Big', alice.creds.user.id);
    await emulator.admin.setDriveMember(big.id, bob.creds.user.id, 'organizer');
    const names = async (q: string) =>
      ((await alice.drive.drives.list({ q, fields: 'drives(name)' })).data.drives ?? []).map((d) => d.name);
    expect(await names('memberCount > 1')).toEqual(['Big']);
    expect(await names('organizerCount = 1')).toEqual(['Small']);
    expect(await names('hidden = false and name contains "Sm"')).toEqual(['Small']);
    expect((await driveError(alice.drive.drives.list({ q: "mimeType = 'x'" }))).status).toBe(400);
  });

  it('an expired token says ACCESS_TOKEN_EXPIRED; a past channel expiration prints the TTL in seconds', async () => {
    await emulator.admin.reset();
    const { creds } = await newUser('expiring');
    await emulator.admin.expireAccessToken(creds.accessToken);
    const expired = await driveError(driveWithToken(creds.accessToken).files.list({}));
    expect(expired).toMatchObject({ status: 401, reason: 'authError' });
    expect(JSON.stringify(expired.body)).toContain('ACCESS_TOKEN_EXPIRED');

    const fresh = driveFor(await emulator.admin.issueTokens(creds.user.id));
    const start = (await fresh.changes.getStartPageToken({})).data.startPageToken as string;
    const past = Date.now() - 3_600_000;
    const refused = await driveError(
      fresh.changes.watch({
        pageToken: start,
        requestBody: {
          id: 'ttl',
          type: 'web_hook',
          address: 'http://127.0.0.1:9/x',
          expiration: String(past),
        },
      }),
    );
    expect(refused.status).toBe(400);
    const message = (refused.body as { error: { message: string } }).error.message;
    const ttl = Number(/^Invalid ttl value for channel (-?\d+)$/.exec(message)?.[1]);
    expect(ttl).toBeLessThanOrEqual(-3600);
    expect(ttl).toBeGreaterThan(-3700);
  });
});
