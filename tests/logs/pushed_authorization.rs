//! Pushed authorization requests (RFC 9126), per provider
//! `pushed_authorization_requests = "auto" | "always" | "never"`: the
//! request goes to the provider over the back channel, authenticated as
//! the client, and the browser's redirect carries only `client_id` and
//! `request_uri`. A provider that requires PAR never gets a front-channel
//! request; a PAR failure is a 502.

use std::time::Duration;

use rocket::http::Status;
use serde_json::json;

use crate::support::provider::TokenFailure;
use crate::support::*;

/// The relying party with `pushed_authorization_requests = mode` (none:
/// the default), against `provider` told what to advertise.
async fn par_browser(provider: &TestProvider, mode: Option<&str>, advertise: bool, require: bool) -> Browser {
    let endpoint = provider.par_endpoint();
    provider.behave(|b| {
        if advertise {
            b.discovery
                .insert("pushed_authorization_request_endpoint".into(), json!(endpoint));
        }
        if require {
            b.discovery
                .insert("require_pushed_authorization_requests".into(), json!(true));
        }
    });
    let mut config = oidc_config(provider);
    if let Some(mode) = mode {
        config["providers"]["default"]["pushed_authorization_requests"] = json!(mode);
    }
    Browser::new(rp(config, default_routes())).await
}

#[rocket::async_test]
async fn with_an_advertised_endpoint_the_browser_carries_only_client_id_and_request_uri() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = par_browser(&provider, None, true, false).await;
    let front = browser.start_login("/profile").await;
    let mut names: Vec<&str> = front.params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["client_id", "request_uri"], "{}", front.location);
    assert_eq!(front.param("client_id"), Some(provider::CLIENT_ID));

    // The pushed request: the whole authorization request, authenticated.
    let pushed = provider.par_requests();
    assert_eq!(pushed.len(), 1);
    let request = &pushed[0];
    assert!(
        request
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "client authentication"
    );
    for name in [
        "response_type",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
    ] {
        assert!(
            provider::find_param(&request.params, name).is_some(),
            "{name} is pushed"
        );
    }
    assert_eq!(
        provider::find_param(&request.params, "code_challenge_method"),
        Some("S256")
    );

    // The provider resolves the request_uri; the login completes.
    let auth = provider.pushed(&front);
    let callback = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_callback_completed(&callback, &provider);
    assert!(browser.profile().await.is_some(), "logged in");
}

#[rocket::async_test]
async fn auto_without_an_endpoint_and_never_use_the_front_channel() {
    logs::capture();
    for (mode, advertise) in [(None, false), (Some("never"), true)] {
        let provider = TestProvider::start().await;
        let mut browser = par_browser(&provider, mode, advertise, false).await;
        let auth = browser.start_login("/profile").await;
        assert!(
            auth.param("state").is_some() && auth.param("request_uri").is_none(),
            "{mode:?}: {}",
            auth.location
        );
        assert!(provider.par_requests().is_empty(), "{mode:?}");
    }
}

/// A navigation that needs a login gets a 502, and the log says why
/// (the page, like every 5xx, names no host).
async fn assert_login_refused_with_502(browser: &mut Browser, provider: &TestProvider, says: &str) {
    logs::forget();
    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    let lines = logs::crate_lines_of_this_thread();
    assert!(
        lines.iter().any(|l| l.contains("could not start") && l.contains(says)),
        "the log says why ({says}): {lines:#?}; all: {:#?}",
        logs::crate_lines()
    );
    assert!(resp.header("Location").is_none(), "never a redirect to the provider");
    assert!(
        resp.set_cookies().iter().all(|c| !c.name().starts_with("oidc_auth_")),
        "no login is pending"
    );
    assert_eq!(provider.counts().token, 0);
}

#[rocket::async_test]
async fn always_without_an_endpoint_is_a_502_not_a_front_channel_request() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = par_browser(&provider, Some("always"), false, false).await;
    assert_login_refused_with_502(&mut browser, &provider, "pushed_authorization_request_endpoint").await;
}

#[rocket::async_test]
async fn a_provider_that_requires_par_never_gets_a_front_channel_request() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = par_browser(&provider, Some("never"), true, true).await;
    assert_login_refused_with_502(&mut browser, &provider, "requires pushed authorization requests").await;
    assert!(provider.par_requests().is_empty());

    let provider = TestProvider::start().await;
    let mut browser = par_browser(&provider, None, false, true).await;
    assert_login_refused_with_502(&mut browser, &provider, "advertises no").await;
}

#[rocket::async_test]
async fn a_failing_or_refusing_par_endpoint_is_a_502_and_the_app_recovers() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = par_browser(&provider, None, true, true).await;
    for failure in [
        TokenFailure::ServerError,
        TokenFailure::oauth(400, "invalid_request"),
        TokenFailure::Garbage,
    ] {
        provider.behave(|b| b.par_failure = Some(failure.clone()));
        assert_login_refused_with_502(&mut browser, &provider, "pushed authorization request").await;
    }
    provider.behave(|b| b.par_failure = None);
    let front = browser.start_login("/profile").await;
    assert!(front.param("request_uri").is_some(), "PAR works again");
}

#[rocket::async_test]
async fn a_par_endpoint_that_does_not_answer_is_a_502_within_the_timeout() {
    logs::capture();
    let provider = TestProvider::start().await;
    let endpoint = provider.par_endpoint();
    provider.behave(|b| {
        b.discovery
            .insert("pushed_authorization_request_endpoint".into(), json!(endpoint));
    });
    let mut config = oidc_config(&provider);
    config["http_timeout_seconds"] = json!(1);
    let mut browser = Browser::new(rp(config, default_routes())).await;
    provider.behave(|b| b.par_failure = Some(TokenFailure::Delay(Duration::from_secs(5))));
    let started = std::time::Instant::now();
    assert_login_refused_with_502(&mut browser, &provider, "pushed authorization request").await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

#[rocket::async_test]
async fn an_unknown_mode_aborts_launch_naming_the_key() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["pushed_authorization_requests"] = json!("sometimes");
    let errors = rocket_openidconnect::config::OidcConfig::from_figment(&figment(config)).expect_err("refused");
    let said: Vec<String> = errors.iter().map(|e| e.key.clone()).collect();
    assert!(
        said.iter()
            .any(|k| k.ends_with("providers.default.pushed_authorization_requests")),
        "{said:?}"
    );
}
