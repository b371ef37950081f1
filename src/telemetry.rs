//! Metrics through the `metrics` facade: what the crate counts and times,
//! in one place, so the names and labels cannot drift from the table in
//! the crate docs. Without an installed recorder every call is a no-op;
//! the calls on a request's hot path have only static labels and allocate
//! nothing.

use std::time::Duration;

/// An endpoint of a provider that the crate calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Discovery,
    Jwks,
    Token,
    Userinfo,
    Introspection,
    Revocation,
    Registration,
    PushedAuthorization,
    ClaimSource,
}

impl Endpoint {
    /// The `endpoint` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "jwks",
            Endpoint::Token => "token",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Introspection => "introspection",
            Endpoint::Revocation => "revocation",
            Endpoint::Registration => "registration",
            Endpoint::PushedAuthorization => "par",
            Endpoint::ClaimSource => "claim_source",
        }
    }
}

/// A call to a provider: which one, and which endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) provider: &'a str,
    pub(crate) endpoint: Endpoint,
}

/// A call to a provider ended: with this HTTP status, or with none (not
/// reached, timed out, the body broke off).
pub(crate) fn provider_call(call: Call<'_>, status: Option<u16>, took: Duration) {
    let status = match status {
        Some(status) => status.to_string(),
        None => "unreachable".to_string(),
    };
    let provider = call.provider.to_string();
    metrics::counter!("oidc_provider_requests_total",
        "provider" => provider.clone(), "endpoint" => call.endpoint.label(), "status" => status)
    .increment(1);
    metrics::histogram!("oidc_provider_request_duration_seconds",
        "provider" => provider, "endpoint" => call.endpoint.label())
    .record(took.as_secs_f64());
}

/// A login ended at the callback: `cause` is `None` for a success.
pub(crate) fn login(provider: Option<&str>, cause: Option<&'static str>, took: Option<Duration>) {
    let provider = provider.unwrap_or("unknown").to_string();
    let (outcome, cause) = match cause {
        None => ("success", "none"),
        Some(cause) => ("failure", cause),
    };
    metrics::counter!("oidc_logins_total",
        "provider" => provider.clone(), "outcome" => outcome, "cause" => cause)
    .increment(1);
    if let Some(took) = took {
        metrics::histogram!("oidc_login_duration_seconds", "provider" => provider).record(took.as_secs_f64());
    }
}

/// A cache was asked: `cache` is `session` (opened session cookies),
/// `session_id` (opened session ids) or `bearer` (validated tokens).
pub(crate) fn cache(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("oidc_cache_requests_total", "cache" => cache, "result" => result).increment(1);
}

/// The number of sessions a server-side store holds now.
pub(crate) fn sessions_stored(store: &'static str, count: usize) {
    metrics::gauge!("oidc_sessions_stored", "store" => store).set(count as f64);
}

/// A Redis command failed: `kind` is `timeout` or `error`.
#[cfg(feature = "redis")]
pub(crate) fn redis_error(kind: &'static str) {
    metrics::counter!("oidc_redis_errors_total", "kind" => kind).increment(1);
}

/// A bearer token was judged: `accepted`, `refused`, `unavailable` (could
/// not be checked now) or `client_rejected` (the provider refused this
/// app's own credentials: a configuration error).
pub(crate) fn bearer(outcome: &'static str) {
    metrics::counter!("oidc_bearer_tokens_total", "outcome" => outcome).increment(1);
}

/// A session's tokens were refreshed (`success`) or could not be
/// (`failure`).
pub(crate) fn refresh(provider: &str, ok: bool) {
    let outcome = if ok { "success" } else { "failure" };
    metrics::counter!("oidc_refreshes_total", "provider" => provider.to_string(), "outcome" => outcome).increment(1);
}

/// A logout: `rp` (the user at the app) or `backchannel` (the provider).
pub(crate) fn logout(kind: &'static str) {
    metrics::counter!("oidc_logouts_total", "kind" => kind).increment(1);
}

/// A request was refused because the user or the token's subject lacks
/// what an `Authorization` asks: `guard` is `session` or `bearer`,
/// `requirement` the requirement type's name, `unmet` `role`, `group` or
/// `claim`. Static labels: allocates nothing.
pub(crate) fn access_denied(guard: &'static str, requirement: &'static str, unmet: &'static str) {
    metrics::counter!("oidc_access_denied_total",
        "guard" => guard, "requirement" => requirement, "unmet" => unmet)
    .increment(1);
}
