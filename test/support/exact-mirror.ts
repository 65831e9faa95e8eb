import { expect } from 'vitest';
import { type OutboundRecord, outboundRecordSchema } from '../../src/contract/records.js';
import { FOLDER_MIME } from './drive-truth.js';
import type { WorkerWorld } from './worker-world.js';

/**
 * The strict form of the oracle: a consumer that applies the records exactly as
 * CONTRACT.md says, held to what the user's own client lists — ids, kinds AND each item's
 * `permission_ids` (inherited permissions included), with the permission records a
 * consumer keeps being exactly those. Rules applied:
 * - files and folders share one key per id (`file`);
 * - a file or folder delete ends the resources whose composite id starts with its id;
 * - a file record's `permission_ids` ends its other permissions (when present);
 * - a drive delete with `data.cascade` ends every item whose `drive_id` is that drive.
 */

export interface TruthItem {
  readonly id: string;
  readonly mimeType: string;
  readonly trashed: boolean;
  readonly driveId: string | null;
  readonly permissionIds: readonly string[];
}

export interface MirrorTruth {
  readonly items: readonly TruthItem[];
  readonly driveIds: readonly string[];
}

/** Everything the user sees (My Drive, shared drives, shared with me), through googleapis. */
export async function userSees(world: WorkerWorld, accessToken: string): Promise<MirrorTruth> {
  const { drive, auth } = world.driveAs(accessToken);
  const items: TruthItem[] = [];
  let pageToken: string | undefined;
  do {
    const page = await drive.files.list(
      {
        corpora: 'allDrives',
        includeItemsFromAllDrives: true,
        supportsAllDrives: true,
        pageSize: 1000,
        fields: 'nextPageToken,files(id,mimeType,trashed,driveId,permissionIds)',
        ...(pageToken ? { pageToken } : {}),
      },
      auth,
    );
    for (const f of page.data.files ?? []) {
      items.push({
        id: f.id as string,
        mimeType: f.mimeType as string,
        trashed: f.trashed === true,
        driveId: f.driveId ?? null,
        permissionIds: f.permissionIds ?? [],
      });
    }
    pageToken = page.data.nextPageToken ?? undefined;
  } while (pageToken);
  const drives = await drive.drives.list({ pageSize: 100, fields: 'drives(id)' }, auth);
  return { items, driveIds: (drives.data.drives ?? []).map((d) => d.id as string) };
}

/** The truth limited to a connection's `drive_ids` (null: everything). */
export function withinDrives(truth: MirrorTruth, driveIds: readonly string[] | null): MirrorTruth {
  if (driveIds === null) return truth;
  return {
    items: truth.items.filter((i) => i.driveId !== null && driveIds.includes(i.driveId)),
    driveIds: truth.driveIds.filter((id) => driveIds.includes(id)),
  };
}

/** What a consumer holds after applying `records` in order: live resources by key. */
export function applyRecords(records: readonly OutboundRecord[]): Map<string, OutboundRecord> {
  const state = new Map<string, OutboundRecord>();
  const keyOf = (r: OutboundRecord) =>
    `${r.resource_type === 'folder' ? 'file' : r.resource_type}:${r.resource_id}`;
  for (const record of records) {
    if (record.resource_type === 'sync_checkpoint') continue;
    const key = keyOf(record);
    if (record.operation === 'delete') {
      state.delete(key);
      if (record.resource_type === 'file' || record.resource_type === 'folder') {
        for (const [k, r] of state) if (r.resource_id.startsWith(`${record.resource_id}:`)) state.delete(k);
      }
      if (record.resource_type === 'drive' && record.data.cascade === true) {
        for (const [k, r] of state) if (r.data.drive_id === record.resource_id) state.delete(k);
      }
      continue;
    }
    state.set(key, record);
    const permissionIds = record.data.permission_ids;
    if (
      (record.resource_type === 'file' || record.resource_type === 'folder') &&
      Array.isArray(permissionIds)
    ) {
      for (const [k, r] of state) {
        if (r.resource_type !== 'permission') continue;
        const [fileId, permissionId] = r.resource_id.split(':');
        if (fileId === record.resource_id && !permissionIds.includes(permissionId)) state.delete(k);
      }
    }
  }
  return state;
}

/** Nothing missing, nothing stale, nothing live that Drive does not show. */
export function expectExactMirror(records: readonly OutboundRecord[], truth: MirrorTruth): void {
  for (const r of records) expect(outboundRecordSchema.safeParse(r).success).toBe(true);
  const live = [...applyRecords(records).values()];
  const idsOf = (type: string) =>
    live
      .filter((r) => r.resource_type === type)
      .map((r) => r.resource_id)
      .sort();
  const visible = truth.items.filter((i) => !i.trashed);
  expect(idsOf('file')).toEqual(
    visible
      .filter((i) => i.mimeType !== FOLDER_MIME)
      .map((i) => i.id)
      .sort(),
  );
  expect(idsOf('folder')).toEqual(
    visible
      .filter((i) => i.mimeType === FOLDER_MIME)
      .map((i) => i.id)
      .sort(),
  );
  expect(idsOf('drive')).toEqual([...truth.driveIds].sort());
  const stalePermissions: string[] = [];
  const permissionsOf = new Map<string, string[]>();
  for (const p of live.filter((r) => r.resource_type === 'permission')) {
    const [fileId, permissionId] = p.resource_id.split(':') as [string, string];
    permissionsOf.set(fileId, [...(permissionsOf.get(fileId) ?? []), permissionId]);
  }
  const byId = new Map(live.map((r) => [r.resource_id, r]));
  for (const item of visible) {
    const record = byId.get(item.id);
    const recorded = [...((record?.data.permission_ids as string[] | undefined) ?? [])].sort();
    const expected = [...item.permissionIds].sort();
    const held = [...(permissionsOf.get(item.id) ?? [])].sort();
    if (
      JSON.stringify(recorded) !== JSON.stringify(expected) ||
      JSON.stringify(held) !== JSON.stringify(expected)
    )
      stalePermissions.push(`${item.id}: drive ${expected} record ${recorded} held ${held}`);
  }
  expect(stalePermissions).toEqual([]);
}
