import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundRecord } from '../../src/contract/records.js';
import { subscribe } from '../../src/instrumentation.js';
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
    await world.trigger('conn_ref', 'full_sync');
    await world.waitForSyncs('conn_ref', 1);
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
    try {
      await world.trigger('conn_quota', 'full_sync');
      await world.waitForSyncs('conn_quota', 1, 150_000);
    } finally {
      unsubscribe();
      await world.emulator.admin.setQuota({ perUserPerMinute: 12_000 });
    }
    expect(rateLimited.length).toBeGreaterThan(0);
    expect(contentOf(world.records('conn_quota'))).toEqual(reference);
    expect(
      world
        .errors()
        .filter((e) => e.integration_connection_id === 'conn_quota')
        .map((e) => `${e.error.classification} ${e.error.code}: ${e.error.message}`),
    ).toEqual([]);
  }, 180_000);

  it('with every call answering 503 for a while: the sync waits it out and is exact', async () => {
    await world.emulator.admin.setFaultProbabilities('*', { 503: 1 });
    await world.trigger('conn_503', 'full_sync');
    await world.reader.waitFor('a backoff checkpoint', () =>
      world.reader
        .values<{ connectionId: string; backoff: { attempt: number } | null }>(world.topics.state)
        .some((c) => c?.connectionId === 'conn_503' && (c.backoff?.attempt ?? 0) >= 2),
    );
    await world.emulator.admin.clearFaults();
    await world.waitForSyncs('conn_503', 1);
    expect(contentOf(world.records('conn_503'))).toEqual(reference);
    expect(world.errors().filter((e) => e.integration_connection_id === 'conn_503')).toEqual([]);
  });

  it('an edit made while the full sync walks is not lost', async () => {
    await world.emulator.admin.setLatency('drive.files.list', 300);
    await world.trigger('conn_edit', 'full_sync');
    await world.reader.waitFor('the first file records of the walk', () =>
      world.records('conn_edit').some((r) => r.resource_type === 'file'),
    );
    const { drive, auth } = world.driveAs(accessToken);
    const created = await drive.files.create({ requestBody: { name: 'made mid-walk.txt' } }, auth);
    const firstListed = world.records('conn_edit').find((r) => r.resource_type === 'file');
    if (!firstListed) throw new Error('no file record yet');
    await drive.files.update(
      { fileId: firstListed.resource_id, requestBody: { name: 'renamed mid-walk' } },
      auth,
    );
    await world.emulator.admin.setLatency('drive.files.list', 0);
    await world.waitForSyncs('conn_edit', 1);

    const records = world.records('conn_edit');
    expect(records.some((r) => r.resource_id === created.data.id && r.operation === 'upsert')).toBe(true);
    const lastOfRenamed = records.filter((r) => r.resource_id === firstListed.resource_id).at(-1);
    expect(lastOfRenamed?.data.name).toBe('renamed mid-walk');
  });
});
