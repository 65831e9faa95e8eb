import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, configDocs, loadConfig } from '../src/config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config.kafka.brokers).toEqual(['localhost:9092']);
    expect(config.kafka.topics).toEqual({
      trigger: 'integrations-inbound-trigger',
      webhook: 'integrations-inbound-webhook',
      records: 'integrations-incoming-records',
      errors: 'integrations-errors',
      state: 'integrations-google-drive-state',
    });
    expect(config.kafka.maxInlineBytes).toBe(262144);
    expect(config.kafka.idempotentProducer).toBe(true);
    expect(config.worker.integrationId).toBe('google-drive');
    expect(config.drive.pageSize).toBe(1000);
    expect(config.drive.channels).toBeNull();
    expect(config.log).toEqual({ level: 'info', format: 'json' });
    // Every documented default that is a literal value is the one the schema applies.
    expect(String(config.worker.maxConcurrentConnections)).toBe(
      configDocs.WORKER_MAX_CONCURRENT_CONNECTIONS.default,
    );
    expect(String(config.http.port)).toBe(configDocs.HTTP_PORT.default);
  });

  it('sizes the consumer group timeouts, heartbeats below the session timeout', () => {
    expect(loadConfig({}).kafka.consumer).toEqual({
      sessionTimeoutMs: Number(configDocs.KAFKA_CONSUMER_SESSION_TIMEOUT_MS.default),
      heartbeatIntervalMs: Number(configDocs.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS.default),
      rebalanceTimeoutMs: Number(configDocs.KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS.default),
      newGroupStart: 'latest',
    });
    expect(loadConfig({ KAFKA_CONSUMER_NEW_GROUP_START: 'earliest' }).kafka.consumer.newGroupStart).toBe(
      'earliest',
    );
    expect(problemsOf({ KAFKA_CONSUMER_NEW_GROUP_START: 'beginning' })).toHaveLength(1);
    expect(
      problemsOf({ KAFKA_CONSUMER_SESSION_TIMEOUT_MS: '3000', KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: '3000' }),
    ).toEqual([
      'KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: must be smaller than KAFKA_CONSUMER_SESSION_TIMEOUT_MS',
    ]);
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ GDRIVE_PAGE_SIZE: '' }).drive.pageSize).toBe(1000);
  });

  it('parses every kind of value', () => {
    const config = loadConfig({
      KAFKA_BOOTSTRAP_SERVERS: 'a:9092, b:9093',
      GDRIVE_INCLUDE_SHARED_DRIVES: 'no',
      GDRIVE_EXPORT_MIME_MAP: '{"application/vnd.google-apps.document":"text/plain"}',
      GDRIVE_CHANNEL_ADDRESS: 'https://hooks.example.com/drive/',
      GDRIVE_CHANNEL_TOKEN_SECRET: 's3cret',
      HOSTNAME: 'gdrive-worker-2',
    });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9093']);
    expect(config.kafka.clientId).toBe('gdrive-worker-2');
    expect(config.drive.includeSharedDrives).toBe(false);
    expect(config.drive.exportMimeMap).toEqual({ 'application/vnd.google-apps.document': 'text/plain' });
    expect(config.drive.channels?.address).toBe('https://hooks.example.com/drive');
  });

  it.each([
    ['KAFKA_BOOTSTRAP_SERVERS', 'localhost', 'host:port'],
    ['GDRIVE_PAGE_SIZE', '5000', 'at most 1000'],
    ['GDRIVE_PAGE_SIZE', 'ten', 'whole number'],
    ['GOOGLE_DRIVE_MOCK_MODE', 'maybe', 'must be one of'],
    ['LOG_FORMAT', 'xml', 'LOG_FORMAT'],
    ['GDRIVE_API_BASE_URL', 'ftp://x', 'http://'],
    ['S3_BUCKET_NAME', 'ab', 'bucket'],
    ['KAFKA_TOPIC_RECORDS', 'bad topic!', 'topic name'],
    ['GDRIVE_EXPORT_MIME_MAP', '{not json', 'JSON'],
  ])('rejects %s=%s with one readable line', (name, value, expected) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: `));
    expect(problems[0]).toContain(expected);
  });

  it('requires what goes together', () => {
    expect(problemsOf({ CONTROL_PLANE_MTLS_CERT_PATH: '/c.pem' })).toEqual([
      'CONTROL_PLANE_MTLS_KEY_PATH: is required when CONTROL_PLANE_MTLS_CERT_PATH is set',
    ]);
    expect(problemsOf({ GDRIVE_CHANNEL_ADDRESS: 'https://x.example' })[0]).toMatch(
      /^GDRIVE_CHANNEL_TOKEN_SECRET: /,
    );
  });

  it('lists every bad variable, and never a value', () => {
    const secretValue = 'hunter2-super-secret';
    const problems = problemsOf({
      GDRIVE_PAGE_SIZE: secretValue,
      HTTP_PORT: secretValue,
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_PASSWORD: secretValue,
    });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'GDRIVE_PAGE_SIZE',
      'HTTP_PORT',
      'KAFKA_SASL_USERNAME',
    ]);
    expect(problems.join('\n')).not.toContain(secretValue);
  });
});

describe('a process started with bad configuration', () => {
  it('exits with code 2 and one line per bad variable, no stack trace', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env.PATH, GDRIVE_PAGE_SIZE: '0', LOG_LEVEL: 'loud', HTTP_AUTH_TOKEN: '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      'config error: GDRIVE_PAGE_SIZE: must be at least 1',
      expect.stringMatching(/^config error: LOG_LEVEL: /),
    ]);
    expect(result.stderr).not.toMatch(/\bat \S+:\d+/);
  }, 60_000);
});

describe('the README configuration table', () => {
  it('documents every variable of src/config.ts', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of Object.keys(configDocs)) expect(readme).toContain(`| \`${name}\` |`);
  });
});
