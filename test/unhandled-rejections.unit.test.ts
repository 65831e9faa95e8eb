import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { type UnhandledRejections, watchUnhandledRejections } from '../src/unhandled-rejections.js';

describe('unhandled rejections', () => {
  let watcher: UnhandledRejections | null = null;
  afterEach(() => watcher?.uninstall());

  it('logs one and fails liveness instead of ending the process', async () => {
    watcher = watchUnhandledRejections(createLogger({ level: 'silent', format: 'json' }));
    expect(watcher.liveness.check()).toEqual({ ok: true });
    void Promise.reject(new TypeError('nobody listens'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(watcher.count()).toBe(1);
    expect(watcher.liveness.check()).toEqual({
      ok: false,
      reason: '1 unhandled promise rejection(s), the first a TypeError',
    });
  });
});
