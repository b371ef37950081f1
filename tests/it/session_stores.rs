//! The server-side memory store (`session.store = "memory"`): the browser
//! holds only a sealed session id in `oidc_sid`; the session lives in the
//! app, so ending it there makes every copy of the cookie worthless.

use rocket::http::{Method, SameSite, Status};
use serde_json::{Value, json};

use crate::support::lifecycle::*;
use crate::support::*;

async fn logged_in() -> (TestProvider, Browser, Resp, Value) {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(memory_store_config(&provider)).await;
    let auth = browser.start_login("/profile").await;
    let callback = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(callback.status, Status::SeeOther, "{callback:#?}");
    let profile = browser.profile().await.expect("logged in");
    (provider, browser, callback, profile)
}

#[rocket::async_test]
async fn the_cookie_holds_only_a_sealed_session_id() {
    let (_provider, browser, callback, profile) = logged_in().await;

    let set = callback.cookies_set_with_prefix("oidc_");
    assert_eq!(set.len(), 1, "only oidc_sid is set at login: {callback:#?}");
    let cookie = &set[0];
    assert_eq!(cookie.name(), "oidc_sid");
    assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{cookie}");
    assert_eq!(cookie.path(), Some("/"), "{cookie}");
    assert!(
        cookie.max_age().is_some_and(|age| age.whole_seconds() > 0),
        "the cookie lives as long as the session: {cookie}"
    );
    assert!(
        cookie.value().len() < 200,
        "a session id, not a session ({} bytes): {cookie}",
        cookie.value().len()
    );

    let library_cookies: Vec<&String> = browser.jar.keys().filter(|k| k.starts_with("oidc_")).collect();
    assert_eq!(library_cookies, ["oidc_sid"], "{:?}", browser.jar);
    let value = &browser.jar["oidc_sid"];
    for secret in [
        profile["sub"].as_str().unwrap(),
        profile["access_token"].as_str().unwrap(),
        profile["refresh_token"].as_str().unwrap(),
        profile["id_token_jwt"].as_str().unwrap().split('.').nth(1).unwrap(),
    ] {
        assert!(!value.contains(secret), "the cookie carries no session data: {value}");
    }
}

#[rocket::async_test]
async fn every_login_gets_a_new_session_id() {
    let (provider, mut browser, _, _) = logged_in().await;
    let first = browser.jar["oidc_sid"].clone();
    let mut other = browser.other_browser();
    other.login_ok(&provider, "/profile").await;
    assert_ne!(other.jar["oidc_sid"], first);

    // Logging in again in the same browser replaces its session id.
    browser.logout(Method::Get).await;
    browser.login_ok(&provider, "/profile").await;
    assert_ne!(browser.jar["oidc_sid"], first);
}

#[rocket::async_test]
async fn a_cookie_captured_before_logout_is_worthless_afterwards() {
    let (provider, mut browser, _, _) = logged_in().await;
    let captured = browser.jar.clone();

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert!(!browser.jar.contains_key("oidc_sid"), "{resp:#?}");

    let mut thief = browser.with_jar(captured);
    assert_no_session(&mut thief).await;
    let resp = thief.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    assert_eq!(
        AuthRequest::parse(resp.location()).endpoint,
        provider.authorization_endpoint()
    );
    let resp = thief.token(false).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
}

#[rocket::async_test]
async fn a_tampered_session_cookie_is_no_session() {
    let (_provider, browser, _, _) = logged_in().await;
    let value = browser.jar["oidc_sid"].clone();

    let mut flipped = value.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let truncated = value[..value.len() - 4].to_string();
    for forged in [flipped, truncated, String::new(), "session-id".to_string()] {
        let mut jar = browser.jar.clone();
        jar.insert("oidc_sid".into(), forged.clone());
        let mut tampered = browser.with_jar(jar);
        let resp = tampered.api("/profile").await;
        assert_error(&resp, Status::Unauthorized, "login_required");
        assert!(resp.status != Status::InternalServerError, "{forged:?}: {resp:#?}");
    }
    // The genuine cookie still works.
    let mut genuine = browser.with_jar(browser.jar.clone());
    assert!(genuine.profile().await.is_some());
}

#[rocket::async_test]
async fn sessions_live_in_the_app_instance_that_created_them() {
    let (provider, browser, _, _) = logged_in().await;

    // Same secret key, so the cookie opens; but this instance (a restart)
    // has no such session.
    let mut restarted = Browser::new(rp(memory_store_config(&provider), lifecycle_routes())).await;
    restarted.jar = browser.jar.clone();
    assert_no_session(&mut restarted).await;
}

#[rocket::async_test]
async fn two_browsers_have_two_sessions() {
    let provider = TestProvider::start().await;
    let mut alice = lifecycle_browser(memory_store_config(&provider)).await;
    let mut bob = alice.other_browser();
    alice.login_ok(&provider, "/profile").await;
    provider.behave(|b| b.subject = "bob".into());
    bob.login_ok(&provider, "/profile").await;

    assert_eq!(alice.profile().await.unwrap()["sub"], "alice");
    assert_eq!(bob.profile().await.unwrap()["sub"], "bob");
    bob.logout(Method::Get).await;
    assert_eq!(alice.profile().await.unwrap()["sub"], "alice", "bob's logout is bob's");
}

#[rocket::async_test]
async fn a_refresh_updates_the_session_for_every_holder_of_the_cookie() {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.token_response.insert("expires_in".into(), json!(0));
    });
    let mut browser = lifecycle_browser(memory_store_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let mut second_tab = browser.with_jar(browser.jar.clone());

    let token = browser.token_ok(false).await;
    assert_eq!(token["refreshed"], true);
    // The other tab never saw a Set-Cookie, and still sees the new token.
    let seen = second_tab.token_ok(false).await;
    assert_eq!(seen["refreshed"], false, "{seen}");
    assert_eq!(seen["access_token"], token["access_token"]);
    assert_eq!(provider.counts().refresh, 1);
}
