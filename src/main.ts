import { loadConfigOrExit } from './config-exit.js';

const config = loadConfigOrExit();
// Wiring of the worker lands with the connection actors; until then the entry point only validates.
process.stdout.write(`configuration valid: brokers ${config.kafka.brokers.join(',')}\n`);
