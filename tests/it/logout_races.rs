//! A logout wins over a refresh in flight: when the token request of a
//! refresh finishes after the session was logged out, nothing is stored,
//! the refresh answers `401 login_required`, and the session stays gone,
//! in every store, with and without Redis, on one instance or two.

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

use crate::support::instances::*;
use crate::support::lifecycle::*;
use crate::support::redis::RedisServer;
use crate::support::*;

/// Logs in with `oidc` on instance A, then: a forced refresh whose token
/// request takes 600 ms starts on A; 150 ms later the user logs out on
/// `logout_on` (A or B). Checks that the session is gone afterwards, for
/// the browser and for a copy of its cookies, on every instance.
async fn logout_during_a_slow_refresh(label: &str, provider: &TestProvider, a: Arc<Client>, logout_on: Arc<Client>) {
    let mut browser = Browser {
        client: a.clone(),
        jar: Default::default(),
    };
    browser.login_ok(provider, "/profile").await;
    let captured = browser.jar.clone();
    provider.behave(|b| b.refresh_failure = Some(TokenFailure::Delay(Duration::from_millis(600))));

    let refreshing = browser.with_jar(browser.jar.clone());
    let refresh = rocket::tokio::spawn(async move { concurrent_api_gets(&refreshing, "/token?refresh=true", 1).await });
    rocket::tokio::time::sleep(Duration::from_millis(150)).await;
    browser.switch_to(&logout_on);
    let resp = browser.logout(Method::Post).await;
    assert_eq!(resp.status, Status::SeeOther, "{label}: {resp:#?}");

    let refreshed = refresh.await.expect("the refresh request")[0].clone();
    assert_eq!(
        provider.counts().refresh,
        1,
        "{label}: the refresh did reach the provider"
    );
    assert_error(&refreshed, Status::Unauthorized, "login_required");
    // The browser receives the refresh's answer after the logout's.
    browser.absorb(&refreshed);
    for instance in [&a, &logout_on] {
        browser.switch_to(instance);
        assert_no_session(&mut browser).await;
        let mut copy = browser.with_jar(captured.clone());
        assert_no_session(&mut copy).await;
    }
}

#[rocket::async_test]
async fn in_one_instance_without_redis() {
    for store in ["memory", "cookie"] {
        let provider = TestProvider::start().await;
        let mut config: Value = oidc_config(&provider);
        config["session"] = json!({ "store": store });
        let a = instance(config).await;
        logout_during_a_slow_refresh(store, &provider, a.clone(), a).await;
    }
}

#[rocket::async_test]
async fn across_two_instances_sharing_redis() {
    for store in ["redis", "cookie"] {
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let config = shared_config(&provider, &redis, store);
        let (a, b) = (instance(config.clone()).await, instance(config).await);
        logout_during_a_slow_refresh(store, &provider, a, b).await;
    }
}
