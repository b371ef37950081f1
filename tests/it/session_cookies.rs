//! The cookie session store: encrypted private cookies, chunked over
//! `oidc_session_0..7`, with safe attributes; on https every cookie is
//! `__Host-` prefixed, so a sibling subdomain cannot plant one.

use std::time::Duration;

use rocket::http::{SameSite, Status};
use serde_json::json;

use crate::support::jwt::incompressible_text;
use crate::support::*;

async fn setup() -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    let browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    (provider, browser)
}

/// Every cookie the library sets (not removes) in `resp`, all named
/// `{prefix}oidc_*`.
fn library_cookies_named(resp: &Resp, prefix: &str) -> Vec<rocket::http::Cookie<'static>> {
    let cookies = resp.cookies_set_with_prefix(&format!("{prefix}oidc_"));
    assert_eq!(
        cookies.len(),
        resp.set_cookies().iter().filter(|c| !c.value().is_empty()).count(),
        "every cookie the library sets is named {prefix}oidc_*: {resp:#?}"
    );
    cookies
}

fn library_cookies(resp: &Resp) -> Vec<rocket::http::Cookie<'static>> {
    library_cookies_named(resp, "")
}

/// A browser on an app whose `redirect_uri` is https.
async fn https_app(provider: &TestProvider, params: Option<serde_json::Value>) -> Browser {
    let mut config = oidc_config(provider);
    config["redirect_uri"] = json!("https://rp.example/redirect_uri");
    if let Some(params) = params {
        config["providers"]["default"]["auth_request_params"] = params;
    }
    Browser::new(rp(config, default_routes())).await
}

#[rocket::async_test]
async fn cookies_are_http_only_same_site_lax_and_not_secure_over_http() {
    let (provider, mut browser) = setup().await;
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found);
    let auth = AuthRequest::parse(resp.location());
    let mut cookies = library_cookies(&resp);
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let session = resp.cookies_set_with_prefix("oidc_session_");
    assert!(!session.is_empty(), "{resp:#?}");
    cookies.extend(library_cookies(&resp));

    for cookie in &cookies {
        assert_eq!(cookie.http_only(), Some(true), "{cookie} must be HttpOnly");
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{cookie} must be SameSite=Lax");
        assert_ne!(cookie.secure(), Some(true), "{cookie}: no Secure over plain http");
    }
    for cookie in &session {
        assert_eq!(
            cookie.path(),
            Some("/"),
            "{cookie}: the session is valid for the whole site"
        );
        assert!(!cookie.value().contains("alice"), "{cookie}: the session is encrypted");
    }
}

#[rocket::async_test]
async fn cookies_are_secure_and_host_prefixed_when_the_redirect_uri_is_https() {
    let provider = TestProvider::start().await;
    let mut browser = https_app(&provider, None).await;

    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let auth = AuthRequest::parse(resp.location());
    assert_eq!(auth.param("redirect_uri"), Some("https://rp.example/redirect_uri"));
    let mut cookies = library_cookies_named(&resp, "__Host-");
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_callback_completed(&resp, &provider);
    cookies.extend(library_cookies_named(&resp, "__Host-"));
    assert!(cookies.iter().any(|c| c.name().starts_with("__Host-oidc_session_")));
    for cookie in &cookies {
        assert_eq!(
            cookie.secure(),
            Some(true),
            "{cookie} must be Secure with an https redirect_uri"
        );
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
        // What browsers require of a __Host- cookie.
        assert_eq!(cookie.path(), Some("/"), "{cookie}");
        assert_eq!(cookie.domain(), None, "{cookie}");
    }
    assert!(browser.profile().await.is_some());
}

