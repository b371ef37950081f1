//! `OidcUser::valid_access_token` and the refresh token grant (RFC 6749 §6,
//! OpenID Connect Core §12), and the guard's proactive refresh
//! (`refresh_before_expiry_seconds`).

use std::time::Duration;

use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::lifecycle::*;
use crate::support::provider::{CLIENT_ID, now};
use crate::support::*;

/// The relying party's token endpoint calls are authenticated as `CLIENT_ID`.
fn is_basic_auth_of_the_client(authorization: Option<&str>) -> bool {
    use base64::Engine;
    let Some(encoded) = authorization.and_then(|a| a.strip_prefix("Basic ")) else {
        return false;
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_default();
    String::from_utf8(decoded).is_ok_and(|d| d.starts_with(&format!("{CLIENT_ID}:")))
}

/// A provider whose login access tokens live `expires_in` seconds, and a
/// browser logged in there (with the lifecycle routes).
async fn logged_in_with(expires_in: i64, oidc: impl FnOnce(&TestProvider) -> Value) -> (TestProvider, Browser, Value) {
    logged_in_on(&ManualClock::new(), expires_in, oidc).await
}

/// [`logged_in_with`], the provider and the app on `clock`.
async fn logged_in_on(
    clock: &ManualClock,
    expires_in: i64,
    oidc: impl FnOnce(&TestProvider) -> Value,
) -> (TestProvider, Browser, Value) {
    let provider = TestProvider::start_with_clock(clock).await;
    provider.behave(|b| {
        b.token_response.insert("expires_in".into(), json!(expires_in));
    });
    let mut browser = lifecycle_browser_on(clock, oidc(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let profile = browser.profile().await.expect("logged in");
    (provider, browser, profile)
}

/// Logged in with an access token that has expired (`expires_in: 0`).
async fn logged_in_with_an_expired_token() -> (TestProvider, Browser, Value) {
    logged_in_with(0, oidc_config).await
}

async fn logged_in_with_a_valid_token() -> (TestProvider, Browser, Value) {
    logged_in_with(3600, oidc_config).await
}

#[rocket::async_test]
async fn a_valid_access_token_is_returned_without_asking_the_provider() {
    let (provider, mut browser, profile) = logged_in_with_a_valid_token().await;
    let counts = provider.counts();

    let token = browser.token_ok(false).await;
    assert_eq!(token["refreshed"], false, "{token}");
    assert_eq!(token["access_token"], profile["access_token"]);
    assert_eq!(token["expires_at"], profile["access_token_expires_at"]);
    assert_eq!(
        provider.counts().token,
        counts.token,
        "no token request for a valid token"
    );
    assert_eq!(provider.counts().refresh, 0);
}

#[rocket::async_test]
async fn an_expired_access_token_is_refreshed_and_the_session_keeps_the_new_one() {
    let (provider, mut browser, profile) = logged_in_with_an_expired_token().await;
    let old_access_token = profile["access_token"].as_str().unwrap().to_string();
    let refresh_token = profile["refresh_token"].as_str().expect("a refresh token").to_string();

    let resp = browser.token(false).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let token = resp.json();
    assert_eq!(token["refreshed"], true, "{token}");
    assert_ne!(token["access_token"], json!(old_access_token));
    assert!(
        !resp.cookies_set_with_prefix("oidc_session_").is_empty(),
        "the refreshed session is stored in the cookie: {resp:#?}"
    );

    let refreshes = provider.refresh_requests();
    assert_eq!(refreshes.len(), 1, "{refreshes:#?}");
    let request = &refreshes[0];
    assert_eq!(request.outcome, "ok", "{request:#?}");
    assert_eq!(request.param("refresh_token"), Some(refresh_token.as_str()));
    assert!(
        is_basic_auth_of_the_client(request.authorization.as_deref()),
        "the refresh request authenticates the client as configured (client_secret_basic): {request:#?}"
    );
    assert_eq!(token["access_token"], json!(request.access_token));
    let expires_at = token["expires_at"].as_i64().expect("expires_at from expires_in");
    assert!((expires_at - (now() + 3600)).abs() < 120, "{token}");

    // The next request sees the new token, valid: no second refresh.
    let again = browser.token_ok(false).await;
    assert_eq!(again["refreshed"], false, "{again}");
    assert_eq!(again["access_token"], token["access_token"]);
    let profile = browser.profile().await.expect("still logged in");
    assert_eq!(profile["access_token"], token["access_token"]);
    assert_eq!(profile["access_token_expires_at"], token["expires_at"]);
    assert!(
        profile["id_token"]["nonce"].is_string(),
        "the login's nonce is kept, though the refreshed ID token has none: {profile:#}"
    );
    assert_eq!(provider.counts().refresh, 1);
}

#[rocket::async_test]
async fn a_forced_refresh_asks_the_provider_even_for_a_valid_token() {
    let (provider, mut browser, profile) = logged_in_with_a_valid_token().await;

    let token = browser.token_ok(true).await;
    assert_eq!(token["refreshed"], true, "{token}");
    assert_ne!(token["access_token"], profile["access_token"]);
    assert_eq!(provider.counts().refresh, 1);
    assert_eq!(
        browser.profile().await.expect("logged in")["access_token"],
        token["access_token"]
    );
}

#[rocket::async_test]
async fn without_rotation_the_old_refresh_token_is_kept_and_still_works() {
    let provider = TestProvider::start().await;
    // Another instance of the app (same secret key), running already.
    let mut other_instance = Browser::new(rocket_with(oidc_config(&provider))).await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let profile = browser.profile().await.expect("logged in");
    let refresh_token = profile["refresh_token"].as_str().unwrap().to_string();

    browser.token_ok(true).await;
    let profile = browser.profile().await.expect("logged in");
    assert_eq!(
        profile["refresh_token"],
        json!(refresh_token),
        "a refresh response without refresh_token leaves the old one in place"
    );

    // The other instance refreshes the same session: the kept refresh
    // token is used, and works.
    other_instance.jar = browser.jar.clone();
    let token = other_instance.token_ok(true).await;
    assert_eq!(token["refreshed"], true, "{token}");
    let refreshes = provider.refresh_requests();
    assert_eq!(refreshes.len(), 2, "{refreshes:#?}");
    assert_eq!(refreshes[1].param("refresh_token"), Some(refresh_token.as_str()));
    assert_eq!(refreshes[1].outcome, "ok");
}

fn rocket_with(oidc: Value) -> rocket::Rocket<rocket::Build> {
    rp(oidc, lifecycle_routes())
}

#[rocket::async_test]
async fn with_rotation_the_new_refresh_token_replaces_the_old_one() {
    let (provider, mut browser, profile) = logged_in_with_a_valid_token().await;
    provider.behave(|b| b.refresh_rotation = true);
    let first = profile["refresh_token"].as_str().unwrap().to_string();

    browser.token_ok(true).await;
    let profile = browser.profile().await.expect("logged in");
    let second = profile["refresh_token"].as_str().expect("a refresh token").to_string();
    assert_ne!(second, first, "the rotated refresh token is stored");
    assert!(!provider.refresh_token_is_active(&first));
    assert!(provider.refresh_token_is_active(&second));

    let token = browser.token_ok(true).await;
    assert_eq!(token["refreshed"], true, "{token}");
    let refreshes = provider.refresh_requests();
    assert_eq!(refreshes.len(), 2, "{refreshes:#?}");
    assert_eq!(refreshes[1].param("refresh_token"), Some(second.as_str()));
    assert_eq!(refreshes[1].outcome, "ok", "{refreshes:#?}");
}

#[rocket::async_test]
async fn with_rotation_a_tab_still_holding_the_old_refresh_token_shares_the_new_tokens() {
    // Two tabs of one browser: the first refreshes and rotates the refresh
    // token; the second still sends the session from before, whose refresh
    // token the provider no longer accepts.
    let (provider, mut first_tab, _) = logged_in_with_an_expired_token().await;
    provider.behave(|b| b.refresh_rotation = true);
    let mut second_tab = first_tab.with_jar(first_tab.jar.clone());

    let token = first_tab.token_ok(false).await;
    assert_eq!(token["refreshed"], true);
    let resp = second_tab.token(false).await;
    assert_eq!(resp.status, Status::Ok, "the refresh result is shared: {resp:#?}");
    assert_eq!(resp.json()["access_token"], token["access_token"]);
    assert_eq!(provider.counts().refresh, 1, "{:#?}", provider.refresh_requests());
    let rotated = first_tab.profile().await.unwrap()["refresh_token"].clone();
    assert_eq!(second_tab.profile().await.unwrap()["refresh_token"], rotated);
}

#[rocket::async_test]
async fn a_refresh_token_the_provider_refuses_is_401_login_required() {
    let (provider, mut browser, _) = logged_in_with_an_expired_token().await;
    provider.behave(|b| b.refresh_failure = Some(TokenFailure::oauth(400, "invalid_grant")));

    let resp = browser.token(false).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert_eq!(provider.counts().refresh, 1);
    let resp = browser.token(true).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
}

#[rocket::async_test]
async fn a_provider_failing_at_refresh_time_is_502_and_the_session_stays() {
    // A 500, a 200 that is not JSON, and an answer later than the 2 s timeout.
    for failure in [
        TokenFailure::ServerError,
        TokenFailure::Garbage,
        TokenFailure::Delay(Duration::from_secs(3)),
    ] {
        let clock = ManualClock::new();
        let (provider, mut browser, profile) = logged_in_on(&clock, 0, oidc_config).await;
        provider.behave(|b| b.refresh_failure = Some(failure.clone()));

        let start = std::time::Instant::now();
        let resp = browser.token(false).await;
        assert_error(&resp, Status::BadGateway, "provider_unavailable");
        assert!(
            start.elapsed() < Duration::from_millis(3500),
            "{failure:?}: {:?}",
            start.elapsed()
        );
        assert_eq!(
            browser.profile().await.expect("a provider outage is no logout")["access_token"],
            profile["access_token"],
            "{failure:?}"
        );

        provider.behave(|b| b.refresh_failure = None);
        clock.advance(Duration::from_millis(1100));
        let token = browser.token_ok(false).await;
        assert_eq!(
            token["refreshed"], true,
            "{failure:?}: it works once the provider is back"
        );
    }
}

#[rocket::async_test]
async fn the_refresh_request_authenticates_the_client_as_configured() {
    let (provider, mut browser, _) = logged_in_with(0, |provider| {
        provider.behave(|b| b.client_auth = crate::support::provider::ClientAuth::Post);
        let mut config = oidc_config(provider);
        config["providers"]["default"]["token_endpoint_auth_method"] = json!("client_secret_post");
        config
    })
    .await;

    let token = browser.token_ok(false).await;
    assert_eq!(token["refreshed"], true);
    let request = &provider.refresh_requests()[0];
    assert_eq!(request.authorization, None, "{request:#?}");
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    assert_eq!(
        request.param("client_secret"),
        Some(crate::support::provider::CLIENT_SECRET)
    );
}

#[rocket::async_test]
async fn a_refreshed_id_token_signed_with_a_rotated_key_is_accepted() {
    let (provider, mut browser, _) = logged_in_with_an_expired_token().await;
    provider.rotate_keys();

    let token = browser.token_ok(false).await;
    assert_eq!(token["refreshed"], true, "the new key is fetched: {token}");
    let profile = browser.profile().await.expect("logged in");
    assert_eq!(
        crate::support::jwt::decode_header(profile["id_token_jwt"].as_str().unwrap())["kid"],
        crate::support::jwt::Key::Rotated.kid()
    );
}

#[rocket::async_test]
async fn a_session_without_a_refresh_token_cannot_refresh_and_is_401_login_required() {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.token_response.insert("expires_in".into(), json!(0));
        b.token_response.insert("refresh_token".into(), Value::Null);
    });
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    assert_eq!(browser.profile().await.unwrap()["has_refresh_token"], false);

    let before = browser.jar.clone();
    let resp = browser.token(false).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert_eq!(provider.counts().refresh, 0, "nothing to refresh with");
    // Its access token expired and it can get no other: the session ends,
    // rather than live on failing every call.
    assert_no_session(&mut browser).await;
    let resp = browser.with_jar(before).navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "a navigation logs in again: {resp:#?}");
    assert_eq!(
        AuthRequest::parse(resp.location()).endpoint,
        provider.authorization_endpoint()
    );
}

