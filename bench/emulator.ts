/**
 * Benchmark of the Drive emulator: can it serve ≥ 2,000 requests a second on this machine
 * while holding a 100k-file corpus, so that it is never the bottleneck when the worker is
 * measured (issue 4)?
 *
 * The emulator runs in a child process (as it does beside a worker under test); this
 * process drives it over loopback with a bounded number of concurrent keep-alive HTTP
 * clients, a fixed number of requests per scenario and a time cap per scenario.
 *
 *   npx tsx bench/emulator.ts [--files 100000] [--concurrency 16] [--scale 1] [--max-seconds 60]
 *
 * `--scale` multiplies every scenario's request count (0.1 for a quick look).
 */
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startDriveEmulator } from '../src/emulator/index.js';
import { runWhenEntry, writeResults } from './support/table.js';

const TARGET_REQUESTS_PER_SECOND = 2_000;

/** The worker's selectors (src/contract/drive-resources.ts at the time of writing), copied so the bench stands alone. */
const USER_FIELDS = 'displayName,emailAddress,permissionId';
const PERMISSION_FIELDS =
  'id,type,role,emailAddress,domain,displayName,allowFileDiscovery,expirationTime,deleted,permissionDetails';
const FILE_FIELDS = [
  'id,name,mimeType,parents,driveId,trashed,explicitlyTrashed,size,md5Checksum,version,createdTime,modifiedTime',
  `owners(${USER_FIELDS}),ownedByMe,permissionIds,permissions(${PERMISSION_FIELDS})`,
  'webViewLink,description,starred,shared,headRevisionId',
  `lastModifyingUser(${USER_FIELDS}),shortcutDetails(targetId,targetMimeType),capabilities(canReadRevisions,canDownload)`,
].join(',');
const FILE_LIST_FIELDS = `nextPageToken,incompleteSearch,files(${FILE_FIELDS})`;
const CHANGE_LIST_FIELDS = `nextPageToken,newStartPageToken,changes(changeType,time,removed,fileId,driveId,file(${FILE_FIELDS}),drive(id,name,createdTime,hidden,colorRgb))`;
const PERMISSION_LIST_FIELDS = `nextPageToken,permissions(${PERMISSION_FIELDS})`;
const REVISION_LIST_FIELDS = `nextPageToken,revisions(id,mimeType,modifiedTime,keepForever,md5Checksum,size,originalFilename,lastModifyingUser(${USER_FIELDS}))`;
const REPLY_FIELDS = 'id,createdTime,modifiedTime,author(displayName),content,deleted,action';
const COMMENT_LIST_FIELDS = `nextPageToken,comments(id,createdTime,modifiedTime,author(displayName),content,deleted,resolved,quotedFileContent,replies(${REPLY_FIELDS}))`;

// ------------------------------------------------------------------ the emulator side (child)

const readyMessage = z.object({
  type: z.literal('ready'),
  url: z.string(),
  accessToken: z.string(),
  files: z.number(),
  generationMs: z.number(),
  rssBytes: z.number(),
  heapUsedBytes: z.number(),
});
type ReadyMessage = z.infer<typeof readyMessage>;

const statsMessage = z.object({ type: z.literal('stats'), rssBytes: z.number(), heapUsedBytes: z.number() });

function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

async function serve(files: number): Promise<void> {
  const started = performance.now();
  const emulator = await startDriveEmulator({
    seed: 42,
    corpus: { files, users: 3, sharedDrives: 3 },
    // The benchmark measures serving, not Drive's quota: budgets far above what it sends.
    quota: { perUserPerMinute: 1e9, perProjectPerMinute: 1e9 },
    // Full pages and one entry per edit, so figures stay comparable between runs.
    realism: false,
  });
  const generationMs = performance.now() - started;
  collectGarbage();
  const memory = process.memoryUsage();
  const demo = emulator.demo;
  if (!demo) throw new Error('the generated corpus has no user');
  const ready: ReadyMessage = {
    type: 'ready',
    url: emulator.url,
    accessToken: demo.accessToken,
    files,
    generationMs,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
  };
  process.send?.(ready);
  process.on('message', (message: unknown) => {
    if (message === 'stats') {
      const now = process.memoryUsage();
      process.send?.({ type: 'stats', rssBytes: now.rss, heapUsedBytes: now.heapUsed });
    }
  });
  process.on('disconnect', () => {
    void emulator.close().finally(() => process.exit(0));
  });
}

