// The registry's timeline: a standalone service killed (-9) is seen going critical; the
// timeline's link to that change shows the registry as it was just after it (the service
// critical in the table and on the map), and "Back to live" returns. Without JavaScript
// the scrubber is a plain GET form that shows a moment.
import { test, expect } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { hydrated, startLogService, watchErrors } from './helpers';

async function statusOf(request: import('@playwright/test').APIRequestContext, url: string) {
  const listing = await (await request.get('/services')).json();
  return listing.find((i: any) => i.ServiceURL === url)?.Status;
}

test('a link in the timeline shows the moment a killed service went critical', async ({ page }) => {
  const errors = watchErrors(page);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distributed-e2e-timeline-'));
  const { service, url } = await startLogService('127.0.0.1:0', dir);
  try {
    await expect.poll(() => statusOf(page.request, url), { timeout: 30_000 }).toBe('passing');
    service.kill('SIGKILL');
    await expect.poll(() => statusOf(page.request, url), { timeout: 30_000 }).toBe('critical');

    await page.goto('/registry');
    await hydrated(page);
    const band = page.locator(`.bands-table tr[data-url="${url}"] svg`);
    await expect(band).toHaveAttribute('aria-label', /passing .* critical /);
    const died = page.locator('.history-events a', { hasText: `${url} went critical` });
    await died.click();

    await expect(page).toHaveURL(/\/registry\?at=/);
    await expect(page.getByText('from its history: not live')).toBeVisible();
    await expect(page.locator(`table.registry tr[data-url="${url}"]`)).toHaveAttribute('data-status', 'critical');
    // The all-in-one server's own log service still passes: the service is degraded.
    await expect(page.locator('.map-node[data-service="LogService"]')).toHaveAttribute('data-health', 'degraded');
    // The change shown is marked (with any other in the same millisecond).
    await expect(page.locator('.history-events a[aria-current="time"]', { hasText: `${url} went critical` })).toHaveCount(1);

    // From one moment to another: the moment it registered, passing then.
    await page.locator('.history-events a', { hasText: `${url} registered` }).first().click();
    await expect(page.locator(`table.registry tr[data-url="${url}"]`)).toHaveAttribute('data-status', 'passing');
    await expect(page.locator('.history-events a[aria-current="time"]', { hasText: `${url} registered` })).toHaveCount(1);
    await expect(page.locator('.history-events a[aria-current="time"]', { hasText: `${url} went critical` })).toHaveCount(0);

    await page.getByRole('link', { name: 'Back to live' }).click();
    await expect(page.getByText("Live: following the registry's events.")).toBeVisible();
    expect(errors).toEqual([]);
  } finally {
    service.kill('SIGKILL');
  }
});

test('without JavaScript the scrubber is a form that shows a moment', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    await page.goto('/registry');
    const scrubber = page.getByLabel('Moment');
    const latest = Number(await scrubber.getAttribute('max'));
    await scrubber.fill(String(latest - 5));
    await page.getByRole('button', { name: 'Show this moment' }).click();
    await expect(page).toHaveURL(new RegExp(`/registry\\?at=${latest - 5}$`));
    await expect(page.getByText('from its history: not live')).toBeVisible();
    await expect(page.locator('#timeline-at')).toHaveValue(String(latest - 5));
    await expect(page.locator('.map-node[data-service="LogService"]')).toBeVisible();
  } finally {
    await context.close();
  }
});
