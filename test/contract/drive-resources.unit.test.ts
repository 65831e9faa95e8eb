import { describe, expect, it } from 'vitest';
import {
  CHANGE_LIST_FIELDS,
  CHANNEL_FIELDS,
  COMMENT_LIST_FIELDS,
  changeListSchema,
  commentListSchema,
  DRIVE_LIST_FIELDS,
  driveFileSchema,
  FILE_FIELDS,
  FILE_LIST_FIELDS,
  fileListSchema,
  PERMISSION_LIST_FIELDS,
  REPLY_LIST_FIELDS,
  REVISION_LIST_FIELDS,
  START_PAGE_TOKEN_FIELDS,
} from '../../src/contract/drive-resources.js';
// The emulator's field validator knows every Drive v3 field name, generated from googleapis's
// drive_v3 declarations: a selector it refuses would be a 400 "Invalid field selection" from Drive.
import { type FieldMask, parseFields, type ResourceKind, validateFields } from '../../src/emulator/fields.js';

const listSelectors: ReadonlyArray<readonly [string, string, ResourceKind]> = [
  ['FILE_LIST_FIELDS', FILE_LIST_FIELDS, 'fileList'],
  ['CHANGE_LIST_FIELDS', CHANGE_LIST_FIELDS, 'changeList'],
  ['PERMISSION_LIST_FIELDS', PERMISSION_LIST_FIELDS, 'permissionList'],
  ['REVISION_LIST_FIELDS', REVISION_LIST_FIELDS, 'revisionList'],
  ['COMMENT_LIST_FIELDS', COMMENT_LIST_FIELDS, 'commentList'],
  ['REPLY_LIST_FIELDS', REPLY_LIST_FIELDS, 'replyList'],
  ['DRIVE_LIST_FIELDS', DRIVE_LIST_FIELDS, 'driveList'],
];

describe('Drive fields selectors', () => {
  it.each(listSelectors)('%s names only fields Drive has', (_, selector, kind) => {
    expect(() => validateFields(parseFields(selector), kind)).not.toThrow();
  });

  it.each(listSelectors)('%s selects nextPageToken at the top level', (_, selector) => {
    expect(parseFields(selector).get('nextPageToken')).toBe(true);
  });

  it('selects newStartPageToken on changes, and the full file and replies inside', () => {
    const mask = parseFields(CHANGE_LIST_FIELDS);
    expect(mask.get('newStartPageToken')).toBe(true);
    const changes = mask.get('changes') as FieldMask;
    expect((changes.get('file') as FieldMask).has('permissionIds')).toBe(true);
    const comments = parseFields(COMMENT_LIST_FIELDS).get('comments') as FieldMask;
    expect(comments.get('replies')).toBeInstanceOf(Map);
  });

  it('has valid single-resource selectors', () => {
    expect(() => validateFields(parseFields(FILE_FIELDS), 'file')).not.toThrow();
    expect(() => validateFields(parseFields(START_PAGE_TOKEN_FIELDS), 'startPageToken')).not.toThrow();
    expect(() => validateFields(parseFields(CHANNEL_FIELDS), 'channel')).not.toThrow();
  });
});

describe('Drive resource schemas', () => {
  it('keeps fields it does not know and refuses a file without the ones it uses', () => {
    const file = driveFileSchema.parse({
      kind: 'drive#file',
      id: 'f1',
      name: 'a.txt',
      mimeType: 'text/plain',
      size: '12',
      thumbnailVersion: '3',
    });
    expect(file).toMatchObject({ id: 'f1', size: '12', thumbnailVersion: '3' });
    expect(driveFileSchema.safeParse({ id: 'f1', name: 'a' }).success).toBe(false);
    expect(driveFileSchema.safeParse({ id: 'f1', name: 'a', mimeType: 'x', size: 12 }).success).toBe(false);
  });

  it('reads an empty page as no items, and the last change page with its new start token', () => {
    expect(fileListSchema.parse({ nextPageToken: 'p2' })).toEqual({ nextPageToken: 'p2', files: [] });
    const last = changeListSchema.parse({
      kind: 'drive#changeList',
      newStartPageToken: '661',
      changes: [{ changeType: 'file', time: '2025-01-20T10:00:00.000Z', removed: true, fileId: 'f9' }],
    });
    expect(last.newStartPageToken).toBe('661');
    expect(last.changes[0]).toMatchObject({ removed: true, fileId: 'f9' });
    const comments = commentListSchema.parse({
      comments: [{ id: 'c1', replies: [{ id: 'r1', content: 'ok' }] }],
    });
    expect(comments.comments[0]?.replies?.[0]?.id).toBe('r1');
  });
});
