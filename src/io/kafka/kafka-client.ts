import { Kafka, type LogEntry, logLevel, type SASLOptions } from 'kafkajs';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';

/** The one kafkajs client of the process, its logs routed into pino. */
export function createKafka(config: Config['kafka'], logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  const sasl: SASLOptions | undefined = config.sasl
    ? ({
        mechanism: config.sasl.mechanism,
        username: config.sasl.username,
        password: config.sasl.password,
      } as SASLOptions)
    : undefined;
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    ssl: config.ssl,
    ...(sasl ? { sasl } : {}),
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 10_000 },
    logLevel: logLevel.INFO,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        const fields = { ...rest, timestamp: undefined, logger: undefined };
        if (level === logLevel.ERROR) log.error(fields, message);
        else if (level === logLevel.WARN) log.warn(fields, message);
        else if (level === logLevel.INFO) log.debug(fields, message);
        else log.trace(fields, message);
      },
  });
}
