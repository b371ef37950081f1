// End-to-end: the modern OAuth of issue 11 against the real provider (npm oidc-provider), in
// headless Chromium: client authentication with private_key_jwt (RFC 7523, an EC key the
// demo reads from a PEM file), pushed authorization requests (RFC 9126) at a provider that
// requires them, DPoP-bound access tokens (RFC 9449) at the demo's API.
//
//   provider 127.0.0.1:9500  OP_PAR=required, client demo-pkjwt (private_key_jwt), OP_STATS=1
//   provider 127.0.0.1:9501  OP_DPOP=1
//   demo 127.0.0.1:8500  -> 9500, client demo-pkjwt, private_key_path, PAR auto
//   demo 127.0.0.1:8501  -> 9500, client demo (secret), pushed_authorization_requests = "never"
//   demo 127.0.0.1:8502  -> 9501, bearer.dpop = "allowed" (the default); its /step-up/mfa and
//                           /step-up/recent routes require acr urn:example:mfa and max_age 30
//                           (the provider gives acr urn:example:mfa to logins named mfa-...)
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  Stack, assertPortsFree, inlineToml, launchBrowser, loginInNewContext, newRecordedPage, opStats, pageJson,
  parseChallenge, parseJson, rawRequest, uniqueLogin, withDiagnostics,
} from './harness.mjs';

const OP = 'http://127.0.0.1:9500';
const DEMO = 'http://127.0.0.1:8500';
const DEMO_FRONT = 'http://127.0.0.1:8501';
const OP_DPOP = 'http://127.0.0.1:9501';
const DEMO_DPOP = 'http://127.0.0.1:8502';

/** A DPoP key holder (RFC 9449): an EC P-256 key and proofs signed with it. */
function dpopHolder() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { crv, kty, x, y } = publicKey.export({ format: 'jwk' });
  const jwk = { crv, kty, x, y };
  const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  return {
    jkt: createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url'),
    proof(htm, htu, accessToken) {
      const claims = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
      if (accessToken) claims.ath = createHash('sha256').update(accessToken).digest('base64url');
      const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${b64(claims)}`;
      const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${input}.${signature.toString('base64url')}`;
    },
  };
}

const stack = new Stack();
let browser;
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-e2e-modern-'));

/** An EC P-256 key: its PKCS#8 PEM and its public JWK with the RFC 7638 thumbprint as kid. */
function clientKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { crv, kty, x, y } = publicKey.export({ format: 'jwk' });
  const kid = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }), jwk: { crv, kty, x, y, kid, use: 'sig', alg: 'ES256' } };
}

function demoOidc(app, provider) {
  return inlineToml({
    redirect_uri: `${app}/redirect_uri`,
    post_logout_redirect_uri: `${app}/logged_out`,
    providers: { default: { issuer: OP, scopes: ['openid', 'profile', 'offline_access'], ...provider } },
  });
}

