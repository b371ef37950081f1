//! Configuration read from the `oidc` key of Rocket's figment.
//!
//! Every key, its meaning and its default is documented on the struct fields
//! below; the TOML layout is shown in the [crate documentation](crate#configuration).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::client_key::{AssertionAlg, PrivateKey};
use crate::secret::{key_bytes, ClientSecret, PreviousSecretKey, PrivateKeyJwk};

mod metadata;
pub(crate) use metadata::is_loopback;
mod names;

pub use self::metadata::ProviderMetadata;
pub use self::names::{DefaultProvider, NoRequirement, ProviderName, Requirement};

/// The whole `[default.oidc]` table.
///
/// ```rust
/// use rocket_openidconnect::config::OidcConfig;
///
/// let figment = rocket::figment::Figment::new().merge(("oidc", rocket::serde::json::json!({
///     "redirect_uri": "http://127.0.0.1:8000/redirect_uri",
///     "providers": { "default": {
///         "issuer": "http://127.0.0.1:9000", "client_id": "demo", "client_secret": "demo-secret"
///     } }
/// })));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// assert_eq!(config.clock_skew_seconds, 60);
/// assert_eq!(config.callback_path(), "/redirect_uri");
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OidcConfig {
    /// `redirect_uri` (required): the absolute URL the provider sends the
    /// browser back to. The callback route is mounted at its path.
    pub redirect_uri: Url,
    /// `logout_path` (default `"/logout"`): the logout route (GET and POST).
    #[serde(default = "default_logout_path")]
    pub logout_path: String,
    /// `post_logout_redirect_uri` (default: the site root of `redirect_uri`):
    /// where the provider sends the browser back after logout. Must be on
    /// the site of `redirect_uri` or listed in the provider's
    /// `post_logout_redirect_uris`.
    #[serde(default)]
    pub post_logout_redirect_uri: Option<Url>,
    /// `backchannel_logout_path` (default `"/backchannel_logout"`): the route
    /// providers POST logout tokens to (OpenID Connect Back-Channel Logout 1.0).
    #[serde(default = "default_backchannel_logout_path")]
    pub backchannel_logout_path: String,
    /// `clock_skew_seconds` (default `60`): leeway for `exp`, `iat` and `nbf`.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_seconds: u64,
    /// `http_timeout_seconds` (default `5`): timeout of every call to a provider.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_seconds: u64,
    /// `[oidc.session]`: how user sessions are kept.
    #[serde(default)]
    pub session: SessionConfig,
    /// `[oidc.redis]` (optional): state shared by every instance of the
    /// app. Without it, server-side state lives in this process.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// `[oidc.limits]`: bounds of the state kept in this process.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[oidc.providers.<name>]` (at least one): the OpenID Providers, by the
    /// name guards refer to. [`OidcUser`](crate::OidcUser) uses `default`.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// `previous_secret_keys` (default none, at most 8): former values of
    /// Rocket's `secret_key`, written the same way (base64 or hex). What
    /// they sealed (cookies, values in Redis) still opens, and a session
    /// cookie opened with one is sealed again under `secret_key`: the key
    /// can be rotated without logging anyone out.
    #[serde(default)]
    pub previous_secret_keys: Vec<PreviousSecretKey>,
    /// `doctor` (default `true`): at liftoff, in the background, read each
    /// provider's metadata and warn in the log about what will break (a
    /// logout without `end_session_endpoint`, introspection without an
    /// endpoint, scopes, response mode or client authentication it does not
    /// offer, a clock drift past `clock_skew_seconds`, an `http`
    /// `redirect_uri` in the release profile). Never delays or fails launch.
    #[serde(default = "default_true")]
    pub doctor: bool,
}

/// The most keys `previous_secret_keys` may list (a cookie no key opens is
/// tried under each of them).
const MAX_PREVIOUS_KEYS: usize = 8;

/// The `[default.oidc.session]` table.
///
/// ```rust
/// use rocket_openidconnect::config::SessionConfig;
///
/// let session = SessionConfig::default();
/// assert_eq!(session.lifetime_seconds, 31 * 24 * 3600);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionConfig {
    /// `store` (default `"cookie"`): where sessions live. `"cookie"` keeps
    /// them in encrypted cookies, split across several when large.
    #[serde(default)]
    pub store: SessionStoreKind,
    /// `lifetime_seconds` (default `2678400`, 31 days): absolute lifetime of
    /// a session from the login that created it.
    #[serde(default = "default_session_lifetime")]
    pub lifetime_seconds: u64,
    /// `inactivity_timeout_seconds` (default `0`, off): a session unused
    /// this long ends. Its activity stamp is renewed at most every tenth of
    /// the timeout (between 1 s and 5 min), so most requests store nothing.
    /// A session keeps the timeout it began with: it is held to the shorter
    /// of that and the one configured now, so turning the timeout off (or
    /// raising it) frees no session begun under a shorter one, nor a copy of
    /// one logged out.
    #[serde(default)]
    pub inactivity_timeout_seconds: u64,
    /// `cache_entries` (default `10000`, `0`: off, at most `10000000`): session cookies this
    /// process remembers having opened, by their exact sealed value, so a
    /// logged-in request costs no decryption and no parse. Expiry and
    /// logouts are still checked on every request.
    #[serde(default = "default_session_cache_entries")]
    pub cache_entries: usize,
    /// `max_cookie_chunks` (default `8`, from 1 to 8): how many cookies of
    /// about 4 KB a session of the `cookie` store may take. Proxies and
    /// servers commonly refuse a `Cookie` header past 8 KB (`431`, or a
    /// silent login loop); `2` keeps the session under it. A login whose
    /// session needs more is answered `502 session_too_large`, naming what
    /// takes the room, and never loops.
    #[serde(default = "default_max_cookie_chunks")]
    pub max_cookie_chunks: usize,
    /// `logout_records_path` (optional; the `cookie` store without
    /// `[oidc.redis]`): a file
    /// where this process writes down its logouts, so that they outlive a
    /// restart. One process per file (a lock refuses a second), written
    /// owner-only. Without it (and without Redis), a restart forgets the
    /// logouts of the `cookie` store, so every cookie session authenticated
    /// before the restart is refused once (the users log in again).
    #[serde(default)]
    pub logout_records_path: Option<std::path::PathBuf>,
}

fn default_max_cookie_chunks() -> usize {
    crate::config::MAX_COOKIE_CHUNKS
}

/// The most cookies one session may use (`session.max_cookie_chunks`).
pub(crate) const MAX_COOKIE_CHUNKS: usize = 8;

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            store: SessionStoreKind::default(),
            lifetime_seconds: default_session_lifetime(),
            inactivity_timeout_seconds: 0,
            cache_entries: default_session_cache_entries(),
            max_cookie_chunks: default_max_cookie_chunks(),
            logout_records_path: None,
        }
    }
}

