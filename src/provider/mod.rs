//! The remote OpenID Provider: its metadata (discovered lazily or
//! configured statically), its signing keys, the client we are at it, and
//! the HTTP client that talks to it. Caches owned by features (bearer
//! checks, service tokens) live with those features.

use std::sync::Arc;

use crate::cache::Lazy;
use crate::clock::AppClock;
use crate::config::{ProviderConfig, ProviderMetadata};
use crate::error::{OidcError, ProviderError};
use crate::telemetry::{Call, Endpoint};

pub(crate) mod budget;
pub(crate) mod doctor;
pub(crate) mod http;
pub(crate) mod issuers;
pub(crate) mod keys;
pub(crate) mod registration;

use self::budget::CallBudgets;
use self::http::HttpError;
use self::issuers::IssuerRegistry;
use self::keys::KeyCache;
use self::registration::{RegisteredClient, RegistrationInputs};

/// A configured provider at run time: its configuration, its metadata once
/// known, and a cache of its keys.
pub(crate) struct Provider {
    pub(crate) name: String,
    pub(crate) config: ProviderConfig,
    http: reqwest::Client,
    metadata: Lazy<Arc<ProviderMetadata>, OidcError>,
    keys: KeyCache,
    /// The client we are at this provider (static, or registered on first use).
    client: Lazy<Arc<RegisteredClient>, OidcError>,
    /// What dynamic registration asks for, computed from the configuration.
    registration: RegistrationInputs,
    /// The issuers the app's providers hold, and the path of this
    /// provider's callback: a discovered issuer is claimed there.
    issuers: Arc<IssuerRegistry>,
    callback_path: String,
    /// What anonymous requests may make this provider answer.
    pub(crate) budgets: CallBudgets,
    /// The app's clock, for what is checked against this provider's times.
    pub(crate) clock: AppClock,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Provider {
    pub(crate) fn new(
        name: String,
        config: ProviderConfig,
        http: reqwest::Client,
        registration: RegistrationInputs,
        clock: AppClock,
    ) -> Provider {
        let client = Lazy::with(RegisteredClient::configured(&config).map(Arc::new), clock.instants());
        let metadata = Lazy::with(config.metadata.clone().map(Arc::new), clock.instants());
        Provider {
            name,
            config,
            http,
            metadata,
            keys: KeyCache::default(),
            client,
            registration,
            issuers: Arc::default(),
            callback_path: String::new(),
            budgets: CallBudgets::default(),
            clock,
        }
    }

    /// This provider as one of an app's: its discovered issuer is claimed
    /// in `issuers`, shared by all, for its callback at `callback_path`;
    /// anonymous requests may make it answer `calls_per_second` calls.
    pub(crate) fn among(
        mut self,
        issuers: Arc<IssuerRegistry>,
        callback_path: &str,
        calls_per_second: u32,
    ) -> Provider {
        self.budgets = CallBudgets::new(calls_per_second);
        // An issuer the configuration names is claimed at once, so that a
        // provider discovered later cannot take it. (Two configured with
        // one issuer at one callback do not launch: `OidcConfig` checks.)
        if let Some(issuer) = self.config.static_issuer() {
            let _ = issuers.claim(&self.name, callback_path, issuer);
        }
        self.issuers = issuers;
        self.callback_path = callback_path.to_string();
        self
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The provider's metadata. Discovery runs on first use, once for all
    /// concurrent callers; a failure is shared by the callers waiting for it
    /// and retried after a short back-off, so the app recovers by itself
    /// when the provider comes back.
    pub(crate) async fn metadata(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        self.metadata.get_or_try_init(|| self.discover()).await
    }

    /// The metadata if discovery already happened (or it is static).
    pub(crate) fn known_metadata(&self) -> Option<Arc<ProviderMetadata>> {
        self.metadata.get().cloned()
    }

    /// Where the discovery document is (`None` with static metadata).
    pub(crate) fn discovery_url(&self) -> Option<String> {
        if self.config.metadata.is_some() {
            return None;
        }
        match (&self.config.discovery_url, &self.config.issuer) {
            (Some(url), _) => Some(url.to_string()),
            (None, Some(issuer)) => Some(format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            )),
            (None, None) => None,
        }
    }

    async fn discover(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        let Some(url) = self.discovery_url() else {
            return Err(self.unavailable("no issuer or discovery_url configured"));
        };
        let call = Call {
            provider: &self.name,
            endpoint: Endpoint::Discovery,
        };
        let metadata: ProviderMetadata = http::json(call, self.http.get(&url))
            .await
            .map_err(|e| self.call_failed("discovery", e))?;
        // A document read in clear names the keys and the token endpoint
        // the network chose: refused for an https issuer (loopback excepted).
        if cleartext_discovery(&url, &metadata.issuer) {
            return Err(self.unavailable(format!(
                "discovery document of an https issuer was read over http ({url})"
            )));
        }
        // OpenID Connect Discovery §4.3: the issuer in the document must be
        // exactly the one we were configured with (mix-up and impersonation).
        if let Some(issuer) = &self.config.issuer {
            if &metadata.issuer != issuer {
                return Err(self.unavailable(format!(
                    "discovery document names issuer `{}`, not the configured `{issuer}`",
                    crate::error::printable(&metadata.issuer, 200)
                )));
            }
        } else if !same_origin(&url, &metadata.issuer) {
            // Known by its `discovery_url` alone, a provider could name any
            // issuer, another provider's among them, and so receive client
            // assertions whose `aud` is that provider's (CVE-2025-27370):
            // the issuer must at least be served where its document is.
            return Err(self.unavailable(format!(
                "discovery document at {url} names issuer `{}`, of another origin; configure \
                 `providers.{}.issuer` if that really is its issuer",
                crate::error::printable(&metadata.issuer, 200),
                self.name
            )));
        }
        if let Some((field, message)) = metadata.problems().into_iter().next() {
            return Err(self.unavailable(format!("discovery document `{field}` {message}")));
        }
        // Endpoints of another origin could be another provider's: a code
        // or client assertion meant for this one would go there
        // (CVE-2025-27370). Only those the configuration allows.
        if let Some((field, origin)) = metadata
            .foreign_endpoints(&self.config.allowed_endpoint_origins)
            .into_iter()
            .next()
        {
            return Err(self.unavailable(format!(
                "discovery document puts `{field}` on `{}`, not on the issuer's origin; list it in \
                 `providers.{}.allowed_endpoint_origins` if the provider really serves it there",
                crate::error::printable(&origin, 200),
                self.name
            )));
        }
        // Two providers answering at one callback cannot share an issuer.
        if let Err(holder) = self.issuers.claim(&self.name, &self.callback_path, &metadata.issuer) {
            return Err(self.unavailable(format!(
                "discovery document names issuer `{}`, which provider `{holder}` holds at the same \
                 callback `{}`: their responses could not be told apart (RFC 9207 §4); give one of \
                 them a `redirect_uri` of its own",
                crate::error::printable(&metadata.issuer, 200),
                self.callback_path
            )));
        }
        event!(info, "oidc: discovered provider `{}` at {}", self.name, metadata.issuer);
        Ok(Arc::new(metadata))
    }

    /// The client we are at this provider: the configured one, or one
    /// registered on first use (once for all concurrent callers; a failed
    /// registration is retried after a short back-off).
    pub(crate) async fn client(&self) -> Result<Arc<RegisteredClient>, OidcError> {
        self.client
            .get_or_try_init(|| async { registration::register(self, &self.registration).await.map(Arc::new) })
            .await
    }

    /// This provider answered something unusable, or cannot be used as configured.
    pub(crate) fn unavailable(&self, why: impl Into<String>) -> OidcError {
        OidcError::ProviderUnavailable(ProviderError::Unusable {
            provider: self.name.clone(),
            why: why.into(),
        })
    }

    /// Maps a failed call to this provider onto the error the user sees.
    pub(crate) fn call_failed(&self, call: &'static str, error: HttpError) -> OidcError {
        OidcError::ProviderUnavailable(ProviderError::Call {
            provider: self.name.clone(),
            call,
            source: error,
        })
    }
}

/// Whether `url` and `issuer` are of one origin (scheme, host, port). Paths
/// on one origin are trusted alike: a host serving many issuers (Keycloak
/// realms, Entra tenants) serves their documents too.
fn same_origin(url: &str, issuer: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(issuer)) {
        (Ok(url), Ok(issuer)) => url.origin().is_tuple() && url.origin() == issuer.origin(),
        _ => false,
    }
}

