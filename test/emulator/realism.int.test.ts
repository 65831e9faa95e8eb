import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { drive_v3 } from '@googleapis/drive';
import * as google from '@googleapis/drive';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { type RunningDriveEmulator, startDriveEmulator } from '../../src/emulator/index.js';

// Google's looseness, each point held through googleapis as a client sees it (README "Realism").

let emulator: RunningDriveEmulator;
let rootUrl: string;
const FOLDER = 'application/vnd.google-apps.folder';
const ALL_DRIVES = { includeItemsFromAllDrives: true, supportsAllDrives: true } as const;

function driveFor(credentials: UserCredentials): drive_v3.Drive {
  const auth = new google.auth.OAuth2({
    clientId: credentials.clientId,
    clientSecret: credentials.clientSecret,
    endpoints: { oauth2TokenUrl: `${emulator.url}/token` },
  });
  auth.setCredentials({ access_token: credentials.accessToken, refresh_token: credentials.refreshToken });
  return google.drive({ version: 'v3', rootUrl, auth, retry: false });
}

async function newUser(name: string): Promise<{ creds: UserCredentials; drive: drive_v3.Drive }> {
  const creds = await emulator.admin.createUser(`${name}@example.com`, name);
  return { creds, drive: driveFor(creds) };
}

async function driveError(call: Promise<unknown>): Promise<{ status: number; reason: string }> {
  try {
    await call;
  } catch (error) {
    const failure = error as { response?: { status: number; data: unknown } };
    const data = failure.response?.data as { error?: { errors?: { reason?: string }[] } } | undefined;
    return { status: failure.response?.status ?? 0, reason: data?.error?.errors?.[0]?.reason ?? '' };
  }
  throw new Error('expected the call to fail');
}

interface ChangePageSeen {
  readonly count: number;
  readonly hasNext: boolean;
}

async function readChanges(
  drive: drive_v3.Drive,
  pageToken: string,
  extra: drive_v3.Params$Resource$Changes$List = {},
): Promise<{ changes: drive_v3.Schema$Change[]; pages: ChangePageSeen[]; newStartPageToken: string }> {
  const changes: drive_v3.Schema$Change[] = [];
  const pages: ChangePageSeen[] = [];
  let token: string | undefined = pageToken;
  for (;;) {
    const response: { data: drive_v3.Schema$ChangeList } = await drive.changes.list({
      pageSize: 5,
      ...extra,
      pageToken: token,
      fields:
        'nextPageToken,newStartPageToken,changes(changeType,fileId,removed,driveId,file(id,name,parents,trashed,driveId))',
    });
    const page = response.data.changes ?? [];
    changes.push(...page);
    pages.push({ count: page.length, hasNext: response.data.nextPageToken != null });
    if (response.data.nextPageToken == null) {
      return { changes, pages, newStartPageToken: response.data.newStartPageToken as string };
    }
    token = response.data.nextPageToken;
  }
}

async function listPages(
  drive: drive_v3.Drive,
  params: drive_v3.Params$Resource$Files$List,
): Promise<{ ids: string[]; lengths: number[]; tokens: boolean[] }> {
  const ids: string[] = [];
  const lengths: number[] = [];
  const tokens: boolean[] = [];
  let pageToken: string | undefined;
  do {
    const response: { data: drive_v3.Schema$FileList } = await drive.files.list({
      ...params,
      fields: 'nextPageToken,files(id)',
      ...(pageToken !== undefined ? { pageToken } : {}),
    });
    const files = response.data.files ?? [];
    ids.push(...files.map((f) => f.id as string));
    lengths.push(files.length);
    pageToken = response.data.nextPageToken ?? undefined;
    tokens.push(pageToken !== undefined);
  } while (pageToken !== undefined);
  return { ids, lengths, tokens };
}

async function startToken(drive: drive_v3.Drive, driveId?: string): Promise<string> {
  const response = await drive.changes.getStartPageToken(
    driveId === undefined ? {} : { driveId, supportsAllDrives: true },
  );
  return response.data.startPageToken as string;
}

beforeAll(async () => {
  emulator = await startDriveEmulator({ seed: 11 });
  rootUrl = `${emulator.url}/`;
});

