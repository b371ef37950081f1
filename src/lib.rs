//! OpenID Connect login for [Rocket](https://rocket.rs) applications.
//!
//! `rocket_openidconnect` is an OpenID Connect relying party for Rocket 0.5:
//! one fairing reads your providers from `Rocket.toml`, and a request guard
//! in a handler's signature makes that handler require a logged-in user.
//! Logins use the authorization code flow with PKCE, and every ID token is
//! fully validated.
//!
//! # Quickstart
//!
//! 1. Add the dependency:
//!
//!    ```toml
//!    [dependencies]
//!    rocket = { version = "0.5", features = ["secrets", "json"] }
//!    rocket_openidconnect = "0.1"
//!    ```
//!
//! 2. Configure a provider in `Rocket.toml`:
//!
//!    ```toml
//!    [default.oidc]
//!    redirect_uri = "http://127.0.0.1:8000/redirect_uri"
//!
//!    [default.oidc.providers.default]
//!    issuer = "http://127.0.0.1:9000"
//!    client_id = "demo"
//!    client_secret = "demo-secret"
//!    scopes = ["openid", "profile", "email"]
//!    ```
//!
//! 3. Attach the fairing, and
//! 4. use the [`OidcUser`] guard:
//!
//!    ```rust
//!    use rocket::{get, launch, routes};
//!    use rocket_openidconnect::{Oidc, OidcUser};
//!
//!    #[get("/profile")]
//!    fn profile(user: OidcUser) -> String {
//!        format!("hello, {}", user.subject())
//!    }
//!
//!    #[launch]
//!    fn rocket() -> _ {
//!        rocket::build()
//!            .attach(Oidc::fairing())
//!            .mount("/", routes![profile])
//!    }
//!    ```
//!
//! A browser opening `/profile` without a session is sent to the provider
//! and, once logged in, back to `/profile`. An API call gets `401`.
//!
//! # The API at a glance
//!
//! At the root, what handlers and apps name: the fairing ([`Oidc`],
//! [`OidcFairing`]), the guards ([`OidcUser`], [`BearerToken`],
//! [`Identity`]) and what they give ([`UserSession`], [`TokenIdentity`],
//! [`ValidAccessToken`], [`ServiceToken`]), the type-level names guards take
//! ([`DefaultProvider`], [`ProviderName`], [`RequiredScopes`],
//! [`Requirement`], [`Authorization`]) with the macros that declare them
//! ([`provider!`], [`scopes!`], [`requirement!`], [`authorization!`]), errors ([`OidcError`], [`error_view`])
//! and [`Readiness`]. The configuration types are in [`config`], the typed
//! reasons an [`OidcError`] carries in [`error`], the app's clock in
//! [`clock`], the redacting newtypes of tokens and secrets in [`secret`],
//! the test kit in [`testing`] (feature `testing`).
//!
//! # Configuration
//!
//! Everything lives under the `oidc` key of Rocket's configuration; any
//! profile works (`[default.oidc]`, `[release.oidc]`), and the environment
//! variable `ROCKET_OIDC` overrides it:
//!
//! ```sh
//! ROCKET_OIDC='{redirect_uri="https://app.example/cb",providers={default={issuer="https://op.example",client_id="app",client_secret="s3cret"}}}'
//! ```
//!
//! Every key, its default and its meaning are in [the key reference](config#keys).
//!
//! A missing or bad key aborts launch with a message naming it, such as
//! ``oidc configuration: `oidc.providers.default.client_id`: is missing``.
//! `rocket.launch().await` then returns Rocket's error: a `main` that
//! prints `error.kind()` and returns `ExitCode::FAILURE` ends with status 1
//! rather than Rocket's panic.
//! Discovery is lazy: the app starts while a provider is down and logins
//! work as soon as it is back.
//!
//! # Several providers
//!
//! Each table under `[oidc.providers]` is a provider; name one in a guard
//! with a type declared by [`provider!`]. One callback serves them all, and a
//! session of one provider does not satisfy a guard of another.
//!
//! ```rust
//! use rocket::get;
//! use rocket_openidconnect::{provider, OidcUser};
//!
//! provider!(Github = "github"); // the table [default.oidc.providers.github]
//!
//! #[get("/repos")]
//! fn repos(user: OidcUser<Github>) -> String {
//!     user.subject().to_string()
//! }
//! ```
//!
//! `examples/multi_provider.rs` is an app with two providers
//! (`cargo run --example multi_provider`, with `scripts/dev.sh`'s providers
//! running).
//!
//! # APIs: bearer tokens
//!
//! [`BearerToken<P, S>`](BearerToken) protects an API route: the request
//! must carry `Authorization: Bearer <token>`, valid at provider `P`, with
//! every scope of `S` (declared with [`scopes!`]). Tokens are validated by
//! introspection (RFC 7662; results cached by a hash of the token, never
//! past `exp`, one provider call for many concurrent requests) or locally
//! as RFC 9068 JWTs; refusals follow RFC 6750: a request without a token
//! gets `401` and `WWW-Authenticate: Bearer realm="<provider>"`, a bad
//! token `401 invalid_token`, a malformed request `400 invalid_request`, a
//! missing scope `403 insufficient_scope`, and a provider that cannot be
//! asked `503`. [`Identity`] takes a bearer token when the request sends
//! one and the browser session otherwise.
//!
//! ```rust
//! use rocket::{get, post};
//! use rocket::serde::json::{Json, Value};
//! use rocket_openidconnect::{BearerToken, DefaultProvider, Identity, scopes};
//!
//! scopes!(Write = "write");
//! scopes!(ReadWrite = "read", "write");
//!
//! #[get("/api")]
//! fn api(token: BearerToken) -> Json<Value> {
//!     Json(Value::Object(token.claims().clone())) // introspection response or JWT claims
//! }
//!
//! #[post("/documents")]
//! fn create(token: BearerToken<DefaultProvider, Write>) -> String {
//!     format!("created by client {:?}", token.client_id())
//! }
//!
//! #[post("/documents/shared")]
//! fn share(token: BearerToken<DefaultProvider, ReadWrite>) -> String {
//!     format!("{:?} may read and write", token.subject())
//! }
//!
//! #[get("/whoami")]
//! fn whoami(who: Identity) -> String {
//!     format!("{:?} via {}", who.subject(), who.via()) // "token" or "session"
//! }
//! ```
//!
//! Per provider, `[default.oidc.providers.<name>.bearer]` sets `mode`
//! (`"auto"`, `"introspection"`, `"jwt"`), `audiences` (default: the client
//! id), `require_audience` (default `true`: an introspection answer must
//! name an accepted `aud`; `false` for providers that never send one),
//! `introspection_cache_seconds` (default 60; never past the token's `exp`)
//! and `cache_entries` (default 10,000 valid tokens, least recently used
//! out first; introspection refusals are kept apart, briefly, so a flood
//! of bad tokens never pushes a good one out).
//!
//! `trusted_issuers` (default none) lists further issuers whose RFC 9068
//! JWT access tokens the provider's guard accepts, as Spring's issuer
//! resolver does: a token's `iss` (read unverified only to choose) picks
//! the listed issuer, whose metadata and keys are fetched on its first
//! token and cached like the provider's own (its keys may be on an origin
//! of `allowed_endpoint_origins`); the token is then held to this table's
//! rules (audiences, scopes, DPoP, roles). A token naming an issuer not
//! listed is refused without a call to it: the list is the allow-list, at
//! most 20 long. A `sub` is unique only per issuer: key users by
//! [`TokenIdentity::issuer`] and [`TokenIdentity::subject`] together.
//!
//! The app's own tokens (the client-credentials grant) come from
//! [`Oidc::client_credentials`], cached until shortly before they expire:
//!
//! ```rust
//! use rocket::{get, State};
//! use rocket_openidconnect::{DefaultProvider, Oidc, OidcError};
//!
//! #[get("/report")]
//! async fn report(oidc: &State<Oidc>) -> Result<String, OidcError> {
//!     let token = oidc
//!         .client_credentials::<DefaultProvider>()
//!         .scopes(["read"])
//!         .param("audience", "reports")
//!         .send()
//!         .await?;
//!     Ok(format!("token expires in {:?}", token.expires_in()))
//! }
//! ```
//!
//! # Tokens after login
//!
//! [`OidcUser::valid_access_token`] returns the session's access token,
//! refreshed with the refresh token when it has expired: concurrent
//! callers share one token request, and a refreshed ID token for another
//! user ends the session (OIDC Core §12.2).
//! [`OidcUser::refreshed_access_token`] refreshes in any case.
//!
//! `refresh_before_expiry_seconds` (per provider) makes the guard refresh
//! ahead of expiry. That margin, like `clock_skew_seconds` for
//! `valid_access_token`, is at most half a token's lifetime, so
//! short-lived tokens are not refreshed on every call. A refresh token the
//! provider refuses ends the session; a provider that is down does not.
//!
//! `session_refresh_interval_seconds` re-checks the login at the provider
//! with `prompt=none` (and the session's ID token as `id_token_hint`). If
//! the user has logged out there, the session ends and a normal login
//! starts. Until a navigation has been re-checked, other requests get
//! `401`.
//!
//! # Logout
//!
//! `GET` or `POST` on `logout_path` (default `/logout`) from the app's own
//! pages ends the local session, revokes the refresh and access tokens
//! (RFC 7009, in the background after the answer: the logout waits for
//! neither) and, when the provider has an `end_session_endpoint`, sends the
//! browser there (RP-Initiated Logout) with `id_token_hint` and a
//! single-use `state`, to come back to `post_logout_redirect_uri`. A `GET`
//! or `POST` from another site, a sibling subdomain included, only gets a
//! page whose button logs out (a cross-site link cannot log users out).
//! Providers may also end sessions with back-channel logout tokens POSTed
//! to `backchannel_logout_path` (default `/backchannel_logout`), which are
//! fully verified (signature, `iss`, `aud`, `iat`, `exp`, single-use `jti`,
//! the logout event, no `nonce`).
//!
//! Either way a logged-out session is over: a copy of its cookies taken
//! before the logout is refused afterwards. Server-side sessions
//! (`memory`, `redis`) are deleted; sessions in cookies are refused through
//! a list of logged-out sessions, `sid`s and `sub`s kept until they would
//! have expired (in this process, or in Redis for every instance; see
//! [Running several instances](#running-several-instances)).
//!
//! # What survives a restart
//!
//! A logout outlives a restart of the app, in every store. Cookie sessions
//! are stamped at login with the record of logouts in force (Redis's
//! epoch, or the file's); one stamped otherwise, or not at all, may have
//! been logged out where this record could not see it, and is refused once
//! (the user logs in again).
//!
//! | store | logouts kept in | after a restart |
//! |---|---|---|
//! | `cookie`, no Redis | this process | every cookie session authenticated before the restart is refused once: its logout may have been forgotten |
//! | `cookie` + `session.logout_records_path` | a file of this process | logouts hold; other sessions go on |
//! | `cookie` + `[oidc.redis]` | Redis | logouts hold; other sessions go on (a Redis that lost its data refuses sessions from before the loss once) |
//! | `memory` | this process | every session is gone |
//! | `redis` | Redis | logged-out sessions were deleted there; others go on |
//!
//! And the single-use ledgers:
//!
//! | single-use ledger | in process (no Redis) | + `logout_records_path` | Redis |
//! |---|---|---|---|
//! | used `state`s | forgotten: a login in progress across a restart still finishes (its code is single-use at the provider, and bound to PKCE) | forgotten | kept |
//! | logout token ids | forgotten: one replayed before its `exp` is honoured again (a logout arriving now: the user logs in again) | kept | kept |
//! | DPoP proof ids | forgotten: a proof whose `iat` is before the start is refused | forgotten | kept |
//!
//! `session.logout_records_path` (the `cookie` store without Redis; launch
//! refuses it with `[oidc.redis]` or the `memory` store) is one process's
//! own file: a second process waits up to 5 s for the lock (`<path>.lock`,
//! unix only), then does not launch; several instances share logouts
//! through `[oidc.redis]` instead. The file is written owner-only, synced
//! before a logout answers, read back and written anew at launch. A file
//! that cannot be trusted (another user's, open to others, a symlink, not
//! ours) or that holds more than `limits.*` allow starts the record anew;
//! one that cannot be written is renamed aside (`<path>.unusable`), logouts
//! answer `503` until a restart, and the restart begins anew. Beginning
//! anew, turning the file on, off or on again, adding or removing Redis:
//! each refuses older cookie sessions once. A key rotation is a restart:
//! keep the record (or Redis) to rotate without logging users out. Never
//! restore the file from a backup: it would forget the logouts made since,
//! and their cookies would open again; delete it instead. Several instances
//! of a `cookie`-store app need `[oidc.redis]` to share logouts: without
//! it, a logout is known only to the instance that recorded it, and a
//! restarted instance refuses every session authenticated before it
//! started; with a file each, every instance refuses the sessions the
//! others made (behind a round-robin balancer, users are logged out at
//! every hop).
//!
//! # Dynamic registration
//!
//! A provider with a `registration` table instead of `client_id` is
//! registered with on first use (RFC 7591); with `persist_path` the client
//! is kept in that file (owner-only) and reused after a restart.
//!
//! # Security
//!
//! What the crate defends against, and how:
//!
//! * `state` (128 random bits) is single-use, expires after 10 minutes and
//!   is bound to the browser by an encrypted cookie; several logins may be
//!   pending at once.
//! * PKCE S256 and a `nonce` on every login; RFC 9207 `iss` checked, and
//!   required where several providers share one `redirect_uri` (mix-up
//!   attacks); a provider may have its own `redirect_uri` instead.
//! * ID tokens are validated per OpenID Connect Core §3.1.3.7: signature
//!   with the algorithms the provider advertises (never `none`; HMAC only
//!   with the client secret), `iss`, `aud`, `azp`, `exp` and `iat` with
//!   `clock_skew_seconds`, `nonce`, and `acr` / `auth_time` when
//!   `acr_values` / `max_age` were requested. A refreshed ID token must be
//!   for the same login (Core §12.2).
//! * Signing keys are fetched again once older than their
//!   `Cache-Control: max-age` (5 minutes when absent, a day at most), and
//!   when a token names an unknown key or a known key fails (at most once
//!   every 2 s, and such a token waits for that refetch rather than be
//!   judged forged): removed keys stop working, rotations need no restart.
//! * A claim of the right type that names nothing (`"sub": ""`, an empty
//!   `aud`...) is refused in every token; so is a token naming a claim twice.
//! * Client assertions name the provider's issuer as `aud`; a provider's
//!   metadata may put endpoints only on its issuer's origin (or those of
//!   `allowed_endpoint_origins`); two providers at one callback may not
//!   claim one issuer.
//! * Ledgers one client could fill are shared out: an anonymous client's
//!   callbacks leave states that are forgotten first; one user's logins,
//!   logouts (the provider's by `sid` naming the user too) and the DPoP
//!   proofs of one subject's tokens hold at most their share
//!   (`limits.*_per_subject`), past which that user or subject alone gets
//!   `429` (or their logouts become one record). Requests nobody
//!   authenticated spend at most `limits.provider_calls_per_second` of a
//!   provider's calls, a quarter of it from one address (Rocket's
//!   `client_ip()`: set `ip_header` for your proxy, or `false`); logged-in
//!   users a budget as large of their own, each a share of it. What is left (logout tokens
//!   naming only a `sid`, many accounts or addresses, a Redis without
//!   `maxmemory` room) is in SECURITY.md.
//! * Token parameters in the callback's URL are ignored; only the token
//!   endpoint's answer counts. A userinfo `sub` differing from the ID
//!   token's refuses the login.
//! * After login, the browser returns only to a same-origin path.
//! * Cookies are encrypted and authenticated with a key derived from
//!   Rocket's `secret_key`, `HttpOnly`, `SameSite=Lax`; on https `Secure`
//!   and `__Host-` prefixed (a sibling subdomain cannot plant one). Only the
//!   cookie names the crate issues are read. Secrets and tokens print as
//!   `[redacted]`; provider text is made printable and bounded, and errors
//!   shown to callers carry no internals (the log does).
//! * A `GET` or `POST` of the logout route from another site (a sibling
//!   subdomain included) only shows a button that POSTs.
//! * Whatever a provider does (no answer, garbage, huge bodies), requests
//!   get `502`/`503` within about `http_timeout_seconds`, never `500`;
//!   failures are shared by the requests waiting on them.
//! * Rocket's request log line (at `log_level = "normal"`, the debug
//!   profile's default) shows the callback's query (`code`, `state`): both
//!   are single-use (the code is also bound to PKCE); keep logs private, or
//!   use `response_mode=form_post` over https.
//!
//! # Sessions
//!
//! A login creates a [`UserSession`] (tokens, ID token claims, userinfo).
//! `session.store` says where it is kept:
//!
//! * `"cookie"` (the default): in the browser, encrypted and split across
//!   up to `session.max_cookie_chunks` cookies (default 8, each about
//!   4 KB) when it is large.
//! * `"memory"`: in this process, bounded by `limits.sessions`; the browser
//!   holds only a sealed random session id (`oidc_sid`).
//! * `"redis"`: in Redis (`[oidc.redis]`), for every instance of the app;
//!   the browser holds only the sealed id.
//!
//! A user (provider and `sub`) has at most `limits.sessions_per_subject`
//! (default 16) server-side sessions: a login past it ends that user's
//! oldest session, never another user's. A session of more than about
//! 22 KB of JSON is refused with `502 session_too_large` by every store.
//!
//! `session.max_cookie_chunks = 2` keeps the `Cookie` header under the
//! 8 KB that proxies commonly allow. A login whose cookie session needs
//! more cookies than allowed gets `502 session_too_large`: the log names
//! the parts and the largest claims that take the room (the caller is not
//! told them), and the login never loops back to the provider. To keep a
//! session small, choose the claims it keeps per provider:
//!
//! ```toml
//! [default.oidc.providers.default.session]
//! drop_claims = ["picture", "groups"]   # or keep_claims = ["email", "name"]
//! ```
//!
//! The claims the protocol needs (`sub`, `sid`, `exp`...) and the raw ID
//! token are always kept.
//!
//! `session.inactivity_timeout_seconds` (default 0, off) ends a session
//! unused that long, in every store. A session keeps the timeout it began
//! with: it is held to the shorter of that and the one configured now, so
//! raising the setting does not lengthen sessions already open.
//!
//! # Running several instances
//!
//! Instances of an app started with the same `Rocket.toml` and
//! `secret_key` behave as one when they share Redis. Redis needs the
//! `redis` cargo feature, on by default; an app that keeps its sessions in
//! cookies or in its one process can build without it
//! (`default-features = false`), and `[oidc.redis]` then aborts launch.
//!
//! ```toml
//! [default.oidc.session]
//! store = "redis"                    # or "cookie": sessions stay in cookies
//!
//! [default.oidc.redis]
//! url = "redis://127.0.0.1:6379/0"   # or rediss://... for TLS (ca_certificate_path for a private CA)
//! key_prefix = "oidc:"               # default; lets several apps share one Redis
//! timeout_ms = 1000                  # default; connect and command timeout
//! local_cache_seconds = 2            # default: reuse what was read this long (0: off)
//! ```
//!
//! With `[oidc.redis]`, used `state`s, back-channel logout token ids,
//! logged-out sessions (for the cookie store) and refresh leases live in
//! Redis, and with `session.store = "redis"` the sessions too. So:
//!
//! * a login started on one instance finishes on another; a `state` or a
//!   back-channel logout token is accepted once across all of them;
//! * an RP-initiated or back-channel logout received by one instance (by
//!   `sid` or `sub`) is honoured by all, cookie copies included, and also
//!   ends a login of that `sid` or `sub` that was finishing meanwhile;
//! * concurrent refreshes of one session on several instances make one
//!   token request: the first takes a lease in Redis and the others wait
//!   for its result (looking for the result and claiming the lease are one
//!   atomic step), so a refresh token the provider rotates is never
//!   redeemed twice. A refresh that finishes after a logout stores nothing.
//!
//! | setup | sessions | what another instance sees |
//! |---|---|---|
//! | `cookie`, no Redis | in the browser | the session (if authenticated after that instance started); not logouts, used states or logout tokens of this instance |
//! | `memory`, no Redis | this process | nothing |
//! | `cookie` + `[oidc.redis]` | in the browser | everything: logins, single-use `state`s and logout tokens, refreshes, and logouts (refused by every instance until the session would have expired) |
//! | `redis` | Redis | everything |
//!
//! (`memory` with `[oidc.redis]` is refused at launch: its sessions would
//! exist on one instance only.)
//!
//! Redis keys, all under `key_prefix`, each with a TTL no longer than what
//! it protects (ids, `sid`s and `sub`s appear only as SHA-256 digests;
//! values are sealed with a key derived from `secret_key`):
//!
//! | key | what | TTL |
//! |---|---|---|
//! | `once:state:<h>` | a used `state` (single use: `SET NX` in a script) | until the login would have expired: 10 minutes |
//! | `once:logout_token:<h>` | a used logout token (`iss`, `jti`) | until its `exp`, plus `clock_skew_seconds` |
//! | `once:dpop_proof:<h>` | a used DPoP proof | the proof's acceptance window, or its token's expiry if sooner |
//! | `owner:dpop_proof:<h>` | the DPoP proofs of one subject's tokens through one client, by expiry (`limits.dpop_proofs_per_subject`) | the longest of them |
//! | `revoked:subject:<h>` | a user's logouts: sessions logged out by the app (cookie store), `sid`s logged out by the provider naming the user, each to its end and time; past `limits.revocations_per_subject`, merged into `revoked:sub:<h>` | until the last would have expired, by the lifetime and inactivity timeout the session began with (a `sid`: the lifetime configured; server-side stores: 10 minutes and three `http_timeout_seconds`) |
//! | `revoked:sid:<h>`, `revoked:sub:<h>` | a back-channel logout naming only a `sid`; one by `sub` (every store) | `session.lifetime_seconds` (server-side stores: 10 minutes and three `http_timeout_seconds`) |
//! | `revoked:session:<h>` | a session logged out by an earlier version (read only) | as it was written |
//! | `epoch` | since when this Redis has kept its logouts, by Redis's clock, stamped in every cookie session (cookie store; see below) | `session.lifetime_seconds`, lengthened by every login |
//! | `session:<h>` | a session (`redis` store) | until the session expires |
//! | `subject:<h>`, `sid:<h>` | a user's sessions, a provider session's sessions (`redis` store) | `session.lifetime_seconds` |
//! | `refresh:lock:<h>` | who is refreshing a session | the lease: 2 × `http_timeout_seconds` + 1 s, extended while its holder works |
//! | `refresh:result:<h>` | the refreshed session, for the others | 60 s at most |
//!
//! Every change (a logout, a back-channel logout, a refresh, a session
//! ended by the per-user limit) is made together with its announcement on
//! the Redis channel `<key_prefix>changes` (`MULTI`/`EXEC`, or inside the
//! script): a change that reached Redis has been announced. Each instance
//! keeps what it read for `redis.local_cache_seconds` (default 2 s, at most
//! 60; up to 10,000 sessions) and drops the session an announcement names
//! as soon as it hears it, normally within a millisecond. So a logged-in
//! request usually makes no Redis round trip, and at most one (a `GET` of
//! the session, or one script reading the cookie session's logout
//! records); a request that renews the activity stamp
//! (`session.inactivity_timeout_seconds`, once per tenth of it) makes a
//! second. The copies are used only while the instance is subscribed and
//! Redis answers the subscription's heartbeat (every 0.5 s, within
//! `timeout_ms`): a Redis that freezes or a connection that silently breaks
//! turns them off within 0.5 s plus `timeout_ms`, and then every request
//! asks Redis. (During that moment an instance may still serve what it
//! read, for at most that long; a Redis that is frozen records no change
//! meanwhile, as logouts then answer `503`.) `0` asks Redis on every
//! request.
//!
//! **Failures.** When Redis is unreachable, slow or restarting, requests
//! that need it answer `503 temporarily_unavailable` within `timeout_ms`
//! (default 1 s; a command is sent again only after a connection that was
//! lost, within the same bound, and single-use checks are written so that
//! such a retry cannot refuse its own first use). Nothing is let through
//! unchecked. The app launches while Redis is down and recovers by itself
//! when it returns. A back-channel logout that could not be recorded is
//! `503` and leaves its token unused, so the provider's retry succeeds.
//!
//! **Keep Redis's data.** Run Redis with persistence (`appendonly yes`)
//! and `maxmemory-policy noeviction`; launch warns about either. Redis that
//! loses its data (a restart without persistence, a flush, an eviction)
//! loses the logouts recorded in it. When it lost everything, the crate
//! notices, because the `epoch` key is gone with them: the next login on
//! any instance makes a new one (from Redis's own clock), and every cookie
//! session stamped with another is refused, so users log in again and no
//! logged-out cookie comes back. A partial loss it cannot see: a Redis
//! that comes back from an older snapshot (`save` without `appendonly`) or
//! that evicted keys has the epoch but not the logouts since, which is why
//! both warnings matter. Sessions of the `redis` store are simply gone.
//! (The same happens once when a cookie-store app is first given
//! `[oidc.redis]`, as Redis has no epoch yet, and to cookie sessions made
//! by a version of the crate before epochs.)
//!
//! **Limits of the design.** Redis 5 or later (the scripts read `TIME` and
//! write). Standalone Redis (or a primary with replicas) only: Redis
//! Cluster is not supported (the scripts touch keys they compute).
//! Instances compare login and logout times taken from their own clocks (a
//! back-channel logout by `sub` ends the sessions authenticated before it),
//! so keep their clocks synchronised, as ID token checks need anyway.
//!
//! **Without Redis**, this state lives in the process, bounded by
//! `[oidc.limits]`: `sessions`, `used_states`, `logout_tokens`,
//! `dpop_proofs` and `revocations` (100,000 each; `revocations` is the
//! size of each of its three lists: sessions, `sid`s, `sub`s) and
//! `sessions_per_subject` (16). The ledgers whose loss would let something
//! in again (used states, logout token ids, logouts) never forget a live
//! entry: full, they answer `503` and the log names the limit to raise.
//! The `memory` store makes room for a login from that user's own sessions
//! and from expired ones, and otherwise refuses it (`503`); it never ends
//! another user's session. Refresh coordination
//! (10,000 refreshes in flight) evicts instead: losing an entry costs a
//! token request, nothing more.
//!
//! **Shares.** One client cannot fill a ledger for everyone (what many
//! clients can do is in SECURITY.md):
//!
//! * the `state` of a callback whose code is not redeemed yet gives way to
//!   newer ones when the ledger is full: anyone can send a callback, and
//!   the provider's single-use code stands behind it;
//! * one account holds at most its share of used states and of logout
//!   records (`used_states_per_subject` and `revocations_per_subject`, 100
//!   each), and the tokens of one subject at most theirs of DPoP proofs
//!   (`dpop_proofs_per_subject`, 10,000: some 160 DPoP requests a second);
//!   the last two hold in Redis too. Past its share that client gets `429`
//!   (a user's logouts are merged instead into one record of their
//!   sessions authenticated until then), and nobody else is affected;
//! * calls to a provider that requests nobody authenticated can cause
//!   (pushed authorization requests, introspection of unseen tokens) are
//!   budgeted: `limits.provider_calls_per_second` (default 20, twice that
//!   in a burst; `0`: no limit) per provider and kind, of which one source
//!   address may spend a quarter; logged-in users' silent re-checks and
//!   step-ups spend a budget as large of their own (see
//!   [Pushed authorization requests](#pushed-authorization-requests)).
//!   Past it, `429` for that client, and `503` once many addresses spent
//!   it all. The address is Rocket's `client_ip()`, an IPv6 address by its
//!   /64: set Rocket's `ip_header` to the header your proxy sets, or to
//!   `false` without a proxy. Code redemptions are not budgeted: a budget
//!   anyone could spend would refuse real users who just signed in.
//!
//! # Logs
//!
//! Events are logged through the `log` facade Rocket uses, under the target
//! `rocket_openidconnect`: a login started and finished (with the provider
//! and how long it took); a failed login with its cause and a one-line
//! hint, such as
//!
//! ```text
//! oidc: login failed: state cookie missing: invalid state: ... (hint: the browser did not send the login's cookie: blocked by SameSite ...)
//! ```
//!
//! (the causes, also the `cause` label of [Metrics](#metrics) in
//! snake_case: state cookie missing, login expired, state reused, state
//! mismatch, provider error, issuer mismatch, clock skew, wrong audience,
//! bad signature, nonce mismatch, provider unreachable, shared state
//! unavailable); silent re-authentication, refreshes (proactive ones
//! included), logouts, back-channel logouts, discovery, registration, key
//! fetch failures, and Redis trouble. No token, code, state or secret is
//! ever logged.
//!
//! For a load balancer or an orchestrator, [`Oidc::readiness`] checks now
//! that every provider is discovered with its signing keys and that Redis
//! (when configured) answers; the [`Readiness`] it returns answers `200`
//! or `503` with a JSON report that names no host (why a check failed
//! goes to the log), so a route can return it as is:
//!
//! ```rust
//! use rocket::{get, State};
//! use rocket_openidconnect::{Oidc, Readiness};
//!
//! #[get("/ready")]
//! async fn ready(oidc: &State<Oidc>) -> Readiness {
//!     oidc.readiness().await
//! }
//! ```
//!
//! At liftoff the launch doctor (`doctor = true`, the default) reads each
//! provider in the background and warns, as `oidc doctor: provider
//! `name`: ...`, about what will break: no `end_session_endpoint` for
//! logout, bearer introspection without an `introspection_endpoint`,
//! scopes, a response mode or a client authentication method the provider
//! does not advertise, a clock that differs from the provider's `Date` by
//! more than `clock_skew_seconds`, an `http` `redirect_uri` in the release
//! profile, cookie sessions that the configured scopes will likely make too
//! large (for `session.max_cookie_chunks`, or for the 8 KB `Cookie` header
//! common proxies accept), and a provider that cannot be reached yet. It
//! never delays or fails launch. The first login whose session cookies do
//! exceed 8 KB is logged too, with the parts that made it large.
//!
//! # Metrics
//!
//! Metrics go through the [`metrics`](https://docs.rs/metrics) facade: install
//! any recorder (e.g. `metrics-exporter-prometheus`, as the demo does for
//! its `/metrics` route) and they appear; without one they cost nothing.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `oidc_logins_total` | counter | `provider`, `outcome` (`success`, `failure`), `cause` (`none`, `state_cookie_missing`, `login_expired`, `state_reused`, `state_mismatch`, `provider_error`, `issuer_mismatch`, `wrong_tenant`, `clock_skew`, `wrong_audience`, `signature`, `nonce`, `provider_unreachable`, `state_unavailable`, `step_up`, `overloaded`, `other`) |
//! | `oidc_login_duration_seconds` | histogram | `provider`: from the redirect to the provider to the session |
//! | `oidc_provider_requests_total` | counter | `provider`, `endpoint` (`discovery`, `jwks`, `token`, `userinfo`, `introspection`, `revocation`, `registration`, `par`, `claim_source`), `status` (the HTTP status, or `unreachable`) |
//! | `oidc_provider_request_duration_seconds` | histogram | `provider`, `endpoint` |
//! | `oidc_cache_requests_total` | counter | `cache` (`session`, `session_id`, `bearer`), `result` (`hit`, `miss`) |
//! | `oidc_bearer_tokens_total` | counter | `outcome` (`accepted`, `refused`, `unavailable`, `client_rejected`: the provider refused this app's own credentials at introspection), before the scopes are checked |
//! | `oidc_access_denied_total` | counter | `guard` (`session`, `bearer`), `requirement` (the [`Authorization`] type's name), `unmet` (`role`, `group`, `claim`) |
//! | `oidc_refreshes_total` | counter | `provider`, `outcome` (`success`, `failure`) |
//! | `oidc_logouts_total` | counter | `kind` (`rp`, `backchannel`) |
//! | `oidc_sessions_stored` | gauge | `store` (`memory`): sessions held in this process |
//! | `oidc_redis_errors_total` | counter | `kind` (`timeout`, `error`) |
//!
//! No label carries a token, a subject or anything a request chose.
//!
//! # Secrets and key rotation
//!
//! A client secret can be read from a file at launch (a mounted Kubernetes
//! or Docker secret): `client_secret_file = "/run/secrets/op"` instead of
//! `client_secret`, and likewise `registration.initial_access_token_file`.
//! Give one of the two; a file that cannot be read or is empty aborts launch
//! naming the key. A trailing newline is not part of the secret.
//!
//! To rotate the cookie key without logging anyone out, set the new
//! `secret_key` and list the old one in `previous_secret_keys`:
//!
//! ```toml
//! [release]
//! secret_key = "<new key>"
//!
//! [release.oidc]
//! previous_secret_keys = ["<old key>"]
//! ```
//!
//! What a previous key sealed (session cookies, session ids, logins in
//! progress, values in Redis) still opens; a session cookie opened that way
//! is sealed again under the new key in the same response. Keep an old key
//! as long as a session can live (`session.lifetime_seconds`, or the
//! lifetime of the sessions in Redis), then remove it: what only it opens
//! is no session any more. At most 8 previous keys; each is written like
//! `secret_key` (base64 or hex).
//!
//! # Client authentication without shared secrets
//!
//! This section and the next three (pushed authorization requests, DPoP,
//! step-up) are what regulated deployments (FAPI 2.0 profiles) ask of a
//! relying party; each is tested against the real `oidc-provider` in
//! `tests/e2e/modern.test.mjs`.
//!
//! With `token_endpoint_auth_method = "private_key_jwt"` the client proves
//! itself with a fresh signed assertion (RFC 7523, OIDC Core §9) on every
//! client-authenticated call: the code exchange, refresh, introspection,
//! revocation, client credentials and pushed authorization requests. The
//! key is a PEM file (`private_key_path`: PKCS#8 RSA or EC P-256, or
//! PKCS#1, SEC1) or an inline JWK (`private_key_jwk`); its `kid` is the
//! JWK's or the RFC 7638 thumbprint, and the public JWK to register is
//! logged at launch. Assertions carry `iss` = `sub` = the client id, `aud`
//! the provider's issuer identifier (one string, for every endpoint, as
//! draft-ietf-oauth-rfc7523bis requires: an assertion one provider receives
//! is worthless at another, CVE-2025-27370), a unique `jti` and a 60-second
//! `exp`, signed RS256, PS256 or ES256 (`token_endpoint_auth_signing_alg`,
//! or what the key and the provider's metadata allow); RSA signatures are
//! blinded. For a server that insists on the endpoint's URL,
//! `client_assertion_audience = "endpoint"` names the URL each assertion is
//! sent to. `client_secret_jwt` signs them HS256 with the client secret,
//! which then never travels. The key never appears in logs or `Debug`.
//!
//! A provider's metadata must put its endpoints on the issuer's own origin:
//! one naming another provider's token endpoint would have codes and
//! assertions sent there. Where a provider really serves endpoints on
//! another host (Google's `https://oauth2.googleapis.com`), list that
//! origin in `allowed_endpoint_origins`; otherwise static metadata aborts
//! launch, and a discovered document is refused (`502`, the log names the
//! endpoint). Two providers answering at one
//! callback may not claim one issuer (RFC 9207 §4): give one a
//! `redirect_uri` of its own.
//!
//! ```toml
//! [default.oidc.providers.default]
//! issuer = "https://op.example"
//! client_id = "app"
//! token_endpoint_auth_method = "private_key_jwt"
//! private_key_path = "/run/secrets/client-key.pem"
//! ```
//!
//! # Pushed authorization requests
//!
//! With `pushed_authorization_requests = "auto"` (the default), a provider
//! that advertises a `pushed_authorization_request_endpoint` gets each
//! authorization request over the back channel first (RFC 9126),
//! authenticated as the client; the browser's redirect then carries only
//! `client_id` and `request_uri`. `"always"` requires it; `"never"` does
//! not use it. A provider that sets `require_pushed_authorization_requests`
//! never gets a front-channel request: the login fails with 502 instead,
//! as it does when the pushed request fails.
//!
//! A push is a provider call that anyone can cause by opening a protected
//! page, so it is budgeted (`limits.provider_calls_per_second`, default
//! 20, per provider). Anonymous navigations push at most that many
//! requests a second, a quarter of it from one address; past it, a login
//! goes by the front channel where the provider allows it, else it gets
//! `429` for that address, or `503` when the whole budget is spent.
//! Logged-in users' silent re-checks and step-ups spend a budget as large
//! of their own, never the anonymous one, so a flood of strangers does not
//! refuse them: each user a burst of half the rate, then a quarter of it a
//! minute (past it, `429` for that user). The address is Rocket's
//! `client_ip()`: set Rocket's `ip_header` to the header your proxy sets,
//! or to `false` without a proxy. Launch warns in release while it is left
//! at its default, `X-Real-IP`, which a client could set itself, claiming
//! a new address per request.
//!
//! # DPoP-bound access tokens
//!
//! [`BearerToken`] accepts `Authorization: DPoP <token>` with a `DPoP`
//! proof (RFC 9449) when `bearer.dpop` is `"allowed"` (the default) or
//! `"required"` (`"off"`: only `Bearer`). The proof is checked like any JWS
//! (no `crit`, no member twice). It must be a `dpop+jwt` (`typ`) signed
//! with an asymmetric algorithm by the public key it carries, for this
//! request's method (`htm`) and URL (`htu`): the origin of `redirect_uri`
//! and the request's path, put side by side, so it holds behind a proxy.
//! A path starting with `//` is no other host, and a path with a dot
//! segment is refused; both URLs are compared after RFC 3986
//! normalisation, so `%61pi` is `api`. It must be recent (`iat` within
//! `clock_skew_seconds`), for this token (`ath`), and used once on every
//! instance: its `jti` is recorded once the token is valid and bound, and
//! the tokens of one subject, whatever their keys, hold at most
//! `limits.dpop_proofs_per_subject` of them. The token's `cnf.jkt` (a JWT
//! claim or the introspection answer) must be that key's thumbprint. A
//! DPoP-bound token sent as `Bearer` is refused, and so is a token bound
//! to what the API cannot check (`cnf.x5t#S256`, RFC 8705). Refusals
//! carry `WWW-Authenticate: DPoP algs="...", error="invalid_dpop_proof"`;
//! with `bearer.dpop_nonce = true`, a proof without a current server nonce
//! gets `401 use_dpop_nonce` and the nonce in `DPoP-Nonce`.
//!
//! # Step-up per route
//!
//! A route can require a stronger or more recent login than the session
//! has (RFC 9470): name a [`requirement!`] in the guard.
//!
//! ```rust
//! use rocket::post;
//! use rocket_openidconnect::{requirement, DefaultProvider, OidcUser};
//!
//! requirement!(
//!     /// A multi-factor login within the last five minutes.
//!     pub Mfa { acr: ["urn:example:mfa"], max_age: 300 }
//! );
//!
//! #[post("/transfer")]
//! fn transfer(user: OidcUser<DefaultProvider, Mfa>) -> String {
//!     format!("transfer approved by {}", user.subject())
//! }
//! ```
//!
//! When the session's ID token lacks one of the `acr` values or its
//! `auth_time` is older than `max_age`, a browser navigation goes back to
//! the provider with `acr_values` and `max_age` and returns to the same
//! URL; any other request gets `401 insufficient_user_authentication` with
//! `WWW-Authenticate: Bearer error="insufficient_user_authentication",
//! acr_values="...", max_age="..."`. The new ID token must meet the
//! requirement or the login fails (the old session stays). Routes without
//! a requirement do no such check.
//!
//! # Who may do what: roles, groups and claims
//!
//! A route names who may use it with an [`authorization!`] type, the
//! third parameter of [`OidcUser`], [`BearerToken`] and [`Identity`]:
//! roles and groups (`all` of a list, or `any` of one) and claim values at
//! dotted paths.
//!
//! ```rust
//! use rocket::get;
//! use rocket_openidconnect::{
//!     authorization, BearerToken, DefaultProvider, NoRequirement, NoScopes, OidcUser,
//! };
//!
//! authorization!(
//!     /// Administrators, or owners, of one tenant.
//!     pub TenantAdmins {
//!         roles: any ["admin", "owner"],
//!         claims: { "tid" = "72f988bf-86f1-41af-91ab-2d7cd011db47" },
//!     }
//! );
//! authorization!(pub Operators { groups: all ["staff", "ops"] });
//!
//! #[get("/admin")]
//! fn admin(user: OidcUser<DefaultProvider, NoRequirement, TenantAdmins>) -> String {
//!     format!("{} may administer", user.subject())
//! }
//!
//! #[get("/api/restart")]
//! fn restart(token: BearerToken<DefaultProvider, NoScopes, Operators>) -> String {
//!     format!("restart asked by {:?}", token.subject())
//! }
//!
//! #[get("/reports")]
//! fn reports(user: OidcUser) -> &'static str {
//!     // The same questions in a handler.
//!     if user.has_role("auditor") || user.in_group("finance") { "all" } else { "yours" }
//! }
//! ```
//!
//! * **Where roles and groups are.** `providers.<name>.roles_claim`
//!   (default `"roles"`) and `groups_claim` (default `"groups"`) are dotted
//!   paths into the claims: `realm_access.roles` or
//!   `resource_access.<client>.roles` for Keycloak, the defaults for Entra
//!   ID and Okta. The value counts only as a string or an array of
//!   strings; any other shape (a number, an object, an array holding one)
//!   grants nothing, and values compare exactly (`Admin` is not `admin`).
//! * **Which claims.** A browser session is judged on its ID token's
//!   claims with userinfo's over them, claim by claim (userinfo is the
//!   provider's later word); a bearer token on its JWT claims or its
//!   introspection answer. [`UserSession::claim`] and
//!   [`TokenIdentity::claim`] read a dotted path the same way, and
//!   `claims_as::<T>()` gives the claims as the app's own type.
//! * **Refusals.** A logged-in user or a valid token that does not meet
//!   the requirement gets `403 access_denied`: a page for a navigation,
//!   JSON otherwise, and for a bearer request `WWW-Authenticate: Bearer
//!   realm="...", error="access_denied", error_description="..."`. The
//!   answer says what kind of thing is missing (a role, a group, an
//!   attribute), never which values the route requires. It is never
//!   `401` and never a login: the user would come back without the role,
//!   in a loop. It is not `insufficient_scope` either: no scope would help,
//!   and clients (MCP clients among them) ask for more scope on that
//!   error. (The same `error` code is also what a provider's refusal at
//!   the callback is shown with, as a `401`: tell them apart by status.) Authentication comes first: no session or an invalid token is
//!   answered as on any route.
//! * **Claims kept elsewhere** (OIDC Core §5.6.2). When the ID token or
//!   userinfo names claim sources (`_claim_names`, `_claim_sources`), the
//!   crate resolves them at login and at each userinfo refresh, from the
//!   sources `providers.<name>.claim_sources` lists only: an aggregated
//!   claims JWT whose `iss` is listed, verified with that issuer's keys
//!   (discovered at `{iss}/.well-known/openid-configuration`); a
//!   distributed claims endpoint on a listed URL's origin and under its
//!   path, called with `GET` and the source's access token or the
//!   session's (so a token never reaches an endpoint the configuration
//!   does not name), answering a JSON object of claims. A source gives only
//!   the claims its reference names, and never who issued what to whom
//!   (`iss`, `sub`, `tid`, `acr`...: those come from the ID token alone,
//!   whatever userinfo or a source says). The resolved claims
//!   ([`UserSession::sourced_claims`]) count over userinfo's. A source not
//!   listed, or failing, is logged and its claims stay unresolved until
//!   the next userinfo refresh (`userinfo_refresh_seconds`): routes asking
//!   for them refuse meanwhile.
//!   *Entra ID's groups overage* names a directory's `getMemberObjects`
//!   (still at the retired Azure AD Graph, `graph.windows.net`, in some
//!   tokens): the crate asks Microsoft Graph
//!   (`https://graph.microsoft.com/v1.0/users/<oid>/getMemberObjects`, a
//!   `POST`) and takes the ids it answers as the groups. List
//!   `https://graph.microsoft.com/v1.0/` in `claim_sources`, and make the
//!   session's access token one for Graph (scopes `User.Read
//!   GroupMember.Read.All`), or the call is refused and the groups stay
//!   unresolved.
//! * **Roles taken away.** A session keeps the claims of its login. With
//!   `providers.<name>.userinfo_refresh_seconds = N`, userinfo is read
//!   again on the first use after `N` seconds (the access token refreshed
//!   first when it has expired), so a role removed at the provider stops
//!   counting within `N` seconds. A provider that no longer answers for the
//!   session (token revoked, another `sub`) ends it; one that cannot be
//!   asked now answers `502` on routes with an [`Authorization`] (no
//!   decision on stale claims) and lets the others through, and the next
//!   request asks again.
//! * **Telling an operator.** The log says which route, which requirement
//!   and what was unmet; `oidc_access_denied_total` counts refusals by
//!   guard, requirement and unmet part.
//! * **Cost.** A requirement is a few map lookups on claims parsed once
//!   per session or token, allocating nothing. Mistakes that would let
//!   everyone in (a word other than `all`/`any`, an empty list, a
//!   requirement asking nothing) or no one (a claim path with an empty
//!   segment) do not compile.
//!
//! # Multi-tenant issuers
//!
//! Microsoft Entra ID's `common` and `organizations` endpoints serve one
//! discovery document for every tenant, whose `issuer` is a template, and
//! one set of keys that signs every tenant's tokens. The usual advice,
//! "turn off issuer validation", lets any tenant in. Here the template is
//! the issuer, and `tenants` says whose tokens are welcome:
//!
//! ```toml
//! [default.oidc.providers.default]
//! issuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
//! discovery_url = "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
//! tenants = ["72f988bf-86f1-41af-91ab-2d7cd011db47"]   # or "any"
//! client_id = "..."
//! ```
//!
//! * An ID token, or a JWT access token at [`BearerToken`], is accepted
//!   only when its `tid` is one of `tenants` (any well-formed one with
//!   `"any"`) **and** its `iss` is the template with that same `tid`: a
//!   token of a tenant not served is refused though the keys verify it,
//!   and so is the `iss` of one tenant with the `tid` of another, or the
//!   bare template. A `tid` is letters, digits, `-`, `_` and `.` only, so it
//!   cannot change the issuer's path. The authorization response's `iss`
//!   (RFC 9207) and a logout token's are held to the template too.
//! * The tenant is the app's to use: [`OidcUser::tenant`],
//!   [`TokenIdentity::tenant`]; a route for one tenant names it like any
//!   claim (`authorization!(TenantA { claims: { "tid" = "..." } })`), so a
//!   session of another tenant never meets it.
//! * The allowed tenants are a set: a thousand cost what one does.
//! * [`BearerToken`] checks JWT access tokens by RFC 9068 (`typ` `at+jwt`,
//!   `client_id`, `jti`), which Entra's are not (`typ` `JWT`, `azp`,
//!   `uti`): with Entra, the tenant rules hold for logins; an API taking
//!   Entra access tokens needs a provider that issues RFC 9068 tokens, or
//!   checks them itself. Entra's v1 tokens (`iss`
//!   `https://sts.windows.net/<tid>/`) follow no v2 template either.
//!
//! # Protected-resource metadata (RFC 9728) and MCP servers
//!
//! An API says what it is with `[oidc.resource]`: its resource identifier
//! (the URL clients name as `resource`, RFC 8707) and what clients should
//! know. MCP servers must: the MCP authorization specification has clients
//! start from RFC 9728 metadata.
//!
//! ```toml
//! [default.oidc.resource]
//! identifier = "https://api.example.com/mcp"
//! scopes_supported = ["tools:read", "tools:call"]
//! resource_name = "Example tools"
//! # authorization_servers = [...]   # default: every provider's issuer and trusted issuer
//! # require_audience = true         # default
//! ```
//!
//! * **The metadata.** The fairing serves the document at the RFC 9728 §3.1
//!   URL, the well-known path put between the identifier's host and its
//!   path (`/.well-known/oauth-protected-resource/mcp` here), and at
//!   `/.well-known/oauth-protected-resource` for clients that look only
//!   there (a strict client of §3.3 would want `resource` to be the bare
//!   origin there; the document is the same at both): `resource` (the identifier,
//!   exactly as configured, §3.3), `authorization_servers` (by default
//!   every provider's issuer and `bearer.trusted_issuers`; a multi-tenant
//!   template is no server, so name its tenants' issuers yourself),
//!   `bearer_methods_supported` (`["header"]`), `scopes_supported`, the
//!   DPoP algorithms when a provider takes DPoP (and
//!   `dpop_bound_access_tokens_required` when every one requires it), and
//!   the optional names and links. It is public, cacheable for five
//!   minutes, and readable from any origin (no credentials are involved).
//! * **The pointer.** Every `401` and `403` challenge of [`BearerToken`]
//!   carries `resource_metadata="<that URL>"` (§5.1): an MCP client's first
//!   request, without a token, is where it learns how to get one.
//! * **The audience.** Tokens must be for this resource: a token's `aud` (a
//!   JWT's, or the introspection answer's) must contain the identifier,
//!   compared exactly, and a token naming no audience is refused (RFC 8707
//!   §2, RFC 9068 §4): another API's token from the same provider cannot
//!   be replayed here. `bearer.audiences` defaults to the identifier too.
//!   `require_audience = false` leaves the audience to `bearer.audiences`
//!   alone.
//!
//! `examples/mcp_server.rs` is a complete MCP-style JSON-RPC server behind
//! `BearerToken`; its end-to-end test walks what an MCP client does
//! against a real provider: the `401`, the metadata, the provider's
//! metadata, dynamic registration, an authorization code with PKCE and
//! `resource`, and the call.
//!
//! # Testing your app
//!
//! With the `testing` feature, [`testing::TestIssuer`] is a real OpenID
//! Provider that runs inside your tests: discovery, a fresh ES256 key, the
//! code flow with PKCE, refresh, client credentials, userinfo,
//! introspection, revocation and back-channel logout. Log a user in on a
//! `rocket::local::asynchronous::Client` with [`testing::TestIssuer::login_as`]
//! and mint bearer tokens, good and bad, with
//! [`testing::TestIssuer::access_token`]. Your app talks to it over HTTP
//! as to any provider, and the crate validates what it answers as it
//! would a production provider's: nothing is mocked or skipped, so a token
//! it would refuse from a real provider is refused here too.
//!
//! ```toml
//! [dev-dependencies]
//! rocket_openidconnect = { version = "0.1", features = ["testing"] }
//! ```
//!
//! ```rust
//! use rocket::{get, routes};
//! use rocket::http::{Header, Status};
//! use rocket::local::asynchronous::Client;
//! use rocket_openidconnect::testing::{TestIssuer, TestUser};
//! use rocket_openidconnect::{BearerToken, DefaultProvider, Oidc, OidcUser, scopes};
//!
//! scopes!(Read = "read");
//!
//! #[get("/me")]
//! fn me(user: OidcUser) -> String {
//!     user.subject().to_string()
//! }
//!
//! #[get("/api")]
//! fn api(_token: BearerToken<DefaultProvider, Read>) -> &'static str {
//!     "secret data"
//! }
//!
//! # rocket::async_test(async {
//! let issuer = TestIssuer::start().await?;
//! let app = rocket::build().attach(Oidc::fairing()).mount("/", routes![me, api]);
//! // The app's `default` provider now points at the issuer; the rest of its
//! // configuration (store, scopes, bearer settings) stays.
//! let client = Client::tracked(issuer.configure(app)).await?;
//!
//! issuer.login_as(&client, TestUser::new("alice").claim("groups", ["admins"])).await?;
//! let response = client.get("/me").dispatch().await;
//! assert_eq!(response.status(), Status::Ok);
//! assert_eq!(response.into_string().await.as_deref(), Some("alice"));
//!
//! let token = issuer.access_token().subject("svc").scopes(["read"]).jwt();
//! let call = client.get("/api").header(Header::new("Authorization", format!("Bearer {token}")));
//! assert_eq!(call.dispatch().await.status(), Status::Ok);
//!
//! // The tokens an app must refuse: expired, another audience, forged.
//! for bad in [
//!     issuer.access_token().scopes(["read"]).expired().jwt(),
//!     issuer.access_token().scopes(["read"]).audience("another-api").opaque(),
//!     issuer.access_token().signed_by_unknown_key().scopes(["read"]).jwt(),
//! ] {
//!     let call = client.get("/api").header(Header::new("Authorization", format!("Bearer {bad}")));
//!     assert_eq!(call.dispatch().await.status(), Status::Unauthorized);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! Several providers: start one issuer per provider and
//! [`configure_as("name", rocket)`](testing::TestIssuer::configure_as).
//! The stores (`cookie`, `memory`, `redis`) work as configured.
//! [`issuer.backchannel_logout(&client, "alice")`](testing::TestIssuer::backchannel_logout)
//! logs a user out at the provider. A [`testing::ManualClock`], given to
//! [`Oidc::fairing().with_clock(..)`](OidcFairing::with_clock) and to
//! [`TestIssuer::builder().clock(..)`](testing::TestIssuerBuilder::clock),
//! reaches a session's lifetime or inactivity timeout, or a token's
//! expiry, without waiting. `tests/it/kit_app.rs` is a small app tested
//! only this way.
//!
//! The same issuer is a development provider in pure Rust, no Node
//! needed ([`testing::TestIssuer::builder`] with a fixed port and client,
//! in a `main` of a few lines): `cargo run --example dev_provider` serves
//! 127.0.0.1:9000 (client `demo`) and :9001 (client `demo2`), the providers
//! of the demo's `Rocket.toml`. Its login page lets you pick the user and
//! their claims, and `/sessions` lists who is logged in, with a button
//! that sends a back-channel logout to the app.
//!
//! # How a request goes through the crate
//!
//! 1. **Launch.** [`Oidc::fairing()`] reads and checks the `oidc`
//!    configuration (a bad key aborts launch naming it), derives the cookie
//!    key from Rocket's `secret_key`, builds one state per provider (its
//!    metadata and keys are fetched on first use, so a provider that is down
//!    does not stop the app) and the server-side state (in the process, or in
//!    Redis), mounts the callback, logout and back-channel logout routes and
//!    registers the error catchers.
//! 2. **A navigation without a session.** [`OidcUser`] finds no session of
//!    its provider in the request's cookies and starts a login: a random
//!    `state`, `nonce` and PKCE verifier are sealed into a short-lived
//!    cookie of this browser, the authorization request is built (pushed to
//!    the provider first with PAR), and the guard's `401` leaves as a `302` to
//!    the provider. An API request gets the `401` itself.
//! 3. **The provider** authenticates the user and sends the browser to
//!    `redirect_uri` with `code`, `state` and (RFC 9207) `iss`.
//! 4. **The callback** accepts the response only for a login pending in this
//!    very browser, once on every instance, from the provider that login went
//!    to. It exchanges the code with the PKCE verifier, authenticating the
//!    client, and validates the ID token: signature with the provider's keys
//!    under an algorithm allow-list, `iss`, `aud`/`azp`, `exp`/`iat` with
//!    `clock_skew_seconds`, `nonce`, and any requested `acr`/`max_age`. It
//!    fetches userinfo (same `sub`) and stores a new [`UserSession`]:
//!    encrypted in the cookies, or server-side with a sealed id in a cookie.
//!    A `303` returns the browser to where it was going.
//! 5. **The next requests.** The guard opens the session cookie (a cookie
//!    seen before is recognised by its exact bytes, so no decryption), then
//!    checks the session's lifetime, inactivity and logouts on every request.
//!    It refreshes tokens or re-checks the login silently when configured,
//!    and holds the route's step-up requirement. The handler gets the user.
//! 6. **Anything refused** is an [`OidcError`] kept for the catchers, which
//!    answer an HTML page to browsers and JSON with an RFC 6750 challenge to
//!    APIs (see [Errors](#errors)).
//!
//! # Performance
//!
//! A logged-in request costs almost nothing next to an unprotected one:
//!
//! * A session cookie opened once is remembered by its exact sealed value
//!   (`session.cache_entries`, default 10,000, least recently used out
//!   first): the same bytes again need no decryption and no parse. Equal
//!   bytes are the only way to hit, so a changed cookie is opened and
//!   authenticated as usual; expiry, lifetime, inactivity and logouts are
//!   still checked on every request.
//! * A valid bearer token's answer is cached (`bearer.cache_entries`) and
//!   found by the token itself, so a hit costs one hash of the token and
//!   one comparison: no digest, no provider call, no signature check.
//! * Claims are parsed once per session; [`UserSession::id_token_claims_json`],
//!   [`UserSession::userinfo_json`] and [`TokenIdentity::claims_json`] give
//!   them as raw JSON to embed in a response without serialising again.
//! * The request's cookie jar and session live in one per-request state,
//!   and the jar shares the cached copy of a session cookie instead of
//!   copying it.
//! * The guards' rare paths (the login redirect, a refresh) run in futures
//!   of their own, so the future Rocket allocates for every request stays
//!   small.
//!
//! The README gives the measured numbers (`scripts/bench.sh` against the
//! release demo, `cargo bench --bench guard` in process).
//!
//! # Errors
//!
//! Failures are [`OidcError`]s, answered with the statuses of the table
//! below. The crate's catchers, which the fairing registers for 400, 401,
//! 403, 429, 502 and 503, render them as a small HTML page for browsers
//! and as JSON `{"error", "error_description"}` otherwise.
//!
//! | status | `error` | when |
//! |---|---|---|
//! | 302 | | browser without a session: sent to the provider |
//! | 400 | `invalid_request`, `invalid_state` | malformed callback; unknown, replayed or foreign `state` |
//! | 401 | `login_required` | API request without a session |
//! | 401 | provider's code, `invalid_id_token`, `invalid_issuer`, `invalid_userinfo` | the provider refused, or its answer failed validation |
//! | 502 | `provider_unavailable`, `session_too_large` | provider down or answering nonsense; a session over the size limit |
//! | 429 | `too_many_requests` | one account or DPoP key used up its share of a ledger (`Retry-After`) |
//! | 503 | `temporarily_unavailable` | Redis unreachable or slow, or an in-process ledger full; a bearer token that cannot be checked now; `limits.provider_calls_per_second` used up (`Retry-After`) |
//!
//! To render one yourself, register your own catcher at `/` for that
//! status: the crate then leaves it to you, and [`OidcError::of`] gives
//! the error.
//!
//! ```rust
//! use rocket::{catch, catchers, launch};
//! use rocket::Request;
//! use rocket::response::content::RawHtml;
//! use rocket_openidconnect::{Oidc, OidcError};
//!
//! #[catch(502)]
//! fn provider_down(request: &Request) -> RawHtml<String> {
//!     let why = OidcError::of(request).map(|e| e.code().to_string()).unwrap_or_default();
//!     RawHtml(format!("<h1>Sign-in is unavailable right now</h1><p>{why}</p>"))
//! }
//!
//! #[launch]
//! fn rocket() -> _ {
//!     rocket::build().attach(Oidc::fairing()).register("/", catchers![provider_down])
//! }
//! ```
//!
//! A `401` that starts a login is turned into the redirect to the provider
//! whatever catcher rendered it, so your own `401` catcher never breaks
//! logins.

