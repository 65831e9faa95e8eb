import { describe, expect, it } from 'vitest';
import { heldLines, recordLine, recordOf, summarizeMessage } from '../../src/cli/record-line.js';
import { ConsumerState } from '../../src/contract/consumer-state.js';
import type { OutboundRecord } from '../../src/contract/records.js';
import { recordsForFile } from '../../src/machines/normalize.js';
import {
  buildErrorRecord,
  deleteRecord,
  type RecordContext,
  syncCheckpointRecord,
} from '../../src/machines/records.js';

const ctx: RecordContext = {
  integrationId: 'google-drive',
  connectionId: 'conn_1',
  customerId: 'cust_1',
  mode: 'full',
  syncId: 'sync_1',
  cursor: '42',
  now: new Date('2026-01-02T03:04:05.000Z'),
};

/** Records as the worker's own normalizer makes them, so the lines are judged on real shapes. */
function recordsOfOneFile(): OutboundRecord[] {
  return recordsForFile(
    {
      id: 'file1',
      name: 'Plan "Q3"',
      mimeType: 'application/vnd.google-apps.document',
      modifiedTime: '2026-01-01T00:00:00.000Z',
      version: '7',
    },
    {
      permissions: [{ id: 'perm1', type: 'user', role: 'writer', emailAddress: 'bo@example.com' }],
      revisions: [{ id: 'rev1', modifiedTime: '2026-01-01T00:00:00.000Z' }],
      comments: [
        {
          id: 'c1',
          content: 'Looks good,\nship it',
          replies: [{ id: 'r1', content: 'x'.repeat(100) }],
        },
      ],
    },
    ctx,
  );
}

const lineOf = (record: OutboundRecord) => summarizeMessage('conn_1', JSON.stringify(record));

describe('record lines', () => {
  it('name each resource by what people recognise it by, after time, connection, mode, operation, type and id', () => {
    const [file, permission, revision, comment, reply] = recordsOfOneFile();
    if (!file || !permission || !revision || !comment || !reply) throw new Error('five records expected');
    expect(recordLine(file)).toBe(
      '2026-01-02T03:04:05.000Z conn_1 full        upsert file            file1 "Plan \\"Q3\\"" cursor=42',
    );
    expect(recordLine(permission)).toContain(' permission      file1:perm1 "writer bo@example.com"');
    expect(recordLine(revision)).toContain(' revision        file1:rev1 "2026-01-01T00:00:00.000Z"');
    // Multi-line and long texts stay on one line, cut at 60 characters.
    expect(recordLine(comment)).toContain(' comment         file1:c1 "Looks good, ship it"');
    expect(recordLine(reply)).toContain(` reply           file1:c1:r1 "${'x'.repeat(59)}…"`);
  });

  it('show deletes without a label and sync checkpoints with their counts', () => {
    expect(recordLine(deleteRecord(ctx, 'file', 'gone1'))).toBe(
      '2026-01-02T03:04:05.000Z conn_1 full        delete file            gone1 cursor=42',
    );
    // A lost shared drive says that everything in it went with it.
    expect(recordLine(deleteRecord(ctx, 'drive', 'sd1', { cascade: true }))).toBe(
      '2026-01-02T03:04:05.000Z conn_1 full        delete drive           sd1 cascade cursor=42',
    );
    const checkpoint = syncCheckpointRecord(ctx, {
      syncId: 'sync_1',
      mode: 'full',
      cursor: '57',
      counts: { folder: 3, file: 12 },
      startedAt: '2026-01-02T03:00:00.000Z',
      finishedAt: '2026-01-02T03:04:05.000Z',
    });
    expect(recordLine(checkpoint)).toContain(' sync_checkpoint sync_1 "file 12, folder 3" cursor=57');
  });
});

describe('summarizeMessage', () => {
  it('parses records with the contract schema and tells whose they are', () => {
    const [file] = recordsOfOneFile();
    if (!file) throw new Error('no record');
    expect(lineOf(file)).toEqual({ connectionId: 'conn_1', line: recordLine(file) });
  });

  it('prints error records with classification, code, finality and resource', () => {
    const error = buildErrorRecord({
      integrationId: 'google-drive',
      connectionId: 'conn_2',
      customerId: 'cust_2',
      failure: {
        classification: 'rate_limited',
        code: 'userRateLimitExceeded',
        message: 'slow down',
        retryable: true,
        httpStatus: 403,
      },
      source: null,
      resource: { type: 'file', id: 'file1' },
      attempt: 3,
      occasion: 'sync_1',
      occurredAt: new Date('2026-01-02T03:04:05.000Z'),
    });
    expect(summarizeMessage('conn_2', JSON.stringify(error))).toEqual({
      connectionId: 'conn_2',
      line: '2026-01-02T03:04:05.000Z conn_2 error       rate_limited/userRateLimitExceeded retryable attempt=3 file:file1 "slow down"',
    });
  });

  it('says why a message is not a record instead of skipping it, keyed by the message key', () => {
    expect(summarizeMessage('conn_3', null)).toEqual({
      connectionId: 'conn_3',
      line: 'tombstone key=conn_3',
    });
    expect(summarizeMessage('conn_3', '{nope')).toEqual({
      connectionId: 'conn_3',
      line: 'unreadable key=conn_3: not JSON',
    });
    const [file] = recordsOfOneFile();
    const wrong = { ...file, resource_type: 'spreadsheet' };
    expect(summarizeMessage(null, JSON.stringify(wrong)).line).toMatch(
      /^unreadable key=-: not a record \(resource_type: /,
    );
  });
});

describe('the records CLI with --state', () => {
  it('reads only contract records, and prints what a consumer applying them holds per connection', () => {
    const records = recordsOfOneFile();
    expect(recordOf(JSON.stringify(records[0]))).toEqual(records[0]);
    expect(recordOf('{not json')).toBeNull();
    expect(recordOf(null)).toBeNull();
    const state = new ConsumerState().applyAll(records);
    const before = heldLines(state);
    expect(before).toHaveLength(1);
    expect(before[0]).toMatch(/^conn_1 holds .*file 1/);
    // the file's delete ends its children too
    const file = records[0] as OutboundRecord;
    state.apply(deleteRecord(ctx, 'file', file.resource_id));
    expect(heldLines(state)).toEqual([]);
  });
});
