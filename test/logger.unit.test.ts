import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubSecrets } from '../src/logger.js';

function capture(format: 'json' | 'pretty') {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const logger = createLogger({ level: 'trace', format, destination: stream });
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
