//! `session.inactivity_timeout_seconds`: a session unused that long ends,
//! in every store, copies of its cookies included; one in use lives on.
//! Its activity stamp is renewed coarsely, so most requests store nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::lifecycle::*;
use crate::support::redis::RedisServer;
use crate::support::*;

fn config(provider: &TestProvider, redis: &RedisServer, store: &str, timeout: u64) -> Value {
    let mut config = oidc_config(provider);
    config["session"] = json!({ "store": store, "inactivity_timeout_seconds": timeout });
    if store == "redis" {
        config["redis"] = redis.config();
    }
    config
}

per_store! {
    async fn a_session_unused_for_the_timeout_ends(store) in [cookie, memory, redis] {
        let clock = ManualClock::new();
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let mut browser = lifecycle_browser_on(&clock, config(&provider, &redis, store, 2)).await;
        browser.login_ok(&provider, "/profile").await;
        assert!(browser.profile().await.is_some(), "{store}");
        let copy = browser.jar.clone();

        clock.advance(Duration::from_millis(3100));
        assert_no_session(&mut browser).await;
        assert_no_session(&mut browser.with_jar(copy)).await;
    }
}

per_store! {
    async fn a_session_in_use_lives_on(store) in [cookie, memory, redis] {
        let clock = ManualClock::new();
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let mut browser = lifecycle_browser_on(&clock, config(&provider, &redis, store, 2)).await;
        browser.login_ok(&provider, "/profile").await;
        for _ in 0..5 {
            clock.advance(Duration::from_millis(900));
            assert!(browser.profile().await.is_some(), "{store}: used every 0.9 s");
        }
    }
}

#[rocket::async_test]
async fn the_activity_stamp_is_not_stored_on_every_request() {
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    // A timeout of 100 s renews the stamp at most every 10 s.
    let mut browser = lifecycle_browser(config(&provider, &redis, "cookie", 100)).await;
    browser.login_ok(&provider, "/profile").await;
    for _ in 0..3 {
        let resp = browser.api("/profile").await;
        assert!(resp.cookies_set_with_prefix("oidc_session_").is_empty(), "{resp:#?}");
    }
}
