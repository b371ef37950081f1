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
use serde_json::{Value, json};

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

/// Callbacks are anyone's to send, with any code, each to a login of its
/// own: no budget anyone can spend stands between a real user who just
/// signed in and their session. A flood of junk callbacks leaves the next
/// real login working.
#[rocket::async_test]
async fn a_flood_of_junk_callbacks_never_refuses_a_real_users_login() {
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    config["limits"] = json!({ "provider_calls_per_second": 2 });
    let browser = lifecycle_browser(config).await;
    for n in 0..30 {
        let mut anonymous = browser.other_browser();
        let auth = anonymous.start_login("/profile").await;
        let junk = format!("junk-code-{n}");
        let resp = anonymous
            .callback(
                &[("code", &junk), ("state", auth.state()), ("iss", &provider.issuer)],
                Mode::Api,
            )
            .await;
        assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    }
    let mut user = browser.other_browser();
    user.login_ok(&provider, "/profile").await;
    assert!(user.profile().await.is_some());
}

/// An app that always pushes its authorization requests, with a budget of
/// `rate` provider calls a second and a silent re-check every `interval` s.
fn silent_checks_under_par(provider: &TestProvider, rate: u32, interval: u64) -> Value {
    let mut config = oidc_config(provider);
    config["limits"] = json!({ "provider_calls_per_second": rate });
    config["providers"]["default"]["pushed_authorization_requests"] = json!("always");
    config["providers"]["default"]["session_refresh_interval_seconds"] = json!(interval);
    config
}

/// Where the provider requires PAR, anonymous navigations past the budget
/// get `503`; a logged-in user's silent re-check is nobody's flood: it
/// still pushes, and carries the session's ID token as `id_token_hint`.
#[rocket::async_test]
async fn a_logged_in_users_silent_check_is_not_refused_for_an_anonymous_flood() {
    let (provider, app) = par_app(1, "always").await;
    drop(app);
    let clock = ManualClock::new();
    let app = lifecycle_browser_on(&clock, silent_checks_under_par(&provider, 1, 2)).await;
    let mut user = app.other_browser();
    user.login_ok_pushed(&provider, "/profile").await;
    let id_token = user.profile().await.expect("logged in")["id_token_jwt"].clone();
    clock.advance(Duration::from_millis(2100));
    // An anonymous flood spends the budget...
    let mut refused = 0;
    for _ in 0..6 {
        if app.other_browser().navigate("/profile").await.status == Status::ServiceUnavailable {
            refused += 1;
        }
    }
    assert!(refused >= 3, "{refused}");
    // ...and the logged-in user's silent check goes through all the same.
    let resp = user.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "the silent check is pushed: {resp:#?}");
    let silent = provider.pushed(&AuthRequest::parse(resp.location()));
    assert_eq!(silent.param("prompt"), Some("none"));
    assert_eq!(silent.param("id_token_hint"), id_token.as_str());
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

/// One client flooding junk tokens from one address spends its share of
/// the introspection budget (a quarter) and is refused past it (`429`);
/// another client's fresh token, never seen before, is still introspected
/// and accepted. (The address is Rocket's `client_ip()`: `X-Real-IP` by
/// default.)
#[rocket::async_test]
async fn a_junk_token_flood_from_one_client_leaves_other_clients_fresh_tokens_checked() {
    let provider = TestProvider::start().await;
    let mut config = crate::support::api::bearer_config(&provider, json!({}));
    config["limits"] = json!({ "provider_calls_per_second": 8 });
    let browser = Browser::new(crate::support::api::api_app(config)).await;
    let from = |ip: &'static str, token: String| {
        let mut client = browser.other_browser();
        async move {
            let authorization = format!("Bearer {token}");
            client
                .send(
                    Method::Get,
                    "/api",
                    &[("Authorization", &authorization), ("X-Real-IP", ip)],
                    None,
                )
                .await
        }
    };
    let mut statuses = Vec::new();
    for n in 0..30 {
        statuses.push(from("10.0.0.1", format!("junk-token-{n}")).await.status);
    }
    let refused = statuses.iter().filter(|s| **s == Status::TooManyRequests).count();
    assert!(
        refused >= 24,
        "past its share, the flooding client is refused: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| [Status::Unauthorized, Status::TooManyRequests].contains(s)),
        "{statuses:?}"
    );
    assert!(
        provider.counts().introspection <= 6,
        "{} introspections",
        provider.counts().introspection
    );
    for (n, ip) in ["10.0.0.2", "10.0.0.3", "10.0.0.4"].into_iter().enumerate() {
        let fresh = provider.opaque_token(json!({ "sub": format!("user-{n}") }));
        let resp = from(ip, fresh).await;
        assert_eq!(resp.status, Status::Ok, "{ip}'s fresh token: {resp:#?}");
    }
}

/// Where the provider requires PAR, one client's navigations from one
/// address spend its share of pushed requests and are refused past it
/// (`429`); another client's navigation still pushes and logs in.
#[rocket::async_test]
async fn a_navigation_flood_from_one_client_leaves_other_clients_logins_pushed() {
    let (provider, browser) = par_app(8, "always").await;
    let navigate = |ip: &'static str| {
        let mut client = browser.other_browser();
        async move {
            client
                .send(
                    Method::Get,
                    "/profile",
                    &[("Accept", ACCEPT_HTML), ("X-Real-IP", ip)],
                    None,
                )
                .await
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(navigate("10.0.0.1").await.status);
    }
    let refused = statuses.iter().filter(|s| **s == Status::TooManyRequests).count();
    assert!(refused >= 24, "{statuses:?}");
    let pushed_before = provider.par_requests().len();
    assert!(pushed_before <= 6, "{pushed_before} pushed");
    for ip in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
        let resp = navigate(ip).await;
        assert_eq!(resp.status, Status::Found, "{ip}: {resp:#?}");
        assert!(
            AuthRequest::parse(resp.location()).param("request_uri").is_some(),
            "{resp:#?}"
        );
    }
    assert_eq!(provider.par_requests().len(), pushed_before + 3);
}

/// A logged-in user's silent re-checks spend a share of their own (a
/// burst, then a quarter of the budget a minute) of the users' budget, not
/// the anonymous one: one account navigating
/// again and again is refused past it (`429`), and another user's silent
/// check still pushes.
#[rocket::async_test]
async fn one_logged_in_user_cannot_flood_the_provider_with_silent_checks() {
    let (provider, app) = par_app(4, "always").await;
    drop(app);
    let clock = ManualClock::new();
    let app = lifecycle_browser_on(&clock, silent_checks_under_par(&provider, 4, 1)).await;
    let log_in = |sub: &'static str| {
        let mut user = app.other_browser();
        let provider = &provider;
        async move {
            provider.behave(|b| b.subject = sub.into());
            user.login_ok_pushed(provider, "/profile").await;
            user
        }
    };
    let mut mallory = log_in("mallory").await;
    let mut alice = log_in("alice").await;
    clock.advance(Duration::from_millis(1100));
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(mallory.navigate("/profile").await.status);
    }
    assert!(
        statuses[..2].iter().all(|s| *s == Status::Found),
        "a user's share: {statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == Status::TooManyRequests).count() >= 7,
        "then refused: {statuses:?}"
    );
    let resp = alice.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "alice's silent check: {resp:#?}");
    let silent = provider.pushed(&AuthRequest::parse(resp.location()));
    assert_eq!(silent.param("prompt"), Some("none"));
}
