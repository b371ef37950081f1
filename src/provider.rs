//! OpenID Providers: naming them in guards, their metadata (discovered
//! lazily or configured statically) and their signing keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use rocket::tokio::sync::{Mutex as AsyncMutex, OnceCell};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::cache::FlightCache;
use crate::client_credentials::ServiceToken;
use crate::config::{OidcConfig, ProviderConfig};
use crate::error::OidcError;
use crate::http::{self, HttpError};
use crate::registration::RegisteredClient;
use crate::token::access::Introspected;

/// Names a configured provider at the type level, for guards such as
/// [`OidcUser<P>`](crate::OidcUser). Declare one with [`provider!`](crate::provider!).
///
/// ```rust
/// use rocket_openidconnect::{ProviderName, DefaultProvider};
///
/// assert_eq!(DefaultProvider::NAME, "default");
/// ```
pub trait ProviderName: Send + Sync + 'static {
    /// The provider's key under `[oidc.providers]`.
    const NAME: &'static str;
}

/// The provider named `default`, used when a guard names none.
///
/// ```rust
/// use rocket_openidconnect::{OidcUser, DefaultProvider};
///
/// fn same(_: OidcUser) -> Option<OidcUser<DefaultProvider>> { None }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DefaultProvider;

impl ProviderName for DefaultProvider {
    const NAME: &'static str = "default";
}

