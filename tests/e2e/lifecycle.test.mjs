// End-to-end: the session lifecycle of the demo against the development provider, in headless
// Chromium: access token refresh, RP-initiated logout, back-channel logout, server-side
// (memory) sessions, dynamic client registration kept across a restart.
//
//   provider 127.0.0.1:9105  access tokens live 3 s, clock tolerance 0, OP_STATS=1;
//                            logout tokens carry `sid` (back-channel URI: the demo on 8105)
//   provider 127.0.0.1:9106  logout tokens carry only `sub` (OP_BACKCHANNEL_SID=0;
//                            back-channel URI: the demo on 8107)
//   demo 127.0.0.1:8105  -> 9105, store=memory, clock_skew_seconds=0, static client demo
//   demo 127.0.0.1:8106  -> 9105, dynamic registration with persist_path (started by its test)
//   demo 127.0.0.1:8107  -> 9106, store=memory, static client demo
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  NAVIGATION_HEADERS, Stack, appCookieHeader, assertPortsFree, inlineToml, introspect,
  launchBrowser, logOutThroughStartPage, loginAtProvider, loginInNewContext, newRecordedPage, opStats,
  originOf, pageJson, parseJson, profileWithCookie, rawGet, sleepUntil, uniqueLogin, unixNow, withDiagnostics,
} from './harness.mjs';

const OP = 'http://127.0.0.1:9105';
const OP_SUB = 'http://127.0.0.1:9106';
const DEMO = 'http://127.0.0.1:8105';
const DEMO_REG = 'http://127.0.0.1:8106';
const DEMO_SUB = 'http://127.0.0.1:8107';
const ACCESS_TOKEN_TTL = 3;

function demoOidc(app, issuer, client) {
  return inlineToml({
    redirect_uri: `${app}/redirect_uri`,
    post_logout_redirect_uri: `${app}/logged_out`,
    clock_skew_seconds: 0,
    session: { store: 'memory' },
    providers: {
      default: { issuer, scopes: ['openid', 'profile', 'email'], ...client },
    },
  });
}

const stack = new Stack();
let browser;
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-e2e-lifecycle-'));

