import type { drive_v3 } from '@googleapis/drive';
import { describe, expect, it } from 'vitest';
import { DriveApiError } from '../../src/emulator/errors.js';
import {
  type FieldMask,
  formatFields,
  knownFields,
  parseFields,
  projectResource,
  resourceSchemas,
  validateFields,
} from '../../src/emulator/fields.js';

function failure(run: () => unknown): { status: number; reason: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof DriveApiError)
      return { status: error.status, reason: error.reason, message: error.message };
    throw error;
  }
  throw new Error('expected a DriveApiError');
}

const file = (id: string): drive_v3.Schema$File => ({
  kind: 'drive#file',
  id,
  name: `name-${id}`,
  mimeType: 'text/plain',
  parents: ['root'],
  size: '12',
  owners: [
    { kind: 'drive#user', displayName: 'Ann', emailAddress: 'ann@example.com', me: true, permissionId: 'p1' },
  ],
  capabilities: { canEdit: true, canShare: false },
  properties: { team: 'blue', owner: 'ann' },
});

describe('parseFields', () => {
  it('reads comma lists, nested parentheses, sub-paths, * and whitespace', () => {
    expect(formatFields(parseFields('nextPageToken,files(id,name)'))).toBe('nextPageToken,files(id,name)');
    expect(formatFields(parseFields(' nextPageToken , files( id , owners( emailAddress ) ) '))).toBe(
      'nextPageToken,files(id,owners(emailAddress))',
    );
    expect(formatFields(parseFields('files/id,files/capabilities/canEdit'))).toBe(
      'files(id,capabilities(canEdit))',
    );
    expect(formatFields(parseFields('*'))).toBe('*');
    expect(formatFields(parseFields('files(*)'))).toBe('files(*)');
    expect(formatFields(parseFields('files/owners(displayName,me)'))).toBe('files(owners(displayName,me))');
  });

  it('merges repeated selections, and a whole-field selection wins', () => {
    expect(formatFields(parseFields('files(id),files(name)'))).toBe('files(id,name)');
    expect(formatFields(parseFields('files(id),files'))).toBe('files');
    expect(formatFields(parseFields('files,files(id)'))).toBe('files');
  });

  it('answers syntax errors with 400 invalidParameter', () => {
    for (const bad of [
      'files(id',
      'files)',
      'files()',
      'id,,name',
      ',id',
      'id,',
      '(id)',
      'files/',
      'a b',
      '',
    ]) {
      expect(failure(() => parseFields(bad))).toMatchObject({ status: 400, reason: 'invalidParameter' });
    }
    expect(failure(() => parseFields('files(id')).message).toBe('Invalid field selection files(id');
  });
});

describe('validateFields', () => {
  const check = (spec: string, kind: Parameters<typeof validateFields>[1]) => () =>
    validateFields(parseFields(spec), kind);

  it('accepts real Drive field names at every depth', () => {
    expect(
      check('nextPageToken,incompleteSearch,kind,files(id,name,parents,md5Checksum)', 'fileList'),
    ).not.toThrow();
    expect(
      check(
        'files(owners(emailAddress,permissionId),capabilities/canEdit,shortcutDetails/targetId)',
        'fileList',
      ),
    ).not.toThrow();
    expect(
      check(
        'changes(file(id,trashed,permissions(role)),drive(name,restrictions/driveMembersOnly))',
        'changeList',
      ),
    ).not.toThrow();
    expect(check('properties/anyKey,appProperties(a,b),exportLinks', 'file')).not.toThrow();
    expect(check('*', 'fileList')).not.toThrow();
    expect(check('files(*)', 'fileList')).not.toThrow();
    expect(check('user(emailAddress),storageQuota(limit,usage),exportFormats', 'about')).not.toThrow();
    expect(check('comments(id,author(displayName),replies(content))', 'commentList')).not.toThrow();
    expect(check('kind,startPageToken', 'startPageToken')).not.toThrow();
    expect(check('id,resourceId,resourceUri,expiration', 'channel')).not.toThrow();
  });

  it('names the unknown field, however deep', () => {
    expect(failure(check('files(id),bogusField', 'fileList'))).toEqual({
      status: 400,
      reason: 'invalidParameter',
      message: 'Invalid field selection bogusField',
    });
    expect(failure(check('items(id,title)', 'fileList')).message).toBe('Invalid field selection items');
    expect(failure(check('files(id,owners(emailAddress,shoeSize))', 'fileList')).message).toBe(
      'Invalid field selection shoeSize',
    );
    expect(failure(check('changes(file(capabilities(canFly)))', 'changeList')).message).toBe(
      'Invalid field selection canFly',
    );
    expect(failure(check('files/capabilities/canFly', 'fileList')).message).toBe(
      'Invalid field selection canFly',
    );
  });

  it('refuses fields of the item at list level: the classic `fields=id` on files.list', () => {
    expect(failure(check('id,name', 'fileList')).message).toBe('Invalid field selection id');
    expect(failure(check('starred', 'fileList')).message).toBe('Invalid field selection starred');
  });

  it('refuses sub-selections of plain values and of map values', () => {
    expect(failure(check('name(first)', 'file')).message).toBe('Invalid field selection first');
    expect(failure(check('properties(a(b))', 'file')).message).toBe('Invalid field selection a');
  });

  it('does not mistake inherited object members for fields', () => {
    expect(failure(check('toString', 'file')).message).toBe('Invalid field selection toString');
    expect(failure(check('files(constructor)', 'fileList')).message).toBe(
      'Invalid field selection constructor',
    );
  });
});

