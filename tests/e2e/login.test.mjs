// End-to-end: the example apps against the development provider, driven by headless Chromium.
//
//   providers: 127.0.0.1:9100 (clients demo, demo2) and 127.0.0.1:9101
//   demo:           target/debug/examples/demo            on 127.0.0.1:8100 (provider "default" = 9100)
//   multi_provider: target/debug/examples/multi_provider  on 127.0.0.1:8101 ("default" = 9100, "second" = 9101)
//
// Run: cargo build --examples && node --test tests/e2e/

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  Stack, assertPortsFree, launchBrowser, loginAtProvider, newRecordedPage, originOf, rawGet,
  uniqueLogin, withDiagnostics,
} from './harness.mjs';

const OP1 = 'http://127.0.0.1:9100';
const OP2 = 'http://127.0.0.1:9101';
const DEMO = 'http://127.0.0.1:8100';
const MULTI = 'http://127.0.0.1:8101';

const DEMO_OIDC = `{redirect_uri="${DEMO}/redirect_uri",providers={default={issuer="${OP1}",client_id="demo",client_secret="demo-secret",scopes=["openid","profile","email"]}}}`;
const MULTI_OIDC = `{redirect_uri="${MULTI}/redirect_uri",providers={default={issuer="${OP1}",client_id="demo",client_secret="demo-secret"},second={issuer="${OP2}",client_id="demo2",client_secret="demo2-secret",token_endpoint_auth_method="client_secret_post"}}}`;

const stack = new Stack();
let browser;

const now = () => Math.floor(Date.now() / 1000);

/** The first authorization request the browser sent to `opOrigin`, as URLSearchParams. */
function authorizationRequest(log, opOrigin) {
  const request = log.requests.find((r) => r.url.startsWith(`${opOrigin}/auth?`));
  assert.ok(request, `no authorization request to ${opOrigin}/auth; requests: ${log.requests.map((r) => r.url).join(', ')}`);
  return new URL(request.url).searchParams;
}

function assertAuthorizationRequest(params, { clientId, redirectUri }) {
  assert.equal(params.get('response_type'), 'code');
  assert.equal(params.get('client_id'), clientId);
  assert.equal(params.get('redirect_uri'), redirectUri);
  assert.equal(params.get('code_challenge_method'), 'S256');
  assert.match(params.get('code_challenge') || '', /^[A-Za-z0-9_-]{43}$/, 'code_challenge: base64url of a SHA-256 digest');
  assert.ok((params.get('state') || '').length >= 16, `state too short or missing: ${params.get('state')}`);
  assert.ok((params.get('nonce') || '').length >= 16, `nonce too short or missing: ${params.get('nonce')}`);
  assert.ok((params.get('scope') || '').split(' ').includes('openid'), `scope without openid: ${params.get('scope')}`);
}

function audiences(aud) {
  return Array.isArray(aud) ? aud : [aud];
}

