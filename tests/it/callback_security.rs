//! The callback (`redirect_uri`) under attack: CSRF and replayed states,
//! mix-ups (RFC 9207), injected front-channel tokens, misbehaving endpoints
//! and open redirects. None of these creates a session.

use std::time::Duration;

use rocket::http::Status;
use serde_json::json;

use crate::support::provider::reserve_port;
use crate::support::*;

async fn setup() -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    let browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    (provider, browser)
}

/// A browser with a pending login for `/profile`, and the code the provider
/// issued for it.
async fn pending_login() -> (TestProvider, Browser, AuthRequest, String) {
    let (provider, mut browser) = setup().await;
    let auth = browser.start_login("/profile").await;
    let code = provider.issue_code(&auth);
    (provider, browser, auth, code)
}

// --- state -----------------------------------------------------------------

#[rocket::async_test]
async fn a_callback_without_state_or_code_is_400_invalid_request() {
    let (provider, mut browser, auth, code) = pending_login().await;

    let resp = browser
        .callback(&[("code", &code), ("iss", &provider.issuer)], Mode::Api)
        .await;
    assert_error(&resp, Status::BadRequest, "invalid_request");
    let resp = browser
        .callback(&[("state", auth.state()), ("iss", &provider.issuer)], Mode::Api)
        .await;
    assert_error(&resp, Status::BadRequest, "invalid_request");
    let resp = browser.callback(&[], Mode::Navigate).await;
    assert_error(&resp, Status::BadRequest, "invalid_request");
    assert!(resp.is_html(), "a browser gets the HTML error page: {resp:#?}");

    assert_eq!(provider.counts().token, 0);
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_callback_with_an_unknown_state_is_400_invalid_state() {
    let (provider, mut browser, auth, code) = pending_login().await;
    let forged = format!("{}x", auth.state());

    let resp = browser
        .callback(
            &[("code", &code), ("state", &forged), ("iss", &provider.issuer)],
            Mode::Api,
        )
        .await;
    assert_error(&resp, Status::BadRequest, "invalid_state");
    assert!(resp.is_json(), "{resp:#?}");

    let resp = browser
        .callback(
            &[("code", &code), ("state", "forged"), ("iss", &provider.issuer)],
            Mode::Navigate,
        )
        .await;
    assert_error(&resp, Status::BadRequest, "invalid_state");
    assert!(resp.is_html(), "a browser gets the HTML error page: {resp:#?}");

    assert_eq!(provider.counts().token, 0, "no code is redeemed for an unknown state");
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_callback_without_any_pending_login_is_400_invalid_state() {
    let (provider, mut browser) = setup().await;
    let mut elsewhere = browser.other_browser();
    let auth = elsewhere.start_login("/profile").await;
    let resp = browser.approve(&provider, &auth, Mode::Api).await;
    assert_error(&resp, Status::BadRequest, "invalid_state");
    assert_eq!(provider.counts().token, 0);
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_state_issued_to_another_browser_is_400_invalid_state() {
    // Login CSRF: the attacker starts a login in their browser, logs in as
    // themselves, and makes the victim's browser deliver the response.
    let (provider, mut victim) = setup().await;
    let mut attacker = victim.other_browser();
    let attacker_auth = attacker.start_login("/profile").await;
    let _victim_auth = victim.start_login("/profile").await;

    provider.behave(|b| b.subject = "mallory".into());
    let resp = victim.approve(&provider, &attacker_auth, Mode::Api).await;
    assert_error(&resp, Status::BadRequest, "invalid_state");
    assert_eq!(provider.counts().token, 0);
    assert_no_session(&mut victim).await;
}

#[rocket::async_test]
async fn a_replayed_callback_is_400_invalid_state() {
    let (provider, mut browser, auth, code) = pending_login().await;
    let callback = [
        ("code", code.as_str()),
        ("state", auth.state()),
        ("iss", provider.issuer.as_str()),
    ];
    let jar_before = browser.jar.clone();

    let resp = browser.callback(&callback, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");

    // Again, with the browser's cookies as they are now.
    let resp = browser.callback(&callback, Mode::Api).await;
    assert_error(&resp, Status::BadRequest, "invalid_state");

    // Again, with the cookie jar restored to what it was before the first
    // use (a stolen/copied pending-login cookie): the state is single-use.
    let mut replay = browser.with_jar(jar_before);
    let resp = replay.callback(&callback, Mode::Api).await;
    assert_error(&resp, Status::BadRequest, "invalid_state");
    assert_eq!(
        provider.counts().token,
        1,
        "a replayed state never reaches the token endpoint"
    );
    assert_no_session(&mut replay).await;
}

#[rocket::async_test]
async fn a_code_issued_for_another_login_fails_pkce_at_the_token_endpoint() {
    // Code injection: a code obtained for one authorization request (e.g.
    // stolen from another tab or user) delivered with another pending
    // login's state. The relying party sends that login's verifier, which
    // does not match the stolen code's challenge (RFC 7636 §1).
    let (provider, mut browser) = setup().await;
    let stolen_for = browser.other_browser().start_login("/profile").await;
    let auth = browser.start_login("/profile").await;
    let stolen_code = provider.issue_code(&stolen_for);
    let resp = browser
        .callback(
            &[
                ("code", &stolen_code),
                ("state", auth.state()),
                ("iss", &provider.issuer),
            ],
            Mode::Api,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "invalid_grant");
    let requests = provider.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].outcome, "invalid_grant",
        "refused by the PKCE check: {requests:#?}"
    );
    assert_no_session(&mut browser).await;
}

// --- RFC 9207 issuer identification ------------------------------------

#[rocket::async_test]
async fn an_iss_parameter_naming_another_issuer_is_401_invalid_issuer() {
    let (provider, mut browser, auth, code) = pending_login().await;
    let resp = browser
        .callback(
            &[("code", &code), ("state", auth.state()), ("iss", "http://evil.example")],
            Mode::Api,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_eq!(
        provider.counts().token,
        0,
        "RFC 9207 §2.4: do not proceed with the grant"
    );
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_missing_iss_parameter_is_401_invalid_issuer_when_the_provider_advertises_it() {
    let (provider, mut browser, auth, code) = pending_login().await;
    let resp = browser
        .callback(&[("code", &code), ("state", auth.state())], Mode::Api)
        .await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_eq!(provider.counts().token, 0);
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_missing_iss_parameter_is_accepted_when_the_provider_does_not_advertise_it() {
    let (provider, mut browser) = setup().await;
    provider.behave(|b| {
        b.discovery
            .insert("authorization_response_iss_parameter_supported".into(), json!(false));
    });
    let auth = browser.start_login("/profile").await;
    let code = provider.issue_code(&auth);
    let resp = browser
        .callback(&[("code", &code), ("state", auth.state())], Mode::Navigate)
        .await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert!(browser.profile().await.is_some());
}

#[rocket::async_test]
async fn a_wrong_iss_parameter_is_refused_even_when_the_provider_does_not_advertise_it() {
    let (provider, mut browser) = setup().await;
    provider.behave(|b| {
        b.discovery.insert(
            "authorization_response_iss_parameter_supported".into(),
            serde_json::Value::Null,
        );
    });
    let auth = browser.start_login("/profile").await;
    let code = provider.issue_code(&auth);
    let resp = browser
        .callback(
            &[("code", &code), ("state", auth.state()), ("iss", "http://evil.example")],
            Mode::Api,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_no_session(&mut browser).await;
}

// --- front channel -----------------------------------------------------

#[rocket::async_test]
async fn tokens_injected_in_the_front_channel_are_ignored() {
    let (provider, mut browser) = setup().await;
    let auth = browser.start_login("/profile").await;
    // A well-formed, validly signed ID token for another user, with the right
    // nonce: still, in the code flow only the token endpoint is trusted.
    provider.behave(|b| b.subject = "mallory".into());
    let forged = provider.id_token(Some(auth.nonce()));
    provider.behave(|b| b.subject = "alice".into());
    let code = provider.issue_code(&auth);
    let resp = browser
        .callback(
            &[
                ("code", &code),
                ("state", auth.state()),
                ("iss", &provider.issuer),
                ("id_token", &forged),
                ("access_token", "forged-access-token"),
                ("token_type", "Bearer"),
            ],
            Mode::Navigate,
        )
        .await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let profile = browser.profile().await.expect("a session");
    assert_eq!(
        profile["sub"], "alice",
        "the subject comes from the token endpoint's ID token"
    );
    assert_ne!(profile["access_token"], "forged-access-token");
    assert_ne!(profile["id_token_jwt"], forged.as_str());
}

#[rocket::async_test]
async fn a_provider_error_is_401_with_the_providers_error_and_description() {
    let (provider, mut browser) = setup().await;
    let auth = browser.start_login("/profile").await;
    let resp = browser
        .refuse(&provider, &auth, "access_denied", Some("The user said no"), Mode::Api)
        .await;
    assert_error(&resp, Status::Unauthorized, "access_denied");
    assert_eq!(resp.json()["error_description"], "The user said no");
    assert_no_session(&mut browser).await;

    // The HTML rendering escapes what the provider (or an attacker) sent.
    let auth = browser.start_login("/profile").await;
    let resp = browser
        .refuse(
            &provider,
            &auth,
            "access_denied",
            Some("<script>alert(1)</script>"),
            Mode::Navigate,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "access_denied");
    assert!(resp.is_html(), "{resp:#?}");
    assert!(
        !resp.body.contains("<script>alert(1)</script>"),
        "error_description must be HTML-escaped: {}",
        resp.body
    );
    assert_eq!(provider.counts().token, 0);
    assert_no_session(&mut browser).await;
}

// --- userinfo ----------------------------------------------------------

#[rocket::async_test]
async fn a_userinfo_sub_that_differs_from_the_id_token_is_401_invalid_userinfo() {
    let (provider, mut browser) = setup().await;
    provider.behave(|b| {
        b.userinfo_body = Some(json!({ "sub": "mallory", "email": "mallory@example.test" }));
    });
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::Unauthorized, "invalid_userinfo");
    assert_eq!(provider.counts().userinfo, 1);
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_userinfo_response_without_sub_is_401_invalid_userinfo() {
    let (provider, mut browser) = setup().await;
    provider.behave(|b| b.userinfo_body = Some(json!({ "email": "alice@example.test" })));
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::Unauthorized, "invalid_userinfo");
    assert_no_session(&mut browser).await;
}

// --- token endpoint ----------------------------------------------------

async fn assert_token_failure(failure: TokenFailure, status: Status, error: &str) {
    let (provider, mut browser) = setup().await;
    provider.behave(|b| b.token_failure = Some(failure.clone()));
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, status, error);
    assert_eq!(provider.counts().token, 1, "{failure:?}");
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_token_endpoint_error_500_is_502_provider_unavailable() {
    assert_token_failure(TokenFailure::ServerError, Status::BadGateway, "provider_unavailable").await;
}

#[rocket::async_test]
async fn a_malformed_token_response_is_502_provider_unavailable() {
    assert_token_failure(TokenFailure::Garbage, Status::BadGateway, "provider_unavailable").await;
}

#[rocket::async_test]
async fn a_token_endpoint_oauth_error_is_401_with_that_error() {
    let failure = TokenFailure::oauth(400, "invalid_grant");
    assert_token_failure(failure, Status::Unauthorized, "invalid_grant").await;
}

#[rocket::async_test]
async fn a_token_endpoint_slower_than_the_http_timeout_is_502_provider_unavailable() {
    // http_timeout_seconds = 2 in the test configuration.
    let started = std::time::Instant::now();
    assert_token_failure(
        TokenFailure::Delay(Duration::from_secs(6)),
        Status::BadGateway,
        "provider_unavailable",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the relying party gave up after its timeout"
    );
}

#[rocket::async_test]
async fn an_unreachable_token_endpoint_is_502_provider_unavailable() {
    let provider = TestProvider::start().await;
    let dead = format!("http://127.0.0.1:{}/token", reserve_port());
    provider.also_serves_on(&dead);
    provider.behave(|b| {
        b.discovery.insert("token_endpoint".into(), json!(dead));
    });
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_no_session(&mut browser).await;
}

// --- discovery ---------------------------------------------------------

#[rocket::async_test]
async fn an_unreachable_provider_is_502_provider_unavailable() {
    let issuer = format!("http://127.0.0.1:{}", reserve_port());
    let mut browser = Browser::new(rp(oidc_config_for_issuer(&issuer), default_routes())).await;
    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert!(resp.is_html());
    let resp = browser
        .send(rocket::http::Method::Get, "/profile", &[("Accept", ACCEPT_HTML)], None)
        .await;
    assert_eq!(resp.status, Status::BadGateway);
    assert!(browser.jar.is_empty(), "no pending login: {:?}", browser.jar);
}

#[rocket::async_test]
async fn a_discovery_document_for_another_issuer_is_refused_with_502() {
    // OpenID Connect Discovery §4.3: the issuer in the document must equal
    // the issuer the document was fetched for.
    let (provider, mut browser) = setup().await;
    provider.behave(|b| {
        b.discovery.insert("issuer".into(), json!("http://evil.example"));
    });
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::BadGateway, "{resp:#?}");
    assert!(resp.header("Location").is_none());
    assert!(browser.jar.is_empty(), "no pending login: {:?}", browser.jar);
    assert!(provider.counts().discovery >= 1);
}

// --- open redirects ----------------------------------------------------

fn assert_same_origin_path(location: &str, started_at: &str) {
    assert!(
        location.starts_with('/'),
        "Location {location:?} (login started at {started_at:?}) must be a relative path"
    );
    assert!(
        !location.starts_with("//") && !location.starts_with("/\\"),
        "Location {location:?} (login started at {started_at:?}) is protocol-relative"
    );
    assert!(
        !location.chars().any(|c| c.is_control()),
        "Location {location:?} (login started at {started_at:?}) contains control characters"
    );
    // Resolve it the way a browser does (WHATWG URL: strips tabs and
    // newlines, treats `\` as `/`).
    let base = url::Url::parse("http://rp.test/some/page").unwrap();
    let resolved = base
        .join(location)
        .unwrap_or_else(|e| panic!("Location {location:?} does not resolve: {e}"));
    assert_eq!(
        resolved.host_str(),
        Some("rp.test"),
        "Location {location:?} leaves the site (resolves to {resolved})"
    );
    assert_eq!(resolved.scheme(), "http");
}

#[rocket::async_test]
async fn the_return_location_after_login_never_leaves_the_site() {
    let provider = TestProvider::start().await;
    let routes = rocket::routes![app::profile, app::public, app::anything];
    let mut browser = Browser::new(rp(oidc_config(&provider), routes)).await;

    let targets = [
        "//evil.example",
        "//evil.example/path",
        "///evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "/%2F%2Fevil.example",
        "/%2F/evil.example",
        "/%09/evil.example",
        "/%0D%0ALocation:%20http://evil.example",
        "/.//evil.example",
        "/x/..//evil.example",
        "https:evil.example",
        "/https://evil.example",
        "/profile?next=//evil.example",
    ];
    let mut reached_login = Vec::new();
    let mut refused_by_rocket = Vec::new();
    for target in targets {
        browser.jar.clear();
        let resp = browser.navigate(target).await;
        if resp.status != Status::Found {
            assert!(
                resp.status.code < 500,
                "{target:?}: a strange path is not a server error: {resp:#?}"
            );
            refused_by_rocket.push((target, resp.status.code));
            continue;
        }
        // The relying party may already sanitize what it remembers.
        let auth = AuthRequest::parse(resp.location());
        assert_eq!(auth.endpoint, provider.authorization_endpoint(), "{target:?}");
        let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
        assert_eq!(resp.status, Status::SeeOther, "{target:?}: {resp:#?}");
        assert_same_origin_path(resp.location(), target);
        reached_login.push((target, resp.location().to_string()));
    }
    println!("reached login: {reached_login:#?}\nrefused before the guard: {refused_by_rocket:#?}");
    assert!(
        reached_login.len() >= 5,
        "too few targets exercised the return path: {reached_login:?}"
    );
}

// --- what the provider says, and what the caller sees ----------------------

#[rocket::async_test]
async fn a_token_endpoint_error_is_made_printable_and_its_description_stays_in_the_log() {
    let provider = TestProvider::start().await;
    let ugly = format!("invalid_grant\n\u{1b}[2J<script>{}", "x".repeat(100_000));
    provider.behave(|b| b.token_failure = Some(TokenFailure::oauth(400, &ugly)));
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    let body = resp.json();
    let code = body["error"].as_str().unwrap();
    assert!(code.starts_with("invalid_grant") && code.len() <= 64, "{code:?}");
    assert!(code.chars().all(|c| (' '..='~').contains(&c)), "{code:?}");
    assert!(
        !resp.body.contains("told to fail"),
        "the provider's description is not shown: {resp:#?}"
    );
    assert!(resp.body.len() < 2000, "{} bytes", resp.body.len());
}

#[rocket::async_test]
async fn a_provider_that_cannot_be_reached_is_said_so_without_internals() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.token_failure = Some(TokenFailure::Delay(std::time::Duration::from_secs(3))));
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    for internal in ["timed out", "127.0.0.1", "token endpoint", &provider.port.to_string()] {
        assert!(!resp.body.contains(internal), "{internal:?} in {resp:#?}");
    }
}
