import { describe, expect, it } from 'vitest';
import { ConsumerState } from '../../src/contract/consumer-state.js';
import type { DriveFile, DrivePermission } from '../../src/contract/drive-resources.js';
import type { OutboundRecord } from '../../src/contract/records.js';
import { recordsForChange, recordsForDrive, recordsForFile } from '../../src/machines/normalize.js';
import { DEFAULT_INTEGRATION_ID, type RecordContext } from '../../src/machines/records.js';

const ctx: RecordContext = {
  integrationId: DEFAULT_INTEGRATION_ID,
  connectionId: 'conn_a',
  customerId: 'cust_a',
  mode: 'incremental',
  syncId: 'sync-1',
  cursor: '10',
  now: new Date('2026-01-01T00:00:00Z'),
};

const FOLDER = 'application/vnd.google-apps.folder';
const folder: DriveFile = { id: 'fo1', name: 'Team', mimeType: FOLDER, version: '3' };
const doc = (id: string, over: Partial<DriveFile> = {}): DriveFile => ({
  id,
  name: `${id}.txt`,
  mimeType: 'text/plain',
  parents: ['fo1'],
  version: '5',
  ...over,
});
const perm = (id: string): DrivePermission => ({ id, type: 'user', role: 'reader' });
const withChildren = (file: DriveFile, c = ctx) =>
  recordsForFile(
    file,
    {
      permissions: [perm('p1'), perm('p2')],
      revisions: [{ id: 'v1' }],
      comments: [{ id: 'c1', replies: [{ id: 'r1' }] }],
    },
    c,
  );
const removal = (fileId: string, c = ctx) =>
  recordsForChange({ changeType: 'file', time: '2026-01-02T00:00:00Z', removed: true, fileId }, {}, c);
const held = (state: ConsumerState, connectionId = 'conn_a') =>
  state
    .records()
    .filter((r) => r.integration_connection_id === connectionId)
    .map((r) => `${r.resource_type}:${r.resource_id}`)
    .sort();

describe('a consumer applying records as the contract says', () => {
  it('ends a folder with a delete typed file: one namespace for files and folders', () => {
    const state = new ConsumerState().applyAll([...recordsForFile(folder, {}, ctx), ...removal('fo1')]);
    expect(removal('fo1')[0]?.resource_type).toBe('file');
    expect(held(state)).toEqual([]);
  });

  it("ends a file's permissions, revisions, comments and replies with it, not the items inside a folder", () => {
    const state = new ConsumerState().applyAll([
      ...withChildren(folder),
      ...withChildren(doc('f1')),
      ...withChildren(doc('f2')),
    ]);
    state.applyAll([...removal('f1'), ...removal('fo1')]);
    expect(held(state)).toEqual([
      'comment:f2:c1',
      'file:f2',
      'permission:f2:p1',
      'permission:f2:p2',
      'reply:f2:c1:r1',
      'revision:f2:v1',
    ]);
  });

  it('ends everything of a lost shared drive on a cascading drive delete, and nothing else', () => {
    const drive = { id: 'sd1', name: 'Shared' };
    const state = new ConsumerState().applyAll([
      ...recordsForDrive(drive, ctx),
      ...recordsForDrive({ id: 'sd2', name: 'Other' }, ctx),
      ...withChildren({ ...folder, driveId: 'sd1' }),
      ...withChildren(doc('in1', { driveId: 'sd1' })),
      ...withChildren(doc('in2', { driveId: 'sd2' })),
      ...withChildren(doc('mine')),
      // another connection's copy of the same drive stays
      ...withChildren(doc('in1', { driveId: 'sd1' }), { ...ctx, connectionId: 'conn_b' }),
    ]);
    const [lost] = recordsForChange(
      { changeType: 'drive', time: '2026-01-02T00:00:00Z', removed: true, driveId: 'sd1' },
      {},
      ctx,
    );
    expect(lost?.data).toEqual({ id: 'sd1', type: 'drive', cascade: true });
    state.apply(lost as OutboundRecord);
    expect(held(state).filter((k) => k.includes('sd1') || k.includes('in1') || k.includes('fo1'))).toEqual(
      [],
    );
    expect(held(state)).toContain('file:in2');
    expect(held(state)).toContain('permission:mine:p1');
    expect(held(state)).toContain('drive:sd2');
    expect(held(state, 'conn_b')).toContain('permission:in1:p1');
  });

  it('keeps the drive’s items on a drive delete without cascade', () => {
    const state = new ConsumerState().applyAll([
      ...recordsForDrive({ id: 'sd1', name: 'Shared' }, ctx),
      ...recordsForFile(doc('in1', { driveId: 'sd1' }), {}, ctx),
    ]);
    const plain = { ...(recordsForDrive({ id: 'sd1', name: 'Shared' }, ctx)[0] as OutboundRecord) };
    state.apply({ ...plain, operation: 'delete', data: { id: 'sd1', type: 'drive' } });
    expect(held(state)).toEqual(['file:in1']);
  });

  it('drops the permissions a file record no longer lists, and keeps them when it lists none at all', () => {
    const state = new ConsumerState().applyAll(withChildren(doc('f1')));
    // permissions unreadable: no permission_ids, nothing dropped
    state.applyAll(recordsForFile(doc('f1', { version: '6' }), {}, ctx));
    expect(held(state).filter((k) => k.startsWith('permission'))).toEqual([
      'permission:f1:p1',
      'permission:f1:p2',
    ]);
    state.applyAll(recordsForFile(doc('f1', { version: '6' }), { permissions: [perm('p2')] }, ctx));
    expect(held(state).filter((k) => k.startsWith('permission'))).toEqual(['permission:f1:p2']);
    state.applyAll(recordsForFile(doc('f1', { version: '7' }), { permissions: [] }, ctx));
    expect(held(state).filter((k) => k.startsWith('permission'))).toEqual([]);
  });

  it('holds no sync_checkpoint', () => {
    const state = new ConsumerState().applyAll(recordsForFile(doc('f1'), {}, ctx));
    expect(state.ofType('conn_a', 'file')).toHaveLength(1);
    expect(held(state)).toEqual(['file:f1']);
  });
});
