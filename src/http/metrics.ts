import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnectionInspector } from '../actors/inspection.js';
import { subscribe } from '../instrumentation.js';
import { connectionStateNames } from '../machines/connection-machine.js';

/**
 * The worker's Prometheus metrics, on a registry of our own (STYLE.md) so tests and a
 * second worker in one process never collide on prom-client's global one. Counters and
 * histograms move on the instrumentation events (src/instrumentation.ts); gauges about
 * connections and channels are read from the inspector at scrape time, consumer lag from
 * the inbound consumer. No label ever carries a connection id: labels hold a handful of
 * values (state, outcome, mode…).
 */

export const metricPrefix = 'gdrive_worker_';

/**
 * The connection machine's states, always exported (0 included) so series never vanish;
 * `disconnected` is final, its actor gone, so no connection is ever counted in it.
 */
const connectionStates = connectionStateNames.filter((state) => state !== 'disconnected');

const misnamedDefaultGauges = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** A channel whose expiry is closer than this is reported as `expiring` rather than `active`. */
const CHANNEL_EXPIRING_WITHIN_SECONDS = 3600;

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly messagesProcessed: Counter<'topic' | 'outcome'>;
  readonly messagesFailed: Counter<'topic' | 'outcome'>;
  readonly recordsProduced: Counter<'resource_type'>;
  readonly errorsProduced: Counter<'classification'>;
  readonly extrasSkipped: Counter<'extra' | 'reason'>;
  readonly driveRequests: Counter<'method' | 'outcome'>;
  readonly driveRequestDuration: Histogram<'method'>;
  readonly driveRateLimited: Counter<'method'>;
  readonly syncBackoffs: Counter<'classification'>;
  readonly quotaTokensAvailable: Gauge<'scope'>;
  readonly quotaProjectShare: Gauge;
  readonly consumerGroupMembers: Gauge;
  readonly syncsStarted: Counter<'mode'>;
  readonly syncs: Counter<'mode' | 'outcome'>;
  readonly syncDuration: Histogram<'mode'>;
  readonly connections: Gauge<'state'>;
  readonly channels: Gauge<'state'>;
  readonly channelExpirySeconds: Gauge;
  readonly s3Offloads: Counter;
  readonly s3OffloadBytes: Counter;
  readonly webhookToRecordLatency: Histogram;
  readonly webhooksIgnored: Counter<'reason'>;
  readonly webhooksRefused: Counter<'reason'>;
  readonly sseClientsDropped: Counter;
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  /**
   * Where consumer lag is read from at scrape time (the inbound consumer): only the
   * partitions it reports now are exported, so a revoked partition's series goes away.
   */
  observeConsumerLag(source: () => Iterable<PartitionLag>): void;
  /** Where the connection and channel gauges are read from at scrape time (the supervisor). */
  observeConnections(inspector: ConnectionInspector): void;
  /** The exposition text, as `GET /metrics` serves it. */
  render(): Promise<string>;
  readonly contentType: string;
  /** Unsubscribes from the instrumentation events (tests, shutdown). */
  close(): void;
}

/** Messages behind the high watermark of one assigned partition; null before its first batch. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly lag: number | null;
}

export interface WorkerMetricsOptions {
  /** Process and Node.js runtime metrics (prom-client's defaults, unprefixed as dashboards expect). Default true. */
  readonly collectDefaults?: boolean;
  /** Clock for channel expiry; tests pass their own. */
  readonly now?: () => number;
}

