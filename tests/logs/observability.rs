//! What the crate tells an operator: a login is logged when it starts and
//! when it finishes, a failed login with its cause and a one-line hint, all
//! under the `log` target `rocket_openidconnect`, and never a secret (no
//! code, state, nonce, token, cookie or client secret). (Rocket's own
//! request log, at `log_level = "normal"`, prints the callback's URL with
//! its code and state; the crate docs and SECURITY.md say so.)

use rocket::http::Status;
use serde_json::json;

use crate::support::lifecycle::*;
use crate::support::*;

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
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    logs::forget();
    let auth = browser.login_ok(&provider, "/profile").await;
    let lines = logs::crate_lines_of_this_thread();
    assert_logged(&lines, &["login started", "`default`"]);
    assert_logged(&lines, &["login finished", "`default`", " s"]);
    let cookies: Vec<String> = browser.jar.values().cloned().collect();
    let mut secrets = vec![auth.state(), auth.nonce(), provider::CLIENT_SECRET];
    secrets.extend(cookies.iter().map(String::as_str));
    assert_no_secret_in(&logs::crate_lines_of_this_thread(), &secrets);
}

#[rocket::async_test]
async fn a_callback_without_its_login_cookie_is_logged_with_the_cause_and_a_hint() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    let auth = browser.start_login("/profile").await;
    // The provider's answer reaches a browser that did not start the login
    // (or whose cookie was blocked).
    let mut elsewhere = browser.other_browser();
    logs::forget();
    let code = provider.issue_code(&auth);
    elsewhere
        .callback(
            &[("code", &code), ("state", auth.state()), ("iss", &provider.issuer)],
            Mode::Navigate,
        )
        .await;
    let lines = logs::crate_lines_of_this_thread();
    assert_logged(&lines, &["login failed", "state cookie missing", "hint:", "SameSite"]);
    assert_no_secret_in(&logs::crate_lines_of_this_thread(), &[&code, auth.state()]);
}

#[rocket::async_test]
async fn a_replayed_callback_is_logged_as_a_reused_state() {
    logs::capture();
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
    logs::forget();
    replay.callback(&params, Mode::Navigate).await;
    assert_logged(
        &logs::crate_lines_of_this_thread(),
        &["login failed", "state reused", "hint:"],
    );
}

#[rocket::async_test]
async fn a_refusal_by_the_provider_is_logged_as_a_provider_error() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    let auth = browser.start_login("/profile").await;
    logs::forget();
    browser
        .refuse(
            &provider,
            &auth,
            "access_denied",
            Some("the user said no"),
            Mode::Navigate,
        )
        .await;
    assert_logged(
        &logs::crate_lines_of_this_thread(),
        &["login failed", "provider error", "access_denied"],
    );
}

#[rocket::async_test]
async fn a_session_too_large_for_proxies_is_said_once_per_provider_with_what_made_it_large() {
    logs::capture();
    let provider = TestProvider::start().await;
    let blob = crate::support::jwt::incompressible_text(9_000, "many groups");
    provider.behave(|b| {
        b.userinfo_claims.insert("groups".into(), serde_json::json!(blob));
    });
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    logs::forget();
    browser.login_ok(&provider, "/profile").await;
    let cookie_header: usize = browser
        .jar
        .iter()
        .map(|(name, value)| name.len() + value.len() + 3)
        .sum();
    assert!(
        cookie_header > 8 * 1024,
        "the session's cookies take {cookie_header} bytes"
    );
    let lines = logs::crate_lines_of_this_thread();
    assert_logged(
        &lines,
        &[
            "sessions of provider `default`",
            "Cookie",
            "431",
            "groups",
            "drop_claims",
        ],
    );
    let said = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("431") && l.contains("sessions of provider"))
            .count()
    };
    assert_eq!(said(&lines), 1);

    // Said once: the next login of the same provider is not logged again.
    let mut again = browser.other_browser();
    again.login_ok(&provider, "/profile").await;
    assert_eq!(said(&logs::crate_lines_of_this_thread()), 1);
    assert_no_secret_in(&logs::crate_lines_of_this_thread(), &[&blob[..64]]);
}

#[rocket::async_test]
async fn a_session_that_fits_is_not_said_to_be_large() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    logs::forget();
    browser.login_ok(&provider, "/profile").await;
    let lines = logs::crate_lines_of_this_thread();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("431") && l.contains("sessions of provider")),
        "{lines:#?}"
    );
}

#[rocket::async_test]
async fn a_refresh_is_logged_with_its_provider_and_without_the_tokens() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    logs::forget();
    let token = browser.token_ok(true).await;
    assert_eq!(token["refreshed"], true);
    let lines = logs::crate_lines_of_this_thread();
    assert_logged(&lines, &["tokens refreshed", "`default`"]);
    let access_token = token["access_token"].as_str().unwrap_or_default();
    let refresh_tokens = provider.issued_refresh_tokens();
    let mut secrets: Vec<&str> = refresh_tokens.iter().map(String::as_str).collect();
    secrets.push(access_token);
    assert_no_secret_in(&lines, &secrets);
}

/// Every line under `rocket_openidconnect` is one printable line of
/// bounded length.
fn assert_printable_and_bounded(lines: &[String]) {
    assert!(!lines.is_empty(), "something was logged");
    for line in lines {
        assert!(
            !line.chars().any(char::is_control),
            "a control character was logged: {line:?}"
        );
        assert!(
            line.chars().count() <= 4100,
            "a line of {} characters was logged",
            line.len()
        );
    }
}

