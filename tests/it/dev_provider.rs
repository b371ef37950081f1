//! The test issuer as a development provider for a person
//! (`cargo run --example dev_provider`): its login page, refusal,
//! `prompt=none`, RP-initiated logout and sessions page, over HTTP. The
//! whole journey with an app in a real browser is `tests/e2e/pages.test.mjs`.

use std::collections::HashMap;

use rocket_openidconnect::testing::TestIssuer;

const REDIRECT_URI: &str = "http://127.0.0.1:8000/redirect_uri";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

fn authorization_params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("client_id", "demo"),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "the-state"),
        ("nonce", "the-nonce"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    params
}

/// The query of a redirect's `Location`.
fn location_query(response: &reqwest::Response) -> (String, HashMap<String, String>) {
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let url = url::Url::parse(&location).expect("an absolute location");
    let query = url.query_pairs().into_owned().collect();
    (location, query)
}

/// The authorization endpoint's page (or answer, with `prompt=none`),
/// for a browser with the issuer's login `cookie`, if any.
async fn get_authorize(issuer: &TestIssuer, params: &[(String, String)], cookie: Option<&str>) -> reqwest::Response {
    let mut request = http().get(format!("{}/authorize", issuer.url())).query(params);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    request.send().await.expect("the authorization endpoint answers")
}

/// The login page's form, submitted with `params`.
async fn post_authorize(issuer: &TestIssuer, params: &[(String, String)]) -> reqwest::Response {
    http()
        .post(format!("{}/authorize", issuer.url()))
        .form(params)
        .send()
        .await
        .expect("the authorization endpoint answers")
}

async fn issuer() -> TestIssuer {
    TestIssuer::builder()
        .client("demo", "demo-secret")
        .start()
        .await
        .expect("issuer")
}

#[rocket::async_test]
async fn the_login_page_offers_a_user_and_claims_to_pick_and_keeps_the_request() {
    let issuer = issuer().await;
    let page = get_authorize(&issuer, &authorization_params(&[]), None).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    for expected in [
        "name=\"login_subject\"",
        "name=\"login_claims\"",
        "value=\"approve\"",
        "value=\"deny\"",
        "name=\"state\" value=\"the-state\"",
        "<code>demo</code>",
    ] {
        assert!(html.contains(expected), "{expected} in {html}");
    }
}

#[rocket::async_test]
async fn approving_returns_a_code_to_the_client_and_refusing_returns_access_denied() {
    let issuer = issuer().await;
    let approve = authorization_params(&[
        ("login_decision", "approve"),
        ("login_subject", "carol"),
        ("login_claims", "{\"groups\":[\"staff\"]}"),
    ]);
    let answer = post_authorize(&issuer, &approve).await;
    assert_eq!(answer.status(), 303);
    assert!(
        answer.headers().get("set-cookie").is_some(),
        "the browser is now logged in at the issuer"
    );
    let (location, query) = location_query(&answer);
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert!(query.get("code").is_some_and(|code| code.len() > 20), "{location}");
    assert_eq!(query.get("state").map(String::as_str), Some("the-state"));
    assert_eq!(query.get("iss").map(String::as_str), Some(issuer.url()), "RFC 9207");

    let refuse = authorization_params(&[("login_decision", "deny"), ("login_subject", "carol")]);
    let answer = post_authorize(&issuer, &refuse).await;
    let (location, query) = location_query(&answer);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("access_denied"),
        "{location}"
    );
    assert!(!query.contains_key("code"));

    let bad_claims = authorization_params(&[
        ("login_decision", "approve"),
        ("login_subject", "carol"),
        ("login_claims", "[1"),
    ]);
    let answer = post_authorize(&issuer, &bad_claims).await;
    assert_eq!(
        answer.status(),
        400,
        "claims that are not a JSON object are named, not ignored"
    );
}

#[rocket::async_test]
async fn prompt_none_answers_from_the_issuers_own_login_or_login_required() {
    let issuer = issuer().await;
    let silent = authorization_params(&[("prompt", "none")]);
    let answer = get_authorize(&issuer, &silent, None).await;
    let (location, query) = location_query(&answer);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("login_required"),
        "{location}"
    );

    let approve = authorization_params(&[("login_decision", "approve"), ("login_subject", "dave")]);
    let login = post_authorize(&issuer, &approve).await;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the issuer's login cookie")
        .to_string();
    let answer = get_authorize(&issuer, &silent, Some(&cookie)).await;
    let (location, query) = location_query(&answer);
    assert!(
        query.contains_key("code"),
        "a logged-in browser gets a code without a page: {location}"
    );

    // RP-initiated logout ends that login; prompt=none then needs a login again.
    let logout = http()
        .get(format!("{}/logout", issuer.url()))
        .query(&[
            ("post_logout_redirect_uri", "http://127.0.0.1:8000/logged_out"),
            ("state", "s2"),
        ])
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 303);
    let (location, _) = location_query(&logout);
    assert_eq!(location, "http://127.0.0.1:8000/logged_out?state=s2");
    let answer = get_authorize(&issuer, &silent, Some(&cookie)).await;
    let (_, query) = location_query(&answer);
    assert_eq!(query.get("error").map(String::as_str), Some("login_required"));
}

#[rocket::async_test]
async fn a_logout_returns_only_to_the_origin_of_a_client_and_the_sessions_page_lists_logins() {
    let issuer = issuer().await;
    let approve = authorization_params(&[("login_decision", "approve"), ("login_subject", "erin")]);
    post_authorize(&issuer, &approve).await;

    let open_redirect = http()
        .get(format!("{}/logout", issuer.url()))
        .query(&[("post_logout_redirect_uri", "https://evil.example/")])
        .send()
        .await
        .expect("logout");
    assert_eq!(open_redirect.status(), 400, "no open redirect");
    assert!(open_redirect.headers().get("location").is_none());

    let sessions = http()
        .get(format!("{}/sessions", issuer.url()))
        .send()
        .await
        .expect("sessions")
        .text()
        .await
        .expect("html");
    assert!(sessions.contains("<td>erin</td>"), "{sessions}");
    assert!(sessions.contains("Back-channel logout"), "{sessions}");
}
