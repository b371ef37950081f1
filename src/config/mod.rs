//! Configuration read from the `oidc` key of Rocket's figment.
//!
//! The TOML layout is shown in the [crate documentation](crate#configuration);
//! each key is documented on its struct field below too.
//!
//! # Keys
//!
//! The reference of every key under `oidc` (a test holds it equal to the
//! keys the parser takes: `tests/logs/configuration.rs`).
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `redirect_uri` | required | absolute callback URL; its path is mounted |
//! | `logout_path` | `"/logout"` | logout route (GET and POST) |
//! | `post_logout_redirect_uri` | site root | where the provider returns the browser after logout |
//! | `backchannel_logout_path` | `"/backchannel_logout"` | back-channel logout route (POST) |
//! | `clock_skew_seconds` | `60` | leeway for `exp` / `iat` |
//! | `http_timeout_seconds` | `5` | timeout of every provider call (1 to 300) |
//! | `session.store` | `"cookie"` | where sessions live: `"cookie"`, `"memory"` or `"redis"` |
//! | `session.lifetime_seconds` | `2678400` | absolute session lifetime (at most 400 days) |
//! | `session.inactivity_timeout_seconds` | `0` (off) | a session unused this long ends |
//! | `session.max_cookie_chunks` | `8` (1 to 8) | cookies of about 4 KB a cookie-store session may take; `2` keeps the `Cookie` header under 8 KB |
//! | `session.cache_entries` | `10000` (`0`: off) | session cookies remembered as opened, by exact value (see [Performance](crate#performance)) |
//! | `session.logout_records_path` | | `cookie` store without Redis: a file (one process's own) where logouts are written down, so they [outlive a restart](crate#what-survives-a-restart) |
//! | `redis.url` | | `redis://` or `rediss://` URL: state shared by every instance ([`RedisConfig`]) |
//! | `redis.key_prefix` | `"oidc:"` | prefix of every Redis key |
//! | `redis.timeout_ms` | `1000` | Redis connect and command timeout; past it, `503` |
//! | `redis.ca_certificate_path` | | PEM certificate authorities for `rediss://` |
//! | `redis.local_cache_seconds` | `2` (at most `60`; `0`: off) | how long an instance reuses what it read from Redis, unless told of a change sooner |
//! | `limits.sessions` | `100000` | sessions the `memory` store keeps ([`LimitsConfig`]) |
//! | `limits.sessions_per_subject` | `16` | server-side sessions per user; a login past it ends the user's oldest |
//! | `limits.used_states` | `100000` | used `state`s remembered in the process (10 minutes each) |
//! | `limits.used_states_per_subject` | `100` | of those that gave a login, how many one user may hold (past it, `429` for that user) |
//! | `limits.logout_tokens` | `100000` | back-channel logout token ids remembered in the process |
//! | `limits.dpop_proofs` | `100000` | DPoP proof ids remembered as used in the process |
//! | `limits.dpop_proofs_per_subject` | `10000` | of those, how many the tokens of one subject may hold, whatever their keys (in process and in Redis; past it, `429` for that subject) |
//! | `limits.revocations` | `100000` | logged-out cookie sessions, `sid`s and `sub`s remembered in the process |
//! | `limits.revocations_per_subject` | `100` | logged-out sessions one user may hold (in process and in Redis); past it they become one record of the user |
//! | `limits.provider_calls_per_second` | `20` (`0`: no limit) | pushed requests and introspections of unseen tokens that requests nobody authenticated may cause, per provider (each its own budget); one source address (Rocket's `client_ip()`) may spend a quarter, each logged-in user as much of their own (past it, `429` for that client) |
//! | `resource.identifier` | | this API's resource identifier (https URL): turns on RFC 9728 metadata and the RFC 8707 audience check ([`ResourceConfig`], [protected resources](crate#protected-resource-metadata-rfc-9728-and-mcp-servers)) |
//! | `resource.authorization_servers` | every provider's issuer | the issuers the metadata names |
//! | `resource.scopes_supported` | `[]` | the scopes the metadata names |
//! | `resource.resource_name` / `resource_documentation` / `resource_policy_uri` / `resource_tos_uri` | | optional metadata for people |
//! | `resource.require_audience` | `true` | a bearer token's `aud` must contain `resource.identifier` |
//! | `providers.<name>.issuer` | | Issuer Identifier; discovery at `{issuer}/.well-known/openid-configuration` |
//! | `providers.<name>.discovery_url` | | explicit discovery document URL |
//! | `providers.<name>.redirect_uri` | `redirect_uri` | this provider's own callback URL (mix-up defence without RFC 9207) |
//! | `providers.<name>.metadata` | | static [`ProviderMetadata`] instead of discovery |
//! | `providers.<name>.client_id` | required | unless `registration` is given |
//! | `doctor` | `true` | at liftoff, in the background, warn about what each provider will not do ([Logs](crate#logs)) |
//! | `previous_secret_keys` | `[]` | former `secret_key`s whose cookies still open, sealed again under the current key ([rotation](crate#secrets-and-key-rotation)) |
//! | `providers.<name>.client_secret` | | required unless auth method `none` |
//! | `providers.<name>.client_secret_file` | | a file holding the client secret, instead of `client_secret` |
//! | `providers.<name>.token_endpoint_auth_method` | `"client_secret_basic"` | or `"client_secret_post"`, `"client_secret_jwt"`, `"private_key_jwt"`, `"none"` ([client authentication](crate#client-authentication-without-shared-secrets)) |
//! | `providers.<name>.private_key_path` / `private_key_jwk` | | with `private_key_jwt`: the client's private key (PEM file, or an inline JWK) |
//! | `providers.<name>.token_endpoint_auth_signing_alg` | from the key and the provider | `RS256`, `PS256`, `ES256` (`HS256` with `client_secret_jwt`) |
//! | `providers.<name>.pushed_authorization_requests` | `"auto"` | `"always"`, `"never"`: [pushed authorization requests](crate#pushed-authorization-requests) |
//! | `providers.<name>.client_assertion_audience` | `"issuer"` | or `"endpoint"`: the `aud` of client assertions ([client authentication](crate#client-authentication-without-shared-secrets)) |
//! | `providers.<name>.allowed_endpoint_origins` | `[]` | origins besides the issuer's where the metadata may put endpoints (such as `https://oauth2.googleapis.com`) |
//! | `providers.<name>.roles_claim` | `"roles"` | where the provider puts a user's roles: a dotted path into the claims (`realm_access.roles`), or a URL naming one claim (`https://example.com/roles`) |
//! | `providers.<name>.groups_claim` | `"groups"` | where the provider puts a user's groups: a dotted path, as `roles_claim` |
//! | `providers.<name>.tenants` | | with an `issuer` template holding `{tenantid}` (and a `discovery_url`): the allowed `tid`s, or `"any"` ([multi-tenant issuers](crate#multi-tenant-issuers)) |
//! | `providers.<name>.claim_sources` | `[]` | issuers of aggregated claims and URLs of distributed claims endpoints that may be used (OIDC Core §5.6.2); others are never contacted ([who may do what](crate#who-may-do-what-roles-groups-and-claims)) |
//! | `providers.<name>.scopes` | `["openid"]` | must contain `openid` |
//! | `providers.<name>.auth_request_params` | `{}` | extra authorization request parameters |
//! | `providers.<name>.userinfo_http_method` | `"GET"` | or `"POST"`, `"none"` |
//! | `providers.<name>.session_refresh_interval_seconds` | `0` (off) | silent `prompt=none` re-authentication after this long |
//! | `providers.<name>.userinfo_refresh_seconds` | `0` (off) | userinfo read again on use this long after it was last read (needs userinfo; without a refresh token, a session ends at the first read after its access token expired) |
//! | `providers.<name>.refresh_before_expiry_seconds` | `0` (off) | refresh the access token this close to expiry |
//! | `providers.<name>.post_logout_redirect_uris` | `[]` | extra allowed post-logout URIs |
//! | `providers.<name>.registration.*` | | dynamic registration: [`RegistrationConfig`] (`initial_access_token` or `initial_access_token_file`) |
//! | `providers.<name>.session.keep_claims` / `drop_claims` | all kept | which ID-token and userinfo claims a session keeps ([`ProviderSessionConfig`]) |
//! | `providers.<name>.bearer.mode` | `"auto"` | `"introspection"`, `"jwt"` or `"auto"` |
//! | `providers.<name>.bearer.audiences` | `[client_id]` (`[resource.identifier]` with `[oidc.resource]`) | accepted `aud` of bearer tokens |
//! | `providers.<name>.bearer.introspection_cache_seconds` | `60` | cap on caching an active introspection result (at most a day) |
//! | `providers.<name>.bearer.require_audience` | `true` | an introspection answer must carry an accepted `aud` |
//! | `providers.<name>.bearer.cache_entries` | `10000` | valid tokens' checks kept (least recently used out first) |
//! | `providers.<name>.bearer.dpop` | `"allowed"` | `"off"`, `"required"`: [DPoP-bound tokens](crate#dpop-bound-access-tokens) |
//! | `providers.<name>.bearer.dpop_nonce` | `false` | DPoP proofs must carry a server nonce |
//! | `providers.<name>.bearer.trusted_issuers` | `[]` | further issuers whose JWT access tokens are accepted, discovered on first use; any other issuer refused before a network call ([trusted issuers](crate#apis-bearer-tokens)) |
//!
//! One file per table (`session`, `redis`, `limits`, `provider`, `bearer`),
//! each type with the checks serde cannot make beside its fields; what spans
//! tables is checked in `checks`, what the configuration names on disk
//! (secret files, private keys) is read in `secrets`, and figment's errors
//! become [`ConfigError`]s naming their key in `error`.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use crate::secret::PreviousSecretKey;