/// Declares a zero-sized type naming a provider of the configuration.
///
/// ```rust
/// use rocket_openidconnect::{provider, OidcUser, ProviderName};
///
/// provider!(
///     /// Our company's Keycloak.
///     pub Corporate = "corporate"
/// );
///
/// assert_eq!(Corporate::NAME, "corporate");
///
/// #[rocket::get("/intranet")]
/// fn intranet(user: OidcUser<Corporate>) -> String {
///     format!("hello {}", user.subject())
/// }
/// ```
#[macro_export]
macro_rules! provider {
    ($(#[$meta:meta])* $vis:vis $name:ident = $value:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::ProviderName for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414), either
/// discovered or given statically under `[oidc.providers.<name>.metadata]`.
///
/// ```rust
/// use rocket_openidconnect::ProviderMetadata;
///
/// let metadata: ProviderMetadata = rocket::serde::json::from_str(r#"{
///     "issuer": "https://op.example",
///     "authorization_endpoint": "https://op.example/auth",
///     "token_endpoint": "https://op.example/token",
///     "jwks_uri": "https://op.example/jwks"
/// }"#).unwrap();
/// assert_eq!(metadata.id_token_signing_alg_values_supported, ["RS256"]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// `issuer`: the Issuer Identifier.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Url,
    /// `token_endpoint`.
    pub token_endpoint: Url,
    /// `jwks_uri`: the provider's signing keys.
    pub jwks_uri: Url,
    /// `userinfo_endpoint`.
    #[serde(default)]
    pub userinfo_endpoint: Option<Url>,
    /// `introspection_endpoint` (RFC 7662).
    #[serde(default)]
    pub introspection_endpoint: Option<Url>,
    /// `revocation_endpoint` (RFC 7009).
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    /// `end_session_endpoint` (RP-Initiated Logout).
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    /// `registration_endpoint` (RFC 7591).
    #[serde(default)]
    pub registration_endpoint: Option<Url>,
    /// `id_token_signing_alg_values_supported` (default `["RS256"]`).
    #[serde(default = "default_id_token_algs")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207, default
    /// `false`): when true, an authorization response without `iss` is refused.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

fn default_id_token_algs() -> Vec<String> {
    vec!["RS256".to_string()]
}

impl ProviderMetadata {
    /// Fields whose values cannot be used safely, as (field, message).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let endpoints = [
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("token_endpoint", Some(&self.token_endpoint)),
            ("jwks_uri", Some(&self.jwks_uri)),
            ("userinfo_endpoint", self.userinfo_endpoint.as_ref()),
        ];
        for (field, url) in endpoints {
            if let Some(url) = url {
                if !matches!(url.scheme(), "http" | "https") {
                    problems.push((field, "must be an http or https URL".to_string()));
                }
            }
        }
        if self.issuer.is_empty() {
            problems.push(("issuer", "must not be empty".to_string()));
        }
        problems
    }
}

/// A configured provider at run time: its configuration, its metadata once
/// known, and a cache of its keys.
pub(crate) struct Provider {
    pub(crate) name: String,
    pub(crate) config: ProviderConfig,
    http: reqwest::Client,
    metadata: OnceCell<Arc<ProviderMetadata>>,
    keys: KeyCache,
    /// Bearer token checks (introspection answers and verified JWTs) by
    /// SHA-256 of the token (never the token itself).
    pub(crate) token_cache: FlightCache<[u8; 32], Introspected>,
    /// Client-credentials tokens by scopes and parameters.
    pub(crate) service_tokens: FlightCache<String, Arc<ServiceToken>>,
    /// The client we are at this provider (static, or registered on first use).
    client: OnceCell<Arc<RegisteredClient>>,
    /// The app's configuration, for dynamic registration.
    app: Arc<OidcConfig>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Provider {
    pub(crate) fn new(name: String, config: ProviderConfig, http: reqwest::Client, app: Arc<OidcConfig>) -> Provider {
        let client = OnceCell::new_with(RegisteredClient::configured(&config).map(Arc::new));
        let metadata = match &config.metadata {
            Some(static_metadata) => OnceCell::new_with(Some(Arc::new(static_metadata.clone()))),
            None => OnceCell::new(),
        };
        Provider {
            name,
            config,
            http,
            metadata,
            keys: KeyCache::default(),
            token_cache: FlightCache::new(TOKEN_CACHE_ENTRIES),
            service_tokens: FlightCache::new(SERVICE_TOKEN_ENTRIES),
            client,
            app,
        }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The provider's metadata. Discovery runs on first use, once for all
    /// concurrent callers; a failure is not cached, so the next request
    /// retries and the app recovers when the provider comes back.
    pub(crate) async fn metadata(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        self.metadata.get_or_try_init(|| self.discover()).await.cloned()
    }

    /// The metadata if discovery already happened (or it is static).
    pub(crate) fn known_metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata.get().cloned()
    }

    async fn discover(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        let url = match (&self.config.discovery_url, &self.config.issuer) {
            (Some(url), _) => url.to_string(),
            (None, Some(issuer)) => {
                format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
            }
            (None, None) => return Err(self.unavailable("no issuer or discovery_url configured")),
        };
        let metadata: ProviderMetadata = http::json(self.http.get(&url))
            .await
            .map_err(|e| self.unavailable(&format!("discovery {e}")))?;
        // OpenID Connect Discovery §4.3: the issuer in the document must be
        // exactly the one we were configured with (mix-up and impersonation).
        if let Some(issuer) = &self.config.issuer {
            if &metadata.issuer != issuer {
                return Err(self.unavailable(&format!(
                    "discovery document names issuer `{}`, not the configured `{issuer}`",
                    metadata.issuer
                )));
            }
        }
        if let Some((field, message)) = metadata.problems().into_iter().next() {
            return Err(self.unavailable(&format!("discovery document `{field}` {message}")));
        }
        rocket::info!("oidc: discovered provider `{}` at {}", self.name, metadata.issuer);
        Ok(Arc::new(metadata))
    }

    /// The client we are at this provider: the configured one, or one
    /// registered on first use (once for all concurrent callers; a failed
    /// registration is retried by the next request).
    pub(crate) async fn client(&self) -> Result<Arc<RegisteredClient>, OidcError> {
        self.client
            .get_or_try_init(|| async { crate::registration::register(&self.app, self).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The signing keys, fetched on first use.
    pub(crate) async fn keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        if let Some(keys) = self.keys.current() {
            return Ok(keys);
        }
        let _guard = self.keys.fetching.lock().await;
        if let Some(keys) = self.keys.current() {
            return Ok(keys);
        }
        self.fetch_keys().await
    }

    /// Refetches the keys after a token named a key we do not have (key
    /// rotation). Returns `None` when the refetch is refused by the rate
    /// limit: one refetch per unknown `kid` per [`KID_MEMORY`], and at most
    /// [`REFETCH_BURST`] refetches per minute, so forged `kid`s cannot make
    /// us hammer the provider.
    pub(crate) async fn refetch_keys(
        &self,
        kid: Option<&str>,
        seen: &Arc<CoreJsonWebKeySet>,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, OidcError> {
        let _guard = self.keys.fetching.lock().await;
        if let Some(current) = self.keys.current() {
            if !Arc::ptr_eq(&current, seen) {
                // Someone refetched while we waited.
                return Ok(Some(current));
            }
        }
        if !self.keys.allow_refetch(kid.unwrap_or("")) {
            return Ok(None);
        }
        self.fetch_keys().await.map(Some)
    }

    async fn fetch_keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        let metadata = self.metadata().await?;
        let keys: CoreJsonWebKeySet = http::json(self.http.get(metadata.jwks_uri.clone()))
            .await
            .map_err(|e| self.unavailable(&format!("jwks {e}")))?;
        let keys = Arc::new(keys);
        self.keys.set(keys.clone());
        Ok(keys)
    }

    pub(crate) fn unavailable(&self, why: &str) -> OidcError {
        OidcError::ProviderUnavailable(format!("provider `{}`: {why}", self.name))
    }

    /// Maps a failed call to this provider onto the error the user sees.
    pub(crate) fn call_failed(&self, what: &str, error: HttpError) -> OidcError {
        self.unavailable(&format!("{what} {error}"))
    }
}

/// Bound on cached bearer token checks per provider.
const TOKEN_CACHE_ENTRIES: usize = 10_000;
/// Bound on cached client-credentials tokens per provider.
const SERVICE_TOKEN_ENTRIES: usize = 100;

/// How long an unknown `kid` is remembered after it caused a refetch.
const KID_MEMORY: Duration = Duration::from_secs(300);
/// At most this many refetches in [`REFETCH_WINDOW`].
const REFETCH_BURST: usize = 10;
const REFETCH_WINDOW: Duration = Duration::from_secs(60);
/// Bound on the remembered unknown `kid`s.
const MAX_REMEMBERED_KIDS: usize = 256;

#[derive(Default)]
struct KeyCache {
    keys: RwLock<Option<Arc<CoreJsonWebKeySet>>>,
    fetching: AsyncMutex<()>,
    limiter: Mutex<RefetchLimiter>,
}

#[derive(Default)]
struct RefetchLimiter {
    unknown_kids: HashMap<String, Instant>,
    recent: Vec<Instant>,
}

impl KeyCache {
    fn current(&self) -> Option<Arc<CoreJsonWebKeySet>> {
        self.keys.read().ok().and_then(|keys| keys.clone())
    }

    fn set(&self, keys: Arc<CoreJsonWebKeySet>) {
        if let Ok(mut slot) = self.keys.write() {
            *slot = Some(keys);
        }
    }

    fn allow_refetch(&self, kid: &str) -> bool {
        let Ok(mut limiter) = self.limiter.lock() else {
            return false;
        };
        let now = Instant::now();
        limiter.recent.retain(|t| now.duration_since(*t) < REFETCH_WINDOW);
        limiter.unknown_kids.retain(|_, t| now.duration_since(*t) < KID_MEMORY);
        if limiter.unknown_kids.contains_key(kid) || limiter.recent.len() >= REFETCH_BURST {
            return false;
        }
        if limiter.unknown_kids.len() >= MAX_REMEMBERED_KIDS {
            limiter.unknown_kids.clear();
        }
        limiter.unknown_kids.insert(kid.to_string(), now);
        limiter.recent.push(now);
        true
    }
}
