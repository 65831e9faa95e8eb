import type { ReadinessCheck } from './actors/inspection.js';
import type { Logger } from './logger.js';

/**
 * The process's guard against promises that reject with nobody listening. By default Node
 * ends the process on the first one, mid-drain, losing every page in flight. Here it is
 * logged and turns liveness 503 instead: something was left in an unknown state, so the
 * orchestrator restarts the pod, through the graceful stop, at its own pace.
 */
export interface UnhandledRejections {
  /** The liveness check: failing from the first unhandled rejection on. */
  readonly liveness: ReadinessCheck;
  count(): number;
  /** Removes the process handler (tests). */
  uninstall(): void;
}

export function watchUnhandledRejections(logger: Logger): UnhandledRejections {
  let count = 0;
  let first: string | null = null;
  const onRejection = (reason: unknown) => {
    count++;
    first ??= reason instanceof Error ? reason.name : typeof reason;
    // `alert`: a bug of ours, for the runbook's alert rule; the error is logged with pino's
    // serializer, which keeps the message and stack but never request configurations.
    logger.error({ err: reason, alert: 'unhandled_rejection', count }, 'unhandled promise rejection');
  };
  process.on('unhandledRejection', onRejection);
  return {
    liveness: {
      name: 'unhandled-rejections',
      check: () =>
        count === 0
          ? { ok: true }
          : { ok: false, reason: `${count} unhandled promise rejection(s), the first a ${first}` },
    },
    count: () => count,
    uninstall: () => {
      process.off('unhandledRejection', onRejection);
    },
  };
}
