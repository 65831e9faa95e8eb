import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerWorld } from '../support/worker-world.js';

const JUNK = 40;

describe('connections the control plane does not know', () => {
  let world: WorkerWorld;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 5, users: 1, sharedDrives: 0, sharedDriveMembers: 0 });
    await world.startWorker();
  });

  afterAll(async () => {
    await world?.stop();
  });

  it('cost one auth error each and leave no resident actor and no live checkpoint', async () => {
    const ids = Array.from({ length: JUNK }, (_, i) => `junk_${i}`);
    for (const id of ids) await world.trigger(id, 'full_sync');
    await world.reader.waitFor(`${JUNK} unknown_connection errors`, () => {
      const junk = new Set(
        world
          .errors()
          .filter((e) => e.error.code === 'unknown_connection')
          .map((e) => e.integration_connection_id),
      );
      return ids.every((id) => junk.has(id));
    });
    const worker = world.workers[0];
    if (!worker) throw new Error('no worker');
    // Every junk connection ends: its last value on the state topic is a tombstone.
    await world.reader.waitFor('a tombstone as the last state of every junk id', () => {
      const last = new Map<string, string | null>();
      for (const m of world.reader.all(world.topics.state)) if (m.key !== null) last.set(m.key, m.value);
      return ids.every((id) => last.has(id) && last.get(id) === null);
    });
    await world.reader.waitFor('no resident actor', () => worker.supervisor.residentCount === 0);

    const errors = world.errors().filter((e) => ids.includes(e.integration_connection_id ?? ''));
    expect(errors).toHaveLength(JUNK);
    expect(new Set(errors.map((e) => `${e.error.classification}/${e.error.code}`))).toEqual(
      new Set(['auth/unknown_connection']),
    );
    expect(worker.supervisor.list()).toEqual([]);
  });
});