export function createWorkerMetrics(options: WorkerMetricsOptions = {}): WorkerMetrics {
  const registry = new Registry();
  const now = options.now ?? Date.now;
  if (options.collectDefaults ?? true) {
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters, which `promtool check metrics` rejects; the same numbers
    // stay available by type in nodejs_active_handles, _requests and _resources.
    for (const name of misnamedDefaultGauges) registry.removeSingleMetric(name);
  }
  let inspector: ConnectionInspector | null = null;
  let lagSource: (() => Iterable<PartitionLag>) | null = null;
  const registers = [registry];

  const messagesProcessed = new Counter({
    name: `${metricPrefix}messages_processed_total`,
    help: 'Inbound messages taken off the trigger and webhook topics, by outcome (handled, skipped, invalid, failed).',
    labelNames: ['topic', 'outcome'] as const,
    registers,
  });
  const messagesFailed = new Counter({
    name: `${metricPrefix}messages_failed_total`,
    help: 'Inbound messages that could not be handled (invalid input or a failure), by topic and outcome.',
    labelNames: ['topic', 'outcome'] as const,
    registers,
  });
  const recordsProduced = new Counter({
    name: `${metricPrefix}records_produced_total`,
    help: 'Records produced and acknowledged by Kafka, by resource type.',
    labelNames: ['resource_type'] as const,
    registers,
  });
  const errorsProduced = new Counter({
    name: `${metricPrefix}errors_produced_total`,
    help: 'Error records produced, by classification.',
    labelNames: ['classification'] as const,
    registers,
  });
  const extrasSkipped = new Counter({
    name: `${metricPrefix}extras_skipped_total`,
    help: 'Per-file extras (or content) left out because the file vanished mid-page, by extra and reason.',
    labelNames: ['extra', 'reason'] as const,
    registers,
  });
  const driveRequests = new Counter({
    name: `${metricPrefix}drive_requests_total`,
    help: 'Drive API calls (batch parts included), by method and outcome.',
    labelNames: ['method', 'outcome'] as const,
    registers,
  });
  const driveRequestDuration = new Histogram({
    name: `${metricPrefix}drive_request_duration_seconds`,
    help: 'Duration of Drive API calls, by method.',
    labelNames: ['method'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const driveRateLimited = new Counter({
    name: `${metricPrefix}drive_rate_limited_total`,
    help: 'Drive answers that said slow down (403 rate limit or 429), by method.',
    labelNames: ['method'] as const,
    registers,
  });
  const syncBackoffs = new Counter({
    name: `${metricPrefix}sync_backoffs_total`,
    help: 'Times a connection entered backing-off, by failure classification.',
    labelNames: ['classification'] as const,
    registers,
  });
  const quotaTokensAvailable = new Gauge({
    name: `${metricPrefix}quota_tokens_available`,
    help: 'Drive request tokens available now (project bucket; lowest of the per-user buckets).',
    labelNames: ['scope'] as const,
    registers,
  });
  const quotaProjectShare = new Gauge({
    name: `${metricPrefix}quota_project_share_per_minute`,
    help: "This worker's share of the project's Drive budget (GDRIVE_QUOTA_PROJECT_PER_MINUTE / consumer group members), calls a minute.",
    registers,
  });
  const consumerGroupMembers = new Gauge({
    name: `${metricPrefix}consumer_group_members`,
    help: 'Members of the consumer group at the last rebalance, which share the project budget.',
    registers,
  });
  const syncsStarted = new Counter({
    name: `${metricPrefix}syncs_started_total`,
    help: 'Syncs started (resumed ones included), by mode.',
    labelNames: ['mode'] as const,
    registers,
  });
  const syncs = new Counter({
    name: `${metricPrefix}syncs_total`,
    help: 'Syncs finished, by mode (full, incremental) and outcome (ok, error).',
    labelNames: ['mode', 'outcome'] as const,
    registers,
  });
  const syncDuration = new Histogram({
    name: `${metricPrefix}sync_duration_seconds`,
    help: 'Duration of finished syncs, by mode (full syncs take minutes to hours).',
    labelNames: ['mode'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400],
    registers,
  });
  const connections = new Gauge({
    name: `${metricPrefix}connections`,
    help: 'Connection actors resident in this worker, by machine state.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      this.reset();
      const counts = new Map<string, number>(connectionStates.map((s) => [s, 0]));
      for (const view of inspector?.list() ?? []) counts.set(view.state, (counts.get(view.state) ?? 0) + 1);
      for (const [state, count] of counts) this.set({ state }, count);
    },
  });
  // Both channel gauges are read from the same fields; one pass each keeps them independent.
  const readChannels = () => {
    const at = now();
    const counts = { active: 0, expiring: 0, expired: 0 };
    let soonest: number | null = null;
    for (const view of inspector?.list() ?? []) {
      const channel = view.checkpoint.channel;
      if (!channel) continue;
      const seconds = (Date.parse(channel.expiration) - at) / 1000;
      if (seconds <= 0) counts.expired++;
      else if (seconds <= CHANNEL_EXPIRING_WITHIN_SECONDS) counts.expiring++;
      else counts.active++;
      if (seconds > 0 && (soonest === null || seconds < soonest)) soonest = seconds;
    }
    return { counts, soonest };
  };
  const channels = new Gauge({
    name: `${metricPrefix}channels`,
    help: `Drive push channels of resident connections: active, expiring (within ${CHANNEL_EXPIRING_WITHIN_SECONDS} s) or expired.`,
    labelNames: ['state'] as const,
    registers,
    collect() {
      const { counts } = readChannels();
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
  const channelExpirySeconds = new Gauge({
    name: `${metricPrefix}channel_expiry_seconds`,
    help: 'Seconds until the soonest unexpired push channel expires; absent when there is none.',
    registers,
    collect() {
      const { soonest } = readChannels();
      this.reset();
      if (soonest !== null) this.set(soonest);
    },
  });
  const s3Offloads = new Counter({
    name: `${metricPrefix}s3_offloads_total`,
    help: 'Payloads too large to send inline, written to S3.',
    registers,
  });
  const s3OffloadBytes = new Counter({
    name: `${metricPrefix}s3_offload_bytes_total`,
    help: 'Bytes written to S3 by payload offloads.',
    registers,
  });
  const webhookToRecordLatency = new Histogram({
    name: `${metricPrefix}webhook_to_record_latency_seconds`,
    help: 'From a push notification received to the first record it caused acknowledged by Kafka.',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    registers,
  });
  const webhooksIgnored = new Counter({
    name: `${metricPrefix}webhooks_ignored_total`,
    help: 'Push notifications that reached no actor, by reason (unknown_connection, channels_off, stale_channel).',
    labelNames: ['reason'] as const,
    registers,
  });
  const webhooksRefused = new Counter({
    name: `${metricPrefix}webhooks_refused_total`,
    help: 'Notifications the webhook ingress did not produce, by reason (bad_token, replay, rate_limited).',
    labelNames: ['reason'] as const,
    registers,
  });
  const sseClientsDropped = new Counter({
    name: `${metricPrefix}sse_clients_dropped_total`,
    help: 'Server-sent-event clients dropped because they stopped reading (their unsent buffer passed its bound).',
    registers,
  });
  const consumerLag = new Gauge({
    name: `${metricPrefix}consumer_lag_messages`,
    help: 'Messages behind the high watermark (as of the latest batch), per assigned inbound partition.',
    labelNames: ['topic', 'partition'] as const,
    registers,
    collect() {
      this.reset();
      for (const { topic, partition, lag } of lagSource?.() ?? []) {
        if (lag !== null) this.set({ topic, partition: String(partition) }, Math.max(0, lag));
      }
    },
  });

  const unsubscribers = [
    subscribe('message.processed', ({ topic, outcome }) => {
      messagesProcessed.inc({ topic, outcome });
      if (outcome === 'invalid' || outcome === 'failed') messagesFailed.inc({ topic, outcome });
    }),
    subscribe('records.produced', ({ count, resourceType }) => {
      recordsProduced.inc({ resource_type: resourceType }, count);
    }),
    subscribe('errors.produced', ({ classification }) => errorsProduced.inc({ classification })),
    subscribe('sync.extra_skipped', ({ extra, reason }) => extrasSkipped.inc({ extra, reason })),
    subscribe('drive.call', ({ method, outcome, durationMs }) => {
      driveRequests.inc({ method, outcome });
      driveRequestDuration.observe({ method }, durationMs / 1000);
    }),
    subscribe('drive.rate_limited', ({ method }) => driveRateLimited.inc({ method })),
    subscribe('sync.backoff', ({ classification }) => syncBackoffs.inc({ classification })),
    subscribe('quota.tokens', ({ scope, available }) => quotaTokensAvailable.set({ scope }, available)),
    subscribe('quota.share', ({ members, perMinute }) => {
      quotaProjectShare.set(perMinute);
      consumerGroupMembers.set(members);
    }),
    subscribe('sync.started', ({ mode }) => syncsStarted.inc({ mode })),
    subscribe('sync.finished', ({ mode, outcome, durationMs }) => {
      syncs.inc({ mode, outcome });
      syncDuration.observe({ mode }, durationMs / 1000);
    }),
    subscribe('s3.offloaded', ({ bytes }) => {
      s3Offloads.inc();
      s3OffloadBytes.inc(bytes);
    }),
    subscribe('webhook.latency', ({ seconds }) => webhookToRecordLatency.observe(seconds)),
    subscribe('webhook.ignored', ({ reason }) => webhooksIgnored.inc({ reason })),
  ];

  return {
    registry,
    messagesProcessed,
    messagesFailed,
    recordsProduced,
    errorsProduced,
    extrasSkipped,
    driveRequests,
    driveRequestDuration,
    driveRateLimited,
    syncBackoffs,
    quotaTokensAvailable,
    quotaProjectShare,
    consumerGroupMembers,
    syncsStarted,
    syncs,
    syncDuration,
    connections,
    channels,
    channelExpirySeconds,
    s3Offloads,
    s3OffloadBytes,
    webhookToRecordLatency,
    webhooksIgnored,
    webhooksRefused,
    sseClientsDropped,
    consumerLag,
    observeConsumerLag(source) {
      lagSource = source;
    },
    observeConnections(source) {
      inspector = source;
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
    close() {
      for (const unsubscribe of unsubscribers) unsubscribe();
    },
  };
}
