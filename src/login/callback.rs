//! The callback route at the path of `redirect_uri`: the provider's
//! authorization response (query for `GET`, form for `response_mode=form_post`).

use std::collections::HashMap;

use openidconnect::Nonce;
use rocket::data::Data;
use rocket::http::{Method, Status};
use rocket::route::{self, Handler, Route};
use rocket::Request;

use crate::error::OidcError;
use crate::fairing::Oidc;
use crate::login::{cookie_name, PendingAuth};
use crate::provider::Provider;
use crate::session::{LazyObject, SessionCookies, UserSession};
use crate::token::id_token::NonceRule;
use crate::token::{endpoint, id_token};

/// The parameters of an authorization response we look at. Anything else,
/// notably a front-channel `id_token` or `access_token` in this code flow,
/// is ignored: only what the token endpoint returns is trusted.
#[derive(Debug, Default)]
struct AuthorizationResponse {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl AuthorizationResponse {
    fn parse(pairs: impl Iterator<Item = (String, String)>) -> Result<Self, OidcError> {
        let mut seen: HashMap<String, String> = HashMap::new();
        for (name, value) in pairs {
            let known = matches!(name.as_str(), "code" | "state" | "iss" | "error" | "error_description");
            // RFC 6749 §3.1: parameters must not be included more than once.
            if known && seen.insert(name.clone(), value).is_some() {
                return Err(OidcError::InvalidRequest(format!("parameter `{name}` repeated")));
            }
        }
        Ok(AuthorizationResponse {
            code: seen.remove("code"),
            state: seen.remove("state"),
            iss: seen.remove("iss"),
            error: seen.remove("error"),
            error_description: seen.remove("error_description"),
        })
    }
}

/// The route handler; mounted for `GET` and `POST` at the callback path.
#[derive(Clone)]
pub(crate) struct Callback;

impl Callback {
    pub(crate) fn routes(path: &str) -> Vec<Route> {
        vec![
            Route::ranked(1, Method::Get, path, Callback),
            Route::ranked(1, Method::Post, path, Callback),
        ]
    }
}

#[rocket::async_trait]
impl Handler for Callback {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> route::Outcome<'r> {
        let Some(oidc) = request.rocket().state::<Oidc>() else {
            return route::Outcome::Error(Status::InternalServerError);
        };
        match finish(oidc, request, data).await {
            Ok(location) => route::Outcome::Success(crate::http::see_other(location)),
            Err(error) => {
                rocket::info!("oidc: login failed: {error}");
                error.stash(request);
                route::Outcome::Error(error.status())
            }
        }
    }
}

async fn read_response(request: &Request<'_>, data: Data<'_>) -> Result<AuthorizationResponse, OidcError> {
    if request.method() == Method::Post {
        let body = crate::http::read_form(data).await?;
        AuthorizationResponse::parse(url::form_urlencoded::parse(body.as_bytes()).into_owned())
    } else {
        let query = request.uri().query().map(|q| q.as_str()).unwrap_or("");
        AuthorizationResponse::parse(url::form_urlencoded::parse(query.as_bytes()).into_owned())
    }
}

/// Finishes a login; the path to send the browser back to.
async fn finish(oidc: &Oidc, request: &Request<'_>, data: Data<'_>) -> Result<String, OidcError> {
    let response = read_response(request, data).await?;
    let state = response
        .state
        .clone()
        .ok_or_else(|| OidcError::InvalidRequest("no `state` in the authorization response".into()))?;

    // The state must name a login pending in this very browser. Its cookie
    // is removed whatever happens next: a state is tried once.
    let cookies = SessionCookies::of(request, oidc.cipher(), oidc.config().cookies_secure());
    let name = cookie_name(&state);
    let pending = cookies
        .get(&name)
        .and_then(|v| serde_json::from_str::<PendingAuth>(&v).ok());
    if request.cookies().get(&name).is_some() {
        cookies.remove(&name);
    }
    let unknown =
        || OidcError::InvalidState("the state is unknown, expired, already used, or from another browser".into());
    let pending = pending.ok_or_else(unknown)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if !constant_time_eq(pending.state.as_bytes(), state.as_bytes()) || pending.expires_at <= now {
        return Err(unknown());
    }
    if !oidc.used_states().first_use(&state, pending.expires_at, now) {
        return Err(unknown());
    }
    let provider = oidc.provider(&pending.provider).ok_or_else(unknown)?;
    match complete(oidc, provider, &pending, response, &cookies).await {
        Err(error) if pending.silent => {
            // The silent check failed (`login_required`, or anything else):
            // the session ends and an interactive login starts. It is not
            // silent, so it cannot loop.
            rocket::info!("oidc: silent re-authentication failed ({error}); logging in again");
            oidc.store().remove(&cookies).await;
            super::begin(oidc, request, provider, &pending.return_to, super::Prompt::Interactive).await?;
            Err(OidcError::LoginRequired)
        }
        result => result,
    }
}