/// The value of `session.store`.
///
/// ```rust
/// use rocket_openidconnect::config::SessionStoreKind;
///
/// assert_eq!(SessionStoreKind::default(), SessionStoreKind::Cookie);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionStoreKind {
    /// Encrypted, authenticated cookies (Rocket's `secret_key` derives the key).
    #[default]
    Cookie,
    /// In this process's memory, bounded, with only a session id in the
    /// cookie: logout makes a captured cookie worthless, and back-channel
    /// logout ends sessions at once. Sessions do not survive a restart,
    /// and other instances of the app do not see them.
    Memory,
    /// In Redis (`[oidc.redis]`), with only a session id in the cookie:
    /// like `"memory"`, for every instance of the app at once.
    Redis,
}

/// The `[default.oidc.redis]` table: Redis as the state every instance of
/// the app shares (sessions with `session.store = "redis"`, used states,
/// back-channel logout token ids, logged-out sessions, refresh locks).
///
/// ```rust
/// use rocket_openidconnect::config::RedisConfig;
///
/// let redis: RedisConfig = rocket::serde::json::from_str(r#"{ "url": "redis://127.0.0.1:6379/0" }"#).unwrap();
/// assert_eq!(redis.key_prefix, "oidc:");
/// assert_eq!(redis.timeout_ms, 1000);
/// assert_eq!(format!("{:?}", rocket::serde::json::from_str::<RedisConfig>(
///     r#"{ "url": "redis://:hunter2@127.0.0.1/0" }"#).unwrap().url), r#"RedisUrl("redis://:[redacted]@127.0.0.1/0")"#);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `url` (required): `redis://[user:password@]host[:port][/db]`, or
    /// `rediss://...` for TLS.
    pub url: RedisUrl,
    /// `key_prefix` (default `"oidc:"`): every key the crate writes starts
    /// with it, so several apps can share one Redis.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// `timeout_ms` (default `1000`): the most a connection attempt or a
    /// command may take; past it the request answers `503`.
    #[serde(default = "default_redis_timeout")]
    pub timeout_ms: u64,
    /// `ca_certificate_path` (optional, `rediss://` only): a PEM file of the
    /// certificate authorities to trust instead of the system's.
    #[serde(default)]
    pub ca_certificate_path: Option<std::path::PathBuf>,
    /// `local_cache_seconds` (default `2`, at most `60`; `0`: off): each
    /// instance keeps what it read from Redis (sessions, "not logged out")
    /// this long, dropped as soon as another instance announces a change
    /// (Redis pub/sub), so a logged-in request needs no round trip. A
    /// logout is honoured everywhere once Redis has delivered the
    /// announcement (normally within milliseconds), and after this long at
    /// the latest; `0` asks Redis on every request.
    #[serde(default = "default_local_cache_seconds")]
    pub local_cache_seconds: u64,
}

/// A Redis URL; its password prints as `[redacted]`.
///
/// ```rust
/// use rocket_openidconnect::config::RedisUrl;
///
/// let url: RedisUrl = rocket::serde::json::from_str(r#""rediss://app:s3cret@redis.internal:6380/2""#).unwrap();
/// assert_eq!(url.secret(), "rediss://app:s3cret@redis.internal:6380/2");
/// assert!(!format!("{url:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL itself, password included. Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("[redacted]"));
                url.to_string().replace("%5Bredacted%5D", "[redacted]")
            }
            Ok(url) => url.to_string(),
            Err(_) => "[unparsable]".to_string(),
        };
        f.debug_tuple("RedisUrl").field(&shown).finish()
    }
}

/// The `[default.oidc.limits]` table: how much state this process keeps.
/// Ledgers whose loss would let something in again (used states, logout
/// token ids, logged-out sessions) never forget a live entry: when one is
/// full of unexpired entries, the request that needs a new entry gets
/// `503` (and the log says which limit to raise). With `[oidc.redis]`
/// these ledgers live in Redis instead, bounded by its memory: of the
/// limits, `sessions_per_subject`, `revocations_per_subject`,
/// `dpop_proofs_per_subject` and `provider_calls_per_second` (in each
/// instance) still apply.
///
/// ```rust
/// use rocket_openidconnect::config::LimitsConfig;
///
/// let limits = LimitsConfig::default();
/// assert_eq!(limits.sessions, 100_000);
/// assert_eq!(limits.sessions_per_subject, 16);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// `sessions` (default `100000`): sessions the `memory` store keeps.
    /// A login makes room from its own user's sessions, then from expired
    /// ones; a store still full of other users' live sessions refuses it
    /// (`503`) rather than end someone else's session.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// `sessions_per_subject` (default `16`): sessions one user (provider
    /// and `sub`) may have in the `memory` or `redis` store; a new login
    /// past it ends that user's oldest session, never someone else's.
    #[serde(default = "default_sessions_per_subject")]
    pub sessions_per_subject: usize,
    /// `used_states` (default `100000`): login `state`s remembered as used
    /// (each for 10 minutes). Those of callbacks whose code was not
    /// redeemed yet give way to newer ones when full (anyone can send a
    /// callback); those that gave a login never do.
    #[serde(default = "default_ledger")]
    pub used_states: usize,
    /// `used_states_per_subject` (default `100`): of those that gave a
    /// login, how many one user (provider and `sub`) may hold; past it,
    /// that user's next login is refused (`429`) until some expire, and
    /// nobody else's is.
    #[serde(default = "default_per_owner")]
    pub used_states_per_subject: usize,
    /// `logout_tokens` (default `100000`): back-channel logout token ids
    /// remembered (each until the token's `exp`).
    #[serde(default = "default_ledger")]
    pub logout_tokens: usize,
    /// `dpop_proofs` (default `100000`): DPoP proof ids (`jti`) remembered
    /// as used (each for the proof's acceptance window, and never past its
    /// token's expiry), recorded once the token they go with was found
    /// valid and bound to their key.
    #[serde(default = "default_ledger")]
    pub dpop_proofs: usize,
    /// `dpop_proofs_per_subject` (default `10000`): how many of those the
    /// tokens of one subject may hold (their `sub` through one
    /// `client_id`, else their `client_id`, else their key: whoever they
    /// speak for, however many keys they use), in process and in Redis;
    /// past it, that subject's requests are refused (`429`) until some
    /// expire, and nobody else's are. A proof is held until
    /// `clock_skew_seconds` after its `iat`: with the defaults, a subject
    /// may make some 160 DPoP requests a second, sustained; raise it for
    /// busier machine clients. In process, `dpop_proofs` / this many owners
    /// at their share fill the ledger (10 with the defaults): raise
    /// `dpop_proofs` with the number of busy owners you serve, or keep the
    /// proofs in Redis, where only the share applies.
    #[serde(default = "default_dpop_proofs_per_subject")]
    pub dpop_proofs_per_subject: usize,
    /// `revocations` (default `100000`): logouts remembered, in three lists
    /// of this size each: sessions logged out by the app (cookie store),
    /// and `sid`s and `sub`s logged out by the provider (every store: a
    /// login finishing meanwhile is ended too). A session's is kept until
    /// it would have expired, by the lifetime and inactivity timeout it
    /// began with; a `sid`'s or `sub`'s for the lifetime configured (in
    /// process without `logout_records_path`, the inactivity timeout when
    /// one is set: every session accepted began under it), and with the
    /// server-side stores as long as a login can take.
    #[serde(default = "default_ledger")]
    pub revocations: usize,
    /// `revocations_per_subject` (default `100`): single logged-out
    /// sessions one user may hold (in process and in Redis); past it, they
    /// become one record: that user's sessions authenticated until the
    /// latest of them are over (all still refused, but for the user's own
    /// login racing the provider's logout of its `sid`; at worst, the
    /// user's older sessions elsewhere end too). One account logging in and
    /// out in a loop fills nothing for others.
    #[serde(default = "default_per_owner")]
    pub revocations_per_subject: usize,
    /// `provider_calls_per_second` (default `20`, twice that in a burst;
    /// `0`: no limit): calls to each provider that requests nobody has
    /// authenticated yet may cause a second, in this process, each kind its own
    /// budget: pushed authorization requests, introspection of tokens not
    /// seen before. One source address (Rocket's `client_ip()`: set
    /// Rocket's `ip_header` to the header your proxy sets, or `false`
    /// without one) may spend a quarter. Logged-in users' silent re-checks
    /// and step-ups spend a budget as large apart, each user a burst of
    /// half the rate and then a quarter of it a minute. Past a share or
    /// the whole, a login falls back to a front-channel request where the
    /// provider allows it; otherwise the request gets `429` (its share) or
    /// `503` (the whole) rather than spend the provider's rate limits for
    /// everyone.
    #[serde(default = "default_provider_calls")]
    pub provider_calls_per_second: u32,
}