describe('knownFields', () => {
  it('holds the googleapis schema names, resources by kind', () => {
    expect(knownFields.file.get('md5Checksum')).toBe('scalar');
    expect(knownFields.file.get('owners')).toBe('user');
    expect(knownFields.file.get('permissions')).toBe('permission');
    expect(knownFields.file.get('capabilities')).toBe('scalar');
    expect(knownFields.fileList.get('files')).toBe('file');
    expect(knownFields.changeList.get('changes')).toBe('change');
    expect(knownFields.change.get('drive')).toBe('drive');
    expect(knownFields.comment.get('replies')).toBe('reply');
    expect(knownFields.about.get('user')).toBe('user');
    expect(knownFields.file.has('title')).toBe(false);
    expect(Object.keys(resourceSchemas)).toHaveLength(18);
  });
});

describe('projectResource', () => {
  const list: drive_v3.Schema$FileList = {
    kind: 'drive#fileList',
    nextPageToken: 'next-1',
    incompleteSearch: false,
    files: [file('a'), file('b')],
  };

  it('returns Drive default fields without a mask', () => {
    expect(projectResource(file('a'), undefined, 'file')).toEqual({
      kind: 'drive#file',
      id: 'a',
      name: 'name-a',
      mimeType: 'text/plain',
    });
    expect(projectResource(list, undefined, 'fileList')).toEqual({
      kind: 'drive#fileList',
      nextPageToken: 'next-1',
      incompleteSearch: false,
      files: [
        { kind: 'drive#file', id: 'a', name: 'name-a', mimeType: 'text/plain' },
        { kind: 'drive#file', id: 'b', name: 'name-b', mimeType: 'text/plain' },
      ],
    });
    const lastPage = projectResource({ ...list, nextPageToken: undefined }, undefined, 'fileList');
    expect(lastPage).not.toHaveProperty('nextPageToken');
  });

  it('default sets of permissions, revisions, drives and changes', () => {
    const permission: drive_v3.Schema$Permission = {
      kind: 'drive#permission',
      id: 'p',
      type: 'user',
      role: 'reader',
      emailAddress: 'x@example.com',
      displayName: 'X',
    };
    expect(projectResource(permission, undefined, 'permission')).toEqual({
      kind: 'drive#permission',
      id: 'p',
      type: 'user',
      role: 'reader',
    });
    const revision: drive_v3.Schema$Revision = {
      kind: 'drive#revision',
      id: 'r',
      mimeType: 'text/plain',
      modifiedTime: '2024-01-01T00:00:00.000Z',
      md5Checksum: 'abc',
      size: '3',
    };
    expect(projectResource(revision, undefined, 'revision')).toEqual({
      kind: 'drive#revision',
      id: 'r',
      mimeType: 'text/plain',
      modifiedTime: '2024-01-01T00:00:00.000Z',
    });
    const drive: drive_v3.Schema$Drive = {
      kind: 'drive#drive',
      id: 'd',
      name: 'Team',
      hidden: false,
      colorRgb: '#fff',
    };
    expect(projectResource({ kind: 'drive#driveList', drives: [drive] }, undefined, 'driveList')).toEqual({
      kind: 'drive#driveList',
      drives: [{ kind: 'drive#drive', id: 'd', name: 'Team' }],
    });
    const changes: drive_v3.Schema$ChangeList = {
      kind: 'drive#changeList',
      newStartPageToken: '42',
      changes: [
        {
          kind: 'drive#change',
          changeType: 'file',
          type: 'file',
          time: '2024-01-01T00:00:00.000Z',
          removed: false,
          fileId: 'a',
          file: file('a'),
        },
        {
          kind: 'drive#change',
          changeType: 'file',
          removed: true,
          fileId: 'gone',
          time: '2024-01-02T00:00:00.000Z',
        },
      ],
    };
    expect(projectResource(changes, undefined, 'changeList')).toEqual({
      kind: 'drive#changeList',
      newStartPageToken: '42',
      changes: [
        {
          kind: 'drive#change',
          changeType: 'file',
          type: 'file',
          time: '2024-01-01T00:00:00.000Z',
          removed: false,
          fileId: 'a',
          file: { kind: 'drive#file', id: 'a', name: 'name-a', mimeType: 'text/plain' },
        },
        {
          kind: 'drive#change',
          changeType: 'file',
          removed: true,
          fileId: 'gone',
          time: '2024-01-02T00:00:00.000Z',
        },
      ],
    });
  });

  it('the classic bug: files(id,name) drops nextPageToken, so the caller cannot page', () => {
    const projected = projectResource(list, parseFields('files(id,name)'), 'fileList');
    expect(projected).toEqual({
      files: [
        { id: 'a', name: 'name-a' },
        { id: 'b', name: 'name-b' },
      ],
    });
    expect(projected).not.toHaveProperty('nextPageToken');
    expect(projectResource(list, parseFields('nextPageToken,files(id)'), 'fileList')).toEqual({
      nextPageToken: 'next-1',
      files: [{ id: 'a' }, { id: 'b' }],
    });
  });

  it('* returns every field including nested resources, at top level and inside', () => {
    expect(projectResource(list, parseFields('*'), 'fileList')).toEqual(list);
    expect(projectResource(list, parseFields('files(*)'), 'fileList')).toEqual({ files: list.files });
    expect(projectResource(list, parseFields('files'), 'fileList')).toEqual({ files: list.files });
    expect(projectResource(file('a'), parseFields('*'), 'file')).toEqual(file('a'));
  });

  it('projects nested resources, inline objects, maps and sub-paths', () => {
    const mask = parseFields('files(id,owners(emailAddress),capabilities/canEdit,properties/team)');
    expect(projectResource(list, mask, 'fileList')).toEqual({
      files: ['a', 'b'].map((id) => ({
        id,
        owners: [{ emailAddress: 'ann@example.com' }],
        capabilities: { canEdit: true },
        properties: { team: 'blue' },
      })),
    });
  });

  it('leaves absent fields out, and keeps emptied items as {}', () => {
    const projected = projectResource(list, parseFields('files(description)'), 'fileList');
    expect(projected).toEqual({ files: [{}, {}] });
    expect(projectResource(file('a'), parseFields('id,description,driveId'), 'file')).toEqual({ id: 'a' });
  });

  it('reads only the selected fields, so lazily computed ones cost nothing unless asked for', () => {
    let reads = 0;
    const lazy: drive_v3.Schema$File = { kind: 'drive#file', id: 'z', name: 'z', mimeType: 'text/plain' };
    Object.defineProperty(lazy, 'permissions', {
      enumerable: true,
      get: () => {
        reads++;
        return [];
      },
    });
    projectResource(lazy, undefined, 'file');
    projectResource(lazy, parseFields('id,name'), 'file');
    expect(reads).toBe(0);
    expect(projectResource(lazy, parseFields('permissions'), 'file')).toEqual({ permissions: [] });
    expect(reads).toBe(1);
  });

  it('applies masks to every element of arrays', () => {
    const mask: FieldMask = parseFields('changes(fileId,file(name))');
    const changes: drive_v3.Schema$ChangeList = {
      changes: [
        { fileId: 'a', file: file('a'), removed: false },
        { fileId: 'b', removed: true },
      ],
    };
    expect(projectResource(changes, mask, 'changeList')).toEqual({
      changes: [{ fileId: 'a', file: { name: 'name-a' } }, { fileId: 'b' }],
    });
  });
});
