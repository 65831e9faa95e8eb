import { driveErrors } from './errors.js';

/**
 * Drive's search language (`q` of files.list and drives.list) and `orderBy`.
 *
 * A small recursive-descent parser: no maintained npm package parses Drive's grammar.
 * Grammar and term table: Google's "Search query terms and operators" guide (A) and
 * DRIVE_API §1.2. Precedence is `not` > `and` > `or`; parentheses group.
 *
 * Documented choices where Google is silent or only field reports exist:
 * - `name contains 'x'` (B, GAM wiki's measurements of Drive): the name and the value are
 *   split into alphanumeric tokens (anything else separates), case-insensitively; every
 *   value token must be a prefix of some name token. So `name contains 'Hello'` finds
 *   "HelloWorld" and "say hello.txt" but `name contains 'World'` does not find "HelloWorld".
 * - `fullText contains 'a b'` (A for the rules, B for the tokenising): every value token
 *   must equal a token of the file's text; `'"a b"'` (double quotes inside) asks for the
 *   tokens as a contiguous phrase.
 * - `mimeType contains 'x'` is a case-insensitive substring match (C).
 * - `name =`/`!=` and `mimeType =`/`!=` compare exactly (C).
 * - Keywords (`and`, `or`, `not`, `contains`, `in`, `has`, `true`, `false`) are
 *   case-insensitive; term names are not (C).
 * - Strings take single or double quotes; `\'`, `\"` and `\\` escape, and any other
 *   backslash keeps the character after it (C).
 * - Dates are RFC 3339; without a zone they are UTC (A). A date alone (`'2024-05-01'`) is
 *   midnight UTC (C).
 * - `sharedWithMe`, `starred`, `trashed` (and `hidden` for drives) may stand alone, meaning
 *   `= true` (A shows `sharedWithMe` alone).
 * - `'x' in writers` also matches owners, `'x' in readers` also matches writers and owners:
 *   the guide defines them as who may modify or read the file (C). E-mail addresses
 *   compare case-insensitively, and `'me'` stands for the caller when known.
 * - A time the file lacks (never viewed) satisfies no comparison.
 * - Anything the parser does not understand, or a term used with an operator the guide does
 *   not list for it, is 400 "Invalid Value" on `q`, as Google answers.
 */

export interface QueryableFile {
  id: string;
  name: string;
  mimeType: string;
  trashed: boolean;
  starred: boolean;
  parents: readonly string[];
  createdTime: string;
  modifiedTime: string;
  viewedByMeTime?: string;
  sharedWithMeTime?: string;
  modifiedByMeTime?: string;
  quotaBytesUsed: number;
  ownerEmails: readonly string[];
  writerEmails: readonly string[];
  readerEmails: readonly string[];
  sharedWithMe: boolean;
  fullText: string;
  properties: Readonly<Record<string, string>>;
  appProperties: Readonly<Record<string, string>>;
  shortcutTargetId?: string;
  /** `anyoneCanFind`, `anyoneWithLink`, `domainCanFind`, `domainWithLink` or `limited` (the default). */
  visibility?: string;
}

/** What drives.list's `q` can ask about a shared drive (the guide's shared-drive terms). */
export interface QueryableDrive {
  id: string;
  name: string;
  createdTime: string;
  hidden: boolean;
  memberCount: number;
  organizerCount: number;
}

export interface QueryOptions {
  /** The caller's e-mail address: `'me' in owners` and friends resolve to it. */
  readonly me?: string;
}

// ------------------------------------------------------------------ tokens

type Token =
  | { readonly type: 'string'; readonly value: string; readonly at: number }
  | { readonly type: 'word'; readonly value: string; readonly at: number }
  | { readonly type: 'number'; readonly value: number; readonly at: number }
  | { readonly type: 'punct'; readonly value: string; readonly at: number };

const OPERATOR_CHARS = /^(!=|<=|>=|=|<|>|\(|\)|\{|\})/;

