// End-to-end: API protection (BearerToken, Identity) of the demo against the development
// provider: opaque tokens checked by introspection, RFC 9068 JWT access tokens checked locally,
// scopes, roles (/admin, /api/admin), expiry, revocation, an unreachable provider.
//
//   provider 127.0.0.1:9102  access tokens live an hour; OP_STATS=1 (request counts at /__stats)
//   provider 127.0.0.1:9103  access tokens live 2 s, clock tolerance 0
//   demo 127.0.0.1:8102  -> 9102, introspection_cache_seconds=60
//   demo 127.0.0.1:8103  -> 9102, introspection_cache_seconds=0 (revocation is seen at once)
//   demo 127.0.0.1:8104  -> 9103, introspection_cache_seconds=0, clock_skew_seconds=0
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import {
  Stack, appCookieHeader, assertPortsFree, bearerGet, decodeJwt, inlineToml, launchBrowser,
  loginInNewContext, opStats, pageJson, parseChallenge, parseJson, rawGet, revoke, sleepUntil,
  uniqueLogin, unixNow, withDiagnostics,
} from './harness.mjs';

const OP = 'http://127.0.0.1:9102';
const OP_SHORT = 'http://127.0.0.1:9103';
const DEMO = 'http://127.0.0.1:8102';
const DEMO_NOCACHE = 'http://127.0.0.1:8103';
const DEMO_SHORT = 'http://127.0.0.1:8104';
const INTROSPECTION = 'POST /token/introspection';

function demoOidc(app, issuer, { cacheSeconds, clockSkew }) {
  return inlineToml({
    redirect_uri: `${app}/redirect_uri`,
    clock_skew_seconds: clockSkew,
    providers: {
      default: {
        issuer,
        client_id: 'demo',
        client_secret: 'demo-secret',
        scopes: ['openid', 'profile', 'email'],
        // oidc-provider's introspection answers for opaque tokens carry no `aud`.
        bearer: {
          mode: 'auto', audiences: ['demo', `${app}/api`], introspection_cache_seconds: cacheSeconds, require_audience: false,
        },
      },
    },
  });
}

const stack = new Stack();
let browser;
let shortProvider;

/** A client-credentials token from the demo's /service-token. */
async function serviceToken(app, { scope, resource } = {}) {
  const query = new URLSearchParams();
  if (scope !== undefined) query.set('scope', scope);
  if (resource !== undefined) query.set('resource', resource);
  const url = `${app}/service-token${query.size ? `?${query}` : ''}`;
  const response = await rawGet(url, { accept: 'application/json' });
  assert.equal(response.status, 200, `GET ${url} -> ${response.status}: ${response.text.slice(0, 300)}`);
  const body = parseJson(response.text, url);
  assert.equal(typeof body.access_token, 'string', `no access_token from ${url}: ${response.text}`);
  return body;
}

/** Asserts a 200 JSON answer and returns its body. */
function ok(response, what) {
  assert.equal(response.status, 200, `${what} -> ${response.status} ${response.headers['www-authenticate'] || ''} ${response.text.slice(0, 300)}`);
  assert.match(response.headers['content-type'] || '', /application\/json/, `${what}: content-type`);
  return parseJson(response.text, what);
}

/** Asserts an RFC 6750 error answer: status, JSON error and the Bearer challenge. */
function bearerError(response, { status, error, what }) {
  assert.equal(response.status, status, `${what} -> ${response.status} (expected ${status} ${error}): ${response.text.slice(0, 300)}`);
  const challenge = parseChallenge(response.headers['www-authenticate']);
  assert.ok(challenge, `${what}: no WWW-Authenticate header`);
  assert.equal(challenge.scheme, 'Bearer', `${what}: WWW-Authenticate ${response.headers['www-authenticate']}`);
  assert.equal(challenge.error, error, `${what}: WWW-Authenticate ${response.headers['www-authenticate']}`);
  assert.equal(parseJson(response.text, what).error, error, `${what}: JSON error`);
  return challenge;
}

