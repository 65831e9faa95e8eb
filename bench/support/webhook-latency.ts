import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import * as google from '@googleapis/drive';
import Fastify from 'fastify';
import type { Producer } from 'kafkajs';
import type { EmulatorAdminClient } from '../../src/emulator/admin-client.js';
import { webhookIngressRoute } from '../../src/http/routes/webhook-ingress.js';
import { subscribe } from '../../src/instrumentation.js';
import { createKafka } from '../../src/io/kafka/kafka-client.js';
import { createMessageSink } from '../../src/io/kafka/message-sink.js';
import { createLogger } from '../../src/logger.js';
import type { TopicFollower } from './topic-follower.js';
import {
  type BenchConnection,
  fullSyncTrigger,
  startBenchWorker,
  type WorkerEnvironment,
  workerConfig,
} from './worker-run.js';

/**
 * Webhook-to-record latency: after a connection's full sync, with push channels on, the
 * user edits files through googleapis; Drive (the emulator) notifies the channel address,
 * which is the worker's own webhook ingress (src/http/routes/webhook-ingress.ts, what the
 * platform's proxy does): notification → webhook topic → worker → incremental run →
 * record on the records topic. Measured from the moment the edit call returned to the
 * moment the bench's follower read the record (its fetch wait is at most 20 ms).
 *
 * It needs the worker to open a channel once the full sync is done; the bench looks for
 * that channel in the emulator (`GET /_emulator/channels`) and reports "not available"
 * when none appears.
 */

const CHANNEL_SECRET = 'bench-channel-token-secret';
const CHANNEL_WAIT_MS = 15_000;
const RECORD_WAIT_MS = 20_000;

export type WebhookLatencyResult =
  | { readonly available: false; readonly reason: string }
  | {
      readonly available: true;
      readonly samplesMs: readonly number[];
      readonly medianMs: number;
      readonly p99Ms: number;
      /** Medians from the edit to each step on the way (the worker's own instrumentation for its steps). */
      readonly stepsMedianMs: readonly { readonly step: string; readonly ms: number }[];
      readonly spacingMs: number;
    };

interface Edit {
  readonly fileId: string;
  readonly name: string;
}

export async function measureWebhookLatency(options: {
  readonly environment: WorkerEnvironment;
  readonly admin: EmulatorAdminClient;
  readonly follower: TopicFollower;
  readonly producer: Producer;
  readonly connection: BenchConnection;
  readonly accessToken: string;
  readonly edits: number;
  readonly spacingMs: number;
}): Promise<WebhookLatencyResult> {
  const { environment, admin, follower, connection } = options;
  const logger = createLogger({ level: 'silent', format: 'json' });
  const base = workerConfig(environment);
  const ingressSink = await createMessageSink(
    createKafka({ ...base.kafka, clientId: 'bench-ingress' }, logger),
    { idempotent: true },
  );
  const ingress = Fastify();
  await ingress.register(webhookIngressRoute, {
    sink: ingressSink,
    topic: environment.topics.webhook,
    integrationId: base.worker.integrationId,
    guard: { tokenSecret: CHANNEL_SECRET, burstPerChannel: 1000, ratePerSecond: 100 },
  });
  await ingress.listen({ host: '127.0.0.1', port: 0 });
  const address = `http://127.0.0.1:${(ingress.server.address() as AddressInfo).port}/webhooks/google-drive`;

  const worker = await startBenchWorker(
    workerConfig({
      ...environment,
      env: {
        ...environment.env,
        GDRIVE_CHANNEL_ADDRESS: address,
        GDRIVE_CHANNEL_TOKEN_SECRET: CHANNEL_SECRET,
      },
    }),
  );
  const recordsTopic = environment.topics.records;
  const webhookTopic = environment.topics.webhook;
  follower.keep(recordsTopic, Number.POSITIVE_INFINITY);
  follower.keep(webhookTopic, Number.POSITIVE_INFINITY);
  const steps = new StepClock(webhookTopic, connection.connectionId);
  try {
    await options.producer.send({
      topic: environment.topics.trigger,
      messages: [
        {
          key: connection.connectionId,
          value: JSON.stringify(fullSyncTrigger(connection.connectionId, environment.run)),
        },
      ],
    });
    await follower.waitFor(
      'the full sync before the latency edits',
      () => follower.checkpointsOf(recordsTopic, connection.connectionId) >= 1,
      120_000,
    );

    const channelDeadline = performance.now() + CHANNEL_WAIT_MS;
    let channelOpen = false;
    while (!channelOpen && performance.now() < channelDeadline) {
      const channels = await admin.channels();
      channelOpen = channels.some((c) => c.userId === connection.userId && c.kind === 'changes');
      if (!channelOpen) await sleep(200);
    }
    if (!channelOpen)
      return {
        available: false,
        reason: `no changes channel opened within ${CHANNEL_WAIT_MS / 1000} s of the full sync`,
      };

    const drive = google.drive({ version: 'v3', rootUrl: `${environment.emulatorUrl}/` });
    const auth = { headers: { Authorization: `Bearer ${options.accessToken}` }, retry: false };
    const listed = await drive.files.list(
      {
        q: "'me' in owners and mimeType != 'application/vnd.google-apps.folder' and trashed = false",
        pageSize: options.edits,
        fields: 'files(id)',
      },
      auth,
    );
    const fileIds = (listed.data.files ?? []).map((f) => f.id).filter((id): id is string => Boolean(id));
    if (fileIds.length === 0) return { available: false, reason: 'the user owns no file to edit' };

    const samplesMs: number[] = [];
    let scanned = follower.keptRecords(recordsTopic).length;
    for (let i = 0; i < options.edits; i++) {
      const edit: Edit = { fileId: fileIds[i % fileIds.length] as string, name: `bench latency edit ${i}` };
      await drive.files.update({ fileId: edit.fileId, requestBody: { name: edit.name }, fields: 'id' }, auth);
      const editedAt = performance.now();
      let seenAt = 0;
      await follower.waitFor(
        `the record of edit ${i}`,
        () => {
          const kept = follower.keptRecords(recordsTopic);
          for (; scanned < kept.length; scanned++) {
            const landed = kept[scanned];
            if (landed?.headers['resource-type'] !== 'file' || landed.value === null) continue;
            if (matches(landed.value, edit)) {
              seenAt = landed.seenAt;
              scanned++;
              return true;
            }
          }
          return false;
        },
        RECORD_WAIT_MS,
      );
      samplesMs.push(seenAt - editedAt);
      const notified = follower
        .keptRecords(webhookTopic)
        .find((landed) => landed.seenAt >= editedAt && isChangeNotification(landed.value));
      steps.sample(editedAt, notified?.seenAt);
      await sleep(options.spacingMs);
    }
    const sorted = [...samplesMs].sort((a, b) => a - b);
    return {
      available: true,
      samplesMs,
      medianMs: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      stepsMedianMs: steps.medians(),
      spacingMs: options.spacingMs,
    };
  } finally {
    steps.stop();
    await worker.stop().catch(() => undefined);
    await ingress.close();
    await ingressSink.close();
  }
}