#[rocket::async_test]
async fn without_a_refresh_token_a_forced_refresh_of_a_live_token_ends_nothing() {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.token_response.insert("refresh_token".into(), Value::Null);
    });
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let resp = browser.token(true).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert!(
        browser.profile().await.is_some(),
        "the token still works: the session stays"
    );
}

/// Refreshes once with the refreshed ID token's claims overridden by
/// `claims`, and expects the session to end.
async fn assert_refreshed_id_token_ends_the_session(claims: Value) {
    let (provider, mut browser, _) = logged_in_with_an_expired_token().await;
    provider.behave(|b| b.refresh_claims = claims.as_object().unwrap().clone());

    let resp = browser.token(false).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert_eq!(provider.counts().refresh, 1, "{:#?}", provider.refresh_requests());
    assert!(
        session_cookies(&browser).is_empty(),
        "a refreshed ID token with {claims} ends the session (its cookies are removed): {resp:#?}"
    );
    assert!(
        browser.profile().await.is_none(),
        "a refreshed ID token with {claims} ends the session"
    );
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "a new login starts: {resp:#?}");
}

#[rocket::async_test]
async fn a_refreshed_id_token_for_another_subject_ends_the_session() {
    assert_refreshed_id_token_ends_the_session(json!({ "sub": "mallory" })).await;
}

