// End-to-end: the MCP server example (examples/mcp_server.rs) found and used the way an MCP
// client does it (MCP authorization specification; RFC 9728, RFC 8414/OIDC Discovery,
// RFC 7591, RFC 8707, OAuth 2.1 with PKCE), against the development provider:
//
//   401 with resource_metadata -> the protected-resource metadata -> the authorization
//   server's metadata -> dynamic client registration (a public client) -> an authorization
//   code with PKCE and `resource` in a real browser -> a token for this resource -> 200.
//
//   provider 127.0.0.1:9600; MCP server 127.0.0.1:8600 (resource http://127.0.0.1:8600/mcp);
//   the registered client's redirect URI 127.0.0.1:8601 (a listener of this test, which keeps
//   what it receives, as a native MCP client's loopback listener does)
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  Stack, assertPortsFree, bearerGet, decodeJwt, inlineToml, launchBrowser, loginAtProvider,
  newRecordedPage, parseChallenge, parseJson, rawRequest, uniqueLogin, withDiagnostics,
} from './harness.mjs';

const OP = 'http://127.0.0.1:9600';
const MCP = 'http://127.0.0.1:8600';
const RESOURCE = `${MCP}/mcp`;
const CALLBACK = 'http://127.0.0.1:8601/callback';

const stack = new Stack();
let browser;
let callbackServer;
const callbacks = [];

before(async () => {
  await assertPortsFree([9600, 8600, 8601]);
  await withDiagnostics(stack, async () => {
    await stack.startProvider({ port: 9600, rpBases: [MCP], env: { OP_KEYS: 'ephemeral' } });
    await stack.startExample({
      example: 'mcp_server',
      port: 8600,
      oidc: inlineToml({
        redirect_uri: `${MCP}/redirect_uri`,
        resource: { identifier: RESOURCE, scopes_supported: ['read', 'write'], resource_name: 'e2e MCP server' },
        providers: { default: { issuer: OP, client_id: 'demo', client_secret: 'demo-secret' } },
      }),
    });
    callbackServer = http.createServer((request, response) => {
      callbacks.push(new URL(request.url, CALLBACK));
      response.writeHead(200, { 'content-type': 'text/plain' }).end('the client has the code');
    });
    await new Promise((resolve) => { callbackServer.listen(8601, '127.0.0.1', resolve); });
    browser = await launchBrowser();
  });
}, { timeout: 90000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (callbackServer) await new Promise((resolve) => { callbackServer.close(resolve); });
  await stack.stopAll();
});

/** A JSON-RPC call to the MCP endpoint. */
function rpc(method, { token, id = 1, params = {} } = {}) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (token) headers.authorization = `Bearer ${token}`;
  return rawRequest('POST', RESOURCE, { headers, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) });
}

async function getJson(url, what) {
  const response = await rawRequest('GET', url, { headers: { accept: 'application/json' } });
  assert.equal(response.status, 200, `${what}: GET ${url} -> ${response.status} ${response.text.slice(0, 300)}`);
  return parseJson(response.text, what);
}

const base64url = (bytes) => Buffer.from(bytes).toString('base64url');