#[rocket::async_test]
async fn on_https_cookies_without_the_host_prefix_are_ignored() {
    // A sibling subdomain can set `oidc_*` cookies for the whole site, but
    // not `__Host-` ones: an unprefixed session or pending login is not ours.
    let provider = TestProvider::start().await;
    let mut attacker = https_app(&provider, None).await;
    attacker.login_ok(&provider, "/profile").await;
    let tossed = |jar: &std::collections::BTreeMap<String, String>| {
        jar.iter()
            .map(|(name, value)| (name.trim_start_matches("__Host-").to_string(), value.clone()))
            .collect()
    };
    let mut victim = attacker.with_jar(tossed(&attacker.jar));
    assert_no_session(&mut victim).await;

    // A login the attacker started, planted for the victim to finish.
    let mut starter = attacker.other_browser();
    let auth = starter.start_login("/profile").await;
    let mut victim = attacker.with_jar(tossed(&starter.jar));
    let resp = victim.approve(&provider, &auth, Mode::Navigate).await;
    assert_error(&resp, Status::BadRequest, "invalid_state");
}

#[rocket::async_test]
async fn with_form_post_over_https_the_pending_login_cookie_survives_a_cross_site_post() {
    // The provider's form_post is a cross-site POST: a SameSite=Lax cookie
    // would not be sent with it, so the pending-login cookie is
    // SameSite=None (and therefore Secure). The session stays Lax.
    let provider = TestProvider::start().await;
    let mut browser = https_app(&provider, Some(json!({ "response_mode": "form_post" }))).await;

    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
    let auth = AuthRequest::parse(resp.location());
    let pending = resp.cookies_set_with_prefix("__Host-oidc_auth_");
    assert_eq!(pending.len(), 1, "{resp:#?}");
    assert_eq!(pending[0].same_site(), Some(SameSite::None), "{}", pending[0]);
    assert_eq!(pending[0].secure(), Some(true), "{}", pending[0]);
    assert_eq!(pending[0].http_only(), Some(true), "{}", pending[0]);

    let resp = browser.approve_with_form_post(&provider, &auth).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let session = resp.cookies_set_with_prefix("__Host-oidc_session_");
    assert!(!session.is_empty(), "{resp:#?}");
    for cookie in session {
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{cookie}");
        assert_eq!(cookie.secure(), Some(true), "{cookie}");
    }
    assert!(browser.profile().await.is_some());
}

#[rocket::async_test]
async fn a_tampered_session_cookie_counts_as_no_session() {
    let (provider, mut browser) = setup().await;
    browser.login_ok(&provider, "/profile").await;
    assert!(browser.profile().await.is_some());

    let value = browser.jar.get("oidc_session_0").expect("a session cookie").clone();
    let mut bytes = value.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    browser
        .jar
        .insert("oidc_session_0".into(), String::from_utf8(bytes).unwrap());

    assert!(
        browser.profile().await.is_none(),
        "a tampered cookie is no session (and not a 500)"
    );
    let resp = browser.navigate("/profile").await;
    assert_eq!(
        resp.status,
        Status::Found,
        "a browser is sent to log in again: {resp:#?}"
    );

    // Garbage of every sort is no session either.
    for garbage in ["", "x", "%%%", "AAAA", "not base64 !!!"] {
        let mut other = browser.other_browser();
        other.jar.insert("oidc_session_0".into(), garbage.into());
        assert!(other.profile().await.is_none(), "garbage {garbage:?}");
    }
}

#[rocket::async_test]
async fn a_session_cookie_from_another_app_counts_as_no_session() {
    let provider = TestProvider::start().await;
    let mut app_a = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let other_app = rp_with_figment(
        figment_with_secret(oidc_config(&provider), &secret_key(2)),
        default_routes(),
    );
    let app_b = Browser::new(other_app).await;

    app_a.login_ok(&provider, "/profile").await;
    // Control: the cookies work in another browser of the same app.
    assert!(app_a.with_jar(app_a.jar.clone()).profile().await.is_some());

    let mut transplanted = app_b.with_jar(app_a.jar.clone());
    assert!(
        transplanted.profile().await.is_none(),
        "a session sealed with another secret_key is no session"
    );
    let resp = transplanted.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
}