afterAll(async () => {
  await emulator.close();
});

beforeEach(async () => {
  await emulator.admin.reset();
  await emulator.admin.setRealism({ partialPages: true, coalesceChanges: true, pushJitter: true });
});

describe('partial and empty pages', () => {
  it('files.list pages run short or empty before the end, reproducibly; the setting turns it off', async () => {
    const { drive } = await newUser('pager');
    const made: string[] = [];
    for (let i = 0; i < 60; i++) {
      made.push(
        (await drive.files.create({ requestBody: { name: `f${i}` }, fields: 'id' })).data.id as string,
      );
    }
    const seen: { pageSize: number; lengths: number[]; tokens: boolean[] }[] = [];
    for (const pageSize of [4, 6, 9]) {
      const listing = await listPages(drive, { pageSize });
      expect(listing.ids.sort()).toEqual([...made].sort());
      expect(listing.lengths.every((n) => n <= pageSize)).toBe(true);
      seen.push({ pageSize, ...listing });
      const again = await listPages(drive, { pageSize });
      expect(again.lengths).toEqual(listing.lengths);
    }
    const shortBeforeEnd = seen.some((s) => s.lengths.some((n, i) => s.tokens[i] && n > 0 && n < s.pageSize));
    expect(shortBeforeEnd).toBe(true);
    const emptyWithToken = seen.some((s) => s.lengths.some((n, i) => n === 0 && s.tokens[i]));
    expect(emptyWithToken).toBe(true);

    await emulator.admin.setRealism({ partialPages: false });
    const full = await listPages(drive, { pageSize: 9 });
    expect(full.lengths.slice(0, -1).every((n) => n === 9)).toBe(true);
  });

  it('changes.list pages run short or empty with a nextPageToken, and every change is still read', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const start = await startToken(alice.drive);
    const mine: string[] = [];
    for (let round = 0; round < 12; round++) {
      mine.push(
        (await alice.drive.files.create({ requestBody: { name: `a${round}` }, fields: 'id' })).data
          .id as string,
      );
      for (let other = 0; other < 3; other++) await bob.drive.files.create({ requestBody: { name: 'b' } });
    }
    const pages: (ChangePageSeen & { pageSize: number })[] = [];
    for (const pageSize of [2, 3, 4, 5, 6]) {
      const read = await readChanges(alice.drive, start, { pageSize });
      expect(new Set(read.changes.map((c) => c.fileId))).toEqual(new Set(mine));
      pages.push(...read.pages.map((p) => ({ ...p, pageSize })));
      const again = await readChanges(alice.drive, start, { pageSize });
      expect(again.pages).toEqual(read.pages);
    }
    expect(pages.some((p) => p.count === 0 && p.hasNext)).toBe(true);
    expect(pages.some((p) => p.count > 0 && p.count < p.pageSize && p.hasNext)).toBe(true);
  });
});

describe('change coalescing', () => {
  it('several edits of one item between two reads may show as fewer entries, the last with the latest state', async () => {
    const { drive } = await newUser('editor');
    const start = await startToken(drive);
    const fileId = (await drive.files.create({ requestBody: { name: 'v0' }, fields: 'id' })).data
      .id as string;
    for (let v = 1; v <= 6; v++) await drive.files.update({ fileId, requestBody: { name: `v${v}` } });
    const read = await readChanges(drive, start, { pageSize: 100 });
    const entries = read.changes.filter((c) => c.fileId === fileId);
    expect(entries.length).toBeGreaterThanOrEqual(1);
    expect(entries.length).toBeLessThan(7);
    expect(entries.at(-1)?.file?.name).toBe('v6');

    await emulator.admin.setRealism({ coalesceChanges: false });
    const strict = await readChanges(drive, start, { pageSize: 100 });
    expect(strict.changes.filter((c) => c.fileId === fileId)).toHaveLength(7);
  });

  it('a create then delete reads as one removal or nothing; read from after the create, the removal is there', async () => {
    const { drive } = await newUser('fleeting');
    const before = await startToken(drive);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push(
        (await drive.files.create({ requestBody: { name: `tmp${i}` }, fields: 'id' })).data.id as string,
      );
    }
    const between = await startToken(drive);
    for (const fileId of ids) await drive.files.delete({ fileId });

    const fromBefore = await readChanges(drive, before, { pageSize: 100 });
    const counts = ids.map((id) => fromBefore.changes.filter((c) => c.fileId === id));
    expect(counts.every((entries) => entries.length <= 1 && entries.every((c) => c.removed === true))).toBe(
      true,
    );
    expect(counts.some((entries) => entries.length === 0)).toBe(true);
    expect(counts.some((entries) => entries.length === 1)).toBe(true);

    const fromBetween = await readChanges(drive, between, { pageSize: 100 });
    for (const id of ids) {
      expect(fromBetween.changes.filter((c) => c.fileId === id && c.removed)).toHaveLength(1);
    }
  });

  it('spaces: appDataFolder holds nothing here, an unknown space is 400', async () => {
    const { drive } = await newUser('spaces');
    const start = await startToken(drive);
    await drive.files.create({ requestBody: { name: 'in drive' } });
    expect((await readChanges(drive, start, { spaces: 'drive' })).changes).toHaveLength(1);
    expect((await readChanges(drive, start, { spaces: 'appDataFolder' })).changes).toHaveLength(0);
    expect((await driveError(drive.changes.list({ pageToken: start, spaces: 'nowhere' }))).status).toBe(400);
  });
});

