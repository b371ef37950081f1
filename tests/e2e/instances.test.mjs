// End-to-end: two instances of the demo behind a round-robin reverse proxy, sharing one Redis
// and one secret key, in headless Chromium: a login through the proxy, /profile served by
// both instances, an RP-initiated logout through the provider, and the provider's back-channel
// logout, which reaches one instance only, ending the sessions on both.
//
//   redis-server 127.0.0.1:6408   no persistence; shared by both variants (key prefixes apart)
//
//   variant "redis store" (session.store = "redis", key_prefix "e2e-redis:")
//     provider 127.0.0.1:9108     RP_BASES = the proxy (back-channel URI: proxy/backchannel_logout)
//     proxy    127.0.0.1:8108     round robin: A = demo 127.0.0.1:8118, B = demo 127.0.0.1:8128
//
//   variant "cookie store + Redis" (session.store = "cookie", key_prefix "e2e-cookie:")
//     provider 127.0.0.1:9109
//     proxy    127.0.0.1:8109     A = demo 127.0.0.1:8119, B = demo 127.0.0.1:8129
//
// The proxy (in this file) forwards every request unchanged (method, path and query, headers
// including Host and Cookie, body) to A and B in strict alternation, returns the answer
// unchanged plus `x-instance: A|B`, and records which instance served what.
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
  Stack, appCookieHeader, assertPortsFree, inlineToml, launchBrowser, logOutThroughStartPage, loginInNewContext,
  newRecordedPage, pageJson, parseJson, profileWithCookie, randomSecretKey, sleep, uniqueLogin,
  withDiagnostics,
} from './harness.mjs';

const REDIS_PORT = 6408;

const VARIANTS = [
  {
    name: 'redis store', store: 'redis', keyPrefix: 'e2e-redis:', opPort: 9108, proxyPort: 8108, instancePorts: [8118, 8128],
  },
  {
    name: 'cookie store + Redis', store: 'cookie', keyPrefix: 'e2e-cookie:', opPort: 9109, proxyPort: 8109, instancePorts: [8119, 8129],
  },
].map((v) => ({
  ...v,
  op: `http://127.0.0.1:${v.opPort}`,
  proxy: `http://127.0.0.1:${v.proxyPort}`,
  instances: { A: `http://127.0.0.1:${v.instancePorts[0]}`, B: `http://127.0.0.1:${v.instancePorts[1]}` },
}));

function demoOidc(variant) {
  return inlineToml({
    redirect_uri: `${variant.proxy}/redirect_uri`,
    post_logout_redirect_uri: `${variant.proxy}/logged_out`,
    session: { store: variant.store },
    redis: { url: `redis://127.0.0.1:${REDIS_PORT}/0`, key_prefix: variant.keyPrefix },
    providers: {
      default: {
        issuer: variant.op, client_id: 'demo', client_secret: 'demo-secret', scopes: ['openid', 'profile', 'email'],
      },
    },
  });
}

const stack = new Stack();
const proxies = [];
let browser;

/** Resolves when redis-server on `port` answers PING with +PONG (bounded; carries its output). */
async function waitForRedis(port, proc, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (proc.exit) throw new Error(`redis-server exited before it answered on ${port}\n${proc.describe()}`);
    try {
      const answer = await new Promise((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        let data = '';
        socket.setTimeout(1000);
        socket.once('connect', () => socket.write('PING\r\n'));
        socket.on('data', (chunk) => {
          data += chunk.toString('utf8');
          if (data.includes('\r\n')) { socket.destroy(); resolve(data.trim()); }
        });
        socket.once('timeout', () => { socket.destroy(); reject(new Error('timeout')); });
        socket.once('error', reject);
        socket.once('close', () => resolve(data.trim()));
      });
      if (answer === '+PONG') return;
      last = `answered ${JSON.stringify(answer)}`;
    } catch (err) {
      last = err.code || err.message;
    }
    await sleep(100);
  }
  throw new Error(`redis-server on ${port} did not answer PING within ${timeoutMs} ms (last: ${last})\n${proc.describe()}`);
}

/**
 * A reverse proxy on `port` that sends each request to the next of `targets` ({ A: origin,
 * B: origin }) in turn. `proxy.record` lists { method, path, url, instance, status }.
 */
function startRoundRobinProxy(port, targets) {
  const names = Object.keys(targets);
  const record = [];
  let next = 0;
  const server = http.createServer((req, res) => {
    const instance = names[next];
    next = (next + 1) % names.length;
    const entry = { method: req.method, path: new URL(req.url, 'http://proxy').pathname, url: req.url, instance, status: null };
    record.push(entry);
    const target = new URL(targets[instance]);
    const upstream = http.request({
      host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false,
    }, (proxyRes) => {
      entry.status = proxyRes.statusCode;
      res.writeHead(proxyRes.statusCode, proxyRes.statusMessage, [...proxyRes.rawHeaders, 'x-instance', instance]);
      proxyRes.pipe(res);
      proxyRes.on('error', () => res.destroy());
    });
    upstream.setTimeout(15000, () => upstream.destroy(new Error('no answer within 15 s')));
    upstream.on('error', (err) => {
      entry.status = 502;
      entry.error = err.message;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain', 'x-instance': instance });
        res.end(`proxy: ${instance} (${targets[instance]}) failed: ${err.message}`);
      } else {
        res.destroy();
      }
    });
    req.pipe(upstream);
  });
  const proxy = {
    port,
    record,
    server,
    describe: () => record.map((r) => `${r.method} ${r.url} -> ${r.instance} ${r.status}${r.error ? ` (${r.error})` : ''}`).join('\n'),
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
  proxies.push(proxy);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(proxy));
  });
}

