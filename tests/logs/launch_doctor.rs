//! The launch doctor: at liftoff, in the background, each provider is read
//! and what will break is said in the log before a user meets it. Launch
//! never waits for it and never fails because of it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// Waits (up to 10 s) for a doctor's line about `provider` saying all of
/// `words`.
async fn doctor_says(provider: &str, words: &[&str]) {
    let about = format!("oidc doctor: provider `{provider}`:");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = logs::crate_lines();
        let ours: Vec<&String> = lines.iter().filter(|l| l.contains(&about)).collect();
        if ours.iter().any(|l| words.iter().all(|w| l.contains(w))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the doctor should have said {words:?} about `{provider}`; it said: {ours:#?}"
        );
        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A relying party whose only provider is `name` = `table`, doctor on, no
/// routes (no guard needs `default`).
async fn launch(name: &str, table: Value) -> rocket::local::asynchronous::Client {
    let oidc = json!({
        "redirect_uri": REDIRECT_URI,
        "providers": { name: table },
    });
    rocket::local::asynchronous::Client::untracked(rp_with_figment(figment(oidc), vec![]))
        .await
        .expect("the doctor never fails a launch")
}

/// Static metadata that offers little: no logout, no introspection, query
/// responses only, `openid` only, `client_secret_post` only.
fn meagre_metadata() -> Value {
    json!({
        "issuer": "http://127.0.0.1:9",
        "authorization_endpoint": "http://127.0.0.1:9/auth",
        "token_endpoint": "http://127.0.0.1:9/token",
        "jwks_uri": "http://127.0.0.1:9/jwks",
        "scopes_supported": ["openid"],
        "response_modes_supported": ["query"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    })
}

#[rocket::async_test]
async fn what_the_provider_does_not_offer_is_said_at_launch() {
    logs::capture();
    let _client = launch(
        "meagre",
        json!({
            "metadata": meagre_metadata(),
            "client_id": "app",
            "client_secret": "s3cret",
            "scopes": ["openid", "profile"],
            "auth_request_params": { "response_mode": "form_post" },
            "bearer": { "mode": "introspection" },
        }),
    )
    .await;
    doctor_says("meagre", &["no `end_session_endpoint`", "logout"]).await;
    doctor_says(
        "meagre",
        &[
            "`bearer.mode = \"introspection\"`",
            "no `introspection_endpoint`",
            "503",
        ],
    )
    .await;
    doctor_says("meagre", &["response_mode = \"form_post\"", "response_modes_supported"]).await;
    doctor_says("meagre", &["scope `profile`", "scopes_supported"]).await;
    doctor_says(
        "meagre",
        &["client_secret_basic", "token_endpoint_auth_methods_supported"],
    )
    .await;
}

#[rocket::async_test]
async fn a_provider_that_is_down_gets_a_warning_and_the_app_starts() {
    logs::capture();
    let client = launch(
        "down",
        json!({ "issuer": "http://127.0.0.1:9", "client_id": "app", "client_secret": "s3cret" }),
    )
    .await;
    doctor_says("down", &["cannot be reached yet", "keeps trying"]).await;
    let resp = client.get("/nothing-here").dispatch().await;
    assert_eq!(resp.status(), rocket::http::Status::NotFound, "the app answers");
}

#[rocket::async_test]
async fn a_provider_that_offers_everything_is_read_through_discovery() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut table = provider.rp_provider_config();
    // The in-process provider offers all of this, but not `offline_access`.
    table["scopes"] = json!(["openid", "profile", "offline_access"]);
    let _client = launch("complete", table).await;
    doctor_says("complete", &["scope `offline_access`"]).await;
    // A provider's warnings are logged together, one right after another.
    rocket::tokio::time::sleep(Duration::from_millis(300)).await;
    let lines: Vec<String> = logs::crate_lines();
    let about_complete: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("oidc doctor: provider `complete`"))
        .collect();
    assert_eq!(
        about_complete.len(),
        1,
        "logout, introspection, the auth method and the clock are fine: {about_complete:#?}"
    );
}

#[rocket::async_test]
async fn sessions_that_will_not_fit_their_cookies_are_said_at_launch() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut table = provider.rp_provider_config();
    let mut scopes: Vec<String> = vec!["openid".into(), "profile".into(), "email".into()];
    scopes.extend((0..12).map(|i| format!("api:{i}")));
    table["scopes"] = json!(scopes);
    let oidc = json!({
        "redirect_uri": REDIRECT_URI,
        "session": { "max_cookie_chunks": 1 },
        "providers": { "cramped": table },
    });
    let _client = rocket::local::asynchronous::Client::untracked(rp_with_figment(figment(oidc), vec![]))
        .await
        .expect("the doctor never fails a launch");
    doctor_says(
        "cramped",
        &["session.max_cookie_chunks = 1", "session_too_large", "api:11"],
    )
    .await;
}

