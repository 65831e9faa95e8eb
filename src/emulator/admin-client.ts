import type { BatchMode } from './http/runtime.js';
import type { RealismPatch, RealismSettings } from './realism.js';

export type { BatchMode } from './http/runtime.js';

/** Typed client of the emulator's admin API (`/_emulator/...`), for tests, benchmarks and the demo. */

export interface EmulatorUser {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
  readonly rootFolderId: string;
}

export interface UserCredentials {
  readonly user: EmulatorUser;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** ISO-8601 expiry of the access token. */
  readonly expiresAt: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface GeneratedCorpusSummary {
  readonly seed: number;
  readonly files: number;
  readonly users: readonly UserCredentials[];
  readonly sharedDriveIds: readonly string[];
  readonly oversizedDocIds: readonly string[];
  readonly startPageToken: string;
}

export interface CorpusRequest {
  readonly seed?: number;
  readonly users?: number;
  readonly firstUserShare?: number;
  readonly files?: number;
  readonly folderDepth?: number;
  readonly folderFraction?: number;
  readonly workspaceFraction?: number;
  readonly sharedDrives?: number;
  readonly sharedDriveMembers?: number;
  readonly sharedDriveFraction?: number;
  readonly shareDensity?: number;
  readonly linkShareDensity?: number;
  readonly revisionDensity?: number;
  readonly commentDensity?: number;
  readonly replyDensity?: number;
  readonly maxFileBytes?: number;
  readonly oversizedDocs?: number;
  readonly domain?: string;
  readonly trashDensity?: number;
  readonly shortcutDensity?: number;
  readonly directShareFromDrivesDensity?: number;
  readonly restrictedDownloadDensity?: number;
}

export type DriveMemberRole = 'organizer' | 'fileOrganizer' | 'writer' | 'commenter' | 'reader';
export type ScriptedFaultStatus = 429 | 500 | 502 | 503 | 504 | 403;

export interface EmulatorStateSummary {
  readonly seed: number;
  readonly users: number;
  readonly sharedDrives: number;
  readonly files: number;
  readonly nextChangeToken: string;
  readonly tokenLifetimeSeconds: number;
  readonly quota: { readonly perUserPerMinute: number; readonly perProjectPerMinute: number };
  readonly batchMode: BatchMode;
}

export interface ChannelSummary {
  readonly id: string;
  readonly resourceId: string;
  readonly userId: string;
  readonly kind: 'changes' | 'file';
  readonly expiration: string;
  readonly messages: number;
}

export class EmulatorAdminError extends Error {
  constructor(
    readonly status: number,
    readonly path: string,
    readonly body: string,
  ) {
    super(`Emulator admin call ${path} answered ${status}`);
    this.name = 'EmulatorAdminError';
  }
}

export class EmulatorAdminClient {
  constructor(readonly baseUrl: string) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}/_emulator${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new EmulatorAdminError(response.status, path, text);
    return (text.length > 0 ? JSON.parse(text) : undefined) as T;
  }

  state(): Promise<EmulatorStateSummary> {
    return this.call('GET', '/state');
  }

  /** Creates a user with a My Drive; returns fresh access and refresh tokens. */
  createUser(email: string, displayName?: string): Promise<UserCredentials> {
    return this.call('POST', '/users', { email, ...(displayName !== undefined ? { displayName } : {}) });
  }

  async listUsers(): Promise<EmulatorUser[]> {
    return (await this.call<{ users: EmulatorUser[] }>('GET', '/users')).users;
  }

  issueTokens(userId: string): Promise<UserCredentials> {
    return this.call('POST', `/users/${encodeURIComponent(userId)}/tokens`);
  }

  /** The user's refresh tokens (and the access tokens minted from them) stop working. */
  revokeUser(userId: string): Promise<void> {
    return this.call('POST', `/users/${encodeURIComponent(userId)}/revoke`);
  }

  expireAccessToken(accessToken: string): Promise<void> {
    return this.call('POST', '/tokens/expire', { accessToken });
  }

  setTokenLifetime(seconds: number): Promise<{ seconds: number }> {
    return this.call('PUT', '/settings/token-lifetime', { seconds });
  }

