import { describe, expect, it } from 'vitest';
import { DriveApiError } from '../../src/emulator/errors.js';
import {
  boundaryOf,
  buildEmbeddedHttpRequest,
  buildEmbeddedHttpResponse,
  buildMultipart,
  type MultipartPart,
  parseEmbeddedHttpRequest,
  parseEmbeddedHttpResponse,
  parseMultipart,
} from '../../src/emulator/multipart.js';

function badRequest(run: () => unknown): { status: number; reason: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof DriveApiError) return { status: error.status, reason: error.reason };
    throw error;
  }
  throw new Error('expected a DriveApiError');
}

const text = (part: MultipartPart | undefined) => part?.body.toString('utf8');

describe('boundaryOf', () => {
  it('reads plain and quoted boundaries, any parameter order and case', () => {
    expect(boundaryOf('multipart/related; boundary=abc123')).toBe('abc123');
    expect(boundaryOf('multipart/mixed;boundary="batch_x y;z"')).toBe('batch_x y;z');
    expect(boundaryOf('Multipart/Mixed; charset=utf-8; BOUNDARY=b-1')).toBe('b-1');
  });

  it('answers 400 badRequest without a boundary or for a non-multipart type', () => {
    expect(badRequest(() => boundaryOf('multipart/mixed'))).toEqual({ status: 400, reason: 'badRequest' });
    expect(badRequest(() => boundaryOf('multipart/mixed; boundary='))).toEqual({
      status: 400,
      reason: 'badRequest',
    });
    expect(badRequest(() => boundaryOf('application/json; boundary=x'))).toEqual({
      status: 400,
      reason: 'badRequest',
    });
    expect(badRequest(() => boundaryOf(''))).toEqual({ status: 400, reason: 'badRequest' });
  });
});

