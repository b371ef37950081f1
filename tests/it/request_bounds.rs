//! What an anonymous request can make the app do is bounded: junk cookies
//! named like the crate's cost nothing more and bring no more `Set-Cookie`s
//! back than none at all; and the calls to a provider that requests nobody
//! authenticated can cause (pushed authorization requests, code
//! redemptions, introspection of unseen tokens) stay within
//! `limits.provider_calls_per_second`, so a flood cannot spend the
//! provider's rate limits for every user.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rocket::http::{Method, Status};
use serde_json::json;

use crate::support::lifecycle::*;
use crate::support::*;

/// `n` junk cookies of every family the crate uses (with the `__Host-`
/// prefix too, the names on https): session chunks, pending logins with
/// well-formed tags, and names past the ranges.
fn junk(n: usize) -> BTreeMap<String, String> {
    let mut jar = BTreeMap::new();
    for prefix in ["", "__Host-"] {
        for i in 0..n / 2 {
            jar.insert(format!("{prefix}oidc_session_{i}"), format!("junk{i}"));
            jar.insert(format!("{prefix}oidc_auth_{i:016x}"), format!("junk{i}"));
        }
        jar.insert(format!("{prefix}oidc_sid"), "junk".into());
        jar.insert(format!("{prefix}oidc_logout"), "junk".into());
    }
    jar
}

/// Sends `request` with `n` junk cookies; its response and how long it took.
async fn with_junk(browser: &Browser, n: usize, method: Method, uri: &str) -> (Resp, Duration) {
    let mut flooded = browser.with_jar(junk(n));
    let start = Instant::now();
    let body = (method == Method::Post).then(|| (rocket::http::ContentType::Form, "logout_token=junk".to_string()));
    let resp = flooded.send(method, uri, &[("Accept", ACCEPT_HTML)], body).await;
    (resp, start.elapsed())
}

#[rocket::async_test]
async fn junk_cookies_cost_no_more_than_none() {
    let provider = TestProvider::start().await;
    for https in [false, true] {
        let mut config = oidc_config(&provider);
        if https {
            config["redirect_uri"] = serde_json::json!("https://rp.example/redirect_uri");
        }
        let browser = lifecycle_browser(config).await;
        for (method, uri, status) in [
            (Method::Get, "/logout", Status::SeeOther),
            (Method::Post, "/logout", Status::SeeOther),
            (Method::Get, "/profile", Status::Found),
            (Method::Get, "/public", Status::Ok),
            (Method::Get, "/redirect_uri?code=c&state=s", Status::BadRequest),
            (Method::Post, "/backchannel_logout", Status::BadRequest),
        ] {
            assert_bounded(&browser, method, uri, status, https).await;
        }
    }
}

async fn assert_bounded(browser: &Browser, method: Method, uri: &str, status: Status, https: bool) {
    {
        let (few, few_took) = with_junk(browser, 20, method, uri).await;
        let (many, many_took) = with_junk(browser, 10_000, method, uri).await;
        for resp in [&few, &many] {
            assert_eq!(resp.status, status, "{uri}: {resp:#?}");
            assert!(
                resp.set_cookie_headers().len() <= 20,
                "{uri}: {} Set-Cookies",
                resp.set_cookie_headers().len()
            );
            let bytes: usize = resp.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
            assert!(bytes < 16 * 1024, "{uri}: {bytes} bytes of headers");
        }
        assert_eq!(
            few.set_cookie_headers().len(),
            many.set_cookie_headers().len(),
            "{uri} (https: {https}): the answer does not grow with the junk"
        );
        // Generous: the point is "not quadratic" (it was seconds), on a
        // shared machine, in a debug build.
        assert!(
            many_took < few_took * 20 + Duration::from_millis(500),
            "{uri} (https: {https}): 10,000 junk cookies took {many_took:?}, 10 took {few_took:?}"
        );
    }
}

#[rocket::async_test]
async fn a_real_session_still_works_among_junk_cookies() {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let mut jar = junk(1000);
    for (name, value) in &browser.jar {
        jar.insert(name.clone(), value.clone());
    }
    let mut flooded = browser.with_jar(jar);
    assert!(flooded.profile().await.is_some());
    let resp = flooded.logout(Method::Post).await;
    assert_eq!(resp.status, Status::SeeOther);
    assert!(resp.set_cookie_headers().len() <= 20, "{resp:#?}");
    assert_no_session(&mut flooded).await;
}

/// A provider that advertises PAR, and an app allowing `per_second`
/// anonymous calls to it (twice that in a burst), with `par` as its mode.
async fn par_app(per_second: u32, par: &str) -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    let endpoint = provider.par_endpoint();
    provider.behave(|b| {
        b.discovery
            .insert("pushed_authorization_request_endpoint".into(), json!(endpoint));
    });
    let mut config = oidc_config(&provider);
    config["limits"] = json!({ "provider_calls_per_second": per_second });
    config["providers"]["default"]["pushed_authorization_requests"] = json!(par);
    let browser = lifecycle_browser(config).await;
    (provider, browser)
}