#[rocket::async_test]
async fn text_from_a_request_or_a_provider_reaches_the_log_printable_and_bounded() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    let flood = "x".repeat(20_000);

    // An anonymous caller's `iss`, with a newline and an ANSI escape.
    logs::forget();
    let auth = browser.start_login("/profile").await;
    let code = provider.issue_code(&auth);
    let iss = format!("https://evil.example\n\u{1b}[2J{flood}");
    let resp = browser
        .callback(
            &[("code", &code), ("state", auth.state()), ("iss", &iss)],
            Mode::Navigate,
        )
        .await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_printable_and_bounded(&logs::crate_lines_of_this_thread());

    // A provider's `token_type` and `error_description`.
    logs::forget();
    provider.behave(|b| {
        b.token_response
            .insert("token_type".into(), json!(format!("Evil\n\u{1b}[31m{flood}")));
    });
    let (_, resp) = browser.login(&provider, "/profile", Mode::Navigate).await;
    assert_error(&resp, Status::BadGateway, "provider_unavailable");
    assert_printable_and_bounded(&logs::crate_lines_of_this_thread());

    logs::forget();
    provider.behave(|b| {
        b.token_failure = Some(TokenFailure::OAuthError {
            status: 400,
            error: format!("invalid_grant\n\u{1b}[2J{flood}"),
        });
    });
    let (_, resp) = browser.login(&provider, "/profile", Mode::Navigate).await;
    assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    assert_printable_and_bounded(&logs::crate_lines_of_this_thread());
}

#[rocket::async_test]
async fn a_session_too_large_is_logged_with_what_takes_the_room_never_a_value() {
    logs::capture();
    let provider = TestProvider::start().await;
    let blob = crate::support::jwt::incompressible_text(64_000, "huge session");
    provider.behave(|b| {
        b.userinfo_claims.insert("blob".into(), json!(blob));
    });
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    logs::forget();
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::BadGateway, "session_too_large");
    let lines = logs::crate_lines_of_this_thread();
    assert_logged(&lines, &["login failed", "userinfo", "largest claims: `blob`"]);
    assert_no_secret_in(&lines, &[&blob[..32]]);
}

/// A provider that refuses the app's own client credentials at its
/// introspection endpoint (`invalid_client`) is a misconfiguration: the
/// caller gets `503` as for an outage, and the log says what to fix, once
/// however many tokens come.
#[rocket::async_test]
async fn a_provider_refusing_the_clients_credentials_at_introspection_is_said_to_be_a_configuration_error() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    config["providers"]["default"]["client_secret"] = json!("not-the-secret");
    let mut browser = Browser::new(api::api_app(config)).await;
    logs::forget();
    for _ in 0..3 {
        let token = provider.opaque_token(json!({ "scope": "read" }));
        let resp = browser.bearer("/api", &token).await;
        api::assert_bearer_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
    }
    let lines = logs::crate_lines_of_this_thread();
    let said: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("refused this app's client credentials"))
        .collect();
    assert_eq!(said.len(), 1, "said once: {lines:#?}");
    assert!(said[0].contains("`providers.default.client_id`"), "{said:?}");
    assert!(!said[0].contains("not-the-secret"), "{said:?}");
}

rocket_openidconnect::authorization!(
    /// The role `auditor`.
    Auditors { roles: all ["auditor"] }
);

#[rocket::get("/audit")]
fn audit(
    user: rocket_openidconnect::OidcUser<
        rocket_openidconnect::DefaultProvider,
        rocket_openidconnect::NoRequirement,
        Auditors,
    >,
) -> String {
    user.subject().to_string()
}

#[rocket::get("/api/audit")]
fn api_audit(
    token: rocket_openidconnect::BearerToken<
        rocket_openidconnect::DefaultProvider,
        rocket_openidconnect::NoScopes,
        Auditors,
    >,
) -> String {
    token.subject().unwrap_or_default().to_string()
}

#[rocket::async_test]
async fn access_denied_is_logged_with_the_route_the_requirement_and_what_was_unmet() {
    logs::capture();
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.claims.insert("roles".into(), json!(["user"]));
    });
    let mut routes = lifecycle_routes();
    routes.extend(rocket::routes![audit, api_audit]);
    let mut browser = Browser::new(rp(oidc_config(&provider), routes)).await;
    browser.login_ok(&provider, "/profile").await;
    logs::forget();
    assert_eq!(browser.navigate("/audit").await.status, Status::Forbidden);
    let lines = logs::crate_lines_of_this_thread();
    assert_logged(
        &lines,
        &[
            "access denied",
            "GET /audit",
            "session",
            "`default`",
            "Auditors",
            "a required role is missing",
        ],
    );

    logs::forget();
    let token = provider.at_jwt(json!({ "roles": ["user"] }));
    let resp = browser
        .send(
            rocket::http::Method::Get,
            "/api/audit",
            &[("Authorization", &format!("Bearer {token}"))],
            None,
        )
        .await;
    assert_eq!(resp.status, Status::Forbidden, "{resp:#?}");
    let lines = logs::crate_lines_of_this_thread();
    assert_logged(
        &lines,
        &["access denied", "GET /api/audit", "bearer", "Auditors", "role"],
    );
    assert_no_secret_in(&lines, &[&token]);
}