describe('parseMultipart', () => {
  it('reads a multipart/related upload exactly as googleapis-common writes it', () => {
    // googleapis-common: `--B\r\nContent-Type: …\r\n\r\n` + body + `\r\n`, per part, then `--B--`.
    const body = Buffer.from(
      '--B\r\nContent-Type: application/json\r\n\r\n{"name":"a.txt"}\r\n' +
        '--B\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--B--',
    );
    const parts = parseMultipart(body, 'B');
    expect(parts).toHaveLength(2);
    expect(parts[0]?.headers).toEqual({ 'content-type': 'application/json' });
    expect(text(parts[0])).toBe('{"name":"a.txt"}');
    expect(parts[1]?.headers).toEqual({ 'content-type': 'text/plain' });
    expect(text(parts[1])).toBe('hello\r\nworld');
  });

  it('ignores preamble and epilogue, and transport padding after a delimiter', () => {
    const body = Buffer.from(
      'This is the preamble.\r\n--B  \t\r\nContent-ID: <1>\r\n\r\none\r\n--B\r\n\r\ntwo\r\n--B--  \r\nepilogue\r\n',
    );
    const parts = parseMultipart(body, 'B');
    expect(parts.map(text)).toEqual(['one', 'two']);
    expect(parts[0]?.headers).toEqual({ 'content-id': '<1>' });
    expect(parts[1]?.headers).toEqual({});
  });

  it('keeps binary bodies byte for byte, including CRLFs and boundary-like data', () => {
    const binary = Buffer.from([0, 255, 13, 10, 45, 45, 66, 88, 13, 10, 7, 45, 45, 66, 13, 10, 1, 2, 3]);
    // Data holds "\r\n--BX" (a longer token) and "--B" not at a line start: neither is a delimiter.
    // (A real "\r\n--B\r\n" cannot occur in data: RFC 2046 leaves choosing a boundary to the sender.)
    const payload = Buffer.concat([binary, Buffer.from('x--B\r\n')]);
    const built = buildMultipart(
      [
        { headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{}') },
        { headers: { 'Content-Type': 'application/octet-stream' }, body: payload },
      ],
      'B',
    );
    const parts = parseMultipart(built, 'B');
    expect(parts).toHaveLength(2);
    expect(parts[1]?.body.equals(payload)).toBe(true);
  });

  it('accepts bare LF line breaks', () => {
    const parts = parseMultipart(Buffer.from('--B\nContent-Type: text/plain\n\nline\n--B--\n'), 'B');
    expect(parts).toEqual([{ headers: { 'content-type': 'text/plain' }, body: Buffer.from('line') }]);
  });

  it('unfolds folded headers and joins repeated ones', () => {
    const parts = parseMultipart(
      Buffer.from('--B\r\nX-A: one\r\n  two\r\nX-B: 1\r\nx-b: 2\r\n\r\nbody\r\n--B--'),
      'B',
    );
    expect(parts[0]?.headers).toEqual({ 'x-a': 'one two', 'x-b': '1, 2' });
  });

  it('reads empty bodies and an empty multipart', () => {
    expect(parseMultipart(Buffer.from('--B\r\nA: 1\r\n\r\n\r\n--B--'), 'B')).toEqual([
      { headers: { a: '1' }, body: Buffer.alloc(0) },
    ]);
    expect(parseMultipart(Buffer.from('--B--\r\n'), 'B')).toEqual([]);
  });

  it('answers 400 when the boundary is missing or never closes, or a header is malformed', () => {
    expect(badRequest(() => parseMultipart(Buffer.from('no delimiter here'), 'B')).status).toBe(400);
    expect(badRequest(() => parseMultipart(Buffer.from('--B\r\nA: 1\r\n\r\nbody'), 'B')).status).toBe(400);
    expect(
      badRequest(() => parseMultipart(Buffer.from('--B\r\nnot a header\r\n\r\nx\r\n--B--'), 'B')).status,
    ).toBe(400);
  });

  it('round-trips what buildMultipart writes, for many parts', () => {
    const parts: MultipartPart[] = Array.from({ length: 100 }, (_, i) => ({
      headers: { 'content-type': 'application/http', 'content-id': `<item-${i}>` },
      body: Buffer.from(`GET /drive/v3/files/${i} HTTP/1.1\r\n\r\n`),
    }));
    const boundary = 'batch_abc';
    expect(parseMultipart(buildMultipart(parts, boundary), boundary)).toEqual(parts);
  });
});

describe('embedded HTTP messages (batch parts)', () => {
  it('reads a PATCH with headers, query and JSON body', () => {
    const part: MultipartPart = {
      headers: { 'content-type': 'application/http', 'content-id': '<a>' },
      body: Buffer.from(
        'PATCH /drive/v3/files/ID1?fields=name&supportsAllDrives=true HTTP/1.1\r\n' +
          'Content-Type: application/json; charset=UTF-8\r\nAuthorization: Bearer inner\r\n\r\n{"name":"new"}',
      ),
    };
    const request = parseEmbeddedHttpRequest(part);
    expect(request.method).toBe('PATCH');
    expect(request.url).toBe('/drive/v3/files/ID1?fields=name&supportsAllDrives=true');
    expect(request.path).toBe('/drive/v3/files/ID1');
    expect(request.query.get('fields')).toBe('name');
    expect(request.query.get('supportsAllDrives')).toBe('true');
    expect(request.headers).toEqual({
      'content-type': 'application/json; charset=UTF-8',
      authorization: 'Bearer inner',
    });
    expect(request.body.toString()).toBe('{"name":"new"}');
  });

  it('reads a GET without version, headers or body, and an absolute URL', () => {
    expect(
      parseEmbeddedHttpRequest({ headers: {}, body: Buffer.from('get /drive/v3/about?fields=user') }),
    ).toMatchObject({ method: 'GET', path: '/drive/v3/about', headers: {} });
    const absolute = parseEmbeddedHttpRequest({
      headers: { 'content-type': 'application/http' },
      body: Buffer.from('\r\nGET https://www.googleapis.com/drive/v3/files/X?alt=json HTTP/1.1\r\n\r\n'),
    });
    expect(absolute.url).toBe('https://www.googleapis.com/drive/v3/files/X?alt=json');
    expect(absolute.path).toBe('/drive/v3/files/X');
    expect(absolute.query.get('alt')).toBe('json');
    expect(absolute.body.length).toBe(0);
  });

  it('honours Content-Length inside the part', () => {
    const request = parseEmbeddedHttpRequest({
      headers: {},
      body: Buffer.from('POST /drive/v3/files HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\r\n'),
    });
    expect(request.body.toString()).toBe('{}');
  });

  it('refuses parts that are not application/http or have no request line', () => {
    expect(
      badRequest(() =>
        parseEmbeddedHttpRequest({ headers: { 'content-type': 'text/plain' }, body: Buffer.from('GET /x') }),
      ).status,
    ).toBe(400);
    expect(badRequest(() => parseEmbeddedHttpRequest({ headers: {}, body: Buffer.from('') })).status).toBe(
      400,
    );
    expect(badRequest(() => parseEmbeddedHttpRequest({ headers: {}, body: Buffer.from('GET') })).status).toBe(
      400,
    );
  });

  it('writes response parts with a status line and Content-Length, and reads them back', () => {
    const json = Buffer.from(JSON.stringify({ id: 'x', name: 'é' }), 'utf8');
    const written = buildEmbeddedHttpResponse(
      200,
      { 'Content-Type': 'application/json; charset=UTF-8' },
      json,
    );
    expect(written.toString('utf8')).toBe(
      `HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: ${json.length}\r\n\r\n{"id":"x","name":"é"}`,
    );
    const read = parseEmbeddedHttpResponse({ headers: {}, body: written });
    expect(read.status).toBe(200);
    expect(read.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(read.body.equals(json)).toBe(true);
    expect(buildEmbeddedHttpResponse(404, {}, Buffer.alloc(0)).toString()).toBe(
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
    );
    expect(buildEmbeddedHttpResponse(204, { 'content-length': '0' }, Buffer.alloc(0)).toString()).toBe(
      'HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n',
    );
  });

  it('a whole batch round trip: requests out, responses back, order and Content-IDs kept', () => {
    const requests = buildMultipart(
      ['a', 'b'].map((id) => ({
        headers: { 'Content-Type': 'application/http', 'Content-ID': `<${id}>` },
        body: buildEmbeddedHttpRequest('GET', `/drive/v3/files/${id}?fields=id`),
      })),
      'outer',
    );
    const inbound = parseMultipart(requests, boundaryOf('multipart/mixed; boundary=outer'));
    const responses = buildMultipart(
      inbound.map((part) => {
        const request = parseEmbeddedHttpRequest(part);
        const id = request.path.split('/').pop() as string;
        return {
          headers: {
            'Content-Type': 'application/http',
            'Content-ID': `<response-${part.headers['content-id']?.slice(1, -1)}>`,
          },
          body: buildEmbeddedHttpResponse(
            200,
            { 'Content-Type': 'application/json' },
            Buffer.from(JSON.stringify({ id })),
          ),
        };
      }),
      'reply',
    );
    const answers = parseMultipart(responses, 'reply').map((part) => ({
      contentId: part.headers['content-id'],
      ...parseEmbeddedHttpResponse(part),
    }));
    expect(answers.map((a) => [a.contentId, a.status, JSON.parse(a.body.toString())])).toEqual([
      ['<response-a>', 200, { id: 'a' }],
      ['<response-b>', 200, { id: 'b' }],
    ]);
  });
});
