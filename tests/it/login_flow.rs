//! Browser login with the authorization code flow (OpenID Connect Core §3.1,
//! PKCE per RFC 7636) against the in-process test provider.

use std::collections::BTreeSet;
use std::time::Duration;

use rocket::http::{Method, Status};
use serde_json::{Value, json};

use crate::support::jwt;
use crate::support::provider::{CLIENT_ID, now, reserve_port};
use crate::support::*;

fn scopes(auth: &AuthRequest) -> BTreeSet<String> {
    auth.param("scope")
        .unwrap_or_default()
        .split(' ')
        .map(str::to_string)
        .collect()
}

#[rocket::async_test]
async fn a_browser_without_session_is_sent_to_the_provider_and_comes_back_logged_in() {
    let provider = TestProvider::start().await;
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;

    // 1. The redirect to the authorization endpoint.
    let resp = browser.navigate("/profile?x=1").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let auth = AuthRequest::parse(resp.location());
    assert_eq!(auth.endpoint, provider.authorization_endpoint());
    assert_eq!(auth.param("response_type"), Some("code"));
    assert_eq!(auth.param("client_id"), Some(CLIENT_ID));
    assert_eq!(auth.param("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(
        scopes(&auth),
        BTreeSet::from(["openid".to_string(), "profile".to_string()])
    );
    assert!(
        auth.state().len() >= 16,
        "state should carry enough entropy: {:?}",
        auth.state()
    );
    assert!(
        auth.nonce().len() >= 16,
        "nonce should carry enough entropy: {:?}",
        auth.nonce()
    );
    assert_ne!(auth.state(), auth.nonce());
    assert_eq!(auth.param("code_challenge_method"), Some("S256"));
    let challenge = auth.param("code_challenge").expect("a PKCE code_challenge");
    assert_eq!(
        challenge.len(),
        43,
        "BASE64URL(SHA256(verifier)) is 43 characters: {challenge:?}"
    );
    for name in [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
    ] {
        assert_eq!(auth.count(name), 1, "`{name}` appears once in {}", auth.location);
    }
    let auth_cookies = resp.cookies_set_with_prefix("oidc_auth_");
    assert_eq!(auth_cookies.len(), 1, "one pending-login cookie: {resp:#?}");
    assert!(
        resp.set_cookies().iter().all(|c| c.name().starts_with("oidc_")),
        "library cookies are named oidc_*: {resp:#?}"
    );
    assert!(browser.cookies_with_prefix("oidc_session_").is_empty());

    // 2. The provider's answer; the relying party redeems the code.
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_callback_completed(&resp, &provider);
    assert_eq!(resp.location(), "/profile?x=1");
    assert!(
        !resp.cookies_set_with_prefix("oidc_session_0").is_empty(),
        "the session cookie is set: {resp:#?}"
    );

    let token_requests = provider.token_requests();
    assert_eq!(token_requests.len(), 1);
    let request = &token_requests[0];
    assert_eq!(request.outcome, "ok", "{request:#?}");
    assert_eq!(request.param("grant_type"), Some("authorization_code"));
    assert_eq!(request.param("redirect_uri"), Some(REDIRECT_URI));
    let verifier = request
        .param("code_verifier")
        .expect("the token request carries the PKCE code_verifier");
    assert!(
        (43..=128).contains(&verifier.len()),
        "RFC 7636 §4.1 verifier length: {verifier:?}"
    );
    assert_eq!(
        jwt::s256(verifier),
        challenge,
        "S256(code_verifier) must equal the code_challenge sent earlier"
    );
    assert!(
        request
            .authorization
            .as_deref()
            .unwrap_or_default()
            .starts_with("Basic "),
        "client_secret_basic by default"
    );
    assert!(
        request.param("client_secret").is_none(),
        "the secret is not also sent in the body"
    );

    // 3. The session.
    let resp = browser.navigate("/profile?x=1").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let profile = resp.json();
    assert_eq!(profile["provider"], "default");
    assert_eq!(profile["sub"], "alice");
    assert_eq!(profile["id_token"]["sub"], "alice");
    assert_eq!(profile["id_token"]["nonce"], auth.nonce());
    assert_eq!(profile["id_token"]["iss"], provider.issuer.as_str());
    assert_eq!(profile["userinfo"]["email"], "alice@example.test");
    assert_eq!(profile["access_token"], json!(request.access_token));
    assert!(profile["has_refresh_token"].as_bool().unwrap());
    let expires_at = profile["access_token_expires_at"]
        .as_i64()
        .expect("expires_at from expires_in");
    assert!(
        (expires_at - (now() + 3600)).abs() < 120,
        "expires_in 3600 -> {expires_at}"
    );
    let last = profile["last_authenticated"].as_i64().unwrap();
    assert!((last - now()).abs() < 120);

    let userinfo = provider.userinfo_requests();
    assert_eq!(userinfo.len(), 1, "one userinfo call at login");
    assert_eq!(userinfo[0].method, "GET");
    assert_eq!(
        userinfo[0].authorization.as_deref(),
        Some(format!("Bearer {}", request.access_token.as_deref().unwrap()).as_str())
    );

    // A second request is served from the session, without the provider.
    let counts = provider.counts();
    assert_eq!(browser.profile().await.expect("session")["sub"], "alice");
    assert_eq!(provider.counts().token, counts.token);
    assert_eq!(provider.counts().authorize, 0, "the tests drive the authorization step");
}

#[rocket::async_test]
async fn a_request_that_is_not_a_navigation_gets_401_login_required_without_a_cookie() {
    let provider = TestProvider::start().await;
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;

    let cases: [&[(&str, &str)]; 4] = [
        &[("Accept", "application/json")],
        &[],
        &[("Accept", ACCEPT_HTML), ("X-Requested-With", "XMLHttpRequest")],
        &[("Accept", ACCEPT_HTML), ("Sec-Fetch-Mode", "cors")],
    ];
    for headers in cases {
        let resp = browser.send(Method::Get, "/profile", headers, None).await;
        assert_eq!(resp.status, Status::Unauthorized, "headers {headers:?}: {resp:#?}");
        assert_eq!(resp.json()["error"], "login_required", "headers {headers:?}");
        assert!(
            resp.set_cookie_headers().is_empty(),
            "no state cookie for {headers:?}: {resp:#?}"
        );
    }
    assert!(browser.jar.is_empty());

    // A navigation that says so explicitly is still a navigation.
    let resp = browser
        .send(
            Method::Get,
            "/profile",
            &[("Accept", ACCEPT_HTML), ("Sec-Fetch-Mode", "navigate")],
            None,
        )
        .await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
}

#[rocket::async_test]
async fn two_pending_logins_in_one_browser_both_complete() {
    let provider = TestProvider::start().await;
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;

    let first = browser.start_login("/profile?tab=first").await;
    let second = browser.start_login("/profile?tab=second").await;
    assert_ne!(first.state(), second.state());
    assert_ne!(first.nonce(), second.nonce());
    assert_ne!(first.param("code_challenge"), second.param("code_challenge"));

    // The second tab finishes first.
    let resp = browser.approve(&provider, &second, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), "/profile?tab=second");

    let resp = browser.approve(&provider, &first, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), "/profile?tab=first");

    assert_eq!(browser.profile().await.expect("session")["sub"], "alice");
    assert!(
        provider.token_requests().iter().all(|r| r.outcome == "ok"),
        "{:#?}",
        provider.token_requests()
    );
}

