//! Starting a login: the authorization request (code flow, PKCE S256,
//! `nonce`, `state`) and the pending-login cookie.
//!
//! A pending login lives in its own encrypted cookie `oidc_auth_<tag>`,
//! where the tag is derived from its `state`: the callback finds the
//! cookie by the `state` it receives, so several logins can be pending at
//! once (two tabs), and a `state` only works in the browser it was issued
//! to. The store also remembers used states until they expire, so a
//! state is single-use even against a replayed cookie, on every instance.

use openidconnect::{CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier};
use rocket::http::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::clock::UnixTime;
use crate::config::{ProviderMetadata, PushedAuthorizationRequests};
use crate::error::{OidcError, printable};
use crate::flow::return_path::safe_return_path;
use crate::oidc::Oidc;
use crate::provider::Provider;
use crate::provider::budget::{Caller, Spend};
use crate::provider::registration::RegisteredClient;
use crate::session::jar::{Jar, PENDING_PREFIX};
use crate::telemetry::Endpoint;
use crate::token::endpoint;

/// How long a login may take at the provider.
pub(crate) const PENDING_SECONDS: i64 = crate::store::sessions::LOGIN_SECONDS;
/// The most logins pending at once in one browser; the oldest is dropped.
const MAX_PENDING: usize = 4;

/// What the callback needs to finish a login, sealed in a cookie.
#[derive(Serialize, Deserialize)]
pub(crate) struct PendingAuth {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) pkce_verifier: String,
    pub(crate) provider: String,
    pub(crate) return_to: String,
    pub(crate) expires_at: UnixTime,
    /// A `prompt=none` check of an existing session.
    #[serde(default)]
    pub(crate) silent: bool,
    /// What the login must achieve (a step-up); its ID token is checked.
    #[serde(default, skip_serializing_if = "StepUp::is_none")]
    pub(crate) step_up: StepUp,
}

/// A login stronger or more recent than usual (RFC 9470): `acr_values`
/// and `max_age` for the provider, and what the ID token must then show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StepUp {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) acr_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<u64>,
}

impl StepUp {
    /// The requirement of a guard's type.
    pub(crate) fn of(acr_values: &[&str], max_age: Option<u64>) -> StepUp {
        StepUp {
            acr_values: acr_values.iter().map(|v| v.to_string()).collect(),
            max_age,
        }
    }

    pub(crate) fn is_none(&self) -> bool {
        self.acr_values.is_empty() && self.max_age.is_none()
    }

    /// Whether ID-token `claims` meet it: an `acr` among `acr_values`, and
    /// an `auth_time` within `max_age` (with `skew`) of `now`.
    pub(crate) fn satisfied_by(
        acr_values: &[&str],
        max_age: Option<u64>,
        claims: &serde_json::Map<String, serde_json::Value>,
        now: UnixTime,
        skew: i64,
    ) -> bool {
        let acr_ok = acr_values.is_empty()
            || claims
                .get("acr")
                .and_then(|acr| acr.as_str())
                .is_some_and(|acr| acr_values.contains(&acr));
        let age_ok = max_age.is_none_or(|max_age| {
            let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
            claims
                .get("auth_time")
                .and_then(|t| t.as_i64())
                .map(UnixTime::from_secs)
                .is_some_and(|auth_time| auth_time >= now.minus_secs(max_age).minus_secs(skew))
        });
        acr_ok && age_ok
    }

    /// Whether ID-token `claims` meet this step-up.
    pub(crate) fn met_by(&self, claims: &serde_json::Map<String, serde_json::Value>, now: UnixTime, skew: i64) -> bool {
        let acr: Vec<&str> = self.acr_values.iter().map(String::as_str).collect();
        StepUp::satisfied_by(&acr, self.max_age, claims, now, skew)
    }

    /// The refusal of a login or session that does not meet it.
    pub(crate) fn refusal(&self) -> OidcError {
        OidcError::InsufficientUserAuthentication {
            acr_values: self.acr_values.join(" "),
            max_age: self.max_age,
        }
    }
}

/// The cookie name for a pending login with this `state`.
pub(crate) fn cookie_name(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PENDING_PREFIX}{tag}")
}

/// A login redirect decided by a guard; the fairing turns the guard's 401
/// into this `302` whichever catcher rendered it.
#[derive(Clone)]
pub(crate) struct LoginRedirect {
    pub(crate) location: String,
    pub(crate) cookies: Vec<Cookie<'static>>,
}

impl std::fmt::Debug for LoginRedirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The query carries the state and nonce; the cookies, sealed secrets.
        let endpoint = self.location.split('?').next().unwrap_or_default();
        f.debug_struct("LoginRedirect")
            .field("endpoint", &endpoint)
            .field("cookies", &self.cookies.len())
            .finish()
    }
}

/// Whether a login asks the user to interact, or silently checks that
/// they are still logged in at the provider (`prompt=none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prompt<'a> {
    Interactive,
    /// A silent re-check of the session whose ID token is `id_token_hint`.
    Silent {
        id_token_hint: &'a str,
    },
}