fn default_provider_calls() -> u32 {
    20
}

fn default_per_owner() -> usize {
    100
}

fn default_dpop_proofs_per_subject() -> usize {
    10_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            sessions: default_sessions(),
            sessions_per_subject: default_sessions_per_subject(),
            used_states: default_ledger(),
            logout_tokens: default_ledger(),
            dpop_proofs: default_ledger(),
            revocations: default_ledger(),
            used_states_per_subject: default_per_owner(),
            dpop_proofs_per_subject: default_dpop_proofs_per_subject(),
            revocations_per_subject: default_per_owner(),
            provider_calls_per_second: default_provider_calls(),
        }
    }
}

/// One `[default.oidc.providers.<name>]` table.
///
/// Exactly one of `issuer` (discovery at `{issuer}/.well-known/openid-configuration`),
/// `discovery_url` or `metadata` locates the provider; `issuer` may be given
/// together with either of the others and must then match them.
///
/// ```rust
/// use rocket_openidconnect::{config::{OidcConfig, TokenEndpointAuthMethod}};
///
/// let figment = rocket::figment::Figment::new().merge(("oidc", rocket::serde::json::json!({
///     "redirect_uri": "http://127.0.0.1:8000/redirect_uri",
///     "providers": { "default": {
///         "issuer": "http://127.0.0.1:9000", "client_id": "demo",
///         "client_secret": "demo-secret", "token_endpoint_auth_method": "client_secret_post"
///     } }
/// })));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// let provider = &config.providers["default"];
/// assert_eq!(provider.token_endpoint_auth_method, TokenEndpointAuthMethod::ClientSecretPost);
/// assert_eq!(provider.scopes, ["openid"]);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// `redirect_uri` (default: the shared `oidc.redirect_uri`): this
    /// provider's own callback URL, mounted at its path. Responses for this
    /// provider are accepted there only, which proves which provider sent
    /// them (RFC 9700 §4.4.2, mix-up attacks) even when it does not send
    /// RFC 9207 `iss`. Providers sharing a callback must send `iss`.
    #[serde(default)]
    pub redirect_uri: Option<Url>,
    /// `issuer`: the provider's Issuer Identifier; discovery happens at
    /// `{issuer}/.well-known/openid-configuration` unless `discovery_url` or
    /// `metadata` is given. The discovered `issuer` must equal it exactly.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `discovery_url`: an explicit discovery document URL.
    #[serde(default)]
    pub discovery_url: Option<Url>,
    /// `metadata`: static provider metadata instead of discovery.
    #[serde(default)]
    pub metadata: Option<ProviderMetadata>,
    /// `client_id`: the client registered at the provider; required unless
    /// a `registration` table asks for dynamic registration.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `[oidc.providers.<name>.registration]`: register the client
    /// dynamically (RFC 7591) on first use instead of `client_id`.
    #[serde(default)]
    pub registration: Option<RegistrationConfig>,
    /// `client_secret`: required unless `token_endpoint_auth_method = "none"`.
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// `client_secret_file`: a file holding the client secret (a mounted
    /// secret), read at launch, instead of `client_secret`; a trailing
    /// newline is not part of it. After [`OidcConfig::from_figment`],
    /// `client_secret` holds what it read.
    #[serde(default)]
    pub client_secret_file: Option<std::path::PathBuf>,
    /// `token_endpoint_auth_method` (default `"client_secret_basic"`):
    /// also `"client_secret_post"`, `"client_secret_jwt"`,
    /// `"private_key_jwt"` or `"none"`. Every client-authenticated call
    /// uses it: token, refresh, introspection, revocation, client
    /// credentials.
    #[serde(default)]
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// `private_key_path` (with `private_key_jwt`): a PEM file of the
    /// client's private key, PKCS#8 (`BEGIN PRIVATE KEY`, RSA or EC P-256),
    /// PKCS#1 or SEC1; read at launch. Its `kid` is the RFC 7638 thumbprint.
    #[serde(default)]
    pub private_key_path: Option<std::path::PathBuf>,
    /// `private_key_jwk` (with `private_key_jwt`, instead of
    /// `private_key_path`): the private key as an inline JWK; `kid` taken
    /// from it or the RFC 7638 thumbprint.
    #[serde(default)]
    pub private_key_jwk: Option<PrivateKeyJwk>,
    /// `token_endpoint_auth_signing_alg` (default: the JWK's `alg`, else
    /// `ES256` for an EC key, and for RSA `RS256`, or `PS256` when the
    /// provider only advertises that): the client assertion's algorithm.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// The key of `private_key_path` or `private_key_jwk`, read by
    /// [`OidcConfig::from_figment`].
    #[serde(skip)]
    pub(crate) private_key: Option<std::sync::Arc<PrivateKey>>,
    /// `scopes` (default `["openid"]`): must contain `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// `auth_request_params` (default none): extra authorization request
    /// parameters such as `prompt` or `acr_values`. The parameters the
    /// library sets itself (`state`, `nonce`, PKCE...) cannot be overridden.
    #[serde(default)]
    pub auth_request_params: BTreeMap<String, String>,
    /// `userinfo_http_method` (default `"GET"`): `"GET"`, `"POST"`, or
    /// `"none"` to never call the userinfo endpoint.
    #[serde(default)]
    pub userinfo_http_method: UserinfoMethod,
    /// `session_refresh_interval_seconds` (default `0`, off): after this
    /// long, a browser navigation is silently re-authenticated with
    /// `prompt=none`; if the provider says the user is no longer logged in,
    /// the session ends and an interactive login starts.
    #[serde(default)]
    pub session_refresh_interval_seconds: u64,
    /// `refresh_before_expiry_seconds` (default `0`, off): when the access
    /// token expires within this many seconds, [`OidcUser`](crate::OidcUser)
    /// refreshes it first; if that fails, the session ends.
    #[serde(default)]
    pub refresh_before_expiry_seconds: u64,
    /// `post_logout_redirect_uris` (default none): post-logout URIs allowed
    /// besides the site's own, and registered with dynamic registration.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<Url>,
    /// `[oidc.providers.<name>.bearer]`: how [`BearerToken`](crate::BearerToken)
    /// validates access tokens from this provider.
    #[serde(default)]
    pub bearer: BearerConfig,
    /// `[oidc.providers.<name>.session]`: which of this provider's claims
    /// a session keeps.
    #[serde(default)]
    pub session: ProviderSessionConfig,
    /// `pushed_authorization_requests` (default `"auto"`): whether logins
    /// push their authorization request to the provider first (RFC 9126),
    /// so the browser's redirect carries only `client_id` and `request_uri`.
    #[serde(default)]
    pub pushed_authorization_requests: PushedAuthorizationRequests,
    /// `client_assertion_audience` (default `"issuer"`): the `aud` of the
    /// client assertions (`private_key_jwt`, `client_secret_jwt`).
    /// `"issuer"` is the provider's issuer identifier, one string, for
    /// every endpoint, as the OpenID specifications and
    /// draft-ietf-oauth-rfc7523bis now require: an assertion addressed to
    /// one provider is worthless at another. `"endpoint"` is the URL of
    /// the endpoint the assertion is sent to, for servers that insist on
    /// it.
    #[serde(default)]
    pub client_assertion_audience: ClientAssertionAudience,
    /// `allowed_endpoint_origins` (default none): origins
    /// (`https://host[:port]`) other than the issuer's where this
    /// provider's metadata may put endpoints. Metadata naming an endpoint
    /// elsewhere is refused (at launch for static `metadata`, at discovery
    /// otherwise): it could send a code or a client assertion meant for
    /// this provider to another one. Google, for one, serves its token
    /// endpoint on `https://oauth2.googleapis.com`.
    #[serde(default)]
    pub allowed_endpoint_origins: Vec<Url>,
}

