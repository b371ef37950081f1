//! Reading userinfo again on use (`providers.<name>.userinfo_refresh_seconds`):
//! what a session's roles and groups say is the provider's word of at most
//! that long ago, so a role taken away stops counting within it (a
//! session otherwise keeps the claims of its login until it ends).

use std::sync::Arc;

use crate::clock::UnixTime;
use crate::error::{HttpError, OidcError, ProviderError};
use crate::flow::claim_sources;
use crate::flow::refresh::refresh_and_store;
use crate::oidc::Oidc;
use crate::session::jar::Jar;
use crate::session::{LazyObject, UserSession};
use crate::token::endpoint;

/// Whether `session`'s userinfo is older than `every` seconds (off at 0).
pub(crate) fn due(every: u64, session: &UserSession, now: UnixTime) -> bool {
    let Ok(every) = i64::try_from(every) else {
        return false;
    };
    let read = session
        .userinfo_read_at
        .unwrap_or_else(|| session.last_authenticated.as_secs());
    every > 0 && now.secs_since(read) >= every
}

/// The session with userinfo read now, stored. The access token is
/// refreshed first when it has expired (or is about to). Ends the session
/// when the provider no longer takes its token, or answers for another
/// user; a provider that cannot be asked ends nothing (`502`).
pub(crate) async fn reread_and_store(
    oidc: &Oidc,
    jar: &Jar,
    session: Arc<UserSession>,
) -> Result<Arc<UserSession>, OidcError> {
    let provider = oidc.provider(&session.provider).ok_or(OidcError::LoginRequired)?;
    let now = oidc.clock().time();
    let session = if session.refresh_token.is_some() && session.access_token_expires_within(oidc.skew_seconds(), now) {
        refresh_and_store(oidc, jar, &session).await?
    } else {
        session
    };
    let ended = |why: &str| OidcError::SessionEnded(why.to_string());
    let Some(token) = session.access_token.clone() else {
        oidc.sessions().end(jar).await?;
        return Err(ended(
            "userinfo is to be read again, but the session has no access token",
        ));
    };
    let metadata = provider.metadata().await?;
    let claims = match endpoint::userinfo(provider, &metadata, &token, &session.sub).await {
        Ok(claims) => claims,
        // The provider no longer takes the session's token (revoked,
        // expired without a refresh token, the user disabled), or answers
        // for someone else: what the session says of the user is no longer
        // the provider's word.
        Err(
            OidcError::ProviderUnavailable(ProviderError::Call {
                source: HttpError::Status(401 | 403),
                ..
            })
            | OidcError::InvalidUserinfo(_),
        ) => {
            oidc.sessions().end(jar).await?;
            return Err(ended("the provider no longer answers userinfo for this session"));
        }
        Err(error) => return Err(error),
    };
    let sourced = claim_sources::resolve(
        oidc,
        provider,
        &[Some(session.id_token_claims()), claims.as_ref()],
        Some(&token),
    )
    .await;
    let kept = |mut claims: serde_json::Map<String, serde_json::Value>| {
        provider.config.session.retain(&mut claims);
        LazyObject::new(claims)
    };
    let mut fresh = (*session).clone();
    fresh.userinfo = claims.map(kept);
    fresh.sourced_claims = sourced.map(kept);
    fresh.userinfo_read_at = Some(now);
    let fresh = Arc::new(fresh);
    if oidc.sessions().update(jar, &fresh).await? {
        Ok(fresh)
    } else {
        oidc.sessions().end(jar).await?;
        Err(ended("the session was logged out while userinfo was read"))
    }
}
