//! The caches that spare a logged-in request its work: session cookies
//! opened before are not opened again (by their exact sealed bytes), and
//! with Redis each instance keeps what it read briefly, dropped when any
//! instance announces a change. Neither ever serves what it must not: a
//! tampered cookie never hits, and a logged-out or expired session is
//! refused on a hit.

use std::time::{Duration, Instant};

use rocket::http::{Method, Status};
use serde_json::{Value, json};

use crate::support::instances::*;
use crate::support::lifecycle::*;
use crate::support::redis::RedisServer;
use crate::support::*;

fn config_with(provider: &TestProvider, session: Value) -> Value {
    let mut config = oidc_config(provider);
    config["session"] = session;
    config
}

per_store! {
    async fn a_tampered_cookie_never_hits(store) in [cookie, memory] {
        let provider = TestProvider::start().await;
        let mut browser = lifecycle_browser(config_with(&provider, json!({ "store": store }))).await;
        browser.login_ok(&provider, "/profile").await;
        assert!(browser.profile().await.is_some(), "{store}: the cache now has it");
        let name = if store == "cookie" {
            "oidc_session_0"
        } else {
            "oidc_sid"
        };
        let value = browser.jar[name].clone();
        // A character other than the one it replaces (a forgery equal to
        // the genuine cookie would be no forgery).
        let other = |c: char| if c == 'x' { "y" } else { "x" };
        let (first, last) = (value.chars().next().unwrap(), value.chars().last().unwrap());
        for forged in [
            format!("{}{}", other(first), &value[1..]),
            format!("{}{}", &value[..value.len() - 1], other(last)),
            value[..value.len() - 2].to_string(),
            format!("{value}A"),
        ] {
            assert_ne!(forged, value);
            let mut jar = browser.jar.clone();
            jar.insert(name.to_string(), forged);
            assert_no_session(&mut browser.with_jar(jar)).await;
        }
        assert!(
            browser.profile().await.is_some(),
            "{store}: the genuine cookie still works"
        );
    }
}

#[rocket::async_test]
async fn a_logged_out_session_is_refused_on_a_hit() {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(config_with(&provider, json!({ "store": "cookie" }))).await;
    browser.login_ok(&provider, "/profile").await;
    let mut copy = browser.with_jar(browser.jar.clone());
    assert!(copy.profile().await.is_some(), "cached");
    browser.logout(Method::Post).await;
    assert_no_session(&mut copy).await;
}

#[rocket::async_test]
async fn an_expired_session_is_refused_on_a_hit() {
    let provider = TestProvider::start().await;
    let session = json!({ "store": "cookie", "lifetime_seconds": 2 });
    let clock = ManualClock::new();
    let mut browser = lifecycle_browser_on(&clock, config_with(&provider, session)).await;
    browser.login_ok(&provider, "/profile").await;
    assert!(browser.profile().await.is_some(), "cached");
    clock.advance(Duration::from_millis(2200));
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_small_cache_still_serves_everyone() {
    let provider = TestProvider::start().await;
    let app = lifecycle_browser(config_with(&provider, json!({ "store": "cookie", "cache_entries": 2 }))).await;
    let mut users = Vec::new();
    for n in 0..5 {
        let mut user = app.other_browser();
        provider.behave(|b| b.subject = format!("user-{n}"));
        user.login_ok(&provider, "/profile").await;
        users.push(user);
    }
    for _ in 0..2 {
        for (n, user) in users.iter_mut().enumerate() {
            assert_eq!(user.profile().await.expect("logged in")["sub"], format!("user-{n}"));
        }
    }
}

/// Polls `browser`'s profile until it is gone, at most `within`.
async fn gone_within(browser: &mut Browser, within: Duration) -> Duration {
    let start = Instant::now();
    while browser.profile().await.is_some() {
        assert!(start.elapsed() < within, "still logged in after {within:?}");
        rocket::tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

per_store! {
    async fn with_redis_a_change_on_one_instance_drops_what_the_others_kept(store) in [redis, cookie] {
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let config = shared_config(&provider, &redis, store);
        let (mut browser, b) = two_instances(config).await;
        provider.behave(|p| {
            p.claims.insert("sid".into(), json!("s1"));
        });
        browser.login_ok(&provider, "/profile").await;
        let mut on_b = browser.with_jar(browser.jar.clone());
        on_b.switch_to(&b);
        // B reads the session (or its logout records) and keeps it.
        for _ in 0..3 {
            assert!(on_b.profile().await.is_some(), "{store}");
        }
        let before = redis.commands_processed();
        for _ in 0..20 {
            assert!(on_b.profile().await.is_some(), "{store}");
        }
        let used = redis.commands_processed() - before;
        assert!(used <= 2, "{store}: 20 requests on B made {used} Redis commands");

        // The provider logs the user out through A.
        let token = provider.logout_token(json!({ "sid": "s1", "sub": null }));
        assert_eq!(browser.backchannel_logout(&token).await.status, Status::Ok);
        let took = gone_within(&mut on_b, Duration::from_secs(2)).await;
        println!("{store}: B stopped serving the session {took:?} after the logout on A");
    }
}

#[rocket::async_test]
async fn with_local_cache_seconds_0_every_request_asks_redis() {
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let mut config = shared_config(&provider, &redis, "redis");
    config["redis"]["local_cache_seconds"] = json!(0);
    let (mut browser, b) = two_instances(config).await;
    browser.login_ok(&provider, "/profile").await;
    let mut on_b = browser.with_jar(browser.jar.clone());
    on_b.switch_to(&b);
    assert!(on_b.profile().await.is_some());
    let before = redis.commands_processed();
    for _ in 0..10 {
        assert!(on_b.profile().await.is_some());
    }
    assert!(redis.commands_processed() - before >= 10, "one round trip per request");
    browser.logout(Method::Post).await;
    assert!(on_b.profile().await.is_none(), "refused at once");
}