/// `client_assertion_audience`: what a client assertion names as its `aud`.
///
/// ```rust
/// use rocket_openidconnect::config::ClientAssertionAudience;
///
/// assert_eq!(ClientAssertionAudience::default(), ClientAssertionAudience::Issuer);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAssertionAudience {
    /// The provider's issuer identifier, whatever the endpoint.
    #[default]
    Issuer,
    /// The URL of the endpoint the assertion is sent to.
    Endpoint,
}

impl ProviderConfig {
    /// The issuer identifier this configuration names itself: `issuer`, or
    /// that of the static `metadata` (`None` until discovery otherwise).
    pub(crate) fn static_issuer(&self) -> Option<&str> {
        self.issuer
            .as_deref()
            .or_else(|| self.metadata.as_ref().map(|m| m.issuer.as_str()))
    }
}

/// `pushed_authorization_requests` (RFC 9126).
///
/// ```rust
/// use rocket_openidconnect::config::PushedAuthorizationRequests;
///
/// assert_eq!(PushedAuthorizationRequests::default(), PushedAuthorizationRequests::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PushedAuthorizationRequests {
    /// When the provider advertises `pushed_authorization_request_endpoint`.
    #[default]
    Auto,
    /// Always; a login fails (502) when the provider has no PAR endpoint.
    Always,
    /// Never; a login fails (502) when the provider sets
    /// `require_pushed_authorization_requests`, rather than sending a
    /// request the provider will refuse.
    Never,
}

/// The `[default.oidc.providers.<name>.session]` table: which claims of the
/// ID token and of userinfo a session keeps, to keep it small. The claims
/// the protocol needs (`iss`, `sub`, `aud`, `azp`, `exp`, `iat`, `nbf`,
/// `sid`, `nonce`, `auth_time`, `acr`, `amr`) are always kept, and so is
/// the raw ID token (logout sends it back as `id_token_hint`).
///
/// ```rust
/// use rocket_openidconnect::config::ProviderSessionConfig;
///
/// let session: ProviderSessionConfig =
///     rocket::serde::json::from_str(r#"{ "drop_claims": ["picture", "groups"] }"#).unwrap();
/// assert_eq!(session.drop_claims, ["picture", "groups"]);
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderSessionConfig {
    /// `keep_claims` (default: all): keep only these claims (and those the
    /// protocol needs). Cannot be combined with `drop_claims`.
    #[serde(default)]
    pub keep_claims: Vec<String>,
    /// `drop_claims` (default none): keep every claim but these.
    #[serde(default)]
    pub drop_claims: Vec<String>,
}

/// Claims a session always keeps: its checks and logout need them.
const PROTOCOL_CLAIMS: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "nbf",
    "sid",
    "nonce",
    "auth_time",
    "acr",
    "amr",
];

impl ProviderSessionConfig {
    /// Removes from `claims` what the session is not to keep.
    pub(crate) fn retain(&self, claims: &mut serde_json::Map<String, serde_json::Value>) {
        if self.keep_claims.is_empty() && self.drop_claims.is_empty() {
            return;
        }
        claims.retain(|name, _| {
            PROTOCOL_CLAIMS.contains(&name.as_str())
                || if self.keep_claims.is_empty() {
                    !self.drop_claims.contains(name)
                } else {
                    self.keep_claims.contains(name)
                }
        });
    }
}

/// The `[default.oidc.providers.<name>.bearer]` table.
///
/// ```rust
/// use rocket_openidconnect::{config::{BearerConfig, BearerMode}};
///
/// let bearer = BearerConfig::default();
/// assert_eq!(bearer.mode, BearerMode::Auto);
/// assert!(bearer.audiences.is_empty()); // meaning: the client_id
/// assert_eq!(bearer.introspection_cache_seconds, 60);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BearerConfig {
    /// `mode` (default `"auto"`): `"introspection"`, `"jwt"`, or `"auto"`
    /// (local validation for RFC 9068 JWTs, introspection otherwise).
    #[serde(default)]
    pub mode: BearerMode,
    /// `audiences` (default: the provider's `client_id`): a token's `aud`
    /// must contain one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// `introspection_cache_seconds` (default `60`, at most `86400`): how
    /// long an active introspection result is reused, never past the
    /// token's `exp`; `0` disables the cache. Refusals are remembered for at
    /// most 5 seconds, apart from the valid tokens.
    #[serde(default = "default_introspection_cache")]
    pub introspection_cache_seconds: u64,
    /// `require_audience` (default `true`): an introspection answer must
    /// carry an `aud` in `audiences`; `false` for providers that never send
    /// one (then only an `aud` that is present is checked).
    #[serde(default = "default_true")]
    pub require_audience: bool,
    /// `cache_entries` (default `10000`, 1 to `10000000`): how many valid
    /// tokens' checks are kept; the least recently used goes first.
    #[serde(default = "default_bearer_cache_entries")]
    pub cache_entries: usize,
    /// `dpop` (default `"allowed"`): DPoP-bound access tokens (RFC 9449).
    /// `"allowed"`: `Authorization: DPoP` with a `DPoP` proof is accepted
    /// besides `Bearer`, and a DPoP-bound token must come that way;
    /// `"required"`: only DPoP; `"off"`: only `Bearer`.
    #[serde(default)]
    pub dpop: DpopMode,
    /// `dpop_nonce` (default `false`): DPoP proofs must carry a nonce this
    /// app issued (`DPoP-Nonce`, RFC 9449 §9); a proof without a current one
    /// gets `401 use_dpop_nonce` with a fresh nonce. Nonces are derived from
    /// the secret key, so every instance accepts every instance's.
    #[serde(default)]
    pub dpop_nonce: bool,
}