before(async () => {
  await assertPortsFree([9105, 9106, 8105, 8106, 8107]);
  await withDiagnostics(stack, async () => {
    await Promise.all([
      stack.startProvider({
        port: 9105,
        rpBases: [DEMO, DEMO_REG],
        env: {
          OP_ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL), OP_CLOCK_TOLERANCE: '0', OP_STATS: '1', OP_KEYS: 'ephemeral',
        },
      }),
      stack.startProvider({ port: 9106, rpBases: [DEMO_SUB], env: { OP_BACKCHANNEL_SID: '0', OP_KEYS: 'ephemeral' } }),
    ]);
    const staticClient = { client_id: 'demo', client_secret: 'demo-secret' };
    await Promise.all([
      stack.startExample({ example: 'demo', port: 8105, oidc: demoOidc(DEMO, OP, staticClient) }),
      stack.startExample({ example: 'demo', port: 8107, oidc: demoOidc(DEMO_SUB, OP_SUB, staticClient) }),
    ]);
    browser = await launchBrowser();
  });
}, { timeout: 90000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stack.stopAll();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('access token refresh', () => {
  test('an expired access token is refreshed with the refresh token', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const login = uniqueLogin('rita');
    const { context, page } = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login, path: '/token' });
    try {
      const { json: first } = await pageJson(page, `${DEMO}/token`);
      assert.equal(first.refreshed, false, `right after login: ${JSON.stringify(first)}`);
      assert.equal(typeof first.access_token, 'string');
      assert.equal(typeof first.expires_at, 'number');
      assert.ok(first.expires_at <= unixNow() + ACCESS_TOKEN_TTL + 1, `expires_at ${first.expires_at}, now ${unixNow()}`);
      assert.equal((await introspect(OP, first.access_token)).active, true);

      await sleepUntil(first.expires_at, 300);
      assert.equal((await introspect(OP, first.access_token)).active, false, 'the provider still calls the old token active');

      const { json: second } = await pageJson(page, `${DEMO}/token`);
      assert.equal(second.refreshed, true, `after expiry: ${JSON.stringify(second)}`);
      assert.notEqual(second.access_token, first.access_token);
      assert.ok(second.expires_at > first.expires_at, `new expires_at ${second.expires_at} <= old ${first.expires_at}`);
      const active = await introspect(OP, second.access_token);
      assert.equal(active.active, true, `introspection of the refreshed token: ${JSON.stringify(active)}`);
      assert.equal(active.sub, login);
      assert.equal(active.client_id, 'demo');

      // The session keeps the refreshed token.
      const { json: third } = await pageJson(page, `${DEMO}/token`);
      assert.equal(third.refreshed, false, `right after a refresh: ${JSON.stringify(third)}`);
      assert.equal(third.access_token, second.access_token);

      // Refreshing did not end the session.
      const { json: profile } = await pageJson(page, `${DEMO}/profile`);
      assert.equal(profile.sub, login);
    } finally {
      await context.close();
    }
  }));

  // The provider does not rotate the refresh token of a confidential client (oidc-provider's
  // default), so every refresh of a session uses the same refresh token.
  test('a token refreshed less than a minute ago is refreshed again (on expiry and on ?refresh=true)', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const login = uniqueLogin('remy');
    const { context, page } = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login, path: '/token' });
    try {
      const { json: first } = await pageJson(page, `${DEMO}/token`);
      await sleepUntil(first.expires_at, 300);
      const { json: second } = await pageJson(page, `${DEMO}/token`);
      assert.equal(second.refreshed, true);
      assert.notEqual(second.access_token, first.access_token);

      const problems = [];
      // ?refresh=true forces a refresh: a token request and a new token.
      const tokenRequests = (await opStats(OP))['POST /token'];
      const { json: forced } = await pageJson(page, `${DEMO}/token?refresh=true`);
      const forcedRequests = (await opStats(OP))['POST /token'] - tokenRequests;
      assert.equal(forced.refreshed, true);
      if (forced.access_token === second.access_token || forcedRequests !== 1) {
        problems.push(`GET /token?refresh=true right after a refresh answered {"refreshed":true} with `
          + `${forced.access_token === second.access_token ? 'the access token of that refresh' : 'a new token'}; `
          + `token requests at the provider: ${forcedRequests} (expected a new token from 1 request)`);
      }

      // The refreshed token expires in turn: the next refresh must get a new, active token.
      const latest = forced.access_token === second.access_token ? second : forced;
      await sleepUntil(latest.expires_at, 300);
      const beforeNext = (await opStats(OP))['POST /token'];
      const { json: next } = await pageJson(page, `${DEMO}/token`);
      const nextRequests = (await opStats(OP))['POST /token'] - beforeNext;
      const state = await introspect(OP, next.access_token);
      if (!(next.refreshed === true && next.access_token !== latest.access_token && state.active === true)) {
        problems.push(`GET /token after the refreshed token expired (less than 60 s after that refresh) answered `
          + `{"refreshed":${next.refreshed},"expires_at":${next.expires_at}} (now ${Math.floor(unixNow())}) with `
          + `${next.access_token === latest.access_token ? 'the same token as before' : 'a new token'}, which the provider `
          + `calls ${state.active ? 'active' : 'inactive'}; token requests at the provider: ${nextRequests} `
          + '(expected a new, active token)');
      }
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }));
});

