import type { ConsumerState } from '../contract/consumer-state.js';
import {
  type ErrorRecord,
  errorRecordSchema,
  type OutboundRecord,
  outboundRecordSchema,
} from '../contract/records.js';

/**
 * Records and error records as one readable line each, for people watching a topic (the
 * records CLI, the demo). Pure: no I/O, no clock.
 */

const LABEL_MAX_CHARS = 60;

function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function truncated(value: string): string {
  const oneLine = value.replace(/\s+/g, ' ').trim();
  return oneLine.length > LABEL_MAX_CHARS ? `${oneLine.slice(0, LABEL_MAX_CHARS - 1)}…` : oneLine;
}

/** What a person recognises a resource by: a name, a comment's text, a permission's grantee. */
export function labelOf(record: OutboundRecord): string | null {
  const data = record.data;
  switch (record.resource_type) {
    case 'file':
    case 'folder':
    case 'drive':
      return text(data.name);
    case 'permission': {
      const grantee = text(data.email_address) ?? text(data.domain) ?? text(data.type);
      const role = text(data.role);
      return role && grantee ? `${role} ${grantee}` : (role ?? grantee);
    }
    case 'comment':
    case 'reply':
      return text(data.content);
    case 'revision':
      return text(data.modified_at);
    case 'sync_checkpoint': {
      const counts = data.counts;
      if (typeof counts !== 'object' || counts === null) return null;
      const parts = Object.entries(counts as Record<string, unknown>)
        .filter(([, n]) => typeof n === 'number')
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([type, n]) => `${type} ${n}`);
      return parts.length > 0 ? parts.join(', ') : null;
    }
  }
}

/** `2026-01-01T00:00:00.000Z conn_1 full        upsert file            1AbC "Plan.docx" cursor=42` */
export function recordLine(record: OutboundRecord): string {
  const label = labelOf(record);
  const shown = label === null ? '' : ` ${JSON.stringify(truncated(label))}`;
  const where = record.s3_url
    ? ` payload=${record.s3_url}`
    : record.payload !== null
      ? ' payload=inline'
      : '';
  const cursor = record.sync.cursor ? ` cursor=${record.sync.cursor}` : '';
  // A cascading delete ends more than its own resource (CONTRACT.md): say so.
  const cascade = record.operation === 'delete' && record.data.cascade === true ? ' cascade' : '';
  return `${record.emitted_at} ${record.integration_connection_id} ${record.sync.mode.padEnd(11)} ${record.operation.padEnd(6)} ${record.resource_type.padEnd(15)} ${record.resource_id}${shown}${cascade}${where}${cursor}`;
}

/** `2026-01-01T00:00:00.000Z conn_1 error       rate_limited/userRateLimitExceeded retryable attempt=2 file:1AbC "…"` */
export function errorLine(error: ErrorRecord): string {
  const { classification, code, retryable, message } = error.error;
  const resource = error.resource ? ` ${error.resource.type}:${error.resource.id}` : '';
  const source = error.source
    ? ` from=${error.source.topic}[${error.source.partition}]@${error.source.offset}`
    : '';
  return `${error.occurred_at} ${error.integration_connection_id ?? '-'} ${'error'.padEnd(11)} ${classification}/${code} ${retryable ? 'retryable' : 'final'} attempt=${error.attempt}${resource}${source} ${JSON.stringify(truncated(message))}`;
}

export interface MessageSummary {
  /** The connection the message is about: the record's, else the message key. */
  readonly connectionId: string | null;
  readonly line: string;
}

/**
 * One message of a records or errors topic, checked against the contract's schemas: a
 * record or an error record gets its line; anything else says why it is neither, so a
 * malformed message is visible rather than skipped.
 */
export function summarizeMessage(key: string | null, value: string | null): MessageSummary {
  const keyShown = key ?? '-';
  if (value === null) return { connectionId: key, line: `tombstone key=${keyShown}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { connectionId: key, line: `unreadable key=${keyShown}: not JSON` };
  }
  const record = outboundRecordSchema.safeParse(parsed);
  if (record.success)
    return { connectionId: record.data.integration_connection_id, line: recordLine(record.data) };
  const error = errorRecordSchema.safeParse(parsed);
  if (error.success)
    return { connectionId: error.data.integration_connection_id ?? key, line: errorLine(error.data) };
  const issue = record.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return {
    connectionId: key,
    line: `unreadable key=${keyShown}: not a record (${where}${issue?.message ?? 'schema mismatch'})`,
  };
}

/** A message's value as a contract record, or null when it is none (an error record, a tombstone, junk). */
export function recordOf(value: string | null): OutboundRecord | null {
  if (value === null) return null;
  try {
    const parsed = outboundRecordSchema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * What a consumer that applied the records as the contract says holds, one line per
 * connection: `conn_1 holds drive 2, file 120, folder 30, permission 310`.
 */
export function heldLines(state: ConsumerState): string[] {
  const byConnection = new Map<string, Map<string, number>>();
  for (const record of state.records()) {
    const counts = byConnection.get(record.integration_connection_id) ?? new Map<string, number>();
    counts.set(record.resource_type, (counts.get(record.resource_type) ?? 0) + 1);
    byConnection.set(record.integration_connection_id, counts);
  }
  return [...byConnection]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([connectionId, counts]) => {
      const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `${type} ${n}`);
      return `${connectionId} holds ${parts.join(', ')}`;
    });
}
