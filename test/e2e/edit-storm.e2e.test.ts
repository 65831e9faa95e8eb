import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { Storm } from '../support/storm.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * A seeded storm of edits while a connection is fully synced and then followed
 * incrementally, on the emulator's default realism (short and empty pages, coalesced
 * change entries, delayed and batched notifications), for 20 seeds. After each storm a
 * consumer that applies the records as the contract says holds exactly what the user's own
 * client lists: nothing missing, nothing stale, nothing live that Drive does not show.
 */
const SEEDS = 20;
const EDITS_DURING_FULL_SYNC = 12;
const EDITS_PER_INCREMENTAL_ROUND = 8;
const INCREMENTAL_ROUNDS = 2;

const CORPUS = {
  files: 50,
  users: 2,
  sharedDrives: 2,
  sharedDriveMembers: 2,
  revisionDensity: 0.3,
  commentDensity: 0.3,
  replyDensity: 0.5,
  shareDensity: 0.3,
} as const;

/**
 * `npm test` runs the 20 fixed seeds. `STORM_SEEDS=16,17` replays those storms alone (each
 * seed generates its own Drive; a seed may repeat, each run on a connection of its own);
 * `npm run test:storm` (EDIT_STORM=1) runs 20 random seeds besides, printed when one fails.
 */
const randomSeeds =
  process.env.EDIT_STORM === '1'
    ? Array.from({ length: SEEDS }, () => 1000 + Math.floor(Math.random() * 1_000_000))
    : [];
const seeds = process.env.STORM_SEEDS
  ? process.env.STORM_SEEDS.split(',').map(Number)
  : [...Array.from({ length: SEEDS }, (_, i) => i + 1), ...randomSeeds];

describe('a seeded edit storm during full and incremental syncs', () => {
  let world: WorkerWorld;

  beforeAll(async () => {
    world = await WorkerWorld.start(CORPUS, 1);
    await world.startWorker({ GDRIVE_PAGE_SIZE: '10' });
  });

  afterAll(async () => {
    await world?.stop();
  });

  it(`ends exact for each of ${seeds.length} seeds`, async () => {
    // Every seed runs, so one run tells how many storms end inexact, and which.
    const failures: string[] = [];
    for (const [run, seed] of seeds.entries()) {
      // A Drive of the seed's own, followed by a connection of its own.
      await world.emulator.admin.generateCorpus({ ...CORPUS, seed });
      const [first, second] = await world.emulator.admin.listUsers();
      if (!first || !second) throw new Error('two users expected');
      const ada: UserCredentials = await world.emulator.admin.issueTokens(first.id);
      const bea = await world.emulator.admin.issueTokens(second.id);
      const connectionId = `conn_storm_${seed}_${run}`;
      await world.emulator.admin.mapConnection(connectionId, first.id);
      const driveIds = (await visibleTo(world, ada.accessToken)).driveIds;
      const storm = new Storm(
        seed,
        world.driveAs(ada.accessToken),
        world.driveAs(bea.accessToken),
        first.email,
        second.email,
        driveIds,
      );

      // Edits while the full sync walks (a slow listing keeps it walking meanwhile).
      await world.emulator.admin.setLatency('drive.files.list', 30);
      await world.trigger(connectionId, 'full_sync');
      for (let i = 0; i < EDITS_DURING_FULL_SYNC; i += 1) await storm.editOnce();
      await world.waitForSyncs(connectionId, 1);
      await world.emulator.admin.setLatency('drive.files.list', 0);

      // Edits between and during incremental runs.
      for (let round = 0; round < INCREMENTAL_ROUNDS; round += 1) {
        await world.trigger(connectionId, 'incremental');
        for (let i = 0; i < EDITS_PER_INCREMENTAL_ROUND; i += 1) await storm.editOnce();
        await world.waitForSyncs(connectionId, 2 + round);
      }
      // A last run after the storm has passed reads what the runs during it could not.
      await world.trigger(connectionId, 'incremental');
      await world.waitForSyncs(connectionId, 2 + INCREMENTAL_ROUNDS);

      const truth = await visibleTo(world, ada.accessToken);
      try {
        expectRecordsMatchDrive(world.records(connectionId), truth);
        expect(world.errors().filter((e) => e.integration_connection_id === connectionId)).toEqual([]);
      } catch (error) {
        failures.push(
          `seed ${seed}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)} (edits: ${storm.log.join(', ')})`,
        );
      }
    }
    expect(failures).toEqual([]);
  }, 1_200_000);
});
