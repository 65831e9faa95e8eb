import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { expectRecordsMatchDrive, FOLDER_MIME, visibleTo } from '../support/drive-truth.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Per-item isolation through the broker and the emulator: one file whose `revisions.list`
 * answers 500 for good costs one error record against it, and the sync completes, the
 * cursor moves and everything else is exact; a rate-limited extra is read again alone,
 * its page not listed again (the emulator counts calls per file and per method).
 */
describe('one bad item does not hold a connection back', () => {
  let world: WorkerWorld;
  let accessToken: string;

  beforeAll(async () => {
    world = await WorkerWorld.start(
      { files: 80, users: 1, sharedDrives: 0, revisionDensity: 1, commentDensity: 1 },
      61,
    );
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection('conn_bad_item', user.id);
    await world.emulator.admin.mapConnection('conn_rate_limited', user.id);
    accessToken = (await world.emulator.admin.issueTokens(user.id)).accessToken;
    await world.startWorker({
      GDRIVE_QUOTA_USER_PER_MINUTE: '600000',
      GDRIVE_QUOTA_PROJECT_PER_MINUTE: '600000',
    });
  });

  afterAll(async () => {
    await world?.stop();
  });

  /** Files of My Drive with at least one comment (so one of each extra is read for them). */
  const plainFiles = async (): Promise<string[]> => {
    const truth = await visibleTo(world, accessToken);
    const { drive, auth } = world.driveAs(accessToken);
    const ids: string[] = [];
    for (const f of truth.files) {
      if (f.trashed || f.mimeType === FOLDER_MIME || f.driveId !== null) continue;
      const comments = await drive.comments.list({ fileId: f.id, fields: 'comments(id)' }, auth);
      if ((comments.data.comments ?? []).length > 0) ids.push(f.id);
      if (ids.length === 2) break;
    }
    return ids;
  };
  let targets: string[] = [];
  let listedPerSync = 0;

  it('a file whose revisions answer 500 forever: one error record for it, the sync completes, the cursor moves, the rest exact', async () => {
    targets = await plainFiles();
    const [bad] = targets;
    if (!bad) throw new Error('no file with comments in My Drive');
    await world.emulator.admin.resetCounters();
    await world.emulator.admin.scriptFault('drive.revisions.list', 500, 1_000_000, bad);
    await world.trigger('conn_bad_item', 'full_sync');
    await world.waitForSyncs('conn_bad_item', 1);

    const errors = world.errors().filter((e) => e.integration_connection_id === 'conn_bad_item');
    expect(errors.map((e) => [e.resource, e.error.classification, e.error.http_status, e.attempt])).toEqual([
      [{ type: 'revision', id: bad }, 'transient', 500, 4],
    ]);
    // Four reads of the item's revisions in all (the batch part, then three alone), nothing more.
    expect((await world.emulator.admin.fileCounters(bad))['drive.revisions.list']).toBe(4);
    listedPerSync = (await world.emulator.admin.counters())['drive.files.list'] ?? 0;

    const records = world.records('conn_bad_item');
    const fileRecord = records.find((r) => r.resource_type === 'file' && r.resource_id === bad);
    expect(fileRecord?.operation).toBe('upsert');
    expect(Array.isArray(fileRecord?.data.permission_ids)).toBe(true);
    expect(
      records.filter((r) => r.resource_type === 'revision' && r.resource_id.startsWith(`${bad}:`)),
    ).toEqual([]);
    expect(
      records.filter((r) => r.resource_type === 'comment' && r.resource_id.startsWith(`${bad}:`)).length,
    ).toBeGreaterThan(0);
    expectRecordsMatchDrive(records, await visibleTo(world, accessToken));

    // The cursor moved: the sync is done and its cursor in the checkpoint.
    const state = world.reader
      .values<ConnectionCheckpoint>(world.topics.state)
      .filter((c) => c?.connectionId === 'conn_bad_item')
      .at(-1);
    expect(state?.activeSync).toBeNull();
    expect(state?.cursor).toEqual(records.find((r) => r.resource_type === 'sync_checkpoint')?.data.cursor);
    expect(state?.cursor).toBeTruthy();
    await world.emulator.admin.clearFaults();
  }, 120_000);

  it('a rate-limited extra is read again alone after a backoff: no page listed again, no error, exact', async () => {
    const rateLimited = targets[1];
    if (!rateLimited) throw new Error('a second file with comments is needed');
    await world.emulator.admin.resetCounters();
    await world.emulator.admin.scriptFault('drive.comments.list', 429, 2, rateLimited);
    await world.trigger('conn_rate_limited', 'full_sync');
    await world.waitForSyncs('conn_rate_limited', 1);

    expect(world.errors().filter((e) => e.integration_connection_id === 'conn_rate_limited')).toEqual([]);
    const counters = await world.emulator.admin.counters();
    // The refused item read three times; every other item once; the walk listed as many pages as before.
    expect((await world.emulator.admin.fileCounters(rateLimited))['drive.comments.list']).toBe(3);
    expect((await world.emulator.admin.fileCounters(targets[0] as string))['drive.comments.list']).toBe(1);
    expect(counters['drive.files.list']).toBe(listedPerSync);
    const records = world.records('conn_rate_limited');
    const { drive, auth } = world.driveAs(accessToken);
    const comments = await drive.comments.list({ fileId: rateLimited, fields: 'comments(id)' }, auth);
    expect(
      records.filter((r) => r.resource_type === 'comment' && r.resource_id.startsWith(`${rateLimited}:`)),
    ).toHaveLength((comments.data.comments ?? []).length);
    expectRecordsMatchDrive(records, await visibleTo(world, accessToken));
  }, 120_000);
});
