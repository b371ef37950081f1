//! A provider that fails never makes the app answer `500`, nor wait much
//! longer than `http_timeout_seconds` (2 s in these tests): whatever a
//! provider endpoint does (never answers, resets the connection, answers
//! late, sends HTML, bytes that are not UTF-8, a body past the cap, JSON of
//! the wrong shape, a 500), a login gets `502 provider_unavailable` and a
//! bearer request `503`; requests queued behind the same failure share it
//! instead of each waiting a timeout in turn; and the app works again when
//! the provider does.

use std::time::{Duration, Instant};

use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::api::*;
use crate::support::faulty::{Fault, FaultyEndpoint};
use crate::support::lifecycle::*;
use crate::support::*;

/// A bit more than the 2 s timeout of the tests' configuration.
const WITHIN: Duration = Duration::from_millis(3500);

/// Every fault: the garbage answers, late answers and broken connections.
fn faults() -> Vec<(&'static str, Fault)> {
    let mut faults = vec![
        ("no answer at all", Fault::NeverAnswers),
        ("a reset connection", Fault::Reset),
        (
            "an answer after 3 s",
            Fault::Late(Duration::from_secs(3), Box::new(Fault::json(200, &json!({})))),
        ),
    ];
    faults.extend(Fault::garbage());
    faults
}

#[track_caller]
fn assert_refused(resp: &Resp, took: Duration, status: Status, error: &str, what: &str) {
    assert_ne!(resp.status, Status::InternalServerError, "{what}: {resp:#?}");
    assert_eq!(resp.status, status, "{what}: {resp:#?}");
    assert_error(resp, status, error);
    assert!(took < WITHIN, "{what}: answered after {took:?}");
}

/// A discovery document for an issuer at `base` (all its endpoints there).
fn discovery_document(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
    })
}

/// A faulty endpoint serving `fault`, named as the provider endpoint
/// `field` of the discovery document (set before the app discovers it).
async fn faulty(provider: &TestProvider, field: &str, fault: Fault) -> FaultyEndpoint {
    let endpoint = FaultyEndpoint::start(fault).await;
    // Another origin than the issuer's: the relying party is told to allow it.
    provider.also_serves_on(&endpoint.url());
    provider.behave(|b| {
        b.discovery
            .insert(field.into(), json!(format!("{}/{field}", endpoint.url())));
    });
    endpoint
}

#[rocket::async_test]
async fn a_broken_discovery_is_502_within_the_timeout_and_the_app_recovers() {
    for (what, fault) in faults() {
        let endpoint = FaultyEndpoint::start(fault).await;
        let clock = ManualClock::new();
        let mut browser = Browser::new(rp_on(&clock, oidc_config_for_issuer(&endpoint.url()), default_routes())).await;
        let start = Instant::now();
        let resp = browser.navigate("/profile").await;
        assert_refused(&resp, start.elapsed(), Status::BadGateway, "provider_unavailable", what);

        // The failure is kept for a short back-off, even once the provider
        // is fixed; past it, the app recovers on its own.
        endpoint.set(Fault::json(200, &discovery_document(&endpoint.url())));
        let resp = browser.navigate("/profile").await;
        assert_eq!(
            resp.status,
            Status::BadGateway,
            "{what}: within the back-off: {resp:#?}"
        );
        clock.advance(Duration::from_secs(5));
        let resp = browser.navigate("/profile").await;
        assert_eq!(resp.status, Status::Found, "{what}: the app did not recover: {resp:#?}");
        assert!(
            resp.location().starts_with(&format!("{}/auth?", endpoint.url())),
            "{what}"
        );
    }
}

#[rocket::async_test]
async fn a_broken_token_endpoint_is_502_within_the_timeout() {
    for (what, fault) in faults() {
        let provider = TestProvider::start().await;
        let _endpoint = faulty(&provider, "token_endpoint", fault).await;
        let mut browser = lifecycle_browser(oidc_config(&provider)).await;
        let auth = browser.start_login("/profile").await;
        let start = Instant::now();
        let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
        assert_refused(&resp, start.elapsed(), Status::BadGateway, "provider_unavailable", what);
        assert_no_session(&mut browser).await;
    }
}

#[rocket::async_test]
async fn a_broken_jwks_or_userinfo_endpoint_is_502_within_the_timeout() {
    for endpoint_name in ["jwks_uri", "userinfo_endpoint"] {
        for (what, fault) in faults() {
            let provider = TestProvider::start().await;
            let _endpoint = faulty(&provider, endpoint_name, fault).await;
            let mut browser = lifecycle_browser(oidc_config(&provider)).await;
            let auth = browser.start_login("/profile").await;
            let start = Instant::now();
            let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
            let what = format!("{endpoint_name}: {what}");
            assert_refused(
                &resp,
                start.elapsed(),
                Status::BadGateway,
                "provider_unavailable",
                &what,
            );
        }
    }
}

