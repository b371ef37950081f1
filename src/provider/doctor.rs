//! The launch doctor: at liftoff, in the background, each provider's
//! metadata is read and compared with what the configuration asks of it,
//! and whatever will break is said in the log, precisely, before a user
//! meets it. It never delays or fails a launch, and a provider that is down
//! only gets a warning (the app keeps trying on its own).

use std::time::SystemTime;

use url::Url;

use crate::config::{BearerMode, OidcConfig, PushedAuthorizationRequests, is_loopback};
use crate::provider::Provider;

/// What will break with `provider`, one sentence each (empty: nothing).
pub(crate) async fn examine(provider: &Provider, clock_skew_seconds: u64) -> Vec<String> {
    let metadata = match provider.metadata().await {
        Ok(metadata) => metadata,
        Err(error) => {
            return vec![format!(
                "cannot be reached yet ({error}); logins fail until it answers, and the app keeps trying"
            )];
        }
    };
    let config = &provider.config;
    let mut said = Vec::new();
    if metadata.end_session_endpoint.is_none() {
        said.push(
            "advertises no `end_session_endpoint`: a logout ends the session here, not at the provider".to_string(),
        );
    }
    if metadata.introspection_endpoint.is_none() {
        match config.bearer.mode {
            BearerMode::Introspection => said.push(
                "`bearer.mode = \"introspection\"` but it advertises no `introspection_endpoint`: every bearer token \
                 will be refused (503)"
                    .to_string(),
            ),
            BearerMode::Auto => said.push(
                "advertises no `introspection_endpoint`: bearer tokens that are not RFC 9068 JWTs will be refused"
                    .to_string(),
            ),
            BearerMode::Jwt => {}
        }
    }
    let response_mode = config.auth_request_params.get("response_mode");
    if let Some(mode) = response_mode
        && !metadata.response_modes_supported.is_empty()
        && !metadata.response_modes_supported.contains(mode)
    {
        said.push(format!(
            "`auth_request_params.response_mode = \"{mode}\"` is not in its `response_modes_supported` {:?}",
            metadata.response_modes_supported
        ));
    }
    if !metadata.scopes_supported.is_empty() {
        for scope in config.scopes.iter().filter(|s| !metadata.scopes_supported.contains(s)) {
            said.push(format!(
                "scope `{scope}` is not in its `scopes_supported`: it may be refused or ignored"
            ));
        }
    }
    let par_endpoint = metadata.pushed_authorization_request_endpoint.is_some();
    match config.pushed_authorization_requests {
        PushedAuthorizationRequests::Never if metadata.require_pushed_authorization_requests => said.push(
            "requires pushed authorization requests but `pushed_authorization_requests = \"never\"`: every login \
             will fail (502)"
                .to_string(),
        ),
        PushedAuthorizationRequests::Always if !par_endpoint => said.push(
            "`pushed_authorization_requests = \"always\"` but it advertises no \
             `pushed_authorization_request_endpoint`: every login will fail (502)"
                .to_string(),
        ),
        _ if metadata.require_pushed_authorization_requests && !par_endpoint => said.push(
            "requires pushed authorization requests but advertises no `pushed_authorization_request_endpoint`: \
             every login will fail (502)"
                .to_string(),
        ),
        _ => {}
    }
    let method = config.token_endpoint_auth_method.name();
    let methods = &metadata.token_endpoint_auth_methods_supported;
    if !methods.is_empty() && !methods.iter().any(|m| m == method) {
        said.push(format!(
            "`token_endpoint_auth_method = \"{method}\"` is not in its `token_endpoint_auth_methods_supported` {methods:?}: the token endpoint will refuse the client"
        ));
    }
    if let Some(drift) = clock_drift(provider).await
        && drift.unsigned_abs() > clock_skew_seconds
    {
        said.push(format!(
            "its clock and this server's differ by {drift} s, more than `clock_skew_seconds` ({clock_skew_seconds}): \
                 ID tokens will look expired or not yet valid; check NTP"
        ));
    }
    said
}

/// What travels in clear in the release profile, off this machine: an
/// `http` redirect URI (cookies without `Secure`, and most providers refuse
/// it for a confidential client), an `http` issuer or discovery URL (codes,
/// tokens and the client's credentials), a `redis://` URL (sessions, and
/// Redis's password). Loopback is for development and says nothing.
pub(crate) fn examine_config(config: &OidcConfig, release: bool) -> Vec<String> {
    if !release {
        return Vec::new();
    }
    let in_clear = |url: &Url, scheme: &str| url.scheme() == scheme && !is_loopback(url);
    let mut said = Vec::new();
    let uri = &config.redirect_uri;
    if in_clear(uri, "http") {
        said.push(format!(
            "`redirect_uri` {uri} is http in the release profile: session cookies are sent in the clear and \
             cannot be `Secure`"
        ));
    }
    for (name, provider) in &config.providers {
        let issuer = provider.static_issuer().and_then(|issuer| Url::parse(issuer).ok());
        let located = [("issuer", issuer), ("discovery_url", provider.discovery_url.clone())];
        for (key, url) in located {
            if let Some(url) = url.filter(|url| in_clear(url, "http")) {
                said.push(format!(
                    "`providers.{name}.{key}` {url} is http in the release profile: codes, tokens and the \
                     client's credentials would travel in the clear; use https"
                ));
            }
        }
    }
    if let Some(redis) = &config.redis
        && Url::parse(redis.url.secret()).is_ok_and(|url| in_clear(&url, "redis"))
    {
        said.push(
            "`redis.url` is redis:// (no TLS) to another host in the release profile: sessions, logouts and \
                 Redis's password would travel in the clear; use rediss://"
                .to_string(),
        );
    }
    said
}

