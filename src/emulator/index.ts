import type { AddressInfo } from 'node:net';
import { EmulatorAdminClient } from './admin-client.js';
import { userWithTokens } from './http/admin.js';
import { buildEmulatorApp } from './http/app.js';
import { type BatchMode, EmulatorRuntime } from './http/runtime.js';
import { REALISM_ON, type RealismPatch, withRealism } from './realism.js';
import { type CorpusOptions, generateCorpus } from './store/generator.js';

export { EmulatorAdminClient } from './admin-client.js';
export type { BatchMode } from './http/runtime.js';
export type { RealismPatch, RealismSettings } from './realism.js';
export type { CorpusOptions } from './store/generator.js';

export interface DriveEmulatorOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Seed of every id and generated value. Default 42. */
  readonly seed?: number;
  /** Generate a corpus at start (otherwise the world is empty until the admin API fills it). */
  readonly corpus?: CorpusOptions;
  /** Access-token lifetime. Default 3600. */
  readonly tokenLifetimeSeconds?: number;
  /** Per-user and per-project budgets, requests a minute. Default 12,000 each. */
  readonly quota?: { readonly perUserPerMinute?: number; readonly perProjectPerMinute?: number };
  /**
   * Google's looseness: short and empty pages, coalesced change-log entries, delayed and
   * duplicated push messages. Default on; `false` (benchmarks) turns all of it off, an
   * object turns single parts off.
   */
  readonly realism?: boolean | RealismPatch;
  /** How a batch request's parts are answered: `serial` (default) or `parallel`. */
  readonly batchMode?: BatchMode;
}

export interface DemoCredentials {
  readonly userId: string;
  readonly email: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface RunningDriveEmulator {
  /** `http://127.0.0.1:PORT`: pass `url + '/'` as @googleapis/drive' rootUrl, `url + '/token'` as oauth2TokenUrl. */
  readonly url: string;
  readonly port: number;
  readonly admin: EmulatorAdminClient;
  /** Tokens of the corpus's first user, when a corpus was generated at start. */
  readonly demo: DemoCredentials | undefined;
  close(): Promise<void>;
}

export async function startDriveEmulator(options: DriveEmulatorOptions = {}): Promise<RunningDriveEmulator> {
  const seed = options.seed ?? 42;
  const runtime = new EmulatorRuntime(seed, options.tokenLifetimeSeconds ?? 3600);
  if (options.realism !== undefined) runtime.realism = withRealism(REALISM_ON, options.realism);
  if (options.batchMode !== undefined) runtime.batchMode = options.batchMode;
  if (options.quota) {
    runtime.control.setQuota({
      ...(options.quota.perUserPerMinute !== undefined
        ? { perUserPerMinute: options.quota.perUserPerMinute }
        : {}),
      ...(options.quota.perProjectPerMinute !== undefined
        ? { perProjectPerMinute: options.quota.perProjectPerMinute }
        : {}),
    });
  }
  let demo: DemoCredentials | undefined;
  if (options.corpus) {
    const corpus = generateCorpus(seed, options.corpus);
    runtime.replaceWorld(corpus.world);
    const first = corpus.users[0];
    if (first) {
      const issued = userWithTokens(runtime, first);
      demo = {
        userId: first.id,
        email: first.email,
        accessToken: issued.accessToken,
        refreshToken: issued.refreshToken,
        clientId: issued.clientId,
        clientSecret: issued.clientSecret,
      };
    }
  }
  const { app } = buildEmulatorApp(runtime);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ port: options.port ?? 0, host });
  const address = app.server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  runtime.baseUrl = url;
  return {
    url,
    port: address.port,
    admin: new EmulatorAdminClient(url),
    demo,
    close: () => app.close(),
  };
}