  /** Turns Google's looseness (short pages, coalesced changes, jittery push) on or off, in parts. */
  setRealism(settings: RealismPatch): Promise<RealismSettings> {
    return this.call('PUT', '/settings/realism', settings);
  }

  /** Batch parts answered one after another (`serial`, the default) or all at once (`parallel`). */
  async setBatchMode(mode: BatchMode): Promise<BatchMode> {
    return (await this.call<{ mode: BatchMode }>('PUT', '/settings/batch', { mode })).mode;
  }

  /** Maps a platform connection id to a user, for the control plane's access-token endpoint. */
  mapConnection(connectionId: string, userId: string): Promise<void> {
    return this.call('POST', '/connections', { connectionId, userId });
  }

  createSharedDrive(name: string, organizerId: string): Promise<{ id: string; name: string }> {
    return this.call('POST', '/drives', { name, organizerId });
  }

  setDriveMember(driveId: string, userId: string, role: DriveMemberRole): Promise<void> {
    return this.call('PUT', `/drives/${encodeURIComponent(driveId)}/members/${encodeURIComponent(userId)}`, {
      role,
    });
  }

  removeDriveMember(driveId: string, userId: string): Promise<void> {
    return this.call(
      'DELETE',
      `/drives/${encodeURIComponent(driveId)}/members/${encodeURIComponent(userId)}`,
    );
  }

  /** Pads every export of the file to `bytes` (null restores), e.g. past 10 MB. */
  setExportSize(fileId: string, bytes: number | null): Promise<void> {
    return this.call('PUT', `/files/${encodeURIComponent(fileId)}/export-size`, { bytes });
  }

  /** Replaces the whole world with a generated corpus; previous tokens stop working. */
  generateCorpus(request: CorpusRequest = {}): Promise<GeneratedCorpusSummary> {
    return this.call('POST', '/corpus', request);
  }

  async counters(): Promise<Record<string, number>> {
    return (await this.call<{ counters: Record<string, number> }>('GET', '/counters')).counters;
  }

  /** Calls about one file (its `:fileId` path parameter; batch parts included), per method. */
  async fileCounters(fileId: string): Promise<Record<string, number>> {
    return (
      await this.call<{ counters: Record<string, number> }>(
        'GET',
        `/counters/files/${encodeURIComponent(fileId)}`,
      )
    ).counters;
  }

  resetCounters(): Promise<void> {
    return this.call('DELETE', '/counters');
  }

  /** Buckets start full (a minute's budget); `projectBucketEmpty` starts the project's empty. */
  setQuota(quota: {
    perUserPerMinute?: number;
    perProjectPerMinute?: number;
    projectBucketEmpty?: boolean;
  }): Promise<EmulatorStateSummary['quota']> {
    return this.call('PUT', '/quota', quota);
  }

  /** Probability of each status per call of `method` (a discovery id such as `drive.files.list`, or `*`). */
  setFaultProbabilities(
    method: string,
    probabilities: { 429?: number; 500?: number; 503?: number },
  ): Promise<void> {
    return this.call('PUT', `/faults/${encodeURIComponent(method)}`, probabilities);
  }

  /** The next `count` calls of `method` answer `status`; with `fileId`, only calls about that file. */
  scriptFault(method: string, status: ScriptedFaultStatus, count = 1, fileId?: string): Promise<void> {
    return this.call('POST', `/faults/${encodeURIComponent(method)}/script`, {
      status,
      count,
      ...(fileId !== undefined ? { fileId } : {}),
    });
  }

  clearFaults(): Promise<void> {
    return this.call('DELETE', '/faults');
  }

  setLatency(method: string, ms: number): Promise<void> {
    return this.call('PUT', `/latency/${encodeURIComponent(method)}`, { ms });
  }

  async channels(): Promise<ChannelSummary[]> {
    return (await this.call<{ channels: ChannelSummary[] }>('GET', '/channels')).channels;
  }

  /** Empties the world (same seed unless given), tokens, counters, faults, latency and quota settings. */
  reset(seed?: number): Promise<void> {
    return this.call('POST', '/reset', seed === undefined ? {} : { seed });
  }
}
