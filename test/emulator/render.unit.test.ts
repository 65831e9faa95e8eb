import { describe, expect, it } from 'vitest';
import { parseFields, projectResource, selectionOf, validateFields } from '../../src/emulator/fields.js';
import { generateCorpus } from '../../src/emulator/store/generator.js';
import { renderFile, renderFileFields, rfc3339 } from '../../src/emulator/store/render.js';

describe('rfc3339', () => {
  it('formats exactly as Date.prototype.toISOString, including edges of days, years and the epoch', () => {
    const samples = [
      0, -1, 1, 1.5, -1.5, 999, 86_399_999, 86_400_000, -86_400_000, 951_782_400_000, 1_700_000_000_123.7,
      -62_198_755_200_000, -62_198_755_200_001, 253_402_300_799_999, 253_402_300_800_000, -8.64e15, 8.64e15,
    ];
    // A deterministic spread over 1950–2100.
    for (let i = 0; i < 5_000; i++)
      samples.push(-631_152_000_000 + ((i * 2_654_435_761) % 4_733_510_400_000));
    for (const ms of samples) expect(rfc3339(ms)).toBe(new Date(ms).toISOString());
  });

  it('refuses an invalid time as Date does', () => {
    expect(() => rfc3339(Number.NaN)).toThrow(RangeError);
  });
});

describe('renderFileFields', () => {
  const corpus = generateCorpus(3, {
    files: 300,
    users: 3,
    sharedDrives: 2,
    shareDensity: 0.4,
    linkShareDensity: 0.2,
    revisionDensity: 1,
  });
  const masks = [
    undefined,
    '*',
    'files',
    'nextPageToken',
    'files(*)',
    'files(id,name,owners(displayName),permissions(id,role,permissionDetails),capabilities(canEdit,canShare))',
    'files(id,trashingUser,sharingUser,sharedWithMeTime,trashedTime,exportLinks,md5Checksum,sha256Checksum,size)',
    'files(properties/x,shortcutDetails,lastModifyingUser/me,parents,driveId,quotaBytesUsed,webContentLink)',
    'kind,files/id,files/fullFileExtension,files/fileExtension',
  ];

  it('renders only what a mask selects, exactly as projecting the full rendering would', () => {
    for (const viewer of corpus.users) {
      const ctx = { world: corpus.world, viewer, baseUrl: 'http://127.0.0.1:1' };
      const files = [...corpus.world.files.values()].filter((f) => corpus.world.accessRole(viewer, f));
      for (const fields of masks) {
        const mask = fields === undefined ? undefined : parseFields(fields);
        if (mask) validateFields(mask, 'fileList');
        const selection = selectionOf(mask, 'fileList', ['files']);
        const direct = files.map((f) => (selection === 'none' ? {} : renderFileFields(ctx, f, selection)));
        const expected = projectResource(
          { kind: 'drive#fileList', files: files.map((f) => renderFile(ctx, f)) },
          mask,
          'fileList',
        );
        const actual = projectResource({ kind: 'drive#fileList', files: direct }, mask, 'fileList');
        expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
      }
    }
  });

  it('selects nothing, all, or a sub-mask along a path', () => {
    expect(selectionOf(parseFields('nextPageToken'), 'fileList', ['files'])).toBe('none');
    expect(selectionOf(parseFields('files'), 'fileList', ['files'])).toBe('all');
    expect(selectionOf(parseFields('*'), 'changeList', ['changes', 'file'])).toBe('all');
    expect(selectionOf(parseFields('changes(file(*))'), 'changeList', ['changes', 'file'])).toBe('all');
    expect(selectionOf(parseFields('changes(fileId)'), 'changeList', ['changes', 'file'])).toBe('none');
    const sub = selectionOf(parseFields('changes(file(id,name))'), 'changeList', ['changes', 'file']);
    expect(sub === 'all' || sub === 'none' ? sub : [...sub.keys()]).toEqual(['id', 'name']);
    const defaults = selectionOf(undefined, 'fileList', ['files']);
    expect(defaults === 'all' || defaults === 'none' ? defaults : [...defaults.keys()]).toEqual([
      'kind',
      'id',
      'name',
      'mimeType',
    ]);
  });
});
