import { Kafka, logLevel } from 'kafkajs';

/** One message as it landed on a topic. */
export interface LandedMessage {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Follows topics from their beginning and keeps every message, so tests assert on what
 * really landed on the broker. An independent kafkajs consumer (its own group), not the
 * worker's code.
 */
export class TopicReader {
  private readonly messages = new Map<string, LandedMessage[]>();
  private readonly waiters = new Set<() => void>();
  private readonly consumer;

  private constructor(brokers: string[], groupId: string) {
    const kafka = new Kafka({ clientId: groupId, brokers, logLevel: logLevel.NOTHING });
    this.consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 100,
    });
  }

  static async start(brokers: string[], topics: string[]): Promise<TopicReader> {
    const reader = new TopicReader(
      brokers,
      `test-reader-${process.pid}-${Math.random().toString(36).slice(2)}`,
    );
    for (const topic of topics) reader.messages.set(topic, []);
    await reader.consumer.connect();
    await reader.consumer.subscribe({ topics, fromBeginning: true });
    await reader.consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) {
          if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value);
        }
        reader.messages.get(topic)?.push({
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? null,
          value: message.value?.toString('utf8') ?? null,
          headers,
        });
        for (const wake of reader.waiters) wake();
      },
    });
    return reader;
  }

  all(topic: string): LandedMessage[] {
    return [...(this.messages.get(topic) ?? [])];
  }

  /** Parsed JSON values of a topic (tombstones left out). */
  values<T = Record<string, unknown>>(topic: string): T[] {
    return this.all(topic)
      .filter((m) => m.value !== null)
      .map((m) => JSON.parse(m.value as string) as T);
  }

  /** Resolves once `done` holds for what landed, or rejects after `timeoutMs` saying what it saw. */
  async waitFor(describe: string, done: () => boolean, timeoutMs = 60_000): Promise<void> {
    if (done()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        const counts = [...this.messages].map(([t, m]) => `${t}: ${m.length}`).join(', ');
        reject(new Error(`timed out waiting for ${describe} (seen ${counts})`));
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}
