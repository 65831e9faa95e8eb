import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

/**
 * Keys whose values are secrets wherever they sit in a logged object. pino's redaction
 * works on paths, so each key is listed at the depths our objects reach (request
 * options, error causes, webhook messages' headers…).
 */
const secretKeys = [
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'client_secret',
  'clientSecret',
  'id_token',
  'authorization',
  'Authorization',
  'x-goog-channel-token',
  'X-Goog-Channel-Token',
  'channelToken',
  'token',
  'password',
  'tokenSecret',
  'secret',
];
const MAX_DEPTH = 4;

function redactionPaths(): string[] {
  const paths: string[] = [];
  for (const key of secretKeys) {
    const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    let prefix = '';
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      paths.push(prefix === '' ? segment : `${prefix}${segment.startsWith('[') ? '' : '.'}${segment}`);
      prefix = prefix === '' ? '*' : `${prefix}.*`;
    }
  }
  return paths;
}

/** Bearer credentials, Google access tokens (ya29.…) and JWT-shaped strings inside free text. */
const secretInText =
  /(Bearer\s+)[A-Za-z0-9._~+/-]+=*|ya29\.[A-Za-z0-9._-]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

export function scrubSecrets(text: string): string {
  return text.replace(secretInText, (_match, bearer: string | undefined) =>
    bearer ? `${bearer}[REDACTED]` : '[REDACTED]',
  );
}

export interface LoggerOptions {
  readonly level: string;
  readonly format: 'json' | 'pretty';
  readonly name?: string;
  /** Where lines go; stdout when absent. Tests pass a stream to read what was logged. */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const pinoOptions: pino.LoggerOptions = {
    name: options.name ?? 'gdrive-worker',
    level: options.level,
    redact: { paths: redactionPaths(), censor: '[REDACTED]' },
    serializers: {
      err: (err: unknown) => {
        const serialized = pino.stdSerializers.err(err as Error);
        return {
          ...serialized,
          message: scrubSecrets(String(serialized.message ?? '')),
          stack: serialized.stack ? scrubSecrets(serialized.stack) : undefined,
        };
      },
    },
    hooks: {
      // Free-text arguments cannot be redacted by path; scrub them instead.
      logMethod(args, method) {
        const scrubbed = args.map((arg: unknown) => (typeof arg === 'string' ? scrubSecrets(arg) : arg));
        method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
  if (options.format === 'pretty') {
    return pino(
      pinoOptions,
      pinoPretty({
        colorize: false,
        destination: options.destination ?? 1,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
      }),
    );
  }
  return options.destination
    ? pino(pinoOptions, options.destination)
    : pino(pinoOptions, pino.destination({ sync: false }));
}
