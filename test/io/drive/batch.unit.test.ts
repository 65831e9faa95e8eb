import { describe, expect, it } from 'vitest';
import {
  BatchDecodeError,
  boundaryOfContentType,
  decodeBatchResponse,
  encodeBatchRequest,
  encodeQuery,
} from '../../../src/io/drive/batch.js';
import { failureOfHttpAnswer } from '../../../src/io/drive/drive-call-error.js';
import { classifyFailure } from '../../../src/machines/classify.js';

const part = (contentId: string | null, status: string, headers: string, body: string, eol = '\r\n') =>
  [
    'Content-Type: application/http',
    ...(contentId === null ? [] : [`Content-ID: <response-${contentId}>`]),
    '',
    status,
    ...(headers ? [headers] : []),
    '',
    body,
  ].join(eol);

describe('the batch codec', () => {
  it('writes one application/http GET part per request, numbered from 1, with a closing delimiter', () => {
    const body = encodeBatchRequest(
      [
        {
          path: '/drive/v3/files/A/permissions',
          query: { supportsAllDrives: true, fields: 'nextPageToken,permissions(id)' },
        },
        { path: '/drive/v3/files/B', query: {} },
      ],
      'XYZ',
    );
    expect(body).toBe(
      '--XYZ\r\nContent-Type: application/http\r\nContent-ID: <1>\r\n\r\n' +
        'GET /drive/v3/files/A/permissions?supportsAllDrives=true&fields=nextPageToken%2Cpermissions(id) HTTP/1.1\r\n\r\n' +
        '--XYZ\r\nContent-Type: application/http\r\nContent-ID: <2>\r\n\r\n' +
        'GET /drive/v3/files/B HTTP/1.1\r\n\r\n' +
        '--XYZ--\r\n',
    );
  });

  it('encodes spaces as %20, never +', () => {
    expect(encodeQuery({ q: "name = 'a b'" })).toBe("q=name%20%3D%20'a%20b'");
  });

  it('reads the boundary of a multipart answer, quoted or not', () => {
    expect(boundaryOfContentType('multipart/mixed; boundary=batch_abc')).toBe('batch_abc');
    expect(boundaryOfContentType('multipart/mixed; boundary="batch abc"; charset=utf-8')).toBe('batch abc');
    expect(boundaryOfContentType('application/json')).toBeNull();
    expect(boundaryOfContentType(null)).toBeNull();
  });

  it('puts parts back in request order by Content-ID and parses JSON bodies', () => {
    const body =
      'preamble\r\n--b\r\n' +
      part(
        '2',
        'HTTP/1.1 404 Not Found',
        'Content-Type: application/json; charset=UTF-8',
        '{"error":{"code":404,"message":"File not found: X.","errors":[{"reason":"notFound","location":"fileId"}]}}',
      ) +
      '\r\n--b\r\n' +
      part('1', 'HTTP/1.1 200 OK', 'Content-Type: application/json; charset=UTF-8', '{"permissions":[]}') +
      '\r\n--b--\r\n';
    const answers = decodeBatchResponse(body, 'b', 2);
    expect(answers.map((a) => a.status)).toEqual([200, 404]);
    expect(answers[0]?.body).toEqual({ permissions: [] });
    expect(answers[1]?.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(
      classifyFailure(failureOfHttpAnswer(answers[1] as { status: number; body: unknown })),
    ).toMatchObject({
      classification: 'not_found',
      code: 'notFound',
    });
  });

  it('falls back to position when parts carry no Content-ID, and accepts bare LF line ends', () => {
    const body = `--b\n${part(null, 'HTTP/1.1 200 OK', 'Content-Type: application/json', '{"a":1}', '\n')}\n--b\n${part(null, 'HTTP/1.1 204 No Content', '', '', '\n')}\n--b--`;
    const answers = decodeBatchResponse(body, 'b', 2);
    expect(answers).toEqual([
      { status: 200, headers: { 'content-type': 'application/json' }, body: { a: 1 } },
      { status: 204, headers: {}, body: null },
    ]);
  });

  it('keeps a non-JSON part body as text (429s have come back as HTML) and still classifies it', () => {
    const body = `--b\r\n${part('1', 'HTTP/1.1 429 Too Many Requests', 'Content-Type: text/html\r\nRetry-After: 3', '<html>slow down</html>')}\r\n--b--`;
    const [answer] = decodeBatchResponse(body, 'b', 1);
    expect(answer?.body).toBe('<html>slow down</html>');
    const classified = classifyFailure(
      failureOfHttpAnswer(answer as { status: number; headers: Record<string, string>; body: unknown }),
    );
    expect(classified).toMatchObject({
      classification: 'rate_limited',
      retryAfterMs: 3_000,
      code: 'http_429',
    });
    expect(classified.message).not.toContain('<html>');
  });

  it('refuses an answer with a different number of parts or without status lines', () => {
    const one = `--b\r\n${part('1', 'HTTP/1.1 200 OK', 'Content-Type: application/json', '{}')}\r\n--b--`;
    expect(() => decodeBatchResponse(one, 'b', 2)).toThrow(BatchDecodeError);
    expect(() =>
      decodeBatchResponse('--b\r\nContent-Type: application/http\r\n\r\nnonsense\r\n--b--', 'b', 1),
    ).toThrow(BatchDecodeError);
  });
});

describe('failures read from Drive answers', () => {
  it('reads reason, location and a Retry-After date', () => {
    const failure = failureOfHttpAnswer({
      status: 400,
      headers: new Headers({ 'retry-after': new Date(Date.now() + 60_000).toUTCString() }),
      body: {
        error: {
          code: 400,
          message: 'Invalid Value',
          errors: [{ reason: 'invalid', location: 'pageToken' }],
        },
      },
    });
    expect(failure).toMatchObject({
      httpStatus: 400,
      reason: 'invalid',
      location: 'pageToken',
      message: 'Invalid Value',
    });
    expect(failure.retryAfterMs).toBeGreaterThan(55_000);
    expect(classifyFailure(failure).cursorInvalid).toBe(true);
  });

  it('403 userRateLimitExceeded is a rate limit, not a permission problem', () => {
    const failure = failureOfHttpAnswer({
      status: 403,
      body: JSON.stringify({
        error: {
          code: 403,
          message: 'User Rate Limit Exceeded',
          errors: [{ reason: 'userRateLimitExceeded' }],
        },
      }),
    });
    expect(classifyFailure(failure)).toMatchObject({ classification: 'rate_limited', retryable: true });
  });
});