impl Default for BearerConfig {
    fn default() -> Self {
        BearerConfig {
            mode: BearerMode::default(),
            audiences: Vec::new(),
            introspection_cache_seconds: default_introspection_cache(),
            require_audience: true,
            cache_entries: default_bearer_cache_entries(),
            dpop: DpopMode::default(),
            dpop_nonce: false,
        }
    }
}

/// Whether DPoP-bound tokens are accepted (`bearer.dpop`, RFC 9449).
///
/// ```rust
/// use rocket_openidconnect::config::DpopMode;
///
/// assert_eq!(DpopMode::default(), DpopMode::Allowed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DpopMode {
    /// Only `Authorization: Bearer`; DPoP-bound tokens are refused.
    Off,
    /// `Bearer` for plain tokens, `DPoP` with a proof for bound ones.
    #[default]
    Allowed,
    /// Only `Authorization: DPoP` with a proof, and bound tokens.
    Required,
}

/// How bearer tokens are validated (`bearer.mode`).
///
/// ```rust
/// use rocket_openidconnect::config::BearerMode;
///
/// assert_eq!(BearerMode::default(), BearerMode::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BearerMode {
    /// RFC 7662 token introspection at the provider for every (uncached) token.
    Introspection,
    /// Local validation of RFC 9068 JWT access tokens with the provider's keys.
    Jwt,
    /// JWT validation when the token is a JWT typed `at+jwt`, introspection otherwise.
    #[default]
    Auto,
}

/// The `[default.oidc.providers.<name>.registration]` table: dynamic client
/// registration (RFC 7591) on first use.
///
/// ```rust
/// use rocket_openidconnect::config::RegistrationConfig;
///
/// let registration: RegistrationConfig = rocket::serde::json::from_str(
///     r#"{ "persist_path": "/var/lib/app/oidc-client.json" }"#,
/// ).unwrap();
/// assert!(registration.redirect_uris.is_empty()); // meaning: [redirect_uri]
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistrationConfig {
    /// `redirect_uris` (default `[redirect_uri]`).
    #[serde(default)]
    pub redirect_uris: Vec<Url>,
    /// `post_logout_redirect_uris` (default: the provider's
    /// `post_logout_redirect_uris`, else `[post_logout_redirect_uri]`).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<Url>,
    /// `initial_access_token`: sent as a Bearer token when the provider
    /// requires one for registration.
    #[serde(default)]
    pub initial_access_token: Option<ClientSecret>,
    /// `initial_access_token_file`: a file holding `initial_access_token`,
    /// read at launch, instead of the value itself.
    #[serde(default)]
    pub initial_access_token_file: Option<std::path::PathBuf>,
    /// `persist_path`: a file where the registered client is kept and
    /// reused after a restart, instead of registering again.
    #[serde(default)]
    pub persist_path: Option<std::path::PathBuf>,
}

/// How the client authenticates at the token endpoint
/// (`token_endpoint_auth_method`).
///
/// ```rust
/// use rocket_openidconnect::config::TokenEndpointAuthMethod;
///
/// assert_eq!(TokenEndpointAuthMethod::default(), TokenEndpointAuthMethod::ClientSecretBasic);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
    /// A public client: only `client_id` is sent (PKCE protects the code).
    None,
    /// A client assertion signed with the client secret, HS256 (RFC 7523,
    /// OIDC Core §9).
    ClientSecretJwt,
    /// A client assertion signed with the client's private key
    /// (`private_key_path` or `private_key_jwk`; RS256, PS256 or ES256):
    /// no shared secret at all (RFC 7523, OIDC Core §9).
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The method's name in configuration and provider metadata.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::None => "none",
            TokenEndpointAuthMethod::ClientSecretJwt => "client_secret_jwt",
            TokenEndpointAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// How the userinfo endpoint is called (`userinfo_http_method`).
///
/// ```rust
/// use rocket_openidconnect::config::UserinfoMethod;
///
/// assert_eq!(UserinfoMethod::default(), UserinfoMethod::Get);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UserinfoMethod {
    /// `GET` with the access token in the `Authorization` header.
    #[default]
    Get,
    /// `POST` with the access token in the `Authorization` header.
    Post,
    /// Never call the userinfo endpoint.
    None,
}

impl<'de> Deserialize<'de> for UserinfoMethod {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let value = String::deserialize(de)?;
        match value.to_ascii_lowercase().as_str() {
            "get" => Ok(UserinfoMethod::Get),
            "post" => Ok(UserinfoMethod::Post),
            "none" => Ok(UserinfoMethod::None),
            _ => Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&value),
                &"\"GET\", \"POST\" or \"none\"",
            )),
        }
    }
}

/// A configuration problem, naming the key at fault.
///
/// ```rust
/// use rocket_openidconnect::config::OidcConfig;
///
/// let figment = rocket::figment::Figment::new().merge(("oidc", rocket::serde::json::json!({
///     "providers": { "default": { "issuer": "http://127.0.0.1:9000", "client_id": "demo" } }
/// })));
/// let error = OidcConfig::from_figment(&figment).unwrap_err();
/// assert!(error[0].to_string().contains("oidc.redirect_uri"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The full key, such as `oidc.providers.default.client_id`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Authorization request parameters the library sets itself.
const RESERVED_AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

