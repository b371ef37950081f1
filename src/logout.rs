//! Logout: RP-initiated (the app's logout route, OpenID Connect RP-Initiated
//! Logout 1.0) and back-channel (the provider's POST of a logout token,
//! OpenID Connect Back-Channel Logout 1.0).

use std::collections::HashMap;
use std::sync::Mutex;

use rocket::data::Data;
use rocket::http::{Header, Method, Status};
use rocket::response::Response;
use rocket::route::{self, Handler, Route};
use rocket::Request;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::OidcError;
use crate::fairing::Oidc;
use crate::provider::Provider;
use crate::registration::RegisteredClient;
use crate::session::{SessionCookies, UserSession};
use crate::token::endpoint;
use crate::token::jws::{self, CompactJws};

/// The cookie holding the `state` of a logout in progress.
const LOGOUT_COOKIE: &str = "oidc_logout";
/// How long the provider may take to send the browser back.
const LOGOUT_SECONDS: i64 = 600;
/// Back-Channel Logout 1.0 §2.4: the event a logout token carries.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Bound on remembered logout token ids and ended sessions.
const MAX_REMEMBERED: usize = 100_000;

/// The logout route handler; mounted for `GET` and `POST` at `logout_path`.
#[derive(Clone)]
pub(crate) struct Logout;

/// The back-channel logout handler; `POST` at `backchannel_logout_path`.
#[derive(Clone)]
pub(crate) struct BackchannelLogout;

pub(crate) fn routes(logout_path: &str, backchannel_path: &str) -> Vec<Route> {
    vec![
        Route::new(Method::Get, logout_path, Logout),
        Route::new(Method::Post, logout_path, Logout),
        Route::new(Method::Post, backchannel_path, BackchannelLogout),
    ]
}

fn see_other<'r>(location: String) -> route::Outcome<'r> {
    route::Outcome::Success(crate::http::see_other(location))
}

#[derive(Serialize, Deserialize)]
struct PendingLogout {
    state: String,
    expires_at: i64,
}

#[rocket::async_trait]
impl Handler for Logout {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> route::Outcome<'r> {
        let Some(oidc) = request.rocket().state::<Oidc>() else {
            return route::Outcome::Error(Status::InternalServerError);
        };
        let local = oidc.config().post_logout_redirect_uri().to_string();
        let session = oidc.session(request).await;
        // The local session always ends, whatever the provider does next.
        let cookies = SessionCookies::of(request, oidc.cipher(), oidc.config().cookies_secure());
        oidc.store().remove(&cookies).await;
        let Some(session) = session else {
            return see_other(local);
        };
        let Some(provider) = oidc.provider(&session.provider) else {
            return see_other(local);
        };
        rocket::info!("oidc: user logged out of provider `{}`", provider.name);
        let (Ok(metadata), Ok(client)) = (provider.metadata().await, provider.client().await) else {
            return see_other(local);
        };
        revoke_refresh_token(provider, &client, &metadata, &session).await;
        let client_id = client.client_id.clone();
        let Some(mut end_session) = metadata.end_session_endpoint.clone() else {
            return see_other(local);
        };
        let state = openidconnect::CsrfToken::new_random().secret().clone();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let pending = PendingLogout {
            state: state.clone(),
            expires_at: now + LOGOUT_SECONDS,
        };
        if let Ok(value) = serde_json::to_string(&pending) {
            cookies.set(LOGOUT_COOKIE, &value, LOGOUT_SECONDS);
        }
        end_session
            .query_pairs_mut()
            .append_pair("id_token_hint", session.id_token_jwt.secret())
            .append_pair("client_id", &client_id)
            .append_pair("post_logout_redirect_uri", &local)
            .append_pair("state", &state);
        see_other(end_session.into())
    }
}

/// RFC 7009: the refresh token dies with the session. Best effort: a
/// provider that fails here does not keep the user logged in locally.
async fn revoke_refresh_token(
    provider: &Provider,
    client: &RegisteredClient,
    metadata: &crate::provider::ProviderMetadata,
    session: &UserSession,
) {
    let (Some(endpoint), Some(token)) = (metadata.revocation_endpoint.clone(), session.refresh_token.as_ref()) else {
        return;
    };
    let params = [("token", token.secret()), ("token_type_hint", "refresh_token")];
    match endpoint::post_authenticated(provider, client, endpoint, &params).await {
        Ok((200, _)) => {}
        Ok((status, _)) => rocket::warn!(
            "oidc: revoking a refresh token at `{}` answered {status}",
            provider.name
        ),
        Err(error) => rocket::warn!("oidc: revoking a refresh token at `{}` failed: {error}", provider.name),
    }
}

