//! The client-credentials grant (RFC 6749 §4.4): tokens for the app itself,
//! to call APIs as a service. Tokens are cached per (provider, scopes,
//! parameters) until shortly before they expire, and concurrent callers
//! share one token request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ProviderName;
use crate::error::OidcError;
use crate::oidc::Oidc;
use crate::token::endpoint;
use crate::token::service::ServiceToken;

/// Parameters the grant sets itself.
const RESERVED: &[&str] = &["grant_type", "scope", "client_id", "client_secret"];

impl Oidc {
    /// A client-credentials token from provider `P` for `scopes`, with extra
    /// token request parameters such as `audience` or `resource`.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket::State;
    /// use rocket_openidconnect::{DefaultProvider, Oidc, OidcError};
    ///
    /// #[get("/report")]
    /// async fn report(oidc: &State<Oidc>) -> Result<String, OidcError> {
    ///     let token = oidc
    ///         .client_credentials_grant(DefaultProvider, &["read"], &[("resource", "https://api.example/")])
    ///         .await?;
    ///     Ok(format!("token valid for {:?}", token.expires_in()))
    /// }
    /// ```
    pub async fn client_credentials_grant<P: ProviderName>(
        &self,
        _provider: P,
        scopes: &[&str],
        params: &[(&str, &str)],
    ) -> Result<Arc<ServiceToken>, OidcError> {
        let provider = P::NAME;
        let entry = self
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
                    expires_at: lifetime.and_then(|l| Instant::now().checked_add(l)),
                });
                // Renew shortly before expiry: 30 s early, or half the
                // lifetime of a short-lived token. No expiry: no caching.
                let keep = lifetime.map_or(Duration::ZERO, |l| l.saturating_sub(Duration::from_secs(30).min(l / 2)));
                Ok((token, keep))
            })
            .await
    }
}
