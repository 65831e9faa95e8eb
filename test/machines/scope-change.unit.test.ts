import { describe, expect, it } from 'vitest';
import {
  applyOptionsUpdate,
  planScopeChange,
  sameOptions,
  scopeChangeNeedsRun,
} from '../../src/machines/scope-change.js';

const all = ['permissions', 'revisions', 'comments'] as const;

describe('options and scope changes', () => {
  it('a trigger keeps what it does not name; an explicit empty drive list means every drive', () => {
    const saved = { include: [...all], driveIds: ['d1'] };
    expect(applyOptionsUpdate(saved, {})).toEqual(saved);
    expect(applyOptionsUpdate(saved, { include: ['content'] })).toEqual({
      include: ['content'],
      driveIds: ['d1'],
    });
    expect(applyOptionsUpdate(saved, { driveIds: null }).driveIds).toBeNull();
    expect(sameOptions(saved, { include: ['comments', 'revisions', 'permissions'], driveIds: ['d1'] })).toBe(
      true,
    ); // Dropping kinds needs no run; gaining one, or other drives, does.
    expect(scopeChangeNeedsRun(saved, { include: ['comments'], driveIds: ['d1'] })).toBe(false);
    expect(scopeChangeNeedsRun(saved, { include: [...all, 'content'], driveIds: ['d1'] })).toBe(true);
    expect(scopeChangeNeedsRun(saved, { include: [...all], driveIds: ['d2', 'd1'] })).toBe(true);
    expect(scopeChangeNeedsRun(saved, { include: [...all], driveIds: ['d1'] })).toBe(false);
  });

  it('widening walks only the new drives, and the kept corpora for new kinds only; narrowing leaves', () => {
    const members = ['d1', 'd2', 'd3'];
    expect(
      planScopeChange(
        { include: [...all], driveIds: ['d1'] },
        { include: [...all], driveIds: ['d1', 'd2'] },
        true,
        members,
      ),
    ).toEqual({ walk: ['d2'], extras: [], newKinds: [], leaving: [] });
    expect(
      planScopeChange(
        { include: [...all], driveIds: ['d1'] },
        { include: [...all, 'content'], driveIds: ['d1'] },
        true,
        members,
      ),
    ).toEqual({ walk: [], extras: ['d1'], newKinds: ['content'], leaving: [] });
    expect(
      planScopeChange(
        { include: [...all], driveIds: ['d2'] },
        { include: [...all], driveIds: null },
        true,
        members,
      ),
    ).toEqual({ walk: ['user', 'd1', 'd3'], extras: [], newKinds: [], leaving: [] });
    expect(
      planScopeChange(
        { include: [...all], driveIds: null },
        { include: [...all], driveIds: ['d3'] },
        true,
        members,
      ),
    ).toEqual({ walk: [], extras: [], newKinds: [], leaving: ['user', 'd1', 'd2'] });
  });
});
