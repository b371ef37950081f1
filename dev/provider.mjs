#!/usr/bin/env node
// Development OpenID Provider for rocket_openidconnect, built on oidc-provider 8.8.1.
//
// Start:  node dev/provider.mjs          (issuer http://127.0.0.1:9000)
//
// Environment (all optional):
//   OP_PORT               port on 127.0.0.1 (default 9000); the issuer is http://127.0.0.1:$OP_PORT
//   RP_BASES              comma-separated relying-party base URLs (default http://127.0.0.1:8000);
//                         each gets redirect URI ${base}/redirect_uri and post-logout redirect
//                         URIs ${base}/ and ${base}/logged_out
//   OP_CLIENTS            comma-separated static clients to register: demo, demo2 (default both);
//                         "none" registers none (dynamic registration stays open)
//   OP_ACCESS_TOKEN_TTL   access token lifetime in seconds (default 3600)
//   OP_CLOCK_TOLERANCE    clock tolerance in seconds (default 0)
//   OP_KEYS               "file" (default): keep the signing key in .dev/jwks-<port>.json;
//                         "ephemeral": generate a new key at every start
//   OP_LOG                1: log every request to stderr
//   OP_STATS              1: count requests by method and path; GET /__stats answers
//                         {"requests":{"POST /token/introspection":3,...}} (for tests and benchmarks)
//   OP_BACKCHANNEL_SID    1 (default): the static clients register backchannel_logout_session_required,
//                         so logout tokens carry `sid` (one provider session ends); 0: logout tokens
//                         carry only `sub` (every session of the user ends)
//   OP_PAR                pushed authorization requests (RFC 9126): "off" (default: not advertised),
//                         "on" (advertised), "required" (require_pushed_authorization_requests)
//   OP_PKJWT_JWKS         a public JWKS (JSON): registers the client `demo-pkjwt`, which authenticates
//                         with private_key_jwt (RFC 7523) signed by one of those keys
//   OP_DPOP               1: DPoP (RFC 9449) at the token endpoint: a token request with a DPoP proof
//                         gets a DPoP-bound access token (`cnf.jkt`)
//
// A login name that starts with "mfa-" logs in with `acr` urn:example:mfa, any other with
// urn:example:password (for step-up tests). A login name that starts with "admin" has the role
// `admin` (claim `roles`, released with the `profile` scope and put in the user's access
// tokens); client-credentials tokens of the client `demo` carry `roles: ["admin"]`, those of
// other clients no roles (for the demo's /admin and /api/admin).
//
// Everything here is for development and tests only: any login/password is accepted.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider, { errors } from 'oidc-provider';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const PORT = envInt('OP_PORT', 9000);
const HOST = '127.0.0.1';
const ISSUER = `http://${HOST}:${PORT}`;
const ACCESS_TOKEN_TTL = envInt('OP_ACCESS_TOKEN_TTL', 3600);
const CLOCK_TOLERANCE = envInt('OP_CLOCK_TOLERANCE', 0);
const LOG_REQUESTS = process.env.OP_LOG === '1';
const COUNT_REQUESTS = process.env.OP_STATS === '1';
const BACKCHANNEL_SID = envInt('OP_BACKCHANNEL_SID', 1) !== 0;
const PAR = process.env.OP_PAR || 'off';
if (!['off', 'on', 'required'].includes(PAR)) {
  console.error(`OP_PAR must be off, on or required, got ${JSON.stringify(PAR)}`);
  process.exit(2);
}
const DPOP = process.env.OP_DPOP === '1';
let PKJWT_JWKS = null;
if (process.env.OP_PKJWT_JWKS) {
  try {
    PKJWT_JWKS = JSON.parse(process.env.OP_PKJWT_JWKS);
  } catch (err) {
    console.error(`OP_PKJWT_JWKS is not JSON: ${err.message}`);
    process.exit(2);
  }
}

const RP_BASES = (process.env.RP_BASES || 'http://127.0.0.1:8000')
  .split(',')
  .map((s) => s.trim().replace(/\/+$/, ''))
  .filter(Boolean);
