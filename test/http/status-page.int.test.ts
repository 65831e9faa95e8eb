import { existsSync, mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.js';
import { type HttpFixture, httpFixture } from './http-fixture.js';
import { InMemoryInspector } from './in-memory-inspector.js';

/**
 * The status page in a real headless Chromium (Debian package `chromium`), driven by
 * playwright-core, against the real app listening on loopback. The in-memory inspector
 * moves a connection the way the supervisor does; the page must follow without a reload.
 */
const SCREENSHOT = 'artifacts/status-page.png';

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

let fixture: HttpFixture | null = null;
let page: Page | null = null;
afterEach(async () => {
  await page?.close();
  page = null;
  await fixture?.close();
  fixture = null;
});

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();

function seeded(): InMemoryInspector {
  const inspector = new InMemoryInspector();
  inspector.add('conn_alpha', 'idle', { customerId: 'cust_1' });
  inspector.transition('conn_alpha', 'full-syncing', 'TRIGGER', {
    activeSync: {
      syncId: 'sync-1',
      mode: 'full',
      startedAt: new Date().toISOString(),
      correlationId: 'msg-1',
      startPageToken: '100',
      resume: { phase: 'files', corpus: 'user', pageToken: 'p2' },
      counts: { file: 1000 },
    },
  });
  inspector.add('conn_beta', 'backing-off', {
    customerId: 'cust_2',
    backoff: {
      attempt: 3,
      until: inMinutes(4),
      reason: 'userRateLimitExceeded',
      classification: 'rate_limited',
    },
  });
  inspector.add('conn_gamma', 'idle', {
    customerId: 'cust_3',
    cursor: '4242',
    channel: {
      id: 'chan-g',
      resourceId: 'res-g',
      expiration: inMinutes(3 * 24 * 60),
      openedAt: inMinutes(-60),
    },
  });
  return inspector;
}

const stateOf = (p: Page, id: string) => p.locator(`tr[data-connection-id="${id}"] [data-role="state"]`);

describe('live status page', () => {
  it('follows a connection from full-syncing to idle without a reload, with the machine and timers', async () => {
    const inspector = seeded();
    fixture = await httpFixture({ inspector });
    const base = await fixture.app.listen({ host: '127.0.0.1', port: 0 });
    page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });

    await page.goto(`${base}/#conn_alpha`);
    await expect.poll(() => page?.locator('#feed').getAttribute('data-status')).toBe('live');
    await expect.poll(() => stateOf(page as Page, 'conn_alpha').textContent()).toBe('full-syncing');
    expect(await stateOf(page, 'conn_beta').textContent()).toBe('backing-off');
    expect(await page.locator('tr[data-connection-id]').count()).toBe(3);
    expect(await page.locator('#machine g.node').count()).toBe(7);
    expect(await page.locator('#machine g.node.current').getAttribute('data-state')).toBe('full-syncing');
    await expect
      .poll(() => page?.locator('tr[data-connection-id="conn_beta"] [data-role="timer"]').textContent())
      .toMatch(/^retry in [34]m \d+s$/);
    expect(
      await page.locator('tr[data-connection-id="conn_gamma"] [data-role="timer"]').textContent(),
    ).toMatch(/^channel expires in 2d 23h \d+m$/);

    // A marker on the window survives only if the page is not reloaded.
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await expect.poll(() => inspector.listenerCount()).toBe(1);
    inspector.transition('conn_alpha', 'idle', 'SYNC.DONE', {
      activeSync: null,
      cursor: '101',
      lastSync: {
        syncId: 'sync-1',
        mode: 'full',
        finishedAt: new Date().toISOString(),
        counts: { file: 1234 },
      },
    });

    await expect.poll(() => stateOf(page as Page, 'conn_alpha').textContent()).toBe('idle');
    await expect.poll(() => page?.locator('#machine g.node.current').getAttribute('data-state')).toBe('idle');
    expect(await page.locator('#machine line.edge.hot').getAttribute('data-edge')).toBe('full-syncing->idle');
    expect(await page.locator('[data-role="detail-state"]').textContent()).toBe('idle');
    expect(await page.locator('#transitions li').first().textContent()).toContain(
      'full-syncing → idle  (SYNC.DONE)',
    );
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );

    // Selecting another connection shows its backoff counting down.
    await page.locator('tr[data-connection-id="conn_beta"]').click();
    expect(await page.locator('#machine g.node.current').getAttribute('data-state')).toBe('backing-off');
    await expect
      .poll(() => page?.locator('dd[data-countdown]').first().textContent())
      .toMatch(/^[34]m \d+s$/);

    await page.locator('tr[data-connection-id="conn_alpha"]').click();
    mkdirSync('artifacts', { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('takes the token once from the address, keeps it in a cookie, and drops it from the address bar', async () => {
    const inspector = seeded();
    fixture = await httpFixture({ inspector, env: { HTTP_AUTH_TOKEN: 'page-token' } });
    const base = await fixture.app.listen({ host: '127.0.0.1', port: 0 });
    page = await browser.newPage();

    const denied = await page.goto(`${base}/`);
    expect(denied?.status()).toBe(401);
    await page.locator('input[name="token"]').fill('page-token');
    await page.locator('button[type="submit"]').click();
    await expect.poll(() => page?.url()).toBe(`${base}/`);
    await expect.poll(() => stateOf(page as Page, 'conn_gamma').textContent()).toBe('idle');
    await expect.poll(() => page?.locator('#feed').getAttribute('data-status')).toBe('live');

    inspector.transition('conn_gamma', 'incremental', 'WEBHOOK_CHANGE');
    await expect.poll(() => stateOf(page as Page, 'conn_gamma').textContent()).toBe('incremental');
  });
});