#[rocket::async_test]
async fn with_a_server_side_store_the_cookie_size_is_not_a_concern() {
    logs::capture();
    let provider = TestProvider::start().await;
    let mut table = provider.rp_provider_config();
    let scopes: Vec<String> = (0..40)
        .map(|i| format!("api:{i}"))
        .chain(["openid".to_string()])
        .collect();
    table["scopes"] = json!(scopes);
    let oidc = json!({
        "redirect_uri": REDIRECT_URI,
        "session": { "store": "memory", "max_cookie_chunks": 1 },
        "providers": { "roomy": table },
    });
    let _client = rocket::local::asynchronous::Client::untracked(rp_with_figment(figment(oidc), vec![]))
        .await
        .expect("launches");
    // Its other warning (scopes it does not advertise) comes; none about cookies.
    doctor_says("roomy", &["scope `api:0`"]).await;
    rocket::tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = logs::crate_lines();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("provider `roomy`") && l.contains("Cookie")),
        "{lines:#?}"
    );
}

#[rocket::async_test]
async fn a_pushed_authorization_mismatch_is_said_at_launch() {
    logs::capture();
    let mut required = meagre_metadata();
    required["require_pushed_authorization_requests"] = json!(true);
    required["pushed_authorization_request_endpoint"] = json!("http://127.0.0.1:9/par");
    let _never = launch(
        "never_par",
        json!({ "metadata": required, "client_id": "app", "client_secret": "s3cret", "pushed_authorization_requests": "never" }),
    )
    .await;
    doctor_says(
        "never_par",
        &["requires pushed authorization requests", "\"never\"", "502"],
    )
    .await;
    let _always = launch(
        "always_par",
        json!({ "metadata": meagre_metadata(), "client_id": "app", "client_secret": "s3cret", "pushed_authorization_requests": "always" }),
    )
    .await;
    doctor_says(
        "always_par",
        &["\"always\"", "pushed_authorization_request_endpoint", "502"],
    )
    .await;
}

/// A relying party in the `release` profile whose Rocket config is `rocket`
/// merged over Rocket's own defaults.
async fn launch_in_release(rocket: Value) -> rocket::local::asynchronous::Client {
    launch_in_release_with(rocket, rocket_openidconnect::Oidc::fairing()).await
}

/// [`launch_in_release`] with `fairing`.
async fn launch_in_release_with(
    rocket: Value,
    fairing: rocket_openidconnect::OidcFairing,
) -> rocket::local::asynchronous::Client {
    let oidc = json!({
        "redirect_uri": REDIRECT_URI,
        "providers": { "meagre": { "metadata": meagre_metadata(), "client_id": "app", "client_secret": "s3cret" } },
    });
    let figment = figment(oidc)
        .merge(rocket::figment::providers::Serialized::defaults(rocket))
        .select("release");
    rocket::local::asynchronous::Client::untracked(rocket::custom(figment).attach(fairing))
        .await
        .expect("a warning never fails a launch")
}

fn said_about_ip_header() -> bool {
    logs::crate_lines_of_this_thread()
        .iter()
        .any(|line| line.contains("`ip_header` is left at its default"))
}

/// The per-source share of `limits.provider_calls_per_second` is only as
/// good as the address it counts by: Rocket's default `X-Real-IP` lets a
/// client without a proxy in front name a new address with every request.
#[rocket::async_test]
async fn an_ip_header_left_at_rockets_default_is_said_in_release() {
    logs::capture();
    let _client = launch_in_release(json!({})).await;
    assert!(said_about_ip_header(), "{:#?}", logs::crate_lines_of_this_thread());
}

#[rocket::async_test]
async fn an_ip_header_the_operator_chose_is_not_said() {
    logs::capture();
    for chosen in [
        json!({ "ip_header": false }),
        json!({ "ip_header": "X-Forwarded-For" }),
        json!({ "ip_header": "X-Real-IP" }),
    ] {
        logs::forget();
        let _client = launch_in_release(chosen.clone()).await;
        assert!(
            !said_about_ip_header(),
            "{chosen}: {:#?}",
            logs::crate_lines_of_this_thread()
        );
    }
}

fn said_about_the_clock() -> bool {
    logs::crate_lines_of_this_thread()
        .iter()
        .any(|line| line.contains("runs on a clock of its own"))
}

/// Every expiry reads the app's clock: a test clock shipped to production
/// by mistake would keep expired sessions and tokens valid, so a release
/// launch on a clock of the app's own says so. The system's clock, the
/// default, is not said.
#[rocket::async_test]
async fn a_clock_of_the_apps_own_is_said_in_release() {
    logs::capture();
    let _client = launch_in_release(json!({})).await;
    assert!(!said_about_the_clock(), "{:#?}", logs::crate_lines_of_this_thread());
    logs::forget();
    let clock = rocket_openidconnect::testing::ManualClock::new();
    let _client = launch_in_release_with(json!({}), rocket_openidconnect::Oidc::fairing().with_clock(clock)).await;
    assert!(said_about_the_clock(), "{:#?}", logs::crate_lines_of_this_thread());
}
