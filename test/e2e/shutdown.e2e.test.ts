import { type ChildProcess, spawn } from 'node:child_process';
import type { drive_v3 } from 'googleapis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Graceful shutdown of the real process (`src/main.ts`): SIGTERM in the middle of a full
 * sync lets the page in flight finish and checkpoint, commits, flushes and exits 0; a worker
 * started afterwards resumes from that checkpoint and nothing is missing.
 */
describe('SIGTERM mid full sync', () => {
  let world: WorkerWorld;
  let child: ChildProcess | undefined;
  let accessToken: string;
  const PAGE = 20;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 240, users: 1, sharedDrives: 0, revisionDensity: 0.1 }, 31);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection('conn_term', user.id);
    accessToken = (await world.emulator.admin.issueTokens(user.id)).accessToken;
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
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

  it('exits 0 within the grace period, and a restarted worker completes the sync with nothing missing', async () => {
    await world.emulator.admin.setLatency('drive.files.list', 200);
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        ...world.env({
          GDRIVE_PAGE_SIZE: String(PAGE),
          HTTP_PORT: '0',
          LOG_LEVEL: 'info',
          SHUTDOWN_GRACE_SECONDS: '30',
        }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    await until(() => output.includes('worker started'), `the worker started: ${output.slice(-500)}`, 60_000);

    await world.trigger('conn_term', 'full_sync');
    await world.reader.waitFor('two pages of files checkpointed', () =>
      world.reader
        .values<{ connectionId: string; activeSync: { counts: Record<string, number> } | null }>(
          world.topics.state,
        )
        .some((c) => c.connectionId === 'conn_term' && (c.activeSync?.counts.file ?? 0) >= 2 * PAGE - 10),
    );
    child.kill('SIGTERM');
    const code = await exited;
    expect(code, output.slice(-2_000)).toBe(0);
    expect(output).toContain('stopping: finishing in-flight work');
    expect(world.checkpointsDone('conn_term')).toBe(0);

    // The last checkpoint the stopped process wrote still names the sync to resume.
    const last = world.reader
      .values<{ connectionId: string; activeSync: { mode: string; resume: unknown } | null }>(
        world.topics.state,
      )
      .filter((c) => c?.connectionId === 'conn_term')
      .at(-1);
    expect(last?.activeSync?.mode).toBe('full');
    expect(last?.activeSync?.resume).not.toBeNull();

    await world.emulator.admin.setLatency('drive.files.list', 0);
    await world.emulator.admin.resetCounters();
    await world.startWorker({ GDRIVE_PAGE_SIZE: String(PAGE) });
    await world.waitForSyncs('conn_term', 1);
    const listedAfterRestart = (await world.emulator.admin.counters())['drive.files.list'] ?? 0;

    const expected = await itemIds();
    const synced = new Set(
      world
        .records('conn_term')
        .filter((r) => r.resource_type === 'file' || r.resource_type === 'folder')
        .map((r) => r.resource_id),
    );
    expect([...expected].filter((id) => !synced.has(id))).toEqual([]);
    // Resumed, not restarted: the pages listed before the stop were not listed again.
    expect(listedAfterRestart).toBeLessThan(Math.ceil(expected.size / PAGE));
  });
});
