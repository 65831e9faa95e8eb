import type { drive_v3 } from 'googleapis';
import type { ChangePage, DriveReader } from '../../actors/ports.js';
import { type QuotaGovernor, rateLimitScopeOf } from '../../actors/quota-governor.js';
import type { AccessTokenProvider } from '../control-plane/access-token-client.js';
import {
  type AfterDriveCall,
  type BeforeDriveCall,
  createDriveGateway,
  type DriveGateway,
} from './drive-gateway.js';

export { createDriveApi } from './drive-gateway.js';

export interface DriveReaderOptions {
  readonly api: drive_v3.Drive;
  readonly tokens: AccessTokenProvider;
  readonly connectionId: string;
  readonly pageSize: number;
  readonly governor: QuotaGovernor | null;
  readonly signal?: AbortSignal;
  /** Drive's root; read from the googleapis client's configuration when absent. */
  readonly rootUrl?: string;
}

/**
 * The quota governor as the gateway's two hooks: every call waits for its place in the
 * user's and the project's buckets, and every answer tells the buckets whether Drive
 * still said "slow down".
 */
export function governorHooks(
  governor: QuotaGovernor,
  signal?: AbortSignal,
): { beforeCall: BeforeDriveCall; afterCall: AfterDriveCall } {
  return {
    beforeCall: (_method, context) =>
      governor.acquire({
        googleUser: context.googleUser,
        connectionId: context.connectionId,
        ...(signal ? { signal } : {}),
      }),
    afterCall: (report) => {
      if (report.status === null) return;
      const scope = rateLimitScopeOf(report.status, report.reason);
      if (scope) governor.reportRateLimited({ googleUser: report.googleUser, scope });
      else governor.reportSuccess({ googleUser: report.googleUser });
    },
  };
}

/** A gateway for one connection, wired to the process's quota governor when there is one. */
export function createGovernedDriveGateway(options: DriveReaderOptions): DriveGateway {
  const rootUrl = options.rootUrl ?? options.api.context._options.rootUrl;
  if (!rootUrl) throw new Error('createGovernedDriveGateway: no rootUrl given or configured on the client');
  return createDriveGateway({
    rootUrl,
    api: options.api,
    tokens: options.tokens,
    connectionId: options.connectionId,
    pageSize: options.pageSize,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.governor ? governorHooks(options.governor, options.signal) : {}),
  });
}

/** The connection actor's port (src/actors/ports.ts) over the gateway. */
export function createDriveReader(options: DriveReaderOptions): DriveReader {
  const gateway = createGovernedDriveGateway(options);
  return {
    getStartPageToken: () => gateway.getStartPageToken(),
    listDrives: (pageToken) => gateway.listDrives(pageToken),
    listFiles: (corpus, pageToken) => gateway.listFiles(corpus, pageToken),
    listChanges: (pageToken): Promise<ChangePage> => gateway.listChanges(pageToken),
    allPermissions: (fileId) => gateway.listAllPermissions(fileId),
    allRevisions: (fileId) => gateway.listAllRevisions(fileId),
    allComments: (fileId) => gateway.listAllComments(fileId),
  };
}