before(async () => {
  await assertPortsFree([9102, 9103, 8102, 8103, 8104]);
  await withDiagnostics(stack, async () => {
    const [, short] = await Promise.all([
      stack.startProvider({ port: 9102, rpBases: [DEMO, DEMO_NOCACHE], env: { OP_STATS: '1', OP_KEYS: 'ephemeral' } }),
      stack.startProvider({
        port: 9103,
        rpBases: [DEMO_SHORT],
        env: { OP_ACCESS_TOKEN_TTL: '2', OP_CLOCK_TOLERANCE: '0', OP_KEYS: 'ephemeral' },
      }),
    ]);
    shortProvider = short;
    await Promise.all([
      stack.startExample({ example: 'demo', port: 8102, oidc: demoOidc(DEMO, OP, { cacheSeconds: 60, clockSkew: 60 }) }),
      stack.startExample({ example: 'demo', port: 8103, oidc: demoOidc(DEMO_NOCACHE, OP, { cacheSeconds: 0, clockSkew: 60 }) }),
      stack.startExample({ example: 'demo', port: 8104, oidc: demoOidc(DEMO_SHORT, OP_SHORT, { cacheSeconds: 0, clockSkew: 0 }) }),
    ]);
    browser = await launchBrowser();
  });
}, { timeout: 90000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stack.stopAll();
});