function tokenize(q: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      const at = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= q.length) throw driveErrors.invalidQuery();
        const d = q[i] as string;
        if (d === '\\') {
          if (i + 1 >= q.length) throw driveErrors.invalidQuery();
          value += q[i + 1];
          i += 2;
          continue;
        }
        if (d === c) {
          i++;
          break;
        }
        value += d;
        i++;
      }
      tokens.push({ type: 'string', value, at });
      continue;
    }
    const operator = OPERATOR_CHARS.exec(q.slice(i));
    if (operator) {
      tokens.push({ type: 'punct', value: operator[0], at: i });
      i += operator[0].length;
      continue;
    }
    const number = /^-?\d+(?![\w.])/.exec(q.slice(i));
    if (number) {
      tokens.push({ type: 'number', value: Number(number[0]), at: i });
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_][\w.]*/.exec(q.slice(i));
    if (word) {
      tokens.push({ type: 'word', value: word[0], at: i });
      i += word[0].length;
      continue;
    }
    throw driveErrors.invalidQuery();
  }
  return tokens;
}

// ------------------------------------------------------------------ syntax tree

type Literal =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'boolean'; readonly value: boolean }
  | { readonly kind: 'number'; readonly value: number };

type Comparison = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'contains';

export type QueryNode =
  | { readonly type: 'and' | 'or'; readonly left: QueryNode; readonly right: QueryNode }
  | { readonly type: 'not'; readonly operand: QueryNode }
  | { readonly type: 'compare'; readonly field: string; readonly op: Comparison; readonly value: Literal }
  | { readonly type: 'in'; readonly value: string; readonly collection: string }
  | { readonly type: 'has'; readonly field: string; readonly key: string; readonly value: string }
  | { readonly type: 'bare'; readonly field: string };

const keyword = (token: Token | undefined, word: string): boolean =>
  token?.type === 'word' && token.value.toLowerCase() === word;

class QueryParser {
  private position = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  parse(): QueryNode {
    if (this.tokens.length === 0) throw driveErrors.invalidQuery();
    const node = this.or();
    if (this.position < this.tokens.length) throw driveErrors.invalidQuery();
    return node;
  }

  private peek(): Token | undefined {
    return this.tokens[this.position];
  }

  private next(): Token {
    const token = this.tokens[this.position++];
    if (!token) throw driveErrors.invalidQuery();
    return token;
  }

  private expectPunct(value: string): void {
    const token = this.next();
    if (token.type !== 'punct' || token.value !== value) throw driveErrors.invalidQuery();
  }

  private expectKeyword(word: string): void {
    if (!keyword(this.next(), word)) throw driveErrors.invalidQuery();
  }

