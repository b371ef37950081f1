// Helpers for the end-to-end tests: start and stop the development provider and the example
// binaries, wait for their ports, launch headless Chromium, drive the provider's login form.
//
// Every wait is bounded; every process started here is killed in stopAll() (and, as a last
// resort, when the Node process exits). Output of each child is kept so that a failing test
// can print it.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Where the example binaries are; E2E_EXAMPLES_DIR=target/release/examples tests a release build.
export const EXAMPLES_DIR = path.resolve(REPO_ROOT, process.env.E2E_EXAMPLES_DIR || 'target/debug/examples');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  // Nothing but loopback resolves: no test may depend on another host.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

const OUTPUT_LIMIT = 64 * 1024;
const live = new Set();

process.on('exit', () => {
  for (const proc of live) {
    try {
      proc.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** A random Rocket secret key: base64 of 32 random bytes (44 characters). */
export function randomSecretKey() {
  return randomBytes(32).toString('base64');
}

/** Resolves true when something accepts TCP connections on 127.0.0.1:port. */
/** A login name no earlier run used: `prefix-<8 hex digits>`. */
export const uniqueLogin = (prefix) => `${prefix}-${randomBytes(4).toString('hex')}`;

export function portInUse(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

export async function assertPortsFree(ports) {
  const busy = [];
  for (const port of ports) {
    if (await portInUse(port)) busy.push(port);
  }
  if (busy.length > 0) {
    throw new Error(`ports already in use on 127.0.0.1: ${busy.join(', ')} (a process left over from an earlier run?)`);
  }
}

/** A started child process with its captured output. */
export class Proc {
  constructor(name, command, args, options) {
    this.name = name;
    this.command = [command, ...args].join(' ');
    this.output = '';
    this.exit = null;
    this.child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    const append = (chunk) => {
      this.output += chunk.toString('utf8');
      if (this.output.length > OUTPUT_LIMIT) this.output = this.output.slice(-OUTPUT_LIMIT);
    };
    this.child.stdout.on('data', append);
    this.child.stderr.on('data', append);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
      this.child.once('error', (err) => {
        append(`spawn error: ${err.message}\n`);
        this.exit = { code: null, signal: null, error: err };
        live.delete(this);
        resolve(this.exit);
      });
    });
  }

  describe() {
    const status = this.exit
      ? `exited (code ${this.exit.code}, signal ${this.exit.signal})`
      : `running (pid ${this.child.pid})`;
    return `---- ${this.name}: ${this.command} -- ${status}; output:\n${this.output || '(no output)'}\n---- end of ${this.name}`;
  }

  async stop(timeoutMs = 5000) {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs, 'timeout'); });
    const outcome = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return this.exit;
  }
}

/**
 * Polls `url` until `accept(response)` holds, the process exits, or the timeout passes.
 * Errors carry the process's output.
 */
