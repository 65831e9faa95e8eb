import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundRecord } from '../../src/contract/records.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Batch requests end to end: the same Drive synced in full twice, one connection per run,
 * with GDRIVE_BATCH_REQUESTS off and on. Drive traffic goes through a counting proxy, so
 * "HTTP requests" means requests on the wire (the emulator counts each batch part under
 * its own method as well as the batch itself). Records must be equal, calls far fewer.
 */

interface CountingProxy {
  readonly url: string;
  /** Drive HTTP requests seen since the last reset: `/drive/…` calls and `/batch/…` requests. */
  counts(): { drive: number; batch: number };
  reset(): void;
  close(): Promise<void>;
}

async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let drive = 0;
  let batch = 0;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path.startsWith('/batch/')) batch++;
    else if (path.startsWith('/drive/')) drive++;
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers: { ...req.headers, host: upstream.host },
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ drive, batch }),
    reset: () => {
      drive = 0;
      batch = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** A record as the platform would compare it: no connection, sync ids, times or message ids. */
function comparable(record: OutboundRecord) {
  return {
    resource_type: record.resource_type,
    resource_id: record.resource_id,
    operation: record.operation,
    data: record.data,
    payload: record.payload,
    s3_url: record.s3_url,
    metadata: record.metadata,
  };
}

function sortedComparable(records: readonly OutboundRecord[]) {
  return records
    .filter((r) => r.resource_type !== 'sync_checkpoint')
    .map(comparable)
    .sort((a, b) =>
      `${a.resource_type}:${a.resource_id}:${a.operation}`.localeCompare(
        `${b.resource_type}:${b.resource_id}:${b.operation}`,
      ),
    );
}

interface RunFigures {
  readonly counters: Record<string, number>;
  readonly http: { drive: number; batch: number };
  readonly items: number;
}

describe('per-file extras in Drive batch requests (embedded broker, Drive emulator)', () => {
  let world: WorkerWorld;
  let proxy: CountingProxy;
  const figures: Record<'plain' | 'batched', RunFigures | null> = { plain: null, batched: null };

  async function syncOnce(connectionId: string, batched: boolean): Promise<RunFigures> {
    await world.emulator.admin.resetCounters();
    proxy.reset();
    // The first comments.list calls answer 503: with batching these are parts of a batch,
    // classified retryable and read again alone; the sync must not notice.
    if (batched) await world.emulator.admin.scriptFault('drive.comments.list', 503, 3);
    const worker = await world.startWorker({
      GDRIVE_API_BASE_URL: proxy.url,
      GDRIVE_BATCH_REQUESTS: String(batched),
      GDRIVE_PAGE_SIZE: '100',
      // The second run's worker joins the group the first one left: short timeouts keep that quick.
      KAFKA_CONSUMER_SESSION_TIMEOUT_MS: '4000',
      KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: '500',
      KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS: '10000',
    });
    await world.trigger(connectionId, 'full_sync');
    await world.waitForSyncs(connectionId, 1);
    const counters = await world.emulator.admin.counters();
    const http = proxy.counts();
    await worker.stop();
    world.workers.splice(world.workers.indexOf(worker), 1);
    const items = world
      .records(connectionId)
      .filter((r) => r.resource_type === 'file' || r.resource_type === 'folder').length;
    return { counters, http, items };
  }

  beforeAll(async () => {
    world = await WorkerWorld.start({
      files: 300,
      users: 2,
      sharedDrives: 1,
      sharedDriveMembers: 2,
      revisionDensity: 1,
      commentDensity: 0.6,
      replyDensity: 1,
      shareDensity: 0.3,
    });
    proxy = await startCountingProxy(world.emulator.url);
    const [first] = await world.emulator.admin.listUsers();
    if (!first) throw new Error('no users');
    const ada = await world.emulator.admin.issueTokens(first.id);
    await world.emulator.admin.mapConnection('conn_plain', first.id);
    await world.emulator.admin.mapConnection('conn_batched', first.id);
    // One file whose comments need a second page (100 a page), so a batch part's list continues.
    const { drive, auth } = world.driveAs(ada.accessToken);
    const talked = await drive.files.create(
      {
        requestBody: { name: 'Much discussed', mimeType: 'application/vnd.google-apps.document' },
        fields: 'id',
      },
      auth,
    );
    for (let n = 0; n < 130; n++) {
      await drive.comments.create(
        { fileId: talked.data.id as string, requestBody: { content: `comment ${n}` }, fields: 'id' },
        auth,
      );
    }
    figures.plain = await syncOnce('conn_plain', false);
    figures.batched = await syncOnce('conn_batched', true);
  }, 120_000);

  afterAll(async () => {
    await proxy?.close();
    await world?.stop();
  });

  it('the records equal those of the unbatched path, and nothing failed', () => {
    const plain = world.records('conn_plain');
    const batched = world.records('conn_batched');
    expect(sortedComparable(batched)).toEqual(sortedComparable(plain));
    const upserts = (type: string) =>
      plain.filter((r) => r.resource_type === type && r.operation === 'upsert');
    expect(upserts('permission').length).toBeGreaterThan(50);
    expect(upserts('revision').length).toBeGreaterThan(50);
    expect(upserts('comment').length).toBeGreaterThan(130);
    expect(upserts('reply').length).toBeGreaterThan(10);
    const checkpoint = (records: OutboundRecord[]) =>
      records.find((r) => r.resource_type === 'sync_checkpoint')?.data.counts;
    expect(checkpoint(batched)).toEqual(checkpoint(plain));
    expect(world.errors()).toEqual([]);
  });

  it('the emulator counts batch requests, and the HTTP requests per file fall', () => {
    const plain = figures.plain as RunFigures;
    const batched = figures.batched as RunFigures;
    expect(plain.counters.batch ?? 0).toBe(0);
    expect(plain.http.batch).toBe(0);
    expect(batched.counters.batch).toBeGreaterThan(0);
    expect(batched.http.batch).toBe(batched.counters.batch);
    // The same Drive calls were made (inner parts counted under their own names), plus the
    // three comments.list parts refused once and read again alone.
    for (const method of ['drive.permissions.list', 'drive.revisions.list'])
      expect(batched.counters[method]).toBe(plain.counters[method]);
    expect(batched.counters['drive.comments.list']).toBe((plain.counters['drive.comments.list'] ?? 0) + 3);
    const perFile = (run: RunFigures) => (run.http.drive + run.http.batch) / run.items;
    console.info(
      `HTTP requests per file: unbatched ${perFile(plain).toFixed(2)} (${plain.http.drive} for ${plain.items} items), ` +
        `batched ${perFile(batched).toFixed(2)} (${batched.http.drive} direct + ${batched.http.batch} batch for ${batched.items} items)`,
    );
    expect(perFile(batched)).toBeLessThan(perFile(plain) / 5);
  });
});
