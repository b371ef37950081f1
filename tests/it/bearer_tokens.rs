//! `BearerToken` with opaque access tokens (RFC 6750 requests, RFC 7662
//! introspection): statuses and challenges, what counts as active, the
//! introspection cache, and a provider that cannot answer.

use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::api::*;
use crate::support::provider::{CLIENT_ID, CLIENT_SECRET, SUBJECT, now, reserve_port};
use crate::support::*;

/// A provider and the API app with the default `bearer` table.
async fn setup() -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    let browser = api_browser(&provider, json!({})).await;
    (provider, browser)
}

// --- an active token ---------------------------------------------------

#[rocket::async_test]
async fn an_active_token_is_accepted_and_the_handler_sees_sub_client_id_scopes_and_claims() {
    let (provider, mut browser) = setup().await;
    let exp = now() + 600;
    let token = provider.opaque_token(json!({
        "scope": "read write profile",
        "exp": exp,
        "tenant": "acme",
    }));

    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let body = resp.json();
    assert_eq!(body["provider"], "default");
    assert_eq!(body["validation"], "Introspection");
    assert_eq!(body["sub"], SUBJECT);
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["scopes"], json!(["profile", "read", "write"]));
    assert_eq!(body["expires_at"], exp);
    assert_eq!(body["claims"]["tenant"], "acme", "the whole answer is exposed");
    assert_eq!(body["claims"]["active"], true);
    let claims_json: Value = serde_json::from_str(body["claims_json"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims_json, body["claims"],
        "claims_json is the same claims, as JSON text"
    );
    assert_eq!(body["token"], token.as_str());
    assert_eq!(browser.handler_runs(), 1);

    // RFC 7662 §2.1, authenticated like the token endpoint
    // (client_secret_basic by default).
    let requests = provider.introspection_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.param("token"), Some(token.as_str()));
    assert_eq!(request.param("token_type_hint"), Some("access_token"));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))).as_str())
    );
    assert_eq!(request.param("client_secret"), None);
    assert!(
        request
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded")),
        "{request:#?}"
    );
}

#[rocket::async_test]
async fn introspection_is_authenticated_with_client_secret_post_when_configured() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.client_auth = ClientAuth::Post);
    let mut config = bearer_config(&provider, json!({}));
    config["providers"]["default"]["token_endpoint_auth_method"] = json!("client_secret_post");
    let mut browser = Browser::new(api_app(config)).await;
    let token = provider.opaque_token(json!({}));

    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let request = &provider.introspection_requests()[0];
    assert_eq!(request.authorization, None);
    assert_eq!(request.param("client_id"), Some(CLIENT_ID));
    assert_eq!(request.param("client_secret"), Some(CLIENT_SECRET));
}

#[rocket::async_test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (provider, mut browser) = setup().await;
    let token = provider.opaque_token(json!({}));
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let resp = browser.authorization("/api", &[&format!("{scheme} {token}")]).await;
        assert_eq!(resp.status, Status::Ok, "scheme {scheme:?}: {resp:#?}");
    }
}

#[rocket::async_test]
async fn several_spaces_after_the_scheme_are_allowed() {
    // RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
    let (provider, mut browser) = setup().await;
    let token = provider.opaque_token(json!({}));
    let resp = browser.authorization("/api", &[&format!("Bearer   {token}")]).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["token"], token.as_str());
}

#[rocket::async_test]
async fn an_answer_without_aud_is_refused_unless_require_audience_is_false() {
    let (provider, mut browser) = setup().await;
    for answer in [
        json!({ "active": true }),
        provider.active_answer(json!({ "aud": null })),
    ] {
        let token = provider.token_answering(answer.clone());
        let resp = browser.bearer("/api", &token).await;
        assert_invalid_token(&resp);
        assert!(
            resp.json()["error_description"].as_str().unwrap().contains("audience"),
            "{answer}: {resp:#?}"
        );
    }
}

