//! Step-up per route (RFC 9470): `OidcUser<P, R>` with a requirement `R`
//! (`acr` values, `max_age`). A session that does not meet it sends a
//! navigation back to the provider with `acr_values` / `max_age` (and back
//! to the same URL), gives an API request `401 insufficient_user_authentication`
//! with RFC 9470's challenge; the new ID token must meet it or the login
//! fails. Routes without a requirement are untouched.

use rocket::get;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket_openidconnect::{DefaultProvider, OidcUser, requirement};
use serde_json::{Value, json};

use crate::support::provider::now;
use crate::support::*;

requirement!(
    /// Multi-factor authentication.
    Mfa { acr: ["urn:example:mfa", "urn:example:hwk"] }
);
requirement!(
    /// Authenticated within the last minute.
    Recent { max_age: 60 }
);

#[get("/mfa")]
fn mfa(user: OidcUser<DefaultProvider, Mfa>) -> Json<Value> {
    Json(json!({ "sub": user.subject(), "acr": user.id_token_claims().get("acr") }))
}

#[get("/recent")]
fn recent(user: OidcUser<DefaultProvider, Recent>) -> Json<Value> {
    Json(json!({ "sub": user.subject() }))
}

async fn step_up_browser(provider: &TestProvider) -> Browser {
    let mut routes = default_routes();
    routes.extend(rocket::routes![mfa, recent]);
    Browser::new(rp(oidc_config(provider), routes)).await
}

#[rocket::async_test]
async fn a_weak_session_is_sent_back_to_the_provider_for_the_acr_and_returns_to_the_route() {
    let provider = TestProvider::start().await;
    let mut browser = step_up_browser(&provider).await;
    let first = browser.login_ok(&provider, "/profile").await;
    assert!(first.param("acr_values").is_none(), "a plain route asks for nothing");

    let step_up = browser.start_login("/mfa").await;
    assert_eq!(step_up.param("acr_values"), Some("urn:example:mfa urn:example:hwk"));
    let callback = browser.approve(&provider, &step_up, Mode::Navigate).await;
    assert_eq!(callback.status, Status::SeeOther, "{callback:#?}");
    assert_eq!(callback.location(), "/mfa", "back to the route that asked");
    let resp = browser.navigate("/mfa").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["acr"], "urn:example:mfa");
}

#[rocket::async_test]
async fn without_a_session_the_first_login_already_asks_for_the_requirement() {
    let provider = TestProvider::start().await;
    let mut browser = step_up_browser(&provider).await;
    let auth = browser.start_login("/mfa").await;
    assert_eq!(auth.param("acr_values"), Some("urn:example:mfa urn:example:hwk"));
    let callback = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(callback.location(), "/mfa");
    assert_eq!(browser.navigate("/mfa").await.status, Status::Ok);
}

#[rocket::async_test]
async fn an_api_request_on_a_weak_session_gets_rfc_9470_s_challenge() {
    let provider = TestProvider::start().await;
    let mut browser = step_up_browser(&provider).await;
    browser.login_ok(&provider, "/profile").await;
    let resp = browser.api("/mfa").await;
    assert_error(&resp, Status::Unauthorized, "insufficient_user_authentication");
    let challenge = resp.header("WWW-Authenticate").expect("a challenge");
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_user_authentication""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"acr_values="urn:example:mfa urn:example:hwk""#),
        "{challenge}"
    );
    assert!(resp.header("Location").is_none());

    let resp = browser.api("/recent").await;
    assert_eq!(resp.status, Status::Ok, "a login just now is recent: {resp:#?}");
}

#[rocket::async_test]
async fn a_step_up_answered_with_a_weaker_acr_fails_and_keeps_the_old_session() {
    let provider = TestProvider::start().await;
    let mut browser = step_up_browser(&provider).await;
    browser.login_ok(&provider, "/profile").await;
    provider.behave(|b| {
        b.claims.insert("acr".into(), json!("urn:example:password"));
    });
    let step_up = browser.start_login("/mfa").await;
    let callback = browser.approve(&provider, &step_up, Mode::Navigate).await;
    assert_error(&callback, Status::Unauthorized, "insufficient_user_authentication");
    assert!(callback.header("Location").is_none(), "no loop back to the provider");
    assert!(browser.profile().await.is_some(), "the old session stays");
    assert_eq!(
        browser.api("/mfa").await.status,
        Status::Unauthorized,
        "and is still too weak"
    );
}

#[rocket::async_test]
async fn an_old_login_is_refreshed_with_max_age_and_an_old_auth_time_in_answer_fails() {
    let provider = TestProvider::start().await;
    let mut browser = step_up_browser(&provider).await;
    // The provider remembers a login of an hour ago.
    provider.behave(|b| {
        b.claims.insert("auth_time".into(), json!(now() - 3600));
    });
    browser.login_ok(&provider, "/profile").await;
    let step_up = browser.start_login("/recent").await;
    assert_eq!(step_up.param("max_age"), Some("60"));

    // Answered with the same old auth_time: refused.
    let callback = browser.approve(&provider, &step_up, Mode::Navigate).await;
    assert_error(&callback, Status::Unauthorized, "insufficient_user_authentication");

    // The user authenticates again: accepted, and back on the route.
    provider.behave(|b| {
        b.claims.remove("auth_time");
    });
    let step_up = browser.start_login("/recent").await;
    let callback = browser.approve(&provider, &step_up, Mode::Navigate).await;
    assert_eq!(callback.location(), "/recent");
    assert_eq!(browser.navigate("/recent").await.status, Status::Ok);
}

#[rocket::async_test]
async fn a_session_without_auth_time_is_not_proven_recent() {
    let provider = TestProvider::start().await;
    let mut browser = step_up_browser(&provider).await;
    provider.behave(|b| {
        b.claims.insert("auth_time".into(), Value::Null);
    });
    browser.login_ok(&provider, "/profile").await;
    let resp = browser.api("/recent").await;
    assert_error(&resp, Status::Unauthorized, "insufficient_user_authentication");
    assert!(
        resp.header("WWW-Authenticate")
            .is_some_and(|c| c.contains(r#"max_age="60""#))
    );
}
