//! Dynamic client registration (RFC 7591): a provider configured with a
//! `registration` table instead of `client_id` is registered at on first
//! use; with `persist_path` the client is kept and reused after a restart.

use base64::Engine;
use rocket::http::{Method, Status};
use serde_json::{Value, json};

use crate::support::lifecycle::*;
use crate::support::provider::now;
use crate::support::*;

/// An `oidc` table whose default provider registers dynamically with
/// `registration`.
fn registration_config(provider: &TestProvider, registration: Value) -> Value {
    json!({
        "redirect_uri": REDIRECT_URI,
        "clock_skew_seconds": 60,
        "http_timeout_seconds": 2,
        "providers": { "default": {
            "issuer": provider.issuer,
            "scopes": ["openid", "profile"],
            "userinfo_http_method": "GET",
            "registration": registration,
        } },
    })
}

/// The client id in an `Authorization: Basic` header.
fn basic_client_id(authorization: Option<&str>) -> Option<String> {
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    Some(decoded.split_once(':')?.0.to_string())
}

/// The client the provider registered for its `n`th registration request.
fn registered_client(provider: &TestProvider, n: usize) -> String {
    let requests = provider.registration_requests();
    requests
        .get(n)
        .and_then(|r| r.client_id.clone())
        .unwrap_or_else(|| panic!("registration {n} should have succeeded: {requests:#?}"))
}

#[rocket::async_test]
async fn the_first_login_registers_the_client_and_then_uses_it() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.registration_token = Some("initial-access-token".into()));
    let config = registration_config(&provider, json!({ "initial_access_token": "initial-access-token" }));
    let mut browser = lifecycle_browser(config).await;
    assert_eq!(provider.counts().registration, 0, "registration waits for first use");

    let auth = browser.start_login("/profile").await;
    let requests = provider.registration_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.authorization.as_deref(), Some("Bearer initial-access-token"));
    assert!(
        request
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{request:#?}"
    );
    let body = request.json();
    assert_eq!(body["redirect_uris"], json!([REDIRECT_URI]), "{body:#}");
    assert_eq!(
        body["post_logout_redirect_uris"],
        json!(["http://127.0.0.1:8000/"]),
        "{body:#}"
    );
    assert_eq!(body["response_types"], json!(["code"]), "{body:#}");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"]),
        "{body:#}"
    );
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic", "{body:#}");

    let client_id = registered_client(&provider, 0);
    assert_eq!(auth.param("client_id"), Some(client_id.as_str()));
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_callback_completed(&resp, &provider);
    let token_request = &provider.token_requests()[0];
    assert_eq!(token_request.outcome, "ok", "{token_request:#?}");
    assert_eq!(
        basic_client_id(token_request.authorization.as_deref()),
        Some(client_id.clone()),
        "the token endpoint sees the registered client: {token_request:#?}"
    );
    let profile = browser.profile().await.expect("logged in");
    assert_eq!(profile["id_token"]["aud"], json!(client_id));

    // Registered once for the life of the app.
    let mut other = browser.other_browser();
    other.login_ok(&provider, "/profile").await;
    assert_eq!(provider.counts().registration, 1);
}

#[rocket::async_test]
async fn concurrent_first_logins_register_once() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.registration_failure = Some(TokenFailure::Delay(std::time::Duration::from_millis(200))));
    let browser = lifecycle_browser(registration_config(&provider, json!({}))).await;

    let responses = concurrent_navigations(&browser, "/profile", 5).await;
    let client_id = registered_client(&provider, 0);
    for resp in &responses {
        assert_eq!(resp.status, Status::Found, "{resp:#?}");
        assert_eq!(
            AuthRequest::parse(resp.location()).param("client_id"),
            Some(client_id.as_str())
        );
    }
    assert_eq!(provider.counts().registration, 1);
}

#[rocket::async_test]
async fn without_an_initial_access_token_no_authorization_is_sent() {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(registration_config(&provider, json!({}))).await;

    browser.login_ok(&provider, "/profile").await;
    let requests = provider.registration_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].authorization, None);
}

