import { existsSync, mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { type RunningService, startService } from '../../src/service.js';
import { launchChromium } from '../support/chromium.js';
import { WorkerWorld } from '../support/worker-world.js';

/**
 * The status page in headless Chromium while a real sync runs: the worker, its HTTP surface,
 * the embedded broker and the emulator. The page must see the connection leave
 * `full-syncing` and reach `idle` without a reload.
 */
const SCREENSHOT = 'artifacts/status-page-live-sync.png';

describe('the status page during a real sync', () => {
  let world: WorkerWorld;
  let service: RunningService;
  let browser: Browser;
  let page: Page | undefined;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 120, users: 1, sharedDrives: 0 }, 17);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection('conn_page', user.id);
    service = await startService({
      config: world.config({ HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', GDRIVE_PAGE_SIZE: '20' }),
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    await service?.stop();
    await world?.stop();
  });

  it('shows the connection leave full-syncing and reach idle without a reload', async () => {
    // Slow pages keep the sync visible for a few seconds.
    await world.emulator.admin.setLatency('drive.files.list', 400);
    const opened = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    page = opened;
    const problems: string[] = [];
    opened.on('pageerror', (error) => problems.push(error.message));
    await opened.goto(`${service.url}/#conn_page`);
    await expect.poll(() => opened.locator('#feed').getAttribute('data-status')).toBe('live');
    await opened.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });

    await world.trigger('conn_page', 'full_sync');
    const state = opened.locator('tr[data-connection-id="conn_page"] [data-role="state"]');
    await expect.poll(() => state.textContent(), { timeout: 30_000 }).toBe('full-syncing');
    await world.emulator.admin.setLatency('drive.files.list', 0);
    await expect.poll(() => state.textContent(), { timeout: 60_000 }).toBe('idle');
    // The sync_checkpoint record was acknowledged before the actor went idle; the test's
    // reader of the records topic may just not have fetched it yet.
    await world.waitForSyncs('conn_page', 1);
    expect(world.checkpointsDone('conn_page')).toBe(1);
    await opened.locator('tr[data-connection-id="conn_page"]').click();
    await expect
      .poll(() => opened.locator('#machine g.node.current').getAttribute('data-state'))
      .toBe('idle');
    expect(
      await opened.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded),
    ).toBe(true);

    mkdirSync('artifacts', { recursive: true });
    await opened.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(problems).toEqual([]);
  });
});