/** withDiagnostics, plus what the proxy of `variant` forwarded. */
function withAllDiagnostics(variant, fn) {
  return withDiagnostics(stack, async () => {
    try {
      return await fn();
    } catch (err) {
      if (err && typeof err === 'object' && variant.proxyHandle) {
        try {
          err.message = `${err.message}\n\n---- proxy ${variant.proxy} record:\n${variant.proxyHandle.describe()}\n---- end of proxy record`;
        } catch {
          // keep the original message
        }
      }
      throw err;
    }
  });
}

before(async () => {
  const ports = [REDIS_PORT, ...VARIANTS.flatMap((v) => [v.opPort, v.proxyPort, ...v.instancePorts])];
  await assertPortsFree(ports);
  await withDiagnostics(stack, async () => {
    const redis = stack.spawn('redis', 'redis-server', [
      '--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    ]);
    await Promise.all([
      waitForRedis(REDIS_PORT, redis),
      ...VARIANTS.map((v) => stack.startProvider({ port: v.opPort, rpBases: [v.proxy], env: { OP_KEYS: 'ephemeral' } })),
    ]);
    await Promise.all(VARIANTS.flatMap((v) => {
      // Both instances of one app share one secret key (and so read each other's cookies).
      const env = { ROCKET_SECRET_KEY: randomSecretKey() };
      const oidc = demoOidc(v);
      return v.instancePorts.map((port) => stack.startExample({ example: 'demo', port, oidc, env }));
    }));
    for (const v of VARIANTS) {
      v.proxyHandle = await startRoundRobinProxy(v.proxyPort, v.instances);
    }
    browser = await launchBrowser();
  });
}, { timeout: 90000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await Promise.all(proxies.map((p) => p.close()));
  await stack.stopAll();
});

for (const variant of VARIANTS) {
  const { proxy: PROXY, op: OP, instances } = variant;

  describe(`two instances behind a round-robin proxy, one Redis (${variant.name})`, () => {
    // Shared by the tests of this describe, in order.
    const state = {};
    const contexts = [];

    after(async () => {
      await Promise.all(contexts.map((ctx) => ctx.close().catch(() => {})));
    });

    test('a browser logs in through the proxy and its session works on both instances', { timeout: 90000 }, (t) => withAllDiagnostics(variant, async () => {
      const login = uniqueLogin(variant.store === 'redis' ? 'rina' : 'carl');
      const loginFrom = variant.proxyHandle.record.length;
      const b = await loginInNewContext(browser, { appOrigin: PROXY, opOrigin: OP, login });
      contexts.push(b.context);
      const loginTrip = variant.proxyHandle.record.slice(loginFrom);
      const started = loginTrip.find((r) => r.path === '/profile' && r.status === 302);
      const finished = loginTrip.find((r) => r.path === '/redirect_uri');
      t.diagnostic(`${variant.name}: login started on ${started?.instance}, callback on ${finished?.instance} (${finished?.status})`);
      assert.equal(b.page.url(), `${PROXY}/profile`);
      const landed = parseJson(await b.response.text(), `the page after login (${PROXY}/profile)`);
      assert.equal(landed.sub, login, `the page after login: ${JSON.stringify(landed).slice(0, 300)}`);

      // /profile through the proxy, several times: every answer the same user.
      const first = variant.proxyHandle.record.length;
      for (let i = 0; i < 4; i += 1) {
        const { status, json } = await pageJson(b.page, `${PROXY}/profile`);
        assert.equal(status, 200, `GET ${PROXY}/profile #${i + 1} -> ${status}: ${JSON.stringify(json).slice(0, 300)}`);
        assert.equal(json.sub, login, `GET ${PROXY}/profile #${i + 1}: ${JSON.stringify(json).slice(0, 300)}`);
      }
      const servedBy = new Set(variant.proxyHandle.record.slice(first)
        .filter((r) => r.method === 'GET' && r.path === '/profile')
        .map((r) => r.instance));
      assert.deepEqual([...servedBy].sort(), ['A', 'B'], `/profile was served by ${[...servedBy].join(', ') || 'nobody'}`);

      // The session cookie on each instance directly, bypassing the proxy.
      const cookieB = await appCookieHeader(b.context, b.log, PROXY);
      assert.ok(cookieB, 'no app cookie after login');
      for (const [name, origin] of Object.entries(instances)) {
        const r = await profileWithCookie(origin, cookieB);
        assert.equal(r.status, 200, `B's cookie on instance ${name} (${origin}) -> ${r.status}: ${r.text.slice(0, 300)}`);
        assert.equal(r.body?.sub, login);
      }
      const sid = landed.id_token?.sid;
      assert.ok(sid, `the ID token has no sid: ${JSON.stringify(landed.id_token)}`);
      Object.assign(state, { login, b, cookieB, sid });
    }));

    test('a second browser context in the same provider session gets its own session, valid on both instances', { timeout: 90000 }, () => withAllDiagnostics(variant, async () => {
      assert.ok(state.b, 'needs the login of the previous test');
      const { login, b, cookieB, sid } = state;
      // C: another cookie jar with B's provider cookies: the provider signs it in without a
      // form, in the same provider session (same sid).
      const c = await newRecordedPage(browser);
      contexts.push(c.context);
      const opCookies = (await b.context.cookies(OP)).filter((k) => k.name.startsWith(`_op${variant.opPort}_`));
      assert.ok(opCookies.length > 0, 'no provider session cookie in B');
      await c.context.addCookies(opCookies);
      await c.page.goto(`${PROXY}/profile`);
      assert.equal(c.page.url(), `${PROXY}/profile`, `C did not come back logged in (single sign-on), it is on ${c.page.url()}`);
      const { status, json: profileC } = await pageJson(c.page, `${PROXY}/profile`);
      assert.equal(status, 200);
      assert.equal(profileC.sub, login);
      assert.equal(profileC.id_token?.sid, sid, 'C should share B\'s provider session');
      const cookieC = await appCookieHeader(c.context, c.log, PROXY);
      assert.ok(cookieC, 'no app cookie in C');
      assert.notEqual(cookieC, cookieB, 'C has a session of its own');
      for (const [name, origin] of Object.entries(instances)) {
        const r = await profileWithCookie(origin, cookieC);
        assert.equal(r.status, 200, `C's cookie on instance ${name} (${origin}) -> ${r.status}: ${r.text.slice(0, 300)}`);
        assert.equal(r.body?.sub, login);
      }
      state.cookieC = cookieC;
    }));

    test('logout through the provider; its back-channel logout reaches one instance and the sessions are gone on both', { timeout: 90000 }, (t) => withAllDiagnostics(variant, async () => {
      assert.ok(state.cookieC, 'needs the sessions of the previous tests');
      const { b, cookieB, cookieC } = state;
      const first = variant.proxyHandle.record.length;

      const out = await logOutThroughStartPage(b.page, b.log, { app: PROXY, op: OP });
      assert.ok(out.logoutPost, `no POST ${PROXY}/logout; requests: ${out.requests.map((r) => r.url).join(', ')}`);
      assert.equal(out.logoutPost.method, 'POST');
      assert.ok(out.endSession, `no request to ${OP}/session/end; requests: ${out.requests.map((r) => r.url).join(', ')}`);
      assert.equal(new URL(out.endSession.url).searchParams.get('post_logout_redirect_uri'), `${PROXY}/logged_out`);
      assert.equal(out.url.origin + out.url.pathname, `${PROXY}/logged_out`, `ended on ${out.url}`);
      assert.match(await b.page.content(), /You are logged out/);

      // The provider's back-channel logout went through the proxy, to one instance. (The
      // provider sends it before it redirects the browser; a short wait covers a late one.)
      const backchannel = () => variant.proxyHandle.record.slice(first)
        .filter((r) => r.method === 'POST' && r.path === '/backchannel_logout');
      for (let i = 0; i < 20 && backchannel().length === 0; i += 1) await sleep(100);
      const posts = backchannel();
      assert.equal(posts.length, 1, `POST /backchannel_logout requests through the proxy: ${posts.length}`);
      const [post] = posts;
      assert.ok(['A', 'B'].includes(post.instance));
      // Let the provider's request finish (its answer is recorded when it comes).
      for (let i = 0; i < 50 && post.status === null; i += 1) await sleep(100);
      assert.ok(post.status >= 200 && post.status < 300, `POST /backchannel_logout on ${post.instance} -> ${post.status}`);
      const logoutOn = variant.proxyHandle.record.slice(first).find((r) => r.method === 'POST' && r.path === '/logout');
      t.diagnostic(`${variant.name}: POST /logout served by ${logoutOn?.instance}, POST /backchannel_logout by ${post.instance}`);

      // On both instances directly: B's copied cookie and C's session are gone.
      for (const [name, origin] of Object.entries(instances)) {
        const rb = await profileWithCookie(origin, cookieB);
        assert.equal(rb.status, 401, `B's cookie (copied before logout) on instance ${name} (${origin}) -> ${rb.status}: ${rb.text.slice(0, 300)}`);
        assert.equal(rb.body?.error, 'login_required', `B's cookie on instance ${name}: ${rb.text.slice(0, 300)}`);
        const rc = await profileWithCookie(origin, cookieC);
        assert.equal(rc.status, 401, `C (same provider session; the back-channel logout reached instance ${post.instance}) on instance ${name} (${origin}) -> ${rc.status}: ${rc.text.slice(0, 300)}`);
        assert.equal(rc.body?.error, 'login_required', `C's cookie on instance ${name}: ${rc.text.slice(0, 300)}`);
      }
    }));
  });
}
