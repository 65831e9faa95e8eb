import { STATUS_CODES } from 'node:http';
import { driveErrors } from './errors.js';

/**
 * The emulator's multipart codecs (RFC 2046 §5.1): `multipart/related` uploads
 * (`uploadType=multipart`) and `multipart/mixed` batches whose parts are `application/http`
 * messages (DRIVE_API §8).
 *
 * Hand-written on purpose: busboy/@fastify/busboy/@fastify/multipart only read
 * `multipart/form-data`, and the general parsers on npm (@remix-run/multipart-parser,
 * @hapi/pez) are stream-oriented form parsers that would still leave the embedded HTTP
 * messages of a batch to us. The whole format is a few rules, all tested here:
 * - a delimiter is `--boundary` at the start of the body or after a line break, followed by
 *   optional transport padding (spaces, tabs) and a line break; the close delimiter is
 *   `--boundary--`;
 * - anything before the first delimiter (preamble) or after the close one (epilogue) is ignored;
 * - the line break before a delimiter belongs to the delimiter, not to the part's body;
 * - each part is header lines, an empty line, then the body; a part may have no headers.
 * Lines may end in CRLF or, leniently, a bare LF.
 */

export interface MultipartPart {
  /** Header names lower-cased when parsed; written as given when built. */
  headers: Record<string, string>;
  body: Buffer;
}

/** The `boundary` parameter of a multipart Content-Type; 400 `badRequest` when there is none. */
export function boundaryOf(contentType: string): string {
  const [type, ...parameters] = splitParameters(contentType);
  if (!type || !/^multipart\/[\w.+-]+$/i.test(type.trim())) {
    throw driveErrors.badRequest('Bad multipart request: the Content-Type is not multipart.');
  }
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals < 0) continue;
    if (parameter.slice(0, equals).trim().toLowerCase() !== 'boundary') continue;
    let value = parameter.slice(equals + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    if (value.length > 0 && value.length <= 200) return value;
  }
  throw driveErrors.badRequest('Bad multipart request: missing boundary.');
}

/** Splits `a; b=1; c="x;y"` on semicolons outside quotes. */
function splitParameters(header: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i] as string;
    if (quoted && c === '\\' && i + 1 < header.length) {
      current += c + header[i + 1];
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ';' && !quoted) {
      out.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  out.push(current);
  return out;
}

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const DASH = 0x2d;

/** Index just past the line break at `index` (CRLF or LF), or -1 if there is none there. */
function pastLineBreak(body: Buffer, index: number): number {
  if (body[index] === CR && body[index + 1] === LF) return index + 2;
  if (body[index] === LF) return index + 1;
  return -1;
}

interface Delimiter {
  /** Where the delimiter starts, including the line break before it. */
  readonly start: number;
  /** Just past the delimiter line (or past `--` for the close delimiter). */
  readonly end: number;
  readonly close: boolean;
}

/** The next real delimiter line at or after `from`: `--boundary` at a line start, then `--` or padding + line break. */
function findDelimiter(body: Buffer, dashBoundary: Buffer, from: number): Delimiter | undefined {
  let searchFrom = from;
  for (;;) {
    const at = body.indexOf(dashBoundary, searchFrom);
    if (at < 0) return undefined;
    searchFrom = at + 1;
    let start: number;
    if (at === 0) start = 0;
    else if (body[at - 1] === LF) start = at >= 2 && body[at - 2] === CR ? at - 2 : at - 1;
    else continue; // not at a line start: part of the data
    let cursor = at + dashBoundary.length;
    if (body[cursor] === DASH && body[cursor + 1] === DASH) {
      return { start, end: cursor + 2, close: true };
    }
    while (body[cursor] === SPACE || body[cursor] === TAB) cursor++;
    const lineEnd = pastLineBreak(body, cursor);
    if (lineEnd < 0) continue; // `--boundaryX…`: a longer line that merely starts alike
    return { start, end: lineEnd, close: false };
  }
}

/** Header block → lower-cased names; folded lines unfolded; repeated headers joined with ", ". */
function parseHeaderBlock(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  const unfolded: string[] = [];
  for (const line of lines) {
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && unfolded.length > 0) {
      unfolded[unfolded.length - 1] += ` ${line.trim()}`;
    } else {
      unfolded.push(line);
    }
  }
  for (const line of unfolded) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw driveErrors.badRequest('Bad multipart request: malformed header line.');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

/** Splits an entity into its header block and its body at the first empty line. */
function splitHead(entity: Buffer): { head: string; body: Buffer } {
  // A part with no headers starts with the empty line itself.
  const direct = pastLineBreak(entity, 0);
  if (direct >= 0) return { head: '', body: entity.subarray(direct) };
  const crlf = entity.indexOf('\r\n\r\n');
  const lf = entity.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return { head: entity.toString('latin1'), body: Buffer.alloc(0) };
  const useCrlf = crlf >= 0 && (lf < 0 || crlf <= lf);
  const at = useCrlf ? crlf : lf;
  return {
    head: entity.subarray(0, at).toString('latin1'),
    body: entity.subarray(at + (useCrlf ? 4 : 2)),
  };
}

