// The portal's pictures: each is drawn by the server (present with JavaScript off), has a
// text alternative, and changes live when its data does. Also the Grade Book's search as
// you type and "Add a student".
import { test, expect, type Page } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { hydrated, startLogService, watchErrors } from './helpers';

const noReload = (page: Page) => page.evaluate(() => ((window as any).__noReload = true));
const stillNoReload = async (page: Page) => expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

test.describe('with JavaScript disabled', () => {
  test.use({ javaScriptEnabled: false });

  test('every picture is drawn by the server, with a title and a text summary', async ({ page }) => {
    await page.goto('/registry');
    const map = page.locator('figure.service-map');
    await expect(map.locator('.map-node[data-service="GradingService"]')).toContainText('passing');
    await expect(map.locator('.map-edge[data-from="GradingService"][data-to="LogService"]')).toHaveCount(1);
    await expect(map.locator('figcaption')).toContainText(/\d+ services, \d+ instances/);
    await expect(page.locator('tr[data-url] svg.spark').first()).toHaveAttribute('aria-label', /p50 [\d.]+ ms, max [\d.]+ ms/);

    await page.goto('/students');
    const histogram = page.getByRole('img', { name: "The class's averages by 10-point band" });
    await expect(histogram).toBeVisible();
    await expect(page.locator('#class-averages-desc')).toContainText(/students? with grades, by average: 90–100: \d+/);
    await expect(page.getByRole('row', { name: /Carter, Nick/ }).locator('svg.average-bar')).toHaveCount(1);

    await page.goto('/students/1');
    await expect(page.getByRole('img', { name: 'How Carter, Nick did over time' })).toBeVisible();
    await expect(page.locator('#student-scores-desc')).toContainText(/grades? in the order added.*, against the class average/);

    await page.goto('/logs');
    await expect(page.getByRole('img', { name: 'Log records per minute, stacked by sender' })).toBeVisible();
    await expect(page.locator('#log-rate-desc')).toContainText(/\d+ records over \d+ minutes?/);
  });

  test('on a narrow screen the navigation shows, without a Menu button it could not open', async ({ page }) => {
    await page.setViewportSize({ width: 480, height: 800 });
    await page.goto('/students');
    await expect(page.getByRole('button', { name: 'Menu' })).toBeHidden();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Logs' }).click();
    await expect(page).toHaveURL(/\/logs$/);
  });

  test('the search form still needs its button', async ({ page }) => {
    await page.goto('/students');
    await page.getByLabel('Find a student').fill('baggio');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect(page).toHaveURL(/q=baggio/);
    await expect(page.getByRole('row', { name: /Baggio, Roberto/ })).toBeVisible();
  });
});

test('the service map follows the registry: a second instance, then killed, then back', async ({ page }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distributed-e2e-map-'));
  const errors = watchErrors(page);
  await page.goto('/registry');
  await hydrated(page);
  await expect(page.getByText("Live: following the registry's events.")).toBeVisible();
  await noReload(page);
  const node = page.locator('.map-node[data-service="LogService"]');
  const before = Number(await node.getAttribute('data-instances'));

  let { service, url } = await startLogService('127.0.0.1:0', dir);
  try {
    await expect(node).toHaveAttribute('data-instances', String(before + 1), { timeout: 30_000 });
    const row = page.locator(`tr[data-url="${url}"]`);
    await expect(row).toHaveAttribute('data-status', 'passing', { timeout: 30_000 });
    await expect(node).toHaveAttribute('data-health', 'passing');
    // Its latency line and its p50 / max, once it has been checked.
    await expect(row.locator('svg.spark')).toHaveAttribute('aria-label', /p50 [\d.]+ ms, max [\d.]+ ms/, { timeout: 30_000 });
    await expect(row.locator('td.nowrap')).toHaveText(/^[\d.]+ ms \/ [\d.]+ ms$/);

    service.kill('SIGKILL');
    await expect(row).toHaveAttribute('data-status', 'critical', { timeout: 30_000 });
    await expect(node).toHaveAttribute('data-health', 'degraded');
    await expect(node).toContainText(`${before} of ${before + 1} passing`);
    await expect(page.locator('figure.service-map figcaption')).toContainText('With critical instances: LogService');

    ({ service } = await startLogService(url.replace('http://', ''), dir));
    await expect(node).toHaveAttribute('data-health', 'passing', { timeout: 30_000 });
    await stillNoReload(page);
    expect(errors).toEqual([]);
  } finally {
    service.kill('SIGKILL');
  }
});