impl OidcConfig {
    /// Reads and validates the `oidc` key of `figment`.
    ///
    /// Every error names the key at fault (`oidc.providers.default.client_id`).
    pub fn from_figment(figment: &figment::Figment) -> Result<OidcConfig, Vec<ConfigError>> {
        let mut config: OidcConfig = figment.extract_inner("oidc").map_err(figment_errors)?;
        let mut problems = config.read_secret_files();
        problems.extend(config.read_private_keys());
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Reads the private keys of `private_key_jwt` and checks the client
    /// authentication keys; the problems name the key.
    fn read_private_keys(&mut self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        for (name, provider) in &mut self.providers {
            let key = |k: &str| format!("oidc.providers.{name}.{k}");
            let mut problem = |k: &str, message: String| problems.push(ConfigError { key: key(k), message });
            let method = provider.token_endpoint_auth_method;
            let private = method == TokenEndpointAuthMethod::PrivateKeyJwt;
            match (&provider.private_key_path, &provider.private_key_jwk) {
                (Some(_), Some(_)) => problem(
                    "private_key_jwk",
                    "cannot be combined with `private_key_path`: give one of the two".into(),
                ),
                (None, None) if private => problem(
                    "private_key_path",
                    "is required with `token_endpoint_auth_method = \"private_key_jwt\"` (or give `private_key_jwk`)"
                        .into(),
                ),
                (Some(_), None) if !private => problem(
                    "private_key_path",
                    "is used only with `token_endpoint_auth_method = \"private_key_jwt\"`".into(),
                ),
                (None, Some(_)) if !private => problem(
                    "private_key_jwk",
                    "is used only with `token_endpoint_auth_method = \"private_key_jwt\"`".into(),
                ),
                (Some(path), None) => match std::fs::read_to_string(path) {
                    Ok(pem) => match PrivateKey::from_pem(&pem) {
                        Ok(read) => provider.private_key = Some(std::sync::Arc::new(read)),
                        Err(why) => problem("private_key_path", format!("{}: {why}", path.display())),
                    },
                    Err(error) => problem(
                        "private_key_path",
                        format!("{}: cannot be read ({error})", path.display()),
                    ),
                },
                (None, Some(jwk)) => match PrivateKey::from_jwk(jwk.secret()) {
                    Ok(read) => provider.private_key = Some(std::sync::Arc::new(read)),
                    Err(why) => problem("private_key_jwk", why),
                },
                (None, None) => {}
            }
            if provider.registration.is_some() && private {
                problem(
                    "token_endpoint_auth_method",
                    "\"private_key_jwt\" needs a static `client_id` (dynamic registration registers client_secret_basic)"
                        .into(),
                );
            }
            if let Some(alg) = &provider.token_endpoint_auth_signing_alg {
                let fits = match (AssertionAlg::named(alg), method) {
                    (Some(alg), TokenEndpointAuthMethod::PrivateKeyJwt) => {
                        provider.private_key.as_ref().is_none_or(|key| key.signs_with(alg))
                    }
                    (Some(AssertionAlg::Hs256), TokenEndpointAuthMethod::ClientSecretJwt) => true,
                    _ => false,
                };
                if !fits {
                    problem(
                        "token_endpoint_auth_signing_alg",
                        format!(
                            "\"{alg}\" does not fit: RS256 or PS256 for an RSA key, ES256 for an EC key (with \
                             private_key_jwt), HS256 with client_secret_jwt"
                        ),
                    );
                }
            }
        }
        problems
    }

    /// Reads the secrets given as files into their values; the problems
    /// name the key of the file.
    fn read_secret_files(&mut self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        for (name, provider) in &mut self.providers {
            let key = |k: &str| format!("oidc.providers.{name}.{k}");
            let registration = provider.registration.as_mut();
            let files = [(
                &mut provider.client_secret,
                &provider.client_secret_file,
                key("client_secret_file"),
                "client_secret",
            )]
            .into_iter()
            .chain(registration.map(|registration| {
                (
                    &mut registration.initial_access_token,
                    &registration.initial_access_token_file,
                    key("registration.initial_access_token_file"),
                    "initial_access_token",
                )
            }));
            for (value, file, file_key, value_key) in files {
                let Some(path) = file else {
                    continue;
                };
                if value.is_some() {
                    problems.push(ConfigError {
                        key: file_key,
                        message: format!("cannot be combined with `{value_key}`: give one of the two"),
                    });
                    continue;
                }
                match read_secret(path) {
                    Ok(secret) => *value = Some(ClientSecret::new(secret)),
                    Err(message) => problems.push(ConfigError { key: file_key, message }),
                }
            }
        }
        problems
    }

    /// Where the provider sends the browser after logout.
    pub fn post_logout_redirect_uri(&self) -> Url {
        self.post_logout_redirect_uri.clone().unwrap_or_else(|| {
            let mut root = self.redirect_uri.clone();
            root.set_path("/");
            root.set_query(None);
            root
        })
    }

    /// The path of `redirect_uri`, where the callback route is mounted.
    pub fn callback_path(&self) -> &str {
        self.redirect_uri.path()
    }

    /// The redirect URI of the provider `name`: its own, or the shared one.
    pub(crate) fn redirect_uri_of(&self, name: &str) -> &Url {
        self.providers
            .get(name)
            .and_then(|p| p.redirect_uri.as_ref())
            .unwrap_or(&self.redirect_uri)
    }

    /// The providers whose responses arrive at the callback path `path`.
    pub(crate) fn providers_at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.providers
            .iter()
            .filter(move |(name, _)| self.redirect_uri_of(name).path() == path)
            .map(|(name, _)| name.as_str())
    }

    /// Every callback path: the shared one and the providers' own.
    pub(crate) fn callback_paths(&self) -> Vec<&str> {
        let mut paths = vec![self.callback_path()];
        for provider in self.providers.values() {
            if let Some(own) = &provider.redirect_uri {
                if !paths.contains(&own.path()) {
                    paths.push(own.path());
                }
            }
        }
        paths
    }

    /// Whether cookies get the `Secure` attribute: when the site is served
    /// over https, as its `redirect_uri` says.
    pub fn cookies_secure(&self) -> bool {
        self.redirect_uri.scheme() == "https"
    }

    fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        let mut problem = |key: String, message: &str| {
            problems.push(ConfigError {
                key,
                message: message.to_string(),
            })
        };
        if !matches!(self.redirect_uri.scheme(), "http" | "https") {
            problem("oidc.redirect_uri".into(), "must be an http or https URL");
        }
        if self.redirect_uri.fragment().is_some() || self.redirect_uri.query().is_some() {
            problem("oidc.redirect_uri".into(), "must not have a query or fragment");
        }
        for (key, path) in [
            ("logout_path", &self.logout_path),
            ("backchannel_logout_path", &self.backchannel_logout_path),
        ] {
            if !is_plain_path(path) {
                problem(format!("oidc.{key}"), "must be a path such as `/logout`");
            } else if path == self.callback_path() {
                problem(format!("oidc.{key}"), "must differ from the path of `redirect_uri`");
            }
        }
        if self.logout_path == self.backchannel_logout_path {
            problem("oidc.backchannel_logout_path".into(), "must differ from `logout_path`");
        }
        if let Some(url) = &self.post_logout_redirect_uri {
            let listed = self
                .providers
                .values()
                .all(|p| p.post_logout_redirect_uris.contains(url));
            if url.origin() != self.redirect_uri.origin() && !listed {
                problem(
                    "oidc.post_logout_redirect_uri".into(),
                    "must be on the site of `redirect_uri` or listed in every provider's `post_logout_redirect_uris`",
                );
            }
        }
        if self.clock_skew_seconds > 86_400 {
            problem("oidc.clock_skew_seconds".into(), "must be at most 86400 (a day)");
        }
        if self.http_timeout_seconds == 0 || self.http_timeout_seconds > 300 {
            problem("oidc.http_timeout_seconds".into(), "must be between 1 and 300");
        }
        // Browsers keep a cookie 400 days at most (RFC 6265bis §5.6).
        if self.session.lifetime_seconds == 0 || self.session.lifetime_seconds > MAX_LIFETIME_SECONDS {
            problem(
                "oidc.session.lifetime_seconds".into(),
                "must be between 1 and 34560000 (400 days)",
            );
        }
        if !(1..=MAX_COOKIE_CHUNKS).contains(&self.session.max_cookie_chunks) {
            problem(
                "oidc.session.max_cookie_chunks".into(),
                &format!("must be between 1 and {MAX_COOKIE_CHUNKS}"),
            );
        }
        if self.session.cache_entries > MAX_CACHE_ENTRIES {
            problem("oidc.session.cache_entries".into(), "must be at most 10000000");
        }
        if self.session.inactivity_timeout_seconds > self.session.lifetime_seconds {
            problem(
                "oidc.session.inactivity_timeout_seconds".into(),
                "must not be longer than `session.lifetime_seconds`",
            );
        }
        if self.redis.is_some() && self.session.logout_records_path.is_some() {
            problem(
                "oidc.session.logout_records_path".into(),
                "is for an app without `[oidc.redis]`: with Redis, logouts are kept there",
            );
        } else if self.session.store == SessionStoreKind::Memory && self.session.logout_records_path.is_some() {
            problem(
                "oidc.session.logout_records_path".into(),
                "is for the `cookie` store: `memory` sessions end with the process, and nothing a restart forgets could bring one back",
            );
        }
        match (&self.session.store, &self.redis) {
            (SessionStoreKind::Redis, None) => problem(
                "oidc.redis.url".into(),
                "is missing (`session.store = \"redis\"` needs the `[oidc.redis]` table)",
            ),
            (SessionStoreKind::Memory, Some(_)) => problem(
                "oidc.session.store".into(),
                "\"memory\" keeps sessions in one instance, which the other instances sharing `[oidc.redis]` cannot see: use \"redis\" or \"cookie\"",
            ),
            _ => {}
        }
        if let Some(redis) = &self.redis {
            let scheme = Url::parse(redis.url.secret()).map(|u| (u.scheme().to_string(), u.has_host()));
            match scheme {
                Ok((scheme, true)) if scheme == "redis" || scheme == "rediss" => {}
                _ => problem(
                    "oidc.redis.url".into(),
                    "must be a `redis://host[:port][/db]` or `rediss://...` URL",
                ),
            }
            if redis.local_cache_seconds > 60 {
                problem("oidc.redis.local_cache_seconds".into(), "must be at most 60");
            }
            if redis.timeout_ms == 0 || redis.timeout_ms > 60_000 {
                problem("oidc.redis.timeout_ms".into(), "must be between 1 and 60000");
            }
            if redis.key_prefix.is_empty() || !redis.key_prefix.bytes().all(|b| b.is_ascii_graphic()) {
                problem(
                    "oidc.redis.key_prefix".into(),
                    "must be non-empty printable ASCII without spaces",
                );
            }
            if redis.ca_certificate_path.is_some() && !redis.url.secret().starts_with("rediss://") {
                problem(
                    "oidc.redis.ca_certificate_path".into(),
                    "applies only to a `rediss://` url",
                );
            }
        }
        for (key, value) in [
            ("sessions", self.limits.sessions),
            ("sessions_per_subject", self.limits.sessions_per_subject),
            ("used_states", self.limits.used_states),
            ("logout_tokens", self.limits.logout_tokens),
            ("dpop_proofs", self.limits.dpop_proofs),
            ("revocations", self.limits.revocations),
            ("used_states_per_subject", self.limits.used_states_per_subject),
            ("dpop_proofs_per_subject", self.limits.dpop_proofs_per_subject),
            ("revocations_per_subject", self.limits.revocations_per_subject),
        ] {
            if value == 0 {
                problem(format!("oidc.limits.{key}"), "must be greater than 0");
            }
        }
        if self.providers.is_empty() {
            problem("oidc.providers".into(), "at least one provider must be configured");
        }
        if self.previous_secret_keys.len() > MAX_PREVIOUS_KEYS {
            problem(
                "oidc.previous_secret_keys".into(),
                &format!("lists at most {MAX_PREVIOUS_KEYS} keys"),
            );
        }
        for (index, previous) in self.previous_secret_keys.iter().enumerate() {
            if key_bytes(previous.secret()).is_none() {
                problem(
                    format!("oidc.previous_secret_keys[{index}]"),
                    "must be written like `secret_key`: 256 or 512 bits in base64 (44 or 88 characters) or hex (64)",
                );
            }
        }
        for (name, provider) in &self.providers {
            let key = |k: &str| format!("oidc.providers.{name}.{k}");
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                problem(
                    format!("oidc.providers.{name}"),
                    "provider names use only A-Z, a-z, 0-9, `_` and `-`",
                );
            }
            if let Some(own) = &provider.redirect_uri {
                if !matches!(own.scheme(), "http" | "https") || own.query().is_some() || own.fragment().is_some() {
                    problem(
                        key("redirect_uri"),
                        "must be an http or https URL without query or fragment",
                    );
                } else if own.path() == self.callback_path() {
                    problem(
                        key("redirect_uri"),
                        "must have a path of its own (or be left out to share `oidc.redirect_uri`)",
                    );
                } else if own.path() == self.logout_path || own.path() == self.backchannel_logout_path {
                    problem(key("redirect_uri"), "must differ from the logout paths");
                } else if self
                    .providers
                    .iter()
                    .any(|(other, p)| other != name && p.redirect_uri.as_ref().map(Url::path) == Some(own.path()))
                {
                    problem(key("redirect_uri"), "is the path of another provider's `redirect_uri`");
                }
            }
            if provider.issuer.is_none() && provider.discovery_url.is_none() && provider.metadata.is_none() {
                problem(
                    key("issuer"),
                    "one of `issuer`, `discovery_url` or `metadata` is required",
                );
            }
            if let Some(issuer) = &provider.issuer {
                match Url::parse(issuer) {
                    Ok(url)
                        if matches!(url.scheme(), "http" | "https")
                            && url.query().is_none()
                            && url.fragment().is_none() => {}
                    _ => problem(key("issuer"), "must be an http or https URL without query or fragment"),
                }
                if let Some(metadata) = &provider.metadata {
                    if &metadata.issuer != issuer {
                        problem(key("metadata.issuer"), "must equal `issuer`");
                    }
                }
            }
            if let Some(url) = &provider.discovery_url {
                let https_issuer = provider.issuer.as_deref().is_some_and(|i| i.starts_with("https://"));
                if !matches!(url.scheme(), "http" | "https") {
                    problem(key("discovery_url"), "must be an http or https URL");
                } else if https_issuer && url.scheme() == "http" && !metadata::is_loopback(url) {
                    // The document names the keys and the token endpoint: in
                    // clear, it would let the network choose them.
                    problem(key("discovery_url"), "must be https, as the issuer is (or on loopback)");
                }
            }
            for (index, origin) in provider.allowed_endpoint_origins.iter().enumerate() {
                let bare = matches!(origin.scheme(), "http" | "https")
                    && origin.has_host()
                    && origin.username().is_empty()
                    && origin.password().is_none()
                    && origin.path() == "/"
                    && origin.query().is_none()
                    && origin.fragment().is_none();
                if !bare {
                    problem(
                        key(&format!("allowed_endpoint_origins[{index}]")),
                        "must be an origin such as `https://oauth2.googleapis.com` (no path, query or user)",
                    );
                }
            }
            if let Some(metadata) = &provider.metadata {
                for (field, message) in metadata.problems() {
                    problem(key(&format!("metadata.{field}")), &message);
                }
                for (field, origin) in metadata.foreign_endpoints(&provider.allowed_endpoint_origins) {
                    problem(
                        key(&format!("metadata.{field}")),
                        &format!(
                            "is on `{origin}`, not on the issuer's origin: list `{origin}` in \
                             `allowed_endpoint_origins` if the provider really serves it there"
                        ),
                    );
                }
            }
            // RFC 9207 §4, RFC 9700 §4.4.2: where two providers share a
            // callback, only `iss` tells their responses apart; two that
            // claim one issuer could not be told apart at all.
            let path = self.redirect_uri_of(name).path();
            if let Some(issuer) = provider.static_issuer() {
                let twin = self
                    .providers
                    .iter()
                    .take_while(|(other, _)| *other != name)
                    .find(|(other, p)| self.redirect_uri_of(other).path() == path && p.static_issuer() == Some(issuer));
                if let Some((twin, _)) = twin {
                    problem(
                        key("issuer"),
                        &format!(
                            "is also provider `{twin}`'s issuer, and both answer at `{path}`: responses of the one \
                             could not be told from the other's (mix-up, RFC 9207 §4); give one of them a \
                             `redirect_uri` of its own"
                        ),
                    );
                }
            }
            match (&provider.client_id, &provider.registration) {
                (Some(id), None) if id.is_empty() => problem(key("client_id"), "must not be empty"),
                (None, None) => problem(
                    key("client_id"),
                    "is missing (or give a `registration` table to register dynamically)",
                ),
                (Some(_), Some(_)) => problem(key("registration"), "cannot be combined with `client_id`"),
                _ => {}
            }
            let needs_secret = provider.registration.is_none()
                && !matches!(
                    provider.token_endpoint_auth_method,
                    TokenEndpointAuthMethod::None | TokenEndpointAuthMethod::PrivateKeyJwt
                );
            if needs_secret && provider.client_secret.as_ref().is_none_or(|s| s.secret().is_empty()) {
                problem(
                    key("client_secret"),
                    "is required unless `token_endpoint_auth_method` is \"none\" or \"private_key_jwt\"",
                );
            }
            if !provider.scopes.iter().any(|s| s == "openid") {
                problem(key("scopes"), "must contain \"openid\"");
            }
            if provider
                .scopes
                .iter()
                .any(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                problem(key("scopes"), "scopes are non-empty and contain no spaces");
            }
            if provider.bearer.introspection_cache_seconds > 86_400 {
                problem(
                    key("bearer.introspection_cache_seconds"),
                    "must be at most 86400 (a day)",
                );
            }
            if !provider.session.keep_claims.is_empty() && !provider.session.drop_claims.is_empty() {
                problem(
                    key("session.drop_claims"),
                    "cannot be combined with `keep_claims`: give one of the two",
                );
            }
            if provider.bearer.cache_entries == 0 || provider.bearer.cache_entries > MAX_CACHE_ENTRIES {
                problem(key("bearer.cache_entries"), "must be between 1 and 10000000");
            }
            // OIDC Core §3.1.2.1: `max_age` is a number of seconds; one that
            // is not could not be checked against `auth_time` (§3.1.3.7).
            if let Some(max_age) = provider.auth_request_params.get("max_age") {
                if max_age.parse::<u64>().is_err() {
                    problem(key("auth_request_params.max_age"), "must be a whole number of seconds");
                }
            }
            if provider
                .auth_request_params
                .get("acr_values")
                .is_some_and(|v| v.trim().is_empty())
            {
                problem(key("auth_request_params.acr_values"), "must name at least one value");
            }
            for param in provider.auth_request_params.keys() {
                if RESERVED_AUTH_PARAMS.contains(&param.as_str()) {
                    problem(
                        key(&format!("auth_request_params.{param}")),
                        "is set by the library and cannot be overridden",
                    );
                }
            }
        }
        problems
    }
}

