//! `providers.<name>.userinfo_refresh_seconds` (issue "Who may do what",
//! part 1): userinfo is read again on use once that long has passed, so a
//! role removed at the provider stops counting within that time. A
//! provider that no longer answers for the session ends it; one that
//! cannot be asked now fails only the routes that decide by the claims.

use std::time::Duration;

use rocket::get;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket_openidconnect::testing::ManualClock;
use rocket_openidconnect::{DefaultProvider, NoRequirement, OidcUser, authorization};
use serde_json::{Value, json};

use crate::support::*;

authorization!(Admins { roles: any["admin"] });

#[get("/admin")]
fn admin(user: OidcUser<DefaultProvider, NoRequirement, Admins>) -> Json<Value> {
    Json(json!({ "roles": user.roles() }))
}

#[get("/me")]
fn me(user: OidcUser) -> Json<Value> {
    Json(json!({ "roles": user.roles() }))
}

/// A browser logged in as an admin (by userinfo), the app re-reading
/// userinfo every `every` seconds (0: off).
async fn admin_logged_in(every: u64) -> (ManualClock, TestProvider, Browser) {
    let clock = ManualClock::new();
    let provider = TestProvider::start_with_clock(&clock).await;
    provider.behave(|b| {
        b.userinfo_claims.insert("roles".into(), json!(["admin"]));
    });
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["userinfo_refresh_seconds"] = json!(every);
    let mut routes = rocket::routes![admin, me];
    routes.extend(default_routes());
    let mut browser = Browser::new(rp_on(&clock, config, routes)).await;
    browser.login_ok(&provider, "/profile").await;
    assert_eq!(browser.api("/admin").await.status, Status::Ok);
    (clock, provider, browser)
}

fn take_away_the_role(provider: &TestProvider) {
    provider.behave(|b| {
        b.userinfo_claims.insert("roles".into(), json!(["user"]));
    });
}

#[rocket::async_test]
async fn a_role_removed_at_the_provider_stops_counting_once_userinfo_is_read_again() {
    let (clock, provider, mut browser) = admin_logged_in(300).await;
    take_away_the_role(&provider);
    let reads = provider.counts().userinfo;

    clock.advance(Duration::from_secs(299));
    assert_eq!(browser.api("/admin").await.status, Status::Ok, "within the interval");
    assert_eq!(provider.counts().userinfo, reads, "not read again yet");

    clock.advance(Duration::from_secs(1));
    assert_error(&browser.api("/admin").await, Status::Forbidden, "access_denied");
    assert_eq!(provider.counts().userinfo, reads + 1, "read once");
    assert_eq!(browser.api("/me").await.json()["roles"], json!(["user"]));
    assert_eq!(
        provider.counts().userinfo,
        reads + 1,
        "and not again within the interval"
    );
}

#[rocket::async_test]
async fn without_the_setting_a_session_keeps_the_claims_of_its_login() {
    let (clock, provider, mut browser) = admin_logged_in(0).await;
    take_away_the_role(&provider);
    let reads = provider.counts().userinfo;
    clock.advance(Duration::from_secs(3_000));
    assert_eq!(browser.api("/admin").await.status, Status::Ok);
    assert_eq!(provider.counts().userinfo, reads);
}

#[rocket::async_test]
async fn a_provider_that_no_longer_answers_for_the_session_ends_it() {
    // The session's access token revoked at the provider.
    let (clock, provider, mut browser) = admin_logged_in(60).await;
    let authorization = provider
        .userinfo_requests()
        .last()
        .and_then(|request| request.authorization.clone())
        .expect("userinfo was read at login with the access token");
    provider.revoke(authorization.trim_start_matches("Bearer "));
    clock.advance(Duration::from_secs(60));
    assert_error(&browser.api("/me").await, Status::Unauthorized, "login_required");
    assert!(browser.profile().await.is_none(), "the session ended");

    // Userinfo answering for someone else.
    let (clock, provider, mut browser) = admin_logged_in(60).await;
    provider.behave(|b| b.userinfo_body = Some(json!({ "sub": "mallory", "roles": ["admin"] })));
    clock.advance(Duration::from_secs(60));
    assert_error(&browser.api("/admin").await, Status::Unauthorized, "login_required");
    assert!(browser.profile().await.is_none(), "the session ended");
}

#[rocket::async_test]
async fn a_provider_that_cannot_answer_now_fails_only_routes_that_decide_by_claims() {
    let (clock, provider, mut browser) = admin_logged_in(60).await;
    provider.behave(|b| b.userinfo_body = Some(json!(["not", "an", "object"])));
    clock.advance(Duration::from_secs(60));
    let resp = browser.api("/admin").await;
    assert_eq!(resp.status, Status::BadGateway, "no decision on stale roles: {resp:#?}");
    assert_eq!(browser.api("/me").await.status, Status::Ok, "a plain route goes on");

    // The provider back: the next request reads userinfo and decides.
    provider.behave(|b| b.userinfo_body = None);
    take_away_the_role(&provider);
    assert_error(&browser.api("/admin").await, Status::Forbidden, "access_denied");
}