#[rocket::async_test]
async fn a_form_post_callback_completes_the_login() {
    let provider = TestProvider::start().await;
    let mut browser = browser_with_provider_setting(
        &provider,
        "auth_request_params",
        json!({ "response_mode": "form_post" }),
    )
    .await;

    let auth = browser.start_login("/profile?x=1").await;
    assert_eq!(auth.param("response_mode"), Some("form_post"));
    let resp = browser.approve_with_form_post(&provider, &auth).await;
    assert_callback_completed(&resp, &provider);
    assert_eq!(resp.location(), "/profile?x=1");
    assert_eq!(browser.profile().await.expect("session")["sub"], "alice");
}

#[rocket::async_test]
async fn auth_request_params_are_added_to_the_authorization_request() {
    let provider = TestProvider::start().await;
    let mut browser = browser_with_provider_setting(
        &provider,
        "auth_request_params",
        json!({ "prompt": "login", "ui_locales": "fr de" }),
    )
    .await;

    let auth = browser.start_login("/profile").await;
    assert_eq!(auth.param("prompt"), Some("login"));
    assert_eq!(auth.param("ui_locales"), Some("fr de"));
    assert_eq!(auth.param("response_type"), Some("code"));
}

#[rocket::async_test]
async fn client_secret_post_sends_the_credentials_in_the_body() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.client_auth = ClientAuth::Post);
    let mut browser =
        browser_with_provider_setting(&provider, "token_endpoint_auth_method", json!("client_secret_post")).await;

    browser.login_ok(&provider, "/profile").await;
    let request = &provider.token_requests()[0];
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    assert_eq!(request.param("client_secret"), Some(provider::CLIENT_SECRET));
    assert!(request.authorization.is_none(), "{request:#?}");
}

