//! Secrets and keys the way operators keep them: a client secret read from
//! a file (a mounted Kubernetes or Docker secret) instead of `Rocket.toml`,
//! and a cookie key rotated without logging anyone out: the keys in
//! `oidc.previous_secret_keys` still open what the old `secret_key` sealed,
//! and what they opened is sealed again under the current key.

use std::collections::BTreeMap;

use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::instances::*;
use crate::support::lifecycle::*;
use crate::support::redis::RedisServer;
use crate::support::*;

/// The relying party of `oidc` under `secret_key(seed)`.
async fn instance_with_key(oidc: Value, seed: u8) -> Browser {
    Browser::new(rp_with_figment(
        figment_with_secret(oidc, &secret_key(seed)),
        lifecycle_routes(),
    ))
    .await
}

/// `oidc` whose `previous_secret_keys` are those of `seeds`.
fn with_previous_keys(mut oidc: Value, seeds: &[u8]) -> Value {
    oidc["previous_secret_keys"] = json!(seeds.iter().map(|seed| secret_key(*seed)).collect::<Vec<_>>());
    oidc
}

/// The crate's session cookies of `jar` (chunks and session id).
fn session_cookies_of(jar: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    jar.iter()
        .filter(|(name, _)| name.starts_with("oidc_session_") || *name == "oidc_sid")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[rocket::async_test]
async fn the_client_secret_can_come_from_a_file() {
    let provider = TestProvider::start().await;
    let dir = TempDir::new("client-secret");
    let file = dir.join("client_secret");
    // A secret file usually ends with a newline; it is not part of the secret.
    std::fs::write(&file, format!("{}\n", provider::CLIENT_SECRET)).unwrap();
    let mut oidc = oidc_config(&provider);
    let table = oidc["providers"]["default"].as_object_mut().unwrap();
    table.remove("client_secret");
    table.insert("client_secret_file".into(), json!(file));
    let mut browser = lifecycle_browser(oidc.clone()).await;
    browser.login_ok(&provider, "/profile").await;
    assert!(browser.profile().await.is_some());

    // The file is what the provider sees: a wrong one fails at the token endpoint.
    std::fs::write(&file, "not-the-secret").unwrap();
    let mut wrong = lifecycle_browser(oidc).await;
    let (_, resp) = wrong.login(&provider, "/profile", Mode::Navigate).await;
    assert_ne!(resp.status, Status::SeeOther, "{resp:#?}");
    assert!(wrong.profile().await.is_none());
}

/// `oidc` with its logouts written down in `dir`, so that they outlive a restart.
fn with_records(mut oidc: Value, dir: &TempDir) -> Value {
    oidc["session"] = json!({ "logout_records_path": dir.join("logouts") });
    oidc
}

/// A key rotation is a restart: without Redis, the app keeps its logouts
/// on disk (`session.logout_records_path`), so sessions outlive it.
#[rocket::async_test]
async fn a_cookie_session_survives_a_key_rotation_and_is_sealed_again() {
    let provider = TestProvider::start().await;
    let dir = TempDir::new("rotation");
    let mut before = instance_with_key(with_records(oidc_config(&provider), &dir), 1).await;
    before.login_ok(&provider, "/profile").await;
    let profile = before.profile().await.expect("logged in");
    let old = session_cookies_of(&before.jar);
    let before_jar = before.jar.clone();
    drop(before);

    // The new key, with the old one as a previous key.
    let mut rotated = instance_with_key(with_previous_keys(with_records(oidc_config(&provider), &dir), &[1]), 2).await;
    rotated.jar = before_jar.clone();
    assert_eq!(
        rotated.profile().await.as_ref(),
        Some(&profile),
        "the old cookie still opens"
    );
    let new = session_cookies_of(&rotated.jar);
    assert_eq!(new.keys().collect::<Vec<_>>(), old.keys().collect::<Vec<_>>());
    assert!(
        new.iter().all(|(name, value)| old[name] != *value),
        "every session cookie is sealed again"
    );
    let again = rotated.jar.clone();
    assert_eq!(rotated.profile().await.as_ref(), Some(&profile));
    assert_eq!(rotated.jar, again, "a cookie under the current key is not sealed again");

    // Once the old key is retired, the resealed cookie still works; the old one does not.
    let rotated_jar = rotated.jar.clone();
    drop(rotated);
    let mut retired = instance_with_key(with_records(oidc_config(&provider), &dir), 2).await;
    retired.jar = rotated_jar;
    assert_eq!(retired.profile().await.as_ref(), Some(&profile));
    retired.jar = before_jar;
    assert_no_session(&mut retired).await;
}

#[rocket::async_test]
async fn without_the_previous_key_an_old_cookie_is_no_session() {
    let provider = TestProvider::start().await;
    let dir = TempDir::new("rotation");
    let mut before = instance_with_key(with_records(oidc_config(&provider), &dir), 1).await;
    before.login_ok(&provider, "/profile").await;
    let jar = before.jar.clone();
    drop(before);
    // With the right previous key it would open (the logouts are on disk)...
    let mut right = instance_with_key(with_previous_keys(with_records(oidc_config(&provider), &dir), &[1]), 2).await;
    right.jar = jar.clone();
    assert!(right.profile().await.is_some());
    drop(right);
    // ...with another, it does not.
    let mut other = instance_with_key(with_previous_keys(with_records(oidc_config(&provider), &dir), &[3]), 2).await;
    other.jar = jar;
    assert_no_session(&mut other).await;
}

#[rocket::async_test]
async fn a_login_started_before_a_rotation_finishes_after_it() {
    let provider = TestProvider::start().await;
    let mut before = instance_with_key(oidc_config(&provider), 1).await;
    let auth = before.start_login("/profile").await;
    let mut rotated = instance_with_key(with_previous_keys(oidc_config(&provider), &[1]), 2).await;
    rotated.jar = before.jar.clone();
    let resp = rotated.approve(&provider, &auth, Mode::Navigate).await;
    assert_callback_completed(&resp, &provider);
    assert!(rotated.profile().await.is_some());
}

#[rocket::async_test]
async fn a_redis_session_survives_a_key_rotation() {
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let oidc = shared_config(&provider, &redis, "redis");
    let mut before = instance_with_key(oidc.clone(), 1).await;
    before.login_ok(&provider, "/profile").await;
    let profile = before.profile().await.expect("logged in");
    let old_id = before.jar["oidc_sid"].clone();

    let mut rotated = instance_with_key(with_previous_keys(oidc, &[1]), 2).await;
    rotated.jar = before.jar.clone();
    assert_eq!(
        rotated.profile().await.as_ref(),
        Some(&profile),
        "the id cookie and the value in Redis still open"
    );
    assert_ne!(rotated.jar["oidc_sid"], old_id, "the id cookie is sealed again");
    let mut again = rotated.with_jar(rotated.jar.clone());
    assert_eq!(again.profile().await.as_ref(), Some(&profile));
}
