/**
 * The fuzz suites' seeded randomness: a fixed seed in `npm test`; `FUZZ_SEED` replays a run,
 * `FUZZ_RANDOM=1` (as `npm run fuzz` sets) draws a fresh one. The seed is printed so a
 * failing random run can be replayed.
 */
export function fuzzSeed(suite: string, fixed: number): number {
  const seed =
    process.env.FUZZ_SEED !== undefined
      ? Number(process.env.FUZZ_SEED)
      : process.env.FUZZ_RANDOM === '1'
        ? Math.floor(Math.random() * 2 ** 31)
        : fixed;
  console.log(`${suite} fuzz seed ${seed}`);
  return seed;
}

/** How many inputs a fuzz run makes: `FUZZ_COUNT`, else the suite's bounded default. */
export function fuzzCount(fixed: number): number {
  return Number(process.env.FUZZ_COUNT ?? fixed);
}

export interface SeededRandom {
  /** In [0, 1). */
  readonly next: () => number;
  /** An integer in [0, max). */
  readonly int: (max: number) => number;
  readonly pick: <T>(items: readonly T[]) => T;
}

/** mulberry32: small, seedable, good enough to pick inputs. */
export function seededRandom(seed: number): SeededRandom {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  return { next, int, pick };
}

/** Strings of the kinds that broke things before: long, controls, surrogates, dots, non-ASCII. */
export function nastyString(random: SeededRandom): string {
  const { int, pick } = random;
  switch (int(9)) {
    case 0:
      return 'x'.repeat(1 + int(5_000));
    case 1:
      return pick(['.', '..', '%2e', '%2e%2e', '%2F', '%00', '%E2%80%AE']);
    case 2:
      return String.fromCharCode(...Array.from({ length: 1 + int(20) }, () => int(0x20)));
    case 3:
      return `conn_${'\uD800'}`;
    case 4:
      return `conn_${int(1_000)}`;
    case 5:
      return 'é'.repeat(1 + int(300));
    case 6:
      return JSON.stringify({ a: [1, { b: null }] });
    case 7:
      return '';
    default:
      return Array.from({ length: 1 + int(64) }, () => String.fromCharCode(0x21 + int(0x5e))).join('');
  }
}