#[rocket::async_test]
async fn a_refreshed_id_token_from_another_issuer_ends_the_session() {
    assert_refreshed_id_token_ends_the_session(json!({ "iss": "https://evil.example" })).await;
}

#[rocket::async_test]
async fn a_refreshed_id_token_for_another_audience_ends_the_session() {
    assert_refreshed_id_token_ends_the_session(json!({ "aud": "another-client" })).await;
}

#[rocket::async_test]
async fn a_refreshed_id_token_with_an_added_audience_ends_the_session() {
    // Valid for us (azp names us), but not the audience the login had.
    assert_refreshed_id_token_ends_the_session(json!({ "aud": [CLIENT_ID, "another-client"], "azp": CLIENT_ID })).await;
}

#[rocket::async_test]
async fn a_refreshed_id_token_may_repeat_the_login_nonce_but_not_carry_another() {
    let (provider, mut browser, profile) = logged_in_with_a_valid_token().await;
    let nonce = profile["id_token"]["nonce"]
        .as_str()
        .expect("the login's nonce")
        .to_string();

    provider.behave(|b| {
        b.refresh_claims.insert("nonce".into(), json!(nonce));
    });
    let token = browser.token_ok(true).await;
    assert_eq!(token["refreshed"], true);

    provider.behave(|b| {
        b.refresh_claims.insert("nonce".into(), json!("another-nonce"));
    });
    let mut other_instance = Browser::new(rocket_with(oidc_config(&provider))).await;
    other_instance.jar = browser.jar.clone();
    let resp = other_instance.token(true).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
}