function matches(value: string, edit: Edit): boolean {
  const record = JSON.parse(value) as { resource_id?: unknown; data?: { name?: unknown } | null };
  return record.resource_id === edit.fileId && record.data?.name === edit.name;
}

/**
 * When the worker reached each step after an edit, from its instrumentation events
 * (src/instrumentation.ts), which the bench hears in-process.
 */
class StepClock {
  private readonly handled: number[] = [];
  private readonly runStarted: number[] = [];
  private readonly changesRead: number[] = [];
  private readonly samples: Array<Record<string, number | undefined>> = [];
  private readonly unsubscribe: Array<() => void>;

  constructor(webhookTopic: string, connectionId: string) {
    this.unsubscribe = [
      subscribe('message.processed', ({ topic, outcome }) => {
        if (topic === webhookTopic && outcome === 'handled') this.handled.push(performance.now());
      }),
      subscribe('sync.started', (event) => {
        if (event.connectionId === connectionId && event.mode === 'incremental')
          this.runStarted.push(performance.now());
      }),
      subscribe('drive.call', ({ method }) => {
        if (method === 'drive.changes.list') this.changesRead.push(performance.now());
      }),
    ];
  }

  sample(editedAt: number, webhookReadAt: number | undefined): void {
    const after = (times: readonly number[]) => {
      const at = times.find((t) => t >= editedAt);
      return at === undefined ? undefined : at - editedAt;
    };
    this.samples.push({
      'webhook message on its topic (read back)':
        webhookReadAt === undefined ? undefined : webhookReadAt - editedAt,
      'worker handled the webhook message': after(this.handled),
      'incremental run started': after(this.runStarted),
      'changes.list answered': after(this.changesRead),
    });
  }

  medians(): { step: string; ms: number }[] {
    const names = Object.keys(this.samples[0] ?? {});
    return names.map((step) => {
      const values = this.samples
        .map((s) => s[step])
        .filter((v): v is number => v !== undefined)
        .sort((a, b) => a - b);
      return { step, ms: quantile(values, 0.5) };
    });
  }

  stop(): void {
    for (const off of this.unsubscribe) off();
  }
}

function isChangeNotification(value: string | null): boolean {
  if (value === null) return false;
  const message = JSON.parse(value) as { headers?: Record<string, string> };
  return message.headers?.['x-goog-resource-state'] === 'change';
}

/** Nearest-rank quantile of sorted samples. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
