//! `Oidc::client_credentials`: tokens for the app itself (RFC 6749
//! §4.4), cached per (provider, scopes, parameters) until shortly before
//! they expire, one token request for concurrent callers.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rocket::http::Status;
use rocket_openidconnect::{DefaultProvider, Oidc, ServiceToken, provider};

provider!(Nope = "nope");
use serde_json::json;

use crate::support::api::*;
use crate::support::app::Second;
use crate::support::provider::{CLIENT_ID, CLIENT_SECRET, reserve_port};
use crate::support::*;

async fn setup() -> (TestProvider, Browser, Oidc) {
    let provider = TestProvider::start().await;
    let browser = api_browser(&provider, json!({})).await;
    let oidc = oidc_of(&browser);
    (provider, browser, oidc)
}

/// [`setup`] with the app on `clock`.
async fn setup_on(clock: &ManualClock) -> (TestProvider, Browser, Oidc) {
    let provider = TestProvider::start().await;
    let browser = api_browser_on(clock, &provider, json!({})).await;
    let oidc = oidc_of(&browser);
    (provider, browser, oidc)
}

async fn grant(oidc: &Oidc, scopes: &[&str], params: &[(&str, &str)]) -> Arc<ServiceToken> {
    oidc.client_credentials::<DefaultProvider>()
        .scopes(scopes.iter().copied())
        .params(params.iter().copied())
        .send()
        .await
        .unwrap_or_else(|e| panic!("client credentials grant for {scopes:?} {params:?}: {e}"))
}

fn secret(token: &ServiceToken) -> String {
    token.access_token().secret().to_string()
}

#[rocket::async_test]
async fn the_grant_returns_the_token_the_provider_issued() {
    let (provider, _browser, oidc) = setup().await;
    let token = grant(&oidc, &["read"], &[("resource", "http://x/api")]).await;

    let requests = provider.token_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.outcome, "ok", "{request:#?}");
    assert_eq!(request.param("grant_type"), Some("client_credentials"));
    assert_eq!(request.param("scope"), Some("read"));
    assert_eq!(request.param("resource"), Some("http://x/api"));
    assert_eq!(request.param("client_secret"), None);
    assert_eq!(request.param("code"), None);
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))).as_str()),
        "authenticated like every token request (client_secret_basic)"
    );

    assert_eq!(Some(secret(&token)), request.access_token);
    assert_eq!(token.scope(), Some("read"));
    let expires_in = token.expires_in().expect("the provider said expires_in");
    assert!(
        expires_in > Duration::from_secs(3590) && expires_in <= Duration::from_secs(3600),
        "{expires_in:?}"
    );
}

#[rocket::async_test]
async fn several_scopes_are_sent_space_separated() {
    let (provider, _browser, oidc) = setup().await;
    let token = grant(&oidc, &["read", "write"], &[]).await;
    let request = &provider.token_requests()[0];
    let mut sent: Vec<&str> = request.param("scope").unwrap().split(' ').collect();
    sent.sort_unstable();
    assert_eq!(sent, ["read", "write"]);
    assert_eq!(token.scope(), request.param("scope"));
}

#[rocket::async_test]
async fn client_secret_post_is_used_when_configured() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.client_auth = ClientAuth::Post);
    let mut config = bearer_config(&provider, json!({}));
    config["providers"]["default"]["token_endpoint_auth_method"] = json!("client_secret_post");
    let browser = Browser::new(api_app(config)).await;
    let oidc = oidc_of(&browser);

    grant(&oidc, &["read"], &[]).await;
    let request = &provider.token_requests()[0];
    assert_eq!(request.authorization, None);
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    assert_eq!(request.param("client_secret"), Some(CLIENT_SECRET));
}

// --- the cache -----------------------------------------------------------

#[rocket::async_test]
async fn a_second_call_is_served_from_the_cache() {
    let (provider, _browser, oidc) = setup().await;
    let first = grant(&oidc, &["read"], &[("resource", "http://x/api")]).await;
    let second = grant(&oidc, &["read"], &[("resource", "http://x/api")]).await;
    assert_eq!(secret(&first), secret(&second));
    assert_eq!(provider.counts().token, 1, "no second token request");
}

#[rocket::async_test]
async fn the_order_of_scopes_and_parameters_does_not_matter() {
    let (provider, _browser, oidc) = setup().await;
    let params_a = [("resource", "http://x/api"), ("audience", "x")];
    let params_b = [("audience", "x"), ("resource", "http://x/api")];
    let first = grant(&oidc, &["read", "write"], &params_a).await;
    let second = grant(&oidc, &["write", "read"], &params_b).await;
    assert_eq!(secret(&first), secret(&second));
    assert_eq!(provider.counts().token, 1);
}

