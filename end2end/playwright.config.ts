// Playwright drives Debian's Chromium (/usr/bin/chromium) against the release build of the
// all-in-one server, which this config starts on its own port so a `make run` elsewhere
// does not interfere. scripts/test.sh passes SERVER_BIN and SITE_ROOT.
import { defineConfig } from '@playwright/test';
import * as path from 'node:path';

const port = process.env.E2E_PORT ?? '3100';
const serverBin = process.env.SERVER_BIN ?? path.resolve(__dirname, '../target/release/server');
const siteRoot = process.env.SITE_ROOT ?? path.resolve(__dirname, '../target/site');

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 5_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    command: `"${serverBin}" --addr 127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { LEPTOS_SITE_ROOT: siteRoot, RUST_LOG: 'warn' },
  },
});