describe('bearer tokens at /api', () => {
  test('the opaque access token of a browser login is accepted by introspection, then from the cache', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const login = uniqueLogin('alice');
    const { context, page } = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login, path: '/token' });
    try {
      const { json: token } = await pageJson(page, `${DEMO}/token`);
      assert.equal(typeof token.access_token, 'string');
      assert.equal(decodeJwt(token.access_token), null, 'the login access token was expected to be opaque');

      const before = await opStats(OP);
      const body = ok(await bearerGet(`${DEMO}/api`, token.access_token), 'GET /api with the login token');
      assert.equal(body.active, true, `introspection response: ${JSON.stringify(body)}`);
      assert.equal(body.sub, login);
      assert.equal(body.client_id, 'demo');
      assert.equal(body.iss, OP);
      assert.ok(body.scope.split(' ').includes('openid'), `scope ${body.scope}`);
      const afterFirst = await opStats(OP);
      assert.equal(afterFirst[INTROSPECTION] - before[INTROSPECTION], 1, 'one introspection call for a new token');

      const again = ok(await bearerGet(`${DEMO}/api`, token.access_token), 'GET /api again');
      assert.deepEqual(again, body);
      const afterSecond = await opStats(OP);
      assert.equal(afterSecond[INTROSPECTION], afterFirst[INTROSPECTION], 'introspection_cache_seconds=60: the second call is answered from the cache');

      // The login token has openid/profile/email, not read and write.
      const write = await bearerGet(`${DEMO}/api/write`, token.access_token);
      const challenge = bearerError(write, { status: 403, error: 'insufficient_scope', what: 'GET /api/write with the login token' });
      assert.equal(challenge.scope, 'read write');
    } finally {
      await context.close();
    }
  }));

  test('an RFC 9068 JWT access token is accepted locally, without introspection', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const resource = `${DEMO}/api`;
    const issued = await serviceToken(DEMO, { scope: 'read write', resource });
    const jwt = decodeJwt(issued.access_token);
    assert.ok(jwt, `not a JWT: ${issued.access_token}`);
    assert.equal(jwt.header.typ, 'at+jwt');
    assert.equal(jwt.payload.aud, resource);
    assert.equal(jwt.payload.scope, 'read write');
    assert.equal(issued.scope, 'read write');

    const before = await opStats(OP);
    const body = ok(await bearerGet(`${DEMO}/api`, issued.access_token), 'GET /api with a JWT');
    assert.equal(body.iss, OP);
    assert.equal(body.aud, resource);
    assert.equal(body.client_id, 'demo');
    assert.equal(body.scope, 'read write');
    assert.equal(body.jti, jwt.payload.jti, 'the identity is the JWT\'s claims');
    assert.equal('active' in body, false, 'a JWT identity is its claims, not an introspection response');
    const write = ok(await bearerGet(`${DEMO}/api/write`, issued.access_token), 'GET /api/write with a JWT');
    assert.equal(write.jti, jwt.payload.jti);

    // A JWT for a resource the demo does not accept: refused locally too.
    const foreign = await serviceToken(DEMO, { scope: 'read write', resource: 'http://127.0.0.1:8199/api' });
    assert.equal(decodeJwt(foreign.access_token)?.payload.aud, 'http://127.0.0.1:8199/api');
    bearerError(await bearerGet(`${DEMO}/api`, foreign.access_token), { status: 401, error: 'invalid_token', what: 'GET /api with a JWT for another audience' });

    // A JWT whose signature does not verify.
    const [h, p, s] = issued.access_token.split('.');
    const tampered = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    bearerError(await bearerGet(`${DEMO}/api`, tampered), { status: 401, error: 'invalid_token', what: 'GET /api with a tampered JWT' });

    const after = await opStats(OP);
    assert.equal(after[INTROSPECTION], before[INTROSPECTION], `JWT access tokens must not be introspected (before ${before[INTROSPECTION]}, after ${after[INTROSPECTION]})`);
  }));

  test('an opaque client-credentials token is accepted by introspection', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const issued = await serviceToken(DEMO);
    assert.equal(decodeJwt(issued.access_token), null, `expected an opaque token, got ${issued.access_token}`);
    assert.ok(issued.expires_in > 3000, `expires_in ${issued.expires_in}`);

    const before = await opStats(OP);
    const body = ok(await bearerGet(`${DEMO}/api`, issued.access_token), 'GET /api with a client-credentials token');
    assert.equal(body.active, true);
    assert.equal(body.client_id, 'demo');
    assert.equal(body.iss, OP);
    const after = await opStats(OP);
    assert.equal(after[INTROSPECTION] - before[INTROSPECTION], 1);
  }));

  test('a token without the write scope gets 403 insufficient_scope at /api/write', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const opaque = await serviceToken(DEMO, { scope: 'read' });
    assert.equal(opaque.scope, 'read');
    const read = ok(await bearerGet(`${DEMO}/api`, opaque.access_token), 'GET /api with a read token');
    assert.equal(read.scope, 'read');
    const challenge = bearerError(await bearerGet(`${DEMO}/api/write`, opaque.access_token), {
      status: 403, error: 'insufficient_scope', what: 'GET /api/write with an opaque read token',
    });
    assert.equal(challenge.scope, 'read write');
    assert.equal(challenge.realm, 'default');

    const jwt = await serviceToken(DEMO, { scope: 'read', resource: `${DEMO}/api` });
    assert.equal(decodeJwt(jwt.access_token)?.payload.scope, 'read');
    ok(await bearerGet(`${DEMO}/api`, jwt.access_token), 'GET /api with a JWT read token');
    const jwtChallenge = bearerError(await bearerGet(`${DEMO}/api/write`, jwt.access_token), {
      status: 403, error: 'insufficient_scope', what: 'GET /api/write with a JWT read token',
    });
    assert.equal(jwtChallenge.scope, 'read write');
  }));

  test('a revoked token gets 401 invalid_token (no cache)', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const issued = await serviceToken(DEMO_NOCACHE, { scope: 'read write' });
    ok(await bearerGet(`${DEMO_NOCACHE}/api`, issued.access_token), 'GET /api before revocation');
    ok(await bearerGet(`${DEMO_NOCACHE}/api/write`, issued.access_token), 'GET /api/write before revocation');
    await revoke(OP, issued.access_token);
    bearerError(await bearerGet(`${DEMO_NOCACHE}/api`, issued.access_token), { status: 401, error: 'invalid_token', what: 'GET /api after revocation' });
    bearerError(await bearerGet(`${DEMO_NOCACHE}/api/write`, issued.access_token), { status: 401, error: 'invalid_token', what: 'GET /api/write after revocation' });
  }));

  test('expired tokens (opaque and JWT) get 401 invalid_token', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const opaque = await serviceToken(DEMO_SHORT, { scope: 'read write' });
    const jwt = await serviceToken(DEMO_SHORT, { scope: 'read write', resource: `${DEMO_SHORT}/api` });
    const { exp } = decodeJwt(jwt.access_token).payload;
    assert.ok(exp <= unixNow() + 2.5, `the JWT expires at ${exp}, more than 2 s from now (${unixNow()})`);
    assert.ok(opaque.expires_in <= 2, `expires_in ${opaque.expires_in}`);

    ok(await bearerGet(`${DEMO_SHORT}/api`, opaque.access_token), 'GET /api with a fresh opaque token');
    ok(await bearerGet(`${DEMO_SHORT}/api/write`, jwt.access_token), 'GET /api/write with a fresh JWT');

    // Both were issued within the same second or two; wait past the later expiry.
    await sleepUntil(Math.max(exp, Math.floor(unixNow()) + 1) + 1, 200);
    bearerError(await bearerGet(`${DEMO_SHORT}/api`, opaque.access_token), { status: 401, error: 'invalid_token', what: 'GET /api with an expired opaque token' });
    bearerError(await bearerGet(`${DEMO_SHORT}/api`, jwt.access_token), { status: 401, error: 'invalid_token', what: 'GET /api with an expired JWT' });
  }));

  test('no token: 401 with a bare Bearer challenge; a malformed header: 400 invalid_request', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const none = await rawGet(`${DEMO}/api`, { accept: 'application/json' });
    assert.equal(none.status, 401);
    // A bare Bearer challenge, and (bearer.dpop = "allowed", the default) a bare DPoP one.
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="default", DPoP algs="ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA"');

    const noneWrite = await rawGet(`${DEMO}/api/write`, { accept: 'application/json' });
    assert.equal(noneWrite.status, 401);
    assert.equal(noneWrite.headers['www-authenticate'], 'Bearer realm="default", DPoP algs="ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA"');

    const malformed = await rawGet(`${DEMO}/api`, { accept: 'application/json', authorization: 'Bearer two tokens' });
    bearerError(malformed, { status: 400, error: 'invalid_request', what: 'GET /api with "Bearer two tokens"' });

    const unknown = await bearerGet(`${DEMO}/api`, `unknown-${randomBytes(16).toString('hex')}`);
    bearerError(unknown, { status: 401, error: 'invalid_token', what: 'GET /api with a token the provider never issued' });
  }));
});

