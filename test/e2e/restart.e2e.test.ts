import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerWorld } from '../support/worker-world.js';

describe('checkpoints across restarts and rebalances', () => {
  let world: WorkerWorld;

  beforeAll(async () => {
    world = await WorkerWorld.start(
      { files: 300, users: 2, sharedDrives: 1, revisionDensity: 0.2, commentDensity: 0.1 },
      11,
    );
    const users = await world.emulator.admin.listUsers();
    for (const [i, user] of users.entries()) await world.emulator.admin.mapConnection(`conn_${i}`, user.id);
  });

  afterAll(async () => {
    await world?.stop();
  });

  it('a worker stopped mid full sync resumes from its checkpoint: listed pages are not listed again', async () => {
    // Slow listing so the stop lands mid-walk.
    await world.emulator.admin.setLatency('drive.files.list', 150);
    const first = await world.startWorker({ GDRIVE_PAGE_SIZE: '20' });
    await world.emulator.admin.resetCounters();
    await world.trigger('conn_0', 'full_sync');
    await world.reader.waitFor('a few pages of checkpoints', () =>
      world.reader
        .values<{
          connectionId: string;
          activeSync: {
            resume: { phase: string; pageToken: string | null; after?: unknown } | null;
          } | null;
        }>(world.topics.state)
        .some(
          (c) =>
            c.connectionId === 'conn_0' &&
            c.activeSync?.resume?.phase === 'files' &&
            // A position within a corpus: a keyset bound, or a page token followed.
            (c.activeSync.resume.pageToken !== null || Boolean(c.activeSync.resume.after)),
        ),
    );
    await first.stop();
    world.workers.splice(world.workers.indexOf(first), 1);
    const listedBeforeStop = (await world.emulator.admin.counters())['drive.files.list'] ?? 0;
    expect(world.checkpointsDone('conn_0')).toBe(0);

    await world.emulator.admin.setLatency('drive.files.list', 0);
    await world.startWorker({ GDRIVE_PAGE_SIZE: '20' });
    await world.waitForSyncs('conn_0', 1);
    const counters = await world.emulator.admin.counters();

    // A second worker from scratch lists every page once: compare against that.
    await world.emulator.admin.resetCounters();
    await world.trigger('conn_1', 'full_sync');
    await world.waitForSyncs('conn_1', 1);
    const records0 = world.records('conn_0');
    const fileIds = new Set(
      records0
        .filter((r) => r.resource_type === 'file' || r.resource_type === 'folder')
        .map((r) => r.resource_id),
    );
    const totalListCalls = counters['drive.files.list'] ?? 0;
    // Resumed: at most the page in flight at the stop was listed twice. The user corpus lists
    // the shared drives' items too (those given directly; the emulator gives all of a member's),
    // skipped there, and each keyset page re-reads its bound's second (one item here): 19 new
    // items a page of 20.
    const inDrives = new Set(
      records0
        .filter((r) => (r.resource_type === 'file' || r.resource_type === 'folder') && r.data.drive_id)
        .map((r) => r.resource_id),
    );
    const pagesNeeded = Math.ceil((fileIds.size + inDrives.size) / 19) + 2;
    expect(listedBeforeStop).toBeGreaterThan(0);
    expect(totalListCalls).toBeLessThanOrEqual(pagesNeeded + 2);
    expect(records0.filter((r) => r.resource_type === 'sync_checkpoint')).toHaveLength(1);
  });
});