export async function waitForHttp(url, { proc, timeoutMs = 15000, accept = () => true } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (proc?.exit) {
      throw new Error(`${proc.name} exited before ${url} answered\n${proc.describe()}`);
    }
    try {
      const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (accept(response)) return response;
      last = `HTTP ${response.status}`;
    } catch (err) {
      last = err.cause?.code || err.message;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (last: ${last})${proc ? `\n${proc.describe()}` : ''}`);
}

/**
 * A GET with exactly the given headers (Node's fetch adds Sec-Fetch-Mode: cors to everything),
 * not following redirects. Resolves { status, headers, text }.
 */
export function rawGet(url, headers = {}, timeoutMs = 10000) {
  return rawRequest('GET', url, { headers, timeoutMs });
}

/** Keeps track of what a test file started, so that `after` can stop all of it. */
export class Stack {
  constructor() {
    this.procs = [];
  }

  spawn(name, command, args, { env = {}, cwd = REPO_ROOT } = {}) {
    const proc = new Proc(name, command, args, { cwd, env: { ...process.env, ...env } });
    this.procs.push(proc);
    return proc;
  }

  /** Starts `node dev/provider.mjs` on `port` and waits for its discovery document. */
  async startProvider({ port, rpBases, env = {}, timeoutMs = 15000 }) {
    const proc = this.spawn(`provider:${port}`, process.execPath, [path.join(REPO_ROOT, 'dev', 'provider.mjs')], {
      env: { OP_PORT: String(port), RP_BASES: rpBases.join(','), ...env },
    });
    await waitForHttp(`http://127.0.0.1:${port}/.well-known/openid-configuration`, {
      proc, timeoutMs, accept: (r) => r.status === 200,
    });
    return proc;
  }

  /** Starts an example binary (EXAMPLES_DIR/NAME) as a Rocket app on `port`. */
  async startExample({ example, port, oidc, env = {}, timeoutMs = 30000 }) {
    const binary = path.join(EXAMPLES_DIR, example);
    if (!fs.existsSync(binary)) {
      throw new Error(`${binary} is missing: run \`cargo build --examples\` first`);
    }
    const proc = this.spawn(`${example}:${port}`, binary, [], {
      env: {
        ROCKET_CONFIG: '/nonexistent',
        ROCKET_ADDRESS: '127.0.0.1',
        ROCKET_PORT: String(port),
        ROCKET_SECRET_KEY: randomSecretKey(),
        ROCKET_CLI_COLORS: 'false',
        ROCKET_OIDC: oidc,
        ...env,
      },
    });
    await waitForHttp(`http://127.0.0.1:${port}/`, { proc, timeoutMs });
    return proc;
  }

  describe() {
    return this.procs.map((p) => p.describe()).join('\n');
  }

  async stopAll() {
    await Promise.all(this.procs.map((p) => p.stop()));
  }
}

/**
 * Runs `fn`; when it throws, the output of every process of `stack` is appended to the error,
 * so that a failing test shows what the provider and the app said.
 */
export async function withDiagnostics(stack, fn) {
  try {
    return await fn();
  } catch (err) {
    const logs = stack.describe();
    if (err && typeof err === 'object') {
      try {
        err.message = `${err.message}\n\n${logs}`;
      } catch {
        console.error(logs);
      }
    } else {
      console.error(logs);
    }
    throw err;
  }
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run scripts/install-deps.sh`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
}

/**
 * A fresh browser context (own cookie jar) with a page that records every request and
 * response of the main frame's navigations and every Set-Cookie header.
 */
export async function newRecordedPage(browser) {
  const context = await browser.newContext();
  context.setDefaultTimeout(15000);
  context.setDefaultNavigationTimeout(15000);
  const page = await context.newPage();
  const log = { requests: [], responses: [], setCookies: [], offHost: [] };
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.hostname !== '127.0.0.1') log.offHost.push(request.url());
    log.requests.push({ url: request.url(), method: request.method(), navigation: request.isNavigationRequest() });
  });
  page.on('response', async (response) => {
    const entry = { url: response.url(), status: response.status(), headers: response.headers() };
    log.responses.push(entry);
    try {
      for (const { name, value } of await response.headersArray()) {
        if (name.toLowerCase() === 'set-cookie') {
          for (const line of value.split('\n')) log.setCookies.push({ url: response.url(), header: line });
        }
      }
    } catch {
      // the response may be gone when the page navigates on
    }
  });
  return { context, page, log };
}

/** The origin (scheme://host:port) of a URL string. */
export function originOf(url) {
  return new URL(url).origin;
}

/**
 * On the provider's login page: types `login`/`password`, submits, and accepts the consent
 * page if one is shown. Returns the main-frame response the browser ends on (outside the
 * provider's interaction pages).
 */
export async function loginAtProvider(page, { login, password = 'any-password', opOrigin }) {
  await page.waitForSelector('input[name=login]');
  if (originOf(page.url()) !== opOrigin) {
    throw new Error(`expected the login form of ${opOrigin}, the browser is on ${page.url()}`);
  }
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', password);
  let [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('button[type=submit]'),
  ]);
  const consent = page.locator('button[type=submit]', { hasText: 'Continue' });
  if (originOf(page.url()) === opOrigin && (await consent.count()) > 0) {
    [response] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      consent.first().click(),
    ]);
  }
  return response;
}

// ---------------------------------------------------------------------------
// Helpers shared by api.test.mjs and lifecycle.test.mjs.

export { sleep };

/** Seconds since the epoch. */
export const unixNow = () => Date.now() / 1000;

/** Waits until the wall clock is past `unixSeconds` (+ `marginMs`). */
export async function sleepUntil(unixSeconds, marginMs = 0) {
  const ms = unixSeconds * 1000 + marginMs - Date.now();
  if (ms > 0) await sleep(ms);
}

/**
 * A JavaScript object as a TOML inline table, the form `ROCKET_OIDC` takes:
 * `{ a: 'x', b: [1], c: { d: true } }` -> `{a="x",b=[1],c={d=true}}`.
 */
export function inlineToml(value) {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(inlineToml).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k)}=${inlineToml(v)}`)
      .join(',')}}`;
  }
  throw new Error(`inlineToml: cannot write ${value}`);
}

/** A request with exactly the given method, headers and body; resolves { status, headers, text }. */
export function rawRequest(method, url, { headers = {}, body, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, timeout: timeoutMs }, (response) => {
      const chunks = [];
      response.on('data', (c) => chunks.push(c));
      response.on('end', () => resolve({
        status: response.statusCode,
        headers: response.headers,
        text: Buffer.concat(chunks).toString('utf8'),
      }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    if (body !== undefined) request.write(body);
    request.end();
  });
}

/** GET `url` with `Authorization: Bearer <token>` (and `headers`). */
export function bearerGet(url, token, headers = {}) {
  return rawGet(url, { accept: 'application/json', authorization: `Bearer ${token}`, ...headers });
}

/** JSON.parse with the text in the error message. */
export function parseJson(text, what = 'response') {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} is not JSON: ${text.slice(0, 500)}`);
  }
}

