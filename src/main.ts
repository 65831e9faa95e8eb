import { loadConfigOrExit } from './config-exit.js';
import { createLogger } from './logger.js';
import { quietKnownWarnings } from './quiet-warnings.js';
import { startService } from './service.js';

const config = loadConfigOrExit();
quietKnownWarnings();
const logger = createLogger({ level: config.log.level, format: config.log.format });

async function run(): Promise<void> {
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
  const service = await startService({ config: effective, logger });
  logger.info({ brokers: effective.kafka.brokers, http: service.url }, 'worker started');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: finishing in-flight work');
    const timer = setTimeout(() => {
      logger.error('shutdown grace period exceeded');
      process.exit(1);
    }, effective.shutdownGraceMs);
    timer.unref();
    service
      .stop()
      .then(() => closeEmulator?.())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

run().catch((error: unknown) => {
  logger.fatal({ err: error }, 'worker failed to start');
  process.exit(1);
});
