//! Configuration read from the `oidc` key of Rocket's figment.
//!
//! Every key, its meaning and its default is documented on the struct fields
//! below; the TOML layout is shown in the [crate documentation](crate#configuration).
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

mod bearer;
mod checks;
mod error;
mod limits;
mod metadata;
mod names;
mod provider;
mod redis;
mod secrets;
mod session;

use error::figment_errors;
pub(crate) use metadata::is_loopback;
pub(crate) use session::MAX_COOKIE_CHUNKS;

pub use self::bearer::{BearerConfig, BearerMode, DpopMode};
pub use self::error::ConfigError;
pub use self::limits::LimitsConfig;
pub use self::metadata::ProviderMetadata;
pub use self::names::{DefaultProvider, NoRequirement, ProviderName, Requirement};
pub use self::provider::{
    ClientAssertionAudience, ProviderConfig, ProviderSessionConfig, PushedAuthorizationRequests, RegistrationConfig,
    TokenEndpointAuthMethod, UserinfoMethod,
};
pub use self::redis::{RedisConfig, RedisUrl};
pub use self::session::{SessionConfig, SessionStoreKind};

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