describe('logout (memory store)', () => {
  test('RP-initiated logout ends the session, its copies and, by sid, the sessions of the same provider session', { timeout: 90000 }, () => withDiagnostics(stack, async () => {
    const login = uniqueLogin('bert');
    const contexts = [];
    try {
      // B: the browser that logs out.
      const b = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login });
      contexts.push(b.context);
      const { json: profileB } = await pageJson(b.page, `${DEMO}/profile`);
      const sid = profileB.id_token.sid;
      assert.ok(sid, `the ID token has no sid: ${JSON.stringify(profileB.id_token)}`);
      const cookieB = await appCookieHeader(b.context, b.log, DEMO);
      assert.ok(cookieB, 'no app cookie after login');
      const replayBefore = await profileWithCookie(DEMO, cookieB);
      assert.equal(replayBefore.status, 200, `the copied cookie does not work even before logout: ${replayBefore.text.slice(0, 200)}`);

      // C: another cookie jar in the same provider session (its provider cookies copied from
      // B), so the provider logs it in without a form, with the same sid.
      const c = await newRecordedPage(browser);
      contexts.push(c.context);
      const opCookies = (await b.context.cookies(OP)).filter((k) => k.name.startsWith(`_op${new URL(OP).port}_`));
      assert.ok(opCookies.length > 0, 'no provider session cookie in B');
      await c.context.addCookies(opCookies);
      await c.page.goto(`${DEMO}/profile`);
      assert.equal(c.page.url(), `${DEMO}/profile`, `C did not come back logged in (single sign-on), it is on ${c.page.url()}`);
      const { json: profileC } = await pageJson(c.page, `${DEMO}/profile`);
      assert.equal(profileC.sub, login);
      assert.equal(profileC.id_token.sid, sid, 'C should share B\'s provider session');
      const cookieC = await appCookieHeader(c.context, c.log, DEMO);
      assert.notEqual(cookieC, cookieB, 'C has a session of its own');

      // D: the same account in another browser (its own provider session, another sid).
      const d = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login });
      contexts.push(d.context);
      const { json: profileD } = await pageJson(d.page, `${DEMO}/profile`);
      assert.notEqual(profileD.id_token.sid, sid);
      const cookieD = await appCookieHeader(d.context, d.log, DEMO);

      // B logs out from the start page and confirms at the provider.
      const out = await logOutThroughStartPage(b.page, b.log, { app: DEMO, op: OP });
      assert.ok(out.logoutPost, `no POST ${DEMO}/logout; requests: ${out.requests.map((r) => r.url).join(', ')}`);
      assert.equal(out.logoutPost.method, 'POST');
      assert.ok(out.endSession, `no request to ${OP}/session/end; requests: ${out.requests.map((r) => r.url).join(', ')}`);
      const endParams = new URL(out.endSession.url).searchParams;
      assert.ok(endParams.get('id_token_hint'), 'no id_token_hint');
      assert.equal(endParams.get('client_id'), 'demo');
      assert.equal(endParams.get('post_logout_redirect_uri'), `${DEMO}/logged_out`);
      assert.ok((endParams.get('state') || '').length >= 16, `state: ${endParams.get('state')}`);
      assert.equal(out.url.origin + out.url.pathname, `${DEMO}/logged_out`, `ended on ${out.url}`);
      assert.equal(out.url.searchParams.get('state'), endParams.get('state'));
      assert.match(await b.page.content(), /You are logged out/);

      // B's session is gone, and with it any copy of its cookie.
      const replayAfter = await profileWithCookie(DEMO, cookieB);
      assert.equal(replayAfter.status, 401, `B's cookie copied before logout still works: ${replayAfter.status} ${replayAfter.text.slice(0, 200)}`);
      assert.equal(replayAfter.body?.error, 'login_required');
      const fresh = await browser.newContext();
      contexts.push(fresh);
      await fresh.addCookies(cookieB.split('; ').map((pair) => {
        const [name, ...value] = pair.split('=');
        return { name, value: value.join('='), url: DEMO };
      }));
      const replayInBrowser = await fresh.request.get(`${DEMO}/profile`, { headers: { accept: 'application/json' }, maxRedirects: 0 });
      assert.equal(replayInBrowser.status(), 401, 'the copied cookie in a fresh browser context');

      // C was in the provider session that ended: the back-channel logout (sid) ended it.
      const cAfter = await profileWithCookie(DEMO, cookieC);
      assert.equal(cAfter.status, 401, `C (same provider session) is still logged in after B's logout: ${cAfter.status} ${cAfter.text.slice(0, 200)}`);
      const cNavigation = await rawGet(`${DEMO}/profile`, { ...NAVIGATION_HEADERS, cookie: cookieC });
      assert.equal(cNavigation.status, 302, `C navigating to /profile -> ${cNavigation.status}`);
      assert.ok(cNavigation.headers.location?.startsWith(`${OP}/auth?`), `Location: ${cNavigation.headers.location}`);

      // D's provider session did not end, and the logout token named only B's sid.
      const dAfter = await profileWithCookie(DEMO, cookieD);
      assert.equal(dAfter.status, 200, `D (another provider session) was logged out too: ${dAfter.status} ${dAfter.text.slice(0, 200)}`);

      // B needs a new login: the provider asks for it again.
      await b.page.goto(`${DEMO}/profile`);
      assert.equal(originOf(b.page.url()), OP, `after logout /profile did not go to the provider: ${b.page.url()}`);
      await b.page.waitForSelector('input[name=login]');
      const response = await loginAtProvider(b.page, { login, opOrigin: OP });
      assert.equal(b.page.url(), `${DEMO}/profile`, `the new login ended on ${b.page.url()} (HTTP ${response?.status()})`);
      const { json: again } = await pageJson(b.page, `${DEMO}/profile`);
      assert.equal(again.sub, login);
      assert.notEqual(again.id_token.sid, sid);
    } finally {
      await Promise.all(contexts.map((ctx) => ctx.close().catch(() => {})));
    }
  }));

  test('a logout token with only sub ends every session of the user (second browser)', { timeout: 90000 }, () => withDiagnostics(stack, async () => {
    const login = uniqueLogin('sue');
    const other = uniqueLogin('tom');
    const contexts = [];
    try {
      const e = await loginInNewContext(browser, { appOrigin: DEMO_SUB, opOrigin: OP_SUB, login });
      contexts.push(e.context);
      const f = await loginInNewContext(browser, { appOrigin: DEMO_SUB, opOrigin: OP_SUB, login });
      contexts.push(f.context);
      const g = await loginInNewContext(browser, { appOrigin: DEMO_SUB, opOrigin: OP_SUB, login: other });
      contexts.push(g.context);
      const [cookieE, cookieF, cookieG] = await Promise.all([e, f, g].map((x) => appCookieHeader(x.context, x.log, DEMO_SUB)));
      for (const [name, cookie] of [['E', cookieE], ['F', cookieF], ['G', cookieG]]) {
        const r = await profileWithCookie(DEMO_SUB, cookie);
        assert.equal(r.status, 200, `${name} before logout: ${r.status} ${r.text.slice(0, 200)}`);
      }

      const out = await logOutThroughStartPage(e.page, e.log, { app: DEMO_SUB, op: OP_SUB });
      assert.equal(out.url.origin + out.url.pathname, `${DEMO_SUB}/logged_out`, `ended on ${out.url}`);

      // The second browser of the same user: ended by the back-channel logout.
      const fApi = await profileWithCookie(DEMO_SUB, cookieF);
      assert.equal(fApi.status, 401, `the second browser is still logged in: ${fApi.status} ${fApi.text.slice(0, 200)}`);
      assert.equal(fApi.body?.error, 'login_required');
      const fNavigation = await rawGet(`${DEMO_SUB}/profile`, { ...NAVIGATION_HEADERS, cookie: cookieF });
      assert.equal(fNavigation.status, 302, `the second browser navigating to /profile -> ${fNavigation.status}`);
      assert.ok(fNavigation.headers.location?.startsWith(`${OP_SUB}/auth?`), `Location: ${fNavigation.headers.location}`);
      // ...and in the browser: /profile is redirected to the provider (whose own session of F
      // is still alive, so it signs F in again without a form) and F has a new session.
      // (A full second later: see the next test for a login in the same second.)
      await sleepUntil(Math.floor(unixNow()) + 1, 50);
      const fFrom = f.log.responses.length;
      await f.page.goto(`${DEMO_SUB}/profile`);
      const fTrip = f.log.responses.slice(fFrom).find((r) => r.url === `${DEMO_SUB}/profile`);
      assert.equal(fTrip?.status, 302, 'F\'s /profile in the browser after the logout');
      assert.ok(fTrip.headers.location?.startsWith(`${OP_SUB}/auth?`), `Location: ${fTrip.headers.location}`);
      assert.equal(f.page.url(), `${DEMO_SUB}/profile`);
      const { json: fAgain } = await pageJson(f.page, `${DEMO_SUB}/profile`);
      assert.equal(fAgain.sub, login);

      // Another user is not affected; nor is the copy of E's cookie of any use.
      const gAfter = await profileWithCookie(DEMO_SUB, cookieG);
      assert.equal(gAfter.status, 200, `another user was logged out: ${gAfter.status} ${gAfter.text.slice(0, 200)}`);
      const eAfter = await profileWithCookie(DEMO_SUB, cookieE);
      assert.equal(eAfter.status, 401);
    } finally {
      await Promise.all(contexts.map((ctx) => ctx.close().catch(() => {})));
    }
  }));
});