// ------------------------------------------------------------------ the client side (parent)

interface Answer {
  readonly status: number;
  readonly body: string;
}

function get(agent: Agent, url: URL, path: string, token: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path,
        method: 'GET',
        headers: { authorization: `Bearer ${token}` },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** `nextPageToken` without parsing a page of a megabyte or more on the client's core. */
function nextPageTokenOf(body: string): string | undefined {
  return /"nextPageToken":"([^"]+)"/.exec(body)?.[1];
}

/** A scenario hands each client a request generator; a client walks its own pages. */
interface Scenario {
  readonly name: string;
  readonly requests: number;
  client(): (previous: Answer | undefined) => string;
}

interface ScenarioResult {
  readonly name: string;
  readonly requests: number;
  readonly failures: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function runScenario(
  scenario: Scenario,
  url: URL,
  token: string,
  concurrency: number,
  maxSeconds: number,
): Promise<ScenarioResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let issued = 0;
  let failures = 0;
  let bytes = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  const clients = Array.from({ length: concurrency }, async () => {
    const next = scenario.client();
    let previous: Answer | undefined;
    while (issued < scenario.requests && performance.now() < deadline) {
      issued++;
      const sent = performance.now();
      previous = await get(agent, url, next(previous), token);
      latencies.push(performance.now() - sent);
      bytes += previous.body.length;
      if (previous.status !== 200) failures++;
    }
  });
  await Promise.all(clients);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    name: scenario.name,
    requests: latencies.length,
    failures,
    seconds,
    requestsPerSecond: latencies.length / seconds,
    megabytesPerSecond: bytes / 1e6 / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

function listScenario(name: string, requests: number, pageSize: number): Scenario {
  const base = `/drive/v3/files?pageSize=${pageSize}&corpora=user&includeItemsFromAllDrives=false&supportsAllDrives=true&fields=${encodeURIComponent(FILE_LIST_FIELDS)}`;
  return {
    name,
    requests,
    client: () => (previous) => {
      const token = previous ? nextPageTokenOf(previous.body) : undefined;
      return token === undefined ? base : `${base}&pageToken=${encodeURIComponent(token)}`;
    },
  };
}

/**
 * The request mix of a full sync as the worker makes it: a files.list page of 100, then for
 * each file of the page the calls the worker makes (permissions when Drive did not inline
 * them, revisions, comments), then the next page.
 */
const listedPage = z.object({
  nextPageToken: z.string().optional(),
  files: z.array(
    z.object({
      id: z.string(),
      mimeType: z.string(),
      driveId: z.string().optional(),
      permissions: z.array(z.unknown()).optional(),
      capabilities: z.object({ canReadRevisions: z.boolean().optional() }).optional(),
    }),
  ),
});

/** The per-file calls the worker makes for a listed file (src/actors/sync-runs.ts). */
function extrasOf(file: z.infer<typeof listedPage>['files'][number]): string[] {
  const isFolder = file.mimeType === 'application/vnd.google-apps.folder';
  const calls: string[] = [];
  if (!file.permissions || file.driveId !== undefined)
    calls.push(
      `/drive/v3/files/${file.id}/permissions?supportsAllDrives=true&pageSize=100&fields=${encodeURIComponent(PERMISSION_LIST_FIELDS)}`,
    );
  if (!isFolder && file.capabilities?.canReadRevisions !== false)
    calls.push(
      `/drive/v3/files/${file.id}/revisions?pageSize=200&fields=${encodeURIComponent(REVISION_LIST_FIELDS)}`,
    );
  if (!isFolder)
    calls.push(
      `/drive/v3/files/${file.id}/comments?pageSize=100&includeDeleted=true&fields=${encodeURIComponent(COMMENT_LIST_FIELDS)}`,
    );
  return calls;
}

function fullSyncMixScenario(requests: number): Scenario {
  const base = `/drive/v3/files?pageSize=100&corpora=user&includeItemsFromAllDrives=false&supportsAllDrives=true&fields=${encodeURIComponent(FILE_LIST_FIELDS)}`;
  return {
    name: 'full-sync mix: list page 100 + per-file extras',
    requests,
    client: () => {
      let queue: string[] = [];
      let pageToken: string | undefined;
      return (previous) => {
        if (previous && /"kind":"drive#fileList"|"files":\[/.test(previous.body.slice(0, 200))) {
          const page = listedPage.parse(JSON.parse(previous.body));
          pageToken = page.nextPageToken;
          queue = page.files.flatMap(extrasOf);
        }
        const next = queue.shift();
        if (next !== undefined) return next;
        return pageToken === undefined ? base : `${base}&pageToken=${encodeURIComponent(pageToken)}`;
      };
    },
  };
}

function changesScenario(requests: number, pageSize: number): Scenario {
  const base = `/drive/v3/changes?pageSize=${pageSize}&includeItemsFromAllDrives=true&supportsAllDrives=true&includeRemoved=true&includeCorpusRemovals=false&fields=${encodeURIComponent(CHANGE_LIST_FIELDS)}`;
  return {
    name: `changes.list pageSize ${pageSize}, worker selector`,
    requests,
    client: () => (previous) => {
      // From the start of the log each time the end is reached: every page carries files.
      const token = (previous ? nextPageTokenOf(previous.body) : undefined) ?? '1';
      return `${base}&pageToken=${encodeURIComponent(token)}`;
    },
  };
}

function byIdScenario(
  name: string,
  requests: number,
  ids: readonly string[],
  path: (id: string) => string,
): Scenario {
  let cursor = 0;
  return {
    name,
    requests,
    client: () => () => path(ids[cursor++ % ids.length] as string),
  };
}

async function sampleFileIds(url: URL, token: string, count: number): Promise<string[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const ids: string[] = [];
  let pageToken: string | undefined;
  do {
    const answer = await get(
      agent,
      url,
      `/drive/v3/files?pageSize=1000&q=${encodeURIComponent("mimeType != 'application/vnd.google-apps.folder'")}&fields=nextPageToken,files(id)${pageToken ? `&pageToken=${pageToken}` : ''}`,
      token,
    );
    if (answer.status !== 200) throw new Error(`files.list answered ${answer.status}`);
    const page = z
      .object({ nextPageToken: z.string().optional(), files: z.array(z.object({ id: z.string() })) })
      .parse(JSON.parse(answer.body));
    ids.push(...page.files.map((f) => f.id));
    pageToken = page.nextPageToken;
  } while (pageToken !== undefined && ids.length < count);
  agent.destroy();
  return ids.slice(0, count);
}

function startEmulatorChild(files: number): Promise<{ child: ReturnType<typeof fork>; ready: ReadyMessage }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', '--files', String(files)], {
    execArgv: [...process.execArgv, '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`the emulator process exited (${code}) before it was ready`)),
    );
    child.once('message', (message: unknown) => resolve({ child, ready: readyMessage.parse(message) }));
  });
}

