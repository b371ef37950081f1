//! Mix-up defence with several providers (RFC 9700 §4.4.2): a malicious
//! configured provider must not receive an honest provider's code and PKCE
//! verifier. A response is accepted only when it provably comes from the
//! provider its `state` was issued for: by RFC 9207 `iss` where several
//! providers share one `redirect_uri` (required there), or by the
//! provider's own `redirect_uri`.

use rocket::http::Status;
use serde_json::{json, Value};

use crate::support::*;

/// Routes for both providers.
fn routes() -> Vec<rocket::Route> {
    rocket::routes![app::profile, app::second, app::public]
}

/// Makes `provider` one that does not advertise RFC 9207 (so it may
/// answer without `iss`).
fn without_rfc9207(provider: &TestProvider) {
    provider.behave(|b| {
        b.discovery
            .insert("authorization_response_iss_parameter_supported".into(), json!(false));
    });
}

/// The callback for `auth` (a login at `provider`) at `path`, without `iss`.
async fn answer_without_iss(browser: &mut Browser, provider: &TestProvider, auth: &AuthRequest, path: &str) -> Resp {
    let code = provider.issue_code(auth);
    let query = form_encode(&[("code", &code), ("state", auth.state())]);
    browser.navigate(&format!("{path}?{query}")).await
}

#[rocket::async_test]
async fn with_one_provider_a_response_without_iss_is_accepted() {
    let provider = TestProvider::start().await;
    without_rfc9207(&provider);
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let auth = browser.start_login("/profile").await;
    let resp = answer_without_iss(&mut browser, &provider, &auth, CALLBACK_PATH).await;
    assert_callback_completed(&resp, &provider);
}

#[rocket::async_test]
async fn providers_sharing_the_redirect_uri_must_send_iss() {
    let (first, second) = (TestProvider::start().await, TestProvider::start().await);
    without_rfc9207(&first);
    without_rfc9207(&second);
    let mut browser = Browser::new(rp(oidc_config_with_second(&first, &second), routes())).await;
    for (provider, path) in [(&first, "/profile"), (&second, "/second")] {
        let auth = browser.start_login(path).await;
        let resp = answer_without_iss(&mut browser, provider, &auth, CALLBACK_PATH).await;
        assert_error(&resp, Status::Unauthorized, "invalid_issuer");
        assert!(resp.body.contains("of its own"), "the error says what to do: {resp:#?}");
        assert_eq!(provider.token_requests().len(), 0, "the code went nowhere");
    }
    // With `iss`, as RFC 9207 providers send it, logins work.
    browser.login_ok(&second, "/second").await;
    assert_eq!(second.token_requests().len(), 1);
}

/// Two providers, `second` with a `redirect_uri` of its own.
fn own_redirect_config(first: &TestProvider, second: &TestProvider) -> Value {
    let mut config = oidc_config_with_second(first, second);
    config["providers"]["second"]["redirect_uri"] = json!("http://127.0.0.1:8000/callback/second");
    config
}

#[rocket::async_test]
async fn a_provider_with_its_own_redirect_uri_needs_no_iss_and_is_accepted_there_only() {
    let (first, second) = (TestProvider::start().await, TestProvider::start().await);
    without_rfc9207(&first);
    without_rfc9207(&second);
    let mut browser = Browser::new(rp(own_redirect_config(&first, &second), routes())).await;

    // The mix-up: second's response delivered to the shared redirect URI.
    let auth = browser.start_login("/second").await;
    assert_eq!(
        auth.param("redirect_uri"),
        Some("http://127.0.0.1:8000/callback/second")
    );
    let resp = answer_without_iss(&mut browser, &second, &auth, CALLBACK_PATH).await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_eq!(second.token_requests().len(), 0);

    // At its own redirect URI, without `iss`: accepted.
    let auth = browser.start_login("/second").await;
    let resp = answer_without_iss(&mut browser, &second, &auth, "/callback/second").await;
    assert_callback_completed(&resp, &second);
    let request = &second.token_requests()[0];
    assert_eq!(
        request.param("redirect_uri"),
        Some("http://127.0.0.1:8000/callback/second")
    );
    assert_eq!(browser.api("/second").await.status, Status::Ok);

    // The first provider alone at the shared redirect URI: no `iss` needed.
    let auth = browser.start_login("/profile").await;
    let resp = answer_without_iss(&mut browser, &first, &auth, CALLBACK_PATH).await;
    assert_callback_completed(&resp, &first);
}

#[rocket::async_test]
async fn a_response_for_the_shared_redirect_uri_is_refused_at_a_providers_own() {
    let (first, second) = (TestProvider::start().await, TestProvider::start().await);
    without_rfc9207(&first);
    let mut browser = Browser::new(rp(own_redirect_config(&first, &second), routes())).await;
    let auth = browser.start_login("/profile").await;
    let resp = answer_without_iss(&mut browser, &first, &auth, "/callback/second").await;
    assert_error(&resp, Status::Unauthorized, "invalid_issuer");
    assert_eq!(first.token_requests().len(), 0);
}