#[rocket::async_test]
async fn a_broken_introspection_endpoint_is_503_within_the_timeout() {
    for (what, fault) in faults() {
        let provider = TestProvider::start().await;
        let _endpoint = faulty(&provider, "introspection_endpoint", fault).await;
        let mut browser = api_browser(&provider, json!({})).await;
        let start = Instant::now();
        let resp = browser.bearer("/api", "some-opaque-token").await;
        assert_ne!(resp.status, Status::InternalServerError, "{what}");
        assert_bearer_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
        assert!(start.elapsed() < WITHIN, "{what}: {:?}", start.elapsed());
    }
}

/// An answer naming a member twice (RFC 8259 §4: names SHOULD be unique;
/// parsers disagree on which one counts) is no answer: which `sub`, which
/// `active`, is exactly what must not be guessed. Introspection: `503`;
/// userinfo: `502`.
#[rocket::async_test]
async fn an_answer_naming_a_member_twice_is_no_answer() {
    let raw = |body: String| Fault::Answer {
        status: 200,
        content_type: "application/json".into(),
        body: body.into_bytes(),
    };
    let provider = TestProvider::start().await;
    let issuer = provider.issuer.clone();
    let _endpoint = faulty(
        &provider,
        "introspection_endpoint",
        raw(format!(
            r#"{{"active":true,"iss":"{issuer}","sub":"alice","sub":"mallory","client_id":"{CLIENT}","exp":{exp}}}"#,
            CLIENT = crate::support::provider::CLIENT_ID,
            exp = crate::support::provider::now() + 600,
        )),
    )
    .await;
    let mut browser = api_browser(&provider, json!({})).await;
    let resp = browser.bearer("/api", "some-opaque-token").await;
    assert_bearer_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");

    let provider = TestProvider::start().await;
    let _endpoint = faulty(
        &provider,
        "userinfo_endpoint",
        raw(format!(
            r#"{{"sub":"{SUBJECT}","email":"alice@example.com","email":"mallory@example.com"}}"#,
            SUBJECT = crate::support::provider::SUBJECT,
        )),
    )
    .await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    let auth = browser.start_login("/profile").await;
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn requests_queued_behind_a_provider_that_never_answers_share_one_timeout() {
    // Discovery.
    let endpoint = FaultyEndpoint::start(Fault::NeverAnswers).await;
    let browser = Browser::new(rp(oidc_config_for_issuer(&endpoint.url()), default_routes())).await;
    let start = Instant::now();
    for resp in concurrent_navigations(&browser, "/profile", 8).await {
        assert_eq!(resp.status, Status::BadGateway, "{resp:#?}");
    }
    assert!(
        start.elapsed() < WITHIN,
        "8 waiters took {:?}, not one timeout",
        start.elapsed()
    );
    assert_eq!(endpoint.connections(), 1, "one attempt for all of them");

    // The signing keys.
    let provider = TestProvider::start().await;
    let endpoint = FaultyEndpoint::start(Fault::NeverAnswers).await;
    provider.also_serves_on(&endpoint.url());
    provider.behave(|b| {
        b.discovery
            .insert("jwks_uri".into(), json!(format!("{}/jwks", endpoint.url())));
    });
    let browser = api_browser(&provider, json!({})).await;
    let tokens: Vec<String> = (0..8).map(|_| provider.at_jwt(json!({}))).collect();
    let start = Instant::now();
    for status in concurrent_requests_with_tokens(&browser.client, "/api", &tokens).await {
        assert_eq!(status, Status::ServiceUnavailable);
    }
    assert!(
        start.elapsed() < WITHIN,
        "8 waiters took {:?}, not one timeout",
        start.elapsed()
    );

    // Dynamic registration.
    let provider = TestProvider::start().await;
    let endpoint = FaultyEndpoint::start(Fault::NeverAnswers).await;
    provider.also_serves_on(&endpoint.url());
    provider.behave(|b| {
        b.discovery
            .insert("registration_endpoint".into(), json!(format!("{}/reg", endpoint.url())));
    });
    let mut config = oidc_config(&provider);
    let default = config["providers"]["default"].as_object_mut().unwrap();
    default.remove("client_id");
    default.remove("client_secret");
    default.insert("registration".into(), json!({}));
    let browser = Browser::new(rp(config, default_routes())).await;
    let start = Instant::now();
    for resp in concurrent_navigations(&browser, "/profile", 8).await {
        assert_eq!(resp.status, Status::BadGateway, "{resp:#?}");
    }
    assert!(
        start.elapsed() < WITHIN,
        "8 waiters took {:?}, not one timeout",
        start.elapsed()
    );
}

#[rocket::async_test]
async fn a_back_channel_logout_whose_keys_cannot_be_fetched_is_502_and_says_nothing_of_why() {
    for (what, fault) in faults() {
        let provider = TestProvider::start().await;
        let _endpoint = faulty(&provider, "jwks_uri", fault).await;
        let browser = lifecycle_browser(oidc_config(&provider)).await;
        let start = Instant::now();
        let resp = browser
            .backchannel_logout(&provider.logout_token(json!({ "sid": "s1" })))
            .await;
        // A 5xx: the provider sends the logout again later, where a 400
        // would have told it the token is bad.
        assert_refused(&resp, start.elapsed(), Status::BadGateway, "provider_unavailable", what);
        for internal in ["jwks", "timed out", "127.0.0.1", "status"] {
            assert!(
                !resp.body.contains(internal),
                "{what}: the caller is told {internal:?}: {resp:#?}"
            );
        }
    }
}

#[rocket::async_test]
async fn a_broken_token_endpoint_fails_a_client_credentials_grant_within_the_timeout_and_it_recovers() {
    for (what, fault) in faults() {
        let provider = TestProvider::start().await;
        let endpoint = faulty(&provider, "token_endpoint", fault).await;
        let oidc = oidc_of(&api_browser(&provider, json!({})).await);
        let start = Instant::now();
        let error = oidc
            .client_credentials::<rocket_openidconnect::DefaultProvider>()
            .scopes(["read"])
            .send()
            .await
            .expect_err("the token endpoint is broken");
        assert_eq!(error.code(), "provider_unavailable", "{what}: {error}");
        assert!(start.elapsed() < WITHIN, "{what}: after {:?}", start.elapsed());

        endpoint.set(Fault::json(
            200,
            &json!({ "access_token": "service", "token_type": "Bearer", "expires_in": 60 }),
        ));
        let token = oidc
            .client_credentials::<rocket_openidconnect::DefaultProvider>()
            .scopes(["read"])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: the provider is back: {e}"));
        assert_eq!(token.access_token().secret(), "service", "{what}");
    }
}

#[rocket::async_test]
async fn a_broken_registration_endpoint_is_502_within_the_timeout() {
    for (what, fault) in faults() {
        let provider = TestProvider::start().await;
        let _endpoint = faulty(&provider, "registration_endpoint", fault).await;
        let mut config = oidc_config(&provider);
        let default = config["providers"]["default"].as_object_mut().unwrap();
        default.remove("client_id");
        default.remove("client_secret");
        default.insert("registration".into(), json!({}));
        let mut browser = lifecycle_browser(config).await;
        let start = Instant::now();
        let resp = browser.navigate("/profile").await;
        assert_refused(&resp, start.elapsed(), Status::BadGateway, "provider_unavailable", what);
    }
}

#[rocket::async_test]
async fn a_broken_revocation_endpoint_does_not_stop_a_logout() {
    for (what, fault) in faults() {
        let provider = TestProvider::start().await;
        let _endpoint = faulty(&provider, "revocation_endpoint", fault).await;
        let mut browser = lifecycle_browser(oidc_config(&provider)).await;
        browser.login_ok(&provider, "/profile").await;
        let start = Instant::now();
        let resp = browser.logout(rocket::http::Method::Post).await;
        assert_eq!(resp.status, Status::SeeOther, "{what}: {resp:#?}");
        assert!(start.elapsed() < WITHIN, "{what}: after {:?}", start.elapsed());
        assert_no_session(&mut browser).await;
    }
}

/// The tokens are revoked after the logout has answered: a revocation
/// endpoint that never answers does not hold the user's logout for the
/// provider's timeout (5 s here), nor does it keep the session.
#[rocket::async_test]
async fn a_revocation_endpoint_that_never_answers_does_not_delay_the_logout() {
    let provider = TestProvider::start().await;
    let endpoint = faulty(&provider, "revocation_endpoint", Fault::NeverAnswers).await;
    let mut config = oidc_config(&provider);
    config["http_timeout_seconds"] = json!(5);
    let mut browser = lifecycle_browser(config).await;
    browser.login_ok(&provider, "/profile").await;
    let start = Instant::now();
    let resp = browser.logout(rocket::http::Method::Post).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "the logout waited {:?} for the revocation",
        start.elapsed()
    );
    assert_no_session(&mut browser).await;
    // The revocation was sent all the same.
    let deadline = Instant::now() + Duration::from_secs(3);
    while endpoint.connections() == 0 {
        assert!(Instant::now() < deadline, "no revocation was attempted");
        rocket::tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[rocket::async_test]
async fn a_broken_pushed_authorization_endpoint_is_502_within_the_timeout() {
    for (what, fault) in faults() {
        let provider = TestProvider::start().await;
        let _endpoint = faulty(&provider, "pushed_authorization_request_endpoint", fault).await;
        let mut config = oidc_config(&provider);
        config["providers"]["default"]["pushed_authorization_requests"] = json!("always");
        let mut browser = lifecycle_browser(config).await;
        let start = Instant::now();
        let resp = browser.navigate("/profile").await;
        assert_refused(&resp, start.elapsed(), Status::BadGateway, "provider_unavailable", what);
    }
}
