import { describe, expect, it } from 'vitest';
import { DriveApiError } from '../../src/emulator/errors.js';
import {
  compileDriveQuery,
  compileOrderBy,
  compileQuery,
  parseQueryDate,
  type QueryableDrive,
  type QueryableFile,
  queryHasFullText,
} from '../../src/emulator/query.js';

const FOLDER = 'application/vnd.google-apps.folder';

function file(overrides: Partial<QueryableFile> & { id: string }): QueryableFile {
  return {
    name: overrides.id,
    mimeType: 'text/plain',
    trashed: false,
    starred: false,
    parents: ['root'],
    createdTime: '2024-01-01T00:00:00.000Z',
    modifiedTime: '2024-01-01T00:00:00.000Z',
    quotaBytesUsed: 0,
    ownerEmails: ['ann@example.com'],
    writerEmails: [],
    readerEmails: [],
    sharedWithMe: false,
    fullText: '',
    properties: {},
    appProperties: {},
    ...overrides,
  };
}

function rejection(run: () => unknown): { status: number; reason: string; location: string | undefined } {
  try {
    run();
  } catch (error) {
    if (error instanceof DriveApiError) {
      return { status: error.status, reason: error.reason, location: error.body.error.errors[0]?.location };
    }
    throw error;
  }
  throw new Error('expected a DriveApiError');
}

const matches = (q: string, f: QueryableFile, me?: string) => compileQuery(q, me ? { me } : {})(f);

