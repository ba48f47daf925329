// Takes the README's screenshots of the portal (make screenshots, scripts/screenshots.sh):
// each page at 1200 px wide, once hydrated and its live data has arrived, into the
// directory given. Usage: node screenshots.mjs BASE_URL OUT_DIR
import { chromium } from '@playwright/test';
import * as path from 'node:path';

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error('usage: node screenshots.mjs BASE_URL OUT_DIR');
  process.exit(2);
}
const pages = [
  ['registry', '/registry', '.service-map'],
  ['grade-book', '/students', '#class-averages'],
  ['student', '/students/1', '#student-scores'],
  ['logs', '/logs', '#log-rate'],
];
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  for (const [name, url, picture] of pages) {
    await page.goto(base + url);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.waitForSelector(picture);
    // The registry's live table has had its first heartbeats.
    if (name === 'registry') await page.waitForSelector('svg.spark');
    const file = path.join(out, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`wrote ${file}`);
  }
} finally {
  await browser.close();
}
