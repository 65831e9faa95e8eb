import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileIdOf } from '../../src/contract/consumer-state.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * A record the broker can never take, through a real sync: topics of a small
 * `max.message.bytes` with KAFKA_MAX_MESSAGE_BYTES to match, and no S3 bucket, so nothing is
 * offloaded (with a bucket a record's body goes to S3 and what stays inline is a few
 * hundred bytes of ids). One file's description makes its record larger than the limit: it
 * must cost one `internal/message_too_large` record, and the rest of the sync must be exact,
 * with no lag and no retry loop.
 */

const CONNECTION = 'conn_oversized';
const LIMIT = 16 * 1024;

describe('a record larger than the broker takes', () => {
  let world: WorkerWorld;
  let accessToken: string;
  let bigId: string;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 12, users: 1, sharedDrives: 0, sharedDriveMembers: 0 }, 16);
    await world.setMaxMessageBytes(['records', 'errors', 'state'], LIMIT);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('no users');
    accessToken = (await world.emulator.admin.issueTokens(user.id)).accessToken;
    await world.emulator.admin.mapConnection(CONNECTION, user.id);
    const { drive, auth } = world.driveAs(accessToken);
    const created = await drive.files.create(
      {
        requestBody: {
          name: 'described at length',
          mimeType: 'text/plain',
          description: 'd'.repeat(3 * LIMIT),
        },
        fields: 'id',
      },
      auth,
    );
    bigId = created.data.id ?? '';
    if (!bigId) throw new Error('no id for the created file');
    await world.startWorker({ KAFKA_MAX_MESSAGE_BYTES: String(LIMIT) });
  });

  afterAll(async () => {
    await world?.stop();
  });

  it('costs one message_too_large record; the rest of the sync is exact, no lag, no loop', async () => {
    await world.trigger(CONNECTION, 'full_sync');
    await world.waitForSyncs(CONNECTION, 1);
    // The errors topic is read apart from the records topic: its record may land later here.
    await world.reader.waitFor('the message_too_large record', () =>
      world.errors().some((e) => e.error.code === 'message_too_large'),
    );

    const tooLarge = world.errors().filter((e) => e.error.code === 'message_too_large');
    expect(tooLarge).toHaveLength(1);
    expect(tooLarge[0]?.error.classification).toBe('internal');
    expect(tooLarge[0]?.resource).toEqual({ type: 'file', id: bigId });
    expect(world.errors()).toHaveLength(1);

    // Everything else the user sees is held exactly; the big file's own extras went out.
    const truth = await visibleTo(world, accessToken);
    const records = world.records(CONNECTION);
    expect(records.some((r) => r.resource_id === bigId)).toBe(false);
    expectRecordsMatchDrive(
      records.filter((r) => r.resource_type === 'sync_checkpoint' || fileIdOf(r.resource_id) !== bigId),
      { ...truth, files: truth.files.filter((f) => f.id !== bigId) },
    );
    for (const m of world.reader.all(world.topics.records))
      expect((m.value ?? '').length).toBeLessThan(LIMIT);

    // Nothing comes again: the trigger committed, the connection idle, no second report.
    await until(async () => (await world.inboundLag()) === 0, 'no inbound lag', 30_000, 250);
    const worker = world.workers[0];
    await until(() => worker?.supervisor.get(CONNECTION)?.state === 'idle', 'the connection idle', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(world.errors()).toHaveLength(1);
    expect(world.checkpointsDone(CONNECTION)).toBe(1);
  });
});