#[rocket::async_test]
async fn with_require_audience_false_an_answer_without_aud_and_scope_is_accepted_with_no_scopes() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({ "require_audience": false })).await;
    let token = provider.opaque_token(json!({ "aud": null, "scope": null }));

    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["scopes"], json!([]));

    let resp = browser.bearer("/api/write", &token).await;
    assert_bearer_error(&resp, Status::Forbidden, "insufficient_scope");

    // A minimal answer of only `active: true`.
    let token = provider.token_answering(json!({ "active": true }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let body = resp.json();
    assert_eq!(body["sub"], Value::Null);
    assert_eq!(body["client_id"], Value::Null);
    assert_eq!(body["expires_at"], Value::Null);

    // An `aud` that is there is still checked.
    let token = provider.opaque_token(json!({ "aud": "other-api" }));
    assert_invalid_token(&browser.bearer("/api", &token).await);
}

#[rocket::async_test]
async fn answers_saying_the_token_is_not_an_access_token_are_refused() {
    let (provider, mut browser) = setup().await;
    for overrides in [
        json!({ "token_type": "refresh_token" }),
        json!({ "token_type": "urn:ietf:params:oauth:token-type:id_token" }),
        json!({ "typ": "ID" }),
        json!({ "typ": "Refresh" }),
        json!({ "typ": "Offline" }),
        json!({ "token_use": "id" }),
    ] {
        let token = provider.opaque_token(overrides.clone());
        let resp = browser.bearer("/api", &token).await;
        assert_invalid_token(&resp);
        assert!(
            resp.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("not an access token"),
            "{overrides}: {resp:#?}"
        );
    }
    // Keycloak's access tokens say `typ: Bearer`, Cognito's `token_use: access`.
    for overrides in [json!({ "typ": "Bearer" }), json!({ "token_use": "access" })] {
        let token = provider.opaque_token(overrides.clone());
        assert_eq!(browser.bearer("/api", &token).await.status, Status::Ok, "{overrides}");
    }
}

#[rocket::async_test]
async fn an_exp_within_the_clock_skew_is_still_accepted() {
    // clock_skew_seconds = 60 in the test configuration.
    let (provider, mut browser) = setup().await;
    let token = provider.opaque_token(json!({ "exp": now() - 10 }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn one_accepted_audience_in_an_aud_list_is_enough() {
    let (provider, mut browser) = setup().await;
    let token = provider.opaque_token(json!({ "aud": ["other-api", CLIENT_ID] }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn configured_audiences_replace_the_client_id() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({ "audiences": ["https://api.example/"] })).await;

    let for_api = provider.opaque_token(json!({ "aud": "https://api.example/" }));
    let resp = browser.bearer("/api", &for_api).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    let for_client = provider.opaque_token(json!({ "aud": CLIENT_ID }));
    let resp = browser.bearer("/api", &for_client).await;
    assert_invalid_token(&resp);
}

// --- no token, a malformed request ------------------------------------

#[rocket::async_test]
async fn no_authorization_header_is_401_with_a_bare_bearer_challenge() {
    let (provider, mut browser) = setup().await;
    for mode in [Mode::Api, Mode::Navigate] {
        let resp = browser.get("/api", mode).await;
        assert_eq!(resp.status, Status::Unauthorized, "{mode:?}: {resp:#?}");
        // With `bearer.dpop = "allowed"` (the default), a DPoP challenge
        // too (RFC 9449 §7.1); neither has an error attribute.
        assert_eq!(
            resp.headers_named("WWW-Authenticate"),
            vec![
                r#"Bearer realm="default""#,
                r#"DPoP algs="ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA""#
            ],
            "RFC 6750 §3.1: no error attribute without authentication information"
        );
        assert_eq!(
            resp.header("Location"),
            None,
            "a bearer guard never redirects to a login"
        );
        assert!(browser.jar.is_empty(), "no login state: {:?}", browser.jar);
        if mode == Mode::Api {
            assert_error(&resp, Status::Unauthorized, "missing_token");
        }
    }
    assert_eq!(provider.counts().introspection, 0);
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn a_malformed_authorization_header_is_400_invalid_request() {
    let (provider, mut browser) = setup().await;
    let token = provider.opaque_token(json!({}));
    let cases = [
        "Bearer".to_string(),
        "Bearer ".to_string(),
        "Bearertoken".to_string(),
        format!("Basic {}", STANDARD.encode("rp:rp-secret")),
        format!("Token {token}"),
        format!("Bearer {token} extra"),
        format!("Bearer {token}\""),
        "Bearer a\"b".to_string(),
        "Bearer a,b".to_string(),
        "Bearer ==".to_string(),
    ];
    for value in &cases {
        let resp = browser.authorization("/api", &[value]).await;
        assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
        assert_eq!(
            challenge(&resp).names(),
            ["realm", "error", "error_description"],
            "{value:?}: {resp:#?}"
        );
    }
    assert_eq!(
        provider.counts().introspection,
        0,
        "a malformed request is refused before asking the provider"
    );
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn two_authorization_headers_are_400_even_when_both_carry_valid_tokens() {
    let (provider, mut browser) = setup().await;
    let first = provider.opaque_token(json!({}));
    let second = provider.opaque_token(json!({}));
    let resp = browser
        .authorization("/api", &[&format!("Bearer {first}"), &format!("Bearer {second}")])
        .await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    let resp = browser
        .authorization("/api", &[&format!("Bearer {first}"), &format!("Bearer {first}")])
        .await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn an_access_token_query_parameter_is_400_invalid_request() {
    let (provider, mut browser) = setup().await;
    let token = provider.opaque_token(json!({}));

    // Alone (RFC 6750 §2.3 is not supported: URLs leak into logs)...
    let resp = browser.api(&format!("/api?access_token={token}")).await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    // ...or with the header (§2: one method per request).
    let resp = browser.bearer(&format!("/api?access_token={token}"), &token).await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    let resp = browser.bearer("/api?access_token=", &token).await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    // Percent-encoding the name does not hide it.
    let resp = browser.api(&format!("/api?access%5Ftoken={token}")).await;
    assert_bearer_error(&resp, Status::BadRequest, "invalid_request");
    assert_eq!(provider.counts().introspection, 0);
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn challenges_never_carry_quotes_or_control_characters_taken_from_the_token() {
    let (provider, mut browser) = setup().await;
    let nasty = [
        "evil\"token",
        "evil\\token",
        "evil\u{1}token",
        "evil\ttoken",
        "evil\u{7f}token",
        "evil\"realm=\"x",
        "evil\", error=\"none",
        "evil\u{e9}token",
    ];
    for token in nasty {
        let resp = browser.bearer("/api", token).await;
        assert_eq!(resp.status, Status::BadRequest, "{token:?}: {resp:#?}");
        for value in resp.headers_named("WWW-Authenticate") {
            assert!(
                value.chars().all(|c| (' '..='~').contains(&c)),
                "control or non-ASCII characters in {value:?}"
            );
            assert!(!value.contains("evil"), "the token leaked into {value:?}");
            let parsed = Challenge::parse(value);
            assert_eq!(parsed.names(), ["realm", "error", "error_description"], "{value:?}");
            assert_eq!(parsed.param("realm"), Some("default"));
        }
        assert!(!resp.body.contains("evil"), "the token leaked into the body: {resp:#?}");
    }
    assert_eq!(provider.counts().introspection, 0);
}

// --- refused tokens ----------------------------------------------------

/// Asserts that `answer` from the introspection endpoint makes the token
/// `401 invalid_token` and that no handler runs.
async fn assert_refused(answer: Value) {
    let (provider, mut browser) = setup().await;
    let token = provider.token_answering(answer.clone());
    let resp = browser.bearer("/api", &token).await;
    assert_invalid_token(&resp);
    assert_eq!(
        challenge(&resp).names(),
        ["realm", "error", "error_description"],
        "{resp:#?}"
    );
    assert!(
        !resp.body.contains(&token) && !resp.headers.iter().any(|(_, v)| v.contains(&token)),
        "the token is never echoed: {resp:#?}"
    );
    assert_eq!(
        provider.counts().introspection,
        1,
        "the provider was asked about {answer}"
    );
    assert_eq!(browser.handler_runs(), 0, "the handler never runs for {answer}");
}

/// The default active answer with `overrides`.
fn active(overrides: Value) -> Value {
    let now = now();
    let mut answer = json!({
        "active": true,
        "sub": SUBJECT,
        "client_id": CLIENT_ID,
        "scope": "read write",
        "aud": CLIENT_ID,
        "exp": now + 600,
        "iat": now,
    });
    crate::support::provider::merge(&mut answer, overrides.as_object().unwrap());
    answer
}

#[rocket::async_test]
async fn an_unknown_token_is_401_invalid_token() {
    let (provider, mut browser) = setup().await;
    let resp = browser.bearer("/api", "never-issued").await;
    assert_invalid_token(&resp);
    assert_eq!(provider.counts().introspection, 1);
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn an_inactive_token_with_a_stray_sub_is_401_and_the_handler_never_runs() {
    // RFC 7662 §2.2: with `active: false` nothing else in the answer counts.
    assert_refused(json!({
        "active": false,
        "sub": SUBJECT,
        "client_id": CLIENT_ID,
        "scope": "read write",
        "exp": now() + 600,
    }))
    .await;
}

#[rocket::async_test]
async fn active_as_the_string_true_is_not_active() {
    assert_refused(active(json!({ "active": "true" }))).await;
}

#[rocket::async_test]
async fn an_answer_without_active_is_not_active() {
    assert_refused(active(json!({ "active": null }))).await;
}

#[rocket::async_test]
async fn active_as_a_number_or_object_is_not_active() {
    assert_refused(active(json!({ "active": 1 }))).await;
    assert_refused(active(json!({ "active": { "value": true } }))).await;
    assert_refused(active(json!({ "active": [true] }))).await;
}

#[rocket::async_test]
async fn an_active_token_whose_exp_passed_beyond_the_clock_skew_is_401() {
    assert_refused(active(json!({ "exp": now() - 120 }))).await;
}

#[rocket::async_test]
async fn an_active_token_not_valid_before_a_future_nbf_is_401() {
    assert_refused(active(json!({ "nbf": now() + 600 }))).await;
}

#[rocket::async_test]
async fn an_active_token_for_another_audience_is_401() {
    assert_refused(active(json!({ "aud": "other-api" }))).await;
    assert_refused(active(json!({ "aud": ["other-api", "third-api"] }))).await;
    // Audiences are compared exactly.
    assert_refused(active(json!({ "aud": "RP" }))).await;
    assert_refused(active(json!({ "aud": [] }))).await;
}

#[rocket::async_test]
async fn an_active_token_from_another_issuer_is_401() {
    assert_refused(active(json!({ "iss": "http://evil.example" }))).await;
}

#[rocket::async_test]
async fn an_answer_with_a_non_numeric_exp_is_401() {
    assert_refused(active(json!({ "exp": "tomorrow" }))).await;
}

/// An active answer that names nobody (`"sub": ""`, an empty `client_id`
/// or `jti`) says nothing about who calls: refused, never a handler run
/// with an empty subject that every such token would share.
#[rocket::async_test]
async fn an_active_answer_whose_subject_or_client_is_empty_is_401() {
    assert_refused(active(json!({ "sub": "" }))).await;
    assert_refused(active(json!({ "sub": "  " }))).await;
    assert_refused(active(json!({ "client_id": "" }))).await;
    assert_refused(active(json!({ "jti": "" }))).await;
    assert_refused(active(json!({ "aud": [CLIENT_ID, ""] }))).await;
}

/// RFC 8705 §3.2: a token bound to a TLS client certificate
/// (`cnf.x5t#S256`) is usable only over a connection with that
/// certificate, which this API cannot check. Accepting it as a plain
/// bearer token would let anyone holding it use it: refused, like any
/// `cnf` that is not one DPoP key.
#[rocket::async_test]
async fn a_token_bound_to_what_this_api_cannot_check_is_not_a_bearer_token() {
    for cnf in [
        json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }),
        json!({ "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }),
        json!({ "jwk": { "kty": "EC", "crv": "P-256", "x": "a", "y": "b" } }),
        json!({ "jkt": 7 }),
        json!({}),
        json!("bound"),
    ] {
        assert_refused(active(json!({ "cnf": cnf }))).await;
    }
}

// --- scopes ------------------------------------------------------------

#[rocket::async_test]
async fn a_missing_scope_is_403_insufficient_scope_naming_every_required_scope() {
    let (provider, mut browser) = setup().await;
    let read_only = provider.opaque_token(json!({ "scope": "read" }));

    let resp = browser.bearer("/api/write", &read_only).await;
    assert_bearer_error(&resp, Status::Forbidden, "insufficient_scope");
    let challenge = challenge(&resp);
    assert_eq!(challenge.names(), ["realm", "error", "error_description", "scope"]);
    assert_eq!(challenge.param("scope"), Some("read write"));
    assert_eq!(browser.handler_runs(), 0);

    // The same token is fine where no scope is required.
    let resp = browser.bearer("/api", &read_only).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    let both = provider.opaque_token(json!({ "scope": "write openid read" }));
    let resp = browser.bearer("/api/write", &both).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn scopes_are_whole_words() {
    let (provider, mut browser) = setup().await;
    for scope in ["readwrite", "reader writer", "read,write", "READ WRITE"] {
        let token = provider.opaque_token(json!({ "scope": scope }));
        let resp = browser.bearer("/api/write", &token).await;
        assert_bearer_error(&resp, Status::Forbidden, "insufficient_scope");
    }
}

// --- the introspection cache -------------------------------------------

#[rocket::async_test]
async fn a_cache_hit_avoids_a_second_introspection_call() {
    let (provider, mut browser) = setup().await;
    let token = provider.opaque_token(json!({}));
    for _ in 0..2 {
        let resp = browser.bearer("/api", &token).await;
        assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    }
    assert_eq!(provider.counts().introspection, 1);

    // Another token is another question.
    let other = provider.opaque_token(json!({}));
    let resp = browser.bearer("/api", &other).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(provider.counts().introspection, 2);
}

#[rocket::async_test]
async fn introspection_cache_seconds_zero_asks_the_provider_every_time() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({ "introspection_cache_seconds": 0 })).await;
    let token = provider.opaque_token(json!({}));
    for _ in 0..3 {
        let resp = browser.bearer("/api", &token).await;
        assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    }
    assert_eq!(provider.counts().introspection, 3);

    // Inactive answers are not kept either.
    let unknown = "not-yet-known";
    for _ in 0..2 {
        assert_invalid_token(&browser.bearer("/api", unknown).await);
    }
    assert_eq!(provider.counts().introspection, 5);
}

#[rocket::async_test]
async fn a_revoked_token_is_refused_once_introspection_cache_seconds_have_passed() {
    let provider = TestProvider::start().await;
    let clock = ManualClock::new();
    let mut browser = api_browser_on(&clock, &provider, json!({ "introspection_cache_seconds": 1 })).await;
    let token = provider.opaque_token(json!({}));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    provider.answer_introspection(&token, json!({ "active": false }));
    clock.advance(Duration::from_millis(1300));
    let resp = browser.bearer("/api", &token).await;
    assert_invalid_token(&resp);
    assert_eq!(provider.counts().introspection, 2);
}

#[rocket::async_test]
async fn a_cached_answer_is_not_used_past_the_tokens_exp() {
    let provider = TestProvider::start().await;
    let mut config = bearer_config(&provider, json!({ "introspection_cache_seconds": 600 }));
    config["clock_skew_seconds"] = json!(0);
    let clock = ManualClock::new();
    let mut browser = Browser::new(api_app_on(&clock, config)).await;
    // The provider keeps saying "active" with the old `exp`, as a stale
    // introspection answer would. 3 s ahead of the app's clock.
    let app_now = rocket_openidconnect::clock::Clock::now(&clock);
    let exp = app_now.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64 + 3;
    let token = provider.opaque_token(json!({ "exp": exp }));

    for _ in 0..2 {
        let resp = browser.bearer("/api", &token).await;
        assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    }
    assert_eq!(provider.counts().introspection, 1, "the second request is a cache hit");

    clock.advance(Duration::from_millis(4200));
    let resp = browser.bearer("/api", &token).await;
    assert_invalid_token(&resp);
}

#[rocket::async_test]
async fn a_cached_answer_is_not_used_even_a_fraction_of_a_second_past_exp() {
    // With clock_skew_seconds = 0 a token is expired from the instant of its
    // `exp`; a cached answer must not outlive that instant either.
    let provider = TestProvider::start().await;
    let mut config = bearer_config(&provider, json!({ "introspection_cache_seconds": 600 }));
    config["clock_skew_seconds"] = json!(0);
    // Introspect late in a wall-clock second, so that a cache lifetime
    // computed from whole seconds would end well after `exp`.
    // A second ahead of the provider's, so nothing it stamps is in the app's future.
    let second = now() as u64 + 1;
    let clock = ManualClock::starting_at(UNIX_EPOCH + Duration::from_millis(second * 1000 + 600));
    let mut browser = Browser::new(api_app_on(&clock, config)).await;
    let exp = second + 2;
    let token = provider.opaque_token(json!({ "exp": exp }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    clock.advance(Duration::from_millis(2000 - 600 + 200));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(
        resp.status,
        Status::Unauthorized,
        "200 milliseconds after `exp` (skew 0) the token must be refused, cached or not \
         (introspection calls: {}): {resp:#?}",
        provider.counts().introspection
    );
}

#[rocket::async_test]
async fn an_inactive_answer_is_remembered_at_most_five_seconds() {
    let provider = TestProvider::start().await;
    let clock = ManualClock::new();
    let mut browser = api_browser_on(&clock, &provider, json!({})).await;
    let token = "issued-a-moment-later";
    assert_invalid_token(&browser.bearer("/api", token).await);

    // The provider learns about the token (e.g. a replica caught up).
    provider.answer_introspection(token, provider.active_answer(json!({})));
    clock.advance(Duration::from_millis(5300));
    let resp = browser.bearer("/api", token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn fifty_concurrent_requests_with_one_new_token_make_one_introspection_call() {
    let (provider, browser) = setup().await;
    provider.behave(|b| b.introspection_failure = Some(TokenFailure::Delay(Duration::from_millis(400))));
    let token = provider.opaque_token(json!({}));

    let statuses = concurrent_bearer_requests(&browser.client, "/api", &token, 50).await;
    assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
    assert_eq!(
        provider.counts().introspection,
        1,
        "concurrent requests with the same uncached token share one introspection call"
    );
    assert_eq!(browser.handler_runs(), 50);

    // The same holds for a token the provider refuses.
    let statuses = concurrent_bearer_requests(&browser.client, "/api", "unknown-token", 50).await;
    assert!(statuses.iter().all(|s| *s == Status::Unauthorized), "{statuses:?}");
    assert_eq!(provider.counts().introspection, 2);

    // Control: the requests above really overlapped. Ten different new
    // tokens at once are ten calls that take about one delay, not ten (nor
    // does the library ask about different tokens one at a time).
    let tokens: Vec<String> = (0..10).map(|_| provider.opaque_token(json!({}))).collect();
    let started = Instant::now();
    let statuses = concurrent_requests_with_tokens(&browser.client, "/api", &tokens).await;
    assert!(statuses.iter().all(|s| *s == Status::Ok), "{statuses:?}");
    assert_eq!(provider.counts().introspection, 12);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "ten 400 ms introspections in {:?}: they did not run concurrently",
        started.elapsed()
    );
}

// --- a provider that cannot answer ------------------------------------

/// Asserts `503 temporarily_unavailable` (never 200) and that no handler ran.
#[track_caller]
fn assert_unavailable(resp: &Resp, browser: &Browser) {
    assert_ne!(resp.status, Status::Ok, "never 200 without a positive check");
    assert_error(resp, Status::ServiceUnavailable, "temporarily_unavailable");
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn an_unreachable_introspection_endpoint_is_503() {
    let (provider, mut browser) = setup().await;
    let dead = format!("http://127.0.0.1:{}/introspect", reserve_port());
    provider.behave(|b| {
        b.discovery.insert("introspection_endpoint".into(), json!(dead));
    });
    let token = provider.opaque_token(json!({}));
    let resp = browser.bearer("/api", &token).await;
    assert_unavailable(&resp, &browser);
}

#[rocket::async_test]
async fn an_unreachable_provider_is_503_not_502() {
    let issuer = format!("http://127.0.0.1:{}", reserve_port());
    let mut browser = Browser::new(api_app(oidc_config_for_issuer(&issuer))).await;
    let resp = browser.bearer("/api", "some-token").await;
    assert_unavailable(&resp, &browser);
}

#[rocket::async_test]
async fn a_provider_without_an_introspection_endpoint_is_503_for_opaque_tokens() {
    let (provider, mut browser) = setup().await;
    provider.behave(|b| {
        b.discovery.insert("introspection_endpoint".into(), Value::Null);
    });
    let token = provider.opaque_token(json!({}));
    let resp = browser.bearer("/api", &token).await;
    assert_unavailable(&resp, &browser);
}

#[rocket::async_test]
async fn introspection_failures_are_503_and_are_not_cached() {
    let failures = [
        TokenFailure::ServerError,
        TokenFailure::Garbage,
        TokenFailure::oauth(401, "invalid_client"),
        TokenFailure::oauth(400, "invalid_request"),
    ];
    for failure in failures {
        let (provider, mut browser) = setup().await;
        let token = provider.opaque_token(json!({}));
        provider.behave(|b| b.introspection_failure = Some(failure.clone()));
        let resp = browser.bearer("/api", &token).await;
        assert_unavailable(&resp, &browser);

        // The provider recovers: the failure was not remembered.
        provider.behave(|b| b.introspection_failure = None);
        let resp = browser.bearer("/api", &token).await;
        assert_eq!(resp.status, Status::Ok, "after {failure:?}: {resp:#?}");
        assert_eq!(provider.counts().introspection, 2, "{failure:?}");
    }
}

#[rocket::async_test]
async fn an_introspection_answer_that_is_not_a_json_object_is_503() {
    for answer in [json!([{ "active": true }]), json!(true), json!("active"), Value::Null] {
        let (provider, mut browser) = setup().await;
        let token = provider.token_answering(answer.clone());
        let resp = browser.bearer("/api", &token).await;
        assert_unavailable(&resp, &browser);
    }
}

#[rocket::async_test]
async fn a_slow_introspection_endpoint_times_out_into_503() {
    let provider = TestProvider::start().await;
    let mut config = bearer_config(&provider, json!({}));
    config["http_timeout_seconds"] = json!(1);
    let mut browser = Browser::new(api_app(config)).await;
    let token = provider.opaque_token(json!({}));
    provider.behave(|b| b.introspection_failure = Some(TokenFailure::Delay(Duration::from_secs(3))));

    let started = Instant::now();
    let resp = browser.bearer("/api", &token).await;
    assert_unavailable(&resp, &browser);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "gave up after http_timeout_seconds, not after the provider's answer ({:?})",
        started.elapsed()
    );
}

// --- providers and catchers -------------------------------------------

#[rocket::async_test]
async fn the_realm_names_the_provider_and_a_token_of_another_provider_is_refused() {
    let first = TestProvider::start().await;
    let second = TestProvider::start().await;
    let config = oidc_config_with_second(&first, &second);
    let mut routes = api_routes();
    routes.extend(rocket::routes![api_second]);
    let mut browser = Browser::new(api_app_with_routes(config, routes)).await;

    let resp = browser.api("/api/second").await;
    assert_eq!(resp.headers_named("WWW-Authenticate")[0], r#"Bearer realm="second""#);

    let token_of_first = first.opaque_token(json!({}));
    let resp = browser.bearer("/api/second", &token_of_first).await;
    assert_error(&resp, Status::Unauthorized, "invalid_token");
    assert_eq!(challenge(&resp).param("realm"), Some("second"));
    assert_eq!(second.counts().introspection, 1, "asked the guard's provider");
    assert_eq!(first.counts().introspection, 0);

    let token_of_second = second.opaque_token(json!({}));
    let resp = browser.bearer("/api/second", &token_of_second).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["provider"], "second");
}

#[rocket::catch(401)]
fn own_401() -> &'static str {
    "the app's own 401 page"
}

#[rocket::async_test]
async fn the_challenge_is_sent_whichever_catcher_renders_the_401() {
    let provider = TestProvider::start().await;
    let app = api_app(bearer_config(&provider, json!({}))).register("/", rocket::catchers![own_401]);
    let mut browser = Browser::new(app).await;

    let resp = browser.api("/api").await;
    assert_eq!(resp.status, Status::Unauthorized);
    assert_eq!(resp.body, "the app's own 401 page");
    assert_eq!(
        resp.headers_named("WWW-Authenticate"),
        vec![
            r#"Bearer realm="default""#,
            r#"DPoP algs="ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA""#
        ]
    );

    let resp = browser.bearer("/api", "unknown").await;
    assert_eq!(resp.status, Status::Unauthorized);
    assert_eq!(challenge(&resp).param("error"), Some("invalid_token"));
}

// --- floods ----------------------------------------------------------------

/// An unsigned token shaped like a JWT with these claims.
fn jwt_shaped(claims: Value) -> String {
    let b64 = |v: &Value| crate::support::jwt::b64(v.to_string().as_bytes());
    format!(
        "{}.{}.c2ln",
        b64(&json!({ "alg": "RS256", "typ": "JWT" })),
        b64(&claims)
    )
}

#[rocket::async_test]
async fn a_jwt_shaped_token_from_another_issuer_or_expired_costs_no_provider_call() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({ "mode": "introspection" })).await;
    for claims in [
        json!({ "iss": "https://evil.example", "exp": now() + 600 }),
        json!({ "iss": 42 }),
        json!({ "iss": provider.issuer, "exp": now() - 3600 }),
        json!({ "exp": now() - 3600 }),
    ] {
        let resp = browser.bearer("/api", &jwt_shaped(claims.clone())).await;
        assert_invalid_token(&resp);
    }
    assert_eq!(provider.counts().introspection, 0, "refused locally");
    // A JWT-shaped token whose claims do not disqualify it is asked about.
    let resp = browser
        .bearer(
            "/api",
            &jwt_shaped(json!({ "iss": provider.issuer, "exp": now() + 600 })),
        )
        .await;
    assert_invalid_token(&resp);
    assert_eq!(provider.counts().introspection, 1);
}

#[rocket::async_test]
async fn a_flood_of_bad_tokens_never_pushes_a_valid_one_out_of_the_cache() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({ "cache_entries": 4 })).await;
    let valid = provider.opaque_token(json!({}));
    assert_eq!(browser.bearer("/api", &valid).await.status, Status::Ok);
    for n in 0..20 {
        assert_invalid_token(&browser.bearer("/api", &format!("junk-{n}")).await);
    }
    let before = provider.counts().introspection;
    assert_eq!(before, 21);
    assert_eq!(browser.bearer("/api", &valid).await.status, Status::Ok);
    assert_eq!(
        provider.counts().introspection,
        before,
        "the valid token is still cached"
    );
}

#[rocket::async_test]
async fn the_least_recently_used_valid_token_makes_room() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({ "cache_entries": 2 })).await;
    let [a, b, c] = [(); 3].map(|_| provider.opaque_token(json!({})));
    for token in [&a, &b, &a, &c] {
        assert_eq!(browser.bearer("/api", token).await.status, Status::Ok);
    }
    assert_eq!(provider.counts().introspection, 3, "a, b, c");
    assert_eq!(browser.bearer("/api", &a).await.status, Status::Ok);
    assert_eq!(provider.counts().introspection, 3, "a was used recently: still cached");
    assert_eq!(browser.bearer("/api", &b).await.status, Status::Ok);
    assert_eq!(provider.counts().introspection, 4, "b made room for c");
}
