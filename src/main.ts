import { BAD_CONFIG_EXIT_CODE, loadConfigOrExit } from './config-exit.js';
import { TopicLayoutError } from './io/kafka/topic-layout.js';
import { createLogger } from './logger.js';
import { quietKnownWarnings } from './quiet-warnings.js';
import { startService } from './service.js';
import { watchUnhandledRejections } from './unhandled-rejections.js';

const config = loadConfigOrExit();
quietKnownWarnings();
const logger = createLogger({ level: config.log.level, format: config.log.format });
// Before anything starts: a rejection nobody awaits is logged and fails liveness, never exits.
const unhandledRejections = watchUnhandledRejections(logger);

interface Running {
  stop(): Promise<void>;
}

async function start(): Promise<Running> {
  let effective = config;
  let closeEmulator: (() => Promise<void>) | null = null;
  if (config.drive.mockMode) {
    // Mock mode: the Drive emulator (which also plays the control plane) in-process, seeded.
    const { startDriveEmulator } = await import('./emulator/index.js');
    const emulator = await startDriveEmulator({ seed: 42, corpus: { files: 500 } });
    if (emulator.demo) await emulator.admin.mapConnection('conn_demo', emulator.demo.userId);
    effective = {
      ...config,
      drive: { ...config.drive, baseUrl: emulator.url },
      controlPlane: { ...config.controlPlane, baseUrl: emulator.url, tls: null },
    };
    closeEmulator = () => emulator.close();
    logger.info({ emulator: emulator.url, connectionId: 'conn_demo' }, 'mock mode: Drive emulator started');
  }
  const service = await startService({
    config: effective,
    logger,
    extraLiveness: [unhandledRejections.liveness],
  });
  logger.info({ brokers: effective.kafka.brokers, http: service.url }, 'worker started');
  return {
    async stop() {
      await service.stop();
      await closeEmulator?.();
    },
  };
}

// Signals are handled from the first moment: a SIGTERM during start-up waits for the start
// to finish and then stops gracefully, under the same grace period.
const running = start();
running.catch((error: unknown) => {
  if (error instanceof TopicLayoutError) {
    // Like a bad variable: the operator must change something before a restart can help.
    for (const problem of error.problems) process.stderr.write(`kafka topic error: ${problem}\n`);
    logger.fatal({ problems: error.problems }, 'the Kafka topics are not laid out as the worker needs');
    process.exit(BAD_CONFIG_EXIT_CODE);
  }
  logger.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
});

let stopping = false;
function shutdown(signal: NodeJS.Signals): void {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal, graceMs: config.shutdownGraceMs }, 'stopping: finishing in-flight work');
  // Not unref'd: should the stop hang on nothing but promises, the process must not end
  // quietly with exit code 0 as if it had stopped cleanly.
  setTimeout(() => {
    logger.error({ graceMs: config.shutdownGraceMs }, 'shutdown grace period exceeded: exiting now');
    process.exit(1);
  }, config.shutdownGraceMs);
  running
    .then((service) => service.stop())
    .then(() => {
      logger.info('stopped');
      process.exit(0);
    })
    .catch((error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