#![cfg_attr(docsrs, feature(doc_cfg))]

// Layers, top to bottom; a module imports only from its own layer and the
// ones below it (checked by `tests/it/layering.rs`):
//   testing  the test kit (feature `testing`): an in-process issuer for app tests
//   web      the fairing, routes, catchers, guards, the request memo
//   flow     login, callback, refresh, logout, back-channel, client credentials
//   oidc     the app-wide object (`Oidc`)
//   store    what outlives a request server-side: in-process or Redis
//   session  UserSession, the cookie jar, cipher and cookie codec
//   token    token validation and token-endpoint calls
//   provider the remote OP: metadata, keys, registration, HTTP
//   config   the configuration schema and its validation
//   leaves   error, secret, clock, cache, telemetry, client_key, owner_file
//   roots    random, jose (compact JWS, keys and signing, thumbprints), which any leaf may use
/// Logs through the `log` facade (the one Rocket uses) under the target
/// `rocket_openidconnect`, whichever module speaks: `event!(info, "...")`.
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ::log::$level!(target: "rocket_openidconnect", "{}", $crate::error::log_line(format!($($arg)+)))
    };
}

mod cache;
mod client_key;
pub mod clock;
pub mod config;
pub mod error;
mod flow;
mod jose;
mod oidc;
mod owner_file;
mod provider;
mod random;
pub mod secret;
mod session;
mod store;
mod telemetry;
mod token;
mod web;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

