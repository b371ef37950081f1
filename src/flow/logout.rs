//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the app's
//! logout route ends the local session, revokes the refresh token and sends
//! the browser to the provider's `end_session_endpoint`, to come back to
//! `post_logout_redirect_uri` with a single-use `state`.

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::config::ProviderMetadata;
use crate::error::OidcError;
use crate::oidc::Oidc;
use crate::provider::registration::RegisteredClient;
use crate::provider::Provider;
use crate::session::jar::{Jar, LOGOUT_STATE};
use crate::session::UserSession;
use crate::telemetry::Endpoint;
use crate::token::endpoint;

/// How long the provider may take to send the browser back.
const LOGOUT_SECONDS: i64 = 600;

#[derive(Serialize, Deserialize)]
struct PendingLogout {
    state: String,
    expires_at: i64,
}

/// Logs the browser behind `jar` out; where to send it next (the
/// provider's logout page, or `post_logout_redirect_uri`).
///
/// The local session ends whatever the provider does next; a copy of its
/// cookies is refused from now on, on every instance. The error is only
/// for a state layer that could not record that (`503`); the browser's
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
    revoke_refresh_token(provider, &client, &metadata, &session).await;
    let Some(mut end_session) = metadata.end_session_endpoint.clone() else {
        return Ok(local);
    };
    let state = openidconnect::CsrfToken::new_random().secret().clone();
    let pending = PendingLogout {
        state: state.clone(),
        expires_at: clock::now() + LOGOUT_SECONDS,
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

/// RFC 7009: the refresh token dies with the session. Best effort: a
/// provider that fails here does not keep the user logged in locally.
async fn revoke_refresh_token(
    provider: &Provider,
    client: &RegisteredClient,
    metadata: &ProviderMetadata,
    session: &UserSession,
) {
    let (Some(endpoint), Some(token)) = (metadata.revocation_endpoint.clone(), session.refresh_token.as_ref()) else {
        return;
    };
    let params = [("token", token.secret()), ("token_type_hint", "refresh_token")];
    match endpoint::post_authenticated(provider, client, Endpoint::Revocation, endpoint, &params).await {
        Ok((200, _)) => {}
        Ok((status, _)) => event!(
            warn,
            "oidc: revoking a refresh token at `{}` answered {status}",
            provider.name
        ),
        Err(error) => event!(
            warn,
            "oidc: revoking a refresh token at `{}` failed: {error}",
            provider.name
        ),
    }
}

/// The browser's return from the provider's logout, with the `state` it
/// carries: the state is consumed and compared, and nothing else happens
/// either way: the session ended before the browser left, so a foreign,
/// missing or replayed state changes nothing.
pub(crate) fn on_return(jar: &Jar, returned: Option<&str>) {
    let Some(value) = jar.get(LOGOUT_STATE) else {
        return;
    };
    jar.remove(LOGOUT_STATE);
    let expected = serde_json::from_str::<PendingLogout>(&value).ok();
    let now = clock::now();
    let matches = expected.is_some_and(|p| Some(p.state.as_str()) == returned && p.expires_at > now);
    if !matches && returned.is_some() {
        event!(info, "oidc: a logout return carried an unknown state; ignored");
    }
}
