import { driveErrors } from '../errors.js';

export type QueryParams = Record<string, string | string[] | undefined>;

/** Last value wins when a parameter repeats, except where arrays are meant. */
export function stringParam(query: QueryParams, name: string): string | undefined {
  const value = query[name];
  if (Array.isArray(value)) return value[value.length - 1];
  return value;
}

export function boolParam(query: QueryParams, name: string, fallback: boolean): boolean {
  const value = stringParam(query, name);
  if (value === undefined || value === '') return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw driveErrors.badRequest(`Invalid value '${value}'. Values must be true or false.`, name);
}

export function intParam(
  query: QueryParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = stringParam(query, name);
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed)) throw driveErrors.badRequest(`Invalid value '${value}'.`, name);
  if (parsed < min || parsed > max) {
    throw driveErrors.badRequest(
      `Invalid value '${value}'. Values must be within the range: [${min}, ${max}]`,
      name,
    );
  }
  return parsed;
}

/** Comma-separated list parameters (addParents, spaces). */
export function listParam(query: QueryParams, name: string): string[] {
  const raw = query[name];
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

/** Opaque offset tokens for the lists that are not the change log. */
export function encodeOffsetToken(offset: number, scope: string, attempt = 0): string {
  const body = attempt > 0 ? { o: offset, s: scope, a: attempt } : { o: offset, s: scope };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

/** How many empty pages were already served at a token's position (0 when none). */
export function offsetTokenAttempt(token: string | undefined): number {
  if (token === undefined || token === '') return 0;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'a' in parsed && Number.isInteger(parsed.a)) {
      return parsed.a as number;
    }
  } catch {
    // decodeOffsetToken answers for a token it cannot read
  }
  return 0;
}

export function decodeOffsetToken(token: string | undefined, scope: string): number {
  if (token === undefined || token === '') return 0;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'o' in parsed &&
      's' in parsed &&
      Number.isInteger(parsed.o) &&
      (parsed.o as number) >= 0 &&
      parsed.s === scope
    ) {
      return parsed.o as number;
    }
  } catch {
    // fall through to Drive's answer for a token it did not issue
  }
  throw driveErrors.invalidPageToken();
}

/** One page of an in-memory list, with Google's nextPageToken only when more remain. */
export function pageOf<T>(
  items: readonly T[],
  token: string | undefined,
  pageSize: number,
  scope: string,
): { page: T[]; nextPageToken?: string } {
  const offset = decodeOffsetToken(token, scope);
  const page = items.slice(offset, offset + pageSize);
  const next = offset + pageSize;
  return next < items.length ? { page, nextPageToken: encodeOffsetToken(next, scope) } : { page };
}

export function parseJsonBody(body: Buffer | undefined): Record<string, unknown> {
  if (!body || body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw driveErrors.badRequest('Invalid JSON payload received.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw driveErrors.badRequest('Invalid JSON payload received. Expected an object.');
  }
  return parsed as Record<string, unknown>;
}

export function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw driveErrors.badRequest(`Invalid value at '${name}'.`, name);
  return value;
}

export function optionalBoolean(body: Record<string, unknown>, name: string): boolean | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw driveErrors.badRequest(`Invalid value at '${name}'.`, name);
  return value;
}

export function optionalStringMap(
  body: Record<string, unknown>,
  name: string,
): Record<string, string | null> | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw driveErrors.badRequest(`Invalid value at '${name}'.`, name);
  const out: Record<string, string | null> = {};
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    if (entry !== null && typeof entry !== 'string')
      throw driveErrors.badRequest(`Invalid value at '${name}.${key}'.`, name);
    out[key] = entry;
  }
  return out;
}