/// The integration tests' helpers name the crate, as any user does.
#[cfg(test)]
extern crate self as rocket_openidconnect;

/// Hand-built JWTs and keys of the integration tests, for unit tests.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../tests/support/jwt.rs"]
mod test_jwt;

/// Strategies for the parsers' property tests.
#[cfg(test)]
mod test_fuzz;

/// The README's examples compile.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use self::config::{Authorization, DefaultProvider, NoAuthorization, NoRequirement, ProviderName, Requirement};
pub use self::error::OidcError;
pub use self::flow::client_credentials::ClientCredentials;
pub use self::oidc::Oidc;
pub use self::session::UserSession;
pub use self::token::access::{TokenIdentity, TokenValidation};
pub use self::token::service::ServiceToken;
pub use self::web::catchers::error_view;
pub use self::web::fairing::OidcFairing;
pub use self::web::guard::{BearerToken, Identity, NoScopes, OidcUser, RequiredScopes, ValidAccessToken};
pub use self::web::readiness::{ProviderReadiness, Readiness, RedisReadiness};

/// The configuration library Rocket reads `Rocket.toml` with, which
/// [`OidcConfig::from_figment`](config::OidcConfig::from_figment) takes: the same version as Rocket's.
pub use figment;

#[doc(hidden)]
pub use self::config::claim_path::valid as __valid_claim_path;
