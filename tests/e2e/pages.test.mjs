// End-to-end: the demo's pages for a person, in headless Chromium, with the pure-Rust
// development provider (`cargo run --example dev_provider`, the test kit's issuer). Each page
// is photographed (target/e2e-screenshots/) and what it shows is checked: the start page
// logged out and logged in, the provider's login page where the user and claims are picked,
// the session page with its claims, userinfo and tokens, its refresh button, the provider's
// sessions page and its back-channel logout button, RP-initiated logout.
//
//   dev provider 127.0.0.1:9400 (client demo) and :9401 (client demo2, unused here)
//   demo 127.0.0.1:8400 -> 9400, store=memory
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  EXAMPLES_DIR, REPO_ROOT, Stack, assertPortsFree, inlineToml, launchBrowser, newRecordedPage, waitForHttp,
  withDiagnostics,
} from './harness.mjs';

const OP = 'http://127.0.0.1:9400';
const DEMO = 'http://127.0.0.1:8400';
const SHOTS = path.join(REPO_ROOT, 'target', 'e2e-screenshots');

const stack = new Stack();
let browser;
const shots = new Map();

/** Photographs the page as `name`.png and checks the picture is not blank. */
async function photograph(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: true });
  assert.ok(png.length > 8000, `${name}.png is ${png.length} bytes: a blank page?`);
  for (const [other, earlier] of shots) {
    assert.ok(!earlier.equals(png), `${name}.png is the same picture as ${other}.png`);
  }
  shots.set(name, png);
}

const text = async (page, selector) => (await page.locator(selector).innerText()).trim();

before(async () => {
  await assertPortsFree([9400, 9401, 8400]);
  fs.mkdirSync(SHOTS, { recursive: true });
  await withDiagnostics(stack, async () => {
    const provider = stack.spawn('dev_provider:9400', path.join(EXAMPLES_DIR, 'dev_provider'), [], {
      env: { DEV_PROVIDER_PORT: '9400' },
    });
    await waitForHttp(`${OP}/.well-known/openid-configuration`, { proc: provider, accept: (r) => r.status === 200 });
    await stack.startExample({
      example: 'demo',
      port: 8400,
      oidc: inlineToml({
        redirect_uri: `${DEMO}/redirect_uri`,
        post_logout_redirect_uri: `${DEMO}/logged_out`,
        session: { store: 'memory' },
        providers: {
          default: { issuer: OP, client_id: 'demo', client_secret: 'demo-secret', scopes: ['openid', 'profile', 'email'] },
        },
      }),
    });
    browser = await launchBrowser();
  });
}, { timeout: 90000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stack.stopAll();
});

