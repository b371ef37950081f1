//! [`Oidc`]: the app-wide object, built from the configuration when the app
//! ignites: the providers, the server-side store, the session store and
//! the cipher its cookies are sealed with.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::FlightCache;
use crate::clock::AppClock;
use crate::config::OidcConfig;
use crate::config::{BearerMode, ProviderConfig};
use crate::error::OidcError;
use crate::provider::Provider;
use crate::provider::issuers::IssuerRegistry;
use crate::provider::registration::RegistrationInputs;
use crate::session::UserSession;
use crate::session::cipher::Cipher;
use crate::store::local::LocalStore;
use crate::store::redis::RedisStore;
use crate::store::sessions::SessionStore;
use crate::store::{RefreshKey, SharedStore, StoreSetupError};
use crate::token::access::BearerCaches;
use crate::token::dpop::Nonces;
use crate::token::service::ServiceToken;

/// Bound on cached client-credentials tokens per provider.
const SERVICE_TOKEN_ENTRIES: usize = 100;
/// Bound on refreshes in flight in this process.
const REFRESH_FLIGHTS: usize = 10_000;

/// The OpenID Connect state of an application: its configuration, its
/// providers and its session store. Managed by [`Oidc::fairing()`]; a
/// handler can ask for it as `&State<Oidc>`.
///
/// ```rust
/// use rocket::{get, launch, routes};
/// use rocket::State;
/// use rocket_openidconnect::Oidc;
///
/// #[get("/providers")]
/// fn providers(oidc: &State<Oidc>) -> String {
///     oidc.provider_names().collect::<Vec<_>>().join(", ")
/// }
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build().attach(Oidc::fairing()).mount("/", routes![providers])
/// }
/// ```
#[derive(Clone)]
pub struct Oidc {
    inner: Arc<Inner>,
}

struct Inner {
    config: OidcConfig,
    providers: BTreeMap<String, ProviderEntry>,
    state: Arc<dyn SharedStore>,
    redis: Option<Arc<RedisStore>>,
    sessions: SessionStore,
    cipher: Arc<Cipher>,
    /// Refreshes in flight here, by session and tokens (the store
    /// coordinates them across instances).
    refreshes: FlightCache<RefreshKey, Arc<UserSession>, OidcError>,
    post_logout_path: String,
    /// DPoP server nonces (RFC 9449 §9), keyed by the secret key.
    dpop_nonces: Nonces,
    clock: AppClock,
}

/// A provider with the caches of the features that use it.
pub(crate) struct ProviderEntry {
    pub(crate) provider: Provider,
    /// `bearer.trusted_issuers`, each a provider of its own (discovery,
    /// keys) held to this one's `bearer` table.
    pub(crate) trusted_issuers: Vec<Provider>,
    /// `claim_sources`, each as an issuer of aggregated claims (its keys).
    pub(crate) claim_sources: Vec<Provider>,
    pub(crate) bearer_caches: BearerCaches,
    pub(crate) service_tokens: FlightCache<String, Arc<ServiceToken>, OidcError>,
}

