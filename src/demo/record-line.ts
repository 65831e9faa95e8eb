import type { OutboundRecord } from '../contract/records.js';

/** One record as a readable line for people watching the records topic. */
export function recordLine(record: OutboundRecord): string {
  const name = typeof record.data.name === 'string' ? ` "${record.data.name}"` : '';
  const where = record.s3_url
    ? ` payload=${record.s3_url}`
    : record.payload !== null
      ? ' payload=inline'
      : '';
  const cursor = record.sync.cursor ? ` cursor=${record.sync.cursor}` : '';
  return `${record.emitted_at} ${record.integration_connection_id} ${record.sync.mode.padEnd(11)} ${record.operation.padEnd(6)} ${record.resource_type.padEnd(15)} ${record.resource_id}${name}${where}${cursor}`;
}