/// The longest ID token sent back as `id_token_hint` in a redirect's URL
/// (with a pushed request, it travels in the body and may be longer):
/// browsers and servers refuse URLs of some 8 KB.
const MAX_HINT_IN_URL: usize = 4096;

/// Starts a login at `provider` that returns to `return_to` (made safe
/// here): the redirect to the provider, with its cookies. `anonymous`: the
/// browser has no session (its pushed request counts against the budget
/// of requests nobody authenticated).
pub(crate) async fn begin(
    oidc: &Oidc,
    jar: &Jar,
    provider: &Provider,
    return_to: &str,
    prompt: Prompt<'_>,
    step_up: &StepUp,
    caller: Caller,
) -> Result<LoginRedirect, OidcError> {
    let metadata = provider.metadata().await?;
    let client = provider.client().await?;
    let state = CsrfToken::new(crate::random::token());
    let nonce = Nonce::new(crate::random::token());
    // RFC 7636 §4.1: 32 octets of the system's generator, base64url (43 characters).
    let verifier = PkceCodeVerifier::new(crate::random::text(32));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    let config = &provider.config;

    let mut params = Url::parse("http://request/").map_err(|e| OidcError::InvalidRequest(e.to_string()))?;
    {
        let mut query = params.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", oidc.config().redirect_uri_of(&provider.name).as_str())
            .append_pair("scope", &config.scopes.join(" "))
            .append_pair("state", state.secret())
            .append_pair("nonce", nonce.secret())
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");
        for (name, value) in &config.auth_request_params {
            let silent = matches!(prompt, Prompt::Silent { .. });
            let replaced = (silent && (name == "prompt" || name == "id_token_hint"))
                || (!step_up.acr_values.is_empty() && name == "acr_values")
                || (step_up.max_age.is_some() && name == "max_age");
            if !replaced {
                query.append_pair(name, value);
            }
        }
        if !step_up.acr_values.is_empty() {
            query.append_pair("acr_values", &step_up.acr_values.join(" "));
        }
        if let Some(max_age) = step_up.max_age {
            query.append_pair("max_age", &max_age.to_string());
        }
        if let Prompt::Silent { .. } = prompt {
            query.append_pair("prompt", "none");
        }
    }
    let mut params: Vec<(String, String)> = params.query_pairs().into_owned().collect();
    // OIDC Core §3.1.2.1: with `prompt=none`, the session's ID token SHOULD
    // be sent as a hint, and a provider MAY refuse the request without one
    // (every silent check would then end the session). In a pushed request
    // it may be as long as it is; in the browser's URL, a few KB at most.
    let hint = match prompt {
        Prompt::Silent { id_token_hint } => Some(id_token_hint),
        Prompt::Interactive => None,
    };
    let mut pushed_params = params.clone();
    pushed_params.extend(hint.map(|hint| ("id_token_hint".to_string(), hint.to_string())));
    let mut location: Url = metadata.authorization_endpoint.clone();
    match pushed_request_uri(provider, &metadata, &client, &pushed_params, caller).await? {
        // RFC 9126 §4: the browser carries only the client and the reference.
        Some(request_uri) => {
            location
                .query_pairs_mut()
                .append_pair("client_id", &client.client_id)
                .append_pair("request_uri", &request_uri);
        }
        None => {
            match hint {
                Some(hint) if hint.len() <= MAX_HINT_IN_URL => {
                    params.push(("id_token_hint".to_string(), hint.to_string()));
                }
                Some(hint) => event!(
                    info,
                    "oidc: provider `{}`: the ID token ({} bytes) is too long to go as `id_token_hint` in the \
                     browser's URL; the silent check goes without (pushed authorization requests would carry it)",
                    provider.name,
                    hint.len()
                ),
                None => {}
            }
            location.query_pairs_mut().extend_pairs(&params);
        }
    }

    let now = oidc.clock().time();
    let pending = PendingAuth {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        provider: provider.name.clone(),
        return_to: safe_return_path(return_to),
        expires_at: now.plus_secs(PENDING_SECONDS),
        silent: matches!(prompt, Prompt::Silent { .. }),
        step_up: step_up.clone(),
    };
    let value = serde_json::to_string(&pending).map_err(|e| OidcError::InvalidRequest(e.to_string()))?;

    // The cookies go out with the redirect, not through the request's
    // outgoing cookies: they must not be set on an answer that is not a redirect.
    let mut set = Vec::new();
    for stale in stale_pending(jar, now) {
        set.push(jar.removal_cookie(&stale));
    }
    let mut cookie = jar
        .sealed_cookie(&cookie_name(&pending.state), &value, PENDING_SECONDS)
        .ok_or_else(|| OidcError::InvalidRequest("the pending login could not be sealed".into()))?;
    if uses_form_post(provider) && oidc.config().cookies_secure() {
        // With response_mode=form_post the provider's answer is a cross-site
        // POST, on which browsers do not send SameSite=Lax cookies.
        cookie.set_same_site(SameSite::None);
    }
    set.push(cookie);
    event!(
        info,
        "oidc: login started at provider `{}`{}",
        provider.name,
        if pending.silent { " (silent, prompt=none)" } else { "" }
    );

    Ok(LoginRedirect {
        location: location.into(),
        cookies: set,
    })
}

