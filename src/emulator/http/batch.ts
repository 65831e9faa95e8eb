import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { DriveApiError, driveErrors } from '../errors.js';
import {
  boundaryOf,
  buildEmbeddedHttpResponse,
  buildMultipart,
  parseEmbeddedHttpRequest,
  parseMultipart,
} from '../multipart.js';
import type { EmulatorRuntime } from './runtime.js';

export const MAX_BATCH_PARTS = 100;

function contentIdOf(headers: Record<string, string | undefined>): string | undefined {
  const raw = headers['content-id'];
  if (raw === undefined) return undefined;
  return raw.trim().replace(/^<|>$/g, '');
}

function errorPart(error: DriveApiError): { status: number; headers: Record<string, string>; body: Buffer } {
  return {
    status: error.status,
    headers: { 'Content-Type': 'application/json; charset=UTF-8' },
    body: Buffer.from(JSON.stringify(error.body), 'utf8'),
  };
}

/**
 * `POST /batch/drive/v3`: each part is replayed through the server itself (Fastify's
 * inject), so it is counted, quota-charged, fault-injected and logged exactly like a
 * direct call, with the outer Authorization unless the part carries its own. Parts run
 * one after another or all at once, per `runtime.batchMode`.
 */
export function registerBatchRoute(app: FastifyInstance, runtime: EmulatorRuntime): void {
  app.post('/batch/drive/v3', async (request, reply) => {
    runtime.control.count('batch');
    const boundary = boundaryOf(String(request.headers['content-type'] ?? ''));
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const parts = parseMultipart(body, boundary);
    if (parts.length > MAX_BATCH_PARTS) {
      throw driveErrors.badRequest(`A batch request cannot contain more than ${MAX_BATCH_PARTS} requests.`);
    }
    const outerAuthorization = request.headers.authorization;
    const answerPart = async (part: (typeof parts)[number], index: number) => {
      const partHeaders = part.headers as Record<string, string | undefined>;
      const contentId = contentIdOf(partHeaders);
      let answer: { status: number; headers: Record<string, string>; body: Buffer };
      try {
        const inner = parseEmbeddedHttpRequest(part);
        const path = inner.url.replace(/^https?:\/\/[^/]+/, '');
        if (path.startsWith('/upload/') || /[?&]alt=media(&|$)/.test(path)) {
          throw driveErrors.badRequest('Media upload and download are not supported in batch requests.');
        }
        const headers: Record<string, string> = { ...inner.headers };
        if (headers.authorization === undefined && typeof outerAuthorization === 'string') {
          headers.authorization = outerAuthorization;
        }
        const response = await app.inject({
          method: inner.method as 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
          url: path,
          headers,
          ...(inner.body.length > 0 ? { payload: inner.body } : {}),
        });
        const responseHeaders: Record<string, string> = {};
        const type = response.headers['content-type'];
        if (typeof type === 'string') responseHeaders['Content-Type'] = type;
        answer = { status: response.statusCode, headers: responseHeaders, body: response.rawPayload };
      } catch (error) {
        answer = errorPart(
          error instanceof DriveApiError ? error : driveErrors.badRequest('Malformed batch part.'),
        );
      }
      return {
        headers: {
          'Content-Type': 'application/http',
          // Google answers `<response-ID>` for a part sent as `<ID>`, angle brackets kept; a
          // part sent without one is named after its position.
          'Content-ID': `<response-${contentId ?? `item-${index + 1}`}>`,
        },
        body: buildEmbeddedHttpResponse(answer.status, answer.headers, answer.body),
      };
    };
    // Either way the answer lists the parts in request order.
    const answers = [];
    if (runtime.batchMode === 'parallel') answers.push(...(await Promise.all(parts.map(answerPart))));
    else for (const [index, part] of parts.entries()) answers.push(await answerPart(part, index));
    const responseBoundary = `batch_${randomBytes(12).toString('hex')}`;
    return reply
      .code(200)
      .header('content-type', `multipart/mixed; boundary=${responseBoundary}`)
      .send(buildMultipart(answers, responseBoundary));
  });
}
