import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { loggableText, toLoggable } from './loggable.js';

export { scrubSecrets } from './loggable.js';
export type { Logger };

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
    // No pino `redact`: its wildcard paths throw on Buffers and stop at the depths they
    // list. Every logged object and every child's bindings go through `toLoggable`
    // instead, which redacts secret keys at any depth and never throws (loggable.ts). The
    // bindings formatter only sees the root's; children's go through `child` below.
    formatters: {
      bindings: (bindings) => toLoggable(bindings),
      log: (object) => toLoggable(object),
    },
    hooks: {
      // Free-text arguments cannot be redacted by key; scrub (and bound) them instead.
      logMethod(args, method) {
        const scrubbed = args.map((arg: unknown) => (typeof arg === 'string' ? loggableText(arg) : arg));
        method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
  return withLoggableChildBindings(rootLogger(options, pinoOptions));
}

type ChildFn = (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;

/**
 * pino applies the bindings formatter to the root logger only and stringifies a child's
 * bindings as given, so a Buffer, a cycle or a throwing getter there would reach the line
 * (or throw from `child`). A child is created with `Object.create(parent)`, so replacing
 * `child` on the root covers every descendant.
 */
function withLoggableChildBindings(logger: Logger): Logger {
  const inherited = (Object.getPrototypeOf(logger) as { child: ChildFn }).child;
  Object.defineProperty(logger, 'child', {
    configurable: true,
    writable: true,
    value: function loggableChild(
      this: Logger,
      bindings: pino.Bindings,
      childOptions?: pino.ChildLoggerOptions,
    ) {
      return inherited.call(this, toLoggable(bindings), childOptions);
    },
  });
  return logger;
}

function rootLogger(options: LoggerOptions, pinoOptions: pino.LoggerOptions): Logger {
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
