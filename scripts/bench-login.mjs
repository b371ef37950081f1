#!/usr/bin/env node
// Logs in once through the development provider with headless Chromium and prints the app's
// session cookies as a Cookie header value ("name=value; name2=value2").
//
//   node scripts/bench-login.mjs http://127.0.0.1:8200 http://127.0.0.1:9200 [/profile]

import { chromium } from 'playwright-core';

const [app, op, path = '/profile'] = process.argv.slice(2);
if (!app || !op) {
  console.error('usage: node scripts/bench-login.mjs APP_ORIGIN PROVIDER_ORIGIN [PATH]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  const appCookieNames = new Set();
  page.on('response', async (response) => {
    if (new URL(response.url()).origin !== app) return;
    for (const { name, value } of await response.headersArray().catch(() => [])) {
      if (name.toLowerCase() === 'set-cookie') {
        for (const line of value.split('\n')) appCookieNames.add(line.split('=')[0].trim());
      }
    }
  });

  await page.goto(new URL(path, app).href);
  if (new URL(page.url()).origin !== op) throw new Error(`expected the provider's login page, got ${page.url()}`);
  await page.fill('input[name=login]', 'admin-bench');
  await page.fill('input[name=password]', 'bench');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  const consent = page.locator('button[type=submit]', { hasText: 'Continue' });
  if (new URL(page.url()).origin === op && (await consent.count()) > 0) {
    await Promise.all([page.waitForNavigation(), consent.first().click()]);
  }
  const target = new URL(path, app).href;
  if (page.url() !== target) throw new Error(`login did not end on ${target} but on ${page.url()}`);

  const cookies = (await context.cookies(app)).filter((c) => appCookieNames.has(c.name));
  if (cookies.length === 0) throw new Error('the app set no cookie');
  process.stdout.write(`${cookies.map((c) => `${c.name}=${c.value}`).join('; ')}\n`);
} finally {
  await browser.close();
}