function childStats(child: ReturnType<typeof fork>): Promise<z.infer<typeof statsMessage>> {
  return new Promise((resolve) => {
    child.once('message', (message: unknown) => resolve(statsMessage.parse(message)));
    child.send('stats');
  });
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

export interface EmulatorBenchmarkOptions {
  readonly files: number;
  readonly concurrency: number;
  readonly scale: number;
  readonly maxSecondsPerScenario: number;
}

export interface EmulatorBenchmarkReport {
  readonly files: number;
  readonly generationSeconds: number;
  readonly rssAfterGenerationBytes: number;
  readonly heapAfterGenerationBytes: number;
  readonly rssAfterLoadBytes: number;
  readonly scenarios: readonly ScenarioResult[];
}

export async function runEmulatorBenchmark(
  options: EmulatorBenchmarkOptions,
): Promise<EmulatorBenchmarkReport> {
  const { child, ready } = await startEmulatorChild(options.files);
  child.removeAllListeners('exit');
  try {
    const url = new URL(ready.url);
    const token = ready.accessToken;
    const ids = await sampleFileIds(url, token, 2_000);
    const n = (count: number) => Math.max(1, Math.round(count * options.scale));
    const scenarios: Scenario[] = [
      byIdScenario(
        'files.get, worker selector',
        n(20_000),
        ids,
        (id) => `/drive/v3/files/${id}?supportsAllDrives=true&fields=${encodeURIComponent(FILE_FIELDS)}`,
      ),
      byIdScenario(
        'files.get, no fields',
        n(20_000),
        ids,
        (id) => `/drive/v3/files/${id}?supportsAllDrives=true`,
      ),
      listScenario('files.list pageSize 100, worker selector', n(4_000), 100),
      listScenario('files.list pageSize 1000, worker selector', n(600), 1000),
      fullSyncMixScenario(n(20_000)),
      changesScenario(n(600), 1000),
      byIdScenario(
        'permissions.list, worker selector',
        n(20_000),
        ids,
        (id) =>
          `/drive/v3/files/${id}/permissions?supportsAllDrives=true&pageSize=100&fields=${encodeURIComponent(PERMISSION_LIST_FIELDS)}`,
      ),
    ];
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) {
      results.push(
        await runScenario(scenario, url, token, options.concurrency, options.maxSecondsPerScenario),
      );
    }
    const after = await childStats(child);
    return {
      files: ready.files,
      generationSeconds: ready.generationMs / 1000,
      rssAfterGenerationBytes: ready.rssBytes,
      heapAfterGenerationBytes: ready.heapUsedBytes,
      rssAfterLoadBytes: after.rssBytes,
      scenarios: results,
    };
  } finally {
    child.disconnect();
  }
}