#[rocket::async_test]
async fn configured_redirect_and_post_logout_uris_are_registered() {
    let provider = TestProvider::start().await;
    let redirect_uris = json!([REDIRECT_URI, "http://127.0.0.1:8000/other_callback"]);
    let post_logout = json!(["http://127.0.0.1:8000/goodbye"]);
    let config = registration_config(
        &provider,
        json!({ "redirect_uris": redirect_uris, "post_logout_redirect_uris": post_logout }),
    );
    let mut browser = lifecycle_browser(config).await;

    browser.login_ok(&provider, "/profile").await;
    let body = provider.registration_requests()[0].json();
    assert_eq!(body["redirect_uris"], redirect_uris, "{body:#}");
    assert_eq!(body["post_logout_redirect_uris"], post_logout, "{body:#}");
}

#[rocket::async_test]
async fn logout_names_the_registered_client() {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(registration_config(&provider, json!({}))).await;
    browser.login_ok(&provider, "/profile").await;
    let client_id = registered_client(&provider, 0);

    let resp = browser.logout(Method::Get).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(
        AuthRequest::parse(resp.location()).param("client_id"),
        Some(client_id.as_str())
    );
    let revocation = &provider.revocations_once(1).await[0];
    assert_eq!(basic_client_id(revocation.authorization.as_deref()), Some(client_id));
}

#[rocket::async_test]
async fn the_registered_client_is_persisted_owner_only_and_reused_after_a_restart() {
    let dir = TempDir::new("registration");
    let path = dir.join("client.json");
    let provider = TestProvider::start().await;
    let config = registration_config(&provider, json!({ "persist_path": path }));

    let mut first = lifecycle_browser(config.clone()).await;
    first.login_ok(&provider, "/profile").await;
    let client_id = registered_client(&provider, 0);

    let text = std::fs::read_to_string(&path).expect("the client is persisted");
    let persisted: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(persisted["issuer"], json!(provider.issuer), "{persisted:#}");
    assert_eq!(persisted["redirect_uris"], json!([REDIRECT_URI]), "{persisted:#}");
    assert_eq!(persisted["client"]["client_id"], json!(client_id), "{persisted:#}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the file holds a client secret: mode {mode:o}");
    }

    // A new instance of the app (a restart) reuses it.
    let mut restarted = lifecycle_browser(config).await;
    let auth = restarted.login_ok(&provider, "/profile").await;
    assert_eq!(auth.param("client_id"), Some(client_id.as_str()));
    assert_eq!(provider.counts().registration, 1, "no second registration");
    let token_request = provider.token_requests().pop().unwrap();
    assert_eq!(token_request.outcome, "ok", "{token_request:#?}");
    assert_eq!(basic_client_id(token_request.authorization.as_deref()), Some(client_id));
}

#[rocket::async_test]
async fn changed_redirect_uris_register_again() {
    let dir = TempDir::new("registration");
    let path = dir.join("client.json");
    let provider = TestProvider::start().await;

    let mut first = lifecycle_browser(registration_config(&provider, json!({ "persist_path": path }))).await;
    first.login_ok(&provider, "/profile").await;
    let first_client = registered_client(&provider, 0);

    let redirect_uris = json!([REDIRECT_URI, "http://127.0.0.1:8000/other_callback"]);
    let config = registration_config(
        &provider,
        json!({ "persist_path": path, "redirect_uris": redirect_uris }),
    );
    let mut changed = lifecycle_browser(config).await;
    let auth = changed.login_ok(&provider, "/profile").await;
    assert_eq!(
        provider.counts().registration,
        2,
        "other redirect_uris: registered again"
    );
    let second_client = registered_client(&provider, 1);
    assert_ne!(second_client, first_client);
    assert_eq!(auth.param("client_id"), Some(second_client.as_str()));
    let persisted: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(persisted["redirect_uris"], redirect_uris, "{persisted:#}");
    assert_eq!(persisted["client"]["client_id"], json!(second_client));
}

#[rocket::async_test]
async fn another_issuer_registers_again() {
    let dir = TempDir::new("registration");
    let path = dir.join("client.json");
    let provider = TestProvider::start().await;
    let mut first = lifecycle_browser(registration_config(&provider, json!({ "persist_path": path }))).await;
    first.login_ok(&provider, "/profile").await;

    let other = TestProvider::start().await;
    let mut moved = lifecycle_browser(registration_config(&other, json!({ "persist_path": path }))).await;
    let auth = moved.login_ok(&other, "/profile").await;
    assert_eq!(
        other.counts().registration,
        1,
        "a client of another issuer is not reused"
    );
    assert_eq!(auth.param("client_id"), Some(registered_client(&other, 0).as_str()));
    assert_eq!(provider.counts().registration, 1);
}

