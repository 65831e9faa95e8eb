import { z } from 'zod';

/**
 * Where Google is loose, the emulator is loose too, by default: a client proven only against
 * full pages, one change-log entry per edit and one instant notification per change breaks
 * on the real Drive. Every draw is a pure function of the seed and of what the request names
 * (its page token, a log position), so the same seed and the same calls give the same answers.
 */
export interface RealismSettings {
  /** files.list and changes.list pages may hold fewer items than `pageSize`, or none, before the end. */
  readonly partialPages: boolean;
  /** Several entries for one item between two reads show as one; a create then delete may vanish. */
  readonly coalesceChanges: boolean;
  /** changes channels: delayed messages covering several changes, numbers with gaps, duplicates. */
  readonly pushJitter: boolean;
}

export const REALISM_ON: RealismSettings = Object.freeze({
  partialPages: true,
  coalesceChanges: true,
  pushJitter: true,
});

/** For benchmarks: figures stay comparable from run to run and with earlier runs. */
export const REALISM_OFF: RealismSettings = Object.freeze({
  partialPages: false,
  coalesceChanges: false,
  pushJitter: false,
});

export const realismSchema = z.object({
  partialPages: z.boolean().optional(),
  coalesceChanges: z.boolean().optional(),
  pushJitter: z.boolean().optional(),
});

export type RealismPatch = z.infer<typeof realismSchema>;

export function withRealism(current: RealismSettings, patch: RealismPatch | boolean): RealismSettings {
  if (typeof patch === 'boolean') return patch ? REALISM_ON : REALISM_OFF;
  return {
    partialPages: patch.partialPages ?? current.partialPages,
    coalesceChanges: patch.coalesceChanges ?? current.coalesceChanges,
    pushJitter: patch.pushJitter ?? current.pushJitter,
  };
}

/** A uniform value in [0, 1) from the seed and a few integers: the same inputs, the same draw. */
export function draw(seed: number, ...parts: readonly number[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h ^ Math.floor(part / 4294967296), 0x27d4eb2f) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  h = (h ^ (h >>> 12)) >>> 0;
  return h / 4294967296;
}

/** Salt of the draws, so files.list and changes.list do not shorten the same pages. */
export const DRAW = {
  filesPage: 1,
  changesPage: 2,
  coalesce: 3,
  vanish: 4,
  pushDelay: 5,
  pushGap: 6,
  pushDuplicate: 7,
} as const;

/**
 * How many items a files.list page holds: mostly full, sometimes short, now and then empty.
 * `attempt` counts the empty pages already served at this position, so paging always ends.
 */
export function filesPageLength(seed: number, offset: number, pageSize: number, attempt: number): number {
  const u = draw(seed, DRAW.filesPage, offset, pageSize, attempt);
  if (u < 0.12 && attempt < 2) return 0;
  if (u < 0.45) return Math.max(1, Math.floor(draw(seed, DRAW.filesPage, offset, attempt, 7) * pageSize));
  return pageSize;
}

/**
 * How many raw log entries a changes.list page looks at before answering, like a server that
 * scans a bounded window: entries for other users, filtered out or superseded use it up too,
 * so a page can come back short or empty with a `nextPageToken`. Undefined: no bound.
 */
export function changesScanBudget(seed: number, startSeq: number, pageSize: number): number | undefined {
  const u = draw(seed, DRAW.changesPage, startSeq, pageSize);
  if (u < 0.15) return 1 + Math.floor(draw(seed, DRAW.changesPage, startSeq, 1) * 3);
  if (u < 0.45) return 1 + Math.floor(draw(seed, DRAW.changesPage, startSeq, 2) * pageSize);
  return undefined;
}

/** FNV-1a of a string, to key draws on names (channel ids). */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** What one delayed push message of a changes channel looks like. */
export interface PushPlan {
  /** From the first change it covers to the message leaving. */
  readonly delayMs: number;
  /** Numbers skipped before this message's (Google's numbers increase, not one by one). */
  readonly gap: number;
  /** Delivered twice under the same number. */
  readonly duplicate: boolean;
}

export function pushPlan(seed: number, channelId: string, message: number): PushPlan {
  const key = hashString(channelId);
  return {
    delayMs: 40 + Math.floor(draw(seed, DRAW.pushDelay, key, message) * 460),
    gap: Math.floor(draw(seed, DRAW.pushGap, key, message) * 3),
    duplicate: draw(seed, DRAW.pushDuplicate, key, message) < 0.15,
  };
}
