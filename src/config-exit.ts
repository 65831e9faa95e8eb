import { type Config, ConfigError, loadConfig } from './config.js';

/** Exit code of a process started with bad configuration (README, "Configuration"). */
export const BAD_CONFIG_EXIT_CODE = 2;

/**
 * Loads the configuration or ends the process with exit code 2 and one line per bad
 * variable on stderr: no stack trace, no value echoed back (values may be secrets).
 */
export function loadConfigOrExit(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
      process.exit(BAD_CONFIG_EXIT_CODE);
    }
    throw error;
  }
}
