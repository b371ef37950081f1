// End-to-end: two instances of the demo behind a round-robin reverse proxy, sharing one Redis
// and one secret key, in headless Chromium: logins that start on one instance and finish on
// the other, /profile served by both instances, an RP-initiated logout through the provider,
// and the provider's back-channel logout, which reaches one instance only, ending the sessions
// on both, including in the other instance's local cache.
//
//   redis-server 127.0.0.1:<free>  a port the kernel picks; no persistence; shared by both
//                                  variants (key prefixes apart); stopped by its PID in `after`
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
// unchanged plus `x-instance: A|B`, and records which instance served what. A test can steer
// it: `proxy.steer({ 'GET /redirect_uri': 'B' }, fn)` sends those requests to B while `fn` runs,
// so that which instance serves which step of a login or logout is decided, not left to chance.
//
// Both demos keep what they read from Redis for `redis.local_cache_seconds = 60` (the most it
// allows; the default is 2): within the test, an instance that read a session can only stop
// serving it because another instance announced a change on Redis, never because its copy
// aged out. So a 401 within a second of a logout on the other instance proves the announcement.
//
// Run: cargo build --examples && node --test --test-concurrency=1 tests/e2e/

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
  Stack, appCookieHeader, assertPortsFree, inlineToml, launchBrowser, loginInNewContext,
  newRecordedPage, pageJson, parseJson, profileWithCookie, randomSecretKey, sleep, uniqueLogin,
  withDiagnostics,
} from './harness.mjs';

// Long enough that nothing the test reads ages out of an instance's local cache while it runs.
const LOCAL_CACHE_SECONDS = 60;
// How long, at most, the other instance may take to honour a logout (the announcement is
// normally delivered within milliseconds).
const PROMPTLY_MS = 1000;

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