#[rocket::async_test]
async fn userinfo_is_fetched_with_post_when_configured() {
    let provider = TestProvider::start().await;
    let mut browser = browser_with_provider_setting(&provider, "userinfo_http_method", json!("POST")).await;

    browser.login_ok(&provider, "/profile").await;
    let calls = provider.userinfo_requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(
        browser.profile().await.expect("session")["userinfo"]["email"],
        "alice@example.test"
    );
}

#[rocket::async_test]
async fn userinfo_none_makes_no_userinfo_call() {
    let provider = TestProvider::start().await;
    let mut browser = browser_with_provider_setting(&provider, "userinfo_http_method", json!("none")).await;

    browser.login_ok(&provider, "/profile").await;
    assert_eq!(provider.counts().userinfo, 0);
    let profile = browser.profile().await.expect("session");
    assert_eq!(profile["sub"], "alice");
    assert_eq!(profile["userinfo"], Value::Null);
}

/// Two providers: `default` (client `rp`) and `second` (client `rp-second`).
async fn two_providers() -> (TestProvider, TestProvider, Browser) {
    let first = TestProvider::start().await;
    let second = TestProvider::start().await;
    second.behave(|b| {
        b.client_id = "rp-second".into();
        b.client_secret = "rp-second-secret".into();
        b.subject = "bob".into();
    });
    let config = oidc_config_with_second(&first, &second);
    let routes = rocket::routes![app::profile, app::second, app::public];
    let browser = Browser::new(rp(config, routes)).await;
    (first, second, browser)
}

#[rocket::async_test]
async fn each_provider_guard_logs_in_at_its_own_provider() {
    let (first, second, mut browser) = two_providers().await;

    let auth = browser.start_login("/second").await;
    assert_eq!(auth.endpoint, second.authorization_endpoint());
    assert_eq!(auth.param("client_id"), Some("rp-second"));
    let resp = browser.approve(&second, &auth, Mode::Navigate).await;
    assert_callback_completed(&resp, &second);
    assert_eq!(resp.location(), "/second");
    assert_eq!(second.counts().token, 1);
    assert_eq!(
        first.counts().token,
        0,
        "a login at `second` never talks to `default`'s token endpoint"
    );

    let resp = browser.api("/second").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["provider"], "second");
    assert_eq!(resp.json()["sub"], "bob");
}

#[rocket::async_test]
async fn a_session_of_one_provider_does_not_satisfy_another_providers_guard() {
    let (first, second, mut browser) = two_providers().await;

    browser.login_ok(&first, "/profile").await;
    assert_eq!(browser.profile().await.expect("session")["provider"], "default");

    let resp = browser.api("/second").await;
    assert_error(&resp, Status::Unauthorized, "login_required");
    let auth = browser.start_login("/second").await;
    assert_eq!(auth.endpoint, second.authorization_endpoint());
}