#[rocket::async_test]
async fn different_scopes_or_parameters_are_separate_requests() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let (provider, _browser, oidc) = setup().await;
    let cases: [Case; 5] = [
        (&["read"], &[]),
        (&["write"], &[]),
        (&["read", "write"], &[]),
        (&["read"], &[("resource", "http://a/")]),
        (&["read"], &[("resource", "http://b/")]),
    ];
    let mut tokens = Vec::new();
    for (scopes, params) in cases {
        tokens.push(secret(&*grant(&oidc, scopes, params).await));
    }
    assert_eq!(provider.counts().token, 5);
    let mut distinct = tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "five different tokens: {tokens:?}");

    // Each is cached under its own key.
    for ((scopes, params), expected) in cases.iter().zip(&tokens) {
        assert_eq!(&secret(&*grant(&oidc, scopes, params).await), expected);
    }
    assert_eq!(provider.counts().token, 5);

    // The parameters each request carried are its own.
    let resources: Vec<Option<String>> = provider
        .token_requests()
        .iter()
        .map(|r| r.param("resource").map(str::to_string))
        .collect();
    assert_eq!(
        resources,
        [None, None, None, Some("http://a/".into()), Some("http://b/".into())]
    );
}

#[rocket::async_test]
async fn each_provider_has_its_own_tokens() {
    let first = TestProvider::start().await;
    let second = TestProvider::start().await;
    let config = oidc_config_with_second(&first, &second);
    let browser = Browser::new(api_app(config)).await;
    let oidc = oidc_of(&browser);

    let of_first = grant(&oidc, &["read"], &[]).await;
    let of_second = oidc
        .client_credentials::<Second>()
        .scopes(["read"])
        .send()
        .await
        .expect("grant at the second provider");
    assert_ne!(secret(&of_first), secret(&of_second));
    assert_eq!(first.counts().token, 1);
    assert_eq!(second.counts().token, 1);
    assert_eq!(
        second.token_requests()[0].access_token.as_deref(),
        Some(secret(&of_second).as_str())
    );
}