describe('compileQuery: terms', () => {
  it('parents, trashed, mimeType', () => {
    const f = file({ id: 'a', parents: ['P1'], mimeType: FOLDER });
    expect(matches("'P1' in parents", f)).toBe(true);
    expect(matches("'P2' in parents", f)).toBe(false);
    expect(matches('trashed = false', f)).toBe(true);
    expect(matches('trashed = true', f)).toBe(false);
    expect(matches('trashed != true', f)).toBe(true);
    expect(matches(`mimeType = '${FOLDER}'`, f)).toBe(true);
    expect(matches(`mimeType != '${FOLDER}'`, f)).toBe(false);
    expect(matches("mimeType contains 'google-apps'", f)).toBe(true);
    expect(matches("mimeType contains 'IMAGE/'", file({ id: 'i', mimeType: 'image/png' }))).toBe(true);
  });

  it('name = is exact, name contains matches word prefixes only', () => {
    const f = file({ id: 'a', name: 'HelloWorld report_2024.pdf' });
    expect(matches("name = 'HelloWorld report_2024.pdf'", f)).toBe(true);
    expect(matches("name = 'helloworld report_2024.pdf'", f)).toBe(false);
    expect(matches("name != 'x'", f)).toBe(true);
    expect(matches("name contains 'Hello'", f)).toBe(true);
    expect(matches("name contains 'hello'", f)).toBe(true);
    expect(matches("name contains 'World'", f)).toBe(false);
    expect(matches("name contains 'rep'", f)).toBe(true);
    expect(matches("name contains 'port'", f)).toBe(false);
    expect(matches("name contains '.pdf'", f)).toBe(true);
    expect(matches("name contains 'hello rep'", f)).toBe(true);
    expect(matches("name contains 'hello xyz'", f)).toBe(false);
    expect(matches("name contains '2024'", f)).toBe(true);
  });

  it('fullText contains matches whole tokens, and quoted phrases contiguously', () => {
    const f = file({ id: 'a', name: 'Notes', fullText: 'Notes\nHello there world, Hello_again' });
    expect(matches("fullText contains 'hello'", f)).toBe(true);
    expect(matches("fullText contains 'hell'", f)).toBe(false);
    expect(matches("fullText contains 'world hello'", f)).toBe(true);
    expect(matches(`fullText contains '"hello there"'`, f)).toBe(true);
    expect(matches(`fullText contains '"hello world"'`, f)).toBe(false);
    expect(matches(`fullText contains '"hello again"'`, f)).toBe(true);
    expect(rejection(() => compileQuery("fullText = 'hello'"))).toMatchObject({ status: 400, location: 'q' });
  });

  it('dates: comparisons, zones, UTC when no zone is given', () => {
    const f = file({
      id: 'a',
      modifiedTime: '2024-05-01T12:00:00.000Z',
      createdTime: '2023-01-01T00:00:00Z',
    });
    expect(matches("modifiedTime > '2024-05-01T00:00:00Z'", f)).toBe(true);
    expect(matches("modifiedTime > '2024-05-01T12:00:00'", f)).toBe(false);
    expect(matches("modifiedTime >= '2024-05-01T12:00:00'", f)).toBe(true);
    expect(matches("modifiedTime = '2024-05-01T12:00:00'", f)).toBe(true);
    expect(matches("modifiedTime != '2024-05-01T12:00:00'", f)).toBe(false);
    expect(matches("modifiedTime < '2024-05-01T13:00:00+01:00'", f)).toBe(false);
    expect(matches("modifiedTime < '2024-05-01T13:00:01+01:00'", f)).toBe(true);
    expect(matches("modifiedTime <= '2024-05-01T08:00:00-04:00'", f)).toBe(true);
    expect(matches("createdTime < '2024-01-01'", f)).toBe(true);
    expect(matches("modifiedTime > '2024-05-01T11:59:59.999Z'", f)).toBe(true);
    expect(matches("viewedByMeTime > '2000-01-01T00:00:00'", f)).toBe(false);
    expect(
      matches("viewedByMeTime > '2000-01-01T00:00:00'", { ...f, viewedByMeTime: '2020-01-01T00:00:00Z' }),
    ).toBe(true);
    expect(parseQueryDate('2012-06-04T12:00:00-08:00')).toBe(Date.parse('2012-06-04T20:00:00Z'));
    expect(rejection(() => compileQuery("modifiedTime > 'yesterday'"))).toMatchObject({
      status: 400,
      location: 'q',
    });
    expect(rejection(() => compileQuery("modifiedTime contains '2024'"))).toMatchObject({ status: 400 });
  });

  it('owners, writers, readers, with me and caseless e-mail', () => {
    const f = file({
      id: 'a',
      ownerEmails: ['ann@example.com'],
      writerEmails: ['bob@example.com'],
      readerEmails: ['cid@example.com'],
    });
    expect(matches("'ann@example.com' in owners", f)).toBe(true);
    expect(matches("'ANN@example.com' in owners", f)).toBe(true);
    expect(matches("'bob@example.com' in owners", f)).toBe(false);
    expect(matches("'bob@example.com' in writers", f)).toBe(true);
    expect(matches("'ann@example.com' in writers", f)).toBe(true);
    expect(matches("'cid@example.com' in writers", f)).toBe(false);
    expect(matches("'cid@example.com' in readers", f)).toBe(true);
    expect(matches("'bob@example.com' in readers", f)).toBe(true);
    expect(matches("'me' in owners", f, 'ann@example.com')).toBe(true);
    expect(matches("'me' in owners", f, 'bob@example.com')).toBe(false);
  });

  it('sharedWithMe, starred (with and without = true), visibility, shortcut target', () => {
    const f = file({ id: 'a', sharedWithMe: true, starred: false, shortcutTargetId: 'T1' });
    expect(matches('sharedWithMe', f)).toBe(true);
    expect(matches('sharedWithMe = true', f)).toBe(true);
    expect(matches('starred', f)).toBe(false);
    expect(matches('starred = false', f)).toBe(true);
    expect(matches('not starred', f)).toBe(true);
    expect(matches("visibility = 'limited'", f)).toBe(true);
    expect(matches("visibility = 'anyoneWithLink'", { ...f, visibility: 'anyoneWithLink' })).toBe(true);
    expect(matches("shortcutDetails.targetId = 'T1'", f)).toBe(true);
    expect(matches("shortcutDetails.targetId != 'T1'", f)).toBe(false);
    expect(matches("shortcutDetails.targetId = 'T1'", file({ id: 'b' }))).toBe(false);
  });

  it('properties has and appProperties has', () => {
    const f = file({ id: 'a', properties: { team: 'blue' }, appProperties: { sync: 'on' } });
    expect(matches("properties has { key='team' and value='blue' }", f)).toBe(true);
    expect(matches("properties has {value='blue' and key='team'}", f)).toBe(true);
    expect(matches("properties has { key='team' and value='red' }", f)).toBe(false);
    expect(matches("properties has { key='sync' and value='on' }", f)).toBe(false);
    expect(matches("appProperties has { key='sync' and value='on' }", f)).toBe(true);
    expect(matches("properties has { key='toString' and value='x' }", f)).toBe(false);
    expect(rejection(() => compileQuery("properties has { key='team' }"))).toMatchObject({ status: 400 });
    expect(rejection(() => compileQuery("name has { key='a' and value='b' }"))).toMatchObject({
      status: 400,
    });
  });
});

