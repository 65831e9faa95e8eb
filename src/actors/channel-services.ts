import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { channelTokenFor } from '../contract/channel-token.js';
import type { ChannelState, ConnectionCheckpoint } from '../contract/checkpoint.js';
import type { DriveChannel } from '../contract/drive-resources.js';
import type { WatchChannelRequest } from '../io/drive/drive-gateway.js';
import type { Logger } from '../logger.js';
import { failureOf } from '../machines/classify.js';
import type { ChannelServiceInput } from '../machines/connection-machine.js';
import { channelAddressFor } from './channel-address.js';
import type { ChannelOverlap } from './channel-overlap.js';

/** The two Drive calls a channel's life needs, for one connection (its token bound inside). */
export interface ChannelGateway {
  watchChanges(pageToken: string, channel: WatchChannelRequest): Promise<DriveChannel>;
  stopChannel(id: string, resourceId: string): Promise<void>;
}

export interface ChannelServicesDeps {
  /** GDRIVE_CHANNEL_ADDRESS: a base or a template (see channelAddressFor). */
  readonly address: string;
  /** GDRIVE_CHANNEL_TOKEN_SECRET: key of the channel tokens' HMAC. */
  readonly tokenKey: string;
  /** Lifetime asked for; Drive may grant less (the answer's expiration is what counts). */
  readonly ttlMs: number;
  readonly overlap: ChannelOverlap;
  readonly gatewayFor: (connectionId: string) => ChannelGateway;
  readonly logger: Logger;
  readonly now?: () => Date;
  readonly newChannelId?: () => string;
}

export type ChannelStopReason = 'replaced' | 'disconnect' | 'stale' | 'abandoned';

/**
 * How long the channel being opened is accepted before its watch answer names it: the watch
 * call (governed, so it may wait for quota) plus the machine adopting its answer.
 */
const OPENING_GRACE_MS = 10 * 60_000;
/** How long notifications of a replaced channel are still accepted: the webhook topic's lag. */
const REPLACED_GRACE_MS = 10 * 60_000;
/** A stale channel is asked to stop once in this time, however many notifications it sends. */
const STALE_STOP_MEMORY_MS = 10 * 60_000;

export class ChannelRenewalAbandoned extends Error {
  constructor() {
    super('channel renewal abandoned: the connection moved on while the watch was answered');
    this.name = 'ChannelRenewalAbandoned';
  }
}

/**
 * A connection's push channel over Drive (issue 6): opening and renewing (a fresh id first,
 * then stopping the old one), stopping it on disconnect, and stopping stale channels that
 * still deliver. Stop failures are logged, never fatal: a channel nobody stops expires.
 */
export function createChannelServices(deps: ChannelServicesDeps) {
  const now = deps.now ?? (() => new Date());
  const newChannelId = deps.newChannelId ?? randomUUID;
  const staleStops = new LRUCache<string, true>({ max: 10_000, ttl: STALE_STOP_MEMORY_MS });

  async function stopQuietly(
    gateway: ChannelGateway,
    connectionId: string,
    channel: { readonly id: string; readonly resourceId: string },
    reason: ChannelStopReason,
  ): Promise<void> {
    try {
      await gateway.stopChannel(channel.id, channel.resourceId);
    } catch (error) {
      const failure = failureOf(error);
      // A 404 is usual here: the channel expired or was stopped already.
      deps.logger.warn(
        {
          connectionId,
          channelId: channel.id,
          reason,
          classification: failure.classification,
          code: failure.code,
        },
        'push channel could not be stopped; it ends when it expires',
      );
    }
  }

  return {
    /**
     * Opens a changes channel from the connection's cursor and, once it is open, stops the
     * one it replaces. Notifications from both are accepted meanwhile (ChannelOverlap).
     * When `signal` aborted while the watch was answered (disconnect, actor stopped), the
     * machine will never adopt the new channel: it is stopped again and the promise rejects.
     */
    async renew(input: ChannelServiceInput, signal?: AbortSignal): Promise<ChannelState> {
      const { checkpoint, channel: previous } = input;
      const connectionId = checkpoint.connectionId;
      if (checkpoint.cursor === null) throw new Error('a channel needs a cursor to watch from');
      const id = newChannelId();
      const openedAt = now();
      const requestedExpiration = openedAt.getTime() + deps.ttlMs;
      const gateway = deps.gatewayFor(connectionId);
      deps.overlap.admit(connectionId, id, openedAt.getTime() + OPENING_GRACE_MS);
      let answer: DriveChannel;
      try {
        // Not aborted with the actor: a watch cut off mid-flight may have opened a channel
        // whose resource id we would never learn, so it could not be stopped.
        answer = await gateway.watchChanges(checkpoint.cursor, {
          id,
          address: channelAddressFor(deps.address, { connectionId, customerId: checkpoint.customerId }),
          token: channelTokenFor(deps.tokenKey, connectionId, id),
          expirationMs: requestedExpiration,
        });
      } catch (error) {
        deps.overlap.revoke(connectionId, id);
        const failure = failureOf(error);
        deps.logger.warn(
          { connectionId, classification: failure.classification, code: failure.code },
          'push channel could not be opened; polling until the retry',
        );
        throw error;
      }
      const opened: ChannelState = {
        id: answer.id,
        resourceId: answer.resourceId,
        expiration: new Date(expirationOf(answer, requestedExpiration)).toISOString(),
        openedAt: openedAt.toISOString(),
      };
      if (signal?.aborted) {
        deps.overlap.revoke(connectionId, opened.id);
        await stopQuietly(gateway, connectionId, opened, 'abandoned');
        throw new ChannelRenewalAbandoned();
      }
      deps.logger.info(
        { connectionId, channelId: opened.id, expiration: opened.expiration, replaces: previous?.id ?? null },
        'push channel opened',
      );
      if (previous !== null && previous.id !== opened.id) {
        deps.overlap.admit(
          connectionId,
          previous.id,
          Math.min(Date.parse(previous.expiration), now().getTime() + REPLACED_GRACE_MS),
        );
        await stopQuietly(gateway, connectionId, previous, 'replaced');
      }
      return opened;
    },

    /** On disconnect: stops the connection's live channel (if any) and forgets its overlap. */
    async stopForDisconnect(checkpoint: ConnectionCheckpoint): Promise<void> {
      deps.overlap.forget(checkpoint.connectionId);
      if (checkpoint.channel === null) return;
      await stopQuietly(
        deps.gatewayFor(checkpoint.connectionId),
        checkpoint.connectionId,
        checkpoint.channel,
        'disconnect',
      );
    },

    /**
     * A channel of ours that the connection no longer uses still delivers: stop it, once per
     * STALE_STOP_MEMORY_MS however many notifications it sends. Fire and forget.
     */
    stopStale(connectionId: string, channel: { readonly id: string; readonly resourceId: string }): void {
      const key = `${connectionId}\n${channel.id}`;
      if (staleStops.has(key)) return;
      staleStops.set(key, true);
      void stopQuietly(deps.gatewayFor(connectionId), connectionId, channel, 'stale');
    },
  };
}

export type ChannelServices = ReturnType<typeof createChannelServices>;

/** Drive's `expiration` is int64 ms, sent as a string (or a number); absent: what was asked. */
function expirationOf(answer: DriveChannel, requested: number): number {
  const value = answer.expiration === undefined ? Number.NaN : Number(answer.expiration);
  return Number.isFinite(value) && value > 0 ? value : requested;
}