describe('logout (memory store): a login right after a back-channel logout', () => {
  test('a login completed in the same second as a sub-only back-channel logout is kept', { timeout: 90000 }, () => withDiagnostics(stack, async () => {
    const login = uniqueLogin('una');
    const contexts = [];
    try {
      const h = await loginInNewContext(browser, { appOrigin: DEMO_SUB, opOrigin: OP_SUB, login });
      contexts.push(h.context);
      const i = await loginInNewContext(browser, { appOrigin: DEMO_SUB, opOrigin: OP_SUB, login });
      contexts.push(i.context);

      // H logs out; the confirmation is clicked just after a full second, so that the
      // back-channel logout and I's next login fall within the same second.
      await h.page.goto(`${DEMO_SUB}/`);
      await Promise.all([
        h.page.waitForURL((url) => url.origin === OP_SUB, { waitUntil: 'load' }),
        h.page.getByRole('button', { name: 'Log out' }).click(),
      ]);
      const confirm = h.page.locator('button[name=logout][value=yes]');
      await confirm.waitFor();
      await sleepUntil(Math.floor(unixNow()) + 1, 20);
      const loggedOutAt = unixNow();
      await Promise.all([
        h.page.waitForURL((url) => url.origin === DEMO_SUB, { waitUntil: 'load' }),
        confirm.click(),
      ]);

      // I's session ended with H's logout (sub); I navigates and the provider signs it in again.
      const from = i.log.responses.length;
      let navigationError = null;
      try {
        await i.page.goto(`${DEMO_SUB}/profile`);
      } catch (err) {
        navigationError = err;
      }
      const callbacks = i.log.responses.slice(from).filter((r) => r.url.startsWith(`${DEMO_SUB}/redirect_uri?`));
      const refused = callbacks.length - 1;
      assert.ok(navigationError === null && refused === 0 && i.page.url() === `${DEMO_SUB}/profile`,
        `logout confirmed at ${loggedOutAt.toFixed(3)}; I's login ${callbacks.length} time(s) through the callback `
        + `(${refused} new session(s) refused at once and sent back to the provider), `
        + `${navigationError ? `navigation failed: ${navigationError.message.split('\n')[0]}` : `ended on ${i.page.url()}`}`);
    } finally {
      await Promise.all(contexts.map((ctx) => ctx.close().catch(() => {})));
    }
  }));
});