#[rocket::async_test]
async fn ten_concurrent_callers_share_one_token_request() {
    let (provider, _browser, oidc) = setup().await;
    provider.behave(|b| b.token_failure = Some(TokenFailure::Delay(Duration::from_millis(400))));

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let oidc = oidc.clone();
        tasks.push(rocket::tokio::spawn(async move {
            oidc.client_credentials::<DefaultProvider>()
                .scopes(["read"])
                .send()
                .await
                .map(|t| t.access_token().secret().to_string())
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("task").expect("grant"));
    }
    assert_eq!(provider.counts().token, 1, "one token request for ten callers");
    assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
}

#[rocket::async_test]
async fn a_short_lived_token_is_renewed_before_it_expires() {
    let clock = ManualClock::new();
    let (provider, _browser, oidc) = setup_on(&clock).await;
    provider.behave(|b| {
        b.client_credentials_response.insert("expires_in".into(), json!(4));
    });
    let first = grant(&oidc, &["read"], &[]).await;
    let again = grant(&oidc, &["read"], &[]).await;
    assert_eq!(secret(&first), secret(&again), "fresh: from the cache");
    assert_eq!(provider.counts().token, 1);

    // Half its lifetime has passed; it still has ~1.5 s to live, but a
    // caller must not be handed a token about to expire.
    clock.advance(Duration::from_millis(2500));
    let renewed = grant(&oidc, &["read"], &[]).await;
    assert_ne!(secret(&first), secret(&renewed), "renewed early");
    assert_eq!(provider.counts().token, 2);
    assert!(renewed.expires_in().unwrap() > Duration::from_secs(3));
}

#[rocket::async_test]
async fn a_long_lived_token_is_kept() {
    let clock = ManualClock::new();
    let (provider, _browser, oidc) = setup_on(&clock).await;
    provider.behave(|b| {
        b.client_credentials_response.insert("expires_in".into(), json!(120));
    });
    let first = grant(&oidc, &["read"], &[]).await;
    clock.advance(Duration::from_millis(1200));
    let second = grant(&oidc, &["read"], &[]).await;
    assert_eq!(secret(&first), secret(&second));
    assert_eq!(provider.counts().token, 1);
    let left = second.expires_in().unwrap();
    assert!(left < Duration::from_secs(119), "expires_in counts down: {left:?}");
}

// --- failures --------------------------------------------------------------

#[rocket::async_test]
async fn a_provider_error_is_returned_with_its_code_and_not_cached() {
    let (provider, _browser, oidc) = setup().await;
    provider.behave(|b| b.token_failure = Some(TokenFailure::oauth(400, "invalid_scope")));
    let error = oidc
        .client_credentials::<DefaultProvider>()
        .scopes(["admin"])
        .send()
        .await
        .expect_err("the provider refused");
    assert_eq!(error.code(), "invalid_scope", "{error}");

    provider.behave(|b| b.token_failure = None);
    let token = grant(&oidc, &["admin"], &[]).await;
    assert_eq!(token.scope(), Some("admin"));
    assert_eq!(provider.counts().token, 2, "the failure was not cached");
}

#[rocket::async_test]
async fn a_client_authentication_failure_is_an_error() {
    let (provider, _browser, oidc) = setup().await;
    provider.behave(|b| b.client_secret = "rotated-secret".into());
    let error = oidc
        .client_credentials::<DefaultProvider>()
        .scopes(["read"])
        .send()
        .await
        .expect_err("the provider refused the client");
    assert_eq!(error.code(), "invalid_client", "{error}");
}

#[rocket::async_test]
async fn an_unreachable_token_endpoint_is_an_error() {
    let (provider, _browser, oidc) = setup().await;
    let dead = format!("http://127.0.0.1:{}/token", reserve_port());
    provider.behave(|b| {
        b.discovery.insert("token_endpoint".into(), json!(dead));
    });
    let error = oidc
        .client_credentials::<DefaultProvider>()
        .scopes(["read"])
        .send()
        .await
        .expect_err("nothing listens there");
    assert_eq!(error.code(), "provider_unavailable", "{error}");
}

#[rocket::async_test]
async fn an_unreachable_provider_is_an_error() {
    let issuer = format!("http://127.0.0.1:{}", reserve_port());
    let browser = Browser::new(api_app(oidc_config_for_issuer(&issuer))).await;
    let error = oidc_of(&browser)
        .client_credentials::<DefaultProvider>()
        .scopes(["read"])
        .send()
        .await
        .expect_err("no provider");
    assert_eq!(error.code(), "provider_unavailable", "{error}");
}

#[rocket::async_test]
async fn a_failing_or_garbled_token_endpoint_is_an_error() {
    for failure in [TokenFailure::ServerError, TokenFailure::Garbage] {
        let (provider, _browser, oidc) = setup().await;
        provider.behave(|b| b.token_failure = Some(failure.clone()));
        let error = oidc
            .client_credentials::<DefaultProvider>()
            .scopes(["read"])
            .send()
            .await
            .expect_err("the provider failed");
        assert_eq!(error.code(), "provider_unavailable", "{failure:?}: {error}");
    }
}

#[rocket::async_test]
async fn a_token_that_is_not_a_bearer_token_is_an_error() {
    let (provider, _browser, oidc) = setup().await;
    provider.behave(|b| {
        b.client_credentials_response.insert("token_type".into(), json!("MAC"));
    });
    assert!(
        oidc.client_credentials::<DefaultProvider>()
            .scopes(["read"])
            .send()
            .await
            .is_err()
    );
}

#[rocket::async_test]
async fn reserved_parameters_are_refused_without_a_request() {
    let (provider, _browser, oidc) = setup().await;
    for name in ["grant_type", "scope", "client_id", "client_secret"] {
        let error = oidc
            .client_credentials::<DefaultProvider>()
            .scopes(["read"])
            .param("resource", "http://x/")
            .param(name, "x")
            .send()
            .await
            .expect_err(name);
        assert_eq!(error.code(), "invalid_request", "{name}: {error}");
        assert!(error.to_string().contains(name), "the error names `{name}`: {error}");
    }
    assert_eq!(provider.counts().token, 0);
}

#[rocket::async_test]
async fn an_unknown_provider_is_an_error() {
    let (provider, _browser, oidc) = setup().await;
    let error = oidc
        .client_credentials::<Nope>()
        .scopes(["read"])
        .send()
        .await
        .expect_err("no such provider");
    assert!(error.to_string().contains("nope"), "{error}");
    assert_eq!(provider.counts().token, 0);
}

// --- end to end --------------------------------------------------------------

#[rocket::async_test]
async fn a_service_token_is_accepted_by_the_api_as_a_token_without_a_subject() {
    let (provider, mut browser, oidc) = setup().await;
    let token = grant(&oidc, &["read", "write"], &[("resource", "http://x/api")]).await;

    let resp = browser.bearer("/api/write", &secret(&token)).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let body = resp.json();
    assert_eq!(body["sub"], serde_json::Value::Null);
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["scopes"], json!(["read", "write"]));
    assert_eq!(body["claims"]["resource"], "http://x/api");

    let resp = browser.bearer("/either", &secret(&token)).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "token");
    assert_eq!(resp.json()["sub"], serde_json::Value::Null);
    assert_eq!(provider.counts().introspection, 1);
}

// --- numbers ---------------------------------------------------------------

#[rocket::async_test]
async fn an_expires_in_of_two_to_the_sixty_four_is_no_panic() {
    let (provider, _browser, oidc) = setup().await;
    provider.behave(|b| {
        b.client_credentials_response
            .insert("expires_in".into(), json!(u64::MAX));
    });
    let token = grant(&oidc, &["read"], &[]).await;
    assert!(!secret(&token).is_empty());
    // Asking again works too (whether it was cached or not).
    grant(&oidc, &["read"], &[]).await;
}
