import { afterEach, describe, expect, it } from 'vitest';
import type { PartitionLag } from '../../src/http/metrics.js';
import { type InstrumentationEvents, publish } from '../../src/instrumentation.js';
import { promtoolCheck, sample } from '../support/exposition.js';
import { type HttpFixture, httpFixture } from './http-fixture.js';
import { InMemoryInspector } from './in-memory-inspector.js';

/** One event of every kind the worker publishes. */
const everyEvent: { [N in keyof InstrumentationEvents]: InstrumentationEvents[N] } = {
  'drive.call': { method: 'files.list', outcome: 'ok', status: 200, reason: null, durationMs: 120 },
  'drive.rate_limited': { method: 'changes.list', status: 429, reason: 'rateLimitExceeded' },
  'sync.backoff': { classification: 'rate_limited', delayMs: 2000 },
  'connection.activated': { connectionId: 'conn_secretish_1', from: 'checkpoint' },
  'checkpoints.restored': { partitions: 12, started: 1, sleeping: 99_999, durationMs: 4_200 },
  'sync.started': { connectionId: 'conn_secretish_1', mode: 'full' },
  'sync.finished': { connectionId: 'conn_secretish_1', mode: 'full', outcome: 'ok', durationMs: 95_000 },
  'records.produced': { topic: 'integrations-incoming-records', count: 7, resourceType: 'file' },
  'errors.produced': { classification: 'auth' },
  'sync.extra_skipped': { extra: 'permissions', reason: 'not_found' },
  'message.received': { topic: 'integrations-inbound-trigger' },
  'message.processed': { topic: 'integrations-inbound-trigger', outcome: 'invalid' },
  's3.offloaded': { bytes: 300_000 },
  'webhook.latency': { seconds: 1.5 },
  'webhook.ignored': { reason: 'stale_channel' },
  'quota.tokens': { scope: 'user', available: 180 },
  'quota.share': { members: 3, perMinute: 4000 },
};

function publishEveryEvent(): void {
  for (const [name, event] of Object.entries(everyEvent)) {
    publish(name as keyof InstrumentationEvents, event as never);
  }
}

let fixture: HttpFixture | null = null;
afterEach(async () => {
  await fixture?.close();
  fixture = null;
});