#[rocket::async_test]
async fn a_state_issued_for_one_provider_is_redeemed_only_at_that_provider() {
    let (first, second, mut browser) = two_providers().await;

    // A login started for `default`, answered with a code from `second`
    // (a mix-up attack): the code goes to `default`'s token endpoint only.
    let auth = browser.start_login("/profile").await;
    assert_eq!(auth.endpoint, first.authorization_endpoint());
    let foreign_code = second.issue_code(&auth);
    let resp = browser
        .callback(
            &[("code", &foreign_code), ("state", auth.state()), ("iss", &first.issuer)],
            Mode::Api,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "invalid_grant");
    assert_eq!(
        second.counts().token,
        0,
        "the code must not be redeemed at the other provider"
    );
    assert_eq!(first.counts().token, 1);
    assert_no_session(&mut browser).await;

    // The same, with the other provider's `iss` (RFC 9207 §2.4): refused
    // before any code is redeemed.
    let auth = browser.start_login("/profile").await;
    let foreign_code = second.issue_code(&auth);
    let resp = browser
        .callback(
            &[
                ("code", &foreign_code),
                ("state", auth.state()),
                ("iss", &second.issuer),
            ],
            Mode::Api,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_eq!(second.counts().token, 0);
    assert_eq!(first.counts().token, 1);
    assert_no_session(&mut browser).await;

    // And the legitimate answer still works for `default`.
    let auth = browser.start_login("/profile").await;
    let resp = browser.approve(&first, &auth, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(browser.profile().await.expect("session")["provider"], "default");
    assert_eq!(second.counts().token, 0);
}

#[rocket::async_test]
async fn the_app_ignites_while_the_provider_is_down_and_logs_in_once_it_is_up() {
    let port = reserve_port();
    let issuer = format!("http://127.0.0.1:{port}");
    // Ignition must not need the provider: discovery is lazy.
    let clock = ManualClock::new();
    let mut browser = Browser::new(rp_on(&clock, oidc_config_for_issuer(&issuer), default_routes())).await;

    let resp = browser.api("/public").await;
    assert_eq!(resp.status, Status::Ok);
    let resp = browser.navigate("/profile").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert!(
        browser.cookies_with_prefix("oidc_auth_").is_empty(),
        "no pending login without a provider"
    );

    let provider = TestProvider::start_on(port).await;
    assert_eq!(provider.issuer, issuer);

    // The failed discovery is kept for a short back-off; past it, the app
    // recovers on its own.
    let resp = browser.navigate("/profile?after=outage").await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_eq!(provider.counts().discovery, 0, "not asked again within the back-off");
    clock.advance(Duration::from_secs(5));
    let resp = browser.navigate("/profile?after=outage").await;
    assert_eq!(
        resp.status,
        Status::Found,
        "the app should recover once the provider is up: {resp:#?}"
    );
    let auth = AuthRequest::parse(resp.location());
    assert_eq!(auth.endpoint, provider.authorization_endpoint());
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(resp.location(), "/profile?after=outage");
    assert_eq!(browser.profile().await.expect("session")["sub"], "alice");
}

#[rocket::async_test]
async fn an_absurd_expires_in_from_the_token_endpoint_is_no_panic() {
    for expires_in in [json!(u64::MAX), json!(i64::MAX), json!(0)] {
        let provider = TestProvider::start().await;
        provider.behave(|b| {
            b.token_response.insert("expires_in".into(), expires_in.clone());
        });
        let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
        browser.login_ok(&provider, "/profile").await;
        assert!(browser.profile().await.is_some(), "{expires_in}");
    }
}

/// RFC 6749 §5.1: the empty string is no token. A token response whose
/// `access_token` is empty is a broken answer (`502`, no session); an
/// empty `refresh_token` is no refresh token (redeeming it could only fail).
#[rocket::async_test]
async fn a_token_response_with_an_empty_token_is_no_token() {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.token_response.insert("access_token".into(), json!(""));
    });
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_no_session(&mut browser).await;

    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.token_response.insert("refresh_token".into(), json!(""));
    });
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    browser.login_ok(&provider, "/profile").await;
    let profile = browser.profile().await.expect("a session");
    assert_eq!(profile["has_refresh_token"], false, "{profile}");
}

#[rocket::async_test]
async fn an_https_issuer_whose_discovery_names_cleartext_endpoints_is_refused_unless_they_are_loopback() {
    for (host, refused) in [("op.example", true), ("127.0.0.1", false)] {
        let provider = TestProvider::start().await;
        let issuer = "https://op.example";
        let token_endpoint = format!("http://{host}/token");
        provider.behave(|b| {
            b.discovery.insert("issuer".into(), json!(issuer));
            b.discovery.insert("token_endpoint".into(), json!(token_endpoint));
        });
        let mut config = oidc_config(&provider);
        config["providers"]["default"]["issuer"] = json!(issuer);
        config["providers"]["default"]["discovery_url"] =
            json!(format!("{}/.well-known/openid-configuration", provider.issuer));
        // Its endpoints are elsewhere than on the issuer's origin: allowed
        // here, so that only the cleartext rule decides.
        config["providers"]["default"]["allowed_endpoint_origins"] = json!([provider.issuer, format!("http://{host}")]);
        let mut browser = Browser::new(rp(config, default_routes())).await;
        let resp = browser.navigate("/profile").await;
        if refused {
            assert_error(&resp, Status::BadGateway, "provider_unavailable");
        } else {
            assert_eq!(resp.status, Status::Found, "a loopback endpoint is allowed: {resp:#?}");
        }
    }
}

#[rocket::async_test]
async fn after_warm_up_a_login_makes_two_provider_calls_token_and_userinfo() {
    let provider = TestProvider::start().await;
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    browser.login_ok(&provider, "/profile").await;
    let before = provider.counts();
    let mut other = browser.other_browser();
    other.login_ok(&provider, "/profile").await;
    let after = provider.counts();
    assert_eq!(after.token - before.token, 1, "one token request");
    assert_eq!(after.userinfo - before.userinfo, 1, "one userinfo request");
    assert_eq!(after.discovery, before.discovery, "no discovery");
    assert_eq!(after.jwks, before.jwks, "no key fetch");
    assert_eq!(
        after.introspection + after.registration,
        before.introspection + before.registration
    );
}
