// Playwright drives Debian's Chromium (/usr/bin/chromium) against the release build of the
// all-in-one server, which this config starts on its own port (with a fresh log file and
// grade database) so a `make run` elsewhere does not interfere. scripts/test.sh passes
// SERVER_BIN, LOGSERVICE_BIN, REGISTRYSERVICE_BIN, PORTAL_BIN and SITE_ROOT (the
// standalone binaries serve the tests that start their own). A second server, with a
// teacher password, serves the login tests (login.spec.ts) on E2E_LOGIN_PORT.
import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const port = process.env.E2E_PORT ?? '3100';
const bin = (name: string) => process.env[`${name.toUpperCase()}_BIN`] ?? path.resolve(__dirname, `../target/release/${name}`);
const siteRoot = process.env.SITE_ROOT ?? path.resolve(__dirname, '../target/site');
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'distributed-e2e-'));
process.env.E2E_REGISTRY_URL = `http://127.0.0.1:${port}`;
process.env.LOGSERVICE_BIN = bin('logservice');
process.env.REGISTRYSERVICE_BIN = bin('registryservice');
process.env.PORTAL_BIN = bin('portal');
process.env.SITE_ROOT = siteRoot;
const loginPort = process.env.E2E_LOGIN_PORT ?? '3102';
const loginData = fs.mkdtempSync(path.join(os.tmpdir(), 'distributed-e2e-login-'));
const TEACHER_PASSWORD = 'e2e-teacher-secret';
process.env.E2E_LOGIN_URL = `http://127.0.0.1:${loginPort}`;
process.env.E2E_TEACHER_PASSWORD = TEACHER_PASSWORD;
const teacherHash = execFileSync(bin('server'), ['--hash-teacher-password'], { input: TEACHER_PASSWORD })
  .toString()
  .trim();

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  // Generous: a loaded 2-core machine is slow; timing targets are make bench's.
  expect: { timeout: 15_000 },
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
  webServer: [
    {
      command: `"${bin('server')}" --addr 127.0.0.1:${port} --log-file "${data}/distributed.log" --database "${data}/grades.db" --history-dir "${data}/registry-history"`,
      url: `http://127.0.0.1:${port}/students`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
      env: { LEPTOS_SITE_ROOT: siteRoot, RUST_LOG: 'warn' },
    },
    {
      command: `"${bin('server')}" --addr 127.0.0.1:${loginPort} --log-file "${loginData}/distributed.log" --database "${loginData}/grades.db" --history-dir "${loginData}/registry-history"`,
      url: `http://127.0.0.1:${loginPort}/students`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
      env: { LEPTOS_SITE_ROOT: siteRoot, RUST_LOG: 'warn', TEACHER_PASSWORD_HASH: teacherHash },
    },
  ],
});