#[rocket::async_test]
async fn a_refreshed_id_token_with_a_bad_signature_is_refused() {
    let (provider, mut browser, profile) = logged_in_with_an_expired_token().await;
    provider.behave(|b| b.signing = Signing::CorruptSignature);

    let resp = browser.token(false).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    // Ending the session would be fine too; keeping the forged response's
    // tokens is not.
    if let Some(after) = browser.profile().await {
        assert_eq!(
            after["access_token"], profile["access_token"],
            "tokens from a response with a forged ID token are not stored"
        );
    }
}

#[rocket::async_test]
async fn ten_concurrent_requests_after_expiry_make_one_refresh_request() {
    let (provider, browser, profile) = logged_in_with_an_expired_token().await;
    provider.behave(|b| b.refresh_failure = Some(TokenFailure::Delay(Duration::from_millis(300))));

    let responses = concurrent_api_gets(&browser, "/token", 10).await;
    let mut tokens = Vec::new();
    for resp in &responses {
        assert_eq!(resp.status, Status::Ok, "{resp:#?}");
        let token = resp.json();
        assert_eq!(token["refreshed"], true, "{token}");
        tokens.push(token["access_token"].clone());
    }
    assert_eq!(
        provider.counts().refresh,
        1,
        "one refresh request for ten concurrent requests: {:#?}",
        provider.refresh_requests()
    );
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "every request gets the same new token: {tokens:?}"
    );
    assert_ne!(tokens[0], profile["access_token"]);
}

