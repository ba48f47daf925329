import { expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

/** Collects uncaught page errors and console errors (a hydration mismatch shows up here). */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/** Waits until the WASM has hydrated the page. */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

// Starts `program`; resolves with the process and the URL it says it listens on (its line
// on stdout), so no test races another for a port.
export function startService(program: string, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(program, args, {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) resolve({ child, url: found[1] });
    });
    child.on('exit', (code) => reject(new Error(`${program} exited (${code}) before listening: ${out}`)));
  });
}

// A standalone log service on `addr` (127.0.0.1:0 takes a free port), registered with the
// test server's registry.
export async function startLogService(addr: string, dir: string): Promise<{ service: ChildProcess; url: string }> {
  const { child, url } = await startService(process.env.LOGSERVICE_BIN!, [
    '--addr', addr,
    '--registry-url', process.env.E2E_REGISTRY_URL!,
    '--log-file', path.join(dir, 'standalone.log'),
  ]);
  return { service: child, url };
}
