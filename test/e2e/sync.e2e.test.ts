import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorRecordSchema } from '../../src/contract/records.js';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { expectRecordsMatchDrive, FOLDER_MIME, visibleTo } from '../support/drive-truth.js';
import { WorkerWorld } from '../support/worker-world.js';

describe('a connection synced end to end (embedded broker, Drive emulator)', () => {
  let world: WorkerWorld;
  let ada: UserCredentials;

  beforeAll(async () => {
    world = await WorkerWorld.start({
      files: 240,
      users: 3,
      sharedDrives: 2,
      sharedDriveMembers: 2,
      revisionDensity: 1,
      commentDensity: 0.6,
      replyDensity: 1,
      shareDensity: 0.2,
    });
    const users = await world.emulator.admin.listUsers();
    const first = users[0];
    if (!first) throw new Error('no users');
    ada = await world.emulator.admin.issueTokens(first.id);
    await world.emulator.admin.mapConnection('conn_ada', first.id);
    await world.startWorker();
  });

  afterAll(async () => {
    await world?.stop();
  });

  it('a full sync yields every file, folder, drive, permission, revision, comment and reply, exactly', async () => {
    await world.trigger('conn_ada', 'full_sync');
    await world.waitForSyncs('conn_ada', 1);
    const records = world.records('conn_ada');
    const expected = await visibleTo(world, ada.accessToken);
    expectRecordsMatchDrive(records, expected);

    const upserted = (type: string) =>
      records.filter((r) => r.resource_type === type && r.operation === 'upsert');
    // the corpus covers My Drive, both shared drives and shared-with-me items, over several pages of 25
    expect(upserted('file').some((r) => r.data.drive_id !== null)).toBe(true);
    expect(upserted('file').some((r) => r.data.owned_by_me === false && r.data.drive_id === null)).toBe(true);
    expect(expected.files.filter((f) => !f.trashed).length).toBeGreaterThan(75);
    expect(upserted('permission').every((p) => p.resource_id.split(':').length === 2)).toBe(true);
    expect(upserted('revision').length).toBeGreaterThan(0);
    expect(upserted('comment').length).toBeGreaterThan(0);
    expect(upserted('reply').length).toBeGreaterThan(0);
    for (const reply of upserted('reply')) expect(reply.resource_id.split(':')).toHaveLength(3);

    // no id collides: one upsert per (type, resource id) in a full sync
    const keys = records.filter((r) => r.operation === 'upsert').map((r) => r.idempotency_key);
    expect(new Set(keys).size).toBe(keys.length);
    // files and folders share the `file` namespace
    expect(
      records.every(
        (r) =>
          r.idempotency_key ===
          `google-drive:conn_ada:${r.resource_type === 'folder' ? 'file' : r.resource_type}:${r.resource_id}`,
      ),
    ).toBe(true);

    // nothing the user can see failed to read
    expect(world.errors().filter((e) => e.integration_connection_id === 'conn_ada')).toEqual([]);
    const checkpoint = records.find((r) => r.resource_type === 'sync_checkpoint');
    expect(checkpoint?.sync.mode).toBe('full');
    expect(checkpoint?.data.cursor).toMatch(/^\d+$/);
    // every record is keyed by the connection and carries the contract's headers
    const landed = world.reader.all(world.topics.records).filter((m) => m.key === 'conn_ada');
    expect(landed).toHaveLength(records.length);
    for (const m of landed) {
      expect(m.headers['content-type']).toBe('application/json');
      expect(m.headers['idempotency-key']).toMatch(/^google-drive:conn_ada:/);
      expect(m.headers['resource-type']).toBeTruthy();
      expect(m.headers['correlation-id']).toMatch(/^msg-/);
    }
  });

  it('an incremental sync yields exactly the edits made since', async () => {
    const { drive, auth } = world.driveAs(ada.accessToken);
    const before = world.records('conn_ada').length;
    const syncsBefore = world.checkpointsDone('conn_ada');

    const folder = await drive.files.create(
      { requestBody: { name: 'Moved here', mimeType: FOLDER_MIME }, fields: 'id' },
      auth,
    );
    const doc = await drive.files.create(
      { requestBody: { name: 'Plan', mimeType: 'application/vnd.google-apps.document' }, fields: 'id' },
      auth,
    );
    const docId = doc.data.id as string;
    await drive.files.update({ fileId: docId, requestBody: { name: 'Plan v2' }, fields: 'id' }, auth);
    const parents = (await drive.files.get({ fileId: docId, fields: 'parents' }, auth)).data.parents ?? [];
    await drive.files.update(
      { fileId: docId, addParents: folder.data.id as string, removeParents: parents.join(','), fields: 'id' },
      auth,
    );
    const comment = await drive.comments.create(
      { fileId: docId, requestBody: { content: 'first!' }, fields: 'id' },
      auth,
    );
    await drive.replies.create(
      {
        fileId: docId,
        commentId: comment.data.id as string,
        requestBody: { content: 'second' },
        fields: 'id',
      },
      auth,
    );
    const share = await drive.permissions.create(
      { fileId: docId, requestBody: { type: 'anyone', role: 'reader' }, fields: 'id' },
      auth,
    );
    const doomed = await drive.files.create(
      { requestBody: { name: 'Doomed', mimeType: 'text/plain' }, fields: 'id' },
      auth,
    );
    await drive.files.delete({ fileId: doomed.data.id as string }, auth);
    const trashed = await drive.files.create(
      { requestBody: { name: 'Trash me', mimeType: 'text/plain' }, fields: 'id' },
      auth,
    );
    await drive.files.update(
      { fileId: trashed.data.id as string, requestBody: { trashed: true }, fields: 'id' },
      auth,
    );

    await world.trigger('conn_ada', 'incremental');
    await world.waitForSyncs('conn_ada', syncsBefore + 1);
    const fresh = world.records('conn_ada').slice(before);
    expect(fresh.every((r) => r.sync.mode === 'incremental')).toBe(true);

    const latest = (type: string, id: string) =>
      fresh.filter((r) => r.resource_type === type && r.resource_id === id).at(-1);
    const plan = latest('file', docId);
    expect(plan?.operation).toBe('upsert');
    expect(plan?.data.name).toBe('Plan v2');
    expect(plan?.data.parents).toEqual([folder.data.id]);
    expect(plan?.data.permission_ids).toContain(share.data.id);
    expect(latest('folder', folder.data.id as string)?.operation).toBe('upsert');
    expect(latest('comment', `${docId}:${comment.data.id}`)?.data.content).toBe('first!');
    expect(
      fresh.some(
        (r) => r.resource_type === 'reply' && r.resource_id.startsWith(`${docId}:${comment.data.id}:`),
      ),
    ).toBe(true);
    expect(latest('permission', `${docId}:${share.data.id}`)?.data.type).toBe('anyone');
    // Created and deleted between two reads of the change log: Google may show one removal or
    // nothing at all. Either way nothing of it is live downstream.
    const doomedLatest = latest('file', doomed.data.id as string);
    expect(doomedLatest === undefined || doomedLatest.operation === 'delete').toBe(true);
    expect(latest('file', trashed.data.id as string)?.operation).toBe('delete');
    // nothing else changed, so nothing else was sent
    const touched = new Set([docId, folder.data.id, doomed.data.id, trashed.data.id]);
    expect(
      fresh
        .filter((r) => r.resource_type !== 'sync_checkpoint')
        .every((r) => touched.has(r.resource_id.split(':')[0])),
    ).toBe(true);
  });

  it('malformed and foreign messages on both inbound topics become errors or are skipped, and the worker goes on', async () => {
    const errorsBefore = world.errors().length;
    const syncsBefore = world.checkpointsDone('conn_ada');
    await world.send('trigger', 'conn_ada', '{not json');
    await world.send('webhook', 'conn_ada', { message_id: 'x', integration_id: 'google-drive', headers: {} });
    await world.send('trigger', 'conn_other', { message_id: 'y', integration_id: 'slack', anything: true });
    await world.send('trigger', 'conn_ada', {
      message_id: 'z',
      customer_id: 'c',
      integration_id: 'google-drive',
      integration_connection_id: 'conn_ada',
      trigger_type: 'explode',
    });
    await world.trigger('conn_ada', 'poll');
    await world.waitForSyncs('conn_ada', syncsBefore + 1);
    await world.reader.waitFor('3 invalid_input errors', () => world.errors().length >= errorsBefore + 3);
    const fresh = world.errors().slice(errorsBefore);
    expect(fresh).toHaveLength(3);
    for (const e of fresh) {
      expect(errorRecordSchema.safeParse(e).success).toBe(true);
      expect(e.error.classification).toBe('invalid_input');
      expect(e.source?.topic).toMatch(/^(trigger|webhook)-/);
    }
    expect(fresh.map((e) => e.source?.message_id ?? null).sort()).toEqual([null, 'x', 'z'].sort());
  });

  it('a revoked authorization gives one auth error, parks the connection and stops there', async () => {
    const users = await world.emulator.admin.listUsers();
    const bea = users[1];
    if (!bea) throw new Error('no second user');
    await world.emulator.admin.issueTokens(bea.id);
    await world.emulator.admin.mapConnection('conn_bea', bea.id);
    await world.emulator.admin.revokeUser(bea.id);
    await world.emulator.admin.resetCounters();
    await world.trigger('conn_bea', 'full_sync');
    await world.reader.waitFor('an auth error for conn_bea', () =>
      world.errors().some((e) => e.integration_connection_id === 'conn_bea'),
    );
    for (let i = 0; i < 5; i++) await world.trigger('conn_bea', 'poll');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const errors = world.errors().filter((e) => e.integration_connection_id === 'conn_bea');
    expect(errors.map((e) => [e.error.classification, e.error.code])).toEqual(
      Array.from({ length: errors.length }, () => ['auth', 'reauth_required']),
    );
    // one answer per trigger at most: no retry storm against the control plane or Drive
    const counters = await world.emulator.admin.counters();
    expect(counters['controlPlane.accessToken'] ?? 0).toBeLessThanOrEqual(6);
    expect(counters['drive.files.list'] ?? 0).toBe(0);
    expect(world.workers[0]?.supervisor.get('conn_bea')?.state).toBe('parked');
  });
});
