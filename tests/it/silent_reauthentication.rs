//! `session_refresh_interval_seconds`: after the interval, a browser
//! navigation is first re-checked at the provider with `prompt=none`; if
//! the provider says the user must log in, the session ends and an
//! interactive login starts (never an error page, never a loop).

use std::time::Duration;

use rocket::http::{Method, Status};
use serde_json::{Value, json};

use crate::support::lifecycle::*;
use crate::support::provider::CLIENT_ID;
use crate::support::*;

const INTERVAL_SECONDS: u64 = 2;
const ACR: &str = "urn:example:loa:1";

/// A provider and a browser logged in at `/profile` whose session wants a
/// silent re-check after [`INTERVAL_SECONDS`]; `auth_request_params` has
/// `prompt=login` and `acr_values`.
async fn logged_in() -> (TestProvider, Browser, Value, ManualClock) {
    let clock = ManualClock::new();
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["session_refresh_interval_seconds"] = json!(INTERVAL_SECONDS);
    config["providers"]["default"]["auth_request_params"] = json!({ "prompt": "login", "acr_values": ACR });
    let mut browser = lifecycle_browser_on(&clock, config).await;
    let auth = browser.login_ok(&provider, "/profile").await;
    assert_eq!(
        auth.param("prompt"),
        Some("login"),
        "the interactive login has the configured prompt"
    );
    let profile = browser.profile().await.expect("logged in");
    (provider, browser, profile, clock)
}

/// Moves the app's clock past the interval.
fn wait_for_the_interval(clock: &ManualClock) {
    clock.advance(Duration::from_millis(INTERVAL_SECONDS * 1000 + 100));
}

/// After the interval, a navigation to `uri`: the silent authorization
/// request.
async fn silent_check(provider: &TestProvider, browser: &mut Browser, uri: &str) -> AuthRequest {
    let resp = browser.navigate(uri).await;
    assert_eq!(resp.status, Status::Found, "a silent re-check starts: {resp:#?}");
    let auth = AuthRequest::parse(resp.location());
    assert_eq!(auth.endpoint, provider.authorization_endpoint());
    assert_eq!(
        auth.param("prompt"),
        Some("none"),
        "the re-check is silent: {}",
        auth.location
    );
    auth
}