/// The browser's return from the provider's logout: the state is consumed
/// and compared, and nothing else happens either way: the session ended
/// before the browser left, so a foreign, missing or replayed state
/// changes nothing.
pub(crate) fn on_return(oidc: &Oidc, request: &Request<'_>) {
    if request.uri().path().as_str() != oidc.post_logout_path() {
        return;
    }
    let returned = request.query_value::<&str>("state").and_then(Result::ok);
    let cookies = SessionCookies::of(request, oidc.cipher(), oidc.config().cookies_secure());
    let Some(value) = cookies.get(LOGOUT_COOKIE) else {
        return;
    };
    cookies.remove(LOGOUT_COOKIE);
    let expected = serde_json::from_str::<PendingLogout>(&value).ok();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let matches = expected.is_some_and(|p| Some(p.state.as_str()) == returned && p.expires_at > now);
    if !matches && returned.is_some() {
        rocket::info!("oidc: a logout return carried an unknown state; ignored");
    }
}

/// Sessions ended by back-channel logout that the store cannot delete
/// (cookie sessions live in browsers): refused until they would have
/// expired anyway.
#[derive(Default)]
pub(crate) struct Revocations {
    inner: Mutex<RevocationLists>,
}

#[derive(Default)]
struct RevocationLists {
    /// (provider, sid) → until when it is refused.
    sids: HashMap<(String, String), i64>,
    /// (provider, sub) → (logout time in Unix ms, until when it applies).
    subs: HashMap<(String, String), (i64, i64)>,
    /// Logout token `jti`s seen, until their `exp`.
    jtis: HashMap<String, i64>,
}

fn bound<V>(map: &mut HashMap<impl Eq + std::hash::Hash, V>, now: i64, until: impl Fn(&V) -> i64) {
    if map.len() >= MAX_REMEMBERED {
        map.retain(|_, v| until(v) > now);
        if map.len() >= MAX_REMEMBERED {
            map.clear();
        }
    }
}