describe('Identity at /either', () => {
  test('a bearer token is judged as a token, a browser session as a session', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const issued = await serviceToken(DEMO, { scope: 'read' });
    const viaToken = ok(await bearerGet(`${DEMO}/either`, issued.access_token), 'GET /either with a token');
    assert.equal(viaToken.via, 'token');
    assert.equal(viaToken.token.client_id, 'demo');
    assert.equal(viaToken.token.scope, 'read');

    const jwt = await serviceToken(DEMO, { scope: 'read', resource: `${DEMO}/api` });
    const viaJwt = ok(await bearerGet(`${DEMO}/either`, jwt.access_token), 'GET /either with a JWT');
    assert.equal(viaJwt.via, 'token');
    assert.equal(viaJwt.token.aud, `${DEMO}/api`);

    const login = uniqueLogin('erin');
    const { context, page, log } = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login, path: '/either' });
    try {
      const { json: viaSession } = await pageJson(page, `${DEMO}/either`);
      assert.equal(viaSession.via, 'session');
      assert.equal(viaSession.profile.sub, login);
      assert.equal(viaSession.profile.provider, 'default');

      // With an Authorization header the request is judged only as a bearer request,
      // whatever session cookie it carries.
      const cookie = await appCookieHeader(context, log, DEMO);
      assert.ok(cookie, 'no app cookie after login');
      const withSession = await rawGet(`${DEMO}/either`, { accept: 'application/json', cookie });
      assert.equal(ok(withSession, 'GET /either with the session cookie').via, 'session');
      const both = await rawGet(`${DEMO}/either`, { accept: 'application/json', cookie, authorization: `Bearer ${issued.access_token}` });
      assert.equal(ok(both, 'GET /either with cookie and token').via, 'token');
      const badToken = await rawGet(`${DEMO}/either`, { accept: 'application/json', cookie, authorization: 'Bearer not-a-valid-token' });
      bearerError(badToken, { status: 401, error: 'invalid_token', what: 'GET /either with a session cookie and a bad token' });
    } finally {
      await context.close();
    }

    // Neither: an API request gets 401.
    const neither = await rawGet(`${DEMO}/either`, { accept: 'application/json' });
    assert.equal(neither.status, 401, `GET /either with nothing -> ${neither.status}`);
  }));
});

