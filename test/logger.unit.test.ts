import { PassThrough } from 'node:stream';
import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { pinoLogCreator } from '../src/io/kafka/kafka-client.js';
import { createLogger, scrubSecrets } from '../src/logger.js';

function capture(format: 'json' | 'pretty', level = 'trace') {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const logger = createLogger({ level, format, destination: stream });
  return { logger, output: () => chunks.join('') };
}

const secrets = {
  accessToken: 'ya29.a0AfH6SMBx-access-token-value',
  refreshToken: '1//0refresh-token-value',
  clientSecret: 'GOCSPX-client-secret-value',
  bearer: 'opaque-bearer-credential-value',
  channelToken: 'v1.channel-hmac-token-value',
};

describe('logger redaction', () => {
  it.each(['json', 'pretty'] as const)('keeps secrets out of %s output wherever they sit', (format) => {
    const { logger, output } = capture(format);
    logger.info({ access_token: secrets.accessToken, refresh_token: secrets.refreshToken }, 'token answer');
    logger.info(
      { credentials: { accessToken: secrets.accessToken, client_secret: secrets.clientSecret } },
      'nested',
    );
    logger.info(
      {
        request: {
          headers: {
            Authorization: `Bearer ${secrets.bearer}`,
            'x-goog-channel-token': secrets.channelToken,
          },
        },
      },
      'outgoing request',
    );
    logger.warn(
      {
        webhook: { headers: { 'x-goog-channel-token': secrets.channelToken, 'x-goog-channel-id': 'chan-1' } },
      },
      'webhook received',
    );
    logger.error(
      {
        err: new Error(
          `request failed with Authorization: Bearer ${secrets.bearer} and ${secrets.accessToken}`,
        ),
      },
      'call failed',
    );
    logger.info(`free text carrying ${secrets.accessToken} and Bearer ${secrets.bearer}`);

    const text = output();
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    // What is not secret survives, so the lines are still useful.
    expect(text).toContain('chan-1');
    expect(text).toContain('webhook received');
    expect(text).toContain('[REDACTED]');
  });

  // kafkajs' debug entries carry request and response payloads as Buffers; pino's wildcard
  // redaction threw on them and crashed both consumers at LOG_LEVEL=debug.
  it.each([
    ['json', 'trace'],
    ['json', 'debug'],
    ['pretty', 'trace'],
    ['pretty', 'debug'],
    ['json', 'info'],
  ] as const)('logs kafkajs entries holding Buffers in %s at %s, secrets redacted', (format, level) => {
    const { logger, output } = capture(format, level);
    const kafkajsLog = pinoLogCreator(logger)();
    const entry = (message: string, extra: Record<string, unknown>) => ({
      namespace: 'Connection',
      level: logLevel.DEBUG,
      label: 'DEBUG',
      log: { timestamp: new Date().toISOString(), logger: 'kafkajs', message, ...extra },
    });
    expect(() => {
      kafkajsLog(
        entry('Request Produce(key: 0, version: 7)', {
          broker: 'localhost:9092',
          clientId: 'gdrive-worker',
          payload: {
            topicData: [
              { partitions: [{ messages: [{ key: Buffer.from('conn'), value: Buffer.alloc(64) }] }] },
            ],
          },
          sasl: { mechanism: 'plain', username: 'svc', password: secrets.clientSecret },
        }),
      );
      kafkajsLog(
        entry('Response Fetch', {
          buffer: Buffer.alloc(1024),
          typed: new Uint8Array(8),
          view: new DataView(new ArrayBuffer(4)),
        }),
      );
      kafkajsLog({ ...entry('Warn', { authorization: `Bearer ${secrets.bearer}` }), level: logLevel.WARN });
      logger.trace(
        { nested: { a: { b: { c: { d: { e: { access_token: secrets.accessToken } } } } } } },
        'deep',
      );
      logger.debug(
        {
          request: {
            headers: {
              Authorization: `Bearer ${secrets.bearer}`,
              'X-Goog-Channel-Token': secrets.channelToken,
            },
          },
        },
        'headers',
      );
      logger.info({ note: `a token in text ${secrets.accessToken}` }, 'text');
      logger.warn({ payload: Buffer.from(secrets.refreshToken) }, 'binary is described, not dumped');
    }).not.toThrow();

    const text = output();
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).toContain('[REDACTED]');
    expect(text).toContain('binary is described, not dumped');
    if (level !== 'info') {
      expect(text).toContain('Request Produce');
      expect(text).toContain('[Buffer 1024 bytes]');
      if (level === 'trace') expect(text).toContain('deep');
    } else {
      expect(text).not.toContain('Request Produce');
    }
  });

  it('never throws or stalls on cycles, throwing getters, hostile proxies and huge objects', () => {
    const { logger, output } = capture('json');
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const getter = Object.defineProperty({ fine: 1 }, 'boom', {
      enumerable: true,
      get() {
        throw new Error('getter exploded');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no keys');
        },
      },
    );
    const huge = Object.fromEntries(
      Array.from({ length: 200_000 }, (_, i) => [`k${i}`, { i, s: 'x'.repeat(100) }]),
    );
    const longArray = Array.from({ length: 1_000_000 }, (_, i) => i);
    const badError = new Error('outer', { cause: cycle });
    Object.defineProperty(badError, 'code', {
      enumerable: true,
      get() {
        throw new Error('code getter');
      },
    });
    const throwingJson = {
      toJSON: () => {
        throw new Error('toJSON');
      },
    };

    const start = performance.now();
    expect(() => {
      logger.debug({ cycle }, 'cycle');
      logger.debug({ getter }, 'getter');
      logger.debug({ proxy }, 'proxy');
      logger.debug({ huge, longArray }, 'huge');
      logger.debug({ big: 'y'.repeat(5_000_000) }, 'long string');
      logger.error({ err: badError }, 'bad error');
      logger.debug(
        { throwingJson, n: 10n, sym: Symbol('s'), fn: () => 1, map: new Map([['token', 's3cr3t']]) },
        'odd',
      );
      logger.debug('z'.repeat(5_000_000));
      logger.child({ bound: Buffer.alloc(3), cycle }).debug('child');
    }).not.toThrow();
    const elapsed = performance.now() - start;

    const lines = output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(9);
    expect(lines[0]?.cycle).toEqual({ name: 'loop', self: '[Circular]' });
    expect(lines[1]?.getter).toEqual({ fine: 1, boom: '[Unreadable]' });
    expect(lines[2]?.proxy).toBe('[Unreadable]');
    // Bounded: the huge object is cut, not written out (the whole file is well under 1 MB).
    expect(output().length).toBeLessThan(200_000);
    expect(lines[5]?.err).toMatchObject({ message: 'outer', code: '[Unreadable]' });
    expect(lines[6]?.map).toEqual({ token: '[REDACTED]' });
    expect(lines[8]?.bound).toBe('[Buffer 3 bytes]');
    // Generous: a walk that is not bounded takes seconds on these objects.
    expect(elapsed).toBeLessThan(5_000);
  });

  it('writes JSON lines by default', () => {
    const { logger, output } = capture('json');
    logger.info({ connectionId: 'conn_abc' }, 'hello');
    const line = JSON.parse(output().trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'hello', connectionId: 'conn_abc', level: 30 });
  });

  it('scrubs bearer credentials, Google access tokens and JWTs in text', () => {
    expect(scrubSecrets('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer [REDACTED]');
    expect(scrubSecrets('token ya29.A0ARrdaM-xyz')).toBe('token [REDACTED]');
    expect(scrubSecrets('jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature')).toBe('jwt [REDACTED]');
    expect(scrubSecrets('nothing secret here')).toBe('nothing secret here');
  });
});