#[rocket::async_test]
async fn a_large_session_spans_several_cookies_and_reads_back_whole() {
    let (provider, mut browser) = setup().await;
    let blob = incompressible_text(6000, "large session");
    provider.behave(|b| {
        b.userinfo_claims.insert("blob".into(), json!(blob));
    });
    let auth = browser.start_login("/profile").await;
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");

    let chunks = session_cookies(&browser);
    assert!(
        chunks.len() >= 2,
        "a ~6 KB session needs several cookies: {:?}",
        chunks.keys()
    );
    assert!(chunks.len() <= 8);
    for i in 0..chunks.len() {
        assert!(
            chunks.contains_key(&format!("oidc_session_{i}")),
            "chunks are numbered from 0: {:?}",
            chunks.keys()
        );
    }
    for header in resp.set_cookie_headers() {
        assert!(
            header.len() <= 4096,
            "each Set-Cookie fits the 4096-byte browser limit ({} bytes)",
            header.len()
        );
    }

    let profile = browser.profile().await.expect("a session");
    assert_eq!(profile["userinfo"]["blob"], blob.as_str());

    // A missing chunk is no session, not an error.
    let mut broken = browser.with_jar(browser.jar.clone());
    broken.jar.remove("oidc_session_1");
    assert!(broken.profile().await.is_none());
    // Chunks in the wrong order are no session either.
    let mut swapped = browser.with_jar(browser.jar.clone());
    let (c0, c1) = (chunks["oidc_session_0"].clone(), chunks["oidc_session_1"].clone());
    swapped.jar.insert("oidc_session_0".into(), c1);
    swapped.jar.insert("oidc_session_1".into(), c0);
    assert!(swapped.profile().await.is_none());
}

#[rocket::async_test]
async fn a_session_too_large_for_eight_cookies_is_502_session_too_large() {
    let (provider, mut browser) = setup().await;
    let blob = incompressible_text(64_000, "huge session");
    provider.behave(|b| {
        b.userinfo_claims.insert("blob".into(), json!(blob));
    });
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::BadGateway, "session_too_large");
    // The caller is told what happened; what made it big (by name and
    // size) is in the log (`tests/logs/observability.rs`), never a value.
    let description = resp.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(description.contains("the log says what"), "{description}");
    assert!(
        !description.contains("blob"),
        "no claim name to the caller: {description}"
    );
    assert!(
        session_cookies(&browser).is_empty(),
        "no partial session: {:?}",
        browser.jar.keys()
    );
    assert_no_session(&mut browser).await;

    // The HTML rendering of the same failure.
    let (_, resp) = browser.login(&provider, "/profile", Mode::Navigate).await;
    assert_error(&resp, Status::BadGateway, "session_too_large");
    assert!(resp.is_html(), "{resp:#?}");
}

/// Completes, in `browser` (which may hold a session), a login started in
/// another browser of the same app — i.e. a fresh login whatever cookies
/// `browser` already had.
async fn login_over_existing_cookies(browser: &mut Browser, provider: &TestProvider, uri: &str) -> Resp {
    let mut starter = browser.other_browser();
    let auth = starter.start_login(uri).await;
    for (name, value) in starter.cookies_with_prefix("oidc_auth_") {
        browser.jar.insert(name, value);
    }
    browser.approve(provider, &auth, Mode::Navigate).await
}

#[rocket::async_test]
async fn a_new_session_is_minted_at_login() {
    // Session fixation: whatever session cookies a browser carries into a
    // login, it leaves with new ones.
    let (provider, mut browser) = setup().await;
    browser.login_ok(&provider, "/profile").await;
    let before = session_cookies(&browser);
    assert_eq!(browser.profile().await.unwrap()["sub"], "alice");

    provider.behave(|b| b.subject = "bob".into());
    let resp = login_over_existing_cookies(&mut browser, &provider, "/profile").await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    let after = session_cookies(&browser);
    for (name, value) in &after {
        assert!(!before.values().any(|v| v == value), "{name} kept a pre-existing value");
    }
    assert_eq!(browser.profile().await.unwrap()["sub"], "bob");
}