/// OIDC Core §3.1.2.1: with `prompt=none`, an `id_token_hint` SHOULD be
/// sent, and a provider MAY refuse the request without one (one answers
/// `invalid_request`, "id_token mandatory", and every silent check would
/// end the session). The session's ID token goes along: in the redirect,
/// or in the pushed request under PAR.
#[rocket::async_test]
async fn a_silent_check_sends_the_sessions_id_token_as_hint() {
    let (provider, mut browser, profile, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let auth = silent_check(&provider, &mut browser, "/profile").await;
    assert_eq!(auth.param("id_token_hint"), profile["id_token_jwt"].as_str());
    assert_eq!(auth.count("id_token_hint"), 1);

    // Under PAR, the hint is in the pushed request.
    let provider = TestProvider::start().await;
    let par = provider.par_endpoint();
    provider.behave(|b| {
        b.discovery
            .insert("pushed_authorization_request_endpoint".into(), json!(par));
    });
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["session_refresh_interval_seconds"] = json!(INTERVAL_SECONDS);
    let mut browser = lifecycle_browser_on(&clock, config).await;
    let pushed = browser.login_ok_pushed(&provider, "/profile").await;
    let profile = browser.profile().await.expect("logged in");
    assert_eq!(pushed.param("id_token_hint"), None, "an interactive login has no hint");
    wait_for_the_interval(&clock);
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let silent = provider.pushed(&AuthRequest::parse(resp.location()));
    assert_eq!(silent.param("prompt"), Some("none"));
    assert_eq!(silent.param("id_token_hint"), profile["id_token_jwt"].as_str());
}

#[rocket::async_test]
async fn within_the_interval_a_navigation_is_served_from_the_session() {
    let (provider, mut browser, _, _clock) = logged_in().await;
    let counts = provider.counts();

    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(provider.counts().token, counts.token);
}

#[rocket::async_test]
async fn after_the_interval_a_navigation_is_sent_to_the_provider_with_prompt_none() {
    let (provider, mut browser, _, clock) = logged_in().await;
    let session = session_cookies(&browser);
    wait_for_the_interval(&clock);

    let resp = browser.navigate("/profile?page=2").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    assert_eq!(resp.cookies_set_with_prefix("oidc_auth_").len(), 1, "{resp:#?}");
    let auth = AuthRequest::parse(resp.location());
    assert_eq!(auth.endpoint, provider.authorization_endpoint());
    assert_eq!(auth.param("prompt"), Some("none"));
    assert_eq!(
        auth.count("prompt"),
        1,
        "prompt=none replaces the configured prompt: {}",
        auth.location
    );
    assert_eq!(auth.param("acr_values"), Some(ACR), "other parameters are kept");
    assert_eq!(auth.param("client_id"), Some(CLIENT_ID));
    assert_eq!(auth.param("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(auth.param("response_type"), Some("code"));
    assert_eq!(auth.param("code_challenge_method"), Some("S256"));
    assert!(auth.nonce().len() >= 16 && auth.state().len() >= 16);
    assert_eq!(
        session_cookies(&browser),
        session,
        "the session is kept while the provider is asked"
    );
}

#[rocket::async_test]
async fn login_required_from_the_silent_check_ends_the_session_and_starts_an_interactive_login() {
    let (provider, mut browser, _, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let silent = silent_check(&provider, &mut browser, "/profile?page=2").await;

    let resp = browser
        .refuse(
            &provider,
            &silent,
            "login_required",
            Some("the user is not logged in"),
            Mode::Navigate,
        )
        .await;
    assert_eq!(
        resp.status,
        Status::Found,
        "an interactive login, not an error page: {resp:#?}"
    );
    assert!(!resp.is_html(), "{resp:#?}");
    let interactive = AuthRequest::parse(resp.location());
    assert_eq!(interactive.endpoint, provider.authorization_endpoint());
    assert_eq!(
        interactive.param("prompt"),
        Some("login"),
        "the interactive login is not silent: {}",
        interactive.location
    );
    assert_eq!(interactive.count("prompt"), 1);
    assert_eq!(interactive.param("acr_values"), Some(ACR));
    assert_ne!(interactive.state(), silent.state());
    assert!(
        session_cookies(&browser).is_empty(),
        "the session is dropped: {resp:#?}"
    );
    assert_no_session(&mut browser).await;

    // The user logs in: back where they were going, served from the new session.
    let resp = browser.approve(&provider, &interactive, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), "/profile?page=2");
    let resp = browser.navigate("/profile?page=2").await;
    assert_eq!(resp.status, Status::Ok, "no loop: {resp:#?}");
}

#[rocket::async_test]
async fn a_failed_interactive_login_after_a_failed_silent_check_is_an_error_not_a_loop() {
    let (provider, mut browser, _, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let silent = silent_check(&provider, &mut browser, "/profile").await;
    let resp = browser
        .refuse(&provider, &silent, "login_required", None, Mode::Navigate)
        .await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let interactive = AuthRequest::parse(resp.location());

    let resp = browser
        .refuse(&provider, &interactive, "access_denied", None, Mode::Navigate)
        .await;
    assert_error(&resp, Status::Unauthorized, "access_denied");
}

#[rocket::async_test]
async fn a_silent_check_that_fails_at_the_token_endpoint_also_starts_an_interactive_login() {
    let (provider, mut browser, _, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let silent = silent_check(&provider, &mut browser, "/profile").await;
    provider.behave(|b| b.token_failure = Some(TokenFailure::oauth(400, "invalid_grant")));

    let resp = browser.approve(&provider, &silent, Mode::Navigate).await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let interactive = AuthRequest::parse(resp.location());
    assert_eq!(interactive.param("prompt"), Some("login"), "{}", interactive.location);
    assert!(session_cookies(&browser).is_empty(), "{resp:#?}");
}

#[rocket::async_test]
async fn a_silent_check_with_an_invalid_id_token_also_starts_an_interactive_login() {
    let (provider, mut browser, _, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let silent = silent_check(&provider, &mut browser, "/profile").await;
    provider.behave(|b| b.signing = Signing::CorruptSignature);

    let resp = browser.approve(&provider, &silent, Mode::Navigate).await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    assert_ne!(AuthRequest::parse(resp.location()).param("prompt"), Some("none"));
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_successful_silent_check_renews_the_session_and_serves_the_page() {
    let (provider, mut browser, before, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let silent = silent_check(&provider, &mut browser, "/profile?page=2").await;

    let resp = browser.approve(&provider, &silent, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), "/profile?page=2");
    let resp = browser.navigate("/profile?page=2").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let after = resp.json();
    assert!(
        after["last_authenticated"].as_i64() > before["last_authenticated"].as_i64(),
        "the user authenticated again: {before:#} -> {after:#}"
    );
    assert_ne!(after["access_token"], before["access_token"]);
    assert_eq!(after["id_token"]["nonce"], silent.nonce());
    assert_eq!(after["sub"], before["sub"]);
}

#[rocket::async_test]
async fn after_the_interval_requests_that_are_not_navigations_get_401_until_a_navigation_rechecks() {
    // A stolen cookie used by a script must not outlive the re-check: only
    // a navigation can be re-checked silently, so anything else is 401.
    let (provider, mut browser, before, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let counts = provider.counts();

    let resp = browser.api("/profile").await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    let resp = browser
        .send(
            Method::Get,
            "/profile",
            &[("Accept", ACCEPT_HTML), ("X-Requested-With", "XMLHttpRequest")],
            None,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert_error(&browser.token(false).await, Status::Unauthorized, "login_required");
    assert!(
        browser.cookies_with_prefix("oidc_auth_").is_empty(),
        "no login started by a script"
    );
    assert_eq!(provider.counts().token, counts.token);

    // The session itself is not ended: a navigation re-checks it.
    let silent = silent_check(&provider, &mut browser, "/profile").await;
    let resp = browser.approve(&provider, &silent, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let after = browser.profile().await.expect("re-checked");
    assert_eq!(after["sub"], before["sub"]);
}

#[rocket::async_test]
async fn a_silent_check_the_provider_cannot_answer_now_keeps_the_session() {
    let (provider, mut browser, _, clock) = logged_in().await;
    wait_for_the_interval(&clock);
    let silent = silent_check(&provider, &mut browser, "/profile").await;
    provider.behave(|b| b.token_failure = Some(TokenFailure::ServerError));
    let resp = browser.approve(&provider, &silent, Mode::Navigate).await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert!(!session_cookies(&browser).is_empty(), "the session is kept: {resp:#?}");

    // The provider is back: the next navigation re-checks and succeeds.
    provider.behave(|b| b.token_failure = None);
    let silent = silent_check(&provider, &mut browser, "/profile").await;
    let resp = browser.approve(&provider, &silent, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
}

#[rocket::async_test]
async fn a_silent_check_answered_with_try_again_later_keeps_the_session() {
    // RFC 6749 §4.1.2.1: `temporarily_unavailable` and `server_error` are
    // the provider's trouble, not a verdict on the user's login.
    for code in ["temporarily_unavailable", "server_error"] {
        let (provider, mut browser, _, clock) = logged_in().await;
        wait_for_the_interval(&clock);
        let silent = silent_check(&provider, &mut browser, "/profile").await;
        let resp = browser.refuse(&provider, &silent, code, None, Mode::Navigate).await;
        assert_error(&resp, Status::BadGateway, "provider_unavailable");
        assert!(
            !session_cookies(&browser).is_empty(),
            "{code}: the session is kept: {resp:#?}"
        );
    }
}
