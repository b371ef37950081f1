//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the app's
//! logout route ends the local session, revokes its tokens and sends
//! the browser to the provider's `end_session_endpoint`, to come back to
//! `post_logout_redirect_uri` with a single-use `state`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::config::ProviderMetadata;
use crate::error::OidcError;
use crate::oidc::Oidc;
use crate::provider::Provider;
use crate::provider::registration::RegisteredClient;
use crate::session::UserSession;
use crate::session::jar::{Jar, LOGOUT_STATE};
use crate::telemetry::Endpoint;
use crate::token::endpoint;

/// How long the provider may take to send the browser back.
const LOGOUT_SECONDS: i64 = 600;

#[derive(Serialize, Deserialize)]
struct PendingLogout {
    state: String,
    expires_at: UnixTime,
}

/// Logs the browser behind `jar` out; where to send it next (the
/// provider's logout page, or `post_logout_redirect_uri`).
///
/// The local session ends whatever the provider does next; a copy of its
/// cookies is refused from now on, on every instance. The error is only
/// for a store that could not record that (`503`); the browser's
/// cookies are removed even then.
pub(crate) async fn logout(oidc: &Oidc, jar: &Jar) -> Result<String, OidcError> {
    let local = oidc.config().post_logout_redirect_uri().to_string();
    let Some(session) = oidc.sessions().end(jar).await? else {
        return Ok(local);
    };
    let Some(provider) = oidc.provider(&session.provider) else {
        return Ok(local);
    };
    event!(info, "oidc: user logged out of provider `{}`", provider.name);
    crate::telemetry::logout("rp");
    let (Ok(metadata), Ok(client)) = (provider.metadata().await, provider.client().await) else {
        return Ok(local);
    };
    revoke_tokens(oidc, &client, &metadata, &session);
    let Some(mut end_session) = metadata.end_session_endpoint.clone() else {
        return Ok(local);
    };
    let state = crate::random::token();
    let pending = PendingLogout {
        state: state.clone(),
        expires_at: oidc.clock().time().plus_secs(LOGOUT_SECONDS),
    };
    if let Ok(value) = serde_json::to_string(&pending) {
        jar.set(LOGOUT_STATE, &value, LOGOUT_SECONDS);
    }
    end_session
        .query_pairs_mut()
        .append_pair("id_token_hint", session.id_token_jwt.secret())
        .append_pair("client_id", &client.client_id)
        .append_pair("post_logout_redirect_uri", &local)
        .append_pair("state", &state);
    Ok(end_session.into())
}

/// The most revocations under way at once in this process: past it, a
/// logout revokes nothing at the provider (and says so), rather than pile
/// up tasks.
const MAX_REVOCATIONS: usize = 256;

/// Revocations under way.
static REVOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// RFC 7009: the session's tokens die with it, the refresh token first,
/// then the access token: a provider that does not cascade (§2.1 makes it a
/// SHOULD) would otherwise keep the access token active after the logout.
/// In the background, each call bounded by `http_timeout_seconds`: the
/// user's logout waits for none of it, and a provider that fails here does
/// not keep the user logged in locally.
fn revoke_tokens(
    oidc: &Oidc,
    client: &Arc<RegisteredClient>,
    metadata: &Arc<ProviderMetadata>,
    session: &Arc<UserSession>,
) {
    let Some(endpoint) = metadata.revocation_endpoint.clone() else {
        return;
    };
    if session.refresh_token.is_none() && session.access_token.is_none() {
        return;
    }
    if REVOCATIONS.fetch_add(1, Ordering::AcqRel) >= MAX_REVOCATIONS {
        REVOCATIONS.fetch_sub(1, Ordering::AcqRel);
        event!(
            warn,
            "oidc: {MAX_REVOCATIONS} token revocations are under way: this logout's tokens are not revoked at `{}`",
            session.provider
        );
        return;
    }
    let (oidc, client, session) = (oidc.clone(), client.clone(), session.clone());
    rocket::tokio::spawn(async move {
        if let Some(provider) = oidc.provider(&session.provider) {
            let tokens = [
                (session.refresh_token.as_ref().map(|t| t.secret()), "refresh_token"),
                (session.access_token.as_ref().map(|t| t.secret()), "access_token"),
            ];
            for (token, hint) in tokens {
                if let Some(token) = token {
                    revoke(provider, &client, endpoint.clone(), token, hint).await;
                }
            }
        }
        REVOCATIONS.fetch_sub(1, Ordering::AcqRel);
    });
}

/// Revokes one token (RFC 7009 §2.1), saying in the log what went wrong.
async fn revoke(provider: &Provider, client: &RegisteredClient, endpoint: url::Url, token: &str, hint: &str) {
    let params = [("token", token), ("token_type_hint", hint)];
    match endpoint::post_authenticated(provider, client, Endpoint::Revocation, endpoint, &params).await {
        Ok((200, _)) => {}
        Ok((status, _)) => event!(warn, "oidc: revoking a {hint} at `{}` answered {status}", provider.name),
        Err(error) => event!(warn, "oidc: revoking a {hint} at `{}` failed: {error}", provider.name),
    }
}

/// The browser's return from the provider's logout, with the `state` it
/// carries: the state is consumed and compared, and nothing else happens
/// either way: the session ended before the browser left, so a foreign,
/// missing or replayed state changes nothing.
pub(crate) fn on_return(jar: &Jar, returned: Option<&str>, now: UnixTime) {
    let Some(value) = jar.get(LOGOUT_STATE) else {
        return;
    };
    jar.remove(LOGOUT_STATE);
    let expected = serde_json::from_str::<PendingLogout>(&value).ok();
    let matches = expected.is_some_and(|p| Some(p.state.as_str()) == returned && p.expires_at > now);
    if !matches && returned.is_some() {
        event!(info, "oidc: a logout return carried an unknown state; ignored");
    }
}
