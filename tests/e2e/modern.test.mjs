// End-to-end: the modern OAuth of issue 11 against the real provider (npm oidc-provider), in
// headless Chromium: client authentication with private_key_jwt (RFC 7523, an EC key the
// demo reads from a PEM file), pushed authorization requests (RFC 9126) at a provider that
// requires them.
//
//   provider 127.0.0.1:9500  OP_PAR=required, client demo-pkjwt (private_key_jwt), OP_STATS=1
//   demo 127.0.0.1:8500  -> 9500, client demo-pkjwt, private_key_path, PAR auto
//   demo 127.0.0.1:8501  -> 9500, client demo (secret), pushed_authorization_requests = "never"
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  Stack, assertPortsFree, inlineToml, launchBrowser, loginInNewContext, newRecordedPage, opStats, pageJson,
  uniqueLogin, withDiagnostics,
} from './harness.mjs';

const OP = 'http://127.0.0.1:9500';
const DEMO = 'http://127.0.0.1:8500';
const DEMO_FRONT = 'http://127.0.0.1:8501';

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
  await assertPortsFree([9500, 8500, 8501]);
  const key = clientKey();
  const keyPath = path.join(tmpDir, 'client-key.pem');
  fs.writeFileSync(keyPath, key.pem, { mode: 0o600 });
  await withDiagnostics(stack, async () => {
    await stack.startProvider({
      port: 9500,
      rpBases: [DEMO, DEMO_FRONT],
      env: { OP_PAR: 'required', OP_PKJWT_JWKS: JSON.stringify({ keys: [key.jwk] }), OP_STATS: '1', OP_KEYS: 'ephemeral' },
    });
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