/// What cannot follow a login starts none: a `HEAD`, a prefetch, a
/// prerender. No pushed request, no pending-login cookie.
#[rocket::async_test]
async fn a_head_or_a_prefetch_of_a_protected_page_starts_no_login() {
    let (provider, browser) = par_app(20, "auto").await;
    let cases: [(Method, &[(&str, &str)]); 4] = [
        (Method::Head, &[("Accept", ACCEPT_HTML)]),
        (Method::Get, &[("Accept", ACCEPT_HTML), ("Sec-Purpose", "prefetch")]),
        (
            Method::Get,
            &[("Accept", ACCEPT_HTML), ("Sec-Purpose", "prefetch;prerender")],
        ),
        (Method::Get, &[("Accept", ACCEPT_HTML), ("Purpose", "prefetch")]),
    ];
    for (method, headers) in cases {
        let resp = browser.other_browser().send(method, "/profile", headers, None).await;
        assert_eq!(resp.status, Status::Unauthorized, "{method} {headers:?}: {resp:#?}");
        assert!(resp.cookies_set_with_prefix("oidc_auth_").is_empty(), "{resp:#?}");
    }
    assert!(provider.par_requests().is_empty());
    // A real navigation does.
    browser.other_browser().start_login("/profile").await;
    assert_eq!(provider.par_requests().len(), 1);
}

/// Anonymous navigations past the budget of pushed requests still log in,
/// by the front channel, where the provider allows it; where it requires
/// PAR, they get `503` with `Retry-After`, and the provider hears nothing.
#[rocket::async_test]
async fn anonymous_navigations_past_the_budget_push_nothing_more() {
    let (provider, browser) = par_app(2, "auto").await;
    let mut front = 0;
    for _ in 0..10 {
        let auth = browser.other_browser().start_login("/profile").await;
        if auth.param("request_uri").is_none() {
            assert!(auth.param("state").is_some(), "a front-channel request: {auth:?}");
            front += 1;
        }
    }
    assert!(
        provider.par_requests().len() <= 4,
        "{} pushed",
        provider.par_requests().len()
    );
    assert_eq!(front + provider.par_requests().len(), 10);

    let (provider, browser) = par_app(2, "always").await;
    let mut refused = 0;
    for _ in 0..10 {
        let resp = browser.other_browser().navigate("/profile").await;
        match resp.status {
            Status::Found => {}
            Status::ServiceUnavailable => {
                assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
                assert_eq!(resp.header("Retry-After"), Some("1"), "{resp:#?}");
                refused += 1;
            }
            other => panic!("{other}: {resp:#?}"),
        }
    }
    assert!(provider.par_requests().len() <= 4 && refused >= 6, "{refused} refused");
}

/// Callbacks with junk codes, each to a login of its own: past the budget
/// of code redemptions they are refused (`503`) without a token request.
#[rocket::async_test]
async fn anonymous_callbacks_past_the_budget_redeem_nothing_more() {
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    config["limits"] = json!({ "provider_calls_per_second": 2 });
    let browser = lifecycle_browser(config).await;
    for n in 0..10 {
        let mut anonymous = browser.other_browser();
        let auth = anonymous.start_login("/profile").await;
        let junk = format!("junk-code-{n}");
        let resp = anonymous
            .callback(
                &[("code", &junk), ("state", auth.state()), ("iss", &provider.issuer)],
                Mode::Api,
            )
            .await;
        assert!(
            matches!(resp.status, Status::Unauthorized | Status::ServiceUnavailable),
            "{resp:#?}"
        );
    }
    assert!(
        provider.counts().token <= 4,
        "{} token requests",
        provider.counts().token
    );
}

/// Junk tokens never seen before, each different: past the budget of
/// introspections they are `503` without a provider call. A token found
/// valid before is still answered from the cache.
#[rocket::async_test]
async fn unseen_tokens_past_the_budget_are_not_introspected() {
    let provider = TestProvider::start().await;
    let mut config = crate::support::api::bearer_config(&provider, json!({}));
    config["limits"] = json!({ "provider_calls_per_second": 2 });
    let mut browser = Browser::new(crate::support::api::api_app(config)).await;
    let good = provider.opaque_token(json!({}));
    assert_eq!(browser.bearer("/api", &good).await.status, Status::Ok);
    let mut unavailable = 0;
    for n in 0..10 {
        let resp = browser.bearer("/api", &format!("junk-token-{n}")).await;
        if resp.status == Status::ServiceUnavailable {
            unavailable += 1;
        } else {
            assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
        }
    }
    assert!(
        provider.counts().introspection <= 4,
        "{} introspections",
        provider.counts().introspection
    );
    assert!(unavailable >= 6, "{unavailable}");
    assert_eq!(
        browser.bearer("/api", &good).await.status,
        Status::Ok,
        "the cached token"
    );
}
