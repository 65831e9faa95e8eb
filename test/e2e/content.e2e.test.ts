import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorRecord, OutboundRecord } from '../../src/contract/records.js';
import type { EmbeddedS3 } from '../../src/embedded/s3-server.js';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * Content, opt-in, end to end: the real worker on the embedded broker, the Drive emulator,
 * and s3rver as S3. Large content and a record too large for Kafka land in S3 (read back
 * here with the AWS SDK and hashed), small content stays inline, an export over Drive's
 * 10 MB cap is one error record and the rest of the sync completes.
 */

const DOC = 'application/vnd.google-apps.document';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('file content with S3 offload (embedded broker, Drive emulator, s3rver)', () => {
  let world: WorkerWorld;
  let s3: EmbeddedS3;
  let client: S3Client;
  let ada: UserCredentials;
  const ids: Record<'bigDoc' | 'smallDoc' | 'binary' | 'oversized' | 'described', string> = {
    bigDoc: '',
    smallDoc: '',
    binary: '',
    oversized: '',
    described: '',
  };
  const binary = randomBytes(600 * 1024);
  let records: OutboundRecord[] = [];
  let errors: ErrorRecord[] = [];

  beforeAll(async () => {
    world = await WorkerWorld.start({
      files: 30,
      users: 1,
      sharedDrives: 0,
      workspaceFraction: 0.5,
      revisionDensity: 0,
      commentDensity: 0,
      shareDensity: 0,
    });
    s3 = await world.startS3();
    client = new S3Client({
      region: 'us-east-1',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    const [first] = await world.emulator.admin.listUsers();
    if (!first) throw new Error('no users');
    ada = await world.emulator.admin.issueTokens(first.id);
    await world.emulator.admin.mapConnection('conn_content', first.id);

    const { drive, auth } = world.driveAs(ada.accessToken);
    const upload = { ...auth, rootUrl: `${world.emulator.url}/` };
    const create = async (name: string, mimeType: string, media?: { mimeType: string; body: Buffer }) =>
      (
        await drive.files.create(
          {
            requestBody: { name, mimeType },
            fields: 'id',
            ...(media ? { media: { mimeType: media.mimeType, body: Readable.from([media.body]) } } : {}),
          },
          upload,
        )
      ).data.id as string;
    ids.bigDoc = await create('Big doc', DOC, {
      mimeType: 'text/plain',
      body: Buffer.from('All work and no play makes a long document.\n'.repeat(8000)),
    });
    ids.smallDoc = await create('Small doc', DOC, { mimeType: 'text/plain', body: Buffer.from('hello') });
    ids.binary = await create('photo.raw', 'application/octet-stream', {
      mimeType: 'application/octet-stream',
      body: binary,
    });
    ids.oversized = await create('Huge export', DOC, { mimeType: 'text/plain', body: Buffer.from('tiny') });
    await world.emulator.admin.setExportSize(ids.oversized, 11 * 1024 * 1024);
    ids.described = (
      await drive.files.create(
        {
          requestBody: { name: 'notes.txt', mimeType: 'text/plain', description: 'd'.repeat(300_000) },
          fields: 'id',
        },
        auth,
      )
    ).data.id as string;

    await world.startWorker();
    await world.trigger('conn_content', 'full_sync', { options: { include: ['permissions', 'content'] } });
    await world.waitForSyncs('conn_content', 1);
    records = world.records('conn_content');
    errors = world.errors().filter((e) => e.integration_connection_id === 'conn_content');
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await world?.stop();
  });

  const fileRecord = (id: string) => {
    const record = records.find((r) => r.resource_id === id && r.operation === 'upsert');
    if (!record) throw new Error(`no record of ${id}`);
    return record;
  };

  async function objectOf(record: OutboundRecord): Promise<Buffer> {
    const url = record.s3_url ?? '';
    expect(url.startsWith(`s3://${s3.bucket}/google-drive/conn_content/`)).toBe(true);
    const key = url.slice(`s3://${s3.bucket}/`.length);
    // content-addressed: the key ends with the recorded hash
    expect(key.endsWith(`/${record.metadata.sha256}`)).toBe(true);
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  }

  it('a large Google Doc lands with s3_url, and the object is its export with the recorded SHA-256', async () => {
    const record = fileRecord(ids.bigDoc);
    expect(record.payload).toBeNull();
    expect(record.metadata).toMatchObject({ offloaded: 'payload', content_type: 'text/markdown' });
    const object = await objectOf(record);
    expect(sha256(object)).toBe(record.metadata.sha256);
    expect(object.length).toBe(record.metadata.size_bytes);
    expect(object.length).toBeGreaterThan(262_144);
    // the bytes are what the user's own client exports
    const { drive, auth } = world.driveAs(ada.accessToken);
    const exported = await drive.files.export(
      { fileId: ids.bigDoc, mimeType: 'text/markdown' },
      { ...auth, responseType: 'arraybuffer' },
    );
    expect(sha256(Buffer.from(exported.data as ArrayBuffer))).toBe(record.metadata.sha256);
  });

  it('a binary file above the inline limit lands with s3_url, and the object holds its bytes', async () => {
    const record = fileRecord(ids.binary);
    expect(record.payload).toBeNull();
    expect(record.metadata).toMatchObject({
      sha256: sha256(binary),
      size_bytes: binary.length,
      content_type: 'application/octet-stream',
    });
    const object = await objectOf(record);
    expect(object.equals(binary)).toBe(true);
  });

  it('a small doc’s content is inline, as text', () => {
    const record = fileRecord(ids.smallDoc);
    expect(record.s3_url).toBeNull();
    expect(record.payload).toBe('# Small doc\n\nhello');
    expect(record.metadata).toMatchObject({ content_type: 'text/markdown', encoding: 'utf8' });
  });

  it('a record too large for Kafka even without content (a huge description) keeps its body in S3', async () => {
    const record = fileRecord(ids.described);
    expect(record.data).toEqual({ id: ids.described });
    expect(record.metadata).toMatchObject({ offloaded: 'body', content_type: 'application/json' });
    const object = await objectOf(record);
    expect(sha256(object)).toBe(record.metadata.sha256);
    const body = JSON.parse(object.toString('utf8')) as { data: { description: string; name: string } };
    expect(body.data.name).toBe('notes.txt');
    expect(body.data.description).toHaveLength(300_000);
  });

  it('an export above 10 MB is one error record against the file, and the rest of the sync completes', () => {
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      error: {
        classification: 'invalid_input',
        code: 'exportSizeLimitExceeded',
        retryable: false,
        http_status: 403,
      },
      resource: { type: 'file', id: ids.oversized },
    });
    const record = fileRecord(ids.oversized);
    expect(record.payload).toBeNull();
    expect(record.s3_url).toBeNull();
    expect(records.filter((r) => r.resource_type === 'sync_checkpoint')).toHaveLength(1);
    // every other file carries its content, inline or in S3
    const files = records.filter(
      (r) => r.resource_type === 'file' && r.operation === 'upsert' && r.resource_id !== ids.oversized,
    );
    expect(files.length).toBeGreaterThan(10);
    const withoutContent = files.filter(
      (r) =>
        r.payload === null &&
        r.s3_url === null &&
        // types the default map does not export (forms, sites…) have none
        (!String(r.data.mime_type).startsWith('application/vnd.google-apps.') ||
          ['document', 'spreadsheet', 'presentation', 'drawing'].some(
            (kind) => r.data.mime_type === `application/vnd.google-apps.${kind}`,
          )),
    );
    expect(withoutContent.map((r) => r.data.name)).toEqual([]);
  });

  it('an incremental sync carries the new content of an edited file', async () => {
    const { drive, auth } = world.driveAs(ada.accessToken);
    await drive.files.update(
      {
        fileId: ids.smallDoc,
        fields: 'id',
        media: { mimeType: 'text/plain', body: Readable.from([Buffer.from('hello again')]) },
      },
      { ...auth, rootUrl: `${world.emulator.url}/` },
    );
    await world.trigger('conn_content', 'incremental', { options: { include: ['content'] } });
    await world.waitForSyncs('conn_content', 2);
    const latest = world
      .records('conn_content')
      .filter((r) => r.resource_id === ids.smallDoc)
      .at(-1);
    expect(latest?.sync.mode).toBe('incremental');
    expect(latest?.payload).toBe('# Small doc\n\nhello again');
  });

  it('no record points at an object that is not stored, and every record fits the inline limit', async () => {
    const messages = world.reader.all(world.topics.records).filter((m) => m.key === 'conn_content');
    for (const message of messages)
      expect(Buffer.byteLength(message.value ?? '')).toBeLessThanOrEqual(262_144);
    const pointing = records.filter((r) => r.s3_url !== null);
    expect(pointing.length).toBeGreaterThanOrEqual(3);
    for (const record of pointing) {
      const key = (record.s3_url ?? '').slice(`s3://${s3.bucket}/`.length);
      const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
      expect(head.ContentLength).toBe(record.metadata.size_bytes);
    }
  });
});
