//! A logout wins over a refresh or a login in flight: when the token
//! request of a refresh finishes after the session was logged out, nothing
//! is stored, the refresh answers `401 login_required`, and the session
//! stays gone; a back-channel logout of the provider session a login is
//! finishing for ends that login's session too. In every store, with and
//! without Redis, on one instance or two.

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::{Value, json};

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

per_store! {
    async fn in_one_instance_without_redis(store) in [memory, cookie] {
        let provider = TestProvider::start().await;
        let mut config: Value = oidc_config(&provider);
        config["session"] = json!({ "store": store });
        let a = instance(config).await;
        logout_during_a_slow_refresh(store, &provider, a.clone(), a).await;
    }
}

per_store! {
    async fn across_two_instances_sharing_redis(store) in [redis, cookie] {
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let config = shared_config(&provider, &redis, store);
        let (a, b) = (instance(config.clone()).await, instance(config).await);
        logout_during_a_slow_refresh(store, &provider, a, b).await;
    }
}

/// A login of provider session `s1` whose code exchange takes 600 ms
/// starts on instance A; 150 ms later the provider's back-channel logout
/// (`by` the `sid` s1, or by the user's `sub`) reaches `logout_on`. Whatever the callback answers, the browser
/// has no session afterwards, on any instance.
async fn back_channel_logout_during_a_login(
    label: &str,
    provider: &TestProvider,
    a: Arc<Client>,
    logout_on: Arc<Client>,
    by: Value,
) {
    provider.behave(|b| {
        b.claims.insert("sid".into(), json!("s1"));
        b.token_failure = Some(TokenFailure::Delay(Duration::from_millis(600)));
    });
    let mut browser = Browser {
        client: a.clone(),
        jar: Default::default(),
    };
    let auth = browser.start_login("/profile").await;
    let params = [
        ("code".to_string(), provider.issue_code(&auth)),
        ("state".to_string(), auth.state().to_string()),
        ("iss".to_string(), provider.issuer.clone()),
    ];
    let login = rocket::tokio::spawn(async move {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let resp = browser.callback(&pairs, Mode::Navigate).await;
        (browser, resp)
    });
    rocket::tokio::time::sleep(Duration::from_millis(150)).await;
    let provider_side = Browser {
        client: logout_on.clone(),
        jar: Default::default(),
    };
    let resp = provider_side
        .backchannel_logout(&provider.logout_token(by.clone()))
        .await;
    assert_eq!(resp.status, Status::Ok, "{label} {by}: {resp:#?}");

    let (browser, resp) = login.await.expect("the login request");
    assert!(
        provider.counts().token >= 1,
        "{label}: the code was exchanged: {resp:#?}"
    );
    for instance in [&a, &logout_on] {
        // The cookies the login left, on each instance afresh.
        let mut there = browser.with_jar(browser.jar.clone());
        there.switch_to(instance);
        assert_no_session(&mut there).await;
    }
}

per_store! {
    async fn a_back_channel_logout_during_a_login_ends_it_in_one_instance_without_redis(store) in [memory, cookie] {
        let provider = TestProvider::start().await;
        let mut config: Value = oidc_config(&provider);
        config["session"] = json!({ "store": store });
        for by in [json!({ "sid": "s1", "sub": null }), json!({})] {
            let a = instance(config.clone()).await;
            back_channel_logout_during_a_login(store, &provider, a.clone(), a, by).await;
        }
    }
}

per_store! {
    async fn a_back_channel_logout_during_a_login_ends_it_across_two_instances_sharing_redis(store) in [redis, cookie] {
        for by in [json!({ "sid": "s1", "sub": null }), json!({})] {
            // A Redis of its own for each: the first logout's record would
            // refuse the second login by its `sid` anyway.
            let provider = TestProvider::start().await;
            let redis = RedisServer::start();
            let config = shared_config(&provider, &redis, store);
            let (a, b) = (instance(config.clone()).await, instance(config).await);
            back_channel_logout_during_a_login(store, &provider, a, b, by).await;
        }
    }
}
