/**
 * Channels a connection accepts notifications from besides the one in its checkpoint, for
 * a bounded time each (DRIVE_API.md §5, renewal: "expect a period when both deliver"):
 * - the channel being opened: its `sync` message — and changes — can arrive before the
 *   watch answer, so before the checkpoint names it;
 * - the channel just replaced: notifications it sent before it was stopped may still be on
 *   the webhook topic.
 *
 * In memory only, on purpose: after a restart the entries are gone, so a channel that was
 * opened but never made it into a checkpoint is treated as stale — and stopped — the first
 * time it delivers, instead of leaking until it expires.
 */
export class ChannelOverlap {
  private readonly accepted = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Accepts `channelId` for the connection until `untilMs` (epoch ms). */
  admit(connectionId: string, channelId: string, untilMs: number): void {
    this.idsOf(connectionId); // drops what expired, so a connection holds a handful at most
    let channels = this.accepted.get(connectionId);
    if (!channels) {
      channels = new Map();
      this.accepted.set(connectionId, channels);
    }
    channels.set(channelId, untilMs);
  }

  revoke(connectionId: string, channelId: string): void {
    const channels = this.accepted.get(connectionId);
    channels?.delete(channelId);
    if (channels?.size === 0) this.accepted.delete(connectionId);
  }

  /** The ids accepted now; expired entries are dropped on the way. */
  idsOf(connectionId: string): string[] {
    const channels = this.accepted.get(connectionId);
    if (!channels) return [];
    const now = this.now();
    for (const [id, until] of channels) if (until <= now) channels.delete(id);
    if (channels.size === 0) this.accepted.delete(connectionId);
    return [...channels.keys()];
  }

  forget(connectionId: string): void {
    this.accepted.delete(connectionId);
  }

  /** Forgets every connection the predicate names (a revoked partition's). */
  forgetWhere(predicate: (connectionId: string) => boolean): void {
    for (const connectionId of this.accepted.keys())
      if (predicate(connectionId)) this.accepted.delete(connectionId);
  }

  /**
   * Drops every expired entry. An evicted connection's entries are not read again until
   * a notification comes, so without a sweep they would stay after they expired.
   */
  sweep(): void {
    for (const connectionId of this.accepted.keys()) this.idsOf(connectionId);
  }

  /** Connections with an accepted extra channel now. */
  get size(): number {
    return this.accepted.size;
  }
}
