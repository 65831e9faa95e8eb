import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { heldLines } from '../../src/cli/record-line.js';
import { ConsumerState } from '../../src/contract/consumer-state.js';
import type { OutboundRecord } from '../../src/contract/records.js';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { expectRecordsMatchDrive, FOLDER_MIME, visibleTo } from '../support/drive-truth.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * The contract's amended record rules, end to end (broker, Drive emulator, the real worker),
 * each run held to what the user's own client lists by a consumer applying the records as
 * the contract says: the shared `file` namespace, deletes that end their composite children,
 * message ids that follow the body, `drive_id` everywhere and a lost shared drive's cascade.
 */

const CONNECTION = 'conn_rules';
const CHILD_TYPES = ['permission', 'revision', 'comment', 'reply'];
const isItem = (r: OutboundRecord) => r.resource_type === 'file' || r.resource_type === 'folder';

describe('records per the amended contract (embedded broker, Drive emulator)', () => {
  let world: WorkerWorld;
  let ada: UserCredentials;
  let adaId: string;
  let fullSync: OutboundRecord[] = [];
  let leftDriveId: string | undefined;

  beforeAll(async () => {
    world = await WorkerWorld.start(
      {
        files: 120,
        users: 3,
        sharedDrives: 2,
        sharedDriveMembers: 3,
        workspaceFraction: 0.4,
        revisionDensity: 1,
        commentDensity: 0.6,
        replyDensity: 1,
        shareDensity: 0.3,
      },
      11,
    );
    await world.startS3();
    const [first] = await world.emulator.admin.listUsers();
    if (!first) throw new Error('no users');
    adaId = first.id;
    ada = await world.emulator.admin.issueTokens(first.id);
    await world.emulator.admin.mapConnection(CONNECTION, first.id);
    await world.startWorker();
  });

  afterAll(async () => {
    await world?.stop();
  });

  const since = (count: number) => world.records(CONNECTION).slice(count);
  const syncOnce = async (triggerType: string, extra: Record<string, unknown> = {}) => {
    const before = world.records(CONNECTION).length;
    const done = world.checkpointsDone(CONNECTION);
    await world.trigger(CONNECTION, triggerType, extra);
    await world.waitForSyncs(CONNECTION, done + 1);
    return since(before);
  };

  it('a full sync: drive_id on every file and folder, one key namespace, the start token as cursor from the first page', async () => {
    fullSync = await syncOnce('full_sync');
    expectRecordsMatchDrive(world.records(CONNECTION), await visibleTo(world, ada.accessToken));

    const items = fullSync.filter(isItem);
    expect(items.some((r) => r.resource_type === 'folder')).toBe(true);
    expect(items.some((r) => typeof r.data.drive_id === 'string')).toBe(true);
    for (const item of items) {
      expect(item.data).toHaveProperty('drive_id');
      expect(item.idempotency_key).toBe(`google-drive:${CONNECTION}:file:${item.resource_id}`);
    }
    const checkpoint = fullSync.find((r) => r.resource_type === 'sync_checkpoint');
    const resources = fullSync.filter((r) => r.resource_type !== 'sync_checkpoint');
    const startToken = resources[0]?.sync.cursor;
    expect(startToken).toMatch(/^\d+$/);
    expect(resources.every((r) => r.sync.cursor === startToken)).toBe(true);
    expect(checkpoint?.data.cursor).toMatch(/^\d+$/);
    // every body its own id
    expect(new Set(resources.map((r) => r.message_id)).size).toBe(resources.length);
  });

  it('the same Drive synced again keeps every message id; the same files with content get new ones, at the same version', async () => {
    const again = await syncOnce('full_sync', {
      options: { include: ['permissions', 'revisions', 'comments'] },
    });
    const idOf = (records: OutboundRecord[]) =>
      new Map(
        records
          .filter((r) => r.resource_type !== 'sync_checkpoint')
          .map((r) => [`${r.idempotency_key}:${r.operation}`, r.message_id]),
      );
    expect(idOf(again)).toEqual(idOf(fullSync));

    const withContent = await syncOnce('full_sync', {
      options: { include: ['permissions', 'revisions', 'comments', 'content'] },
    });
    const before = new Map(fullSync.filter(isItem).map((r) => [r.resource_id, r]));
    const gotContent = withContent.filter((r) => isItem(r) && (r.payload !== null || r.s3_url !== null));
    expect(gotContent.length).toBeGreaterThan(0);
    for (const record of gotContent) {
      const plain = before.get(record.resource_id);
      expect(record.data.version).toBe(plain?.data.version);
      expect(record.message_id).not.toBe(plain?.message_id);
    }
    // what did not change keeps its id: the children, the folders
    const children = withContent.filter((r) => CHILD_TYPES.includes(r.resource_type));
    const firstIds = idOf(fullSync);
    for (const child of children)
      expect(child.message_id).toBe(firstIds.get(`${child.idempotency_key}:${child.operation}`));
    expectRecordsMatchDrive(world.records(CONNECTION), await visibleTo(world, ada.accessToken));
  });

  it('a deleted folder is one delete in the file namespace, its children end without deletes of their own, a share is a new id', async () => {
    const { drive, auth } = world.driveAs(ada.accessToken);
    const folder = (
      await drive.files.create(
        { requestBody: { name: 'Doomed folder', mimeType: FOLDER_MIME }, fields: 'id' },
        auth,
      )
    ).data.id as string;
    const inside = (
      await drive.files.create(
        { requestBody: { name: 'Inside', mimeType: 'text/plain', parents: [folder] }, fields: 'id' },
        auth,
      )
    ).data.id as string;
    await drive.permissions.create(
      { fileId: folder, requestBody: { type: 'anyone', role: 'reader' }, fields: 'id' },
      auth,
    );
    await drive.comments.create({ fileId: inside, requestBody: { content: 'bye' }, fields: 'id' }, auth);
    const created = await syncOnce('incremental');
    expect(created.some((r) => r.resource_type === 'folder' && r.resource_id === folder)).toBe(true);
    expect(created.some((r) => r.resource_type === 'comment' && r.resource_id.startsWith(`${inside}:`))).toBe(
      true,
    );

    // A file shared afresh: new permission_ids, new message id.
    const shared = fullSync.find(
      (r) => r.resource_type === 'file' && r.data.owned_by_me === true && r.data.drive_id === null,
    );
    if (!shared) throw new Error('no file of her own in My Drive');
    const grant = await drive.permissions.create(
      { fileId: shared.resource_id, requestBody: { type: 'anyone', role: 'reader' }, fields: 'id' },
      auth,
    );
    await drive.files.delete({ fileId: folder }, auth);
    const fresh = await syncOnce('incremental');

    const deletes = fresh.filter((r) => r.operation === 'delete');
    const folderDeletes = deletes.filter((r) => r.resource_id === folder);
    expect(folderDeletes).toHaveLength(1);
    expect(folderDeletes[0]).toMatchObject({
      resource_type: 'file',
      idempotency_key: `google-drive:${CONNECTION}:file:${folder}`,
    });
    // the item inside is no longer visible: its own delete, typed file
    expect(deletes.filter((r) => r.resource_id === inside).map((r) => r.resource_type)).toEqual(['file']);
    expect(deletes.filter((r) => CHILD_TYPES.includes(r.resource_type))).toEqual([]);

    const reshared = fresh
      .filter((r) => r.resource_type === 'file' && r.resource_id === shared.resource_id)
      .at(-1);
    expect(reshared?.data.permission_ids).toContain(grant.data.id);
    expect(reshared?.message_id).not.toBe(shared.message_id);
    expectRecordsMatchDrive(world.records(CONNECTION), await visibleTo(world, ada.accessToken));
  });

  it('a shared drive the user leaves is one cascading drive delete, with no per-file deletes', async () => {
    const truth = await visibleTo(world, ada.accessToken);
    const driveId = truth.driveIds[0];
    if (!driveId) throw new Error('the user is in no shared drive');
    const heldInDrive = new Set(
      world
        .records(CONNECTION)
        .filter((r) => isItem(r) && r.data.drive_id === driveId)
        .map((r) => r.resource_id),
    );
    expect(heldInDrive.size).toBeGreaterThan(0);

    await world.emulator.admin.removeDriveMember(driveId, adaId);
    leftDriveId = driveId;
    const fresh = await syncOnce('incremental');

    const driveDeletes = fresh.filter((r) => r.resource_type === 'drive' && r.operation === 'delete');
    expect(driveDeletes.map((r) => [r.resource_id, r.data.cascade])).toEqual([[driveId, true]]);
    expect(fresh.filter((r) => r.operation === 'delete' && heldInDrive.has(r.resource_id))).toEqual([]);
    const after = await visibleTo(world, ada.accessToken);
    expect(after.driveIds).not.toContain(driveId);
    expectRecordsMatchDrive(world.records(CONNECTION), after);
  });

  it('a shared drive the user joins (again) has its items walked: the consumer holds them all', async () => {
    const driveId = leftDriveId;
    if (!driveId) throw new Error('the previous test left no shared drive');
    await world.emulator.admin.setDriveMember(driveId, adaId, 'writer');
    const fresh = await syncOnce('incremental');

    const after = await visibleTo(world, ada.accessToken);
    const inDrive = after.files.filter((f) => f.driveId === driveId && !f.trashed).map((f) => f.id);
    expect(inDrive.length).toBeGreaterThan(0);
    const upserted = new Set(
      fresh.filter((r) => isItem(r) && r.operation === 'upsert').map((r) => r.resource_id),
    );
    expect(inDrive.filter((id) => !upserted.has(id))).toEqual([]);
    expectRecordsMatchDrive(world.records(CONNECTION), after);
  });

  it('the records CLI with --state, reading the topic, holds what the oracle holds', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/records.ts',
        '--topic',
        world.topics.records,
        '--bootstrap',
        inject('kafkaBootstrap').join(','),
        '--connection',
        CONNECTION,
        '--from-beginning',
        '--exit',
        '--state',
      ],
      { env: { PATH: process.env.PATH ?? '' }, timeout: 90_000 },
    );
    const expected = heldLines(new ConsumerState().applyAll(world.records(CONNECTION)));
    expect(expected).toHaveLength(1);
    expect(stdout.trim().split('\n')).toEqual(expected);
  });
});
