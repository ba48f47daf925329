// The Grade Book: list → student → add a grade → it is still there after a reload,
// hydrated and with JavaScript off; validation errors beside the fields; and the log line
// the grading service wrote for the new grade on the Logs page.
import { test, expect } from '@playwright/test';
import { hydrated, watchErrors } from './helpers';

test('/ redirects to the Grade Book, which lists students with averages', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/students$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Grade Book' })).toBeVisible();
  const row = page.getByRole('row', { name: /Carter, Nick/ });
  await expect(row).toContainText('87.0%');
});

test('hydrated: add a grade without a reload, and it is still there after one', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/students');
  await hydrated(page);
  await page.getByRole('link', { name: 'Stone, Emma' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Stone, Emma' })).toBeVisible();
  await expect(page).toHaveURL(/\/students\/3$/);

  // A marker on window survives only if the page is never reloaded.
  await page.evaluate(() => ((window as any).__noReload = true));
  await page.getByLabel('Title').fill('Hydrated quiz');
  await page.getByLabel('Type').selectOption('Homework');
  await page.getByLabel('Score').fill('91');
  await page.getByRole('button', { name: 'Add grade' }).click();

  const row = page.getByRole('row', { name: /Hydrated quiz/ });
  await expect(row).toContainText('Homework');
  await expect(row).toContainText('91');
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

  await page.reload();
  await expect(page.getByRole('row', { name: /Hydrated quiz/ })).toBeVisible();
  expect(errors).toEqual([]);
});

test('hydrated: a refused grade shows the reason beside its field', async ({ page }) => {
  await page.goto('/students/4');
  await hydrated(page);
  await page.evaluate(() => ((window as any).__noReload = true));
  await page.getByLabel('Title').fill('   ');
  await page.getByLabel('Score').fill('50');
  await page.getByRole('button', { name: 'Add grade' }).click();
  await expect(page.locator('#title-error')).toHaveText('Title must not be empty');
  await expect(page.getByLabel('Title')).toHaveAttribute('aria-invalid', 'true');
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  await expect(page.getByRole('row')).toHaveCount(4); // header + the three seed grades
});

test.describe('with JavaScript disabled', () => {
  test.use({ javaScriptEnabled: false });

  test('the form posts, and the page shows the new grade', async ({ page }) => {
    await page.goto('/students');
    await page.getByRole('link', { name: 'Baggio, Roberto' }).click();
    await page.getByLabel('Title').fill('Plain form quiz');
    await page.getByLabel('Type').selectOption('Exam');
    await page.getByLabel('Score').fill('66');
    await page.getByRole('button', { name: 'Add grade' }).click();
    await expect(page).toHaveURL(/\/students\/2$/);
    await expect(page.getByRole('row', { name: /Plain form quiz/ })).toContainText('66');
    await page.reload();
    await expect(page.getByRole('row', { name: /Plain form quiz/ })).toBeVisible();
  });

  test('a refused grade comes back with the reason beside its field', async ({ page }) => {
    await page.goto('/students/5');
    await page.getByLabel('Title').fill('  ');
    await page.getByLabel('Score').fill('10');
    await page.getByRole('button', { name: 'Add grade' }).click();
    await expect(page.locator('#title-error')).toHaveText('Title must not be empty');
  });
});

test('the Logs page shows the line written for a new grade', async ({ page }) => {
  await page.goto('/students/1');
  await hydrated(page);
  await page.getByLabel('Title').fill('Logged essay');
  await page.getByLabel('Type').selectOption('Homework');
  await page.getByLabel('Score').fill('73');
  await page.getByRole('button', { name: 'Add grade' }).click();
  await expect(page.getByRole('row', { name: /Logged essay/ })).toBeVisible();

  await expect(async () => {
    await page.goto('/logs?service=GradingService&text=Logged%20essay');
    await expect(page.getByRole('row', { name: /grade added: Logged essay \(Homework\) 73/ })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30_000 });
});

test('the Logs page tails new records live', async ({ page, request }) => {
  await page.goto('/logs?service=E2E');
  await hydrated(page);
  await expect(page.getByText('Live: new records appear on top.')).toBeVisible();
  const res = await request.post('/log', { data: '[E2E] - written after the page opened', headers: { 'content-type': 'text/plain' } });
  expect(res.status()).toBe(200);
  await expect(page.getByRole('row', { name: /written after the page opened/ })).toBeVisible();
});

test('hydrated: the Logs filter shows its records without a reload', async ({ page, request }) => {
  for (const service of ['E2EFilterA', 'E2EFilterB']) {
    const res = await request.post('/log', { data: `[${service}] - filtered <b>record</b> of ${service}`, headers: { 'content-type': 'text/plain' } });
    expect(res.status()).toBe(200);
  }
  const errors = watchErrors(page);
  await page.goto('/logs');
  await hydrated(page);
  await page.evaluate(() => ((window as any).__noReload = true));
  await page.getByLabel('Service').fill('E2EFilterB');
  await page.getByLabel('Text').fill('filtered <b>');
  await page.getByRole('button', { name: 'Filter' }).click();
  // The islands router sends the form as a browser does (a space as "+").
  await expect(page).toHaveURL(/\/logs\?service=E2EFilterB&text=filtered(%20|\+)%3Cb%3E$/);
  // The message is text, not markup.
  await expect(page.getByRole('row', { name: /filtered <b>record<\/b> of E2EFilterB/ })).toBeVisible();
  await expect(page.getByRole('row', { name: /E2EFilterA/ })).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  expect(errors).toEqual([]);
});
