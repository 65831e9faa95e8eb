import { expect } from 'vitest';
import { type OutboundRecord, outboundRecordSchema } from '../../src/contract/records.js';
import type { WorkerWorld } from './worker-world.js';

export const FOLDER_MIME = 'application/vnd.google-apps.folder';

export interface VisibleItem {
  readonly id: string;
  readonly mimeType: string;
  readonly trashed: boolean;
  readonly permissionIds: readonly string[];
}

/** What a user's Drive holds, as the user's own client lists it: the truth a sync is held to. */
export interface DriveTruth {
  readonly files: readonly VisibleItem[];
  readonly driveIds: readonly string[];
}

/** Every item and shared drive the user sees (My Drive, shared drives, shared with me), through googleapis. */
export async function visibleTo(world: WorkerWorld, accessToken: string): Promise<DriveTruth> {
  const { drive, auth } = world.driveAs(accessToken);
  const files: VisibleItem[] = [];
  let pageToken: string | undefined;
  do {
    const page = await drive.files.list(
      {
        corpora: 'allDrives',
        includeItemsFromAllDrives: true,
        supportsAllDrives: true,
        pageSize: 1000,
        fields: 'nextPageToken,files(id,mimeType,trashed,permissionIds)',
        ...(pageToken ? { pageToken } : {}),
      },
      auth,
    );
    for (const f of page.data.files ?? []) {
      files.push({
        id: f.id as string,
        mimeType: f.mimeType as string,
        trashed: f.trashed === true,
        permissionIds: f.permissionIds ?? [],
      });
    }
    pageToken = page.data.nextPageToken ?? undefined;
  } while (pageToken);
  const drives = await drive.drives.list({ pageSize: 100, fields: 'drives(id)' }, auth);
  return { files, driveIds: (drives.data.drives ?? []).map((d) => d.id as string) };
}

/**
 * What a consumer of the records topic holds after applying records in order: the last
 * record of each resource. Files and folders share one key per id, because a removal is a
 * `file` delete even for a folder.
 */
export function finalState(records: readonly OutboundRecord[]): Map<string, OutboundRecord> {
  const state = new Map<string, OutboundRecord>();
  for (const record of records) {
    if (record.resource_type === 'sync_checkpoint') continue;
    const type = record.resource_type === 'folder' ? 'file' : record.resource_type;
    state.set(`${type}:${record.resource_id}`, record);
  }
  return state;
}

/**
 * A connection's records, applied in order, hold exactly the user's Drive: every live file,
 * folder and shared drive upserted and nothing else, each file's permissions exactly those
 * its `permission_ids` names (composite ids), every record valid against the contract.
 * Duplicates are allowed (a retried page sends its records again); the final state is judged.
 */
export function expectRecordsMatchDrive(records: readonly OutboundRecord[], truth: DriveTruth): void {
  for (const r of records) expect(outboundRecordSchema.safeParse(r).success).toBe(true);
  const live = [...finalState(records).values()].filter((r) => r.operation === 'upsert');
  const idsOf = (type: string) =>
    live
      .filter((r) => r.resource_type === type)
      .map((r) => r.resource_id)
      .sort();
  const liveItems = truth.files.filter((f) => !f.trashed);
  expect(idsOf('file')).toEqual(
    liveItems
      .filter((f) => f.mimeType !== FOLDER_MIME)
      .map((f) => f.id)
      .sort(),
  );
  expect(idsOf('folder')).toEqual(
    liveItems
      .filter((f) => f.mimeType === FOLDER_MIME)
      .map((f) => f.id)
      .sort(),
  );
  expect(idsOf('drive')).toEqual([...truth.driveIds].sort());

  const permissionsOf = new Map<string, string[]>();
  for (const p of live.filter((r) => r.resource_type === 'permission')) {
    const [fileId, permissionId] = p.resource_id.split(':') as [string, string];
    permissionsOf.set(fileId, [...(permissionsOf.get(fileId) ?? []), permissionId]);
  }
  for (const item of live.filter((r) => r.resource_type === 'file' || r.resource_type === 'folder')) {
    expect((permissionsOf.get(item.resource_id) ?? []).sort()).toEqual(
      [...(item.data.permission_ids as string[])].sort(),
    );
  }
}
