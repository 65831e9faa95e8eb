import { describe, expect, it } from 'vitest';
import type {
  DriveChange,
  DriveComment,
  DriveFile,
  DrivePermission,
} from '../../src/contract/drive-resources.js';
import { errorRecordSchema, type OutboundRecord, outboundRecordSchema } from '../../src/contract/records.js';
import {
  inlinePermissionsOf,
  recordsForChange,
  recordsForDrive,
  recordsForFile,
  recordsForListedFile,
} from '../../src/machines/normalize.js';
import {
  bodyDigest,
  buildErrorRecord,
  DEFAULT_INTEGRATION_ID,
  deleteRecord,
  type ErrorRecordInput,
  messageIdFor,
  type RecordContext,
  syncCheckpointRecord,
  withPayload,
} from '../../src/machines/records.js';

const ctx: RecordContext = {
  integrationId: DEFAULT_INTEGRATION_ID,
  connectionId: 'conn_abc',
  customerId: 'cust_123',
  mode: 'full',
  syncId: 'sync-1',
  cursor: '12345',
  now: new Date('2025-01-20T15:30:00Z'),
};

/** The file of CONTRACT.md's record example, as Drive returns it. */
const contractFile: DriveFile = {
  id: '1BxiMVs0XRA5nFMdKvBd',
  name: 'Document.docx',
  mimeType: 'application/vnd.google-apps.document',
  size: '12345',
  version: '17',
  createdTime: '2025-01-15T10:00:00Z',
  modifiedTime: '2025-01-20T15:30:00.000Z',
  parents: ['0AFolder'],
  permissionIds: ['p2', 'p1'],
  owners: [{ displayName: 'Ann', emailAddress: 'ann@example.com' }, { displayName: 'No Mail' }],
  webViewLink: 'https://docs.google.com/document/d/1BxiMVs0XRA5nFMdKvBd/edit',
  ownedByMe: true,
  shared: true,
};

const permissions: DrivePermission[] = [
  { id: 'p1', type: 'user', role: 'owner', emailAddress: 'ann@example.com', displayName: 'Ann' },
  { id: 'anyoneWithLink', type: 'anyone', role: 'reader', allowFileDiscovery: false },
];

const comments: DriveComment[] = [
  {
    id: 'c1',
    createdTime: '2025-01-16T09:00:00Z',
    modifiedTime: '2025-01-17T09:00:00Z',
    author: { displayName: 'Bob' },
    content: 'Looks good',
    replies: [
      { id: 'r1', createdTime: '2025-01-17T09:00:00Z', author: { displayName: 'Ann' }, content: 'Thanks' },
    ],
  },
];

const ownAndAnyone: DrivePermission[] = [
  { id: 'p2', type: 'anyone', role: 'reader' },
  { id: 'p1', type: 'user', role: 'owner' },
];

const valid = (records: readonly OutboundRecord[]) => {
  for (const r of records) expect(outboundRecordSchema.parse(r)).toEqual(r);
};

