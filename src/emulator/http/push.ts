import { setTimeout as sleep } from 'node:timers/promises';
import { pushPlan } from '../realism.js';
import { type ChangeFilter, changeFor } from '../store/changes.js';
import type { ChangeEntry, FileRecord, UserRecord } from '../store/types.js';
import type { DriveWorld } from '../store/world.js';
import type { EmulatorRuntime } from './runtime.js';

export const DEFAULT_CHANNEL_LIFETIME_MS = 3600_000;
export const MAX_CHANGES_CHANNEL_MS = 7 * 24 * 3600_000;
export const MAX_FILE_CHANNEL_MS = 24 * 3600_000;

export type ChannelTarget =
  | { readonly kind: 'changes'; readonly filter: ChangeFilter }
  | { readonly kind: 'file'; readonly fileId: string };

export interface ChannelRecord {
  readonly id: string;
  readonly resourceId: string;
  readonly resourceUri: string;
  readonly token: string | undefined;
  readonly expiration: number;
  readonly address: string;
  readonly userId: string;
  readonly target: ChannelTarget;
  messageNumber: number;
  stopped: boolean;
  /** For file channels: what the watcher last saw, to tell add/trash/untrash/remove/update apart. */
  lastVisible: boolean;
  lastTrashed: boolean;
  /** For file channels: the aspects `X-Goog-Changed` reports, as last notified. */
  lastAspects: FileAspects | undefined;
  /** Deliveries go out one after another so numbers arrive in order. */
  delivery: Promise<void>;
  /** changes channels under realism: the message that will cover the changes seen since the last one. */
  pending: NodeJS.Timeout | undefined;
  /** Delayed messages sent so far (keys the draws of the next one). */
  batches: number;
}

/** What `X-Goog-Changed` names (DRIVE_API.md §push), each reduced to a comparable string. */
interface FileAspects {
  readonly content: string;
  readonly properties: string;
  readonly parents: string;
  readonly children: string;
  readonly permissions: string;
}

function fileAspects(world: DriveWorld, file: FileRecord): FileAspects {
  return {
    content: world.headRevision(file)?.id ?? '',
    properties: JSON.stringify([file.name, file.description, file.properties, file.appProperties]),
    parents: file.parentId ?? '',
    children: [...(world.children.get(file.id) ?? [])].sort().join(','),
    permissions: JSON.stringify(file.permissions),
  };
}

function changedAspects(before: FileAspects | undefined, after: FileAspects): string[] {
  if (!before) return [];
  return (Object.keys(after) as (keyof FileAspects)[]).filter((name) => before[name] !== after[name]);
}

interface Notification {
  readonly state: string;
  /** `X-Goog-Changed`, file `update`s only. */
  readonly changed?: readonly string[];
}

export interface DeliveryRecord {
  readonly channelId: string;
  readonly state: string;
  readonly messageNumber: number;
  readonly status: number | 'network-error';
}

/**
 * Push notifications as Google sends them: a `sync` message numbered 1 when a channel
 * opens, then one POST per change that concerns the channel, with increasing numbers.
 * Changes are looked at after the write has returned, so a slow receiver never slows
 * Drive down. 5xx answers and network failures are retried with exponential backoff.
 */
export class PushNotifier {
  private readonly channels = new Map<string, ChannelRecord>();
  private unsubscribe: (() => void) | undefined;
  readonly deliveries: DeliveryRecord[] = [];
  retryDelaysMs: readonly number[] = [200, 400, 800, 1600];

  constructor(private readonly runtime: EmulatorRuntime) {
    runtime.onWorld((world) => this.attach(world));
  }

  private attach(world: DriveWorld): void {
    this.unsubscribe?.();
    for (const channel of this.channels.values()) this.close(channel);
    this.channels.clear();
    this.unsubscribe = world.onChange((entry) => {
      // Evaluate once the write that produced the entry has finished.
      setImmediate(() => this.dispatch(world, entry));
    });
  }

  open(
    channel: Omit<
      ChannelRecord,
      | 'messageNumber'
      | 'stopped'
      | 'delivery'
      | 'lastVisible'
      | 'lastTrashed'
      | 'lastAspects'
      | 'pending'
      | 'batches'
    >,
    trashed: boolean,
  ): ChannelRecord {
    const watched =
      channel.target.kind === 'file' ? this.runtime.world.files.get(channel.target.fileId) : undefined;
    const record: ChannelRecord = {
      ...channel,
      messageNumber: 0,
      stopped: false,
      lastVisible: true,
      lastTrashed: trashed,
      lastAspects: watched ? fileAspects(this.runtime.world, watched) : undefined,
      delivery: Promise.resolve(),
      pending: undefined,
      batches: 0,
    };
    this.channels.set(channel.id, record);
    this.enqueue(record, { state: 'sync' });
    return record;
  }

  isLive(channelId: string): boolean {
    const channel = this.channels.get(channelId);
    return channel !== undefined && !channel.stopped && channel.expiration > Date.now();
  }

  /** channels.stop: only the same user, only with the right resource id. */
  stop(channelId: string, resourceId: string, userId: string): boolean {
    const channel = this.channels.get(channelId);
    if (!channel || channel.resourceId !== resourceId || channel.userId !== userId) return false;
    this.close(channel);
    this.channels.delete(channelId);
    return true;
  }