/** A form POST to the provider with HTTP Basic client authentication (RFC 6749 §2.3.1). */
export function postWithClientAuth(url, form, { clientId = 'demo', clientSecret = 'demo-secret' } = {}) {
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
  return rawRequest('POST', url, {
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(form).toString(),
  });
}

/** RFC 7662 introspection at the development provider; resolves the response JSON. */
export async function introspect(opOrigin, token, client) {
  const response = await postWithClientAuth(`${opOrigin}/token/introspection`, { token }, client);
  if (response.status !== 200) throw new Error(`introspection answered ${response.status}: ${response.text}`);
  return parseJson(response.text, 'introspection response');
}

/** RFC 7009 revocation at the development provider. */
export async function revoke(opOrigin, token, client, tokenTypeHint = 'access_token') {
  const response = await postWithClientAuth(`${opOrigin}/token/revocation`, { token, token_type_hint: tokenTypeHint }, client);
  if (response.status !== 200) throw new Error(`revocation answered ${response.status}: ${response.text}`);
}

/**
 * Request counts of a provider started with OP_STATS=1, by "METHOD /path":
 * `(await opStats(op))['POST /token/introspection']`.
 */
export async function opStats(opOrigin) {
  const response = await rawGet(`${opOrigin}/__stats`, { accept: 'application/json' });
  if (response.status !== 200) throw new Error(`${opOrigin}/__stats answered ${response.status} (started without OP_STATS=1?)`);
  const { requests } = parseJson(response.text, '/__stats');
  return new Proxy(requests, { get: (target, key) => target[key] || 0 });
}

/** Header and payload of a compact JWS, or null when `token` is not one. */
export function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const [header, payload] = parts.slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
    return { header, payload };
  } catch {
    return null;
  }
}