describe('compileQuery: grammar', () => {
  it('escapes in strings', () => {
    expect(matches("name = 'Valentine\\'s Day'", file({ id: 'a', name: "Valentine's Day" }))).toBe(true);
    expect(matches("name = 'back\\\\slash'", file({ id: 'a', name: 'back\\slash' }))).toBe(true);
    expect(matches(`name = "double \\" quote"`, file({ id: 'a', name: 'double " quote' }))).toBe(true);
    expect(
      matches("name = 'and or not ( ) = contains'", file({ id: 'a', name: 'and or not ( ) = contains' })),
    ).toBe(true);
  });

  it('precedence: not binds tighter than and, and tighter than or', () => {
    const a = file({ id: 'a', starred: true, trashed: false, name: 'x' });
    // or(starred, and(trashed, name='y')): true because starred
    expect(matches("starred or trashed and name = 'y'", a)).toBe(true);
    // and(or(starred, trashed), name='y'): false
    expect(matches("(starred or trashed) and name = 'y'", a)).toBe(false);
    // and(not starred, trashed) or name='x' → true through the last term
    expect(matches("not starred and trashed or name = 'x'", a)).toBe(true);
    // not applies to starred only: (not starred) and name = 'x' → false
    expect(matches("not starred and name = 'x'", a)).toBe(false);
    expect(matches("not (starred and name = 'y')", a)).toBe(true);
    expect(matches('not not starred', a)).toBe(true);
    expect(matches("not 'root' in parents", a)).toBe(false);
  });

  it('keywords are caseless, whitespace free', () => {
    const a = file({ id: 'a', name: 'x', starred: true });
    expect(matches("starred AND name CONTAINS 'x'", a)).toBe(true);
    expect(matches("(starred)and(name='x')", a)).toBe(true);
    expect(matches('  trashed=false  ', a)).toBe(true);
    expect(matches("'root' IN parents", a)).toBe(true);
  });

  it('rejects bad syntax and unknown terms with 400 Invalid Value on q', () => {
    for (const q of [
      "name = 'unterminated",
      "name = 'x' and",
      "(name = 'x'",
      "name = 'x')",
      "name == 'x'",
      'name = x',
      "title = 'x'",
      "'x' in ancestors",
      'trashed = maybe',
      "trashed = 'false'",
      "starred contains 'x'",
      "name < 'x'",
      "'P' in",
      'name',
      'and',
      "name = 'x' name = 'y'",
      "parents in 'x'",
      "name = 'x' # comment",
      'memberCount > 1',
    ]) {
      expect(
        rejection(() => compileQuery(q)),
        q,
      ).toEqual({ status: 400, reason: 'invalid', location: 'q' });
    }
  });

  it('a blank q filters nothing, as if it were absent', () => {
    expect(matches('', file({ id: 'a' }))).toBe(true);
    expect(matches('   ', file({ id: 'a', trashed: true }))).toBe(true);
    expect(queryHasFullText(' ')).toBe(false);
  });

  it('queryHasFullText finds fullText anywhere', () => {
    expect(queryHasFullText("fullText contains 'x'")).toBe(true);
    expect(queryHasFullText("trashed = false and not (starred or fullText contains 'x')")).toBe(true);
    expect(queryHasFullText("name contains 'fullText'")).toBe(false);
    expect(queryHasFullText('trashed = false')).toBe(false);
  });
});