describe('push notifications', () => {
  let receiver: Server;
  let address: string;
  const received: { at: number; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      received.push({ at: Date.now(), headers: request.headers });
      response.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    address = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('a burst arrives late, as fewer messages with increasing (gapped, sometimes repeated) numbers', async () => {
    const { drive } = await newUser('pushed');
    const start = await startToken(drive);
    const messages = (channelId: string) =>
      received.filter(
        (r) =>
          r.headers['x-goog-channel-id'] === channelId && r.headers['x-goog-resource-state'] === 'change',
      );
    const numbers: number[] = [];
    for (let burst = 0; burst < 4; burst++) {
      const id = `burst-${burst}`;
      await drive.changes.watch({ pageToken: start, requestBody: { id, type: 'web_hook', address } });
      const fileId = (await drive.files.create({ requestBody: { name: 'x' }, fields: 'id' })).data
        .id as string;
      for (let edit = 0; edit < 5; edit++)
        await drive.files.update({ fileId, requestBody: { name: `x${edit}` } });
      const lastWrite = Date.now();
      await sleep(1200);
      const got = messages(id);
      expect(got.length).toBeGreaterThanOrEqual(1);
      // Six changes, fewer messages: one message covers several changes.
      expect(new Set(got.map((m) => m.headers['x-goog-message-number'])).size).toBeLessThan(6);
      expect(got.at(-1)?.at).toBeGreaterThanOrEqual(lastWrite - 500);
      const ns = got.map((m) => Number(m.headers['x-goog-message-number']));
      expect([...ns].sort((a, b) => a - b)).toEqual(ns);
      numbers.push(...ns);
    }
    const repeated = numbers.some((n, i) => i > 0 && numbers[i - 1] === n);
    const gapped = numbers.some((n, i) => i > 0 && n - (numbers[i - 1] as number) > 1);
    expect(repeated || gapped).toBe(true);
  });
});

describe('moves', () => {
  it("the owner's addParents alone moves; a second parent or a non-owner's add is 403 cannotAddParent", async () => {
    const owner = await newUser('mover');
    const writer = await newUser('writer');
    const a = await owner.drive.files.create({ requestBody: { name: 'A', mimeType: FOLDER }, fields: 'id' });
    const b = await owner.drive.files.create({ requestBody: { name: 'B', mimeType: FOLDER }, fields: 'id' });
    const file = await owner.drive.files.create({
      requestBody: { name: 'f', parents: [a.data.id as string] },
      fields: 'id,capabilities(canAddMyDriveParent)',
    });
    const fileId = file.data.id as string;
    expect(file.data.capabilities?.canAddMyDriveParent).toBe(false);
    const moved = await owner.drive.files.update({
      fileId,
      addParents: b.data.id as string,
      fields: 'parents',
    });
    expect(moved.data.parents).toEqual([b.data.id]);

    expect(
      await driveError(
        owner.drive.files.update({ fileId, addParents: `${a.data.id},${b.data.id}`, fields: 'id' }),
      ),
    ).toEqual({ status: 403, reason: 'cannotAddParent' });
    await owner.drive.permissions.create({
      fileId,
      requestBody: { type: 'user', role: 'writer', emailAddress: writer.creds.user.email },
    });
    const writersFolder = await writer.drive.files.create({
      requestBody: { name: 'mine', mimeType: FOLDER },
      fields: 'id',
    });
    expect(
      await driveError(writer.drive.files.update({ fileId, addParents: writersFolder.data.id as string })),
    ).toEqual({ status: 403, reason: 'cannotAddParent' });
  });

  it('My Drive → shared drive → another shared drive → My Drive, with the logs Google keeps', async () => {
    const owner = await newUser('owner');
    const one = await owner.drive.drives.create({ requestId: 'one', requestBody: { name: 'One' } });
    const two = await owner.drive.drives.create({ requestId: 'two', requestBody: { name: 'Two' } });
    const oneId = one.data.id as string;
    const twoId = two.data.id as string;
    const file = await owner.drive.files.create({ requestBody: { name: 'travels' }, fields: 'id,parents' });
    const fileId = file.data.id as string;
    const userStart = await startToken(owner.drive);
    const oneStart = await startToken(owner.drive, oneId);
    const twoStart = await startToken(owner.drive, twoId);

    const inOne = await owner.drive.files.update({
      fileId,
      addParents: oneId,
      removeParents: (file.data.parents ?? []).join(','),
      supportsAllDrives: true,
      fields: 'driveId,owners,parents,capabilities(canAddMyDriveParent)',
    });
    expect(inOne.data).toMatchObject({ driveId: oneId, parents: [oneId] });
    expect(inOne.data.owners).toBeUndefined();
    expect(inOne.data.capabilities?.canAddMyDriveParent).toBeUndefined();
    const oneLog = await readChanges(owner.drive, oneStart, { driveId: oneId, ...ALL_DRIVES });
    expect(oneLog.changes.at(-1)).toMatchObject({ fileId, removed: false, driveId: oneId });

    await owner.drive.files.update({
      fileId,
      addParents: twoId,
      removeParents: oneId,
      supportsAllDrives: true,
      fields: 'id',
    });
    const oneAfter = await readChanges(owner.drive, oneLog.newStartPageToken, {
      driveId: oneId,
      ...ALL_DRIVES,
    });
    expect(oneAfter.changes).toEqual([expect.objectContaining({ fileId, removed: true })]);
    const twoLog = await readChanges(owner.drive, twoStart, { driveId: twoId, ...ALL_DRIVES });
    expect(twoLog.changes.at(-1)).toMatchObject({ fileId, removed: false, file: { driveId: twoId } });

    const back = await owner.drive.files.update({
      fileId,
      addParents: 'root',
      removeParents: twoId,
      supportsAllDrives: true,
      fields: 'driveId,ownedByMe',
    });
    expect(back.data.driveId).toBeUndefined();
    expect(back.data.ownedByMe).toBe(true);
    const userLog = await readChanges(owner.drive, userStart, ALL_DRIVES);
    const last = userLog.changes.filter((c) => c.fileId === fileId).at(-1);
    expect(last).toMatchObject({ removed: false });
    expect(last?.driveId).toBeUndefined();
  });
});

describe('shared-drive membership', () => {
  it("joining and leaving show in the user's log as one drive change each; a file shared out of a drive shows as a file", async () => {
    const organizer = await newUser('organizer');
    const member = await newUser('member');
    const outsider = await newUser('outsider');
    const shared = await organizer.drive.drives.create({ requestId: 'eng', requestBody: { name: 'Eng' } });
    const driveId = shared.data.id as string;
    const files: string[] = [];
    for (let i = 0; i < 3; i++) {
      const made = await organizer.drive.files.create({
        supportsAllDrives: true,
        requestBody: { name: `spec${i}`, parents: [driveId] },
        fields: 'id',
      });
      files.push(made.data.id as string);
    }
    const memberStart = await startToken(member.drive);
    await emulator.admin.setDriveMember(driveId, member.creds.user.id, 'writer');
    const joined = await readChanges(member.drive, memberStart, ALL_DRIVES);
    expect(joined.changes).toEqual([
      expect.objectContaining({ changeType: 'drive', driveId, removed: false }),
    ]);
    await emulator.admin.removeDriveMember(driveId, member.creds.user.id);
    const left = await readChanges(member.drive, joined.newStartPageToken, ALL_DRIVES);
    expect(left.changes).toEqual([expect.objectContaining({ changeType: 'drive', driveId, removed: true })]);

    const outsiderStart = await startToken(outsider.drive);
    await organizer.drive.permissions.create({
      fileId: files[0] as string,
      supportsAllDrives: true,
      requestBody: { type: 'user', role: 'reader', emailAddress: outsider.creds.user.email },
    });
    const direct = await readChanges(outsider.drive, outsiderStart, ALL_DRIVES);
    expect(direct.changes).toEqual([
      expect.objectContaining({ changeType: 'file', fileId: files[0], driveId }),
    ]);
    const sharedWithMe = await listPages(outsider.drive, { q: 'sharedWithMe', ...ALL_DRIVES });
    expect(sharedWithMe.ids).toEqual([files[0]]);
  });
});

describe('folders: which children the log lists', () => {
  it('sharing lists the children for the grantee only; link sharing, moving and trashing list the folder alone', async () => {
    await emulator.admin.setRealism({ coalesceChanges: false });
    const owner = await newUser('folderowner');
    const reader = await newUser('folderreader');
    const folder = await owner.drive.files.create({
      requestBody: { name: 'F', mimeType: FOLDER },
      fields: 'id',
    });
    const folderId = folder.data.id as string;
    const other = await owner.drive.files.create({
      requestBody: { name: 'G', mimeType: FOLDER },
      fields: 'id',
    });
    const children: string[] = [];
    for (let i = 0; i < 3; i++) {
      const child = await owner.drive.files.create({
        requestBody: { name: `c${i}`, parents: [folderId] },
        fields: 'id',
      });
      children.push(child.data.id as string);
    }
    const ownerStart = await startToken(owner.drive);
    const readerStart = await startToken(reader.drive);
    await owner.drive.permissions.create({
      fileId: folderId,
      requestBody: { type: 'user', role: 'reader', emailAddress: reader.creds.user.email },
    });
    const grantee = await readChanges(reader.drive, readerStart);
    expect(new Set(grantee.changes.map((c) => c.fileId))).toEqual(new Set([folderId, ...children]));
    const ownerView = await readChanges(owner.drive, ownerStart);
    expect(ownerView.changes.map((c) => c.fileId)).toEqual([folderId]);
    const child = await owner.drive.files.get({ fileId: children[0] as string, fields: 'permissionIds' });
    expect(child.data.permissionIds).toContain(reader.creds.user.id);

    const quiet = ownerView.newStartPageToken;
    await owner.drive.permissions.create({
      fileId: folderId,
      requestBody: { type: 'anyone', role: 'reader' },
    });
    await owner.drive.files.update({
      fileId: folderId,
      addParents: other.data.id as string,
      removeParents: 'root',
    });
    await owner.drive.files.update({ fileId: folderId, requestBody: { trashed: true } });
    const later = await readChanges(owner.drive, quiet);
    expect(new Set(later.changes.map((c) => c.fileId))).toEqual(new Set([folderId]));
    const trashedChild = await owner.drive.files.get({
      fileId: children[1] as string,
      fields: 'trashed,explicitlyTrashed',
    });
    expect(trashedChild.data).toEqual({ trashed: true, explicitlyTrashed: false });
    const linked = await listPages(owner.drive, { q: "visibility = 'anyoneWithLink'" });
    expect(new Set(linked.ids)).toEqual(new Set([folderId, ...children]));
  });
});

describe('corpus realism', () => {
  it('generates trashed items, shortcuts in and out of My Drive, shares out of shared drives, undownloadable files', async () => {
    const corpus = await emulator.admin.generateCorpus({ seed: 5, files: 400, users: 5, sharedDrives: 2 });
    let trashed = 0;
    let restricted = 0;
    let shortcutsToMyDrive = 0;
    let shortcutsToDrives = 0;
    let directFromDrives = 0;
    let refusedDownload = false;
    for (const user of corpus.users) {
      const drive = driveFor(user);
      const seen: drive_v3.Schema$File[] = [];
      let pageToken: string | undefined;
      do {
        const response: { data: drive_v3.Schema$FileList } = await drive.files.list({
          ...ALL_DRIVES,
          corpora: 'allDrives',
          pageSize: 1000,
          fields:
            'nextPageToken,files(id,mimeType,trashed,driveId,sharedWithMeTime,copyRequiresWriterPermission,capabilities(canDownload),shortcutDetails(targetId))',
          ...(pageToken !== undefined ? { pageToken } : {}),
        });
        seen.push(...(response.data.files ?? []));
        pageToken = response.data.nextPageToken ?? undefined;
      } while (pageToken !== undefined);
      for (const file of seen) {
        if (file.trashed) trashed++;
        if (file.driveId && file.sharedWithMeTime) directFromDrives++;
        if (file.shortcutDetails?.targetId) {
          const target = await drive.files.get({
            fileId: file.shortcutDetails.targetId,
            supportsAllDrives: true,
            fields: 'driveId',
          });
          if (target.data.driveId) shortcutsToDrives++;
          else shortcutsToMyDrive++;
        }
        if (file.capabilities?.canDownload === false) {
          restricted++;
          expect(file.copyRequiresWriterPermission).toBe(true);
          if (!refusedDownload && file.mimeType?.startsWith('application/vnd.google-apps') === false) {
            const refusal = await driveError(
              drive.files.get({ fileId: file.id as string, alt: 'media', supportsAllDrives: true }),
            );
            expect(refusal.status).toBe(403);
            refusedDownload = true;
          }
        }
      }
    }
    expect(trashed).toBeGreaterThan(0);
    expect(restricted).toBeGreaterThan(0);
    expect(shortcutsToMyDrive).toBeGreaterThan(0);
    expect(shortcutsToDrives).toBeGreaterThan(0);
    expect(directFromDrives).toBeGreaterThan(0);
  });
});

describe('batch and media', () => {
  it('batch parts answer Content-ID <response-ID> (or <response-item-N> when sent without one)', async () => {
    const { creds, drive } = await newUser('batcher');
    const made = await drive.files.create({ requestBody: { name: 'one' }, fields: 'id' });
    const boundary = 'xyz';
    const body = [
      `--${boundary}\r\nContent-Type: application/http\r\nContent-ID: <item1>\r\n\r\nGET /drive/v3/files/${made.data.id}?fields=id HTTP/1.1\r\n\r\n`,
      `--${boundary}\r\nContent-Type: application/http\r\n\r\nGET /drive/v3/files/${made.data.id}?fields=name HTTP/1.1\r\n\r\n`,
      `--${boundary}--\r\n`,
    ].join('');
    const response = await fetch(`${emulator.url}/batch/drive/v3`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${creds.accessToken}`,
        'content-type': `multipart/mixed; boundary=${boundary}`,
      },
      body,
    });
    const text = await response.text();
    expect(text).toContain('Content-ID: <response-item1>');
    expect(text).toContain('Content-ID: <response-item-2>');
  });

  it('Range on alt=media answers 206 with the range and Content-Range', async () => {
    const { drive } = await newUser('ranger');
    const made = await drive.files.create(
      {
        requestBody: { name: 'bytes.txt' },
        media: { mimeType: 'text/plain', body: '0123456789' },
        fields: 'id',
      },
      { rootUrl },
    );
    const fileId = made.data.id as string;
    const partial = await drive.files.get(
      { fileId, alt: 'media' },
      { responseType: 'text', headers: { Range: 'bytes=2-5' } },
    );
    expect(partial.status).toBe(206);
    expect(partial.data).toBe('2345');
    expect((partial.headers as unknown as Headers).get('content-range')).toBe('bytes 2-5/10');
    const tail = await drive.files.get(
      { fileId, alt: 'media' },
      { responseType: 'text', headers: { Range: 'bytes=-3' } },
    );
    expect(tail.data).toBe('789');
    expect(
      (await driveError(drive.files.get({ fileId, alt: 'media' }, { headers: { Range: 'bytes=20-' } })))
        .status,
    ).toBe(416);
  });
});
