import { randomBytes } from 'node:crypto';

export const DRIVE_SCOPE = 'https://www.googleapis.com/auth/drive';
export const DEFAULT_CLIENT_ID = 'emulator-client.apps.googleusercontent.com';
export const DEFAULT_CLIENT_SECRET = 'emulator-secret';

interface RefreshGrant {
  readonly userId: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  revoked: boolean;
}

interface AccessGrant {
  readonly userId: string;
  readonly expiresAt: number;
  readonly scopes: readonly string[];
  readonly refreshToken: string | undefined;
}

export interface IssuedTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresAt: number;
  readonly scopes: readonly string[];
}

export type AccessTokenCheck =
  | { readonly ok: true; readonly userId: string; readonly scopes: readonly string[] }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' };

export type RefreshOutcome =
  | {
      readonly ok: true;
      readonly accessToken: string;
      readonly expiresIn: number;
      readonly scopes: readonly string[];
    }
  | {
      readonly ok: false;
      readonly error: 'invalid_grant' | 'invalid_client' | 'invalid_request' | 'unsupported_grant_type';
    };

export type ConnectionTokenOutcome =
  | {
      readonly ok: true;
      readonly accessToken: string;
      readonly expiresAt: number;
      readonly scopes: readonly string[];
      readonly userId: string;
    }
  | { readonly ok: false; readonly error: 'unknown_connection' | 'reauth_required' };

/**
 * OAuth as Google plays it for a Drive app: refresh tokens that live until revoked,
 * access tokens that expire, and the platform's connection → user mapping for the
 * control-plane endpoint. Tokens are random (not seeded) so handing them out never
 * perturbs the corpus.
 */
export class IdentityRegistry {
  private readonly clients = new Map<string, string>([[DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET]]);
  private readonly refreshGrants = new Map<string, RefreshGrant>();
  private readonly accessGrants = new Map<string, AccessGrant>();
  private readonly connections = new Map<string, { userId: string; cached?: string }>();

  constructor(
    public tokenLifetimeSeconds = 3600,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Forgets every grant and connection (clients stay registered). */
  clear(): void {
    this.refreshGrants.clear();
    this.accessGrants.clear();
    this.connections.clear();
  }

  registerClient(clientId: string, clientSecret: string): void {
    this.clients.set(clientId, clientSecret);
  }

  issue(
    userId: string,
    scopes: readonly string[] = [DRIVE_SCOPE],
    clientId = DEFAULT_CLIENT_ID,
  ): IssuedTokens {
    const refreshToken = `1//${randomBytes(32).toString('base64url')}`;
    this.refreshGrants.set(refreshToken, { userId, clientId, scopes, revoked: false });
    const access = this.mintAccess(userId, scopes, refreshToken);
    return { accessToken: access.token, refreshToken, expiresAt: access.expiresAt, scopes };
  }

  /** A fresh access token for a user without going through a refresh token (admin convenience). */
  issueAccessToken(
    userId: string,
    scopes: readonly string[] = [DRIVE_SCOPE],
  ): { token: string; expiresAt: number } {
    return this.mintAccess(userId, scopes, undefined);
  }

  private mintAccess(userId: string, scopes: readonly string[], refreshToken: string | undefined) {
    const token = `ya29.${randomBytes(40).toString('base64url')}`;
    const expiresAt = this.clock() + this.tokenLifetimeSeconds * 1000;
    this.accessGrants.set(token, { userId, expiresAt, scopes, refreshToken });
    return { token, expiresAt };
  }

  checkAccessToken(token: string): AccessTokenCheck {
    const grant = this.accessGrants.get(token);
    if (!grant) return { ok: false, reason: 'unknown' };
    if (grant.expiresAt <= this.clock()) return { ok: false, reason: 'expired' };
    return { ok: true, userId: grant.userId, scopes: grant.scopes };
  }

  /** Admin: make an access token expire now (to test 401 → refresh → retry). */
  expireAccessToken(token: string): boolean {
    const grant = this.accessGrants.get(token);
    if (!grant) return false;
    this.accessGrants.set(token, { ...grant, expiresAt: this.clock() - 1 });
    return true;
  }

  refresh(form: {
    grantType?: string;
    refreshToken?: string;
    clientId?: string;
    clientSecret?: string;
  }): RefreshOutcome {
    if (form.grantType !== 'refresh_token') return { ok: false, error: 'unsupported_grant_type' };
    if (form.clientId === undefined || this.clients.get(form.clientId) !== form.clientSecret) {
      return { ok: false, error: 'invalid_client' };
    }
    if (!form.refreshToken) return { ok: false, error: 'invalid_request' };
    const grant = this.refreshGrants.get(form.refreshToken);
    if (!grant || grant.revoked || grant.clientId !== form.clientId)
      return { ok: false, error: 'invalid_grant' };
    const access = this.mintAccess(grant.userId, grant.scopes, form.refreshToken);
    return {
      ok: true,
      accessToken: access.token,
      expiresIn: this.tokenLifetimeSeconds,
      scopes: grant.scopes,
    };
  }

  /** The user withdrew consent: refresh tokens die, and so do the access tokens minted from them. */
  revokeUser(userId: string): void {
    for (const grant of this.refreshGrants.values()) if (grant.userId === userId) grant.revoked = true;
    for (const [token, grant] of this.accessGrants)
      if (grant.userId === userId) this.accessGrants.delete(token);
    for (const connection of this.connections.values())
      if (connection.userId === userId) delete connection.cached;
  }

  /** Consent given again: a new refresh token for the user (old ones stay revoked). */
  reauthorize(userId: string): IssuedTokens {
    return this.issue(userId);
  }

  isRevoked(userId: string): boolean {
    let any = false;
    for (const grant of this.refreshGrants.values()) {
      if (grant.userId !== userId) continue;
      any = true;
      if (!grant.revoked) return false;
    }
    return any;
  }

  mapConnection(connectionId: string, userId: string): void {
    this.connections.set(connectionId, { userId });
  }

  connectionUser(connectionId: string): string | undefined {
    return this.connections.get(connectionId)?.userId;
  }

  /** The control plane's view: a cached access token per connection, refreshed when asked or near expiry. */
  connectionToken(connectionId: string, forceRefresh: boolean): ConnectionTokenOutcome {
    const connection = this.connections.get(connectionId);
    if (!connection) return { ok: false, error: 'unknown_connection' };
    if (this.isRevoked(connection.userId)) return { ok: false, error: 'reauth_required' };
    const cached = connection.cached === undefined ? undefined : this.accessGrants.get(connection.cached);
    if (!forceRefresh && cached && cached.expiresAt - this.clock() > 60_000) {
      return {
        ok: true,
        accessToken: connection.cached as string,
        expiresAt: cached.expiresAt,
        scopes: cached.scopes,
        userId: connection.userId,
      };
    }
    const access = this.mintAccess(connection.userId, [DRIVE_SCOPE], undefined);
    connection.cached = access.token;
    return {
      ok: true,
      accessToken: access.token,
      expiresAt: access.expiresAt,
      scopes: [DRIVE_SCOPE],
      userId: connection.userId,
    };
  }
}