describe('dynamic client registration', () => {
  test('the registered client is persisted and reused after a restart', { timeout: 90000 }, () => withDiagnostics(stack, async () => {
    const persistPath = path.join(tmpDir, 'registered-client.json');
    const oidc = demoOidc(DEMO_REG, OP, { registration: { persist_path: persistPath } });
    const before = (await opStats(OP))['POST /reg'];

    const first = await stack.startExample({ example: 'demo', port: 8106, oidc });
    const login = uniqueLogin('dyn');
    const one = await loginInNewContext(browser, { appOrigin: DEMO_REG, opOrigin: OP, login });
    let clientId;
    try {
      const { json: profile } = await pageJson(one.page, `${DEMO_REG}/profile`);
      assert.equal(profile.sub, login);
      const aud = Array.isArray(profile.id_token.aud) ? profile.id_token.aud : [profile.id_token.aud];
      [clientId] = aud;
      assert.ok(clientId && clientId !== 'demo' && clientId !== 'demo2', `aud ${JSON.stringify(profile.id_token.aud)}: not a registered client`);
    } finally {
      await one.context.close();
    }
    const afterFirst = (await opStats(OP))['POST /reg'];
    assert.equal(afterFirst - before, 1, 'one registration at the provider');
    assert.ok(fs.existsSync(persistPath), `${persistPath} was not written`);
    const saved = fs.readFileSync(persistPath, 'utf8');
    assert.ok(saved.includes(clientId), `${persistPath} does not name client ${clientId}`);
    const mode = fs.statSync(persistPath).mode & 0o777;
    assert.equal(mode & 0o077, 0, `${persistPath} holds a client secret but has mode ${mode.toString(8)}`);

    await first.stop();
    await stack.startExample({ example: 'demo', port: 8106, oidc });
    const login2 = uniqueLogin('dyn2');
    const two = await loginInNewContext(browser, { appOrigin: DEMO_REG, opOrigin: OP, login: login2 });
    try {
      const { json: profile } = await pageJson(two.page, `${DEMO_REG}/profile`);
      assert.equal(profile.sub, login2);
      const aud = Array.isArray(profile.id_token.aud) ? profile.id_token.aud : [profile.id_token.aud];
      assert.ok(aud.includes(clientId), `after the restart the ID token is for ${JSON.stringify(profile.id_token.aud)}, not ${clientId}`);
    } finally {
      await two.context.close();
    }
    assert.equal((await opStats(OP))['POST /reg'], afterFirst, 'the restarted demo registered again');
    assert.equal(fs.readFileSync(persistPath, 'utf8'), saved, `${persistPath} changed after the restart`);
  }));
});
