// The live registry view: a standalone service started, killed (-9) and restarted shows up,
// goes critical and comes back, each within seconds, without a reload.
import { test, expect } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { hydrated } from './helpers';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function startLogService(port: number, dir: string): ChildProcess {
  return spawn(
    process.env.LOGSERVICE_BIN!,
    ['--addr', `127.0.0.1:${port}`, '--registry-url', process.env.E2E_REGISTRY_URL!, '--log-file', path.join(dir, 'standalone.log')],
    { stdio: 'ignore', env: { ...process.env, RUST_LOG: 'warn' } },
  );
}

test('a standalone service appears, goes critical when killed, and comes back', async ({ page }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distributed-e2e-svc-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  await page.goto('/registry');
  await hydrated(page);
  await expect(page.getByText('Live: following the registry\'s events.')).toBeVisible();
  await page.evaluate(() => ((window as any).__noReload = true));
  const row = page.locator(`tr[data-url="${url}"]`);
  await expect(row).toHaveCount(0);

  let service = startLogService(port, dir);
  try {
    await expect(row).toHaveAttribute('data-status', 'passing', { timeout: 5_000 });
    await expect(row).toContainText('LogService');
    await expect(row.locator('.tick.ok').first()).toBeVisible();

    service.kill('SIGKILL');
    await expect(row).toHaveAttribute('data-status', 'critical', { timeout: 5_000 });
    await expect(row.locator('.tick.failed').first()).toBeVisible();

    service = startLogService(port, dir);
    await expect(row).toHaveAttribute('data-status', 'passing', { timeout: 5_000 });
    expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  } finally {
    service.kill('SIGKILL');
  }
});
