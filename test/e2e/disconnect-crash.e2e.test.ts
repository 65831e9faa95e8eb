import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionCheckpoint } from '../../src/contract/checkpoint.js';
import { type SpawnedWorker, spawnWorker } from '../support/spawned-worker.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

const CONNECTION = 'conn_gone';

/**
 * A `disconnect` whose worker is killed (SIGKILL) after it began and before its tombstone
 * was acknowledged: its offset was not committed, so the restarted worker gets it again and
 * finishes it; the connection is gone and nothing of it syncs.
 */
describe('kill -9 between a disconnect and its tombstone', () => {
  let world: WorkerWorld;
  let worker: SpawnedWorker | undefined;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 60, users: 1, sharedDrives: 0, revisionDensity: 0.1 }, 43);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection(CONNECTION, user.id);
  });

  afterAll(async () => {
    worker?.child.kill('SIGKILL');
    await world?.stop();
  });

  const env = () =>
    world.env({
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      // Channels to an address nobody listens at: the disconnect has a channel to stop.
      GDRIVE_CHANNEL_ADDRESS: 'http://127.0.0.1:9/webhooks/google-drive',
      GDRIVE_CHANNEL_TOKEN_SECRET: 'disconnect-crash-secret',
      KAFKA_CONSUMER_SESSION_TIMEOUT_MS: '6000',
      KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: '1000',
      KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS: '10000',
    });
  const stateOfKey = () => world.reader.all(world.topics.state).filter((m) => m.key === CONNECTION);
  const connectionState = async (url: string) => {
    const response = await fetch(`${url}/connections/${CONNECTION}`);
    if (response.status === 404) return 'unknown';
    return ((await response.json()) as { connection: { state: string } }).connection.state;
  };

  it('the restarted worker finishes the disconnect: tombstone written, nothing synced', async () => {
    worker = spawnWorker(env());
    let url = await worker.started();
    await world.trigger(CONNECTION, 'full_sync');
    await world.waitForSyncs(CONNECTION, 1);
    await world.reader.waitFor('the connection checkpointed with its channel', () => {
      const last = stateOfKey().at(-1);
      return last?.value != null && (JSON.parse(last.value) as ConnectionCheckpoint).channel !== null;
    });

    // A second full sync in progress: its checkpoint says so when the worker dies, so the
    // restarted worker has a sync to resume unless the redelivered disconnect comes first.
    await world.emulator.admin.setLatency('drive.files.list', 1_500);
    await world.trigger(CONNECTION, 'full_sync');
    await world.reader.waitFor('the second full sync checkpointed as in progress', () => {
      const last = stateOfKey().at(-1);
      return (
        last?.value != null && (JSON.parse(last.value) as ConnectionCheckpoint).activeSync?.mode === 'full'
      );
    });
    // The channel stop takes long: the kill lands after the disconnect began, before its tombstone.
    await world.emulator.admin.setLatency('drive.channels.stop', 20_000);
    await world.trigger(CONNECTION, 'disconnect');
    await until(async () => (await connectionState(url)) === 'disconnecting', 'the worker is disconnecting');
    worker.child.kill('SIGKILL');
    await worker.exited;
    expect(stateOfKey().some((m) => m.value === null)).toBe(false);
    expect(JSON.parse(stateOfKey().at(-1)?.value ?? '{}').activeSync?.mode).toBe('full');
    await world.emulator.admin.setLatency('drive.channels.stop', 0);
    await world.emulator.admin.setLatency('drive.files.list', 0);
    const recordsBefore = world.records(CONNECTION).length;

    worker = spawnWorker(env());
    url = await worker.started();
    await world.reader.waitFor(
      'the tombstone of the connection',
      () => stateOfKey().at(-1)?.value === null,
      90_000,
    );
    await until(async () => (await connectionState(url)) === 'unknown', 'the connection is gone');
    // Nothing of the disconnected connection was produced by the restarted worker.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(world.records(CONNECTION).length).toBe(recordsBefore);
    expect(stateOfKey().at(-1)?.value).toBeNull();
    // Its partition's connections waited for the uncommitted disconnect to be handled.
    expect(worker.output()).toContain('backlog handled: connections resumed');
  }, 240_000);
});
