// The portal is rendered on the server and then hydrated by the WASM bundle.
import { test, expect, type Page } from '@playwright/test';

/** Collects uncaught page errors and console errors (a hydration mismatch shows up here). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

test('the overview is rendered on the server', async ({ request }) => {
  const res = await request.get('/');
  expect(res.status()).toBe(200);
  const html = await res.text();
  expect(html).toContain('<h1>distributed</h1>');
  expect(html).toContain('/pkg/distributed.js');
});

test('the page hydrates: the menu button works only after the WASM has loaded', async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 480, height: 800 });
  await page.goto('/');

  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const menu = page.getByRole('button', { name: 'Menu' });
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(menu).toHaveAttribute('aria-expanded', 'false');
  await expect(nav).toBeHidden();

  await menu.click();
  await expect(menu).toHaveAttribute('aria-expanded', 'true');
  await expect(nav).toBeVisible();

  await menu.click();
  await expect(nav).toBeHidden();
  expect(errors).toEqual([]);
});

test('an unknown address gets the 404 page', async ({ page }) => {
  const res = await page.goto('/no/such/page');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