#[rocket::async_test]
async fn a_refresh_does_not_change_when_the_user_last_authenticated() {
    let clock = ManualClock::new();
    let (provider, mut browser, profile) = logged_in_on(&clock, 3600, oidc_config).await;
    clock.advance(Duration::from_millis(1100));

    browser.token_ok(true).await;
    let after = browser.profile().await.expect("logged in");
    assert_ne!(after["access_token"], profile["access_token"], "it was refreshed");
    assert_eq!(after["last_authenticated"], profile["last_authenticated"]);
    assert_eq!(
        after["expires_at"], profile["expires_at"],
        "the session lifetime is not extended"
    );
    assert_eq!(provider.counts().refresh, 1);
}

/// `refresh_before_expiry_seconds = 300`; login tokens live 2 s, so they
/// count as expiring after half their life (the margin is at most half a
/// token's lifetime): this waits that long.
async fn logged_in_with_proactive_refresh(clock: &ManualClock) -> (TestProvider, Browser, Value) {
    let provider = TestProvider::start_with_clock(clock).await;
    provider.behave(|b| {
        b.token_response.insert("expires_in".into(), json!(2));
    });
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["refresh_before_expiry_seconds"] = json!(300);
    let mut browser = lifecycle_browser_on(clock, config).await;
    let auth = browser.start_login("/profile").await;
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let login_access_token = provider.token_requests()[0].access_token.clone();
    clock.advance(Duration::from_millis(1100));
    (provider, browser, json!(login_access_token))
}

#[rocket::async_test]
async fn a_token_about_to_expire_is_refreshed_before_the_handler_runs() {
    let (provider, mut browser, login_access_token) = logged_in_with_proactive_refresh(&ManualClock::new()).await;
    assert_eq!(provider.counts().refresh, 0);

    let resp = browser.api("/profile").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let profile = resp.json();
    assert_eq!(provider.counts().refresh, 1, "{:#?}", provider.refresh_requests());
    assert_ne!(
        profile["access_token"], login_access_token,
        "the handler sees the new token"
    );
    assert_eq!(
        profile["access_token"],
        json!(provider.refresh_requests()[0].access_token)
    );
    assert!(
        !resp.cookies_set_with_prefix("oidc_session_").is_empty(),
        "the refreshed session is stored: {resp:#?}"
    );

    // The new token lives an hour: no refresh on the next requests.
    let again = browser.profile().await.expect("logged in");
    assert_eq!(again["access_token"], profile["access_token"]);
    let token = browser.token_ok(false).await;
    assert_eq!(token["refreshed"], false);
    assert_eq!(provider.counts().refresh, 1);
}

#[rocket::async_test]
async fn a_failed_proactive_refresh_ends_the_session() {
    let (provider, mut browser, _) = logged_in_with_proactive_refresh(&ManualClock::new()).await;
    provider.behave(|b| b.refresh_failure = Some(TokenFailure::oauth(400, "invalid_grant")));
    let before = browser.jar.clone();

    // A script's request: 401, and the session is gone.
    let resp = browser.api("/profile").await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert!(
        session_cookies(&browser).is_empty(),
        "the session is removed: {resp:#?}"
    );
    assert_no_session(&mut browser).await;

    // A navigation with the same session: sent to the provider to log in.
    let mut navigating = browser.with_jar(before);
    let resp = navigating.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let auth = AuthRequest::parse(resp.location());
    assert_eq!(auth.endpoint, provider.authorization_endpoint());
    assert!(
        session_cookies(&navigating).is_empty(),
        "the session is removed on a navigation too: {resp:#?}"
    );
}

#[rocket::async_test]
async fn without_a_refresh_token_a_fresh_login_is_not_sent_straight_back_to_the_provider() {
    // refresh_before_expiry_seconds longer than the provider's token
    // lifetime, and no refresh token: the guard cannot refresh. Ending the
    // session at once would send the user back to the provider after every
    // login, forever.
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.token_response.insert("expires_in".into(), json!(200));
        b.token_response.insert("refresh_token".into(), Value::Null);
    });
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["refresh_before_expiry_seconds"] = json!(300);
    let mut browser = lifecycle_browser(config).await;

    let auth = browser.start_login("/profile").await;
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let resp = browser.navigate("/profile").await;
    assert_eq!(
        resp.status,
        Status::Ok,
        "the page right after the login is served, not another login: {resp:#?}"
    );
}