describe('file records', () => {
  it("match the contract's example field by field", () => {
    const [record] = recordsForFile(contractFile, { permissions: ownAndAnyone }, ctx) as [OutboundRecord];
    expect(record).toEqual({
      message_id: messageIdFor(
        'google-drive:conn_abc:file:1BxiMVs0XRA5nFMdKvBd',
        `upsert:${bodyDigest(record)}`,
      ),
      schema_version: 1,
      customer_id: 'cust_123',
      integration_id: 'google-drive',
      integration_connection_id: 'conn_abc',
      resource_type: 'file',
      resource_id: '1BxiMVs0XRA5nFMdKvBd',
      operation: 'upsert',
      idempotency_key: 'google-drive:conn_abc:file:1BxiMVs0XRA5nFMdKvBd',
      sync: { mode: 'full', sync_id: 'sync-1', cursor: '12345' },
      emitted_at: '2025-01-20T15:30:00.000Z',
      data: {
        id: '1BxiMVs0XRA5nFMdKvBd',
        type: 'file',
        name: 'Document.docx',
        mime_type: 'application/vnd.google-apps.document',
        size_bytes: 12345,
        created_at: '2025-01-15T10:00:00.000Z',
        modified_at: '2025-01-20T15:30:00.000Z',
        parents: ['0AFolder'],
        drive_id: null,
        trashed: false,
        explicitly_trashed: false,
        starred: false,
        shared: true,
        owned_by_me: true,
        owners: ['ann@example.com'],
        description: null,
        md5_checksum: null,
        head_revision_id: null,
        version: 17,
        web_view_link: 'https://docs.google.com/document/d/1BxiMVs0XRA5nFMdKvBd/edit',
        last_modifying_user: null,
        shortcut_target_id: null,
        shortcut_target_mime_type: null,
        permission_ids: ['p1', 'p2'],
      },
      payload: null,
      s3_url: null,
      metadata: {},
    });
    valid([record as OutboundRecord]);
  });

  it("calls a folder a folder in the files' key namespace, and takes the integration id from the context", () => {
    const [record] = recordsForFile(
      { id: 'fo1', name: 'Plans', mimeType: 'application/vnd.google-apps.folder', driveId: 'sd1' },
      { permissions: [] },
      { ...ctx, integrationId: 'gdrive-eu' },
    );
    expect(record).toMatchObject({
      resource_type: 'folder',
      idempotency_key: 'gdrive-eu:conn_abc:file:fo1',
      data: { type: 'folder', size_bytes: null, drive_id: 'sd1', shared: null, permission_ids: [] },
    });
  });

  it('leaves permission_ids out when the permissions were not read, rather than listing none', () => {
    const [record] = recordsForFile(contractFile, { revisions: [] }, ctx);
    expect(record?.data).not.toHaveProperty('permission_ids');
    expect(record?.data.drive_id).toBeNull();
    valid([record as OutboundRecord]);
  });

  it('gives children composite ids, replies after their comment, and lists fetched permissions on the file', () => {
    const records = recordsForFile(
      contractFile,
      { permissions, revisions: [{ id: 'v1', size: '10' }], comments },
      ctx,
    );
    expect(records.map((r) => [r.resource_type, r.resource_id])).toEqual([
      ['file', '1BxiMVs0XRA5nFMdKvBd'],
      ['permission', '1BxiMVs0XRA5nFMdKvBd:p1'],
      ['permission', '1BxiMVs0XRA5nFMdKvBd:anyoneWithLink'],
      ['revision', '1BxiMVs0XRA5nFMdKvBd:v1'],
      ['comment', '1BxiMVs0XRA5nFMdKvBd:c1'],
      ['reply', '1BxiMVs0XRA5nFMdKvBd:c1:r1'],
    ]);
    expect(records[0]?.data.permission_ids).toEqual(['anyoneWithLink', 'p1']);
    expect(records[1]).toMatchObject({
      idempotency_key: 'google-drive:conn_abc:permission:1BxiMVs0XRA5nFMdKvBd:p1',
      data: {
        id: 'p1',
        file_id: '1BxiMVs0XRA5nFMdKvBd',
        type: 'user',
        role: 'owner',
        email_address: 'ann@example.com',
      },
    });
    expect(records[3]?.data).toMatchObject({ size_bytes: 10, file_id: '1BxiMVs0XRA5nFMdKvBd' });
    expect(records[4]?.data).toMatchObject({ author: 'Bob', content: 'Looks good', reply_ids: ['r1'] });
    expect(records[5]?.data).toMatchObject({
      comment_id: 'c1',
      content: 'Thanks',
      created_at: '2025-01-17T09:00:00.000Z',
    });
    valid(records);
    expect(new Set(records.map((r) => r.message_id)).size).toBe(records.length);
  });

  it('derives the same message ids from the same input, and new ones when the resource changes', () => {
    const extras = { permissions, comments };
    const first = recordsForFile(contractFile, extras, ctx);
    const again = recordsForFile(contractFile, extras, { ...ctx, syncId: 'sync-2', now: new Date() });
    expect(again.map((r) => r.message_id)).toEqual(first.map((r) => r.message_id));

    const edited = recordsForFile({ ...contractFile, version: '18' }, extras, ctx);
    expect(edited[0]?.message_id).not.toBe(first[0]?.message_id);
    expect(edited[1]?.message_id).toBe(first[1]?.message_id);

    const demoted = recordsForFile(
      contractFile,
      { permissions: [{ ...permissions[0], role: 'writer' } as DrivePermission] },
      ctx,
    );
    expect(demoted[1]?.message_id).not.toBe(first[1]?.message_id);
  });

  it('gives a file a new message id when its permission_ids change without a version bump', () => {
    const [before] = recordsForFile(contractFile, { permissions }, ctx);
    const [after] = recordsForFile(contractFile, { permissions: permissions.slice(0, 1) }, ctx);
    expect(after?.data.version).toBe(before?.data.version);
    expect(after?.message_id).not.toBe(before?.message_id);
    // A re-send of the same body in another sync, at another time, keeps its id.
    const [resent] = recordsForFile(
      contractFile,
      { permissions: permissions.slice(0, 1) },
      { ...ctx, mode: 'incremental', syncId: 'sync-9', cursor: '99', now: new Date('2030-01-01T00:00:00Z') },
    );
    expect(resent?.message_id).toBe(after?.message_id);
  });

  it('reads inline permissions only when Drive gave all of them', () => {
    const inline = { ...contractFile, permissionIds: ['p1', 'anyoneWithLink'], permissions };
    expect(inlinePermissionsOf(inline)).toBe(permissions);
    expect(inlinePermissionsOf({ ...inline, permissionIds: ['p1', 'anyoneWithLink', 'p3'] })).toBeNull();
    expect(inlinePermissionsOf({ ...inline, driveId: 'sd1' })).toBeNull();
    expect(inlinePermissionsOf(contractFile)).toBeNull();
  });
});