/** Parses a multipart body. 400 `badRequest` when the boundary never opens or never closes. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  const dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
  const parts: MultipartPart[] = [];
  let delimiter = findDelimiter(body, dashBoundary, 0);
  if (!delimiter)
    throw driveErrors.badRequest('Bad multipart request: the boundary does not occur in the body.');
  while (!delimiter.close) {
    const next = findDelimiter(body, dashBoundary, delimiter.end);
    if (!next) throw driveErrors.badRequest('Bad multipart request: missing closing boundary.');
    const { head, body: content } = splitHead(body.subarray(delimiter.end, next.start));
    parts.push({ headers: parseHeaderBlock(head), body: Buffer.from(content) });
    delimiter = next;
  }
  return parts;
}

/** Writes parts with CRLF line breaks and a close delimiter; header names as given. */
export function buildMultipart(parts: MultipartPart[], boundary: string): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\n`;
    for (const [name, value] of Object.entries(part.headers)) head += `${name}: ${value}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`, 'latin1'), part.body, Buffer.from('\r\n', 'latin1'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
  return Buffer.concat(chunks);
}

// ------------------------------------------------------------------ application/http

export interface EmbeddedHttpRequest {
  method: string;
  /** The request target exactly as written: a path with query, or an absolute URL. */
  url: string;
  /** The path without scheme, host or query, e.g. `/drive/v3/files/ID`. */
  path: string;
  query: URLSearchParams;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface EmbeddedHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits an HTTP message into its start line, headers and body (Content-Length trims the body). */
function parseHttpMessage(entity: Buffer): {
  startLine: string;
  headers: Record<string, string>;
  body: Buffer;
} {
  let offset = 0;
  // Tolerate blank lines before the start line (RFC 9112 §2.2).
  for (;;) {
    const next = pastLineBreak(entity, offset);
    if (next < 0) break;
    offset = next;
  }
  const rest = entity.subarray(offset);
  const lineEnd = rest.indexOf(LF);
  const startLine = (lineEnd < 0 ? rest : rest.subarray(0, lineEnd))
    .toString('latin1')
    .replace(/\r$/, '')
    .trim();
  const afterStart = lineEnd < 0 ? Buffer.alloc(0) : rest.subarray(lineEnd + 1);
  const { head, body } = splitHead(afterStart);
  const headers = parseHeaderBlock(head);
  const declared = headers['content-length'];
  const length = declared === undefined ? Number.NaN : Number(declared);
  const trimmed =
    Number.isInteger(length) && length >= 0 && length < body.length ? body.subarray(0, length) : body;
  return { startLine, headers, body: Buffer.from(trimmed) };
}

/**
 * Reads one batch part: `PATCH /drive/v3/files/ID?fields=name HTTP/1.1`, headers, empty
 * line, body. The HTTP version may be left out, and the target may be an absolute URL.
 */
export function parseEmbeddedHttpRequest(part: MultipartPart): EmbeddedHttpRequest {
  const type = part.headers['content-type'];
  if (type !== undefined && type.split(';')[0]?.trim().toLowerCase() !== 'application/http') {
    throw driveErrors.badRequest('Each part of a batch request must have Content-Type application/http.');
  }
  const { startLine, headers, body } = parseHttpMessage(part.body);
  const match = /^([A-Za-z]+)\s+(\S+)(?:\s+HTTP\/\d(?:\.\d)?)?$/.exec(startLine);
  if (!match) throw driveErrors.badRequest('Malformed batch part: bad request line.');
  const [, method = '', url = ''] = match;
  const parsed = new URL(url, 'http://batch.invalid');
  return {
    method: method.toUpperCase(),
    url,
    path: parsed.pathname,
    query: parsed.searchParams,
    headers,
    body,
  };
}

/** Writes a batch response part's body: status line, headers (with Content-Length), empty line, body. */
export function buildEmbeddedHttpResponse(
  status: number,
  headers: Record<string, string>,
  body: Buffer,
): Buffer {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  let hasLength = false;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'content-length') hasLength = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasLength) head += `Content-Length: ${body.length}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
}

/** Reads a batch response part (what a client does with the emulator's answer). */
export function parseEmbeddedHttpResponse(part: MultipartPart): EmbeddedHttpResponse {
  const { startLine, headers, body } = parseHttpMessage(part.body);
  const match = /^HTTP\/\d(?:\.\d)?\s+(\d{3})(?:\s.*)?$/.exec(startLine);
  if (!match) throw driveErrors.badRequest('Malformed batch response part: bad status line.');
  return { status: Number(match[1]), headers, body };
}

/** Writes a batch request part's body (what a client sends; the inverse of parseEmbeddedHttpRequest). */
export function buildEmbeddedHttpRequest(
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body: Buffer = Buffer.alloc(0),
): Buffer {
  let head = `${method.toUpperCase()} ${url} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
}
