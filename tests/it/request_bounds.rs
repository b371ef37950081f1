//! What an anonymous request can make the app do is bounded: junk cookies
//! named like the crate's cost nothing more and bring no more `Set-Cookie`s
//! back than none at all.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rocket::http::{Method, Status};

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
