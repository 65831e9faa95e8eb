import type { ChannelState } from '../contract/checkpoint.js';

/**
 * Whether a webhook notification may reach its connection's actor (CONTRACT.md, inbound
 * webhook). Pure: the caller reads the connection's checkpoint and overlap, and checks the
 * token; this only decides.
 */
export type WebhookAdmission =
  /** Current channel, or one of the overlap (being opened, just replaced): handled. */
  | { readonly kind: 'accept' }
  /** The token does not verify for this connection and channel: `invalid_input`. */
  | { readonly kind: 'reject'; readonly reason: 'bad_token' }
  /**
   * Ignored and counted. `stopChannel` names a channel of ours (its token verified) that the
   * connection no longer uses, so it should be stopped: it would otherwise deliver until it
   * expires. Only with a resource id, which `channels.stop` needs.
   */
  | {
      readonly kind: 'ignore';
      readonly reason: WebhookIgnoredReason;
      readonly stopChannel: { readonly id: string; readonly resourceId: string } | null;
    };

export type WebhookIgnoredReason = 'unknown_connection' | 'channels_off' | 'stale_channel';

export interface WebhookFacts {
  /** The connection has a checkpoint (resident or on the state topic). */
  readonly connectionKnown: boolean;
  /** Push channels are configured (a token key is there to verify with). */
  readonly channelsEnabled: boolean;
  readonly current: ChannelState | null;
  /** Channel ids accepted besides the current one (ChannelOverlap). */
  readonly overlap: readonly string[];
  readonly channelId: string;
  readonly resourceId: string | undefined;
  /** Whether X-Goog-Channel-Token verifies for this connection and channel id. */
  readonly tokenVerifies: boolean;
}

export function admitWebhook(facts: WebhookFacts): WebhookAdmission {
  // Nothing to verify against: neither an error record nor a stop is ours to make.
  if (!facts.connectionKnown) return { kind: 'ignore', reason: 'unknown_connection', stopChannel: null };
  if (!facts.channelsEnabled) return { kind: 'ignore', reason: 'channels_off', stopChannel: null };
  // Checked before the channel id, so a forged token is reported whichever channel it names.
  if (!facts.tokenVerifies) return { kind: 'reject', reason: 'bad_token' };
  if (facts.current?.id === facts.channelId || facts.overlap.includes(facts.channelId)) {
    return { kind: 'accept' };
  }
  return {
    kind: 'ignore',
    reason: 'stale_channel',
    stopChannel:
      facts.resourceId !== undefined && facts.resourceId !== ''
        ? { id: facts.channelId, resourceId: facts.resourceId }
        : null,
  };
}