describe('who may do what: /admin and /api/admin', () => {
  // The development provider gives login names starting with "admin" the role `admin`
  // (claim `roles`, in userinfo and in the user's access tokens), and the client `demo`'s
  // client-credentials tokens `roles: ["admin"]`.
  test('an admin passes /admin and /api/admin; another user gets 403 access_denied, never a login', { timeout: 90000 }, () => withDiagnostics(stack, async () => {
    const admin = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login: uniqueLogin('admin'), path: '/token' });
    try {
      const { json: profile, status } = await pageJson(admin.page, `${DEMO}/admin`);
      assert.equal(status, 200, `/admin for an admin: ${JSON.stringify(profile)}`);
      assert.deepEqual(profile.userinfo.roles, ['admin'], 'the role came from userinfo');
      const { json: token } = await pageJson(admin.page, `${DEMO}/token`);
      const body = ok(await bearerGet(`${DEMO}/api/admin`, token.access_token), 'GET /api/admin with an admin\'s token');
      assert.deepEqual(body.roles, ['admin']);
    } finally {
      await admin.context.close();
    }

    const user = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login: uniqueLogin('alice'), path: '/token' });
    try {
      const response = await user.page.goto(`${DEMO}/admin`);
      assert.equal(response.status(), 403, `/admin for a user without the role -> ${response.status()} at ${user.page.url()}`);
      assert.equal(user.page.url(), `${DEMO}/admin`, 'no redirect to the provider');
      const html = await response.text();
      assert.match(html, /Access denied/);
      assert.match(html, /access_denied/);
      assert.doesNotMatch(html, /"admin"|role `admin`/, 'the required role is not named');

      const { json: token } = await pageJson(user.page, `${DEMO}/token`);
      const denied = await bearerGet(`${DEMO}/api/admin`, token.access_token);
      const challenge = bearerError(denied, { status: 403, error: 'access_denied', what: 'GET /api/admin with a user\'s token' });
      assert.equal(challenge.scope, undefined, 'no scope is named: none would help');
      assert.doesNotMatch(denied.headers['www-authenticate'], /admin/);
    } finally {
      await user.context.close();
    }

    // The app's own client-credentials token, by introspection and as a JWT.
    const opaque = await serviceToken(DEMO);
    assert.deepEqual(ok(await bearerGet(`${DEMO}/api/admin`, opaque.access_token), 'GET /api/admin, opaque').roles, ['admin']);
    const jwt = await serviceToken(DEMO, { scope: 'read', resource: `${DEMO}/api` });
    assert.deepEqual(decodeJwt(jwt.access_token)?.payload.roles, ['admin']);
    ok(await bearerGet(`${DEMO}/api/admin`, jwt.access_token), 'GET /api/admin, JWT');
  }));
});

describe('provider unreachable', () => {
  test('an opaque token gets 503 when the provider cannot be asked', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const issued = await serviceToken(DEMO_SHORT);
    await shortProvider.stop();
    const response = await bearerGet(`${DEMO_SHORT}/api`, issued.access_token);
    assert.equal(response.status, 503, `GET /api with the provider down -> ${response.status}: ${response.text.slice(0, 300)}`);
  }));
});