// --- the login survives its refreshes (Core §12.2) -------------------------

/// Logged in (sid `s1`), then a forced refresh whose ID token gets
/// `claims` merged in; the refresh's response.
async fn refreshed_with(claims: Value) -> (TestProvider, Browser, Resp, Value) {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.claims.insert("sid".into(), json!("s1"));
    });
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let login = browser.profile().await.expect("logged in");
    provider.behave(|b| {
        for (name, value) in claims.as_object().into_iter().flatten() {
            b.refresh_claims.insert(name.clone(), value.clone());
        }
    });
    let resp = browser.token(true).await;
    (provider, browser, resp, login)
}

#[rocket::async_test]
async fn a_refreshed_id_token_without_sid_keeps_the_logins_sid_so_back_channel_logout_still_ends_it() {
    let (provider, mut browser, resp, login) = refreshed_with(json!({})).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let after = browser.profile().await.expect("logged in");
    assert_eq!(after["id_token"]["sid"], "s1");
    assert_eq!(after["id_token"]["nonce"], login["id_token"]["nonce"]);
    assert_eq!(after["id_token"]["auth_time"], login["id_token"]["auth_time"]);

    let token = provider.logout_token(json!({ "sid": "s1", "sub": null }));
    assert_eq!(browser.backchannel_logout(&token).await.status, Status::Ok);
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn an_aud_string_and_a_list_of_that_one_audience_are_the_same_audience() {
    let (_provider, mut browser, resp, _) = refreshed_with(json!({ "aud": [CLIENT_ID] })).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert!(browser.profile().await.is_some());
}

#[rocket::async_test]
async fn a_refreshed_id_token_for_another_login_ends_the_session() {
    for claims in [
        json!({ "auth_time": now() - 7200 }),
        json!({ "azp": CLIENT_ID }),
        json!({ "aud": [CLIENT_ID, "another-client"], "azp": CLIENT_ID }),
    ] {
        let (_provider, mut browser, resp, _) = refreshed_with(claims.clone()).await;
        assert_error(&resp, Status::Unauthorized, "login_required");
        assert_no_session(&mut browser).await;
        let _ = claims;
    }
}

#[rocket::async_test]
async fn the_nonce_of_a_refreshed_id_token_is_compared_with_the_logins() {
    let (provider, mut browser, resp, login) = refreshed_with(json!({})).await;
    assert_eq!(resp.status, Status::Ok, "first refresh, no nonce: {resp:#?}");
    provider.behave(|b| {
        b.refresh_claims
            .insert("nonce".into(), login["id_token"]["nonce"].clone());
    });
    let resp = browser.token(true).await;
    assert_eq!(resp.status, Status::Ok, "second refresh, the login's nonce: {resp:#?}");
    provider.behave(|b| {
        b.refresh_claims.insert("nonce".into(), json!("another-nonce"));
    });
    let resp = browser.token(true).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
}

// --- what ends a session, and what does not --------------------------------

#[rocket::async_test]
async fn a_refresh_token_the_provider_refuses_ends_the_session() {
    let (provider, mut browser, _) = logged_in_with_an_expired_token().await;
    provider.behave(|b| b.refresh_failure = Some(TokenFailure::oauth(400, "invalid_grant")));
    let resp = browser.token(false).await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    assert_no_session(&mut browser).await;
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "a navigation starts a login: {resp:#?}");
}

#[rocket::async_test]
async fn a_refresh_whose_id_token_cannot_be_checked_now_keeps_the_session() {
    let (provider, mut browser, _) = logged_in_with_an_expired_token().await;
    // A new signing key, and a key set that cannot be fetched right now.
    provider.behave(|b| {
        b.signing_key = crate::support::jwt::Key::Rotated;
        b.jwks_failure = Some(TokenFailure::ServerError);
    });
    let resp = browser.token(false).await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert!(browser.profile().await.is_some(), "the session is kept");
}