#[rocket::async_test]
async fn an_unreadable_persisted_client_is_replaced_by_a_new_registration() {
    let dir = TempDir::new("registration");
    let path = dir.join("client.json");
    std::fs::write(&path, "{ not json").unwrap();
    let provider = TestProvider::start().await;

    let mut browser = lifecycle_browser(registration_config(&provider, json!({ "persist_path": path }))).await;
    browser.login_ok(&provider, "/profile").await;
    assert_eq!(provider.counts().registration, 1);
    let persisted: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(persisted["client"]["client_id"], json!(registered_client(&provider, 0)));
}

#[rocket::async_test]
async fn a_client_secret_that_expires_is_not_persisted() {
    let dir = TempDir::new("registration");
    let path = dir.join("client.json");
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.registration_response
            .insert("client_secret_expires_at".into(), json!(now() + 3600));
    });

    let mut browser = lifecycle_browser(registration_config(&provider, json!({ "persist_path": path }))).await;
    browser.login_ok(&provider, "/profile").await;
    assert!(!path.exists(), "a secret that expires is not kept for a restart");
}

#[rocket::async_test]
async fn a_registration_endpoint_that_is_down_is_502_and_login_works_once_it_is_back() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.registration_failure = Some(TokenFailure::ServerError));
    let clock = ManualClock::new();
    let mut browser = lifecycle_browser_on(&clock, registration_config(&provider, json!({}))).await;

    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert!(browser.cookies_with_prefix("oidc_auth_").is_empty(), "{resp:#?}");
    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_eq!(
        provider.counts().registration,
        1,
        "the failure is kept for a short back-off"
    );
    clock.advance(std::time::Duration::from_millis(1100));
    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_eq!(
        provider.counts().registration,
        2,
        "a failed registration is retried after it"
    );

    provider.behave(|b| b.registration_failure = None);
    clock.advance(std::time::Duration::from_millis(2100));
    let auth = browser.login_ok(&provider, "/profile").await;
    assert_eq!(auth.param("client_id"), Some(registered_client(&provider, 2).as_str()));
    assert_eq!(provider.counts().registration, 3);
}

#[rocket::async_test]
async fn a_refused_initial_access_token_is_502() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.registration_token = Some("the-right-token".into()));
    let config = registration_config(&provider, json!({ "initial_access_token": "a-wrong-token" }));
    let mut browser = lifecycle_browser(config).await;

    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_eq!(
        provider.registration_requests()[0].authorization.as_deref(),
        Some("Bearer a-wrong-token")
    );
}

#[cfg(unix)]
#[rocket::async_test]
async fn persisting_the_client_never_writes_through_a_planted_file_or_symlink() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let dir = TempDir::new("registration-planted");
    let path = dir.join("client.json");
    // What an attacker sharing the directory could plant where a
    // predictable temporary name would be: a symlink to the victim's file;
    // and a world-readable file already at `persist_path`.
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    symlink(&victim, path.with_extension("tmp")).unwrap();
    std::fs::write(&path, "{}").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(registration_config(&provider, json!({ "persist_path": path }))).await;
    browser.login_ok(&provider, "/profile").await;

    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious",
        "the symlink was not followed"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "owner only: {mode:o}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");
}

#[cfg(unix)]
#[rocket::async_test]
async fn a_persisted_client_readable_by_others_or_behind_a_symlink_is_not_reused() {
    use std::os::unix::fs::PermissionsExt;
    for case in ["readable by others", "a symlink"] {
        let dir = TempDir::new("registration");
        let path = dir.join("client.json");
        let provider = TestProvider::start().await;
        let config = registration_config(&provider, json!({ "persist_path": path }));
        lifecycle_browser(config.clone())
            .await
            .login_ok(&provider, "/profile")
            .await;
        assert_eq!(provider.counts().registration, 1);
        if case == "a symlink" {
            let elsewhere = dir.join("elsewhere.json");
            std::fs::rename(&path, &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        } else {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }

        // A restart registers again and writes a regular owner-only file.
        lifecycle_browser(config).await.login_ok(&provider, "/profile").await;
        assert_eq!(provider.counts().registration, 2, "{case}: not reused");
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        assert!(metadata.is_file(), "{case}: a regular file now");
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{case}");
    }
}