describe('compileDriveQuery', () => {
  const drive: QueryableDrive = {
    id: 'd',
    name: 'Finance Team',
    createdTime: '2024-01-01T00:00:00Z',
    hidden: false,
    memberCount: 5,
    organizerCount: 1,
  };
  it('answers the shared-drive terms', () => {
    expect(compileDriveQuery("name contains 'fin'")(drive)).toBe(true);
    expect(compileDriveQuery('hidden = false and memberCount > 3 and organizerCount = 1')(drive)).toBe(true);
    expect(compileDriveQuery('hidden')(drive)).toBe(false);
    expect(compileDriveQuery("createdTime >= '2024-01-01T00:00:00'")(drive)).toBe(true);
    expect(rejection(() => compileDriveQuery('trashed = false')).status).toBe(400);
    expect(rejection(() => compileDriveQuery("memberCount > '3'")).status).toBe(400);
  });
});

describe('compileOrderBy', () => {
  const files = [
    file({ id: 'f1', name: '12', modifiedTime: '2024-01-03T00:00:00Z', quotaBytesUsed: 5 }),
    file({ id: 'f2', name: '2', modifiedTime: '2024-01-01T00:00:00Z', quotaBytesUsed: 50, starred: true }),
    file({ id: 'f3', name: '1', mimeType: FOLDER, modifiedTime: '2024-01-02T00:00:00Z', quotaBytesUsed: 5 }),
    file({
      id: 'f4',
      name: 'b',
      modifiedTime: '2024-01-02T00:00:00Z',
      viewedByMeTime: '2025-01-01T00:00:00Z',
    }),
    file({ id: 'f0', name: 'B', mimeType: FOLDER, modifiedTime: '2024-01-02T00:00:00Z' }),
  ];
  const order = (orderBy: string | undefined) => [...files].sort(compileOrderBy(orderBy)).map((f) => f.id);

  it('name sorts alphabetically, name_natural numerically', () => {
    expect(order('name')).toEqual(['f3', 'f1', 'f2', 'f0', 'f4']);
    expect(order('name_natural')).toEqual(['f3', 'f2', 'f1', 'f0', 'f4']);
    expect(order('name desc')).toEqual(['f4', 'f0', 'f2', 'f1', 'f3']);
  });

  it('folder first, then further keys; desc flips each key; ties break by id', () => {
    expect(order('folder,name')).toEqual(['f3', 'f0', 'f1', 'f2', 'f4']);
    expect(order('folder desc,name')).toEqual(['f1', 'f2', 'f4', 'f3', 'f0']);
    expect(order('modifiedTime desc')).toEqual(['f1', 'f0', 'f3', 'f4', 'f2']);
    expect(order('modifiedTime')).toEqual(['f2', 'f0', 'f3', 'f4', 'f1']);
    expect(order('quotaBytesUsed desc,name')).toEqual(['f2', 'f3', 'f1', 'f0', 'f4']);
    expect(order('starred')).toEqual(['f2', 'f0', 'f1', 'f3', 'f4']);
    expect(order(' viewedByMeTime desc , name ')).toEqual(['f4', 'f3', 'f1', 'f2', 'f0']);
    expect(order('recency desc')[0]).toBe('f4');
    expect(order(undefined)).toEqual(['f0', 'f1', 'f2', 'f3', 'f4']);
  });

  it('rejects unknown keys and directions with 400 on orderBy', () => {
    for (const bad of ['title', 'name sideways', 'name desc extra', 'name,,modifiedTime', 'size']) {
      expect(
        rejection(() => compileOrderBy(bad)),
        bad,
      ).toEqual({
        status: 400,
        reason: 'badRequest',
        location: 'orderBy',
      });
    }
  });
});