describe('an MCP client finds its way in', () => {
  test('401 -> resource metadata -> server metadata -> registration -> code with PKCE and resource -> 200', { timeout: 90000 }, () => withDiagnostics(stack, async () => {
    // 1. Without a token: where to learn more (RFC 9728 §5.1).
    const refused = await rpc('tools/list');
    assert.equal(refused.status, 401, `POST /mcp without a token -> ${refused.status}`);
    const challenge = parseChallenge(refused.headers['www-authenticate']);
    assert.equal(challenge?.scheme, 'Bearer', refused.headers['www-authenticate']);
    const metadataUrl = challenge.resource_metadata;
    assert.equal(metadataUrl, `${MCP}/.well-known/oauth-protected-resource/mcp`);

    // 2. The protected resource's metadata; its `resource` must be the server's URL (§3.3).
    const resource = await getJson(metadataUrl, 'the protected-resource metadata');
    assert.equal(resource.resource, RESOURCE);
    assert.deepEqual(resource.authorization_servers, [OP]);
    assert.deepEqual(resource.scopes_supported, ['read', 'write']);

    // 3. The authorization server's metadata: RFC 8414 first, OIDC Discovery second, as MCP
    // clients try them.
    const issuer = resource.authorization_servers[0];
    let server;
    for (const wellKnown of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const response = await rawRequest('GET', `${issuer}${wellKnown}`, { headers: { accept: 'application/json' } });
      if (response.status === 200) {
        server = parseJson(response.text, wellKnown);
        break;
      }
    }
    assert.ok(server, `no metadata at ${issuer}`);
    assert.equal(server.issuer, issuer);
    assert.ok(server.code_challenge_methods_supported.includes('S256'));
    assert.ok(server.registration_endpoint, 'dynamic registration is offered');

    // 4. Dynamic client registration of a public client (RFC 7591).
    const registration = await rawRequest('POST', server.registration_endpoint, {
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        client_name: 'e2e MCP client',
        redirect_uris: [CALLBACK],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }),
    });
    assert.equal(registration.status, 201, `registration -> ${registration.status}: ${registration.text.slice(0, 300)}`);
    const client = parseJson(registration.text, 'the registration answer');

    // 5. An authorization code with PKCE and the resource indicator, in a real browser.
    const verifier = base64url(randomBytes(32));
    const state = base64url(randomBytes(16));
    const authorize = new URL(server.authorization_endpoint);
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: CALLBACK,
      scope: 'openid read',
      state,
      code_challenge: base64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      resource: resource.resource,
    })) {
      authorize.searchParams.set(name, value);
    }
    const { context, page } = await newRecordedPage(browser);
    try {
      await page.goto(authorize.href);
      await loginAtProvider(page, { login: uniqueLogin('mcp-user'), opOrigin: OP });
    } finally {
      await context.close();
    }
    const redirected = callbacks.find((url) => url.searchParams.get('state') === state);
    assert.ok(redirected, `the provider sent the browser back to the client: ${callbacks.join(', ')}`);
    assert.equal(redirected.searchParams.get('state'), state);
    const code = redirected.searchParams.get('code');
    assert.ok(code, `no code in ${redirected}`);

    const tokenResponse = await rawRequest('POST', server.token_endpoint, {
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: CALLBACK,
        client_id: client.client_id,
        code_verifier: verifier,
        resource: resource.resource,
      }).toString(),
    });
    assert.equal(tokenResponse.status, 200, `token -> ${tokenResponse.status}: ${tokenResponse.text.slice(0, 300)}`);
    const token = parseJson(tokenResponse.text, 'the token answer').access_token;
    assert.equal(decodeJwt(token)?.payload.aud, RESOURCE, 'a token for this resource');

    // 6. The call, with the token.
    const listed = await rpc('tools/list', { token });
    assert.equal(listed.status, 200, `POST /mcp with the token -> ${listed.status}: ${listed.text.slice(0, 300)}`);
    assert.equal(parseJson(listed.text, 'tools/list').result.tools[0].name, 'whoami');
    const called = parseJson((await rpc('tools/call', { token, id: 2, params: { name: 'whoami', arguments: {} } })).text, 'tools/call');
    assert.match(called.result.content[0].text, /^mcp-user-/);
  }));

  test('a token for another resource of the same provider is refused', { timeout: 60000 }, () => withDiagnostics(stack, async () => {
    // The demo client's client-credentials token for another resource, and one for no resource.
    const form = (extra) => new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', ...extra }).toString();
    const basic = `Basic ${Buffer.from('demo:demo-secret').toString('base64')}`;
    const server = await getJson(`${OP}/.well-known/openid-configuration`, 'server metadata');
    for (const extra of [{ resource: 'http://127.0.0.1:8699/mcp' }, {}]) {
      const issued = await rawRequest('POST', server.token_endpoint, {
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: form(extra),
      });
      assert.equal(issued.status, 200, issued.text);
      const { access_token: token } = parseJson(issued.text, 'client credentials');
      const response = await rpc('tools/list', { token });
      assert.equal(response.status, 401, `a token for ${JSON.stringify(extra)} -> ${response.status}`);
      const challenge = parseChallenge(response.headers['www-authenticate']);
      assert.equal(challenge.error, 'invalid_token');
      assert.equal(challenge.resource_metadata, `${MCP}/.well-known/oauth-protected-resource/mcp`);
    }
    // GET /mcp (a server-sent event stream) is not offered.
    const stream = await bearerGet(RESOURCE, 'x');
    assert.equal(stream.status, 405);
  }));
});