for (const base of RP_BASES) {
  try {
    // eslint-disable-next-line no-new
    new URL(base);
  } catch {
    console.error(`RP_BASES: not a URL: ${JSON.stringify(base)}`);
    process.exit(2);
  }
}

const KNOWN_CLIENTS = {
  demo: { secret: 'demo-secret', auth: 'client_secret_basic' },
  demo2: { secret: 'demo2-secret', auth: 'client_secret_post' },
};
if (PKJWT_JWKS) KNOWN_CLIENTS['demo-pkjwt'] = { auth: 'private_key_jwt', jwks: PKJWT_JWKS };
const CLIENT_NAMES = (process.env.OP_CLIENTS || `demo,demo2${PKJWT_JWKS ? ',demo-pkjwt' : ''}`)
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s && s !== 'none');
for (const name of CLIENT_NAMES) {
  if (!KNOWN_CLIENTS[name]) {
    console.error(`OP_CLIENTS: unknown client ${JSON.stringify(name)} (known: ${Object.keys(KNOWN_CLIENTS).join(', ')}, none)`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------
// Signing keys: one RSA key, stable across restarts unless OP_KEYS=ephemeral.
function generateJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `dev-${PORT}-${randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' }] };
}

function loadJwks() {
  if (process.env.OP_KEYS === 'ephemeral') return generateJwks();
  const dir = path.join(REPO_ROOT, '.dev');
  const file = path.join(dir, `jwks-${PORT}.json`);
  try {
    const jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (Array.isArray(jwks.keys) && jwks.keys.length > 0 && jwks.keys[0].d) return jwks;
    console.error(`${file}: no private key inside, generating a new one`);
  } catch (err) {
    if (err.code !== 'ENOENT') console.error(`${file}: ${err.message}; generating a new key`);
  }
  const jwks = generateJwks();
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return jwks;
}

// ---------------------------------------------------------------------------
// Clients
function clientMetadata(name) {
  const { secret, auth, jwks } = KNOWN_CLIENTS[name];
  const metadata = {
    client_id: name,
    ...(secret ? { client_secret: secret } : { jwks }),
    client_name: `rocket_openidconnect ${name}`,
    token_endpoint_auth_method: auth,
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: RP_BASES.map((b) => `${b}/redirect_uri`),
    post_logout_redirect_uris: RP_BASES.flatMap((b) => [`${b}/`, `${b}/logged_out`]),
  };
  if (RP_BASES.length > 0) {
    metadata.backchannel_logout_uri = `${RP_BASES[0]}/backchannel_logout`;
    metadata.backchannel_logout_session_required = BACKCHANNEL_SID;
  }
  return metadata;
}

// ---------------------------------------------------------------------------
// Accounts: whatever login name was typed becomes the subject.
function accountClaims(sub) {
  const local = sub.includes('@') ? sub.split('@')[0] : sub;
  return {
    sub,
    name: local.charAt(0).toUpperCase() + local.slice(1),
    preferred_username: local,
    email: sub.includes('@') ? sub : `${sub}@example.test`,
    email_verified: true,
    ...(local.startsWith('admin') ? { roles: ['admin'] } : {}),
  };
}

// What an access token says of who may do what: the user's roles, or the client's for a
// client-credentials token (in the JWT and in the introspection answer alike).
async function extraTokenClaims(ctx, token) {
  if (token.kind === 'ClientCredentials') {
    return token.clientId === 'demo' ? { roles: ['admin'] } : undefined;
  }
  const roles = token.accountId ? accountClaims(token.accountId).roles : undefined;
  return roles ? { roles } : undefined;
}

// Resource servers (RFC 8707 / RFC 9068): any http URL on a loopback host is accepted as a
// resource indicator, e.g. http://127.0.0.1:8000/api; its access tokens are JWTs with
// aud = the resource indicator and scopes taken from "read write".
function isLoopbackResource(resource) {
  try {
    const url = new URL(resource);
    return (url.protocol === 'http:' || url.protocol === 'https:')
      && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
      && !url.hash;
  } catch {
    return false;
  }
}

const configuration = {
  clients: CLIENT_NAMES.map(clientMetadata),
  jwks: loadJwks(),
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => accountClaims(sub),
  }),
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'roles'],
    email: ['email', 'email_verified'],
  },
  extraTokenClaims,
  scopes: ['openid', 'offline_access', 'read', 'write'],
  acrValues: ['urn:example:password', 'urn:example:mfa'],
  clockTolerance: CLOCK_TOLERANCE,
  cookies: {
    // Providers on different ports of 127.0.0.1 share one cookie jar: keep the names apart.
    names: {
      session: `_op${PORT}_session`,
      interaction: `_op${PORT}_interaction`,
      resume: `_op${PORT}_interaction_resume`,
    },
    keys: [randomBytes(32).toString('base64url')],
    // 8.x defaults long cookies to SameSite=None, which Chromium drops on plain http.
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  pkce: {
    required: () => true,
    methods: ['S256'],
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
    IdToken: 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    backchannelLogout: { enabled: true },
    clientCredentials: { enabled: true },
    pushedAuthorizationRequests: {
      enabled: PAR !== 'off',
      requirePushedAuthorizationRequests: PAR === 'required',
    },
    dPoP: { enabled: DPOP },
    registration: { enabled: true, initialAccessToken: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf || undefined,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (!isLoopbackResource(resourceIndicator)) throw new errors.InvalidTarget();
        return {
          scope: 'read write',
          audience: resourceIndicator,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
};

const provider = new Provider(ISSUER, configuration);

// The development login form knows no second factor: the login name stands for it.
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result?.login?.accountId) {
    result.login.acr = result.login.accountId.startsWith('mfa-') ? 'urn:example:mfa' : 'urn:example:password';
  }
  return interactionFinished(req, res, result, options);
};

// The provider's HTML pages @import Google Fonts; never let a browser try a non-loopback host.
const FONTS_IMPORT = /@import url\(https?:\/\/fonts\.googleapis\.com[^)]*\);?/g;
const requestCounts = {};
provider.use(async (ctx, next) => {
  if (COUNT_REQUESTS) {
    if (ctx.path === '/__stats') {
      ctx.set('cache-control', 'no-store');
      ctx.body = { requests: requestCounts };
      return;
    }
    const key = `${ctx.method} ${ctx.path}`;
    requestCounts[key] = (requestCounts[key] || 0) + 1;
  }
  const started = Date.now();
  await next();
  if (ctx.body !== undefined && ctx.body !== null && /html/.test(ctx.type || '')) {
    if (typeof ctx.body === 'string') {
      ctx.body = ctx.body.replace(FONTS_IMPORT, '');
    } else if (Buffer.isBuffer(ctx.body)) {
      ctx.body = ctx.body.toString('utf8').replace(FONTS_IMPORT, '');
    }
  }
  if (LOG_REQUESTS) {
    console.error(`[op ${PORT}] ${ctx.method} ${ctx.originalUrl} -> ${ctx.status} (${Date.now() - started} ms)`);
  }
});

for (const event of ['server_error', 'backchannel.error']) {
  provider.on(event, (...args) => {
    const err = args.find((a) => a instanceof Error);
    console.error(`[op ${PORT}] ${event}: ${err ? (err.stack || err.message) : args.join(' ')}`);
  });
}
if (LOG_REQUESTS) {
  for (const event of ['grant.error', 'authorization.error', 'end_session.error', 'userinfo.error', 'introspection.error', 'registration_create.error']) {
    provider.on(event, (ctx, err) => console.error(`[op ${PORT}] ${event}: ${err?.message} ${err?.error_description || ''}`));
  }
}

const server = provider.listen(PORT, HOST);
server.on('listening', () => {
  console.log(`provider listening on ${ISSUER}`);
});
server.on('error', (err) => {
  console.error(`provider on ${HOST}:${PORT} failed: ${err.message}`);
  process.exit(1);
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
  if (LOG_REQUESTS) console.error(`[op ${PORT}] ${signal}: stopping`);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