test('a requirement nobody provides is a broken dependency on the map, live', async ({ page, request }) => {
  await page.goto('/registry');
  await hydrated(page);
  await expect(page.getByText("Live: following the registry's events.")).toBeVisible();
  await noReload(page);
  const dead = 'http://127.0.0.1:9/e2e-dependent';
  const registered = await request.post('/services', {
    data: {
      ServiceName: 'E2eDependent',
      ServiceURL: dead,
      RequiredServices: ['E2eMissing'],
      ServiceUpdateURL: `${dead}/services`,
      HeartbeatURL: `${dead}/heartbeat`,
    },
  });
  expect(registered.status()).toBe(200);
  try {
    await expect(page.locator('.map-node[data-service="E2eMissing"]')).toHaveAttribute('data-health', 'missing');
    await expect(page.locator('.map-node[data-service="E2eMissing"]')).toContainText('no instance');
    await expect(page.locator('.map-edge.broken[data-from="E2eDependent"][data-to="E2eMissing"]')).toHaveCount(1);
    await expect(page.locator('figure.service-map figcaption')).toContainText(
      'E2eDependent requires E2eMissing, which has no passing instance',
    );
  } finally {
    await request.delete('/services', { data: dead, headers: { 'content-type': 'text/plain' } });
  }
  await expect(page.locator('.map-node[data-service="E2eMissing"]')).toHaveCount(0);
  await stillNoReload(page);
});

test('at 1,200 px the instance table shows every column without scrolling', async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto('/registry');
  // The widest a row gets: a sparkline shows (it keeps one width however many checks).
  await expect(page.locator('table.registry tbody tr svg.spark').first()).toBeVisible();
  const scroll = page.locator('.table-scroll:has(table.registry)');
  const { scrollWidth, clientWidth } = await scroll.evaluate((el) => ({ scrollWidth: el.scrollWidth, clientWidth: el.clientWidth }));
  expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
  await expect(page.locator('table.registry tbody tr .strip').first()).toBeInViewport();
});

test('a registry in memory shows its revision as the changes since it started', async ({ page }) => {
  await page.goto('/registry');
  await hydrated(page);
  // Its revision counts from the microsecond it started: 16 digits no one reads.
  await expect(page.locator('.cluster-nodes tr[data-role="leader"] td.number')).toHaveText(
    /^\d+ changes? since \d{4}-\d\d-\d\d \d\d:\d\d UTC$/,
  );
});

test('clicking a service on the map shows only its instances, without a reload', async ({ page }) => {
  await page.goto('/registry');
  await hydrated(page);
  await noReload(page);
  await page.locator('.map-node[data-service="GradingService"]').click();
  await expect(page).toHaveURL(/\/registry\?service=GradingService$/);
  await expect(page.getByText('Showing GradingService’s instances only.')).toBeVisible();
  const services = await page.locator('table.registry tbody tr td:first-child').allTextContents();
  expect(services.length).toBeGreaterThan(0);
  expect(new Set(services)).toEqual(new Set(['GradingService']));
  await expect(page.locator('.map-node.selected')).toHaveAttribute('data-service', 'GradingService');
  await page.getByRole('link', { name: 'Show every service' }).click();
  await expect(page.locator('table.registry tbody tr td:first-child', { hasText: 'LogService' }).first()).toBeVisible();
  await stillNoReload(page);
});

