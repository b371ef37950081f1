//! `Identity`: a request with an `Authorization` header is judged only as a
//! bearer request; one without, only as a browser session.

use rocket::http::{Method, Status};
use serde_json::json;

use crate::support::api::*;
use crate::support::provider::SUBJECT;
use crate::support::*;

async fn setup(bearer: serde_json::Value) -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    let browser = api_browser(&provider, bearer).await;
    (provider, browser)
}

/// A browser with a valid session (logged in through `/profile`).
async fn logged_in(bearer: serde_json::Value) -> (TestProvider, Browser) {
    let (provider, mut browser) = setup(bearer).await;
    browser.login_ok(&provider, "/profile").await;
    let resp = browser.api("/either").await;
    assert_eq!(resp.status, Status::Ok, "the session works: {resp:#?}");
    assert_eq!(resp.json()["via"], "session");
    (provider, browser)
}

#[rocket::async_test]
async fn a_good_token_is_judged_as_a_token() {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.opaque_token(json!({}));
    let resp = browser.bearer("/either", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let body = resp.json();
    assert_eq!(body["via"], "token");
    assert_eq!(body["sub"], SUBJECT);
    assert_eq!(body["token"]["validation"], "Introspection");

    let jwt = provider.at_jwt(json!({}));
    let resp = browser.bearer("/either", &jwt).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "token");
    assert_eq!(resp.json()["token"]["validation"], "Jwt");
}

#[rocket::async_test]
async fn a_good_token_wins_over_a_session_in_the_same_request() {
    let (provider, mut browser) = logged_in(json!({})).await;
    let token = provider.opaque_token(json!({ "sub": "bob" }));
    let resp = browser.bearer("/either", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "token");
    assert_eq!(resp.json()["sub"], "bob");
}

#[rocket::async_test]
async fn a_bad_token_with_a_valid_session_is_401_invalid_token_never_the_session() {
    let (provider, mut browser) = logged_in(json!({})).await;
    let runs = browser.handler_runs();

    let resp = browser.bearer("/either", "revoked-or-forged").await;
    assert_invalid_token(&resp);

    // Not even for a page load: no login redirect, no session.
    let resp = browser
        .send(
            Method::Get,
            "/either",
            &[("Authorization", "Bearer revoked-or-forged"), ("Accept", ACCEPT_HTML)],
            None,
        )
        .await;
    assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    assert_eq!(resp.header("Location"), None, "never a login redirect");
    assert_eq!(challenge(&resp).param("error"), Some("invalid_token"));

    // A forged at+jwt, too.
    let forged = provider.at_jwt_with(crate::support::provider::AccessTokenJwt {
        signing: Signing::CorruptSignature,
        ..Default::default()
    });
    assert_invalid_token(&browser.bearer("/either", &forged).await);

    assert_eq!(browser.handler_runs(), runs, "the handler never ran");
    // The session itself is untouched.
    assert_eq!(browser.api("/either").await.json()["via"], "session");
}

#[rocket::async_test]
async fn a_malformed_authorization_header_with_a_valid_session_is_400() {
    let (_provider, mut browser) = logged_in(json!({})).await;
    let runs = browser.handler_runs();
    for value in ["Bearer", "Basic cnA6cnAtc2VjcmV0", "Bearer a b"] {
        let resp = browser.authorization("/either", &[value]).await;
        assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    }
    let resp = browser.api("/either?access_token=abc").await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    assert_eq!(browser.handler_runs(), runs);
}

#[rocket::async_test]
async fn a_token_that_cannot_be_checked_is_503_even_with_a_valid_session() {
    let (provider, mut browser) = logged_in(json!({})).await;
    let token = provider.opaque_token(json!({}));
    provider.behave(|b| b.introspection_failure = Some(TokenFailure::ServerError));
    let resp = browser.bearer("/either", &token).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
}

#[rocket::async_test]
async fn without_a_header_a_session_is_judged_as_a_session() {
    let (provider, mut browser) = logged_in(json!({})).await;
    let resp = browser.api("/either").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let body = resp.json();
    assert_eq!(body["via"], "session");
    assert_eq!(body["sub"], SUBJECT);
    assert_eq!(body["session"]["provider"], "default");
    assert_eq!(provider.counts().introspection, 0, "a session needs no introspection");
}

#[rocket::async_test]
async fn without_anything_a_navigation_goes_to_the_provider_and_an_api_call_gets_401() {
    let (provider, mut browser) = setup(json!({})).await;

    let resp = browser.api("/either").await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert!(browser.jar.is_empty(), "no login state for an API call");

    let resp = browser.navigate("/either").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let auth = AuthRequest::parse(resp.location());
    assert_eq!(auth.endpoint, provider.authorization_endpoint());
    assert_eq!(auth.param("response_type"), Some("code"));
    assert_eq!(browser.handler_runs(), 0);

    // The login completes and returns to /either, now a session.
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), "/either");
    assert_eq!(browser.api("/either").await.json()["via"], "session");
}

#[rocket::async_test]
async fn two_guards_asking_about_one_token_make_one_introspection_call() {
    // No cache: only the per-request memo can save the second call.
    let (provider, mut browser) = setup(json!({ "introspection_cache_seconds": 0 })).await;
    let token = provider.opaque_token(json!({}));

    let resp = browser.bearer("/both", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["identity"]["via"], "token");
    assert_eq!(
        provider.counts().introspection,
        1,
        "BearerToken and Identity in one handler: the token is validated once"
    );

    let resp = browser.bearer("/both", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(provider.counts().introspection, 2, "one call per request");

    assert_invalid_token(&browser.bearer("/both", "unknown").await);
    assert_eq!(provider.counts().introspection, 3);
}

#[rocket::async_test]
async fn scopes_apply_to_tokens() {
    let (provider, mut browser) = logged_in(json!({})).await;
    let read_only = provider.opaque_token(json!({ "scope": "read" }));
    let resp = browser.bearer("/either/write", &read_only).await;
    assert_bearer_error(&resp, Status::Forbidden, "insufficient_scope");
    assert_eq!(challenge(&resp).param("scope"), Some("read write"));

    let read_write = provider.opaque_token(json!({ "scope": "read write" }));
    let resp = browser.bearer("/either/write", &read_write).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "token");

    // A browser session is not scoped.
    let resp = browser.api("/either/write").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "session");
}

#[rocket::async_test]
async fn the_access_token_of_a_session_is_accepted_as_a_bearer_token_elsewhere() {
    let (provider, mut browser) = logged_in(json!({})).await;
    let profile = browser.profile().await.expect("a session");
    let access_token = profile["access_token"]
        .as_str()
        .expect("the session has an access token")
        .to_string();

    let mut script = browser.other_browser();
    let resp = script.bearer("/either", &access_token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "token");
    assert_eq!(resp.json()["sub"], SUBJECT);
    assert_eq!(provider.counts().introspection, 1);
}
