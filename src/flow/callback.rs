//! Finishing a login: the provider's authorization response at
//! `redirect_uri` (its route is in `web::routes`), the token request, the
//! ID token and userinfo checks, and the new session.

use std::collections::HashMap;

use openidconnect::Nonce;

use crate::clock::UnixTime;
use crate::error::{IdTokenError, OidcError, printable};
use crate::flow::claim_sources;
use crate::flow::diagnosis::Cause;
use crate::flow::login::{self, LoginRedirect, PENDING_SECONDS, PendingAuth, Prompt, StepUp, cookie_name};
use crate::oidc::Oidc;
use crate::provider::Provider;
use crate::provider::budget::Caller;
use crate::secret::IdTokenJwt;
use crate::session::jar::Jar;
use crate::session::{LazyObject, UserSession};
use crate::store::Once;
use crate::token::endpoint::TRANSIENT_ERRORS;
use crate::token::id_token::{NonceRule, Rules};
use crate::token::{endpoint, id_token};

/// The parameters of an authorization response we look at. Anything else,
/// notably a front-channel `id_token` or `access_token` in this code flow,
/// is ignored: only what the token endpoint returns is trusted.
#[derive(Default)]
pub(crate) struct AuthorizationResponse {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl std::fmt::Debug for AuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The code and the state are secrets of this login.
        f.debug_struct("AuthorizationResponse")
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("iss", &self.iss)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl AuthorizationResponse {
    /// The response in these (form-decoded) parameters.
    pub(crate) fn parse(pairs: impl Iterator<Item = (String, String)>) -> Result<Self, OidcError> {
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

/// A login that did not finish, and the login to start instead (after a
/// failed silent re-authentication).
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: OidcError,
    pub(crate) login: Option<LoginRedirect>,
    /// Why, for the log.
    pub(crate) cause: Cause,
    /// The provider of the login, once the state named it.
    pub(crate) provider: Option<String>,
}

impl From<OidcError> for Failed {
    fn from(error: OidcError) -> Failed {
        Failed {
            cause: Cause::of(&error),
            error,
            login: None,
            provider: None,
        }
    }
}

impl Failed {
    /// A refused `state`, for `cause`. The browser is told as little as
    /// before (one message for all); the log tells them apart.
    fn state(cause: Cause) -> Failed {
        Failed {
            error: OidcError::InvalidState(
                "the state is unknown, expired, already used, or from another browser".into(),
            ),
            login: None,
            cause,
            provider: None,
        }
    }
}

/// Finishes a login with the authorization `response` received at the
/// callback path `path` in the browser behind `jar`; the path to send the
/// browser back to.
pub(crate) async fn finish(
    oidc: &Oidc,
    jar: &Jar,
    path: &str,
    response: AuthorizationResponse,
) -> Result<String, Failed> {
    let state = response
        .state
        .clone()
        .ok_or_else(|| OidcError::InvalidRequest("no `state` in the authorization response".into()))?;

    // The state must name a login pending in this very browser. Its cookie
    // is removed whatever happens next: a state is tried once.
    let name = cookie_name(&state);
    let sent = jar.has(&name);
    let pending = jar
        .get(&name)
        .and_then(|v| serde_json::from_str::<PendingAuth>(&v).ok());
    if sent {
        jar.remove(&name);
    }
    let Some(pending) = pending else {
        return Err(Failed::state(if sent {
            Cause::StateMismatch
        } else {
            Cause::StateCookieMissing
        }));
    };
    if !constant_time_eq(pending.state.as_bytes(), state.as_bytes()) {
        return Err(Failed::state(Cause::StateMismatch));
    }
    if pending.expires_at <= oidc.clock().time() {
        return Err(Failed::state(Cause::StateExpired));
    }
    // Single-use on every instance: a state used anywhere is refused here.
    if !oidc
        .store()
        .first_use(Once::State, &state, None, pending.expires_at)
        .await
        .map_err(OidcError::from)?
    {
        return Err(Failed::state(Cause::StateReused));
    }
    let Some(provider) = oidc.provider(&pending.provider) else {
        return Err(Failed::state(Cause::StateMismatch));
    };
    // RFC 9700 §4.4.2: a response for a provider with its own redirect URI
    // arrives there and nowhere else.
    if oidc.config().redirect_uri_of(&provider.name).path() != path {
        return Err(OidcError::InvalidIssuer(format!(
            "the response for provider `{}` arrived at another provider's redirect_uri",
            provider.name
        ))
        .into());
    }
    let result = match complete(oidc, provider, &pending, &state, response, jar, path).await {
        // A provider or Redis that cannot answer now ends nothing: the
        // session stays, and the silent check is tried again later.
        Err(
            error @ (OidcError::ProviderUnavailable(_) | OidcError::StoreUnavailable(_) | OidcError::Overloaded(_)),
        ) => Err(error.into()),
        // The provider said "try again later" (RFC 6749 §4.1.2.1): its
        // trouble, which ends no session either.
        Err(OidcError::Provider { error, .. }) if pending.silent && TRANSIENT_ERRORS.contains(&error.as_str()) => {
            Err(provider
                .unavailable(format!("answered the silent check with `{error}`"))
                .into())
        }
        Err(error) if pending.silent => {
            // The silent check failed (`login_required`, or anything else):
            // the session ends and an interactive login starts. It is not
            // silent, so it cannot loop.
            event!(
                info,
                "oidc: silent re-authentication failed ({error}); logging in again"
            );
            oidc.sessions().end(jar).await?;
            let redirect = login::begin(
                oidc,
                jar,
                provider,
                &pending.return_to,
                Prompt::Interactive,
                &pending.step_up,
                Caller::App,
            )
            .await?;
            Err(Failed {
                error: OidcError::LoginRequired,
                login: Some(redirect),
                cause: Cause::of(&error),
                provider: None,
            })
        }
        result => result.map_err(Failed::from),
    };
    result.map_err(|mut failed: Failed| {
        failed.provider = Some(provider.name.clone());
        failed
    })
}

/// The part of a login after its state was accepted.
async fn complete(
    oidc: &Oidc,
    provider: &Provider,
    pending: &PendingAuth,
    state: &str,
    response: AuthorizationResponse,
    jar: &Jar,
    path: &str,
) -> Result<String, OidcError> {
    let metadata = provider.metadata().await?;

    // RFC 9207: the response says which issuer sent it (mix-up defense).
    // Where several providers share this redirect URI, only `iss` tells
    // them apart, so it is required.
    let shared = oidc.config().providers_at(path).count() > 1;
    match &response.iss {
        Some(iss) if !provider.config.is_issuer(&metadata.issuer, iss) => {
            return Err(OidcError::InvalidIssuer(format!(
                "the response comes from `{}`, not `{}`",
                printable(iss, 200),
                metadata.issuer
            )));
        }
        None if metadata.authorization_response_iss_parameter_supported => {
            return Err(OidcError::InvalidIssuer(
                "the provider sends `iss` but this response has none".into(),
            ));
        }
        None if shared => {
            return Err(OidcError::InvalidIssuer(format!(
                "several providers share this redirect_uri, so a response must carry `iss` (RFC 9207); \
                 give provider `{}` a `redirect_uri` of its own if it does not send one",
                provider.name
            )));
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

    // The login's time is taken before the code is redeemed: a logout by
    // `sub` that reaches any instance from now on names this session
    // (Back-Channel Logout §2.7), however long the rest takes.
    let authenticated = oidc.clock().time_ms();
    let redirect_uri = oidc.config().redirect_uri_of(&provider.name).as_str();
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
        .as_ref()
        .map(IdTokenJwt::secret)
        .ok_or(OidcError::InvalidIdToken(IdTokenError::Missing))?;
    let client = provider.client().await?;
    let id_token = id_token::verify(
        provider,
        &client,
        &metadata,
        raw_id_token,
        Rules {
            nonce: NonceRule::Login(&Nonce::new(pending.nonce.clone())),
            clock_skew_seconds: oidc.config().clock_skew_seconds,
            clock: oidc.clock(),
            tenancy: provider.config.tenancy(),
        },
    )
    .await?;
    // With an issuer template, the response's `iss` was only known to be
    // some allowed tenant's: it must be the ID token's own (RFC 9207 §2.4).
    if let (Some(_), Some(iss)) = (provider.config.tenancy(), &response.iss)
        && id_token.claims.get("iss").and_then(serde_json::Value::as_str) != Some(iss.as_str())
    {
        return Err(OidcError::InvalidIssuer(
            "the response and its ID token name different tenants".into(),
        ));
    }
    check_requested_authentication(
        provider,
        &id_token.claims,
        oidc.clock().time(),
        oidc.skew_seconds(),
        &pending.step_up,
    )?;
    // A step-up login must bring what the route asked for (RFC 9470 §5).
    if !pending.step_up.is_none()
        && !pending
            .step_up
            .met_by(&id_token.claims, oidc.clock().time(), oidc.skew_seconds())
    {
        return Err(pending.step_up.refusal());
    }
    let userinfo = endpoint::userinfo(provider, &metadata, &tokens.access_token, &id_token.subject).await?;
    // Claims the ID token or userinfo say are elsewhere (Core §5.6.2), from
    // the sources `claim_sources` lists only.
    let sourced = claim_sources::resolve(
        oidc,
        provider,
        &[Some(&id_token.claims), userinfo.as_ref()],
        Some(&tokens.access_token),
    )
    .await;
    // The state gave a login: kept as used for good (the record made when
    // the callback came may give way to a flood of others), as one of this
    // user's, who holds at most a share of the ledger. Should the same
    // state have given another login meanwhile (a replay racing this one,
    // at a provider that let its code be redeemed twice), this one is
    // refused: one state, one session.
    let user = format!("{}\u{0}{}", provider.name, id_token.subject);
    if !oidc
        .store()
        .first_use(Once::LoginOfState, state, Some(&user), pending.expires_at)
        .await?
    {
        return Err(OidcError::InvalidState(
            "the state is unknown, expired, already used, or from another browser".into(),
        ));
    }

    let now = oidc.clock().time();
    let lifetime = oidc.lifetime_seconds();
    let session = UserSession {
        // A new id at every login: a session planted before login is never reused.
        id: crate::random::token(),
        provider: provider.name.clone(),
        sub: id_token.subject,
        id_token_jwt: id_token.jwt,
        id_token_claims: LazyObject::new(kept(provider, id_token.claims)),
        access_token: Some(tokens.access_token),
        access_token_expires_at: tokens
            .expires_in
            .and_then(|s| i64::try_from(s).ok())
            .map(|s| now.plus_secs(s)),
        access_token_obtained_at: Some(now),
        refresh_token: tokens.refresh_token,
        userinfo: userinfo.map(|claims| LazyObject::new(kept(provider, claims))),
        last_authenticated: authenticated,
        expires_at: now.plus_secs(lifetime),
        last_seen: now,
        epoch: None,
        idle_seconds: None,
        userinfo_read_at: None,
        sourced_claims: sourced.map(|claims| LazyObject::new(kept(provider, claims))),
    };
    oidc.sessions().start(jar, session).await?;
    let took = oidc
        .clock()
        .time()
        .secs_since(pending.expires_at.minus_secs(PENDING_SECONDS));
    event!(info, "oidc: login finished at provider `{}` in {took} s", provider.name);
    crate::telemetry::login(
        Some(&provider.name),
        None,
        Some(std::time::Duration::from_secs(u64::try_from(took).unwrap_or(0))),
    );
    Ok(pending.return_to.clone())
}

/// What of `claims` a session of `provider` keeps
/// (`providers.<name>.session`).
fn kept(
    provider: &Provider,
    mut claims: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    provider.config.session.retain(&mut claims);
    claims
}

/// OpenID Connect Core §3.1.3.7 steps 12 and 13, §3.1.2.1: what the
/// authorization request asked of the authentication (`max_age`,
/// `acr_values` in `auth_request_params`), the ID token must show.
fn check_requested_authentication(
    provider: &Provider,
    claims: &serde_json::Map<String, serde_json::Value>,
    now: UnixTime,
    skew: i64,
    step_up: &StepUp,
) -> Result<(), OidcError> {
    let params = &provider.config.auth_request_params;
    let invalid = |why: IdTokenError| Err(OidcError::InvalidIdToken(why));
    // What a step-up asked for instead is checked against the step-up.
    let max_age = params.get("max_age").filter(|_| step_up.max_age.is_none());
    let acr_values = params.get("acr_values").filter(|_| step_up.acr_values.is_empty());
    if let Some(max_age) = max_age.and_then(|m| m.trim().parse::<i64>().ok()) {
        let Some(auth_time) = claims.get("auth_time").and_then(serde_json::Value::as_i64) else {
            return invalid(IdTokenError::NoAuthTime);
        };
        if now.secs_since(UnixTime::from_secs(auth_time)) > max_age.saturating_add(skew) {
            return invalid(IdTokenError::AuthenticatedTooLongAgo { max_age });
        }
    }
    if let Some(acr_values) = acr_values {
        let acr = claims.get("acr").and_then(serde_json::Value::as_str);
        if !acr.is_some_and(|acr| acr_values.split_whitespace().any(|wanted| wanted == acr)) {
            return invalid(IdTokenError::WrongAcr {
                requested: acr_values.clone(),
                acr: acr.map_or("missing".to_string(), |a| format!("`{}`", printable(a, 64))),
            });
        }
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> + use<> {
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

    proptest::proptest! {
        #![proptest_config(crate::test_fuzz::cases(512))]

        #[test]
        fn fuzz_any_callback_parameters_are_parsed_or_refused(
            pairs in proptest::collection::vec((crate::test_fuzz::nasty_text(), crate::test_fuzz::nasty_text()), 0..12),
        ) {
            let named = pairs.iter().filter(|(n, _)| n == "state").count();
            match AuthorizationResponse::parse(pairs.into_iter()) {
                Ok(response) => proptest::prop_assert_eq!(response.state.is_some(), named == 1),
                Err(error) => proptest::prop_assert_eq!(error.code(), "invalid_request"),
            }
        }
    }

    #[test]
    fn debug_shows_no_code_or_state() {
        let response =
            AuthorizationResponse::parse(pairs(&[("code", "c0de-s3cret"), ("state", "st4te-s3cret")])).unwrap();
        let shown = format!("{response:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"a", b"ab")
        );
    }
}
