import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { expectRecordsMatchDrive, FOLDER_MIME, visibleTo, withinDrives } from '../support/drive-truth.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * The mirror stays exact while the user edits: a full sync's walk loses no unchanged item
 * when the listing shifts under it (live, and across a restart from a checkpointed
 * position), changes to a folder reach every item below it, options persist and widen by
 * backfill, a resume token Drive refuses restarts only its corpus. Every check is the
 * oracle (test/support/drive-truth.ts): ids, kinds and each item's permission ids.
 */

type Checkpointed = Pick<ConnectionCheckpoint, 'connectionId'> & {
  activeSync: { resume: { phase: string; corpus: string | null; after?: unknown } | null } | null;
};

describe('an exact mirror under edits (embedded broker, Drive emulator)', () => {
  let world: WorkerWorld;
  let ada: UserCredentials;
  let beaId: string;
  let adaEmail: string;
  let sharedOutOfDrive: string;
  let tokenStart: string;
  let beaEmail: string;

  beforeAll(async () => {
    world = await WorkerWorld.start(
      {
        files: 160,
        users: 3,
        sharedDrives: 2,
        sharedDriveMembers: 1,
        revisionDensity: 0.2,
        commentDensity: 0.2,
        replyDensity: 0.5,
        shareDensity: 0.2,
      },
      23,
    );
    const users = await world.emulator.admin.listUsers();
    const [first, second] = users;
    if (!first || !second) throw new Error('two users expected');
    adaEmail = first.email;
    beaEmail = second.email;
    ada = await world.emulator.admin.issueTokens(first.id);
    beaId = second.id;
    for (const name of ['walk', 'restart', 'folders', 'scope', 'token'])
      await world.emulator.admin.mapConnection(`conn_${name}`, first.id);
    // A connection an older worker left mid-walk, at a My Drive page token Drive no longer
    // accepts: its checkpoint is on the state topic before any worker starts.
    const asAda = world.driveAs(ada.accessToken);
    const start = await asAda.drive.changes.getStartPageToken({ supportsAllDrives: true }, asAda.auth);
    tokenStart = start.data.startPageToken as string;
    await asAda.drive.files.create(
      { requestBody: { name: 'edited after the start token', mimeType: 'text/plain' }, fields: 'id' },
      asAda.auth,
    );
    const now = new Date().toISOString();
    const leftMidWalk: ConnectionCheckpoint = {
      version: 1,
      connectionId: 'conn_token',
      customerId: 'cust_conn_token',
      cursor: null,
      options: { include: ['permissions', 'revisions', 'comments'], driveIds: null },
      activeSync: {
        syncId: 'sync-old',
        mode: 'full',
        startedAt: now,
        correlationId: null,
        startPageToken: tokenStart,
        resume: { phase: 'files', corpus: 'user', pageToken: 'expired-long-ago' },
        counts: {},
      },
      pending: null,
      backoff: null,
      channel: null,
      parked: null,
      lastSync: null,
      updatedAt: now,
    };
    await world.send('state', 'conn_token', leftMidWalk);
    // One worker for the live cases (joining a consumer group costs seconds); the restart
    // case stops it and starts another.
    await world.startWorker({ GDRIVE_PAGE_SIZE: '10' });
  });

  afterAll(async () => {
    await world?.stop();
  });

  const api = () => world.driveAs(ada.accessToken);

  /** Ada's own files of My Drive, oldest first: the first page of a walk in creation order. */
  async function oldestOwnFiles(count: number): Promise<string[]> {
    const { drive, auth } = api();
    const page = await drive.files.list(
      {
        corpora: 'user',
        q: `'me' in owners and mimeType != '${FOLDER_MIME}' and trashed = false`,
        orderBy: 'createdTime',
        pageSize: count,
        fields: 'files(id)',
      },
      auth,
    );
    return (page.data.files ?? []).map((f) => f.id as string);
  }

  async function createFolder(name: string, parent?: string): Promise<string> {
    const { drive, auth } = api();
    const made = await drive.files.create(
      {
        requestBody: { name, mimeType: FOLDER_MIME, ...(parent ? { parents: [parent] } : {}) },
        fields: 'id',
      },
      auth,
    );
    return made.data.id as string;
  }

  async function createFile(name: string, parent?: string): Promise<string> {
    const { drive, auth } = api();
    const made = await drive.files.create(
      {
        requestBody: { name, mimeType: 'text/plain', ...(parent ? { parents: [parent] } : {}) },
        fields: 'id',
      },
      auth,
    );
    return made.data.id as string;
  }

  async function moveTo(fileId: string, folderId: string): Promise<void> {
    const { drive, auth } = api();
    const parents = (await drive.files.get({ fileId, fields: 'parents' }, auth)).data.parents ?? [];
    await drive.files.update(
      { fileId, addParents: folderId, removeParents: parents.join(','), fields: 'id' },
      auth,
    );
  }

  const walkedFirstPage = (connectionId: string) => () =>
    world.reader
      .values<Checkpointed>(world.topics.state)
      .some(
        (c) =>
          c.connectionId === connectionId &&
          c.activeSync?.resume?.phase === 'files' &&
          c.activeSync.resume.corpus === 'user' &&
          c.activeSync.resume.after !== null &&
          c.activeSync.resume.after !== undefined,
      );

  /** Deletes, moves and creates placed before the walk's position: each would shift an offset walk. */
  async function editBeforeThePosition(tag: string): Promise<void> {
    const { drive, auth } = api();
    const oldest = await oldestOwnFiles(6);
    for (const id of oldest.slice(0, 3)) await drive.files.delete({ fileId: id }, auth);
    const elsewhere = await createFolder(`elsewhere-${tag}`);
    for (const id of oldest.slice(3, 5)) await moveTo(id, elsewhere);
    await createFile(`new-${tag}-1`);
    await createFile(`new-${tag}-2`);
  }

  it('a full sync whose listing shifts under it (deletes, moves, creates before its position) loses nothing', async () => {
    // A file given to Ada directly out of a shared drive she is no member of: what she sees.
    const beasDrive = await world.emulator.admin.createSharedDrive("Bea's drive", beaId);
    const beas = await world.emulator.admin.issueTokens(beaId);
    const asBea = world.driveAs(beas.accessToken);
    const made = await asBea.drive.files.create(
      {
        requestBody: { name: 'for Ada', mimeType: 'text/plain', parents: [beasDrive.id] },
        supportsAllDrives: true,
        fields: 'id',
      },
      asBea.auth,
    );
    sharedOutOfDrive = made.data.id as string;
    await asBea.drive.permissions.create(
      {
        fileId: sharedOutOfDrive,
        supportsAllDrives: true,
        requestBody: { type: 'user', role: 'reader', emailAddress: adaEmail },
        fields: 'id',
      },
      asBea.auth,
    );

    await world.emulator.admin.setLatency('drive.files.list', 120);
    await world.trigger('conn_walk', 'full_sync');
    await world.reader.waitFor('the first page of My Drive walked', walkedFirstPage('conn_walk'));
    expect(world.checkpointsDone('conn_walk')).toBe(0);
    await editBeforeThePosition('walk');
    await world.waitForSyncs('conn_walk', 1);
    await world.emulator.admin.setLatency('drive.files.list', 0);
    const truth = await visibleTo(world, ada.accessToken);
    expect(truth.files.some((f) => f.id === sharedOutOfDrive)).toBe(true);
    expectRecordsMatchDrive(world.records('conn_walk'), truth);
  });

  it('a folder shared, re-roled, link-shared, unshared, moved, trashed and restored: every item below follows', async () => {
    const top = await createFolder('Team folder');
    const nested = await createFolder('Nested', top);
    for (const n of [1, 2, 3]) await createFile(`top-${n}`, top);
    for (const n of [1, 2]) await createFile(`nested-${n}`, nested);
    await world.trigger('conn_folders', 'full_sync');
    await world.waitForSyncs('conn_folders', 1);
    expectRecordsMatchDrive(world.records('conn_folders'), await visibleTo(world, ada.accessToken));

    const { drive, auth } = api();
    let syncs = 1;
    const syncAndCheck = async (what: string) => {
      await world.trigger('conn_folders', 'incremental');
      await world.waitForSyncs('conn_folders', ++syncs);
      const truth = await visibleTo(world, ada.accessToken);
      try {
        expectRecordsMatchDrive(world.records('conn_folders'), truth);
      } catch (error) {
        throw new Error(`after ${what}: ${(error as Error).message}`);
      }
    };
    const shared = await drive.permissions.create(
      { fileId: top, requestBody: { type: 'user', role: 'writer', emailAddress: beaEmail }, fields: 'id' },
      auth,
    );
    await syncAndCheck('sharing the folder');
    await drive.permissions.update(
      { fileId: top, permissionId: shared.data.id as string, requestBody: { role: 'reader' }, fields: 'id' },
      auth,
    );
    await syncAndCheck('a role change');
    const link = await drive.permissions.create(
      { fileId: nested, requestBody: { type: 'anyone', role: 'reader' }, fields: 'id' },
      auth,
    );
    await syncAndCheck('link sharing the nested folder');
    await drive.permissions.delete({ fileId: nested, permissionId: link.data.id as string }, auth);
    await drive.permissions.delete({ fileId: top, permissionId: shared.data.id as string }, auth);
    await syncAndCheck('unsharing both');
    const sharedParent = await createFolder('Shared parent');
    await drive.permissions.create(
      {
        fileId: sharedParent,
        requestBody: { type: 'user', role: 'commenter', emailAddress: beaEmail },
        fields: 'id',
      },
      auth,
    );
    await moveTo(nested, sharedParent);
    await syncAndCheck('moving the nested folder under a shared one');
    await drive.files.update({ fileId: top, requestBody: { trashed: true }, fields: 'id' }, auth);
    await syncAndCheck('trashing the folder');
    await drive.files.update({ fileId: top, requestBody: { trashed: false }, fields: 'id' }, auth);
    await syncAndCheck('restoring it');
    expect(world.errors().filter((e) => e.integration_connection_id === 'conn_folders')).toEqual([]);
  });

  it('options persist, a widened scope is backfilled (only the new drive walked), a narrowed one deleted', async () => {
    const drives = (await visibleTo(world, ada.accessToken)).driveIds;
    const [one, two] = [...drives].sort();
    if (!one || !two) throw new Error('two shared drives expected');
    const records = () => world.records('conn_scope');
    await world.trigger('conn_scope', 'full_sync', { options: { drive_ids: [one] } });
    await world.waitForSyncs('conn_scope', 1);
    expectRecordsMatchDrive(records(), withinDrives(await visibleTo(world, ada.accessToken), [one]));

    // A bare poll keeps the saved drive_ids: nothing of My Drive or the other drive arrives.
    await createFile('my drive edit');
    await world.trigger('conn_scope', 'poll');
    await world.waitForSyncs('conn_scope', 2);
    expectRecordsMatchDrive(records(), withinDrives(await visibleTo(world, ada.accessToken), [one]));

    // Widened: the new drive alone is walked, from the connection's cursor.
    await world.emulator.admin.resetCounters();
    const before = records().length;
    await world.trigger('conn_scope', 'poll', { options: { drive_ids: [one, two] } });
    await world.waitForSyncs('conn_scope', 3);
    const backfill = records().slice(before);
    const itemDrives = new Set(
      backfill
        .filter((r) => r.resource_type === 'file' || r.resource_type === 'folder')
        .map((r) => r.data.drive_id as string | null),
    );
    expect([...itemDrives]).toEqual([two]);
    expect(backfill.find((r) => r.resource_type === 'sync_checkpoint')?.data.mode).toBe('full');
    expect((await world.emulator.admin.counters())['drive.changes.getStartPageToken'] ?? 0).toBe(0);
    expectRecordsMatchDrive(records(), withinDrives(await visibleTo(world, ada.accessToken), [one, two]));

    // Narrowed: the first drive's items get deletes.
    await world.trigger('conn_scope', 'poll', { options: { drive_ids: [two] } });
    await world.waitForSyncs('conn_scope', 4);
    expectRecordsMatchDrive(records(), withinDrives(await visibleTo(world, ada.accessToken), [two]));
  });

  it('a worker stopped mid-walk, edits before its position, a new worker resuming from the checkpoint: nothing lost; and a resume token Drive no longer accepts restarts that corpus only', async () => {
    await world.emulator.admin.setLatency('drive.files.list', 120);
    const [first] = world.workers;
    if (!first) throw new Error('the world has a worker');
    await world.trigger('conn_restart', 'full_sync');
    await world.reader.waitFor('the first page of My Drive walked', walkedFirstPage('conn_restart'));
    await first.stop();
    world.workers.splice(world.workers.indexOf(first), 1);
    expect(world.checkpointsDone('conn_restart')).toBe(0);
    await editBeforeThePosition('restart');

    await world.emulator.admin.resetCounters();

    await world.startWorker({ GDRIVE_PAGE_SIZE: '10' });
    await world.waitForSyncs('conn_restart', 1);
    await world.emulator.admin.setLatency('drive.files.list', 0);
    const truth = await visibleTo(world, ada.accessToken);
    expectRecordsMatchDrive(world.records('conn_restart'), truth);

    // The connection left mid-walk at a refused token (see beforeAll) finished the same sync
    // from the same start token: My Drive's walk restarted, no new start token, no error.
    await world.waitForSyncs('conn_token', 1);
    const tokenRecords = world.records('conn_token');
    const done = tokenRecords.find((r) => r.resource_type === 'sync_checkpoint');
    expect(done?.sync.sync_id).toBe('sync-old');
    expect(
      new Set(tokenRecords.filter((r) => r.resource_type !== 'sync_checkpoint').map((r) => r.sync.cursor)),
    ).toEqual(new Set([tokenStart]));
    expect(world.errors().filter((e) => e.integration_connection_id === 'conn_token')).toEqual([]);
    // Held to the truth once an incremental run brought it up to the edits made since; the
    // drives were listed by the older worker, before its walk.
    await world.trigger('conn_token', 'incremental');
    await world.waitForSyncs('conn_token', 2);
    expectRecordsMatchDrive(world.records('conn_token'), {
      ...(await visibleTo(world, ada.accessToken)),
      driveIds: [],
    });
  });
});