  private or(): QueryNode {
    let left = this.and();
    while (keyword(this.peek(), 'or')) {
      this.position++;
      left = { type: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): QueryNode {
    let left = this.not();
    while (keyword(this.peek(), 'and')) {
      this.position++;
      left = { type: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): QueryNode {
    if (keyword(this.peek(), 'not')) {
      this.position++;
      return { type: 'not', operand: this.not() };
    }
    return this.primary();
  }

  private primary(): QueryNode {
    const token = this.next();
    if (token.type === 'punct' && token.value === '(') {
      const inner = this.or();
      this.expectPunct(')');
      return inner;
    }
    if (token.type === 'string') {
      // 'value' in collection
      this.expectKeyword('in');
      const collection = this.next();
      if (collection.type !== 'word') throw driveErrors.invalidQuery();
      return { type: 'in', value: token.value, collection: collection.value };
    }
    if (token.type !== 'word' || RESERVED.has(token.value.toLowerCase())) throw driveErrors.invalidQuery();
    const field = token.value;
    const operator = this.peek();
    if (keyword(operator, 'has')) {
      this.position++;
      return this.hasClause(field);
    }
    if (keyword(operator, 'contains')) {
      this.position++;
      return { type: 'compare', field, op: 'contains', value: this.literal() };
    }
    if (operator?.type === 'punct' && COMPARISONS.has(operator.value)) {
      this.position++;
      return { type: 'compare', field, op: operator.value as Comparison, value: this.literal() };
    }
    return { type: 'bare', field };
  }

  /** `{ key='k' and value='v' }`, in either order. */
  private hasClause(field: string): QueryNode {
    this.expectPunct('{');
    const parts: Record<string, string> = {};
    for (let i = 0; i < 2; i++) {
      if (i === 1) this.expectKeyword('and');
      const name = this.next();
      if (name.type !== 'word' || (name.value !== 'key' && name.value !== 'value') || name.value in parts) {
        throw driveErrors.invalidQuery();
      }
      this.expectPunct('=');
      const value = this.next();
      if (value.type !== 'string') throw driveErrors.invalidQuery();
      parts[name.value] = value.value;
    }
    this.expectPunct('}');
    return { type: 'has', field, key: parts.key as string, value: parts.value as string };
  }

  private literal(): Literal {
    const token = this.next();
    if (token.type === 'string') return { kind: 'string', value: token.value };
    if (token.type === 'number') return { kind: 'number', value: token.value };
    if (keyword(token, 'true')) return { kind: 'boolean', value: true };
    if (keyword(token, 'false')) return { kind: 'boolean', value: false };
    throw driveErrors.invalidQuery();
  }
}

const RESERVED = new Set(['and', 'or', 'not', 'contains', 'in', 'has', 'true', 'false']);
const COMPARISONS = new Set(['=', '!=', '<', '<=', '>', '>=']);

/** Parses `q` into its syntax tree; 400 "Invalid Value" on `q` when it is not Drive's grammar. */
export function parseQuery(q: string): QueryNode {
  return new QueryParser(tokenize(q)).parse();
}

// ------------------------------------------------------------------ matching helpers

/** Alphanumeric tokens, lower-cased: what Drive's name and full-text indexes hold. */
function searchTokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((token) => token.length > 0);
}

function nameContains(name: string, value: string): boolean {
  const nameTokens = searchTokens(name);
  return searchTokens(value).every((wanted) => nameTokens.some((token) => token.startsWith(wanted)));
}

function fullTextContains(text: string, value: string): boolean {
  const textTokens = searchTokens(text);
  const trimmed = value.trim();
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) {
    const phrase = searchTokens(trimmed.slice(1, -1));
    if (phrase.length === 0) return true;
    for (let start = 0; start + phrase.length <= textTokens.length; start++) {
      if (phrase.every((token, offset) => textTokens[start + offset] === token)) return true;
    }
    return false;
  }
  const present = new Set(textTokens);
  return searchTokens(value).every((wanted) => present.has(wanted));
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*([Zz]|[+-]\d{2}:?\d{2})?$/;

/** Epoch milliseconds of an RFC 3339 value; UTC when no zone is given. */
export function parseQueryDate(value: string): number {
  const match = RFC3339.exec(value.trim());
  if (!match) throw driveErrors.invalidQuery();
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone] = match;
  const zonePart =
    zone === undefined ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  const ms = Date.parse(`${year}-${month}-${day}T${hour}:${minute}:${second}${fraction}${zonePart}`);
  if (Number.isNaN(ms)) throw driveErrors.invalidQuery();
  return ms;
}

function compareNumbers(op: Comparison, left: number, right: number): boolean {
  switch (op) {
    case '=':
      return left === right;
    case '!=':
      return left !== right;
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
    default:
      throw driveErrors.invalidQuery();
  }
}

type Predicate<T> = (item: T) => boolean;

function stringValue(value: Literal): string {
  if (value.kind !== 'string') throw driveErrors.invalidQuery();
  return value.value;
}

function booleanValue(value: Literal): boolean {
  if (value.kind !== 'boolean') throw driveErrors.invalidQuery();
  return value.value;
}

function numberValue(value: Literal): number {
  if (value.kind !== 'number') throw driveErrors.invalidQuery();
  return value.value;
}

function stringTerm<T>(
  op: Comparison,
  value: Literal,
  read: (item: T) => string | undefined,
  contains: ((field: string, wanted: string) => boolean) | undefined,
): Predicate<T> {
  const wanted = stringValue(value);
  if (op === '=') return (item) => read(item) === wanted;
  if (op === '!=') return (item) => read(item) !== wanted;
  if (op === 'contains' && contains) return (item) => contains(read(item) ?? '', wanted);
  throw driveErrors.invalidQuery();
}

function booleanTerm<T>(op: Comparison, value: Literal, read: (item: T) => boolean): Predicate<T> {
  const wanted = booleanValue(value);
  if (op === '=') return (item) => read(item) === wanted;
  if (op === '!=') return (item) => read(item) !== wanted;
  throw driveErrors.invalidQuery();
}

function dateTerm<T>(op: Comparison, value: Literal, read: (item: T) => string | undefined): Predicate<T> {
  if (op === 'contains') throw driveErrors.invalidQuery();
  const wanted = parseQueryDate(stringValue(value));
  return (item) => {
    const raw = read(item);
    if (raw === undefined) return false;
    const at = Date.parse(raw);
    return !Number.isNaN(at) && compareNumbers(op, at, wanted);
  };
}

function numberTerm<T>(op: Comparison, value: Literal, read: (item: T) => number): Predicate<T> {
  if (op === 'contains') throw driveErrors.invalidQuery();
  const wanted = numberValue(value);
  return (item) => compareNumbers(op, read(item), wanted);
}

function combine<T>(node: QueryNode, term: (node: QueryNode) => Predicate<T>): Predicate<T> {
  switch (node.type) {
    case 'and': {
      const left = combine(node.left, term);
      const right = combine(node.right, term);
      return (item) => left(item) && right(item);
    }
    case 'or': {
      const left = combine(node.left, term);
      const right = combine(node.right, term);
      return (item) => left(item) || right(item);
    }
    case 'not': {
      const operand = combine(node.operand, term);
      return (item) => !operand(item);
    }
    default:
      return term(node);
  }
}

// ------------------------------------------------------------------ files

const caseless = (email: string): string => email.toLowerCase();

function fileTerm(node: QueryNode, options: QueryOptions): Predicate<QueryableFile> {
  switch (node.type) {
    case 'bare':
      if (node.field === 'sharedWithMe') return (file) => file.sharedWithMe;
      if (node.field === 'starred') return (file) => file.starred;
      if (node.field === 'trashed') return (file) => file.trashed;
      throw driveErrors.invalidQuery();
    case 'in': {
      if (node.collection === 'parents') {
        const parent = node.value;
        return (file) => file.parents.includes(parent);
      }
      const who = caseless(node.value === 'me' && options.me !== undefined ? options.me : node.value);
      const holds = (emails: readonly string[]) => emails.some((email) => caseless(email) === who);
      if (node.collection === 'owners') return (file) => holds(file.ownerEmails);
      if (node.collection === 'writers') return (file) => holds(file.writerEmails) || holds(file.ownerEmails);
      if (node.collection === 'readers') {
        return (file) => holds(file.readerEmails) || holds(file.writerEmails) || holds(file.ownerEmails);
      }
      throw driveErrors.invalidQuery();
    }
    case 'has': {
      if (node.field !== 'properties' && node.field !== 'appProperties') throw driveErrors.invalidQuery();
      const { key, value } = node;
      const field = node.field;
      return (file) => Object.hasOwn(file[field], key) && file[field][key] === value;
    }
    case 'compare': {
      const { op, value } = node;
      switch (node.field) {
        case 'name':
          return stringTerm(op, value, (file: QueryableFile) => file.name, nameContains);
        case 'fullText':
          if (op !== 'contains') throw driveErrors.invalidQuery();
          return stringTerm(op, value, (file: QueryableFile) => file.fullText, fullTextContains);
        case 'mimeType':
          return stringTerm(
            op,
            value,
            (file: QueryableFile) => file.mimeType,
            (field, wanted) => field.toLowerCase().includes(wanted.toLowerCase()),
          );
        case 'modifiedTime':
          return dateTerm(op, value, (file: QueryableFile) => file.modifiedTime);
        case 'createdTime':
          return dateTerm(op, value, (file: QueryableFile) => file.createdTime);
        case 'viewedByMeTime':
          return dateTerm(op, value, (file: QueryableFile) => file.viewedByMeTime);
        case 'trashed':
          return booleanTerm(op, value, (file: QueryableFile) => file.trashed);
        case 'starred':
          return booleanTerm(op, value, (file: QueryableFile) => file.starred);
        case 'sharedWithMe':
          return booleanTerm(op, value, (file: QueryableFile) => file.sharedWithMe);
        case 'visibility':
          if (op === 'contains') throw driveErrors.invalidQuery();
          return stringTerm(op, value, (file: QueryableFile) => file.visibility ?? 'limited', undefined);
        case 'shortcutDetails.targetId':
          if (op === 'contains') throw driveErrors.invalidQuery();
          return stringTerm(op, value, (file: QueryableFile) => file.shortcutTargetId, undefined);
        default:
          throw driveErrors.invalidQuery();
      }
    }
    default:
      throw driveErrors.invalidQuery();
  }
}

const isBlank = (q: string): boolean => q.trim() === '';

/**
 * Compiles files.list's `q`; 400 "Invalid Value" on `q` for bad syntax or an unknown term.
 * A blank `q` filters nothing, as if the parameter were absent (C).
 */
export function compileQuery(q: string, options: QueryOptions = {}): (file: QueryableFile) => boolean {
  if (isBlank(q)) return () => true;
  return combine(parseQuery(q), (node) => fileTerm(node, options));
}

function mentionsFullText(node: QueryNode): boolean {
  switch (node.type) {
    case 'and':
    case 'or':
      return mentionsFullText(node.left) || mentionsFullText(node.right);
    case 'not':
      return mentionsFullText(node.operand);
    case 'compare':
      return node.field === 'fullText';
    default:
      return false;
  }
}

/** Whether `q` has a `fullText` term anywhere (Google refuses those with `orderBy`). Throws on bad syntax. */
export function queryHasFullText(q: string): boolean {
  return !isBlank(q) && mentionsFullText(parseQuery(q));
}

// ------------------------------------------------------------------ shared drives

function driveTerm(node: QueryNode): Predicate<QueryableDrive> {
  if (node.type === 'bare' && node.field === 'hidden') return (drive) => drive.hidden;
  if (node.type !== 'compare') throw driveErrors.invalidQuery();
  const { op, value } = node;
  switch (node.field) {
    case 'name':
      return stringTerm(op, value, (drive: QueryableDrive) => drive.name, nameContains);
    case 'createdTime':
      return dateTerm(op, value, (drive: QueryableDrive) => drive.createdTime);
    case 'hidden':
      return booleanTerm(op, value, (drive: QueryableDrive) => drive.hidden);
    case 'memberCount':
      return numberTerm(op, value, (drive: QueryableDrive) => drive.memberCount);
    case 'organizerCount':
      return numberTerm(op, value, (drive: QueryableDrive) => drive.organizerCount);
    default:
      throw driveErrors.invalidQuery();
  }
}

/** Compiles drives.list's `q` (name, createdTime, hidden, memberCount, organizerCount). */
export function compileDriveQuery(q: string): (drive: QueryableDrive) => boolean {
  if (isBlank(q)) return () => true;
  return combine(parseQuery(q), driveTerm);
}

// ------------------------------------------------------------------ orderBy

/** The sort keys files.list accepts (discovery document, A). */
export const ORDER_BY_KEYS = [
  'createdTime',
  'folder',
  'modifiedByMeTime',
  'modifiedTime',
  'name',
  'name_natural',
  'quotaBytesUsed',
  'recency',
  'sharedWithMeTime',
  'starred',
  'viewedByMeTime',
] as const;
export type OrderByKey = (typeof ORDER_BY_KEYS)[number];

const FOLDER_MIME = 'application/vnd.google-apps.folder';
const naturalCollator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

const time = (value: string | undefined): number => {
  if (value === undefined) return Number.NEGATIVE_INFINITY;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
};

const byNumber = (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : 0);

/** Plain alphabetical order, case-insensitive first: "1", "12", "2" (DRIVE_API §1.1). */
function byName(a: string, b: string): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  if (left !== right) return left < right ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Ascending order of each key. Documented choices (C): `folder` and `starred` put folders and
 * starred items first; missing times sort as the oldest; `recency` is the latest of the
 * item's own times.
 */
const ASCENDING: Record<OrderByKey, (a: QueryableFile, b: QueryableFile) => number> = {
  createdTime: (a, b) => byNumber(time(a.createdTime), time(b.createdTime)),
  folder: (a, b) => byNumber(a.mimeType === FOLDER_MIME ? 0 : 1, b.mimeType === FOLDER_MIME ? 0 : 1),
  modifiedByMeTime: (a, b) => byNumber(time(a.modifiedByMeTime), time(b.modifiedByMeTime)),
  modifiedTime: (a, b) => byNumber(time(a.modifiedTime), time(b.modifiedTime)),
  name: (a, b) => byName(a.name, b.name),
  name_natural: (a, b) => naturalCollator.compare(a.name, b.name) || byName(a.name, b.name),
  quotaBytesUsed: (a, b) => byNumber(a.quotaBytesUsed, b.quotaBytesUsed),
  recency: (a, b) => byNumber(recency(a), recency(b)),
  sharedWithMeTime: (a, b) => byNumber(time(a.sharedWithMeTime), time(b.sharedWithMeTime)),
  starred: (a, b) => byNumber(a.starred ? 0 : 1, b.starred ? 0 : 1),
  viewedByMeTime: (a, b) => byNumber(time(a.viewedByMeTime), time(b.viewedByMeTime)),
};

function recency(file: QueryableFile): number {
  return Math.max(
    time(file.createdTime),
    time(file.modifiedTime),
    time(file.modifiedByMeTime),
    time(file.viewedByMeTime),
    time(file.sharedWithMeTime),
  );
}

const isOrderByKey = (key: string): key is OrderByKey => (ORDER_BY_KEYS as readonly string[]).includes(key);

/**
 * Compiles `orderBy` ("folder,modifiedTime desc,name"). Unknown keys or directions are
 * 400 `badRequest` "Invalid Value" on `orderBy`. Ties are always broken by id, ascending,
 * so pages never overlap or skip.
 */
export function compileOrderBy(orderBy: string | undefined): (a: QueryableFile, b: QueryableFile) => number {
  const keys: { compare: (a: QueryableFile, b: QueryableFile) => number; descending: boolean }[] = [];
  for (const part of (orderBy ?? '').split(',')) {
    const words = part.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) {
      if (orderBy !== undefined && orderBy.trim() !== '')
        throw driveErrors.badRequest('Invalid Value', 'orderBy');
      continue;
    }
    const [key, direction, extra] = words;
    if (key === undefined || !isOrderByKey(key) || extra !== undefined) {
      throw driveErrors.badRequest('Invalid Value', 'orderBy');
    }
    if (direction !== undefined && direction.toLowerCase() !== 'desc' && direction.toLowerCase() !== 'asc') {
      throw driveErrors.badRequest('Invalid Value', 'orderBy');
    }
    keys.push({ compare: ASCENDING[key], descending: direction?.toLowerCase() === 'desc' });
  }
  return (a, b) => {
    for (const { compare, descending } of keys) {
      const order = compare(a, b);
      if (order !== 0) return descending ? -order : order;
    }
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
}
