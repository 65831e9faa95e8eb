import { performance } from 'node:perf_hooks';
import { type Consumer, Kafka, logLevel } from 'kafkajs';

/**
 * Follows the bench's output topics from their beginning with an independent kafkajs
 * consumer (not the worker's code) and counts what lands per `resource-type` header,
 * without parsing values: it shares the worker's process, so it must stay cheap. Values
 * are kept only for topics that ask for it (a sample for the produce bench, the latency
 * phase's few records).
 *
 * One consumer for every topic of the run, subscribed before anything is produced, so its
 * group's join is paid once.
 */
export interface LandedRecord {
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** performance.now() when the follower received it. */
  readonly seenAt: number;
}

export class TopicFollower {
  private readonly counts = new Map<string, Map<string, number>>();
  private readonly kept = new Map<string, LandedRecord[]>();
  private readonly keepLimit = new Map<string, number>();
  private readonly keepTypes = new Map<string, string>();
  private readonly waiters = new Set<() => void>();
  /** sync_checkpoint records per topic and key (connection id). */
  private readonly checkpoints = new Map<string, Map<string, number>>();

  private constructor(private readonly consumer: Consumer) {}

  static async start(brokers: readonly string[], topics: readonly string[]): Promise<TopicFollower> {
    const kafka = new Kafka({
      clientId: 'bench-follower',
      brokers: [...brokers],
      logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({
      groupId: `bench-follower-${process.pid}-${Date.now()}`,
      maxWaitTimeInMs: 20,
      sessionTimeout: 30_000,
      heartbeatInterval: 1_000,
    });
    const follower = new TopicFollower(consumer);
    for (const topic of topics) follower.counts.set(topic, new Map());
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    const joined = new Promise<void>((resolve) => {
      const off = consumer.on(consumer.events.GROUP_JOIN, () => {
        off();
        resolve();
      });
    });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const seenAt = performance.now();
        const byType = follower.counts.get(batch.topic) ?? new Map<string, number>();
        const limit = follower.keepLimit.get(batch.topic) ?? 0;
        const kept = follower.kept.get(batch.topic);
        for (const message of batch.messages) {
          const type =
            message.headers?.['resource-type']?.toString() ?? (message.value ? 'unknown' : 'tombstone');
          byType.set(type, (byType.get(type) ?? 0) + 1);
          if (type === 'sync_checkpoint') {
            const key = message.key?.toString('utf8') ?? '';
            const perKey = follower.checkpoints.get(batch.topic) ?? new Map<string, number>();
            perKey.set(key, (perKey.get(key) ?? 0) + 1);
            follower.checkpoints.set(batch.topic, perKey);
          }
          const wanted = follower.keepTypes.get(batch.topic);
          if (kept && kept.length < limit && (wanted === undefined || wanted === type)) {
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(message.headers ?? {}))
              if (value !== undefined) headers[name] = String(Array.isArray(value) ? value[0] : value);
            kept.push({
              key: message.key?.toString('utf8') ?? null,
              value: message.value?.toString('utf8') ?? null,
              headers,
              seenAt,
            });
          }
        }
        follower.counts.set(batch.topic, byType);
        for (const wake of follower.waiters) wake();
      },
    });
    await joined;
    return follower;
  }

  /** Keeps up to `limit` records of `topic` (of one `resource-type` if given) from now on, with their values. */
  keep(topic: string, limit: number, resourceType?: string): void {
    this.keepLimit.set(topic, limit);
    if (resourceType !== undefined) this.keepTypes.set(topic, resourceType);
    if (!this.kept.has(topic)) this.kept.set(topic, []);
  }

  keptRecords(topic: string): readonly LandedRecord[] {
    return this.kept.get(topic) ?? [];
  }

  count(topic: string, resourceType?: string): number {
    const byType = this.counts.get(topic);
    if (!byType) return 0;
    if (resourceType !== undefined) return byType.get(resourceType) ?? 0;
    let total = 0;
    for (const n of byType.values()) total += n;
    return total;
  }

  /** Distinct `message_id`s among the kept records of `topic` (a record sent twice has the same one). */
  distinctMessageIds(topic: string): number {
    const ids = new Set<string>();
    for (const landed of this.keptRecords(topic)) {
      if (landed.value === null) continue;
      const { message_id: id } = JSON.parse(landed.value) as { message_id?: unknown };
      if (typeof id === 'string') ids.add(id);
    }
    return ids.size;
  }

  /** sync_checkpoint records of one connection (the record key) on `topic`. */
  checkpointsOf(topic: string, connectionId: string): number {
    return this.checkpoints.get(topic)?.get(connectionId) ?? 0;
  }

  countsByType(topic: string): Record<string, number> {
    return Object.fromEntries(this.counts.get(topic) ?? []);
  }

  /** Resolves with performance.now() once `done` holds; rejects after `timeoutMs`. */
  waitFor(describe: string, done: () => boolean, timeoutMs: number): Promise<number> {
    if (done()) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${describe}`));
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(performance.now());
      };
      this.waiters.add(check);
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
