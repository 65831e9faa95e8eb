import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundRecord } from '../../src/contract/records.js';
import { subscribe } from '../../src/instrumentation.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * A full sync under Drive's bad days completes exactly: several connections of the same
 * Google user sync the same Drive, one in calm conditions (the reference), the others with
 * the emulator's quota set low, with 503s for a while, and with edits made mid-walk.
 */
describe('full sync under quota pressure, outages and concurrent edits', () => {
  let world: WorkerWorld;
  let accessToken: string;
  let reference: Set<string>;
  /** Drive calls the calm reference sync made (the emulator counts every call, refused ones too). */
  let referenceCalls: number;

  const driveCalls = async () =>
    Object.entries(await world.emulator.admin.counters())
      .filter(([method]) => method.startsWith('drive.') && method !== 'drive.about.get')
      .reduce((sum, [, count]) => sum + count, 0);

  /** What a sync says of the Drive, independent of the connection and the sync. */
  const contentOf = (records: readonly OutboundRecord[]) =>
    new Set(
      records
        .filter((r) => r.resource_type !== 'sync_checkpoint')
        .map((r) => `${r.resource_type} ${r.operation} ${r.resource_id}`),
    );

  beforeAll(async () => {
    world = await WorkerWorld.start(
      { files: 30, users: 1, sharedDrives: 1, revisionDensity: 0.3, commentDensity: 0.2 },
      41,
    );
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    for (const id of ['conn_ref', 'conn_quota', 'conn_503', 'conn_edit'])
      await world.emulator.admin.mapConnection(id, user.id);
    accessToken = (await world.emulator.admin.issueTokens(user.id)).accessToken;
    // The governor at 10 calls a second: twice what the emulator grants in the quota test.
    await world.startWorker({ GDRIVE_QUOTA_USER_PER_MINUTE: '600' });
    await world.emulator.admin.resetCounters();
    await world.trigger('conn_ref', 'full_sync');
    await world.waitForSyncs('conn_ref', 1);
    referenceCalls = await driveCalls();
    reference = contentOf(world.records('conn_ref'));
  });

  afterAll(async () => {
    await world?.stop();
  });

  it('with Drive granting half of what the governor is sized for: rate limits answered, the governor adapts, the sync is exact', async () => {
    const rateLimited: string[] = [];
    const unsubscribe = subscribe('drive.rate_limited', ({ method }) => rateLimited.push(method));
    // 5 calls a second, and the user's bucket emptied first (it starts with a minute's worth).
    await world.emulator.admin.setQuota({ perUserPerMinute: 300 });
    const { drive, auth } = world.driveAs(accessToken);
    for (let i = 0; i < 400; i++) {
      const answer = await drive.about.get({ fields: 'user(emailAddress)' }, auth).catch((e: unknown) => e);
      if (answer instanceof Error) break;
    }
    await world.emulator.admin.resetCounters();
    try {
      await world.trigger('conn_quota', 'full_sync');
      await world.waitForSyncs('conn_quota', 1, 150_000);
    } finally {
      unsubscribe();
      await world.emulator.admin.setQuota({ perUserPerMinute: 12_000 });
    }
    // Refusals really happened on Drive's side: the same walk cost more calls than in calm.
    expect(await driveCalls()).toBeGreaterThan(referenceCalls);
    expect(rateLimited.length).toBeGreaterThan(0);
    expect(contentOf(world.records('conn_quota'))).toEqual(reference);
    expectRecordsMatchDrive(world.records('conn_quota'), await visibleTo(world, accessToken));
    // No give-up: not one error record, rate_limited or other.
    expect(
      world
        .errors()
        .filter((e) => e.integration_connection_id === 'conn_quota')
        .map((e) => `${e.error.classification} ${e.error.code}: ${e.error.message}`),
    ).toEqual([]);
  }, 180_000);

  it('with every call answering 503 for a while: the sync waits it out and is exact', async () => {
    const backoffs: string[] = [];
    const unsubscribe = subscribe('sync.backoff', ({ classification }) => backoffs.push(classification));
    await world.emulator.admin.setFaultProbabilities('*', { 503: 1 });
    await world.trigger('conn_503', 'full_sync');
    await world.reader.waitFor('a backoff checkpoint', () =>
      world.reader
        .values<{ connectionId: string; backoff: { attempt: number } | null }>(world.topics.state)
        .some((c) => c?.connectionId === 'conn_503' && (c.backoff?.attempt ?? 0) >= 2),
    );
    await world.emulator.admin.clearFaults();
    await world.waitForSyncs('conn_503', 1);
    unsubscribe();
    // Each wait is announced (the backoff metric counts these), classified as Drive's 503 is.
    expect(backoffs.length).toBeGreaterThanOrEqual(2);
    expect(new Set(backoffs)).toEqual(new Set(['transient']));
    expect(contentOf(world.records('conn_503'))).toEqual(reference);
    expectRecordsMatchDrive(world.records('conn_503'), await visibleTo(world, accessToken));
    expect(world.errors().filter((e) => e.integration_connection_id === 'conn_503')).toEqual([]);
  });

  it('an edit made while the full sync walks is not lost', async () => {
    await world.emulator.admin.setLatency('drive.files.list', 300);
    await world.trigger('conn_edit', 'full_sync');
    // Edits to items the walk already listed: only the catch-up from the start token sees them.
    const listed = () =>
      world.records('conn_edit').filter((r) => r.resource_type === 'file' && r.data.owned_by_me === true);
    await world.reader.waitFor('three owned files listed by the walk', () => listed().length >= 3);
    const [renamed, trashed, shared] = listed();
    if (!renamed || !trashed || !shared) throw new Error('fewer than 3 owned files in the first page');
    const { drive, auth } = world.driveAs(accessToken);
    const created = await drive.files.create({ requestBody: { name: 'made mid-walk.txt' } }, auth);
    await drive.files.update(
      { fileId: renamed.resource_id, requestBody: { name: 'renamed mid-walk' } },
      auth,
    );
    await drive.files.update({ fileId: trashed.resource_id, requestBody: { trashed: true } }, auth);
    const permission = await drive.permissions.create(
      { fileId: shared.resource_id, requestBody: { type: 'anyone', role: 'reader' } },
      auth,
    );
    await world.emulator.admin.setLatency('drive.files.list', 0);
    await world.waitForSyncs('conn_edit', 1);

    const records = world.records('conn_edit');
    expect(records.some((r) => r.resource_id === created.data.id && r.operation === 'upsert')).toBe(true);
    const last = (id: string) => records.filter((r) => r.resource_id === id).at(-1);
    expect(last(renamed.resource_id)?.data.name).toBe('renamed mid-walk');
    expect(last(trashed.resource_id)?.operation).toBe('delete');
    expect(last(shared.resource_id)?.data.permission_ids).toContain(permission.data.id);
    // The records, applied in order, hold the Drive as it is after the edits.
    expectRecordsMatchDrive(records, await visibleTo(world, accessToken));
  });
});