function demoOidc(variant, redisPort) {
  return inlineToml({
    redirect_uri: `${variant.proxy}/redirect_uri`,
    post_logout_redirect_uri: `${variant.proxy}/logged_out`,
    session: { store: variant.store },
    redis: { url: `redis://127.0.0.1:${redisPort}/0`, key_prefix: variant.keyPrefix, local_cache_seconds: LOCAL_CACHE_SECONDS },
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

/** A TCP port on 127.0.0.1 that the kernel picks as free (listened on once, then closed). */
function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

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
 * B: origin }) in turn, except while `proxy.steer(routes, fn)` runs `fn`: then a request whose
 * "METHOD /path" is a key of `routes` goes to the instance named there (and does not take a
 * turn). `proxy.record` lists { method, path, url, instance, steered, status }.
 */
function startRoundRobinProxy(port, targets) {
  const names = Object.keys(targets);
  const record = [];
  let routes = {};
  let next = 0;
  const server = http.createServer((req, res) => {
    const path = new URL(req.url, 'http://proxy').pathname;
    const steered = Object.hasOwn(routes, `${req.method} ${path}`);
    let instance;
    if (steered) {
      instance = routes[`${req.method} ${path}`];
    } else {
      instance = names[next];
      next = (next + 1) % names.length;
    }
    const entry = { method: req.method, path, url: req.url, instance, steered, status: null };
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
    /** Runs `fn` with requests matching `steering` ({ 'METHOD /path': 'A' | 'B' }) sent there. */
    steer: async (steering, fn) => {
      for (const [route, instance] of Object.entries(steering)) {
        if (!names.includes(instance)) throw new Error(`steer: ${route} to unknown instance ${instance}`);
      }
      routes = { ...steering };
      try {
        return await fn();
      } finally {
        routes = {};
      }
    },
    describe: () => record.map((r) => `${r.method} ${r.url} -> ${r.instance}${r.steered ? ' (steered)' : ''} ${r.status}${r.error ? ` (${r.error})` : ''}`).join('\n'),
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

/**
 * The two legs of a login among `proxy.record` from index `from` on: the GET /profile that
 * sent the browser to the provider, and the provider's redirect back to /redirect_uri.
 */
function loginLegs(proxy, from) {
  const trip = proxy.record.slice(from);
  return {
    started: trip.find((r) => r.method === 'GET' && r.path === '/profile'),
    finished: trip.find((r) => r.method === 'GET' && r.path === '/redirect_uri'),
  };
}

/**
 * GET /profile on each of `instances` directly with each of `cookies` ({ name: Cookie header })
 * until every answer has `status` (and `sub` or `error` in its JSON, when given), for at most
 * `withinMs` (0: one round); fails with the answers that did not. Resolves the milliseconds it took.
 */
async function expectProfileOnEachInstance(instances, cookies, { status, sub, error, withinMs = 0, why = '' }) {
  const startedAt = Date.now();
  for (;;) {
    const wrong = [];
    for (const [instance, origin] of Object.entries(instances)) {
      for (const [name, cookie] of Object.entries(cookies)) {
        const r = await profileWithCookie(origin, cookie);
        const ok = r.status === status
          && (sub === undefined || r.body?.sub === sub)
          && (error === undefined || r.body?.error === error);
        if (!ok) wrong.push(`${name}'s cookie on instance ${instance} (${origin}) -> ${r.status}: ${r.text.slice(0, 300)}`);
      }
    }
    const tookMs = Date.now() - startedAt;
    if (wrong.length === 0) return tookMs;
    if (tookMs >= withinMs) {
      assert.fail(`expected ${status}${error ? ` ${error}` : ''} on every instance${withinMs ? ` within ${withinMs} ms` : ''}${why ? ` (${why})` : ''}; after ${tookMs} ms:\n${wrong.join('\n')}`);
    }
    await sleep(50);
  }
}

before(async () => {
  const ports = VARIANTS.flatMap((v) => [v.opPort, v.proxyPort, ...v.instancePorts]);
  await assertPortsFree(ports);
  await withDiagnostics(stack, async () => {
    const redisPort = await freeLoopbackPort();
    const redis = stack.spawn('redis', 'redis-server', [
      '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    ]);
    await Promise.all([
      waitForRedis(redisPort, redis),
      ...VARIANTS.map((v) => stack.startProvider({ port: v.opPort, rpBases: [v.proxy], env: { OP_KEYS: 'ephemeral' } })),
    ]);
    await Promise.all(VARIANTS.flatMap((v) => {
      // Both instances of one app share one secret key (and so read each other's cookies).
      const env = { ROCKET_SECRET_KEY: randomSecretKey() };
      const oidc = demoOidc(v, redisPort);
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
  // Every process of the stack, redis-server included, is stopped by its PID (SIGTERM, then SIGKILL).
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

    test('a browser logs in, starting on A and finishing on B, and its session works on both instances', { timeout: 90000 }, () => withAllDiagnostics(variant, async () => {
      const proxy = variant.proxyHandle;
      const login = uniqueLogin(variant.store === 'redis' ? 'rina' : 'carl');

      // The login crosses instances: A sends the browser to the provider, B takes it back.
      const loginFrom = proxy.record.length;
      const b = await proxy.steer({ 'GET /profile': 'A', 'GET /redirect_uri': 'B' },
        () => loginInNewContext(browser, { appOrigin: PROXY, opOrigin: OP, login }));
      contexts.push(b.context);
      const { started, finished } = loginLegs(proxy, loginFrom);
      assert.equal(started?.instance, 'A', 'the login should start on A');
      assert.equal(started.status, 302, `GET /profile (no session yet) on A -> ${started.status}, not a redirect to the provider`);
      assert.equal(finished?.instance, 'B', 'the provider\'s redirect back should reach B');
      assert.equal(finished.status, 303, `GET /redirect_uri on B (login started on A) -> ${finished.status}`);
      assert.equal(b.page.url(), `${PROXY}/profile`);
      const landed = parseJson(await b.response.text(), `the page after login (${PROXY}/profile)`);
      assert.equal(landed.sub, login, `the page after login: ${JSON.stringify(landed).slice(0, 300)}`);

      // /profile through the proxy, several times: every answer the same user.
      const first = proxy.record.length;
      for (let i = 0; i < 4; i += 1) {
        const { status, json } = await pageJson(b.page, `${PROXY}/profile`);
        assert.equal(status, 200, `GET ${PROXY}/profile #${i + 1} -> ${status}: ${JSON.stringify(json).slice(0, 300)}`);
        assert.equal(json.sub, login, `GET ${PROXY}/profile #${i + 1}: ${JSON.stringify(json).slice(0, 300)}`);
      }
      const servedBy = new Set(proxy.record.slice(first)
        .filter((r) => r.method === 'GET' && r.path === '/profile')
        .map((r) => r.instance));
      assert.deepEqual([...servedBy].sort(), ['A', 'B'], `/profile was served by ${[...servedBy].join(', ') || 'nobody'}`);

      // The session cookie on each instance directly, bypassing the proxy.
      const cookieB = await appCookieHeader(b.context, b.log, PROXY);
      assert.ok(cookieB, 'no app cookie after login');
      await expectProfileOnEachInstance(instances, { B: cookieB }, { status: 200, sub: login });
      const sid = landed.id_token?.sid;
      assert.ok(sid, `the ID token has no sid: ${JSON.stringify(landed.id_token)}`);
      Object.assign(state, { login, b, cookieB, sid });
    }));

    test('a second browser context in the same provider session, starting on B and finishing on A, gets its own session, valid on both instances', { timeout: 90000 }, () => withAllDiagnostics(variant, async () => {
      assert.ok(state.b, 'needs the login of the previous test');
      const proxy = variant.proxyHandle;
      const { login, b, cookieB, sid } = state;
      // C: another cookie jar with B's provider cookies: the provider signs it in without a
      // form, in the same provider session (same sid). This time B sends the browser to the
      // provider and A takes it back.
      const c = await newRecordedPage(browser);
      contexts.push(c.context);
      const opCookies = (await b.context.cookies(OP)).filter((k) => k.name.startsWith(`_op${variant.opPort}_`));
      assert.ok(opCookies.length > 0, 'no provider session cookie in B');
      await c.context.addCookies(opCookies);
      const loginFrom = proxy.record.length;
      await proxy.steer({ 'GET /profile': 'B', 'GET /redirect_uri': 'A' }, () => c.page.goto(`${PROXY}/profile`));
      assert.equal(c.page.url(), `${PROXY}/profile`, `C did not come back logged in (single sign-on), it is on ${c.page.url()}`);
      const { started, finished } = loginLegs(proxy, loginFrom);
      assert.equal(started?.instance, 'B', 'C\'s login should start on B');
      assert.equal(started.status, 302, `GET /profile (no session yet) on B -> ${started.status}, not a redirect to the provider`);
      assert.equal(finished?.instance, 'A', 'the provider\'s redirect back should reach A');
      assert.equal(finished.status, 303, `GET /redirect_uri on A (login started on B) -> ${finished.status}`);

      const { status, json: profileC } = await pageJson(c.page, `${PROXY}/profile`);
      assert.equal(status, 200);
      assert.equal(profileC.sub, login);
      assert.equal(profileC.id_token?.sid, sid, 'C should share B\'s provider session');
      const cookieC = await appCookieHeader(c.context, c.log, PROXY);
      assert.ok(cookieC, 'no app cookie in C');
      assert.notEqual(cookieC, cookieB, 'C has a session of its own');
      await expectProfileOnEachInstance(instances, { C: cookieC }, { status: 200, sub: login });
      state.cookieC = cookieC;
    }));

    test('logout through the provider: A ends B\'s session and receives the back-channel logout for C; instance B, which had both cached, drops them at once', { timeout: 90000 }, () => withAllDiagnostics(variant, async () => {
      assert.ok(state.cookieC, 'needs the sessions of the previous tests');
      const proxy = variant.proxyHandle;
      const { login, b, cookieB, cookieC } = state;
      const first = proxy.record.length;
      const backchannel = () => proxy.record.slice(first)
        .filter((r) => r.method === 'POST' && r.path === '/backchannel_logout');
      const firstRequest = b.log.requests.length;

      // The browser's POST /logout and the provider's back-channel POST both go to A: instance
      // B hears of both logouts only through Redis' announcements.
      await proxy.steer({ 'POST /logout': 'A', 'POST /backchannel_logout': 'A' }, async () => {
        await b.page.goto(`${PROXY}/`);

        // B and C are live on both instances, and each instance now keeps them in its cache.
        await expectProfileOnEachInstance(instances, { B: cookieB, C: cookieC }, { status: 200, sub: login });

        // "Log out" on the start page: A ends B's session and sends the browser to the provider.
        await Promise.all([
          b.page.waitForURL((url) => url.origin === OP, { waitUntil: 'load' }),
          b.page.getByRole('button', { name: 'Log out' }).click(),
        ]);
        const confirm = b.page.locator('button[name=logout][value=yes]');
        await confirm.waitFor();
        await expectProfileOnEachInstance(instances, { B: cookieB }, {
          status: 401, error: 'login_required', withinMs: PROMPTLY_MS, why: 'A ended B\'s session; B had it cached',
        });

        // Right before the provider logs out: C is still live, and cached again on both
        // instances (the announcement of B's logout emptied their caches).
        await expectProfileOnEachInstance(instances, { C: cookieC }, { status: 200, sub: login });

        // Confirm at the provider: it posts the back-channel logout (to A), then sends the
        // browser back to /logged_out.
        await Promise.all([
          b.page.waitForURL((url) => url.origin === PROXY, { waitUntil: 'load' }),
          confirm.click(),
        ]);
        // (The provider sends it before it redirects the browser; a short wait covers a late one.)
        for (let i = 0; i < 20 && backchannel().length === 0; i += 1) await sleep(100);
      });

      const requests = b.log.requests.slice(firstRequest);
      const logoutPost = requests.find((r) => r.url === `${PROXY}/logout`);
      const endSession = requests.find((r) => r.url.startsWith(`${OP}/session/end?`));
      assert.ok(logoutPost, `no POST ${PROXY}/logout; requests: ${requests.map((r) => r.url).join(', ')}`);
      assert.equal(logoutPost.method, 'POST');
      assert.ok(endSession, `no request to ${OP}/session/end; requests: ${requests.map((r) => r.url).join(', ')}`);
      assert.equal(new URL(endSession.url).searchParams.get('post_logout_redirect_uri'), `${PROXY}/logged_out`);
      const ended = new URL(b.page.url());
      assert.equal(ended.origin + ended.pathname, `${PROXY}/logged_out`, `ended on ${ended}`);
      assert.match(await b.page.content(), /You are logged out/);

      const logoutOn = proxy.record.slice(first).filter((r) => r.method === 'POST' && r.path === '/logout');
      assert.deepEqual(logoutOn.map((r) => r.instance), ['A'], 'POST /logout should be served by A, once');

      // The provider's back-channel logout went through the proxy, to A only.
      const posts = backchannel();
      assert.equal(posts.length, 1, `POST /backchannel_logout requests through the proxy: ${posts.length}`);
      const [post] = posts;
      assert.equal(post.instance, 'A');
      // Let the provider's request finish (its answer is recorded when it comes).
      for (let i = 0; i < 50 && post.status === null; i += 1) await sleep(100);
      assert.ok(post.status >= 200 && post.status < 300, `POST /backchannel_logout on A -> ${post.status}`);

      // On both instances directly, within a second: B's and C's sessions are gone, on
      // instance B too, where C was cached a moment ago (to be kept for a minute).
      await expectProfileOnEachInstance(instances, { B: cookieB, C: cookieC }, {
        status: 401,
        error: 'login_required',
        withinMs: PROMPTLY_MS,
        why: 'the back-channel logout reached A; B had C cached',
      });
    }));
  });
}
