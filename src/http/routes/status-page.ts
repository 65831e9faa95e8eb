import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { authCookie, isAuthorized, tokensMatch } from '../auth.js';

/**
 * `GET /`: the live status page, plain files from src/http/page served as they are (no
 * build step). With a token configured, `/?token=…` is accepted once: the answer sets the
 * token as an HttpOnly cookie and redirects to `/`, so the token leaves the address bar and
 * the page's fetches and EventSource carry it. Without a valid token, a small form asks
 * for it. The page's assets hold no data and stay open.
 */

const assets = {
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;

/** Next to this module (src/http/page, or dist/http/page when the build copied it), else the sources. */
function pageDirectory(): string {
  const candidates = [
    new URL('../page/', import.meta.url),
    new URL('../../../src/http/page/', import.meta.url),
  ];
  for (const candidate of candidates) {
    const path = fileURLToPath(candidate);
    if (existsSync(`${path}index.html`)) return path;
  }
  throw new Error('status page files not found (src/http/page/index.html)');
}

const tokenForm = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gdrive worker: token required</title>
<link rel="stylesheet" href="/page/style.css"></head>
<body><main class="token-form"><h1>Google Drive worker</h1>
<form method="get" action="/"><label>Access token <input type="password" name="token" autocomplete="off" autofocus></label>
<button type="submit">Open</button></form></main></body></html>`;

const assetParamsSchema = z.object({ file: z.enum(['app.js', 'style.css']) });
const querySchema = z.object({ token: z.string().min(1).max(4096).optional() });

const loopbackOnly =
  'The status page answers loopback clients only while HTTP_AUTH_TOKEN is unset: use kubectl port-forward, or set a token.\n';

export const statusPageRoute: FastifyPluginAsync<{ authToken: string | null }> = async (
  app,
  { authToken },
) => {
  const directory = pageDirectory();
  const index = await readFile(`${directory}index.html`, 'utf8');
  const files = new Map<string, string>();
  for (const name of Object.keys(assets)) files.set(name, await readFile(`${directory}${name}`, 'utf8'));

  app.get('/', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const query = querySchema.safeParse(request.query);
    const offered = query.success ? query.data.token : undefined;
    if (authToken !== null && offered !== undefined) {
      if (tokensMatch(offered, authToken)) {
        const secure = request.protocol === 'https';
        return reply.header('set-cookie', authCookie(authToken, secure)).redirect('/', 303);
      }
      return reply.code(401).type('text/html; charset=utf-8').send(tokenForm);
    }
    if (!isAuthorized(request, authToken)) {
      if (authToken === null) {
        return reply.code(403).type('text/plain; charset=utf-8').send(loopbackOnly);
      }
      return reply.code(401).type('text/html; charset=utf-8').send(tokenForm);
    }
    return reply.type('text/html; charset=utf-8').send(index);
  });

  // Browsers ask for it on every page; an empty answer keeps 404s out of their consoles.
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());

  app.get('/page/:file', async (request, reply) => {
    const params = assetParamsSchema.safeParse(request.params);
    const body = params.success ? files.get(params.data.file) : undefined;
    if (!params.success || body === undefined) return reply.code(404).send({ error: 'not_found' });
    return reply.type(assets[params.data.file]).header('cache-control', 'no-cache').send(body);
  });
};
