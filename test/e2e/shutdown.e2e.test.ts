import type { drive_v3 } from '@googleapis/drive';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SpawnedWorker, spawnWorker } from '../support/spawned-worker.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Graceful shutdown of the real process (`src/main.ts`, as `npm start` runs it) over the
 * embedded broker and the Drive emulator.
 */

async function getStatus(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

interface StateValue {
  connectionId: string;
  activeSync: {
    mode: string;
    syncId: string;
    resume: { phase: string; corpus: string | null; pageToken: string | null; after?: unknown } | null;
  } | null;
}

describe('SIGTERM mid full sync', () => {
  let world: WorkerWorld;
  let worker: SpawnedWorker | undefined;
  let accessToken: string;
  const PAGE = 20;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 240, users: 1, sharedDrives: 0, revisionDensity: 0.1 }, 31);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection('conn_term', user.id);
    accessToken = (await world.emulator.admin.issueTokens(user.id)).accessToken;
    // Full pages: this counts the pages listed again after a restart, which needs pages of a
    // known size. Drive's short and empty pages are exercised by the sync and storm tests.
    await world.emulator.admin.setRealism({ partialPages: false });
  });

  afterAll(async () => {
    worker?.child.kill('SIGKILL');
    await world?.stop();
  });

  /** Every item of the user's Drive, as the user's own client lists it. */
  async function itemIds(): Promise<Set<string>> {
    const { drive, auth } = world.driveAs(accessToken);
    const ids = new Set<string>();
    let pageToken: string | undefined;
    do {
      const page: { data: drive_v3.Schema$FileList } = await drive.files.list(
        { pageSize: 1000, fields: 'nextPageToken,files(id)', ...(pageToken ? { pageToken } : {}) },
        auth,
      );
      for (const file of page.data.files ?? []) if (file.id) ids.add(file.id);
      pageToken = page.data.nextPageToken ?? undefined;
    } while (pageToken);
    return ids;
  }

  /** Pages of the file walk the worker checkpointed (one resume position each). */
  function pagesCheckpointed(): number {
    const positions = new Set<string>();
    for (const value of world.reader.values<StateValue>(world.topics.state)) {
      const resume = value?.connectionId === 'conn_term' ? value.activeSync?.resume : null;
      const positioned = resume?.pageToken != null || resume?.after != null;
      if (resume?.phase === 'files' && positioned) positions.add(JSON.stringify(resume));
    }
    return positions.size;
  }

  it('finishes the page in flight, checkpoints it, exits 0; a restarted worker lists only the rest and nothing is missing', async () => {
    // Slow pages, so SIGTERM lands while one is in flight and the stop has to wait for it.
    await world.emulator.admin.setLatency('drive.files.list', 1_500);
    worker = spawnWorker(
      world.env({
        GDRIVE_PAGE_SIZE: String(PAGE),
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: '0',
        LOG_LEVEL: 'info',
        SHUTDOWN_GRACE_SECONDS: '30',
      }),
    );
    const url = await worker.started();

    await world.trigger('conn_term', 'full_sync');
    const listed = async () => (await world.emulator.admin.counters())['drive.files.list'] ?? 0;
    // The third page is requested (and held by the emulator's latency) once two are done.
    await until(async () => (await listed()) >= 3, 'the third page requested', 60_000);
    worker.child.kill('SIGTERM');

    // While the page finishes: not ready (so no traffic is routed here), still live, metrics served.
    await until(async () => (await getStatus(`${url}/health/ready`)).status === 503, 'not ready', 10_000, 20);
    expect((await getStatus(`${url}/health/ready`)).body).toContain('shutdown: shutting down');
    expect((await getStatus(`${url}/health/live`)).status).toBe(200);
    expect((await getStatus(`${url}/metrics`)).status).toBe(200);

    const code = await worker.exited;
    const output = worker.output();
    expect(code, output.slice(-2_000)).toBe(0);
    expect(output).toContain('stopping: finishing in-flight work');
    expect(output).toMatch(/"busy":1,"drained":1,"msg":"in-flight work drained before stopping"/);
    expect(output).toContain('"msg":"stopped"');
    expect(world.checkpointsDone('conn_term')).toBe(0);

    // The page that was in flight at SIGTERM is checkpointed: at least three pages, and at
    // most one request (the next page, started as the actor stopped) went unused.
    const listedBeforeStop = await listed();
    const pagesDone = pagesCheckpointed();
    expect(pagesDone).toBeGreaterThanOrEqual(3);
    expect(listedBeforeStop - pagesDone).toBeLessThanOrEqual(1);
    const last = world.reader
      .values<StateValue>(world.topics.state)
      .filter((c) => c?.connectionId === 'conn_term')
      .at(-1);
    expect(last?.activeSync?.mode).toBe('full');
    expect(last?.activeSync?.resume).not.toBeNull();

    // A new worker resumes the same sync after the last checkpointed page.
    await world.emulator.admin.setLatency('drive.files.list', 0);
    await world.emulator.admin.resetCounters();
    await world.startWorker({ GDRIVE_PAGE_SIZE: String(PAGE) });
    await world.waitForSyncs('conn_term', 1);
    const listedAfterRestart = (await world.emulator.admin.counters())['drive.files.list'] ?? 0;

    const expected = await itemIds();
    const items = world
      .records('conn_term')
      .filter((r) => r.resource_type === 'file' || r.resource_type === 'folder');
    const synced = new Set(items.map((r) => r.resource_id));
    expect([...expected].filter((id) => !synced.has(id))).toEqual([]);
    expect([...synced].filter((id) => !expected.has(id))).toEqual([]);
    expect(new Set(items.map((r) => r.sync.sync_id))).toEqual(new Set([last?.activeSync?.syncId]));
    // Only the pages after the last checkpointed one are listed again. A keyset page reads
    // the items of its bound's second again (src/machines/keyset-walk.ts), so each brings at
    // least PAGE - 1 new items, and the last may come back empty.
    const wholeWalk = Math.ceil(expected.size / (PAGE - 1)) + 1;
    expect(listedAfterRestart).toBeGreaterThan(0);
    expect(listedAfterRestart).toBeLessThanOrEqual(wholeWalk - pagesDone);
  });
});

describe('a second signal during a graceful stop', () => {
  let world: WorkerWorld;
  let worker: SpawnedWorker | undefined;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 60, users: 1, sharedDrives: 0 }, 37);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection('conn_twice', user.id);
  });

  afterAll(async () => {
    worker?.child.kill('SIGKILL');
    await world?.stop();
  });

  it('exits at once, without waiting for the page in flight', async () => {
    // A page that would hold the graceful stop for far longer than this test runs.
    await world.emulator.admin.setLatency('drive.files.list', 20_000);
    worker = spawnWorker(world.env({ HTTP_PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_GRACE_SECONDS: '120' }));
    await worker.started();
    await world.trigger('conn_twice', 'full_sync');
    await until(
      async () => ((await world.emulator.admin.counters())['drive.files.list'] ?? 0) >= 1,
      'the first page requested',
    );
    worker.child.kill('SIGTERM');
    await until(() => worker?.output().includes('stopping: finishing in-flight work') ?? false, 'stopping');
    worker.child.kill('SIGTERM');

    const code = await worker.exited;
    expect(code).toBe(1);
    expect(worker.output()).toContain('second signal: exiting now');
    expect(worker.output()).not.toContain('grace period exceeded');
    await world.emulator.admin.setLatency('drive.files.list', 0);
  });
});
