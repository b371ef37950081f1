//! Refreshing a session's access token with its refresh token (RFC 6749
//! §6, OpenID Connect Core §12).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::OidcError;
use crate::fairing::Oidc;
use crate::session::{LazyObject, UserSession};
use crate::token::endpoint;
use crate::token::id_token::{self, NonceRule};

/// How long a refresh result is shared with requests still carrying the
/// session from before it (concurrent requests of one browser, and a
/// rotated refresh token that only the first of them could use).
pub(crate) const SHARED_SECONDS: u64 = 60;

/// The session with fresh tokens. One token request per session and
/// refresh token, however many requests ask at once.
pub(crate) async fn refresh(oidc: &Oidc, session: &UserSession) -> Result<Arc<UserSession>, OidcError> {
    let refresh_token = session
        .refresh_token
        .clone()
        .ok_or_else(|| OidcError::RefreshFailed("the session has no refresh token".into()))?;
    let provider = oidc
        .provider(&session.provider)
        .ok_or_else(|| OidcError::RefreshFailed("the session's provider is not configured".into()))?;
    let mut hasher = Sha256::new();
    hasher.update(session.id.as_bytes());
    hasher.update([0]);
    hasher.update(refresh_token.secret().as_bytes());
    // The access token being replaced is part of the key: requests still
    // carrying it share this refresh, while a session that already holds
    // the refreshed token refreshes anew when that one expires or is forced.
    hasher.update([0]);
    hasher.update(session.access_token.as_ref().map_or("", |t| t.secret()).as_bytes());
    let key: [u8; 32] = hasher.finalize().into();
    oidc.refreshes()
        .get_or_load(key, || async {
            let metadata = provider.metadata().await?;
            let response = endpoint::request(
                provider,
                &metadata,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.secret()),
                ],
            )
            .await
            .map_err(|error| match error {
                OidcError::Provider { error, .. } => {
                    OidcError::RefreshFailed(format!("the provider answered `{error}`"))
                }
                other => other,
            })?;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let mut fresh = session.clone();
            fresh.access_token = Some(response.access_token);
            fresh.access_token_expires_at = response
                .expires_in
                .and_then(|s| i64::try_from(s).ok())
                .map(|s| now.saturating_add(s));
            // RFC 6749 §6: a new refresh token replaces the old one; none
            // means the old one stays valid.
            if let Some(rotated) = response.refresh_token {
                fresh.refresh_token = Some(rotated);
            }
            if let Some(raw) = response.id_token {
                let original_nonce = session.id_token_claims().get("nonce").and_then(Value::as_str);
                let verified = id_token::verify(
                    provider,
                    &metadata,
                    &raw,
                    NonceRule::Refresh(original_nonce),
                    oidc.config().clock_skew_seconds,
                )
                .await
                // Core §12.2: a refreshed ID token that does not validate
                // (another issuer, audience, key...) ends the session.
                .map_err(|e| OidcError::SessionEnded(e.to_string()))?;
                // Core §12.2: same issuer, subject and audience, or it is
                // someone else's token and the session must end.
                for claim in ["iss", "sub", "aud"] {
                    if verified.claims.get(claim) != session.id_token_claims().get(claim) {
                        return Err(OidcError::SessionEnded(format!(
                            "the refreshed ID token has another `{claim}`"
                        )));
                    }
                }
                fresh.id_token_jwt = verified.jwt;
                fresh.id_token_claims = LazyObject::new(verified.claims);
            }
            // Shared no longer than half the new token's life.
            let shared = response
                .expires_in
                .map_or(SHARED_SECONDS, |life| SHARED_SECONDS.min(life / 2));
            Ok((Arc::new(fresh), Duration::from_secs(shared)))
        })
        .await
}
