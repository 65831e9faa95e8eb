import { LRUCache } from 'lru-cache';
import { verifyChannelToken } from '../contract/channel-token.js';

/**
 * What the webhook ingress checks before a notification may cost a produce. Pure apart
 * from its bounded memory: the caller passes the clock.
 *
 * - The channel token must verify for the URL's connection and the channel id: the worker
 *   would reject it later anyway (CONTRACT.md), and a forgery must not cost an error record.
 * - A (channel id, message number) already produced is a replay (or Google's own duplicate):
 *   acknowledged, not produced again. Numbers are remembered per channel (the newest
 *   `numbersPerChannel`) and channels in an LRU (`channels`), so memory is bounded whatever
 *   an attacker sends; only verified channels get an entry.
 * - A token bucket per channel bounds what one channel can produce.
 */

export type GuardVerdict =
  | { readonly kind: 'produce' }
  | { readonly kind: 'refuse'; readonly reason: 'bad_token' }
  | { readonly kind: 'replay' }
  | { readonly kind: 'rate_limited'; readonly retryAfterSeconds: number };

export interface WebhookGuardSettings {
  readonly tokenKey: string;
  readonly burstPerChannel: number;
  readonly ratePerSecond: number;
  readonly numbersPerChannel?: number;
  readonly channels?: number;
}

export interface Notification {
  readonly connectionId: string;
  readonly channelId: string;
  readonly token: string | undefined;
  readonly messageNumber: string;
}

interface ChannelMemory {
  /** Message numbers produced, oldest first. */
  readonly numbers: string[];
  tokens: number;
  refilledAt: number;
}

export const DEFAULT_NUMBERS_PER_CHANNEL = 64;
export const DEFAULT_GUARDED_CHANNELS = 10_000;

export class WebhookGuard {
  private readonly memory: LRUCache<string, ChannelMemory>;
  private readonly numbersPerChannel: number;

  constructor(private readonly settings: WebhookGuardSettings) {
    this.numbersPerChannel = settings.numbersPerChannel ?? DEFAULT_NUMBERS_PER_CHANNEL;
    this.memory = new LRUCache({ max: settings.channels ?? DEFAULT_GUARDED_CHANNELS });
  }

  /** Decides; a `produce` verdict takes a token from the channel's bucket and remembers the number. */
  check(notification: Notification, nowMs: number): GuardVerdict {
    const { connectionId, channelId, token, messageNumber } = notification;
    if (!verifyChannelToken(this.settings.tokenKey, connectionId, channelId, token)) {
      return { kind: 'refuse', reason: 'bad_token' };
    }
    // The token binds the channel to this connection, so the channel id alone names it.
    const key = `${connectionId}\n${channelId}`;
    let channel = this.memory.get(key);
    if (!channel) {
      channel = { numbers: [], tokens: this.settings.burstPerChannel, refilledAt: nowMs };
      this.memory.set(key, channel);
    }
    if (channel.numbers.includes(messageNumber)) return { kind: 'replay' };
    const elapsedSeconds = Math.max(0, nowMs - channel.refilledAt) / 1000;
    channel.tokens = Math.min(
      this.settings.burstPerChannel,
      channel.tokens + elapsedSeconds * this.settings.ratePerSecond,
    );
    channel.refilledAt = nowMs;
    if (channel.tokens < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - channel.tokens) / this.settings.ratePerSecond));
      return { kind: 'rate_limited', retryAfterSeconds };
    }
    channel.tokens -= 1;
    // Remembered before the produce, so a copy arriving while it is in flight is a replay too.
    channel.numbers.push(messageNumber);
    if (channel.numbers.length > this.numbersPerChannel) channel.numbers.shift();
    return { kind: 'produce' };
  }

  /**
   * A produce that failed forgets its number and gives its token back: it is answered 503,
   * and Google's retry carries the same number, which must then pass.
   */
  failed(notification: Notification): void {
    const channel = this.memory.get(`${notification.connectionId}\n${notification.channelId}`);
    if (!channel) return;
    const at = channel.numbers.lastIndexOf(notification.messageNumber);
    if (at >= 0) channel.numbers.splice(at, 1);
    channel.tokens = Math.min(this.settings.burstPerChannel, channel.tokens + 1);
  }

  get channelsRemembered(): number {
    return this.memory.size;
  }
}
