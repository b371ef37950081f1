//! Validating an access token by asking the provider (RFC 7662).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use super::{Checks, TokenIdentity, TokenValidation};
use crate::error::{BearerError, HttpError, OidcError, ProviderError};
use crate::jose::unique_json;
use crate::provider::budget::Spend;
use crate::secret::AccessToken;
use crate::telemetry::Endpoint;
use crate::token::endpoint;

impl Checks<'_> {
    /// RFC 7662 introspection; a refusal is `Err(InvalidToken)`.
    pub(super) async fn introspect(&self, token: &AccessToken) -> Result<(Arc<TokenIdentity>, Duration), OidcError> {
        let provider = self.provider;
        let endpoint = self.metadata.introspection_endpoint.clone().ok_or_else(|| {
            OidcError::TokenCheckUnavailable(ProviderError::Unusable {
                provider: provider.name.clone(),
                why: "no introspection endpoint".into(),
            })
        })?;
        // Anyone can send a token never seen before: past the budget of such
        // calls (its source's share, or all of it), the provider is not
        // asked, so a flood of junk tokens cannot spend its rate limits for
        // every caller. Tokens found valid before are answered from the
        // cache, whatever the budget.
        let spent = || ProviderError::BudgetSpent {
            provider: provider.name.clone(),
            calls: "introspections",
        };
        match provider
            .budgets
            .introspections
            .spend_at(self.caller, provider.clock.instant())
        {
            Spend::Allowed => {}
            Spend::SourceSpent => return Err(OidcError::TooManyRequests(format!("{} by this client", spent()))),
            Spend::AllSpent => return Err(OidcError::TokenCheckUnavailable(spent())),
        }
        let failed = |source: HttpError| {
            OidcError::TokenCheckUnavailable(ProviderError::Call {
                provider: provider.name.clone(),
                call: "introspection",
                source,
            })
        };
        let (status, body) = endpoint::post_authenticated(
            provider,
            self.client,
            Endpoint::Introspection,
            endpoint,
            &[("token", token.secret()), ("token_type_hint", "access_token")],
        )
        .await
        .map_err(failed)?;
        if status != 200 {
            // RFC 7662 §2.3, RFC 6749 §5.2: 401, or `invalid_client`, is the
            // provider refusing this app's own credentials: a configuration
            // to fix, not an outage to wait out.
            let said: Value = serde_json::from_slice(&body).unwrap_or_default();
            if status == 401 || said.get("error").and_then(Value::as_str) == Some("invalid_client") {
                return Err(self.client_rejected(status));
            }
            return Err(failed(HttpError::Status(status)));
        }
        // A member twice (two `sub`s, two `active`s) is no answer: which
        // one counts is exactly what must not be guessed.
        let response = unique_json::object(&body).ok_or_else(|| {
            failed(HttpError::Malformed(
                "something other than a JSON object, each member once".into(),
            ))
        })?;
        let refused = |why: BearerError| Err(OidcError::InvalidToken(why));
        // RFC 7662 §2.2: only `"active": true` means valid; with anything
        // else nothing in the response is trusted.
        let active = response.get("active") == Some(&Value::Bool(true));
        // Debug: a flood of random tokens must not flood the log (each
        // answer, valid or not, is cached).
        event!(
            debug,
            "oidc: introspected a token at provider `{}`: {}",
            provider.name,
            if active { "active" } else { "not active" }
        );
        if !active {
            return refused(BearerError::Inactive);
        }
        // A provider may say an ID or refresh token is active: neither is an
        // access token (RFC 7662 `token_type`, Keycloak's `typ`, Cognito's
        // `token_use`).
        let says = |name: &str| response.get(name).and_then(Value::as_str).map(str::to_ascii_lowercase);
        let token_type = says("token_type").unwrap_or_default();
        let not_access = token_type.contains("refresh")
            || token_type.contains("id_token")
            || says("typ").is_some_and(|typ| matches!(typ.as_str(), "id" | "refresh" | "offline" | "logout"))
            || says("token_use").is_some_and(|used| used != "access");
        if not_access {
            return refused(BearerError::NotAnAccessToken);
        }
        if self.provider.config.bearer.require_audience && !response.contains_key("aud") {
            return refused(BearerError::NoAudience);
        }
        let identity = self
            .identity(token, response, TokenValidation::Introspection)
            .map_err(OidcError::InvalidToken)?;
        let ttl = self.cache_ttl(&identity);
        Ok((identity, ttl))
    }

    /// The provider refused our client at introspection: said in the log
    /// as what it is, at most once a minute per provider (each token in a
    /// flood would say it again).
    pub(super) fn client_rejected(&self, status: u16) -> OidcError {
        let name = &self.provider.name;
        let now = self.provider.clock.now();
        let last = self.caches.client_rejected_said.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .caches
                .client_rejected_said
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            event!(
                error,
                "oidc: provider `{name}` refused this app's client credentials at its introspection endpoint \
                 ({status}, `invalid_client`): check `providers.{name}.client_id` and its secret or key; every \
                 bearer token it would check is answered 503 until it is fixed"
            );
        }
        OidcError::ClientRejected(ProviderError::Unusable {
            provider: name.clone(),
            why: format!("introspection answered {status} (`invalid_client`)"),
        })
    }
}