/// A provider that is only an issuer of tokens to check (a trusted issuer,
/// a source of aggregated claims): discovered at `issuer`, held to
/// `provider`'s `bearer` table, never logged in with, so it claims no
/// issuer among the app's providers.
fn issuer_only(
    name: &str,
    provider: &ProviderConfig,
    issuer: &str,
    http: &reqwest::Client,
    config: &OidcConfig,
    clock: AppClock,
) -> Provider {
    let mut only = provider.clone();
    only.issuer = Some(issuer.to_string());
    only.discovery_url = None;
    only.metadata = None;
    only.tenants = None;
    // The provider's own list: a trusted issuer's keys may live on another
    // origin too (Google's do), and the operator names it there.
    only.bearer.mode = BearerMode::Jwt;
    only.bearer.trusted_issuers = Vec::new();
    only.claim_sources = Vec::new();
    Provider::new(
        name.to_string(),
        only,
        http.clone(),
        RegistrationInputs::new(config, provider),
        clock,
    )
    .among(Arc::default(), "", config.limits.provider_calls_per_second)
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("providers", &self.inner.providers.keys())
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// The app's state for `config`, its cookies sealed by `cipher`, its
    /// providers called with `http`.
    pub(crate) fn build(
        config: OidcConfig,
        cipher: Cipher,
        http: reqwest::Client,
        clock: AppClock,
    ) -> Result<Oidc, StoreSetupError> {
        let cipher = Arc::new(cipher);
        let issuers = Arc::new(IssuerRegistry::default());
        let providers = config
            .providers
            .iter()
            .map(|(name, provider)| {
                let inputs = RegistrationInputs::new(&config, provider);
                let callback_path = config.redirect_uri_of(name).path();
                let issuer_only = |issuer: &String| issuer_only(name, provider, issuer, &http, &config, clock.clone());
                let trusted_issuers = provider.bearer.trusted_issuers.iter().map(issuer_only).collect();
                let claim_sources = provider.claim_sources.iter().map(issuer_only).collect();
                let state =
                    ProviderEntry {
                        provider: Provider::new(name.clone(), provider.clone(), http.clone(), inputs, clock.clone())
                            .among(issuers.clone(), callback_path, config.limits.provider_calls_per_second),
                        trusted_issuers,
                        claim_sources,
                        bearer_caches: BearerCaches::new(provider.bearer.cache_entries, clock.instants()),
                        service_tokens: FlightCache::on(SERVICE_TOKEN_ENTRIES, clock.instants()),
                    };
                (name.clone(), state)
            })
            .collect();
        let redis = match &config.redis {
            Some(redis) => Some(Arc::new(RedisStore::new(
                redis,
                cipher.clone(),
                config.session.lifetime_seconds,
                &config.limits,
                clock.clone(),
            )?)),
            None => None,
        };
        let state: Arc<dyn SharedStore> = match &redis {
            Some(redis) => redis.shared(),
            None => Arc::new(
                LocalStore::new(
                    &config.limits,
                    config.session.logout_records_path.as_deref(),
                    clock.clone(),
                )
                .map_err(|error| StoreSetupError {
                    key: "oidc.session.logout_records_path",
                    message: error.0,
                })?,
            ),
        };
        let sessions = SessionStore::new(
            &config.session,
            config.http_timeout_seconds,
            state.clone(),
            clock.clone(),
        );
        let post_logout_path = config.post_logout_redirect_uri().path().to_string();
        let dpop_nonces = Nonces::new(&cipher.subkey("dpop nonces"));
        Ok(Oidc {
            inner: Arc::new(Inner {
                dpop_nonces,
                config,
                providers,
                state,
                redis,
                sessions,
                cipher,
                refreshes: FlightCache::on(REFRESH_FLIGHTS, clock.instants()),
                post_logout_path,
                clock,
            }),
        })
    }

    /// The app's clock.
    pub(crate) fn clock(&self) -> &AppClock {
        &self.inner.clock
    }

    /// The source of DPoP server nonces (the same on every instance).
    pub(crate) fn dpop_nonces(&self) -> &Nonces {
        &self.inner.dpop_nonces
    }

    /// The validated configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// The names of the configured providers.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> {
        self.inner.providers.keys().map(String::as_str)
    }

    pub(crate) fn provider(&self, name: &str) -> Option<&Provider> {
        self.inner.providers.get(name).map(|p| &p.provider)
    }

    pub(crate) fn provider_entry(&self, name: &str) -> Option<&ProviderEntry> {
        self.inner.providers.get(name)
    }

    pub(crate) fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.inner.providers.values().map(|p| &p.provider)
    }

    pub(crate) fn store(&self) -> &dyn SharedStore {
        &*self.inner.state
    }

    /// The Redis state, when `[oidc.redis]` is configured.
    pub(crate) fn redis(&self) -> Option<&RedisStore> {
        self.inner.redis.as_deref()
    }

    pub(crate) fn sessions(&self) -> &SessionStore {
        &self.inner.sessions
    }

    pub(crate) fn cipher(&self) -> &Arc<Cipher> {
        &self.inner.cipher
    }

    pub(crate) fn refreshes(&self) -> &FlightCache<RefreshKey, Arc<UserSession>, OidcError> {
        &self.inner.refreshes
    }

    /// The path of `post_logout_redirect_uri`, where logout returns are checked.
    pub(crate) fn post_logout_path(&self) -> &str {
        &self.inner.post_logout_path
    }

    /// The session lifetime, in seconds.
    pub(crate) fn lifetime_seconds(&self) -> i64 {
        i64::try_from(self.inner.config.session.lifetime_seconds).unwrap_or(i64::MAX / 2)
    }

    /// `clock_skew_seconds` as a signed number.
    pub(crate) fn skew_seconds(&self) -> i64 {
        i64::try_from(self.inner.config.clock_skew_seconds).unwrap_or(0)
    }
}