/// The `request_uri` of the authorization request `params` pushed to the
/// provider (RFC 9126), or `None` when this login does not push it.
async fn pushed_request_uri(
    provider: &Provider,
    metadata: &ProviderMetadata,
    client: &RegisteredClient,
    params: &[(String, String)],
    caller: Caller,
) -> Result<Option<String>, OidcError> {
    let endpoint = metadata.pushed_authorization_request_endpoint.clone();
    let endpoint = match (provider.config.pushed_authorization_requests, endpoint) {
        (PushedAuthorizationRequests::Never, _) if metadata.require_pushed_authorization_requests => {
            return Err(provider.unavailable(
                "requires pushed authorization requests, but `pushed_authorization_requests = \"never\"`",
            ));
        }
        (PushedAuthorizationRequests::Never, _) | (PushedAuthorizationRequests::Auto, None) => {
            if metadata.require_pushed_authorization_requests {
                return Err(provider.unavailable(
                    "requires pushed authorization requests but advertises no `pushed_authorization_request_endpoint`",
                ));
            }
            return Ok(None);
        }
        (PushedAuthorizationRequests::Always, None) => return Err(provider.unavailable(
            "`pushed_authorization_requests = \"always\"` but it advertises no `pushed_authorization_request_endpoint`",
        )),
        (_, Some(endpoint)) => endpoint,
    };
    // Anyone can navigate to a protected page: past the budget of such
    // calls (its source's share, or all of it), the request goes by the
    // front channel where the provider allows it (the login works as
    // without PAR), else the navigation is refused without calling the
    // provider. A logged-in user's silent check or step-up spends that
    // user's share of the users' budget, so an anonymous flood never
    // refuses it.
    let spent = provider
        .budgets
        .pushed_requests
        .spend_at(caller, provider.clock.instant());
    if spent != Spend::Allowed {
        let required = metadata.require_pushed_authorization_requests
            || provider.config.pushed_authorization_requests == PushedAuthorizationRequests::Always;
        if required {
            let why = format!(
                "provider `{}`: `limits.provider_calls_per_second` pushed authorization requests used up",
                provider.name
            );
            return Err(match spent {
                Spend::SourceSpent => OidcError::TooManyRequests(format!("{why} by this client")),
                _ => OidcError::Overloaded(why),
            });
        }
        event!(
            debug,
            "oidc: provider `{}`: pushed authorization requests are over budget; this one goes by the front channel",
            provider.name
        );
        return Ok(None);
    }
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(name, _)| name != "client_id")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let (status, body) =
        endpoint::post_authenticated(provider, client, Endpoint::PushedAuthorization, endpoint, &pairs)
            .await
            .map_err(|e| provider.call_failed("pushed authorization request endpoint", e))?;
    if !(200..300).contains(&status) {
        let said: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let error = said.get("error").and_then(|e| e.as_str()).unwrap_or("no error code");
        return Err(provider.unavailable(format!(
            "the pushed authorization request was refused ({status}, `{}`)",
            printable(error, 64)
        )));
    }
    #[derive(serde::Deserialize)]
    struct Pushed {
        request_uri: String,
    }
    let pushed: Pushed = serde_json::from_slice(&body).map_err(|_| {
        provider.unavailable("the pushed authorization request endpoint answered without a `request_uri`")
    })?;
    if pushed.request_uri.is_empty() || pushed.request_uri.len() > 2048 {
        return Err(
            provider.unavailable("the pushed authorization request endpoint answered an unusable `request_uri`")
        );
    }
    Ok(Some(pushed.request_uri))
}

/// Whether `provider` asks for the authorization response as a form POST.
pub(crate) fn uses_form_post(provider: &Provider) -> bool {
    provider
        .config
        .auth_request_params
        .get("response_mode")
        .map(String::as_str)
        == Some("form_post")
}

/// Pending-login cookies to drop before adding one: expired or unreadable
/// ones, and the oldest beyond [`MAX_PENDING`] - 1.
fn stale_pending(jar: &Jar, now: UnixTime) -> Vec<String> {
    let mut live = Vec::new();
    let mut stale = Vec::new();
    for name in jar.pending_logins().iter().cloned() {
        let pending = jar
            .get(&name)
            .and_then(|v| serde_json::from_str::<PendingAuth>(&v).ok());
        match pending {
            Some(p) if p.expires_at > now => live.push((p.expires_at, name)),
            _ => stale.push(name),
        }
    }
    live.sort();
    let excess = (live.len() + 1).saturating_sub(MAX_PENDING);
    stale.extend(live.into_iter().take(excess).map(|(_, name)| name));
    stale
}