describe('GET /metrics', () => {
  it('passes promtool check metrics, before and after every kind of event', async () => {
    const inspector = new InMemoryInspector();
    inspector.add('conn_secretish_1', 'idle', {
      channel: {
        id: 'chan',
        resourceId: 'res',
        expiration: new Date(Date.now() + 3 * 86_400_000).toISOString(),
        openedAt: new Date().toISOString(),
      },
    });
    fixture = await httpFixture({ inspector });

    const before = await fixture.app.inject({ url: '/metrics' });
    expect(before.statusCode).toBe(200);
    expect(before.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(promtoolCheck(before.body)).toEqual({ status: 0, output: '' });

    publishEveryEvent();
    fixture.metrics.observeConsumerLag(() => [
      { topic: 'integrations-inbound-trigger', partition: 3, lag: 42 },
    ]);
    const after = (await fixture.app.inject({ url: '/metrics' })).body;
    expect(promtoolCheck(after)).toEqual({ status: 0, output: '' });
  });

  it('moves with the instrumentation events, and no label carries a connection id', async () => {
    fixture = await httpFixture();
    const read = async () => (await fixture?.app.inject({ url: '/metrics' }))?.body ?? '';
    publishEveryEvent();
    publishEveryEvent();
    const text = await read();

    expect(sample(text, 'gdrive_worker_records_produced_total{resource_type="file"}')).toBe(14);
    expect(sample(text, 'gdrive_worker_errors_produced_total{classification="auth"}')).toBe(2);
    expect(
      sample(
        text,
        'gdrive_worker_messages_processed_total{topic="integrations-inbound-trigger",outcome="invalid"}',
      ),
    ).toBe(2);
    expect(
      sample(
        text,
        'gdrive_worker_messages_failed_total{topic="integrations-inbound-trigger",outcome="invalid"}',
      ),
    ).toBe(2);
    expect(sample(text, 'gdrive_worker_drive_requests_total{method="files.list",outcome="ok"}')).toBe(2);
    expect(sample(text, 'gdrive_worker_drive_request_duration_seconds_sum{method="files.list"}')).toBeCloseTo(
      0.24,
    );
    expect(sample(text, 'gdrive_worker_drive_rate_limited_total{method="changes.list"}')).toBe(2);
    expect(sample(text, 'gdrive_worker_sync_backoffs_total{classification="rate_limited"}')).toBe(2);
    expect(sample(text, 'gdrive_worker_quota_tokens_available{scope="user"}')).toBe(180);
    expect(sample(text, 'gdrive_worker_quota_project_share_per_minute')).toBe(4000);
    expect(sample(text, 'gdrive_worker_consumer_group_members')).toBe(3);
    expect(sample(text, 'gdrive_worker_syncs_started_total{mode="full"}')).toBe(2);
    expect(sample(text, 'gdrive_worker_syncs_total{mode="full",outcome="ok"}')).toBe(2);
    expect(sample(text, 'gdrive_worker_sync_duration_seconds_sum{mode="full"}')).toBe(190);
    expect(sample(text, 'gdrive_worker_sync_duration_seconds_bucket{le="60",mode="full"}')).toBe(0);
    expect(sample(text, 'gdrive_worker_sync_duration_seconds_bucket{le="120",mode="full"}')).toBe(2);
    expect(sample(text, 'gdrive_worker_s3_offloads_total')).toBe(2);
    expect(sample(text, 'gdrive_worker_s3_offload_bytes_total')).toBe(600_000);
    expect(sample(text, 'gdrive_worker_webhook_to_record_latency_seconds_count')).toBe(2);
    expect(sample(text, 'gdrive_worker_webhooks_ignored_total{reason="stale_channel"}')).toBe(2);
    expect(text).not.toContain('conn_secretish_1');
  });

  it('reads connections by state and channels from the inspector at scrape time', async () => {
    const inspector = new InMemoryInspector();
    const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
    const channel = (expiration: string) => ({ id: 'c', resourceId: 'r', expiration, openedAt: inHours(-1) });
    inspector.add('a', 'idle', { channel: channel(inHours(48)) });
    inspector.add('b', 'idle', { channel: channel(inHours(0.5)) });
    inspector.add('c', 'full-syncing', { channel: channel(inHours(-1)) });
    inspector.add('d', 'parked');
    fixture = await httpFixture({ inspector });

    let text = (await fixture.app.inject({ url: '/metrics' })).body;
    expect(sample(text, 'gdrive_worker_connections{state="idle"}')).toBe(2);
    expect(sample(text, 'gdrive_worker_connections{state="full-syncing"}')).toBe(1);
    expect(sample(text, 'gdrive_worker_connections{state="parked"}')).toBe(1);
    expect(sample(text, 'gdrive_worker_connections{state="backing-off"}')).toBe(0);
    expect(sample(text, 'gdrive_worker_channels{state="active"}')).toBe(1);
    expect(sample(text, 'gdrive_worker_channels{state="expiring"}')).toBe(1);
    expect(sample(text, 'gdrive_worker_channels{state="expired"}')).toBe(1);
    const soonest = sample(text, 'gdrive_worker_channel_expiry_seconds');
    expect(soonest).toBeGreaterThan(1700);
    expect(soonest).toBeLessThanOrEqual(1800);

    inspector.transition('c', 'idle', 'SYNC.DONE', { channel: null });
    text = (await fixture.app.inject({ url: '/metrics' })).body;
    expect(sample(text, 'gdrive_worker_connections{state="idle"}')).toBe(3);
    expect(sample(text, 'gdrive_worker_connections{state="full-syncing"}')).toBe(0);
    expect(sample(text, 'gdrive_worker_channels{state="expired"}')).toBe(0);
  });

  it('reads consumer lag per partition at scrape time, and drops a partition once it is revoked', async () => {
    fixture = await httpFixture();
    let partitions: PartitionLag[] = [
      { topic: 'integrations-inbound-webhook', partition: 0, lag: 12 },
      { topic: 'integrations-inbound-webhook', partition: 1, lag: 0 },
      { topic: 'integrations-inbound-trigger', partition: 0, lag: null },
    ];
    fixture.metrics.observeConsumerLag(() => partitions);
    let text = (await fixture.app.inject({ url: '/metrics' })).body;
    expect(
      sample(text, 'gdrive_worker_consumer_lag_messages{topic="integrations-inbound-webhook",partition="0"}'),
    ).toBe(12);
    // No batch yet: no number to report rather than a made-up zero.
    expect(text).not.toContain('gdrive_worker_consumer_lag_messages{topic="integrations-inbound-trigger"');
    partitions = partitions.filter((p) => p.partition !== 0);
    text = (await fixture.app.inject({ url: '/metrics' })).body;
    expect(
      sample(text, 'gdrive_worker_consumer_lag_messages{topic="integrations-inbound-webhook",partition="0"}'),
    ).toBeUndefined();
    expect(
      sample(text, 'gdrive_worker_consumer_lag_messages{topic="integrations-inbound-webhook",partition="1"}'),
    ).toBe(0);
  });

  it('stops counting once closed, so two apps in one process never double count', async () => {
    fixture = await httpFixture();
    const { metrics } = fixture;
    metrics.close();
    publish('errors.produced', { classification: 'transient' });
    const text = await metrics.render();
    expect(sample(text, 'gdrive_worker_errors_produced_total{classification="transient"}')).toBeUndefined();
  });
});
