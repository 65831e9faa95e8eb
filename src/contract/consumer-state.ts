import type { OutboundRecord } from './records.js';

/**
 * What a consumer of the records topic holds after applying records in order, exactly as
 * CONTRACT.md ("Outbound: record") says to: the one reference reading of the amended rules,
 * for the tests' oracle and for anyone checking a topic by hand. Pure.
 *
 * - An upsert replaces what its `idempotency_key` held; a delete ends it. Files and folders
 *   share the `file` namespace, so a folder's upsert and a `file` delete of its id meet.
 * - A file or folder delete also ends the resources whose composite id starts with its id
 *   (permissions, revisions, comments, replies); not the items inside a folder.
 * - A `drive` delete with `data.cascade: true` ends the drive, every file and folder whose
 *   `drive_id` is that drive, and their composite children.
 * - A file or folder upsert listing `permission_ids` ends that item's permissions it does not
 *   list; without the field, they are kept.
 * - `sync_checkpoint` records are bookkeeping, not resources: never held.
 */

const FILE_CHILD_TYPES = new Set(['permission', 'revision', 'comment', 'reply']);
const isFileOrFolder = (record: OutboundRecord) =>
  record.resource_type === 'file' || record.resource_type === 'folder';

export class ConsumerState {
  private readonly held = new Map<string, OutboundRecord>();

  /** Applies records in the order they were read from one partition. */
  applyAll(records: Iterable<OutboundRecord>): this {
    for (const record of records) this.apply(record);
    return this;
  }

  apply(record: OutboundRecord): void {
    if (record.resource_type === 'sync_checkpoint') return;
    if (record.operation === 'upsert') {
      this.held.set(record.idempotency_key, record);
      const listed = record.data.permission_ids;
      if (isFileOrFolder(record) && Array.isArray(listed)) {
        const keep = new Set(listed.map((id) => `${record.resource_id}:${String(id)}`));
        this.endWhere(
          (held) =>
            sameConnection(held, record) &&
            held.resource_type === 'permission' &&
            isChildOf(held, record.resource_id) &&
            !keep.has(held.resource_id),
        );
      }
      return;
    }
    this.held.delete(record.idempotency_key);
    if (isFileOrFolder(record)) {
      this.endChildrenOf(record, new Set([record.resource_id]));
    } else if (record.resource_type === 'drive' && record.data.cascade === true) {
      const ended = new Set<string>();
      this.endWhere((held) => {
        const inDrive =
          sameConnection(held, record) && isFileOrFolder(held) && held.data.drive_id === record.resource_id;
        if (inDrive) ended.add(held.resource_id);
        return inDrive;
      });
      this.endChildrenOf(record, ended);
    }
  }

  /** Every resource held, in no particular order. */
  records(): OutboundRecord[] {
    return [...this.held.values()];
  }

  /** The resources of one type held for one connection. */
  ofType(connectionId: string, type: OutboundRecord['resource_type']): OutboundRecord[] {
    return this.records().filter(
      (r) => r.integration_connection_id === connectionId && r.resource_type === type,
    );
  }

  private endChildrenOf(cause: OutboundRecord, fileIds: ReadonlySet<string>): void {
    if (fileIds.size === 0) return;
    this.endWhere(
      (held) =>
        sameConnection(held, cause) &&
        FILE_CHILD_TYPES.has(held.resource_type) &&
        fileIds.has(fileIdOf(held.resource_id)),
    );
  }

  private endWhere(ends: (held: OutboundRecord) => boolean): void {
    for (const [key, held] of this.held) if (ends(held)) this.held.delete(key);
  }
}

/** The file a composite id belongs to: Drive ids hold no `:`, so it is the first part. */
export function fileIdOf(compositeId: string): string {
  const end = compositeId.indexOf(':');
  return end === -1 ? compositeId : compositeId.slice(0, end);
}

function isChildOf(record: OutboundRecord, fileId: string): boolean {
  return fileIdOf(record.resource_id) === fileId;
}

function sameConnection(a: OutboundRecord, b: OutboundRecord): boolean {
  return a.integration_id === b.integration_id && a.integration_connection_id === b.integration_connection_id;
}