test('the Grade Book searches as you type, keeping the field focused', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/students');
  await hydrated(page);
  await noReload(page);
  await page.getByLabel('Find a student').pressSequentially('carte');
  await expect(page).toHaveURL(/\/students\?q=carte$/);
  await expect(page.locator('table.data tbody tr td:first-child')).toHaveText(['Carter, Nick']);
  expect(await page.evaluate(() => document.activeElement?.id)).toBe('q');
  await page.getByLabel('Sort by').selectOption('average');
  await expect(page).toHaveURL(/q=carte&sort=average/);
  await stillNoReload(page);
  expect(errors).toEqual([]);
});

test('a new student, then a grade: the charts follow without a reload', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/students');
  await hydrated(page);
  const band = page.locator('#class-averages rect[data-band="50"]');
  const before = Number(await band.getAttribute('data-count'));
  await noReload(page);

  // A refusal comes back beside its field.
  await page.getByLabel('First name').fill('Chart');
  await page.getByLabel('Last name').fill('   ');
  await page.getByRole('button', { name: 'Add student' }).click();
  await expect(page.locator('#last_name-error')).toHaveText('Last name must not be empty');
  // The island showed it: the page was not asked for again with the refusal.
  expect(page.url()).not.toContain('error=');

  await page.getByLabel('First name').fill('Chart');
  await page.getByLabel('Last name').fill('Pupil');
  await page.getByRole('button', { name: 'Add student' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Pupil, Chart' })).toBeVisible();
  await expect(page.getByText('No grades available')).toBeVisible();
  await stillNoReload(page);
  await hydrated(page);

  await page.getByLabel('Title').fill('Chart quiz');
  await page.getByLabel('Type').selectOption('Quiz');
  await page.getByLabel('Score').fill('55');
  await page.getByRole('button', { name: 'Add grade' }).click();
  const chart = page.getByRole('img', { name: 'How Pupil, Chart did over time' });
  await expect(chart).toBeVisible();
  await expect(chart.locator('g.point')).toHaveCount(1);
  await expect(page.locator('.scores-chart .legend')).toContainText('Quiz: 1 grade, average 55.0%');

  await page.getByLabel('Title').fill('Chart exam');
  await page.getByLabel('Type').selectOption('Exam');
  await page.getByLabel('Score').fill('57');
  await page.getByRole('button', { name: 'Add grade' }).click();
  await expect(chart.locator('g.point')).toHaveCount(2);
  // The chart says when each grade was added (the service's time, in UTC), and so does the table.
  await expect(page.locator('#student-scores-desc')).toContainText(/2 grades in the order added from \d{4}-\d\d-\d\d \d\d:\d\d UTC to \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  await expect(chart.locator('g.point title').last()).toContainText(/Chart exam: 57 \(Exam\), added \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  await expect(page.getByRole('row', { name: /Chart exam/ }).locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  await page.getByRole('link', { name: 'Grade Book' }).first().click();
  await expect(band).toHaveAttribute('data-count', String(before + 1));
  await page.getByLabel('Find a student').fill('pupil, chart');
  await expect(page.getByRole('row', { name: /Pupil, Chart/ })).toContainText('56.0%');
  await stillNoReload(page);
  expect(errors).toEqual([]);
});

test('the log picture counts each new record live', async ({ page, request }) => {
  await page.goto('/logs?service=E2eChart');
  await hydrated(page);
  await expect(page.getByText('Live: new records appear on top.')).toBeVisible();
  await noReload(page);
  const post = (text: string) =>
    request.post('/log', { data: `[E2eChart] - ${text}`, headers: { 'content-type': 'text/plain' } });
  expect((await post('one')).status()).toBe(200);
  const chart = page.getByRole('img', { name: 'Log records per minute, stacked by sender' });
  await expect(chart).toBeVisible();
  await expect(page.locator('.log-chart .legend')).toHaveText('E2eChart: 1');
  expect((await post('two')).status()).toBe(200);
  await expect(page.locator('.log-chart .legend')).toHaveText('E2eChart: 2');
  await expect(page.locator('#log-rate-desc')).toContainText('2 records over');
  await stillNoReload(page);
});