impl Revocations {
    fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .map(|l| l.sids.is_empty() && l.subs.is_empty())
            .unwrap_or(true)
    }

    /// Whether `session` was ended by a back-channel logout.
    pub(crate) fn refuses(&self, session: &UserSession) -> bool {
        if self.is_empty() {
            return false;
        }
        let Ok(lists) = self.inner.lock() else {
            return true;
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let by_sid = session
            .sid()
            .and_then(|sid| lists.sids.get(&(session.provider.clone(), sid.to_string())))
            .is_some_and(|until| *until > now);
        let by_sub = lists
            .subs
            .get(&(session.provider.clone(), session.sub.clone()))
            .is_some_and(|(at_ms, until)| *until > now && session.last_authenticated_ms <= *at_ms);
        by_sid || by_sub
    }

    fn record(&self, provider: &str, sid: Option<&str>, sub: Option<&str>, lifetime: i64) {
        let Ok(mut lists) = self.inner.lock() else {
            return;
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let until = now.saturating_add(lifetime);
        match (sid, sub) {
            (Some(sid), _) => {
                bound(&mut lists.sids, now, |until| *until);
                lists.sids.insert((provider.to_string(), sid.to_string()), until);
            }
            (None, Some(sub)) => {
                bound(&mut lists.subs, now, |(_, until)| *until);
                let now_ms = crate::session::unix_ms();
                lists
                    .subs
                    .insert((provider.to_string(), sub.to_string()), (now_ms, until));
            }
            (None, None) => {}
        }
    }

    /// Records `jti`; false when it was seen before (a replay).
    fn first_jti(&self, jti: &str, exp: i64) -> bool {
        let Ok(mut lists) = self.inner.lock() else {
            return false;
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        bound(&mut lists.jtis, now, |exp| *exp);
        lists.jtis.insert(jti.to_string(), exp).is_none()
    }
}

#[rocket::async_trait]
impl Handler for BackchannelLogout {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let Some(oidc) = request.rocket().state::<Oidc>() else {
            return route::Outcome::Error(Status::InternalServerError);
        };
        match backchannel_logout(oidc, data).await {
            Ok(ended) => {
                rocket::info!("oidc: back-channel logout ended {ended} stored session(s)");
                route::Outcome::Success(
                    Response::build()
                        .status(Status::Ok)
                        .header(Header::new("Cache-Control", "no-store"))
                        .finalize(),
                )
            }
            Err(error) => {
                rocket::info!("oidc: back-channel logout refused: {error}");
                error.stash(request);
                route::Outcome::Error(error.status())
            }
        }
    }
}

async fn backchannel_logout(oidc: &Oidc, data: Data<'_>) -> Result<usize, OidcError> {
    let bad = |why: &str| OidcError::InvalidRequest(why.to_string());
    let body = crate::http::read_form(data).await?;
    let mut tokens = url::form_urlencoded::parse(body.as_bytes()).filter(|(name, _)| name == "logout_token");
    let raw = tokens
        .next()
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| bad("no logout_token"))?;
    if tokens.next().is_some() {
        return Err(bad("logout_token repeated"));
    }
    let jws = CompactJws::parse(&raw).ok_or_else(|| bad("the logout token is not a JWT"))?;
    // §2.4: explicit typing, when present, must say logout+jwt.
    if let Some(typ) = jws.typ() {
        if typ != "logout+jwt" && typ != "application/logout+jwt" {
            return Err(bad("the logout token's `typ` is not logout+jwt"));
        }
    }
    // The unverified `iss` only chooses whose keys to verify with.
    let unverified =
        jws::decode_object(raw.split('.').nth(1).unwrap_or_default()).ok_or_else(|| bad("unreadable claims"))?;
    let issuer = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no `iss`"))?;
    // Only providers configured with this issuer, or already discovered
    // with it: an unauthenticated POST must not make us discover every
    // provider.
    let mut provider = None;
    for name in oidc.provider_names().collect::<Vec<_>>() {
        let Some(candidate) = oidc.provider(name) else { continue };
        let metadata = match candidate.known_metadata() {
            Some(metadata) => Some(metadata),
            None if candidate.config.issuer.as_deref() == Some(issuer) => candidate.metadata().await.ok(),
            None => None,
        };
        if let Some(metadata) = metadata.filter(|m| m.issuer == issuer) {
            provider = Some((candidate, metadata));
            break;
        }
    }
    let (provider, metadata) = provider.ok_or_else(|| bad("the logout token's issuer is not a configured provider"))?;
    let allowed: Vec<_> = jws::ASYMMETRIC_ALGS
        .iter()
        .filter(|alg| {
            let name = serde_json::to_value(alg).ok();
            metadata
                .id_token_signing_alg_values_supported
                .iter()
                .any(|a| Some(Value::String(a.clone())) == name)
        })
        .cloned()
        .collect();
    let claims = jws::verify(provider, &raw, &allowed)
        .await
        .map_err(|e| bad(&format!("the logout token is not valid: {e}")))?
        .claims;

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let skew = i64::try_from(oidc.config().clock_skew_seconds).unwrap_or(0);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(metadata.issuer.as_str()) {
        return Err(bad("wrong `iss`"));
    }
    let client = provider.client().await?;
    let client_id = client.client_id.as_str();
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !audience_ok {
        return Err(bad("wrong or missing `aud`"));
    }
    let iat = number("iat").ok_or_else(|| bad("no `iat`"))?;
    if iat > now + skew {
        return Err(bad("`iat` is in the future"));
    }
    let exp = number("exp").ok_or_else(|| bad("no `exp`"))?;
    if now - skew >= exp {
        return Err(bad("the logout token has expired"));
    }
    let events_ok = claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(LOGOUT_EVENT))
        .is_some_and(Value::is_object);
    if !events_ok {
        return Err(bad("no back-channel logout event"));
    }
    if claims.contains_key("nonce") {
        return Err(bad("a logout token must not have a `nonce`"));
    }
    let (sid, sub) = (text("sid"), text("sub"));
    if sid.is_none() && sub.is_none() {
        return Err(bad("neither `sid` nor `sub`"));
    }
    let jti = text("jti").ok_or_else(|| bad("no `jti`"))?;
    if !oidc
        .revocations()
        .first_jti(&format!("{}\u{0}{jti}", metadata.issuer), exp.saturating_add(skew))
    {
        return Err(bad("the logout token was already used"));
    }
    let lifetime = i64::try_from(oidc.config().session.lifetime_seconds).unwrap_or(i64::MAX / 2);
    oidc.revocations().record(&provider.name, sid, sub, lifetime);
    Ok(oidc.store().end_sessions(&provider.name, sid, sub).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(sid: &str, sub: &str, last_authenticated: i64) -> UserSession {
        let last_authenticated = last_authenticated * 1000;
        serde_json::from_value(json!({
            "id": "s1", "provider": "default", "sub": sub, "id_token_jwt": "x",
            "id_token_claims": { "sid": sid, "sub": sub }, "access_token": null,
            "access_token_expires_at": null, "refresh_token": null, "userinfo": null,
            "last_authenticated_ms": last_authenticated, "expires_at": i64::MAX
        }))
        .unwrap()
    }

    #[test]
    fn a_logged_out_sid_is_refused_and_others_are_not() {
        let revocations = Revocations::default();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(!revocations.refuses(&session("a", "alice", now)));
        revocations.record("default", Some("a"), Some("alice"), 3600);
        assert!(revocations.refuses(&session("a", "alice", now)));
        assert!(!revocations.refuses(&session("b", "alice", now)));
    }

    #[test]
    fn a_logged_out_sub_refuses_only_earlier_sessions() {
        let revocations = Revocations::default();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        revocations.record("default", None, Some("alice"), 3600);
        assert!(revocations.refuses(&session("a", "alice", now - 10)));
        assert!(!revocations.refuses(&session("a", "alice", now + 10)));
        assert!(!revocations.refuses(&session("a", "bob", now - 10)));
    }

    #[test]
    fn a_jti_is_accepted_once() {
        let revocations = Revocations::default();
        assert!(revocations.first_jti("j1", i64::MAX));
        assert!(!revocations.first_jti("j1", i64::MAX));
        assert!(revocations.first_jti("j2", i64::MAX));
    }
}