describe('the demo, for a person', () => {
  test('log in at the Rust dev provider, see the session, refresh, back-channel logout, log out', { timeout: 90000 }, () => withDiagnostics(stack, async () => {
    const { context, page } = await newRecordedPage(browser);
    try {
      // The start page, logged out: it says so and offers a login.
      await page.goto(`${DEMO}/`);
      assert.equal(await text(page, '#status'), 'You are not logged in.');
      await photograph(page, '1-start-logged-out');

      // "Log in" goes to the provider's page, where the user and claims are picked.
      await Promise.all([page.waitForURL((url) => url.origin === OP), page.click('#login')]);
      assert.equal(new URL(page.url()).pathname, '/authorize');
      assert.equal(await text(page, 'h1'), 'Log in');
      await page.fill('#subject', 'carol');
      await page.fill('#name', 'Carol Example');
      await page.fill('#email', 'carol@example.com');
      await page.fill('#claims', '{"groups": ["staff", "editors"]}');
      await photograph(page, '2-provider-login');
      await Promise.all([
        page.waitForURL((url) => url.origin === DEMO && url.pathname === '/session'),
        page.getByRole('button', { name: 'Log in' }).click(),
      ]);

      // The session page: who, the ID token's claims, userinfo, the tokens.
      assert.match(await text(page, '#status'), /Logged in as Carol Example with provider default/);
      const claims = await text(page, '#claims');
      for (const expected of ['sub', 'carol', 'groups', '["staff","editors"]', 'iss', OP, 'email', 'carol@example.com']) {
        assert.ok(claims.includes(expected), `ID token claims show ${expected}: ${claims}`);
      }
      const userinfo = await text(page, '#userinfo');
      assert.ok(userinfo.includes('carol@example.com'), `userinfo: ${userinfo}`);
      const tokens = await text(page, '#tokens');
      assert.match(tokens, /access token expires\s+\d{4}-\d\d-\d\dT[\d:]+Z \(in \d+ s\)/, tokens);
      assert.match(tokens, /refresh token\s+yes/, tokens);
      await photograph(page, '3-session');

      // The refresh button gets new tokens from the provider.
      await Promise.all([page.waitForURL(/\/session\?refresh=true$/), page.click('#refresh')]);
      assert.equal(await text(page, '#notice'), 'The tokens were just refreshed.');
      await photograph(page, '4-session-refreshed');

      // The start page, logged in.
      await page.goto(`${DEMO}/`);
      assert.match(await text(page, '#status'), /^Logged in as Carol Example \(carol\) with provider default\.$/);
      await photograph(page, '5-start-logged-in');

      // The provider's sessions page sends a back-channel logout; the demo ends the session.
      await page.goto(`${OP}/sessions`);
      assert.ok((await text(page, 'table')).includes('carol'));
      await photograph(page, '6-provider-sessions');
      await Promise.all([
        page.waitForURL((url) => url.pathname === '/sessions' && url.searchParams.has('sent')),
        page.getByRole('button', { name: 'Back-channel logout' }).click(),
      ]);
      assert.match(await text(page, '[role=status]'), /backchannel_logout answered 200 for carol/);
      await page.goto(`${DEMO}/`);
      assert.equal(await text(page, '#status'), 'You are not logged in.', 'the back-channel logout ended the session');

      // Log in again (the provider remembers carol: one click), then log out from the start page.
      await Promise.all([page.waitForURL((url) => url.origin === OP), page.click('#login')]);
      await Promise.all([
        page.waitForURL((url) => url.origin === DEMO && url.pathname === '/session'),
        page.getByRole('button', { name: 'Log in' }).click(),
      ]);
      await page.goto(`${DEMO}/`);
      await Promise.all([
        page.waitForURL((url) => url.origin === DEMO && url.pathname === '/logged_out'),
        page.getByRole('button', { name: 'Log out' }).click(),
      ]);
      assert.equal(await text(page, 'h1'), 'You are logged out');
      await photograph(page, '7-logged-out');
      await page.goto(`${DEMO}/`);
      assert.equal(await text(page, '#status'), 'You are not logged in.');
    } finally {
      await context.close();
    }
  }));
});

describe('the demo, misconfigured', () => {
  test('a configuration it cannot use ends it with a message naming the key and status 1, not a panic', { timeout: 30000 }, async () => {
    const proc = stack.spawn('demo:bad-config', path.join(EXAMPLES_DIR, 'demo'), [], {
      env: {
        ROCKET_CONFIG: '/nonexistent',
        ROCKET_PORT: '8401',
        ROCKET_CLI_COLORS: 'false',
        ROCKET_OIDC: inlineToml({
          redirect_uri: 'http://127.0.0.1:8401/redirect_uri',
          providers: { default: { issuer: OP, client_id: 'demo', client_secret: 'demo-secret', bearer: { dpop: 'sometimes' } } },
        }),
      },
    });
    const exit = await proc.exited;
    assert.equal(exit.code, 1, proc.describe());
    assert.match(proc.output, /oidc\.providers\.default\.bearer\.dpop/, proc.describe());
    assert.doesNotMatch(proc.output, /panicked/, proc.describe());
  });
});
