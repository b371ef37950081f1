//! The client-credentials grant (RFC 6749 §4.4): tokens for the app itself,
//! to call APIs as a service. Tokens are cached per (provider, scopes,
//! parameters) until shortly before they expire, and concurrent callers
//! share one token request.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ProviderName;
use crate::error::OidcError;
use crate::oidc::Oidc;
use crate::token::endpoint;
use crate::token::service::ServiceToken;

/// Parameters the grant sets itself.
const RESERVED: &[&str] = &["grant_type", "scope", "client_id", "client_secret"];

impl Oidc {
    /// A client-credentials token request to provider `P`: name its scopes
    /// and extra parameters (`audience`, `resource`...), then
    /// [`send`](ClientCredentials::send) it.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket::State;
    /// use rocket_openidconnect::{DefaultProvider, Oidc, OidcError};
    ///
    /// #[get("/report")]
    /// async fn report(oidc: &State<Oidc>) -> Result<String, OidcError> {
    ///     let token = oidc
    ///         .client_credentials::<DefaultProvider>()
    ///         .scopes(["read"])
    ///         .param("resource", "https://api.example/")
    ///         .send()
    ///         .await?;
    ///     Ok(format!("token valid for {:?}", token.expires_in()))
    /// }
    /// ```
    pub fn client_credentials<P: ProviderName>(&self) -> ClientCredentials<'_, P> {
        ClientCredentials {
            oidc: self,
            scopes: Vec::new(),
            params: Vec::new(),
            provider: PhantomData,
        }
    }
}

/// A client-credentials token request being built; see
/// [`Oidc::client_credentials`].
#[must_use = "a token request does nothing until it is sent"]
pub struct ClientCredentials<'a, P: ProviderName> {
    oidc: &'a Oidc,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    provider: PhantomData<P>,
}

impl<P: ProviderName> std::fmt::Debug for ClientCredentials<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("provider", &P::NAME)
            .field("scopes", &self.scopes)
            .field("params", &self.params.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .finish()
    }
}

impl<P: ProviderName> ClientCredentials<'_, P> {
    /// Adds these scopes to the request.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds a token request parameter (`audience`, `resource`...). The
    /// grant's own (`grant_type`, `scope`, `client_id`, `client_secret`)
    /// are refused when sent.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Adds these token request parameters; see [`param`](Self::param).
    pub fn params<K: Into<String>, V: Into<String>>(mut self, params: impl IntoIterator<Item = (K, V)>) -> Self {
        self.params
            .extend(params.into_iter().map(|(name, value)| (name.into(), value.into())));
        self
    }

    /// Sends the request, or answers from the cache: tokens are kept per
    /// provider, scopes and parameters until shortly before they expire,
    /// and concurrent callers share one token request.
    pub async fn send(self) -> Result<Arc<ServiceToken>, OidcError> {
        let scopes: Vec<&str> = self.scopes.iter().map(String::as_str).collect();
        let params: Vec<(&str, &str)> = self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        grant(self.oidc, P::NAME, &scopes, &params).await
    }
}

/// The grant at `provider` for `scopes` and `params`.
async fn grant(
    oidc: &Oidc,
    provider: &str,
    scopes: &[&str],
    params: &[(&str, &str)],
) -> Result<Arc<ServiceToken>, OidcError> {
    let entry = oidc
        .provider_entry(provider)
        .ok_or_else(|| OidcError::InvalidRequest(format!("provider `{provider}` is not configured")))?;
    let provider = &entry.provider;
    if let Some((name, _)) = params.iter().find(|(name, _)| RESERVED.contains(name)) {
        return Err(OidcError::InvalidRequest(format!(
            "parameter `{name}` is set by the grant itself"
        )));
    }
    let mut scopes: Vec<&str> = scopes.to_vec();
    scopes.sort_unstable();
    scopes.dedup();
    let scope = scopes.join(" ");
    let mut params: Vec<(&str, &str)> = params.to_vec();
    params.sort_unstable();
    let key = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("scope", &scope)
        .extend_pairs(params.iter())
        .finish();
    entry
        .service_tokens
        .get_or_load(key.as_str(), || async {
            let metadata = provider.metadata().await?;
            let mut form = vec![("grant_type", "client_credentials")];
            if !scope.is_empty() {
                form.push(("scope", &scope));
            }
            form.extend(params.iter().copied());
            let response = endpoint::request(provider, &metadata, &form).await?;
            let lifetime = response.expires_in.map(Duration::from_secs);
            let token = Arc::new(ServiceToken {
                access_token: response.access_token,
                scope: response.scope,
                expires_at: lifetime.and_then(|l| provider.clock.instant().checked_add(l)),
                clock: provider.clock.clone(),
            });
            // Renew shortly before expiry: 30 s early, or half the
            // lifetime of a short-lived token. No expiry: no caching.
            let keep = lifetime.map_or(Duration::ZERO, |l| l.saturating_sub(Duration::from_secs(30).min(l / 2)));
            Ok((token, keep))
        })
        .await
}