/** The `WWW-Authenticate` attributes of a Bearer challenge: { scheme, realm, error, scope, ... }. */
export function parseChallenge(header) {
  if (!header) return null;
  const [, scheme, rest = ''] = /^(\S+)\s*(.*)$/.exec(header) || [];
  const attributes = { scheme };
  for (const [, name, quoted, bare] of rest.matchAll(/([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    attributes[name] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare;
  }
  return attributes;
}

/** Names of the cookies that responses from `origin` set, from a newRecordedPage log. */
export function cookieNamesFrom(log, origin) {
  return new Set(log.setCookies
    .filter((c) => originOf(c.url) === origin)
    .map((c) => c.header.split('=')[0].trim()));
}

/**
 * The app's cookies of `context` as a Cookie header value. Cookies on 127.0.0.1 are shared
 * across ports, so only names that responses from `appOrigin` set (per `log`) are taken.
 */
export async function appCookieHeader(context, log, appOrigin) {
  const names = cookieNamesFrom(log, appOrigin);
  const cookies = (await context.cookies(appOrigin)).filter((c) => names.has(c.name));
  return cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}

/** Headers of a top-level browser navigation (for rawGet). */
export const NAVIGATION_HEADERS = {
  accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
};

/**
 * A new browser context that logs in: opens `appOrigin + path`, expects the provider's login
 * form, logs in as `login` and expects to end on `appOrigin + path`. Resolves
 * { context, page, log, response } (the caller closes the context).
 */
export async function loginInNewContext(browser, { appOrigin, opOrigin, login, path: appPath = '/profile' }) {
  const { context, page, log } = await newRecordedPage(browser);
  try {
    const target = new URL(appPath, appOrigin).href;
    await page.goto(target);
    if (originOf(page.url()) !== opOrigin) {
      throw new Error(`${target} did not send the browser to ${opOrigin} but to ${page.url()}`);
    }
    const response = await loginAtProvider(page, { login, opOrigin });
    if (page.url() !== target) {
      const content = await page.content().catch(() => '');
      throw new Error(`login as ${login} ended on ${page.url()} (HTTP ${response?.status()}), not ${target}: ${content.replace(/\s+/g, ' ').slice(0, 500)}`);
    }
    return { context, page, log, response };
  } catch (err) {
    await context.close().catch(() => {});
    throw err;
  }
}

/** GET `url` in `page` (a navigation); resolves { status, json } with the parsed JSON body. */
export async function pageJson(page, url) {
  const response = await page.goto(url);
  const text = await response.text();
  if (!/application\/json/.test(response.headers()['content-type'] || '')) {
    throw new Error(`${url} -> HTTP ${response.status()} ${response.headers()['content-type']} (landed on ${page.url()}): ${text.slice(0, 300)}`);
  }
  return { status: response.status(), json: JSON.parse(text), url: page.url() };
}

/** /profile through the session cookie only, as an API request: { status, body }. */
export async function profileWithCookie(app, cookie) {
  const response = await rawGet(`${app}/profile`, { accept: 'application/json', cookie });
  let body = null;
  try {
    body = JSON.parse(response.text);
  } catch {
    // not JSON; the status tells
  }
  return { status: response.status, body, text: response.text, headers: response.headers };
}

/**
 * On the app's start page, clicks "Log out", confirms at the provider and returns where the
 * browser ended, with the requests it sent (the logout POST and the end-session request among them).
 */
export async function logOutThroughStartPage(page, log, { app, op }) {
  await page.goto(`${app}/`);
  const firstRequest = log.requests.length;
  await Promise.all([
    page.waitForURL((url) => url.origin === op, { waitUntil: 'load' }),
    page.getByRole('button', { name: 'Log out' }).click(),
  ]);
  const confirm = page.locator('button[name=logout][value=yes]');
  await confirm.waitFor();
  await Promise.all([
    page.waitForURL((url) => url.origin === app, { waitUntil: 'load' }),
    confirm.click(),
  ]);
  const requests = log.requests.slice(firstRequest);
  const logoutPost = requests.find((r) => r.url === `${app}/logout`);
  const endSession = requests.find((r) => r.url.startsWith(`${op}/session/end?`));
  return { url: new URL(page.url()), logoutPost, endSession, requests };
}