describe('change records', () => {
  const incremental: RecordContext = { ...ctx, mode: 'incremental', cursor: '660' };
  const change = (over: Partial<DriveChange>): DriveChange => ({
    changeType: 'file',
    time: '2025-01-21T08:00:00.000Z',
    removed: false,
    ...over,
  });

  it('turns a removed file into a delete with minimal data and a replay-stable id', () => {
    const removed = change({ removed: true, fileId: 'gone' });
    const [record] = recordsForChange(removed, {}, incremental);
    expect(record).toMatchObject({
      resource_type: 'file',
      resource_id: 'gone',
      operation: 'delete',
      data: { id: 'gone', type: 'file' },
      sync: { mode: 'incremental', cursor: '660' },
    });
    expect(recordsForChange(removed, {}, { ...incremental, now: new Date() })[0]?.message_id).toBe(
      record?.message_id,
    );
    // The same removal listed again, later in the log (another time), is the same message.
    const relisted = change({ removed: true, fileId: 'gone', time: '2025-01-21T09:30:00.000Z' });
    expect(recordsForChange(relisted, {}, incremental)[0]?.message_id).toBe(record?.message_id);
    expect(record?.idempotency_key).toBe('google-drive:conn_abc:file:gone');
    valid([record as OutboundRecord]);
  });

  it('turns a trashed file or folder into a delete, in changes and in listings', () => {
    const trashedFolder: DriveFile = {
      id: 'fo2',
      name: 'Old',
      mimeType: 'application/vnd.google-apps.folder',
      trashed: true,
      version: '9',
    };
    const [fromChange] = recordsForChange(change({ fileId: 'fo2', file: trashedFolder }), {}, incremental);
    const [fromListing] = recordsForListedFile(trashedFolder, { permissions }, ctx);
    for (const r of [fromChange, fromListing])
      expect(r).toMatchObject({
        resource_type: 'folder',
        operation: 'delete',
        idempotency_key: 'google-drive:conn_abc:file:fo2',
        data: { id: 'fo2', type: 'folder', drive_id: null, version: 9 },
      });
    // The same trashed version is the same delete, whichever sync saw it.
    expect(fromChange?.message_id).toBe(fromListing?.message_id);
    // Trashed again after a restore: a new delete, not a duplicate of the first.
    const again = recordsForListedFile({ ...trashedFolder, version: '12' }, {}, ctx)[0];
    expect(again?.message_id).not.toBe(fromListing?.message_id);
    // A delete never shares an id with an upsert of the same key.
    const upsert = recordsForFile({ ...trashedFolder, trashed: false }, {}, ctx)[0];
    expect(upsert?.idempotency_key).toBe(fromListing?.idempotency_key);
    expect(upsert?.message_id).not.toBe(fromListing?.message_id);
  });

  it('upserts moves and renames with the refetched extras', () => {
    const moved = { ...contractFile, name: 'Renamed', parents: ['0ANew'], version: '20' };
    const records = recordsForChange(change({ fileId: moved.id, file: moved }), { permissions }, incremental);
    expect(records.map((r) => r.resource_type)).toEqual(['file', 'permission', 'permission']);
    expect(records[0]).toMatchObject({ operation: 'upsert', data: { name: 'Renamed', parents: ['0ANew'] } });
  });

  it('handles drive changes: upsert while visible, delete when removed', () => {
    const drive = { id: 'sd1', name: 'Team', createdTime: '2024-01-01T00:00:00Z', hidden: false };
    const [upsert] = recordsForChange(
      change({ changeType: 'drive', driveId: 'sd1', drive }),
      {},
      incremental,
    );
    expect(upsert).toMatchObject({
      resource_type: 'drive',
      resource_id: 'sd1',
      operation: 'upsert',
      data: {
        id: 'sd1',
        type: 'drive',
        name: 'Team',
        created_at: '2024-01-01T00:00:00.000Z',
        hidden: false,
        color_rgb: null,
      },
    });
    expect(recordsForDrive(drive, incremental)[0]?.message_id).toBe(upsert?.message_id);
    const [left] = recordsForChange(
      change({ changeType: 'drive', driveId: 'sd1', removed: true }),
      {},
      incremental,
    );
    expect(left).toMatchObject({
      resource_type: 'drive',
      operation: 'delete',
      idempotency_key: 'google-drive:conn_abc:drive:sd1',
      data: { id: 'sd1', type: 'drive', cascade: true },
    });
    expect(recordsForChange(change({ changeType: 'drive' }), {}, incremental)).toEqual([]);
  });
});