  list(): ChannelRecord[] {
    return [...this.channels.values()];
  }

  stopAll(): void {
    for (const channel of this.channels.values()) this.close(channel);
    this.channels.clear();
  }

  private close(channel: ChannelRecord): void {
    channel.stopped = true;
    if (channel.pending !== undefined) clearTimeout(channel.pending);
    channel.pending = undefined;
  }

  private dispatch(world: DriveWorld, entry: ChangeEntry): void {
    if (world !== this.runtime.world) return;
    const now = Date.now();
    for (const channel of this.channels.values()) {
      if (channel.stopped) continue;
      if (channel.expiration <= now) {
        this.close(channel);
        this.channels.delete(channel.id);
        continue;
      }
      const user = world.users.get(channel.userId);
      if (!user) continue;
      const notification = this.notificationFor(world, user, channel, entry);
      if (notification === undefined) continue;
      if (channel.target.kind === 'changes' && this.runtime.realism.pushJitter) this.schedule(channel);
      else this.enqueue(channel, notification);
    }
  }

  private notificationFor(
    world: DriveWorld,
    user: UserRecord,
    channel: ChannelRecord,
    entry: ChangeEntry,
  ): Notification | undefined {
    const { target } = channel;
    if (target.kind === 'changes') {
      const ctx = { world, viewer: user, baseUrl: this.runtime.baseUrl };
      return changeFor(ctx, entry, target.filter, 'none') === undefined ? undefined : { state: 'change' };
    }
    if (entry.fileId !== target.fileId) return undefined;
    const file = world.files.get(target.fileId);
    const visible = file !== undefined && world.accessRole(user, file) !== undefined;
    const wasVisible = channel.lastVisible;
    channel.lastVisible = visible;
    if (!visible || !file) return wasVisible ? { state: 'remove' } : undefined;
    const aspects = fileAspects(world, file);
    const before = channel.lastAspects;
    channel.lastAspects = aspects;
    if (!wasVisible) return { state: 'add' };
    const trashed = world.isTrashed(file);
    const wasTrashed = channel.lastTrashed;
    channel.lastTrashed = trashed;
    if (trashed && !wasTrashed) return { state: 'trash' };
    if (!trashed && wasTrashed) return { state: 'untrash' };
    return { state: 'update', changed: changedAspects(before, aspects) };
  }

  private enqueue(channel: ChannelRecord, notification: Notification): void {
    channel.messageNumber += 1;
    const messageNumber = channel.messageNumber;
    channel.delivery = channel.delivery.then(() => this.deliver(channel, notification, messageNumber));
  }

  /**
   * Google batches: a changes channel's message leaves some time after the first change it
   * covers and covers every change until then; numbers skip; now and then a message
   * arrives twice. The receiver must coalesce and de-duplicate, and always read the log.
   */
  private schedule(channel: ChannelRecord): void {
    if (channel.pending !== undefined) return;
    const plan = pushPlan(this.runtime.seed, channel.id, channel.batches);
    channel.batches += 1;
    channel.pending = setTimeout(() => {
      channel.pending = undefined;
      if (channel.stopped) return;
      channel.messageNumber += 1 + plan.gap;
      const messageNumber = channel.messageNumber;
      const notification: Notification = { state: 'change' };
      channel.delivery = channel.delivery.then(() => this.deliver(channel, notification, messageNumber));
      if (plan.duplicate) {
        channel.delivery = channel.delivery.then(() => this.deliver(channel, notification, messageNumber));
      }
    }, plan.delayMs);
    channel.pending.unref();
  }

  private async deliver(
    channel: ChannelRecord,
    notification: Notification,
    messageNumber: number,
  ): Promise<void> {
    const { state } = notification;
    const headers: Record<string, string> = {
      'user-agent': 'APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)',
      'x-goog-channel-id': channel.id,
      'x-goog-channel-expiration': new Date(channel.expiration).toUTCString(),
      'x-goog-message-number': String(messageNumber),
      'x-goog-resource-id': channel.resourceId,
      'x-goog-resource-state': state,
      'x-goog-resource-uri': channel.resourceUri,
    };
    if (channel.token !== undefined) headers['x-goog-channel-token'] = channel.token;
    // Google leaves the header out when it names nothing (a version bump of a comment, say).
    if (notification.changed && notification.changed.length > 0)
      headers['x-goog-changed'] = notification.changed.join(',');
    for (let attempt = 0; ; attempt++) {
      if (channel.stopped && state !== 'sync') return;
      let status: number | 'network-error';
      try {
        const response = await fetch(channel.address, { method: 'POST', headers, body: '' });
        status = response.status;
        await response.arrayBuffer().catch(() => undefined);
      } catch {
        status = 'network-error';
      }
      this.deliveries.push({ channelId: channel.id, state, messageNumber, status });
      if (this.deliveries.length > 1000) this.deliveries.splice(0, this.deliveries.length - 1000);
      const retryable =
        status === 'network-error' || status === 500 || status === 502 || status === 503 || status === 504;
      const delay = this.retryDelaysMs[attempt];
      if (!retryable || delay === undefined) return;
      await sleep(delay);
    }
  }
}