before(async () => {
  await assertPortsFree([9500, 9501, 8500, 8501, 8502]);
  const key = clientKey();
  const keyPath = path.join(tmpDir, 'client-key.pem');
  fs.writeFileSync(keyPath, key.pem, { mode: 0o600 });
  await withDiagnostics(stack, async () => {
    await stack.startProvider({
      port: 9500,
      rpBases: [DEMO, DEMO_FRONT],
      env: { OP_PAR: 'required', OP_PKJWT_JWKS: JSON.stringify({ keys: [key.jwk] }), OP_STATS: '1', OP_KEYS: 'ephemeral' },
    });
    await stack.startProvider({ port: 9501, rpBases: [DEMO_DPOP], env: { OP_DPOP: '1', OP_KEYS: 'ephemeral' } });
    await Promise.all([
      stack.startExample({
        example: 'demo',
        port: 8500,
        oidc: demoOidc(DEMO, { client_id: 'demo-pkjwt', token_endpoint_auth_method: 'private_key_jwt', private_key_path: keyPath }),
      }),
      stack.startExample({
        example: 'demo',
        port: 8501,
        oidc: demoOidc(DEMO_FRONT, { client_id: 'demo', client_secret: 'demo-secret', pushed_authorization_requests: 'never' }),
      }),
      stack.startExample({
        example: 'demo',
        port: 8502,
        oidc: inlineToml({
          redirect_uri: `${DEMO_DPOP}/redirect_uri`,
          providers: {
            default: {
              issuer: OP_DPOP,
              client_id: 'demo',
              client_secret: 'demo-secret',
              // oidc-provider's introspection answers for opaque tokens carry no `aud`.
              bearer: { require_audience: false, introspection_cache_seconds: 0 },
            },
          },
        }),
      }),
    ]);
    browser = await launchBrowser();
  });
}, { timeout: 90000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stack.stopAll();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('private_key_jwt and pushed authorization requests', () => {
  test('a login is pushed, the browser carries only client_id and request_uri, and the key authenticates the client', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const before = { ...(await opStats(OP)) };
    const login = uniqueLogin('petra');
    const { context, page, log } = await loginInNewContext(browser, { appOrigin: DEMO, opOrigin: OP, login });
    try {
      // The redirect to the provider: nothing but the client and the pushed request's reference.
      const redirect = log.responses.find((r) => r.url === `${DEMO}/profile` && r.status === 302);
      assert.ok(redirect, 'the demo redirected the browser to the provider');
      const location = new URL(redirect.headers.location);
      assert.equal(location.origin + location.pathname, `${OP}/auth`);
      assert.deepEqual([...location.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.equal(location.searchParams.get('client_id'), 'demo-pkjwt');
      assert.match(location.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);

      const { json: profile } = await pageJson(page, `${DEMO}/profile`);
      assert.equal(profile.sub, login);
      assert.equal(profile.id_token.aud, 'demo-pkjwt');

      // A refresh and a client-credentials grant authenticate with the key too.
      const { json: refreshed } = await pageJson(page, `${DEMO}/token?refresh=true`);
      assert.equal(refreshed.refreshed, true, JSON.stringify(refreshed));
      const { json: service } = await pageJson(page, `${DEMO}/service-token`);
      assert.equal(typeof service.access_token, 'string', JSON.stringify(service));

      const after = { ...(await opStats(OP)) };
      const delta = (key) => (after[key] || 0) - (before[key] || 0);
      assert.equal(delta('POST /request'), 1, `one pushed request: ${JSON.stringify(after)} before ${JSON.stringify(before)}`);
      assert.equal(delta('POST /token'), 3, 'code, refresh and client credentials, each accepted');
    } finally {
      await context.close();
    }
  }));

  test('a provider that requires PAR gets no front-channel request: the app answers 502', { timeout: 30000 }, () => withDiagnostics(stack, async () => {
    const { context, page, log } = await newRecordedPage(browser);
    try {
      const response = await page.goto(`${DEMO_FRONT}/profile`);
      assert.equal(response.status(), 502);
      assert.match(await page.content(), /provider_unavailable/);
      assert.ok(!log.requests.some((r) => r.url.startsWith(`${OP}/auth`)), 'the browser never went to the provider');
    } finally {
      await context.close();
    }
  }));
});

describe('DPoP-bound access tokens at the API', () => {
  /** A DPoP-bound client-credentials token from the provider, for `holder`. */
  async function boundToken(holder) {
    const basic = Buffer.from('demo:demo-secret').toString('base64');
    const response = await rawRequest('POST', `${OP_DPOP}/token`, {
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        dpop: holder.proof('POST', `${OP_DPOP}/token`),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
    });
    assert.equal(response.status, 200, response.text);
    const body = parseJson(response.text, 'token response');
    assert.equal(body.token_type, 'DPoP', `a DPoP-bound token: ${response.text}`);
    return body.access_token;
  }

  const call = (token, { scheme = 'DPoP', proof } = {}) => rawRequest('GET', `${DEMO_DPOP}/api`, {
    headers: { authorization: `${scheme} ${token}`, accept: 'application/json', ...(proof ? { dpop: proof } : {}) },
  });

  test('a bound token with a proof of its key is accepted; as Bearer, replayed or for another URL it is refused', { timeout: 30000 }, () => withDiagnostics(stack, async () => {
    const holder = dpopHolder();
    const token = await boundToken(holder);

    const ok = await call(token, { proof: holder.proof('GET', `${DEMO_DPOP}/api`, token) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(parseJson(ok.text, '/api').cnf?.jkt, holder.jkt, 'the provider bound the token to the key');

    const asBearer = await call(token, { scheme: 'Bearer' });
    assert.equal(asBearer.status, 401);
    assert.equal(parseChallenge(asBearer.headers['www-authenticate']).error, 'invalid_token');

    const proof = holder.proof('GET', `${DEMO_DPOP}/api`, token);
    assert.equal((await call(token, { proof })).status, 200);
    const replay = await call(token, { proof });
    assert.equal(replay.status, 401);
    assert.match(replay.headers['www-authenticate'], /^DPoP .*error="invalid_dpop_proof"/);

    const elsewhere = await call(token, { proof: holder.proof('GET', `${DEMO_DPOP}/api/write`, token) });
    assert.equal(elsewhere.status, 401);
    const otherKey = await call(token, { proof: dpopHolder().proof('GET', `${DEMO_DPOP}/api`, token) });
    assert.equal(otherKey.status, 401);
    assert.match(otherKey.headers['www-authenticate'], /error="invalid_dpop_proof"/);
  }));
});

describe('step-up per route', () => {
  test('a password session is refused for the multi-factor route; a multi-factor login gets it', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    const login = uniqueLogin('weak');
    const weak = await loginInNewContext(browser, { appOrigin: DEMO_DPOP, opOrigin: OP_DPOP, login });
    try {
      const { json: profile } = await pageJson(weak.page, `${DEMO_DPOP}/profile`);
      // oidc-provider puts `acr` in an ID token only when it was asked for.
      assert.notEqual(profile.id_token.acr, 'urn:example:mfa');
      // The route asks the provider for acr urn:example:mfa; this provider keeps the password
      // session and answers with it, which the demo refuses.
      const first = weak.log.requests.length;
      const response = await weak.page.goto(`${DEMO_DPOP}/step-up/mfa`);
      const toProvider = weak.log.requests.slice(first).find((r) => r.url.startsWith(`${OP_DPOP}/auth`));
      assert.ok(toProvider, 'the browser was sent to the provider');
      assert.equal(new URL(toProvider.url).searchParams.get('acr_values'), 'urn:example:mfa');
      assert.equal(response.status(), 401);
      assert.match(await weak.page.content(), /insufficient_user_authentication/);
      const { json: still } = await pageJson(weak.page, `${DEMO_DPOP}/profile`);
      assert.equal(still.sub, login, 'the password session is still there');
    } finally {
      await weak.context.close();
    }

    const strong = uniqueLogin('mfa-dora');
    const mfa = await loginInNewContext(browser, { appOrigin: DEMO_DPOP, opOrigin: OP_DPOP, login: strong, path: '/step-up/mfa' });
    try {
      const { json: profile } = await pageJson(mfa.page, `${DEMO_DPOP}/step-up/mfa`);
      assert.equal(profile.sub, strong);
      assert.equal(profile.id_token.acr, 'urn:example:mfa');
      const { status } = await pageJson(mfa.page, `${DEMO_DPOP}/step-up/recent`);
      assert.equal(status, 200, 'a login just now is recent enough');
      const api = await rawRequest('GET', `${DEMO_DPOP}/step-up/mfa`, { headers: { accept: 'application/json' } });
      assert.equal(api.status, 401, 'no session: login_required');
    } finally {
      await mfa.context.close();
    }
  }));
});
