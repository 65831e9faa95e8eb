import { randomBytes } from 'node:crypto';

/**
 * Drive's batch endpoint (DRIVE_API.md §8), which googleapis does not speak: a
 * `multipart/mixed` body of `application/http` parts, each a whole HTTP request, answered
 * by a `multipart/mixed` body of whole HTTP responses. Only GETs are sent (no media: Drive
 * refuses it in batches). The codec is pure; `sendBatch` is the one function doing I/O.
 */

export const BATCH_PATH = '/batch/drive/v3';

export interface BatchRequestPart {
  /** Absolute path under the root, e.g. `/drive/v3/files/ID/permissions`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string | number | boolean>>;
}

export interface BatchAnswer {
  readonly status: number;
  /** Lower-cased names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON when the part's body is JSON, the text otherwise, null when empty. */
  readonly body: unknown;
}

/** A batch request whose outer answer was not a 2xx multipart body. */
export class BatchHttpFailure extends Error {
  constructor(readonly answer: BatchAnswer) {
    super(`batch request answered ${answer.status}`);
    this.name = 'BatchHttpFailure';
  }
}

/** A batch answer we cannot read (wrong type, parts missing): a bad gateway by our reading. */
export class BatchDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchDecodeError';
  }
}

/** Query string as googleapis writes it (qs): `%20` for spaces, never `+`. */
export function encodeQuery(query: Readonly<Record<string, string | number | boolean>>): string {
  return Object.entries(query)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
    .join('&');
}

/** The request body; part n (0-based) carries `Content-ID: <n+1>`. */
export function encodeBatchRequest(parts: readonly BatchRequestPart[], boundary: string): string {
  let body = '';
  parts.forEach((part, index) => {
    const query = encodeQuery(part.query);
    body +=
      `--${boundary}\r\n` +
      'Content-Type: application/http\r\n' +
      `Content-ID: <${index + 1}>\r\n` +
      '\r\n' +
      `GET ${part.path}${query ? `?${query}` : ''} HTTP/1.1\r\n` +
      '\r\n';
  });
  return `${body}--${boundary}--\r\n`;
}

export function newBoundary(): string {
  return `batch_${randomBytes(16).toString('hex')}`;
}

/** The boundary parameter of a multipart Content-Type, or null. */
export function boundaryOfContentType(contentType: string | null): string | null {
  if (contentType === null || !/^\s*multipart\//i.test(contentType)) return null;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

function splitHead(block: string): { head: string; body: string } {
  const match = /\r?\n\r?\n/.exec(block);
  if (!match) return { head: block, body: '' };
  return { head: block.slice(0, match.index), body: block.slice(match.index + match[0].length) };
}

function parseHeaders(head: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text.trim() === '') return null;
  if (contentType === undefined || /json/i.test(contentType)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * Splits a multipart/mixed batch answer into its parts, in request order: by `Content-ID`
 * (`<response-n>`) when every part has one, by position otherwise. Each part must hold an
 * HTTP response; there must be exactly `expectedParts` of them.
 */
export function decodeBatchResponse(body: string, boundary: string, expectedParts: number): BatchAnswer[] {
  const delimiter = `--${boundary}`;
  const segments = body.split(delimiter);
  // segments[0] is the preamble; the one starting with `--` is the epilogue after the close delimiter.
  const parts: { contentId: string | null; answer: BatchAnswer }[] = [];
  for (const raw of segments.slice(1)) {
    if (raw.startsWith('--')) break;
    const segment = raw.replace(/^\r?\n/, '').replace(/\r?\n$/, '');
    const outer = splitHead(segment);
    const outerHeaders = parseHeaders(outer.head);
    const inner = splitHead(outer.body);
    const lines = inner.head.split(/\r?\n/);
    const status = /^HTTP\/\d(?:\.\d)?\s+(\d{3})\b/.exec(lines[0] ?? '');
    if (!status) throw new BatchDecodeError('a batch answer part holds no HTTP status line');
    const headers = parseHeaders(lines.slice(1).join('\n'));
    const contentId = outerHeaders['content-id']?.replace(/^<|>$/g, '').replace(/^response-/, '') ?? null;
    parts.push({
      contentId,
      answer: { status: Number(status[1]), headers, body: parseBody(inner.body, headers['content-type']) },
    });
  }
  if (parts.length !== expectedParts) {
    throw new BatchDecodeError(`the batch answer has ${parts.length} parts for ${expectedParts} requests`);
  }
  if (parts.every((part) => part.contentId !== null && /^\d+$/.test(part.contentId))) {
    const ordered = new Array<BatchAnswer | undefined>(expectedParts);
    for (const part of parts) ordered[Number(part.contentId) - 1] = part.answer;
    if (ordered.every((answer) => answer !== undefined)) return ordered as BatchAnswer[];
  }
  return parts.map((part) => part.answer);
}

export interface SendBatchOptions {
  /** Drive's root, without trailing slash. */
  readonly rootUrl: string;
  /** The outer Authorization header: Drive applies it to every part. */
  readonly authorization: string;
  readonly parts: readonly BatchRequestPart[];
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/**
 * POSTs one batch (at most 100 parts) with Node's fetch and decodes the answer. Rejects
 * with BatchHttpFailure when the batch itself failed, with fetch's own error when no
 * answer came, and with BatchDecodeError when the answer cannot be read.
 */
export async function sendBatch(options: SendBatchOptions): Promise<BatchAnswer[]> {
  const boundary = newBoundary();
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const response = await fetch(`${options.rootUrl}${BATCH_PATH}`, {
    method: 'POST',
    headers: {
      authorization: options.authorization,
      'content-type': `multipart/mixed; boundary=${boundary}`,
      accept: 'multipart/mixed',
    },
    body: encodeBatchRequest(options.parts, boundary),
    signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
  });
  const text = await response.text();
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  if (!response.ok) {
    throw new BatchHttpFailure({
      status: response.status,
      headers,
      body: parseBody(text, headers['content-type']),
    });
  }
  const answerBoundary = boundaryOfContentType(response.headers.get('content-type'));
  if (answerBoundary === null) throw new BatchDecodeError('the batch answer is not multipart');
  return decodeBatchResponse(text, answerBoundary, options.parts.length);
}
