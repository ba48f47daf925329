// Grades follow changes made elsewhere (another tab, another teacher, the API) live,
// through the grading service's event stream that the portal relays; a grade is deleted
// without a reload; and every page works with JavaScript off.
import { test, expect } from '@playwright/test';
import { hydrated, watchErrors } from './helpers';

const noReload = (page: import('@playwright/test').Page) =>
  page.evaluate(() => ((window as any).__noReload = true));
const stillNoReload = async (page: import('@playwright/test').Page) =>
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

test('the Grade Book shows a student added through the API, live', async ({ page, request }) => {
  const errors = watchErrors(page);
  await page.goto('/students?q=livebook');
  await hydrated(page);
  await expect(page.getByText('Live: changes made elsewhere appear here.')).toBeVisible();
  await expect(page.getByText('No students found')).toBeVisible();
  await noReload(page);
  const res = await request.post('/grading/students', { data: { FirstName: 'Ann', LastName: 'Livebook' } });
  expect(res.status()).toBe(201);
  await expect(page.getByRole('row', { name: /Livebook, Ann/ })).toBeVisible();
  await stillNoReload(page);
  expect(errors).toEqual([]);
});

test('a student\'s page follows grades added and deleted through the API, live', async ({ page, request }) => {
  const res = await request.post('/grading/students', { data: { FirstName: 'Gus', LastName: 'Livegrades' } });
  const { ID: id } = await res.json();
  await page.goto(`/students/${id}`);
  await hydrated(page);
  await expect(page.getByText('No grades available')).toBeVisible();
  await noReload(page);
  const added = await request.post(`/grading/students/${id}/grades`, { data: { Title: 'Elsewhere quiz', Type: 'Quiz', Score: 64 } });
  expect(added.status()).toBe(201);
  const { ID: gradeId } = await added.json();
  await expect(page.getByRole('row', { name: /Elsewhere quiz/ })).toContainText('64');
  await expect(page.getByRole('img', { name: 'How Livegrades, Gus did over time' })).toBeVisible();
  expect((await request.delete(`/grading/students/${id}/grades/${gradeId}`)).status()).toBe(204);
  await expect(page.getByRole('row', { name: /Elsewhere quiz/ })).toHaveCount(0);
  await expect(page.getByText('No grades available')).toBeVisible();
  await stillNoReload(page);
});

test('a grade is deleted without a reload', async ({ page, request }) => {
  const res = await request.post('/grading/students', { data: { FirstName: 'Del', LastName: 'Deletes' } });
  const { ID: id } = await res.json();
  for (const title of ['Keep me', 'Delete me']) {
    await request.post(`/grading/students/${id}/grades`, { data: { Title: title, Type: 'Test', Score: 70 } });
  }
  await page.goto(`/students/${id}`);
  await hydrated(page);
  await noReload(page);
  await page.getByRole('button', { name: 'Delete Delete me' }).click();
  await expect(page.getByRole('row', { name: /Delete me/ })).toHaveCount(0);
  await expect(page.getByRole('row', { name: /Keep me/ })).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`/students/${id}$`));
  await stillNoReload(page);
});

test.describe('with JavaScript disabled', () => {
  test.use({ javaScriptEnabled: false });

  for (const [path, heading, content] of [
    ['/students', 'Grade Book', /Carter, Nick/],
    ['/students/1', 'Carter, Nick', /Final Exam/],
    ['/registry', 'Registry', /GradingService/],
    ['/logs', 'Logs', /Time \(UTC\)|No log records match/],
    ['/login', 'Teacher login', /Password/],
  ] as const) {
    test(`${path} is whole without JavaScript`, async ({ page }) => {
      await page.goto(path);
      await expect(page.getByRole('heading', { level: 1, name: heading })).toBeVisible();
      await expect(page.locator('main')).toContainText(content);
      await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
    });
  }
});