/// What launch says, in release, of how clients are told apart: the share
/// of the provider-call budget one client may spend is counted by Rocket's
/// `client_ip()`, which trusts the `ip_header` (`X-Real-IP` unless set).
/// Left at that default, an app reached without a proxy that sets the
/// header lets one client claim a new address per request, and so spend
/// the whole budget (`ip_header_set`: whether the configuration names it).
pub(crate) fn examine_client_address(config: &OidcConfig, ip_header_set: bool, release: bool) -> Option<String> {
    (release && !ip_header_set && config.limits.provider_calls_per_second > 0).then(|| {
        "Rocket's `ip_header` is left at its default (`X-Real-IP`), and `limits.provider_calls_per_second` \
         counts each client's share by it: behind a proxy, set `ip_header` to the header the proxy sets \
         (replacing the client's); without one, set `ip_header = false`, or one client can claim a new address \
         with every request"
            .to_string()
    })
}

/// The provider's clock minus ours, in seconds, from the `Date` header of
/// its discovery document (`None` without discovery, or without a date).
async fn clock_drift(provider: &Provider) -> Option<i64> {
    let url = provider.discovery_url()?;
    let response = provider.http().get(url).send().await.ok()?;
    let date = response.headers().get("date")?.to_str().ok()?;
    drift_from(date, provider.clock.system())
}

/// The `date` (an HTTP date, RFC 9110 §5.6.7) minus `now`, in seconds.
fn drift_from(date: &str, now: SystemTime) -> Option<i64> {
    let theirs = chrono::DateTime::parse_from_rfc2822(date).ok()?.timestamp();
    let ours = i64::try_from(now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs()).ok()?;
    Some(theirs.saturating_sub(ours))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_drift_is_read_from_an_http_date() {
        // Tue, 01 Dec 2026 16:00:00 GMT
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_140_800);
        assert_eq!(drift_from("Tue, 01 Dec 2026 16:00:00 GMT", now), Some(0));
        assert_eq!(drift_from("Tue, 01 Dec 2026 16:02:05 GMT", now), Some(125));
        assert_eq!(drift_from("Tue, 01 Dec 2026 15:59:00 GMT", now), Some(-60));
        assert_eq!(drift_from("yesterday", now), None);
    }

    #[test]
    fn an_http_redirect_uri_is_a_problem_in_release_only() {
        let config = |uri: &str| {
            let figment = figment::Figment::new().merge(figment::providers::Serialized::default(
                "oidc",
                serde_json::json!({
                    "redirect_uri": uri,
                    "providers": { "default": { "issuer": "https://op.example", "client_id": "a", "client_secret": "s" } },
                }),
            ));
            OidcConfig::from_figment(&figment).expect("valid")
        };
        assert_eq!(examine_config(&config("http://app.example/cb"), true).len(), 1);
        assert!(examine_config(&config("http://app.example/cb"), false).is_empty());
        assert!(examine_config(&config("http://127.0.0.1:8000/cb"), true).is_empty());
        assert!(examine_config(&config("https://app.example/cb"), true).is_empty());
    }

    #[test]
    fn a_cleartext_issuer_or_redis_off_this_machine_is_said_in_release() {
        let config = |issuer: &str, redis: &str| {
            let figment = figment::Figment::new().merge(figment::providers::Serialized::default(
                "oidc",
                serde_json::json!({
                    "redirect_uri": "https://app.example/cb",
                    "redis": { "url": redis },
                    "providers": { "default": { "issuer": issuer, "client_id": "a", "client_secret": "s" } },
                }),
            ));
            OidcConfig::from_figment(&figment).expect("valid")
        };
        let said = examine_config(&config("http://op.example", "redis://cache.internal:6379/0"), true);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].contains("providers.default.issuer") && said[1].contains("redis.url"),
            "{said:?}"
        );
        assert!(
            !said[1].contains("cache.internal"),
            "the Redis URL may carry a password: not logged"
        );
        assert!(examine_config(&config("http://op.example", "redis://cache.internal/0"), false).is_empty());
        assert!(examine_config(&config("http://127.0.0.1:9000", "redis://127.0.0.1/0"), true).is_empty());
        assert!(examine_config(&config("https://op.example", "rediss://cache.internal/0"), true).is_empty());
    }

    #[test]
    fn a_client_address_from_a_header_nobody_chose_is_said_in_release() {
        let figment = figment::Figment::new().merge(figment::providers::Serialized::default(
            "oidc",
            serde_json::json!({
                "redirect_uri": "https://app.example/cb",
                "providers": { "default": { "issuer": "https://op.example", "client_id": "a", "client_secret": "s" } },
            }),
        ));
        let config = OidcConfig::from_figment(&figment).expect("valid");
        assert!(examine_client_address(&config, false, true).is_some_and(|said| said.contains("ip_header")));
        assert!(
            examine_client_address(&config, true, true).is_none(),
            "the operator chose"
        );
        assert!(examine_client_address(&config, false, false).is_none(), "debug");
        let mut unlimited = config;
        unlimited.limits.provider_calls_per_second = 0;
        assert!(
            examine_client_address(&unlimited, false, true).is_none(),
            "no budget to share"
        );
    }
}