/// The part of a login after its state was accepted.
async fn complete(
    oidc: &Oidc,
    provider: &Provider,
    pending: &PendingAuth,
    response: AuthorizationResponse,
    cookies: &SessionCookies,
) -> Result<String, OidcError> {
    let metadata = provider.metadata().await?;

    // RFC 9207: the response says which issuer sent it (mix-up defense).
    match &response.iss {
        Some(iss) if iss != &metadata.issuer => {
            return Err(OidcError::InvalidIssuer(format!(
                "the response comes from `{iss}`, not `{}`",
                metadata.issuer
            )));
        }
        None if metadata.authorization_response_iss_parameter_supported => {
            return Err(OidcError::InvalidIssuer(
                "the provider sends `iss` but this response has none".into(),
            ));
        }
        _ => {}
    }

    if let Some(error) = response.error {
        return Err(OidcError::Provider {
            error: printable(&error, 64),
            description: response.error_description.map(|d| printable(&d, 300)),
        });
    }
    let code = response
        .code
        .ok_or_else(|| OidcError::InvalidRequest("no `code` in the authorization response".into()))?;

    let redirect_uri = oidc.config().redirect_uri.as_str();
    let tokens = endpoint::request(
        provider,
        &metadata,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &pending.pkce_verifier),
        ],
    )
    .await?;
    let raw_id_token = tokens
        .id_token
        .as_deref()
        .ok_or_else(|| OidcError::InvalidIdToken("the token response has no ID token".into()))?;
    let id_token = id_token::verify(
        provider,
        &metadata,
        raw_id_token,
        NonceRule::Login(&Nonce::new(pending.nonce.clone())),
        oidc.config().clock_skew_seconds,
    )
    .await?;
    let userinfo = endpoint::userinfo(provider, &metadata, &tokens.access_token, &id_token.subject).await?;

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let lifetime = i64::try_from(oidc.config().session.lifetime_seconds).unwrap_or(i64::MAX / 2);
    let session = UserSession {
        // A new id at every login: a session planted before login is never reused.
        id: openidconnect::CsrfToken::new_random().secret().clone(),
        provider: provider.name.clone(),
        sub: id_token.subject,
        id_token_jwt: id_token.jwt,
        id_token_claims: LazyObject::new(id_token.claims),
        access_token: Some(tokens.access_token),
        access_token_expires_at: tokens
            .expires_in
            .and_then(|s| i64::try_from(s).ok())
            .map(|s| now.saturating_add(s)),
        refresh_token: tokens.refresh_token,
        userinfo: userinfo.map(LazyObject::new),
        last_authenticated_ms: crate::session::unix_ms(),
        expires_at: now.saturating_add(lifetime),
    };
    // Whatever session this browser had (another provider's, an older
    // login) ends here, server-side too: only the new one is valid.
    oidc.store().remove(cookies).await;
    oidc.store().save(cookies, &session).await?;
    rocket::info!("oidc: user logged in with provider `{}`", provider.name);
    Ok(pending.return_to.clone())
}

/// Provider-sent text reduced to printable ASCII (it ends up in pages and logs).
fn printable(text: &str, max: usize) -> String {
    text.chars().filter(|c| (' '..='~').contains(c)).take(max).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(AuthorizationResponse::parse(pairs(&[("state", "a"), ("state", "b")])).is_err());
        let ok = AuthorizationResponse::parse(pairs(&[("state", "a"), ("code", "c"), ("id_token", "x")])).unwrap();
        assert_eq!(ok.code.as_deref(), Some("c"));
    }

    #[test]
    fn provider_text_is_made_printable() {
        assert_eq!(printable("a\u{0}b<\n>é", 10), "ab<>");
    }
}