describe('sync_checkpoint, payload and error records', () => {
  it('closes a sync with its cursor and counts', () => {
    const record = syncCheckpointRecord(ctx, {
      syncId: 'sync-1',
      mode: 'full',
      cursor: '661',
      counts: { file: 3, folder: 1 },
      startedAt: '2025-01-20T15:00:00Z',
      finishedAt: '2025-01-20T15:30:00Z',
    });
    expect(record).toMatchObject({
      resource_type: 'sync_checkpoint',
      resource_id: 'sync-1',
      operation: 'upsert',
      idempotency_key: 'google-drive:conn_abc:sync_checkpoint:sync-1',
      sync: { mode: 'full', sync_id: 'sync-1', cursor: '661' },
      data: {
        id: 'sync-1',
        mode: 'full',
        cursor: '661',
        counts: { file: 3, folder: 1 },
        started_at: '2025-01-20T15:00:00.000Z',
        finished_at: '2025-01-20T15:30:00.000Z',
      },
    });
    valid([record]);
  });

  it('sets content inline or as an S3 pointer, each body its own message id', () => {
    const [record] = recordsForFile(contractFile, {}, ctx) as [OutboundRecord];
    const inline = withPayload(record, { kind: 'inline', content: 'hello' });
    expect(inline).toMatchObject({ payload: 'hello', s3_url: null, resource_id: record.resource_id });
    expect(inline.message_id).not.toBe(record.message_id);
    expect(withPayload(record, { kind: 'inline', content: 'hello' }).message_id).toBe(inline.message_id);
    expect(withPayload(record, { kind: 'inline', content: 'hello!' }).message_id).not.toBe(inline.message_id);
    const s3 = withPayload(record, {
      kind: 's3',
      bucket: 'b',
      key: 'k/1',
      sha256: 'abc',
      sizeBytes: 300_000,
      contentType: 'application/pdf',
    });
    expect(s3).toMatchObject({
      payload: null,
      s3_url: 's3://b/k/1',
      metadata: { sha256: 'abc', size_bytes: 300_000, content_type: 'application/pdf' },
    });
    valid([inline, s3]);
    expect(record.payload).toBeNull();
    expect(s3.message_id).not.toBe(record.message_id);
    const otherObject = withPayload(record, {
      kind: 's3',
      bucket: 'b',
      key: 'k/2',
      sha256: 'def',
      sizeBytes: 300_000,
      contentType: 'application/pdf',
    });
    expect(otherObject.message_id).not.toBe(s3.message_id);
  });

  it('builds error records per the contract, with an id derived from what identifies the failure', () => {
    const input: ErrorRecordInput = {
      integrationId: 'google-drive',
      connectionId: 'conn_abc',
      customerId: 'cust_123',
      failure: {
        classification: 'rate_limited' as const,
        code: 'userRateLimitExceeded',
        message: 'User Rate Limit Exceeded',
        retryable: true,
        httpStatus: 403,
      },
      source: { topic: 'integrations-inbound-trigger', partition: 3, offset: '1042', messageId: 'm-1' },
      resource: { type: 'file', id: 'f1' },
      attempt: 4,
      occurredAt: new Date('2025-01-20T15:31:00Z'),
      occasion: 'sync-1',
    };
    const record = buildErrorRecord(input);
    expect(errorRecordSchema.parse(record)).toEqual(record);
    expect(record).toMatchObject({
      schema_version: 1,
      error: {
        classification: 'rate_limited',
        code: 'userRateLimitExceeded',
        retryable: true,
        http_status: 403,
      },
      source: { topic: 'integrations-inbound-trigger', partition: 3, offset: '1042', message_id: 'm-1' },
      resource: { type: 'file', id: 'f1' },
      attempt: 4,
      occurred_at: '2025-01-20T15:31:00.000Z',
    });
    // Re-sent after a crash: another time, the same id.
    const resent = buildErrorRecord({ ...input, occurredAt: new Date('2025-01-20T16:00:00Z') });
    expect(resent.message_id).toBe(record.message_id);
    expect(buildErrorRecord({ ...input, attempt: 5 }).message_id).not.toBe(record.message_id);
    expect(buildErrorRecord({ ...input, occasion: 'sync-2' }).message_id).not.toBe(record.message_id);
    expect(buildErrorRecord({ ...input, resource: { type: 'file', id: 'f2' } }).message_id).not.toBe(
      record.message_id,
    );
    const otherCode = { ...input.failure, code: 'rateLimitExceeded' };
    expect(buildErrorRecord({ ...input, failure: otherCode }).message_id).not.toBe(record.message_id);
    expect(buildErrorRecord({ ...input, attempt: 0, source: null, resource: null })).toMatchObject({
      attempt: 1,
      source: null,
      resource: null,
    });
  });
});

describe('deletes', () => {
  it('carry the data they are given besides id and type, and a key in the namespace of their type', () => {
    const record = deleteRecord(ctx, 'drive', 'sd1', { cascade: true });
    expect(record).toMatchObject({
      idempotency_key: 'google-drive:conn_abc:drive:sd1',
      data: { id: 'sd1', type: 'drive', cascade: true },
    });
    expect(deleteRecord(ctx, 'folder', 'fo1').idempotency_key).toBe('google-drive:conn_abc:file:fo1');
  });

  it('digest the body whatever order its keys were built in, and without emitted_at or sync', () => {
    const a = deleteRecord(ctx, 'file', 'f1', { drive_id: 'sd1', version: 3 });
    const b = deleteRecord({ ...ctx, syncId: 'other', cursor: null, now: new Date(0) }, 'file', 'f1', {
      version: 3,
      drive_id: 'sd1',
    });
    expect(bodyDigest(a)).toBe(bodyDigest(b));
    expect(b.message_id).toBe(a.message_id);
  });
});
