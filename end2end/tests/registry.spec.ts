// The live registry view: a standalone service started, killed (-9) and restarted shows up,
// goes critical and comes back, each within seconds, without a reload.
import { test, expect } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { hydrated, startLogService } from './helpers';

test('a standalone service appears, goes critical when killed, and comes back', async ({ page }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distributed-e2e-svc-'));
  await page.goto('/registry');
  await hydrated(page);
  await expect(page.getByText('Live: following the registry\'s events.')).toBeVisible();
  await page.evaluate(() => ((window as any).__noReload = true));

  let { service, url } = await startLogService('127.0.0.1:0', dir);
  try {
    const row = page.locator(`tr[data-url="${url}"]`);
    // Generous limits: the bounds themselves are make bench's; here, that it happens live.
    await expect(row).toHaveAttribute('data-status', 'passing', { timeout: 30_000 });
    await expect(row).toContainText('LogService');
    await expect(row.locator('.tick.ok').first()).toBeVisible();

    service.kill('SIGKILL');
    await expect(row).toHaveAttribute('data-status', 'critical', { timeout: 30_000 });
    await expect(row.locator('.tick.failed').first()).toBeVisible();

    // Back on the same address: the same instance, passing again.
    ({ service } = await startLogService(url.replace('http://', ''), dir));
    await expect(row).toHaveAttribute('data-status', 'passing', { timeout: 30_000 });
    expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  } finally {
    service.kill('SIGKILL');
  }
});
