// The teacher's tools on the Grade Book: find a student by name (a plain GET form, with
// JavaScript or without), sort, page through a large class, and download the grade book
// as CSV, parsed here and compared with the grading API.
import { test, expect, type Page } from '@playwright/test';
import { hydrated, watchErrors } from './helpers';

// Enough students for a second page (50 a page), added once through the grading API.
test.beforeAll(async ({ request }) => {
  const listed = await (await request.get('/grading/students')).json();
  for (let n = listed.length; n < 60; n++) {
    const added = await request.post('/grading/students', {
      data: { FirstName: `Tool${n}`, LastName: `Pupil${String(n).padStart(2, '0')}` },
    });
    expect(added.status()).toBe(201);
  }
});

const names = (page: Page) => page.locator('table.data tbody tr td:first-child').allTextContents();

test.describe('with JavaScript disabled', () => {
  test.use({ javaScriptEnabled: false });

  test('the search form finds a student by any part of the name', async ({ page }) => {
    await page.goto('/students');
    await page.getByLabel('Find a student').fill('carter');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page).toHaveURL(/\/students\?q=carter/);
    expect(await names(page)).toEqual(['Carter, Nick']);
  });
});

test('hydrated: the search form finds a student, sorted as asked', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/students');
  await hydrated(page);
  await page.getByLabel('Find a student').fill('o');
  await page.getByLabel('Sort by').selectOption('name');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/q=o&sort=name/);
  await expect.poll(async () => (await names(page))[0]).toBe('Baggio, Roberto');
  const shown = await names(page);
  expect(shown).not.toContain('Carter, Nick');
  expect(shown.every((name) => name.toLowerCase().includes('o'))).toBe(true);
  const byName = [...shown].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  expect(shown).toEqual(byName);
  await expect(page.getByLabel('Sort by')).toHaveValue('name');
  expect(errors).toEqual([]);
});

test('after Back, the search form shows the search of the page shown', async ({ page }) => {
  await page.goto('/students');
  await hydrated(page);
  const field = page.getByLabel('Find a student');
  await field.fill('carter');
  await expect(page).toHaveURL(/q=carter/);
  await expect.poll(() => names(page)).toEqual(['Carter, Nick']);
  await page.getByLabel('Sort by').selectOption('average');
  await expect(page).toHaveURL(/q=carter&sort=average/);
  await field.fill('stone');
  await expect(page).toHaveURL(/q=stone&sort=average/);
  await expect.poll(() => names(page)).toEqual(['Stone, Emma']);
  // Back while the search field still has the focus (a browser's Back button leaves
  // it there): the field shows the search of the page shown all the same.
  await expect(field).toBeFocused();
  await page.goBack();
  await expect(page).toHaveURL(/q=carter&sort=average/);
  await expect.poll(() => names(page)).toEqual(['Carter, Nick']);
  await expect(field).toHaveValue('carter');
  await page.goBack();
  await page.goBack();
  await expect(page).toHaveURL(/\/students$/);
  await expect(field).toHaveValue('');
  await expect(page.getByLabel('Sort by')).toHaveValue('');
});

test('sorting by average puts the highest first', async ({ page }) => {
  await page.goto('/students?sort=average');
  const shown = await names(page);
  expect(shown.indexOf('Baggio, Roberto')).toBeLessThan(shown.indexOf('Carter, Nick'));
  await expect(page.getByLabel('Sort by')).toHaveValue('average');
});

test('a large class comes a page at a time, the next one without a reload', async ({ page }) => {
  await page.goto('/students');
  await hydrated(page);
  await page.evaluate(() => ((window as any).__noReload = true));
  expect(await names(page)).toHaveLength(50);
  await expect(page.getByText(/Students 1–50 of \d+/)).toBeVisible();
  await page.getByRole('link', { name: 'Next →' }).click();
  await expect(page).toHaveURL(/page=2/);
  await expect(page.getByText(/Students 51–\d+ of \d+/)).toBeVisible();
  expect(await names(page)).toContain('Pupil59, Tool59');
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);
});

test('Download CSV gives every grade of the grading API, one row each', async ({ page, request }) => {
  await page.goto('/students');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download CSV' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('grade-book.csv');
  const fs = await import('node:fs');
  const text = fs.readFileSync((await download.path())!, 'utf8');
  const rows = text.split('\r\n').filter((row) => row !== '').map(parseRow);
  expect(rows[0]).toEqual(['StudentID', 'LastName', 'FirstName', 'GradeID', 'Title', 'Type', 'Score', 'Added']);

  const students = await (await request.get('/grading/students')).json();
  const expected: string[][] = [];
  for (const s of students) {
    if (s.Grades.length === 0) expected.push([String(s.ID), s.LastName, s.FirstName, '', '', '', '', '']);
    for (const g of s.Grades) {
      expected.push([String(s.ID), s.LastName, s.FirstName, String(g.ID), g.Title, g.Type, String(g.Score), g.Added ?? '']);
    }
  }
  expect(rows.slice(1)).toEqual(expected);
});

// One CSV row (RFC 4180: quoted cells, doubled quotes).
function parseRow(row: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < row.length; i++) {
    const c = row[i];
    if (quoted) {
      if (c === '"' && row[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else {
      cell += c;
    }
  }
  cells.push(cell);
  return cells;
}
