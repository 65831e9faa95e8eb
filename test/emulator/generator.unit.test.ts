import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateCorpus } from '../../src/emulator/store/generator.js';
import { SHORTCUT_MIME } from '../../src/emulator/store/mime.js';

describe('generateCorpus', () => {
  it('gives a seed the corpus it always gave when firstUserShare is unset', () => {
    const corpus = generateCorpus(7, { users: 4, files: 300, sharedDrives: 1 });
    const rows = [...corpus.world.files.values()]
      .map((f) => `${f.id} ${f.ownerId ?? '-'} ${f.name} ${f.driveId ?? '-'}`)
      .sort();
    // Taken from the generator before firstUserShare existed.
    expect(createHash('sha256').update(rows.join('\n')).digest('hex')).toBe(
      'd331640ede94f64735f282938a09469babc2d2e207baacf78d70cb045eff2d10',
    );
  });

  it('puts firstUserShare of the My Drive items in the first user’s drive and spreads the rest', () => {
    const corpus = generateCorpus(11, {
      users: 21,
      files: 2_000,
      sharedDrives: 0,
      firstUserShare: 0.9,
      shortcutDensity: 0,
      trashDensity: 0,
    });
    const owned = new Map<string, number>();
    for (const file of corpus.world.files.values()) {
      if (file.mimeType === SHORTCUT_MIME || file.ownerId === undefined) continue;
      owned.set(file.ownerId, (owned.get(file.ownerId) ?? 0) + 1);
    }
    const [first, ...rest] = corpus.users;
    const firstCount = owned.get(first?.id ?? '') ?? 0;
    expect(firstCount / 2_000).toBeGreaterThan(0.87);
    expect(firstCount / 2_000).toBeLessThan(0.93);
    for (const user of rest) expect(owned.get(user.id) ?? 0).toBeGreaterThan(0);
  });
});
