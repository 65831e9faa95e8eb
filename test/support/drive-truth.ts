import { expect } from 'vitest';
import { ConsumerState, fileIdOf } from '../../src/contract/consumer-state.js';
import { type OutboundRecord, outboundRecordSchema } from '../../src/contract/records.js';
import type { WorkerWorld } from './worker-world.js';

export const FOLDER_MIME = 'application/vnd.google-apps.folder';

export interface VisibleItem {
  readonly id: string;
  readonly mimeType: string;
  readonly trashed: boolean;
  /** The shared drive holding the item; null in My Drive (or shared with the user). */
  readonly driveId: string | null;
  readonly permissionIds: readonly string[];
}

/** What a user's Drive holds, as the user's own client lists it: the truth a sync is held to. */
export interface DriveTruth {
  readonly files: readonly VisibleItem[];
  readonly driveIds: readonly string[];
}

/** Every item and shared drive the user sees (My Drive, shared drives, shared with me), through googleapis. */
export async function visibleTo(
  world: Pick<WorkerWorld, 'driveAs'>,
  accessToken: string,
): Promise<DriveTruth> {
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
        fields: 'nextPageToken,files(id,mimeType,trashed,driveId,permissionIds)',
        ...(pageToken ? { pageToken } : {}),
      },
      auth,
    );
    for (const f of page.data.files ?? []) {
      files.push({
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
  return { files, driveIds: (drives.data.drives ?? []).map((d) => d.id as string) };
}

/** The truth limited to a connection's `drive_ids` (null: everything). */
export function withinDrives(truth: DriveTruth, driveIds: readonly string[] | null): DriveTruth {
  if (driveIds === null) return truth;
  return {
    files: truth.files.filter((f) => f.driveId !== null && driveIds.includes(f.driveId)),
    driveIds: truth.driveIds.filter((id) => driveIds.includes(id)),
  };
}

/**
 * What a consumer of the records topic holds after applying records in order, as the
 * contract says (src/contract/consumer-state.ts: shared file namespace, cascades,
 * `permission_ids`), keyed by idempotency key.
 */
export function finalState(records: readonly OutboundRecord[]): Map<string, OutboundRecord> {
  return new Map(
    new ConsumerState()
      .applyAll(records)
      .records()
      .map((r) => [r.idempotency_key, r]),
  );
}

/**
 * A connection's records, applied in order as the contract says, hold exactly the user's
 * Drive: every live file, folder and shared drive and nothing else, each item's permissions
 * exactly those Drive lists for it, and no permission, revision, comment or reply of an item
 * that is not held; every record valid against the contract. Duplicates are allowed (a
 * retried page sends its records again); the final state is judged.
 */
export function expectRecordsMatchDrive(records: readonly OutboundRecord[], truth: DriveTruth): void {
  for (const r of records) expect(outboundRecordSchema.safeParse(r).success).toBe(true);
  const held = [...finalState(records).values()];
  const idsOf = (type: string) =>
    held
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

  const heldItems = new Set([...idsOf('file'), ...idsOf('folder')]);
  for (const type of ['permission', 'revision', 'comment', 'reply']) {
    const orphans = idsOf(type).filter((id) => !heldItems.has(fileIdOf(id)));
    expect(orphans, `${type}s of items no longer held`).toEqual([]);
  }
  const permissionsOf = new Map<string, string[]>();
  for (const id of idsOf('permission')) {
    const fileId = fileIdOf(id);
    permissionsOf.set(fileId, [...(permissionsOf.get(fileId) ?? []), id.slice(fileId.length + 1)]);
  }
  for (const item of liveItems) {
    expect(
      { item: item.id, permissions: (permissionsOf.get(item.id) ?? []).sort() },
      'the permissions held for an item are those Drive lists',
    ).toEqual({ item: item.id, permissions: [...item.permissionIds].sort() });
  }
}
