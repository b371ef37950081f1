//! What the crate tells an operator: a login is logged when it starts and
//! when it finishes, a failed login with its cause and a one-line hint, all
//! under the `log` target `rocket_openidconnect`, and never a secret (no
//! code, state, nonce, token, cookie or client secret). (Rocket's own
//! request log, at `log_level = "normal"`, prints the callback's URL with
//! its code and state; README and SECURITY.md say so.)

mod support;

use std::cell::RefCell;
use std::sync::Once;

use rocket::log::private as log;

use support::lifecycle::*;
use support::*;

// Rocket's own logger would go to stdout only: this binary installs one that
// keeps (target, message) per thread (the local client runs the app on the
// test's thread), so each test reads what its own requests logged.
thread_local! {
    static RECORDS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

struct CapturingLogger;

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let entry = (record.target().to_string(), format!("{}", record.args()));
        RECORDS.with(|r| r.borrow_mut().push(entry));
    }

    fn flush(&self) {}
}

/// Installs the logger (every test calls this first, before anything can
/// build a Rocket, whose own logger would otherwise win) and forgets what
/// this thread logged so far.
fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if log::set_boxed_logger(Box::new(CapturingLogger)).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    });
    RECORDS.with(|r| r.borrow_mut().clear());
}

fn forget_logs() {
    RECORDS.with(|r| r.borrow_mut().clear());
}

/// What the crate logged (under its target) since `forget_logs`.
fn crate_lines() -> Vec<String> {
    RECORDS.with(|r| {
        r.borrow()
            .iter()
            .filter(|(target, _)| target == "rocket_openidconnect")
            .map(|(_, message)| message.clone())
            .collect()
    })
}

fn assert_logged(lines: &[String], words: &[&str]) {
    assert!(
        lines.iter().any(|line| words.iter().all(|w| line.contains(w))),
        "some line under `rocket_openidconnect` should say {words:?}; logged: {lines:#?}"
    );
}

fn assert_no_secret_in(lines: &[String], secrets: &[&str]) {
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        for line in lines {
            assert!(!line.contains(secret), "a secret was logged: {line}");
        }
    }
}

#[rocket::async_test]
async fn a_login_is_logged_when_it_starts_and_when_it_finishes_without_secrets() {
    capture_logs();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    forget_logs();
    let auth = browser.login_ok(&provider, "/profile").await;
    let lines = crate_lines();
    assert_logged(&lines, &["login started", "`default`"]);
    assert_logged(&lines, &["login finished", "`default`", " s"]);
    let cookies: Vec<String> = browser.jar.values().cloned().collect();
    let mut secrets = vec![auth.state(), auth.nonce(), provider::CLIENT_SECRET];
    secrets.extend(cookies.iter().map(String::as_str));
    assert_no_secret_in(&crate_lines(), &secrets);
}

#[rocket::async_test]
async fn a_callback_without_its_login_cookie_is_logged_with_the_cause_and_a_hint() {
    capture_logs();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    let auth = browser.start_login("/profile").await;
    // The provider's answer reaches a browser that did not start the login
    // (or whose cookie was blocked).
    let mut elsewhere = browser.other_browser();
    forget_logs();
    let code = provider.issue_code(&auth);
    elsewhere
        .callback(
            &[("code", &code), ("state", auth.state()), ("iss", &provider.issuer)],
            Mode::Navigate,
        )
        .await;
    let lines = crate_lines();
    assert_logged(&lines, &["login failed", "state cookie missing", "hint:", "SameSite"]);
    assert_no_secret_in(&crate_lines(), &[&code, auth.state()]);
}

#[rocket::async_test]
async fn a_replayed_callback_is_logged_as_a_reused_state() {
    capture_logs();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    let auth = browser.start_login("/profile").await;
    let before = browser.jar.clone();
    let code = provider.issue_code(&auth);
    let params = [
        ("code", code.as_str()),
        ("state", auth.state()),
        ("iss", provider.issuer.as_str()),
    ];
    let resp = browser.callback(&params, Mode::Navigate).await;
    assert_callback_completed(&resp, &provider);
    // The same answer again, with the login's cookie as it was.
    let mut replay = browser.with_jar(before);
    forget_logs();
    replay.callback(&params, Mode::Navigate).await;
    assert_logged(&crate_lines(), &["login failed", "state reused", "hint:"]);
}

#[rocket::async_test]
async fn a_refusal_by_the_provider_is_logged_as_a_provider_error() {
    capture_logs();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    let auth = browser.start_login("/profile").await;
    forget_logs();
    browser
        .refuse(
            &provider,
            &auth,
            "access_denied",
            Some("the user said no"),
            Mode::Navigate,
        )
        .await;
    assert_logged(&crate_lines(), &["login failed", "provider error", "access_denied"]);
}
