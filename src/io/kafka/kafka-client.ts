import { Kafka, type LogEntry, logLevel, type SASLOptions } from 'kafkajs';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';

/**
 * The retry policy of every kafkajs request (metadata, produce, fetch, commits): exponential
 * from 300 ms, capped at 30 s, 8 attempts (about a minute and a half in all). Producers and
 * consumers inherit it; a consumer that exhausts it crashes and kafkajs restarts it.
 */
export const kafkaRetry = { initialRetryTime: 300, maxRetryTime: 30_000, retries: 8 } as const;

/** kafkajs's level from pino's, so kafkajs never builds debug entries nobody will print. */
export function kafkajsLevelFor(pinoLevel: string): logLevel {
  switch (pinoLevel) {
    case 'trace':
    case 'debug':
      return logLevel.DEBUG;
    case 'info':
      return logLevel.INFO;
    case 'warn':
      return logLevel.WARN;
    case 'silent':
      return logLevel.NOTHING;
    default:
      return logLevel.ERROR;
  }
}

/**
 * kafkajs's log entries as pino lines of the `kafkajs` component, at the matching level.
 * kafkajs's own timestamp and logger name are dropped (pino adds its own); its namespace
 * (Consumer, Runner, Producer…) is kept as `namespace`.
 */
export function pinoLogCreator(logger: Logger): () => (entry: LogEntry) => void {
  const log = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log: entry }: LogEntry) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
      const line = { namespace, ...fields };
      switch (level) {
        case logLevel.ERROR:
          log.error(line, message);
          break;
        case logLevel.WARN:
          log.warn(line, message);
          break;
        case logLevel.INFO:
          log.info(line, message);
          break;
        default:
          log.debug(line, message);
      }
    };
}

function saslOptions(sasl: NonNullable<Config['kafka']['sasl']>): SASLOptions {
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
  }
}

/** The one kafkajs client of the process: brokers, TLS and SASL from the config, logs into pino. */
export function createKafka(config: Config['kafka'], logger: Logger): Kafka {
  return new Kafka({
    clientId: config.clientId,
    brokers: [...config.brokers],
    ssl: config.ssl,
    ...(config.sasl ? { sasl: saslOptions(config.sasl) } : {}),
    // A TLS + SASL handshake to a remote cluster takes longer than kafkajs's 1 s default.
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { ...kafkaRetry },
    logLevel: kafkajsLevelFor(logger.level),
    logCreator: pinoLogCreator(logger),
  });
}
