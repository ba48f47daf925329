// Teacher login, on the second server (which has a teacher password): a visitor sees the
// grades but no forms; a wrong password is refused; the teacher logs in, adds and deletes
// a grade, and logs out.
import { test, expect } from '@playwright/test';
import { hydrated, watchErrors } from './helpers';

const base = process.env.E2E_LOGIN_URL!;
const password = process.env.E2E_TEACHER_PASSWORD!;

test('a visitor sees the grades but cannot change them', async ({ page }) => {
  await page.goto(`${base}/students/1`);
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByRole('row')).not.toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Add a Grade' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: /^Delete / })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Log in' })).toBeVisible();
  await page.goto(`${base}/students`);
  await expect(page.getByText('as the teacher to add students.')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Add student' })).toHaveCount(0);
});

test('hydrated: the teacher logs in, adds and deletes a grade, and logs out', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto(`${base}/students/2`);
  await hydrated(page);
  await page.getByRole('link', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Teacher login' })).toBeVisible();
  await hydrated(page);

  // The login, the refusal and the next page come without a reload: the form is an
  // island that sends itself, and the islands router draws the next page.
  await page.evaluate(() => ((window as any).__noReload = true));
  const stillNoReload = async () =>
    expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.locator('#password-error')).toHaveText('Wrong password.');
  await expect(page.getByLabel('Password')).toHaveAttribute('aria-invalid', 'true');
  expect(page.url()).not.toContain('error=');
  await stillNoReload();

  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/students\/2$/);
  await expect(page.getByText('Logged in as the teacher.')).toBeVisible();
  await stillNoReload();

  await hydrated(page);
  await page.getByLabel('Title').fill('Login e2e quiz');
  await page.getByLabel('Score').fill('64');
  await page.getByRole('button', { name: 'Add grade' }).click();
  await expect(page.getByRole('row', { name: /Login e2e quiz/ })).toBeVisible();

  await page.getByRole('button', { name: 'Delete Login e2e quiz' }).click();
  await expect(page.getByRole('row', { name: /Login e2e quiz/ })).toHaveCount(0);

  await hydrated(page);
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/students$/);
  await expect(page.getByText('as the teacher to add students.')).toBeVisible();
  await stillNoReload();
  await page.goto(`${base}/students/2`);
  await expect(page.getByRole('link', { name: 'Log in' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Add a Grade' })).toHaveCount(0);
  expect(errors.filter((e) => !e.includes('401'))).toEqual([]);
});

test.describe('with JavaScript disabled', () => {
  test.use({ javaScriptEnabled: false });

  test('the login form posts, and the teacher can add a grade', async ({ page }) => {
    await page.goto(`${base}/login?next=/students/4`);
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.locator('#password-error')).toHaveText('Wrong password.');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/students\/4$/);
    await page.getByLabel('Title').fill('Plain login quiz');
    await page.getByLabel('Score').fill('58');
    await page.getByRole('button', { name: 'Add grade' }).click();
    await expect(page.getByRole('row', { name: /Plain login quiz/ })).toBeVisible();
  });
});