#[rocket::async_test]
async fn a_short_lived_access_token_is_not_refreshed_on_every_call() {
    // 60 s tokens and 60 s of clock skew: a margin of the whole skew would
    // make every call refresh; it is at most half the token's life.
    let clock = ManualClock::new();
    let (provider, mut browser, profile) = logged_in_on(&clock, 60, oidc_config).await;
    for _ in 0..3 {
        let token = browser.token_ok(false).await;
        assert_eq!(token["refreshed"], false, "{token}");
        assert_eq!(token["access_token"], profile["access_token"]);
    }
    assert_eq!(provider.counts().refresh, 0);

    // Past half its life it is refreshed, once.
    provider.behave(|b| {
        b.refresh_response.insert("expires_in".into(), json!(2));
    });
    browser.token_ok(true).await;
    clock.advance(Duration::from_millis(1100));
    for _ in 0..3 {
        browser.token_ok(false).await;
    }
    assert_eq!(
        provider.counts().refresh,
        2,
        "the forced one, and one past half the 2 s life"
    );
}

#[rocket::async_test]
async fn a_refreshed_id_token_keeps_only_the_claims_the_provider_s_session_keeps() {
    let (provider, mut browser, profile) = logged_in_with(0, |provider| {
        let mut config = oidc_config(provider);
        config["providers"]["default"]["session"] = json!({ "drop_claims": ["picture"] });
        config
    })
    .await;
    assert!(profile["id_token"].get("picture").is_none(), "{profile:#}");
    provider.behave(|b| {
        b.refresh_claims
            .insert("picture".into(), json!("https://op.example/p.png"));
    });
    assert_eq!(browser.token_ok(false).await["refreshed"], true);
    let profile = browser.profile().await.expect("still logged in");
    assert!(
        profile["id_token"].get("picture").is_none(),
        "the refreshed ID token's `picture` is not kept: {profile:#}"
    );
    assert!(profile["id_token"]["sub"].is_string());
}

#[rocket::async_test]
async fn refreshes_during_a_key_rotation_the_provider_cannot_serve_keep_the_session() {
    let clock = ManualClock::new();
    let (provider, mut browser, _) = logged_in_on(&clock, 0, oidc_config).await;
    provider.behave(|b| {
        b.signing_key = crate::support::jwt::Key::Rotated;
        b.jwks_failure = Some(TokenFailure::ServerError);
    });
    // Back to back (within the refetch interval), then spread over a long
    // outage (past the failures' back-off): the keys still cannot be
    // fetched, which is no verdict on the token.
    for (attempt, pause) in [0, 0, 1500, 1500, 1500].into_iter().enumerate() {
        clock.advance(Duration::from_millis(pause));
        let resp = browser.token(false).await;
        assert_error(&resp, Status::BadGateway, "provider_unavailable");
        assert!(
            browser.profile().await.is_some(),
            "attempt {attempt}: the session is kept"
        );
    }
}

#[rocket::async_test]
async fn a_token_endpoint_saying_try_again_later_ends_no_session() {
    for failure in [
        TokenFailure::oauth(429, "invalid_request"),
        TokenFailure::oauth(400, "temporarily_unavailable"),
        TokenFailure::oauth(400, "server_error"),
    ] {
        let (provider, mut browser, _) = logged_in_with_an_expired_token().await;
        provider.behave(|b| b.refresh_failure = Some(failure.clone()));
        let resp = browser.token(false).await;
        assert_error(&resp, Status::BadGateway, "provider_unavailable");
        assert!(browser.profile().await.is_some(), "{failure:?}: the session is kept");
    }
}

#[rocket::async_test]
async fn a_proactive_refresh_the_provider_cannot_answer_keeps_the_session_after_the_token_expired() {
    let clock = ManualClock::new();
    let (provider, mut browser, _) = logged_in_with_proactive_refresh(&clock).await;
    provider.behave(|b| b.refresh_failure = Some(TokenFailure::ServerError));
    // The login's 2 s token has expired now.
    clock.advance(Duration::from_millis(1100));
    let resp = browser.api("/profile").await;
    assert_eq!(resp.status, Status::Ok, "the user is still logged in: {resp:#?}");
    assert!(provider.counts().refresh >= 1, "a refresh was tried");
    // The provider is back: the next request refreshes.
    provider.behave(|b| b.refresh_failure = None);
    assert!(browser.profile().await.is_some());
}