#[rocket::async_test]
async fn a_smaller_session_replaces_every_chunk_of_a_larger_one() {
    let (provider, mut browser) = setup().await;
    provider.behave(|b| {
        b.userinfo_claims
            .insert("blob".into(), json!(incompressible_text(9000, "three chunks")));
    });
    browser.login_ok(&provider, "/profile").await;
    assert!(session_cookies(&browser).len() >= 3);

    provider.behave(|b| {
        b.userinfo_claims.clear();
        b.subject = "bob".into();
    });
    let resp = login_over_existing_cookies(&mut browser, &provider, "/profile").await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(
        session_cookies(&browser).keys().collect::<Vec<_>>(),
        ["oidc_session_0"],
        "stale chunks are removed"
    );
    let profile = browser.profile().await.expect("a session");
    assert_eq!(profile["sub"], "bob");
    assert!(profile["userinfo"].get("blob").is_none());
}

#[rocket::async_test]
async fn a_session_ends_after_session_lifetime_seconds() {
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    config["session"] = json!({ "lifetime_seconds": 2 });
    let clock = ManualClock::new();
    let mut browser = Browser::new(rp_on(&clock, config, default_routes())).await;

    browser.login_ok(&provider, "/profile").await;
    assert!(browser.profile().await.is_some());
    clock.advance(Duration::from_millis(3500));
    assert!(
        browser.profile().await.is_none(),
        "the session outlived lifetime_seconds"
    );
    let resp = browser.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "{resp:#?}");
}

#[rocket::async_test]
async fn max_cookie_chunks_caps_the_cookie_header_and_a_larger_session_is_refused_not_looped() {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.userinfo_claims
            .insert("groups".into(), json!(incompressible_text(4_000, "many groups")));
    });
    // By default such a session takes two cookies.
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    browser.login_ok(&provider, "/profile").await;
    assert_eq!(session_cookies(&browser).len(), 2, "{:?}", browser.jar.keys());

    // With one cookie at most, the login is refused with what takes the room.
    let mut config = oidc_config(&provider);
    config["session"] = json!({ "max_cookie_chunks": 1 });
    let mut capped = Browser::new(rp(config, default_routes())).await;
    let (_, resp) = capped.login(&provider, "/profile", Mode::Navigate).await;
    assert_error(&resp, Status::BadGateway, "session_too_large");
    assert!(
        !resp.body.contains("`groups`"),
        "claim names stay in the log: {resp:#?}"
    );
    assert!(session_cookies(&capped).is_empty());
    // The error page is an answer, not a redirect back to the provider.
    assert!(resp.header("Location").is_none(), "{resp:#?}");
}

#[rocket::async_test]
async fn a_provider_s_session_keeps_only_the_claims_it_is_told_to() {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.claims.insert("picture".into(), json!("https://op.example/p.png"));
        b.claims.insert("sid".into(), json!("s1"));
        b.userinfo_claims.insert("groups".into(), json!(["a", "b"]));
        b.userinfo_claims.insert("email".into(), json!("alice@example.com"));
    });
    for (table, kept, dropped) in [
        (
            json!({ "drop_claims": ["picture", "groups"] }),
            "email",
            ["picture", "groups"],
        ),
        (json!({ "keep_claims": ["email"] }), "email", ["picture", "groups"]),
    ] {
        let mut config = oidc_config(&provider);
        config["providers"]["default"]["session"] = table.clone();
        let mut browser = Browser::new(rp(config, default_routes())).await;
        browser.login_ok(&provider, "/profile").await;
        let profile = browser.profile().await.expect("logged in");
        let (id_token, userinfo) = (&profile["id_token"], &profile["userinfo"]);
        assert_eq!(userinfo[kept], "alice@example.com", "{table}: {profile:#}");
        for claim in dropped {
            assert!(
                id_token.get(claim).is_none() && userinfo.get(claim).is_none(),
                "{table}: {profile:#}"
            );
        }
        // What the protocol needs stays, whatever the lists say.
        for claim in ["iss", "sub", "aud", "exp", "iat", "sid"] {
            assert!(id_token.get(claim).is_some(), "{table}: `{claim}` kept: {profile:#}");
        }
        assert_eq!(userinfo["sub"], id_token["sub"], "{table}");
    }
}
