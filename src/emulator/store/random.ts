/**
 * Deterministic randomness: every id and every generated value comes from one seeded
 * generator, so the same seed and the same sequence of operations give byte-identical state.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** mulberry32: small, fast, and good enough for fixtures. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(minInclusive: number, maxInclusive: number): number {
    return minInclusive + Math.floor(this.next() * (maxInclusive - minInclusive + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const DIGITS = '0123456789';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Id shapes as Google issues them, so clients that eyeball ids are not surprised. */
export class IdFactory {
  constructor(private readonly random: SeededRandom) {}

  /** My Drive / shared-drive item: 33 characters starting with "1". */
  file(): string {
    return `1${this.random.chars(ID_ALPHABET, 32)}`;
  }

  /** Root folder of a user's My Drive: "0A…Uk9PVA" like shared drives. */
  root(): string {
    return `0A${this.random.chars(ID_ALPHABET.slice(0, 62), 11)}Uk9PVA`;
  }

  sharedDrive(): string {
    return `0A${this.random.chars(ID_ALPHABET.slice(0, 62), 11)}Uk9PVA`;
  }

  /** Users' permission ids are 20-digit numbers. */
  permissionId(): string {
    return this.random.chars(DIGITS, 20);
  }

  /** Binary revisions have opaque ids. */
  binaryRevision(): string {
    return `0B${this.random.chars(ID_ALPHABET.slice(0, 62), 36)}`;
  }

  comment(): string {
    return `AAAA${this.random.chars(UPPER_DIGITS, 7)}`;
  }

  reply(): string {
    return `AAAA${this.random.chars(UPPER_DIGITS, 7)}`;
  }

  channelResource(): string {
    return this.random.chars(ID_ALPHABET.slice(0, 62), 27);
  }

  token(prefix: string): string {
    return `${prefix}${this.random.chars(ID_ALPHABET, 40)}`;
  }
}