/// Turns figment's errors into errors that name the full key.
/// The secret in the file at `path`, without the line break that usually
/// ends such a file; the error says why it cannot be used (never its content).
fn read_secret(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secret.to_string())
}

fn figment_errors(error: figment::Error) -> Vec<ConfigError> {
    error
        .into_iter()
        .map(|e| {
            // figment puts the focused key `oidc` at the front of a missing
            // field's path and at the end of an invalid value's path.
            let mut inner = e.path.clone();
            if inner.first().map(String::as_str) == Some("oidc") {
                inner.remove(0);
            } else if inner.last().map(String::as_str) == Some("oidc") {
                inner.pop();
            }
            let mut path = vec!["oidc".to_string()];
            path.extend(inner);
            if let figment::error::Kind::MissingField(field) = &e.kind {
                if !(path.len() == 1 && field == "oidc") {
                    path.push(field.to_string());
                }
            }
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
            }
            let message = match &e.kind {
                figment::error::Kind::MissingField(_) => "is missing".to_string(),
                kind => kind.to_string(),
            };
            ConfigError {
                key: path.join("."),
                message,
            }
        })
        .collect()
}

/// A path a route can be mounted at: `/` then unreserved characters.
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && !path.contains("//")
        && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
}

fn default_logout_path() -> String {
    "/logout".into()
}

fn default_backchannel_logout_path() -> String {
    "/backchannel_logout".into()
}

fn default_clock_skew() -> u64 {
    60
}

fn default_http_timeout() -> u64 {
    5
}

fn default_session_lifetime() -> u64 {
    31 * 24 * 3600
}

fn default_key_prefix() -> String {
    "oidc:".into()
}

fn default_local_cache_seconds() -> u64 {
    2
}

fn default_redis_timeout() -> u64 {
    1000
}

fn default_sessions() -> usize {
    100_000
}

fn default_sessions_per_subject() -> usize {
    16
}

fn default_ledger() -> usize {
    100_000
}

fn default_session_cache_entries() -> usize {
    10_000
}

fn default_true() -> bool {
    true
}

fn default_bearer_cache_entries() -> usize {
    10_000
}

/// The most entries a cache may be given (`session.cache_entries`,
/// `bearer.cache_entries`): caches allocate their table up front.
const MAX_CACHE_ENTRIES: usize = 10_000_000;

/// The longest `session.lifetime_seconds`: 400 days.
const MAX_LIFETIME_SECONDS: u64 = 400 * 24 * 3600;

fn default_introspection_cache() -> u64 {
    60
}

fn default_scopes() -> Vec<String> {
    vec!["openid".to_string()]
}