async function jsonOf(response) {
  assert.ok(response, 'no response for the final navigation');
  const type = response.headers()['content-type'] || '';
  const text = await response.text();
  assert.match(type, /application\/json/, `expected JSON from ${response.url()}, got ${type}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** The browser ended on `url`; otherwise show where it ended and what it got there. */
async function assertLandedOn(page, response, url) {
  if (page.url() === url) return;
  let detail = '';
  try {
    detail = `HTTP ${response?.status()}: ${(await page.content()).replace(/\s+/g, ' ').slice(0, 600)}`;
  } catch {
    // page gone
  }
  assert.fail(`expected to end on ${url}, ended on ${page.url()} ${detail}`);
}

/** Asserts the common shape of the examples' /profile JSON. */
function assertProfile(body, { provider, sub, issuer, clientId }) {
  assert.equal(body.provider, provider);
  assert.equal(body.sub, sub);
  assert.equal(typeof body.id_token, 'object');
  assert.equal(body.id_token.iss, issuer);
  assert.equal(body.id_token.sub, sub);
  assert.ok(audiences(body.id_token.aud).includes(clientId), `id_token.aud ${JSON.stringify(body.id_token.aud)} lacks ${clientId}`);
  assert.equal(typeof body.last_authenticated, 'number');
  assert.ok(Math.abs(body.last_authenticated - now()) <= 60, `last_authenticated ${body.last_authenticated} is not close to now (${now()})`);
  assert.ok('userinfo' in body, 'no userinfo key');
  assert.ok('access_token_expires_at' in body, 'no access_token_expires_at key');
  if (body.access_token_expires_at !== null) {
    assert.equal(typeof body.access_token_expires_at, 'number');
    // the provider issues access tokens for 3600 s
    assert.ok(body.access_token_expires_at > now() + 3000 && body.access_token_expires_at <= now() + 3700,
      `access_token_expires_at ${body.access_token_expires_at} is not about an hour from now (${now()})`);
  }
}

/** Names of the cookies that responses from `origin` set (not the provider's). */
function cookieNamesSetBy(log, origin) {
  return new Set(log.setCookies
    .filter((c) => originOf(c.url) === origin)
    .map((c) => c.header.split('=')[0].trim()));
}

before(async () => {
  await assertPortsFree([9100, 9101, 8100, 8101]);
  const rpBases = [DEMO, MULTI];
  await withDiagnostics(stack, async () => {
    await Promise.all([
      stack.startProvider({ port: 9100, rpBases }),
      stack.startProvider({ port: 9101, rpBases }),
    ]);
    await Promise.all([
      stack.startExample({ example: 'demo', port: 8100, oidc: DEMO_OIDC }),
      stack.startExample({ example: 'multi_provider', port: 8101, oidc: MULTI_OIDC }),
    ]);
    browser = await launchBrowser();
  });
}, { timeout: 90000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stack.stopAll();
});

describe('demo (one provider)', () => {
  test('browser login returns to the original URL with a session', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const { context, page, log } = await newRecordedPage(browser);
    try {
      const login = uniqueLogin('alice');

      await page.goto(`${DEMO}/profile?x=1`);
      assert.equal(originOf(page.url()), OP1, `not sent to the provider: ${page.url()}`);

      const first = log.responses.find((r) => r.url === `${DEMO}/profile?x=1`);
      assert.ok(first, 'no response for /profile?x=1');
      assert.equal(first.status, 302, 'a browser navigation without a session is redirected with 302');
      assert.ok(first.headers.location?.startsWith(`${OP1}/auth?`), `Location: ${first.headers.location}`);

      const params = authorizationRequest(log, OP1);
      assertAuthorizationRequest(params, { clientId: 'demo', redirectUri: `${DEMO}/redirect_uri` });
      for (const scope of ['openid', 'profile', 'email']) {
        assert.ok(params.get('scope').split(' ').includes(scope), `scope ${params.get('scope')} lacks ${scope}`);
      }

      const response = await loginAtProvider(page, { login, opOrigin: OP1 });
      await assertLandedOn(page, response, `${DEMO}/profile?x=1`);

      const callback = log.responses.find((r) => r.url.startsWith(`${DEMO}/redirect_uri?`));
      assert.ok(callback, 'the provider did not send the browser to the redirect_uri');
      assert.equal(new URL(callback.url).searchParams.get('state'), params.get('state'));
      assert.equal(callback.status, 303, 'the callback restores the original URL with 303');
      assert.equal(new URL(callback.headers.location, DEMO).href, `${DEMO}/profile?x=1`);

      const body = await jsonOf(response);
      assertProfile(body, { provider: 'default', sub: login, issuer: OP1, clientId: 'demo' });
      assert.equal(body.id_token.nonce, params.get('nonce'));
      assert.equal(typeof body.userinfo, 'object');
      assert.ok(body.userinfo, 'userinfo is null although the provider has a userinfo endpoint');
      assert.equal(body.userinfo.sub, login);
      assert.equal(body.userinfo.email, `${login}@example.test`);

      // The app's cookies: HttpOnly and SameSite=Lax.
      const appCookieNames = cookieNamesSetBy(log, DEMO);
      const cookies = (await context.cookies(DEMO)).filter((c) => appCookieNames.has(c.name));
      assert.ok(cookies.length > 0, `the app left no cookie; it set: ${[...appCookieNames].join(', ')}`);
      for (const cookie of cookies) {
        assert.equal(cookie.httpOnly, true, `cookie ${cookie.name} is not HttpOnly`);
        assert.equal(cookie.sameSite, 'Lax', `cookie ${cookie.name} has SameSite=${cookie.sameSite}`);
        assert.equal(cookie.path, '/', `cookie ${cookie.name} has Path=${cookie.path}`);
      }

      // A second visit uses the session: no trip to the provider.
      const before = log.requests.length;
      const again = await page.goto(`${DEMO}/profile`);
      const trip = log.requests.slice(before).filter((r) => originOf(r.url) !== DEMO);
      assert.deepEqual(trip.map((r) => r.url), [], 'the second visit left the app');
      assert.equal(page.url(), `${DEMO}/profile`);
      assert.equal(again.status(), 200);
      const body2 = await jsonOf(again);
      assert.equal(body2.sub, login);
      assert.equal(body2.last_authenticated, body.last_authenticated);

      assert.deepEqual(log.offHost, [], 'the browser tried a host other than 127.0.0.1');
    } finally {
      await context.close();
    }
  }));

  test('requests that are not navigations get 401 JSON login_required', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    // Plain HTTP client asking for JSON (no Sec-Fetch-* headers, like curl).
    const api = await rawGet(`${DEMO}/profile`, { accept: 'application/json' });
    assert.equal(api.status, 401, `Accept: application/json -> ${api.status} ${api.text.slice(0, 200)}`);
    assert.match(api.headers['content-type'] || '', /application\/json/);
    assert.equal(JSON.parse(api.text).error, 'login_required');
    assert.equal(api.headers['set-cookie'], undefined, 'a 401 must not set a state cookie');

    // X-Requested-With, even with an Accept that allows HTML.
    const xhr = await rawGet(`${DEMO}/profile`, { accept: 'text/html,*/*', 'x-requested-with': 'XMLHttpRequest' });
    assert.equal(xhr.status, 401, `X-Requested-With -> ${xhr.status}`);
    assert.equal(JSON.parse(xhr.text).error, 'login_required');

    // Sec-Fetch-Mode other than navigate (Node's fetch sends "cors").
    const cors = await fetch(`${DEMO}/profile`, { headers: { accept: 'text/html,*/*' }, redirect: 'manual' });
    assert.equal(cors.status, 401, `Sec-Fetch-Mode: cors -> ${cors.status}`);
    assert.equal((await cors.json()).error, 'login_required');

    // Control: the same request as a browser navigation is redirected to the provider.
    const nav = await rawGet(`${DEMO}/profile`, {
      accept: 'text/html,application/xhtml+xml,*/*;q=0.8', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document',
    });
    assert.equal(nav.status, 302);
    assert.ok(nav.headers.location?.startsWith(`${OP1}/auth?`), `Location: ${nav.headers.location}`);

    // fetch() from a page of the app, without a session.
    const { context, page } = await newRecordedPage(browser);
    try {
      await page.goto(`${DEMO}/`);
      const result = await page.evaluate(async () => {
        const r = await fetch('/profile', { headers: { accept: 'application/json' } });
        return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
      });
      assert.equal(result.status, 401, `fetch from the page: ${JSON.stringify(result)}`);
      assert.match(result.type || '', /application\/json/);
      assert.equal(JSON.parse(result.text).error, 'login_required');
    } finally {
      await context.close();
    }
  }));
});

describe('multi_provider (two providers)', () => {
  test('a login at the second provider does not count for the default one', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const { context, page, log } = await newRecordedPage(browser);
    try {
      const login = uniqueLogin('bob');

      await page.goto(`${MULTI}/profile/second`);
      assert.equal(originOf(page.url()), OP2, `not sent to the second provider: ${page.url()}`);
      const params = authorizationRequest(log, OP2);
      assertAuthorizationRequest(params, { clientId: 'demo2', redirectUri: `${MULTI}/redirect_uri` });

      const response = await loginAtProvider(page, { login, opOrigin: OP2 });
      await assertLandedOn(page, response, `${MULTI}/profile/second`);
      const body = await jsonOf(response);
      assertProfile(body, { provider: 'second', sub: login, issuer: OP2, clientId: 'demo2' });

      // Same browser, the default provider: a session of "second" does not count.
      const before = log.requests.length;
      await page.goto(`${MULTI}/profile`);
      assert.equal(originOf(page.url()), OP1, `/profile with only a "second" session did not go to ${OP1}: ${page.url()}`);
      const log2 = { requests: log.requests.slice(before) };
      const params2 = authorizationRequest(log2, OP1);
      assertAuthorizationRequest(params2, { clientId: 'demo', redirectUri: `${MULTI}/redirect_uri` });
      assert.notEqual(params2.get('state'), params.get('state'));

      const login2 = uniqueLogin('carol');
      const response2 = await loginAtProvider(page, { login: login2, opOrigin: OP1 });
      await assertLandedOn(page, response2, `${MULTI}/profile`);
      const body2 = await jsonOf(response2);
      assertProfile(body2, { provider: 'default', sub: login2, issuer: OP1, clientId: 'demo' });

      assert.deepEqual(log.offHost, [], 'the browser tried a host other than 127.0.0.1');
    } finally {
      await context.close();
    }
  }));
});