mod authorization;
mod bearer;
mod checks;
pub(crate) mod claim_path;
mod error;
mod limits;
mod metadata;
mod names;
mod provider;
mod redis;
mod resource;
mod secrets;
mod session;
mod tenants;

use error::figment_errors;
pub(crate) use metadata::is_loopback;
pub(crate) use session::MAX_COOKIE_CHUNKS;

pub use self::authorization::{Authorization, NoAuthorization};
pub use self::bearer::{BearerConfig, BearerMode, DpopMode};
pub use self::claim_path::ClaimPath;
pub use self::error::ConfigError;
pub use self::limits::LimitsConfig;
pub use self::metadata::ProviderMetadata;
pub use self::names::{DefaultProvider, NoRequirement, ProviderName, Requirement};
pub(crate) use self::provider::PROTOCOL_CLAIMS;
pub use self::provider::{
    ClientAssertionAudience, ProviderConfig, ProviderSessionConfig, PushedAuthorizationRequests, RegistrationConfig,
    TokenEndpointAuthMethod, UserinfoMethod,
};
pub use self::redis::{RedisConfig, RedisUrl};
pub use self::resource::ResourceConfig;
pub use self::session::{SessionConfig, SessionStoreKind};
pub use self::tenants::{TENANT_PLACEHOLDER, Tenants};

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
    /// `[oidc.resource]` (optional): this app as a protected resource
    /// (RFC 9728 metadata, RFC 8707 audience).
    #[serde(default)]
    pub resource: Option<ResourceConfig>,
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