/** The same figures as `printReport`, as markdown (bench/results/emulator.md). */
function markdownReport(report: EmulatorBenchmarkReport, options: EmulatorBenchmarkOptions): string {
  return [
    `## Emulator bench (scale ${options.scale}, at most ${options.maxSecondsPerScenario} s a scenario)`,
    '',
    `Corpus: ${report.files.toLocaleString('en-US')} files generated in ${report.generationSeconds.toFixed(1)} s; emulator RSS ${mb(report.rssAfterGenerationBytes)} (heap ${mb(report.heapAfterGenerationBytes)}) after generation, ${mb(report.rssAfterLoadBytes)} after the load. Clients: ${options.concurrency} concurrent keep-alive connections over loopback; the emulator in a child process.`,
    '',
    '| scenario | requests | failures | req/s | vs 2,000 | MB/s | p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...report.scenarios.map(
      (r) =>
        `| ${r.name} | ${r.requests} | ${r.failures} | ${Math.round(r.requestsPerSecond)} | ${(r.requestsPerSecond / TARGET_REQUESTS_PER_SECOND).toFixed(2)}× | ${r.megabytesPerSecond.toFixed(1)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} |`,
    ),
    '',
  ].join('\n');
}

function printReport(report: EmulatorBenchmarkReport, concurrency: number): void {
  console.log(
    `corpus: ${report.files} files generated in ${report.generationSeconds.toFixed(1)} s; emulator RSS ${mb(report.rssAfterGenerationBytes)} (heap ${mb(report.heapAfterGenerationBytes)}) after generation, ${mb(report.rssAfterLoadBytes)} after the load`,
  );
  console.log(`clients: ${concurrency} concurrent keep-alive connections over loopback\n`);
  const rows = report.scenarios.map((r) => ({
    scenario: r.name,
    requests: r.requests,
    failures: r.failures,
    'req/s': Math.round(r.requestsPerSecond),
    'vs 2,000': `${(r.requestsPerSecond / TARGET_REQUESTS_PER_SECOND).toFixed(2)}×`,
    'MB/s': r.megabytesPerSecond.toFixed(1),
    'p50 ms': r.p50Ms.toFixed(1),
    'p99 ms': r.p99Ms.toFixed(1),
  }));
  console.table(rows);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'boolean', default: false },
      files: { type: 'string', default: '100000' },
      concurrency: { type: 'string', default: '16' },
      scale: { type: 'string', default: '1' },
      'max-seconds': { type: 'string', default: '60' },
    },
  });
  const files = Number(values.files);
  if (values.serve) return serve(files);
  const options: EmulatorBenchmarkOptions = {
    files,
    concurrency: Number(values.concurrency),
    scale: Number(values.scale),
    maxSecondsPerScenario: Number(values['max-seconds']),
  };
  const report = await runEmulatorBenchmark(options);
  printReport(report, options.concurrency);
  await writeResults('emulator', markdownReport(report, options));
}

runWhenEntry(import.meta.url, main);