/// Whether a discovery document for `issuer` came over cleartext http from
/// somewhere other than this machine, while the issuer is https.
fn cleartext_discovery(url: &str, issuer: &str) -> bool {
    issuer.starts_with("https://")
        && url::Url::parse(url).is_ok_and(|url| url.scheme() == "http" && !crate::config::is_loopback(&url))
}

#[cfg(test)]
mod discovery_tests {
    #[test]
    fn an_https_issuers_document_read_in_clear_is_refused_unless_on_loopback() {
        let refused = |url: &str, issuer: &str| super::cleartext_discovery(url, issuer);
        assert!(refused(
            "http://op.example/.well-known/openid-configuration",
            "https://op.example"
        ));
        assert!(!refused(
            "https://op.example/.well-known/openid-configuration",
            "https://op.example"
        ));
        assert!(!refused(
            "http://127.0.0.1:9/.well-known/openid-configuration",
            "https://op.example"
        ));
        assert!(!refused("http://localhost:9/x", "https://op.example"));
        assert!(!refused("http://op.example/x", "http://op.example"));
    }

    #[test]
    fn an_issuer_is_of_its_documents_origin_or_of_none() {
        let same = super::same_origin;
        assert!(same(
            "https://op.example/.well-known/openid-configuration",
            "https://op.example"
        ));
        assert!(same(
            "https://op.example/t/v2.0/.well-known/openid-configuration?p=x",
            "https://op.example/t/v2.0/"
        ));
        assert!(!same(
            "https://b.example/.well-known/openid-configuration",
            "https://a.example"
        ));
        assert!(!same("https://op.example/x", "http://op.example"));
        assert!(!same("https://op.example:8443/x", "https://op.example"));
        assert!(!same("https://op.example/x", "not a url"));
    }
}