impl OidcConfig {
    /// Reads and validates the `oidc` key of `figment`.
    ///
    /// Every error names the key at fault (`oidc.providers.default.client_id`).
    pub fn from_figment(figment: &figment::Figment) -> Result<OidcConfig, Vec<ConfigError>> {
        let mut config: OidcConfig = figment.extract_inner("oidc").map_err(figment_errors)?;
        let mut problems = config.read_secret_files();
        problems.extend(config.read_private_keys());
        problems.extend(config.problems());
        if problems.is_empty() { Ok(config) } else { Err(problems) }
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
            if let Some(own) = &provider.redirect_uri
                && !paths.contains(&own.path())
            {
                paths.push(own.path());
            }
        }
        paths
    }

    /// Whether cookies get the `Secure` attribute: when the site is served
    /// over https, as its `redirect_uri` says.
    pub fn cookies_secure(&self) -> bool {
        self.redirect_uri.scheme() == "https"
    }
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

fn default_true() -> bool {
    true
}

/// The most entries a cache may be given (`session.cache_entries`,
/// `bearer.cache_entries`): caches allocate their table up front.
const MAX_CACHE_ENTRIES: usize = 10_000_000;

/// The longest `session.lifetime_seconds`: 400 days.
const MAX_LIFETIME_SECONDS: u64 = 400 * 24 * 3600;
