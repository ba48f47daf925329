// The portal is rendered on the server and then hydrated by the WASM bundle.
import { test, expect } from '@playwright/test';
import { hydrated, watchErrors } from './helpers';

test('pages are rendered on the server', async ({ request }) => {
  const res = await request.get('/students');
  expect(res.status()).toBe(200);
  const html = await res.text();
  expect(html).toContain('<h1>Grade Book</h1>');
  expect(html).toContain('/pkg/distributed.js');
});

test('the page hydrates: the menu button works only after the WASM has loaded', async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 480, height: 800 });
  await page.goto('/students');

  await hydrated(page);
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
