import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { type SpawnedWorker, spawnWorker } from '../support/spawned-worker.js';
import { Storm, seededRandom } from '../support/storm.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * A kill -9 crash loop: a 5,000-item full sync with edits of every kind running meanwhile;
 * the worker process is killed at a seeded moment 1–8 s after each restart is ready, ten
 * times, and restarted each time. Between kills the walk advances (its checkpointed
 * position inside pages moves on, SYNC_CHUNK_ITEMS at a time); after the last restart the
 * sync completes, and an incremental run makes the connection exact. Duplicates per crash
 * (file and folder records sent again with the same message id) are printed and bounded.
 */
const CONNECTION = 'conn_crash_loop';
const KILLS = 10;
const CHUNK_ITEMS = 100;
const SEED = 1313;

describe('kill -9 crash loop during a 5,000-item full sync with concurrent edits', () => {
  let world: WorkerWorld;
  let worker: SpawnedWorker | undefined;

  beforeAll(async () => {
    world = await WorkerWorld.start(
      {
        files: 5_000,
        users: 2,
        sharedDrives: 1,
        sharedDriveMembers: 2,
        revisionDensity: 0.2,
        commentDensity: 0.2,
        replyDensity: 0.3,
        shareDensity: 0.2,
      },
      SEED,
    );
  }, 120_000);

  afterAll(async () => {
    worker?.child.kill('SIGKILL');
    await world?.stop();
  });

  const env = () =>
    world.env({
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      GDRIVE_PAGE_SIZE: '1000',
      SYNC_CHUNK_ITEMS: String(CHUNK_ITEMS),
      // The default quota (12,000 calls a minute): the walk of 5,000 items with their extras
      // takes about a minute of calls, so it spans the kills, as a big Drive's would.
      // A killed member leaves the group at its session timeout: short, so restarts are ready soon.
      KAFKA_CONSUMER_SESSION_TIMEOUT_MS: '3000',
      KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: '500',
      KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS: '6000',
    });
  const ready = async (url: string) =>
    until(
      async () => (await fetch(`${url}/health/ready`).catch(() => null))?.status === 200,
      'ready',
      60_000,
    );
  const lastCheckpoint = (): ConnectionCheckpoint | null => {
    const values = world.reader
      .all(world.topics.state)
      .filter((m) => m.key === CONNECTION && m.value !== null)
      .map((m) => JSON.parse(m.value as string) as ConnectionCheckpoint);
    return values.at(-1) ?? null;
  };
  const progressOf = (c: ConnectionCheckpoint | null): number =>
    c?.activeSync
      ? Object.values(c.activeSync.counts).reduce((a, b) => a + b, 0)
      : c?.lastSync
        ? Number.POSITIVE_INFINITY
        : 0;

  it('the walk advances between kills, and after a final incremental run the connection is exact', async () => {
    const [first, second] = await world.emulator.admin.listUsers();
    if (!first || !second) throw new Error('two users expected');
    const ada = await world.emulator.admin.issueTokens(first.id);
    const bea = await world.emulator.admin.issueTokens(second.id);
    await world.emulator.admin.mapConnection(CONNECTION, first.id);
    const storm = new Storm(
      SEED,
      world.driveAs(ada.accessToken),
      world.driveAs(bea.accessToken),
      first.email,
      second.email,
      (await visibleTo(world, ada.accessToken)).driveIds,
    );
    let editing = true;
    const edits = (async () => {
      while (editing) {
        // A failed edit (the emulator closed at a failed test's end) ends the storm, not the run.
        await storm.editOnce().catch(() => {
          editing = false;
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    const random = seededRandom(SEED);
    const restartMs: number[] = [];
    const started = Date.now();
    const boundaries: number[] = [];
    const progress: number[] = [];
    worker = spawnWorker(env());
    await ready(await worker.started());
    await world.trigger(CONNECTION, 'full_sync');
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000 + Math.floor(random() * 7_000)));
      worker.child.kill('SIGKILL');
      await worker.exited;
      // What the killed worker got acknowledged is on the topics: read to their end.
      await new Promise((resolve) => setTimeout(resolve, 500));
      progress.push(progressOf(lastCheckpoint()));
      boundaries.push(world.records(CONNECTION).length);
      const restarted = Date.now();
      worker = spawnWorker(env());
      await ready(await worker.started());
      restartMs.push(Date.now() - restarted);
    }
    await world.waitForSyncs(CONNECTION, 1, 180_000);
    editing = false;
    await edits;
    await world.trigger(CONNECTION, 'incremental');
    await world.waitForSyncs(CONNECTION, 2, 120_000);

    const records = world.records(CONNECTION);
    // Duplicates per crash: file and folder records a restarted worker sent again, same message id.
    const seen = new Set<string>();
    const duplicates: number[] = [];
    let from = 0;
    for (const end of [...boundaries, records.length]) {
      let count = 0;
      for (const r of records.slice(from, end)) {
        if (r.resource_type !== 'file' && r.resource_type !== 'folder') continue;
        if (seen.has(r.message_id)) count++;
        seen.add(r.message_id);
      }
      duplicates.push(count);
      from = end;
    }
    console.info(
      `crash loop: ${KILLS} kills in ${((Date.now() - started) / 1000).toFixed(1)} s; progress at each kill ${progress.join(', ')}; ` +
        `file/folder duplicates per life ${duplicates.join(', ')}; ${records.length} records; edits ${storm.log.length}; ` +
        `restart to ready ${restartMs.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s`,
    );
    // Never back: each life resumes from the last durable chunk; and the walk moved on over the loop.
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1] as number);
    expect(progress.at(-1)).toBeGreaterThan(progress[0] as number);
    // The walk spans several lives and moves on across them (a life killed a second after it
    // is ready may not finish a chunk; the order above says none went back).
    const walking = progress.filter((p) => Number.isFinite(p));
    expect(new Set(walking).size).toBeGreaterThanOrEqual(3);
    // After each crash at most the chunk in flight is sent again, and the one whose checkpoint
    // was still being written when the process died.
    for (const d of duplicates.slice(1)) expect(d).toBeLessThanOrEqual(2 * CHUNK_ITEMS);
    expectRecordsMatchDrive(records, await visibleTo(world, ada.accessToken));
  }, 600_000);
});
