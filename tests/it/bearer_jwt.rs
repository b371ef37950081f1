//! `BearerToken` with RFC 9068 JWT access tokens: validated locally with the
//! provider's keys, never by a MAC or without a signature, never confused
//! with an ID token; and `bearer.mode` deciding which way a token goes.

use rocket::http::Status;
use serde_json::{Map, Value, json};

use crate::support::api::*;
use crate::support::jwt::Key;
use crate::support::provider::{AccessTokenJwt, CLIENT_ID, SUBJECT, now, reserve_port};
use crate::support::*;

async fn setup(bearer: Value) -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    let browser = api_browser(&provider, bearer).await;
    (provider, browser)
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().expect("a JSON object").clone()
}

/// A token with these claim overrides.
fn with_claims(claims: Value) -> AccessTokenJwt {
    AccessTokenJwt {
        claims: object(claims),
        ..AccessTokenJwt::default()
    }
}

/// A token with these header overrides.
fn with_header(header: Value) -> AccessTokenJwt {
    AccessTokenJwt {
        header: object(header),
        ..AccessTokenJwt::default()
    }
}

fn signed(signing: Signing) -> AccessTokenJwt {
    AccessTokenJwt {
        signing,
        ..AccessTokenJwt::default()
    }
}

/// Asserts that `token` is `401 invalid_token` in the default (`auto`) mode,
/// decided locally: no introspection call, no handler run.
async fn assert_refused_locally(spec: AccessTokenJwt) {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt_with(spec.clone());
    let resp = browser.bearer("/api", &token).await;
    assert_invalid_token(&resp);
    assert_eq!(
        provider.counts().introspection,
        0,
        "an at+jwt is judged locally: {spec:?}"
    );
    assert_eq!(browser.handler_runs(), 0, "{spec:?}");
}

// --- accepted ------------------------------------------------------------

#[rocket::async_test]
async fn a_valid_at_jwt_is_accepted_locally_without_any_introspection_call() {
    let (provider, mut browser) = setup(json!({})).await;
    let exp = now() + 600;
    let token = provider.at_jwt(json!({ "exp": exp, "scope": "read write", "tenant": "acme" }));

    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let body = resp.json();
    assert_eq!(body["validation"], "Jwt");
    assert_eq!(body["provider"], "default");
    assert_eq!(body["sub"], SUBJECT);
    assert_eq!(body["client_id"], CLIENT_ID);
    assert_eq!(body["scopes"], json!(["read", "write"]));
    assert_eq!(body["expires_at"], exp);
    assert_eq!(body["claims"]["tenant"], "acme");
    let claims_json: Value = serde_json::from_str(body["claims_json"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims_json, body["claims"],
        "claims_json is the same claims, as JSON text"
    );

    let resp = browser.bearer("/api/write", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(provider.counts().introspection, 0);
    assert_eq!(browser.handler_runs(), 2);
}

#[rocket::async_test]
async fn the_media_type_form_of_the_typ_is_accepted() {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt_with(with_header(json!({ "typ": "application/at+jwt" })));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["validation"], "Jwt");
    assert_eq!(provider.counts().introspection, 0);
}

#[rocket::async_test]
async fn an_exp_within_the_clock_skew_is_still_accepted() {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt(json!({ "exp": now() - 10 }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn one_accepted_audience_in_an_aud_list_is_enough() {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt(json!({ "aud": ["https://other.example/", CLIENT_ID] }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn configured_audiences_replace_the_client_id() {
    let (provider, mut browser) = setup(json!({ "audiences": ["https://api.example/"] })).await;
    let token = provider.at_jwt(json!({ "aud": "https://api.example/" }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    let token = provider.at_jwt(json!({ "aud": CLIENT_ID }));
    assert_invalid_token(&browser.bearer("/api", &token).await);
}

#[rocket::async_test]
async fn a_fractional_exp_is_a_valid_numeric_date() {
    // RFC 9068 §2.2 takes `exp` from RFC 7519 §4.1.4, whose NumericDate
    // "can contain a non-integer value".
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt(json!({ "exp": (now() + 600) as f64 + 0.5 }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    let expired = provider.at_jwt(json!({ "exp": (now() - 600) as f64 + 0.5 }));
    assert_invalid_token(&browser.bearer("/api", &expired).await);
}

#[rocket::async_test]
async fn a_missing_scope_is_403_insufficient_scope() {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt(json!({ "scope": "read" }));
    let resp = browser.bearer("/api/write", &token).await;
    assert_bearer_error(&resp, Status::Forbidden, "insufficient_scope");
    assert_eq!(challenge(&resp).param("scope"), Some("read write"));
    assert_eq!(browser.handler_runs(), 0);
}

// --- the cache of valid tokens ------------------------------------------

/// Valid tokens are cached by the whole token: once one is cached, a token
/// that differs from it anywhere (in its signature, in its claims, by one
/// character more or less) is checked anew, and refused.
#[rocket::async_test]
async fn a_token_differing_from_a_cached_valid_one_is_checked_anew() {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt(json!({ "scope": "read" }));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let flip = |text: &str, at: usize| -> String {
        let mut bytes = text.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let mut claims = crate::support::jwt::decode_claims(&token);
    claims["scope"] = json!("read write admin");
    let more_scopes = crate::support::jwt::b64(claims.to_string().as_bytes());
    let signature = parts.pop().unwrap();
    let head = parts.join(".");
    let (header, _) = head.split_once('.').unwrap();
    for forged in [
        format!("{head}.{}", flip(&signature, 10)),
        format!("{header}.{more_scopes}.{signature}"),
        format!("{token}A"),
        token[..token.len() - 1].to_string(),
    ] {
        let resp = browser.bearer("/api/write", &forged).await;
        assert_invalid_token(&resp);
    }
    assert_eq!(browser.handler_runs(), 1, "no forged token reached a handler");
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "the cached token is still good: {resp:#?}");
}

// --- refused: signature and algorithm ------------------------------------

#[rocket::async_test]
async fn a_corrupted_signature_is_401() {
    assert_refused_locally(signed(Signing::CorruptSignature)).await;
}

#[rocket::async_test]
async fn a_signature_by_a_key_outside_the_jwks_is_401() {
    // Signed with the unpublished key under the published key's `kid`.
    assert_refused_locally(signed(Signing::With(Key::Rotated))).await;
}

#[rocket::async_test]
async fn an_unsigned_alg_none_token_is_401() {
    assert_refused_locally(signed(Signing::None)).await;
}

#[rocket::async_test]
async fn hs256_keyed_with_the_rsa_public_key_is_401() {
    // The RS256 -> HS256 key-confusion forgery, with the published `kid`.
    assert_refused_locally(signed(Signing::Hs256WithPublicKeyPem)).await;
}

#[rocket::async_test]
async fn hs256_keyed_with_the_client_secret_is_401() {
    // Access tokens are for resource servers, which share no secret with
    // the issuer: no HMAC at all.
    assert_refused_locally(signed(Signing::Hs256WithClientSecret)).await;
}

#[rocket::async_test]
async fn a_critical_header_extension_is_401() {
    assert_refused_locally(with_header(json!({ "crit": ["exp"], "exp": now() + 600 }))).await;
}

// --- refused: claims -------------------------------------------------------

#[rocket::async_test]
async fn a_token_from_another_issuer_is_401() {
    assert_refused_locally(with_claims(json!({ "iss": "http://evil.example" }))).await;
}

#[rocket::async_test]
async fn an_issuer_that_differs_by_a_trailing_slash_is_401() {
    let (provider, mut browser) = setup(json!({})).await;
    let token = provider.at_jwt(json!({ "iss": format!("{}/", provider.issuer) }));
    assert_invalid_token(&browser.bearer("/api", &token).await);
}

#[rocket::async_test]
async fn a_token_without_iss_is_401() {
    assert_refused_locally(with_claims(json!({ "iss": null }))).await;
}

#[rocket::async_test]
async fn a_token_for_another_audience_is_401() {
    assert_refused_locally(with_claims(json!({ "aud": "https://other.example/" }))).await;
    assert_refused_locally(with_claims(json!({ "aud": ["a", "b"] }))).await;
}

#[rocket::async_test]
async fn a_token_without_aud_is_401() {
    assert_refused_locally(with_claims(json!({ "aud": null }))).await;
}

/// RFC 9068 §2.2: `sub`, `client_id` and `jti` identify; an empty one
/// identifies nobody (and every empty one the same nobody).
#[rocket::async_test]
async fn a_token_whose_sub_client_id_or_jti_is_empty_is_401() {
    assert_refused_locally(with_claims(json!({ "sub": "" }))).await;
    assert_refused_locally(with_claims(json!({ "sub": " " }))).await;
    assert_refused_locally(with_claims(json!({ "client_id": "" }))).await;
    assert_refused_locally(with_claims(json!({ "jti": "" }))).await;
    assert_refused_locally(with_claims(json!({ "aud": [] }))).await;
}

/// RFC 9068 §2.2: `sub`, `client_id`, `iat` and `jti` are REQUIRED; a
/// token without `sub` names nobody, as surely as one with `"sub": ""`.
#[rocket::async_test]
async fn a_token_without_sub_client_id_iat_or_jti_is_401() {
    for claim in ["sub", "client_id", "iat", "jti"] {
        let mut missing = Map::new();
        missing.insert(claim.into(), Value::Null);
        assert_refused_locally(with_claims(Value::Object(missing))).await;
    }
}

/// RFC 9068 §2.2.1 carries `acr` and `amr` over from the login: when
/// present they must say something.
#[rocket::async_test]
async fn a_token_whose_acr_or_amr_is_empty_is_401() {
    assert_refused_locally(with_claims(json!({ "acr": "" }))).await;
    assert_refused_locally(with_claims(json!({ "amr": [] }))).await;
    assert_refused_locally(with_claims(json!({ "amr": ["pwd", " "] }))).await;
}

/// RFC 7519 §4: claim names are unique. A token naming `sub` twice is
/// refused, not read as one of them (a parser that kept the other would
/// think it spoke for someone else).
#[rocket::async_test]
async fn a_token_naming_a_claim_twice_is_401() {
    assert_refused_locally(signed(Signing::DuplicateSub("mallory".into()))).await;
}

/// RFC 8705 §3.1: a JWT bound to a TLS client certificate
/// (`cnf.x5t#S256`) is not a bearer token: refused, not accepted as one.
#[rocket::async_test]
async fn a_jwt_bound_to_a_client_certificate_is_401() {
    assert_refused_locally(with_claims(
        json!({ "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
    ))
    .await;
    assert_refused_locally(with_claims(json!({ "cnf": { "kid": "k-1" } }))).await;
}

#[rocket::async_test]
async fn a_token_without_exp_is_401() {
    assert_refused_locally(with_claims(json!({ "exp": null }))).await;
}

#[rocket::async_test]
async fn an_expired_token_is_401() {
    assert_refused_locally(with_claims(json!({ "exp": now() - 120 }))).await;
}

#[rocket::async_test]
async fn a_token_with_a_non_numeric_exp_is_401() {
    assert_refused_locally(with_claims(json!({ "exp": (now() + 600).to_string() }))).await;
}

#[rocket::async_test]
async fn a_token_not_valid_before_a_future_nbf_is_401() {
    assert_refused_locally(with_claims(json!({ "nbf": now() + 600 }))).await;
}

#[rocket::async_test]
async fn a_token_issued_in_the_future_is_401() {
    assert_refused_locally(with_claims(json!({ "iat": now() + 600 }))).await;
}

// --- refused: not an access token ----------------------------------------

/// In `jwt` mode, `token` is `401 invalid_token` without introspection; in
/// `auto` mode it is not an at+jwt, so the provider is asked, and refuses.
async fn assert_not_an_access_token(make: impl Fn(&TestProvider) -> String) {
    let (provider, mut browser) = setup(json!({ "mode": "jwt" })).await;
    let token = make(&provider);
    assert_invalid_token(&browser.bearer("/api", &token).await);
    assert_eq!(provider.counts().introspection, 0, "jwt mode never introspects");
    assert_eq!(browser.handler_runs(), 0);

    let (provider, mut browser) = setup(json!({ "mode": "auto" })).await;
    let token = make(&provider);
    assert_invalid_token(&browser.bearer("/api", &token).await);
    assert_eq!(
        provider.counts().introspection,
        1,
        "auto mode sends what is not an at+jwt to introspection"
    );
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn a_jwt_without_typ_is_not_an_access_token() {
    assert_not_an_access_token(|p| p.at_jwt_with(with_header(json!({ "typ": null })))).await;
}

#[rocket::async_test]
async fn a_jwt_typed_jwt_is_not_an_access_token() {
    assert_not_an_access_token(|p| p.at_jwt_with(with_header(json!({ "typ": "JWT" })))).await;
}

#[rocket::async_test]
async fn an_id_token_offered_as_an_access_token_is_401() {
    // Correctly signed by the provider, iss and aud (= client_id) right:
    // only its type tells it from an access token (RFC 9068 §4).
    assert_not_an_access_token(|p| {
        let id_token = p.id_token(Some("nonce"));
        assert_eq!(jwt_header(&id_token)["typ"], "JWT");
        assert_eq!(crate::support::jwt::decode_claims(&id_token)["aud"], CLIENT_ID);
        id_token
    })
    .await;
}

fn jwt_header(token: &str) -> Value {
    crate::support::jwt::decode_header(token)
}

// --- modes -----------------------------------------------------------------

#[rocket::async_test]
async fn jwt_mode_refuses_an_opaque_token_without_introspection() {
    let (provider, mut browser) = setup(json!({ "mode": "jwt" })).await;
    let token = provider.opaque_token(json!({}));
    assert_invalid_token(&browser.bearer("/api", &token).await);
    assert_eq!(provider.counts().introspection, 0);

    let token = provider.at_jwt(json!({}));
    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["validation"], "Jwt");
}

#[rocket::async_test]
async fn introspection_mode_sends_even_a_valid_at_jwt_to_introspection() {
    let (provider, mut browser) = setup(json!({ "mode": "introspection" })).await;
    let token = provider.at_jwt(json!({}));
    provider.answer_introspection(&token, provider.active_answer(json!({ "tenant": "asked" })));

    let resp = browser.bearer("/api", &token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["validation"], "Introspection");
    assert_eq!(resp.json()["claims"]["tenant"], "asked");
    assert_eq!(provider.counts().introspection, 1);
    let request = &provider.introspection_requests()[0];
    assert_eq!(request.param("token"), Some(token.as_str()));

    // A well-signed JWT the provider calls inactive (revoked) is refused.
    let revoked = provider.at_jwt(json!({}));
    provider.answer_introspection(&revoked, json!({ "active": false }));
    assert_invalid_token(&browser.bearer("/api", &revoked).await);
}

#[rocket::async_test]
async fn auto_mode_never_falls_back_to_introspection_for_a_bad_at_jwt() {
    // Even if the provider would call it active, a forged at+jwt is judged
    // locally.
    let (provider, mut browser) = setup(json!({})).await;
    let forged = provider.at_jwt_with(signed(Signing::CorruptSignature));
    provider.answer_introspection(&forged, provider.active_answer(json!({})));
    assert_invalid_token(&browser.bearer("/api", &forged).await);
    assert_eq!(provider.counts().introspection, 0);
}

// --- keys ------------------------------------------------------------------

#[rocket::async_test]
async fn after_a_key_rotation_a_token_with_the_new_kid_is_accepted_after_one_jwks_refetch() {
    let (provider, mut browser) = setup(json!({})).await;
    let resp = browser.bearer("/api", &provider.at_jwt(json!({}))).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let fetches = provider.counts().jwks;
    assert_eq!(fetches, 1);

    provider.rotate_keys();
    let rotated = provider.at_jwt(json!({}));
    assert_eq!(jwt_header(&rotated)["kid"], Key::Rotated.kid());
    let resp = browser.bearer("/api", &rotated).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(provider.counts().jwks, fetches + 1, "one refetch for the unknown kid");

    let resp = browser.bearer("/api", &provider.at_jwt(json!({}))).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(provider.counts().jwks, fetches + 1, "the new key set is kept");
}

/// An unknown `kid` is `401` once the keys were looked at after the token
/// arrived; refetches are one per 2 s at most, whatever the number of
/// tokens (those waiting share the next one).
#[rocket::async_test]
async fn an_unknown_kid_is_401_and_refetches_are_rate_limited() {
    let (provider, mut browser) = setup(json!({})).await;
    let spec = AccessTokenJwt {
        header: object(json!({ "kid": "nobody-knows" })),
        signing: Signing::With(Key::Rotated),
        ..AccessTokenJwt::default()
    };
    let token = provider.at_jwt_with(spec.clone());
    assert_invalid_token(&browser.bearer("/api", &token).await);
    let fetches = provider.counts().jwks;
    assert!(fetches <= 2, "one refetch for an unknown kid ({fetches} fetches)");
    let tokens: Vec<String> = (0..8).map(|_| provider.at_jwt_with(spec.clone())).collect();
    let start = std::time::Instant::now();
    for status in concurrent_requests_with_tokens(&browser.client, "/api", &tokens).await {
        assert_eq!(status, Status::Unauthorized);
    }
    assert!(
        provider.counts().jwks <= fetches + 2,
        "8 tokens at once share the refetches ({} fetches)",
        provider.counts().jwks - fetches
    );
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(1500),
        "the next refetch waited for the rate limit"
    );
    assert_eq!(provider.counts().introspection, 0);
}

#[rocket::async_test]
async fn an_unreachable_jwks_is_503_never_200() {
    let (provider, mut browser) = setup(json!({})).await;
    let dead = format!("http://127.0.0.1:{}/jwks", reserve_port());
    provider.behave(|b| {
        b.discovery.insert("jwks_uri".into(), json!(dead));
    });
    let resp = browser.bearer("/api", &provider.at_jwt(json!({}))).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn an_unreachable_provider_in_jwt_mode_is_503() {
    let provider = TestProvider::start().await;
    let token = provider.at_jwt(json!({}));
    let mut config = oidc_config_for_issuer(&format!("http://127.0.0.1:{}", reserve_port()));
    config["providers"]["default"]["bearer"] = json!({ "mode": "jwt" });
    let mut browser = Browser::new(api_app(config)).await;
    let resp = browser.bearer("/api", &token).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn a_foreign_or_expired_token_with_an_unknown_kid_costs_no_key_fetch() {
    let (provider, mut browser) = setup(json!({})).await;
    let jwks_before = provider.counts().jwks;
    for claims in [json!({ "iss": "http://evil.example" }), json!({ "exp": 1_000 })] {
        let spec = AccessTokenJwt {
            header: object(json!({ "kid": "nobody-knows" })),
            signing: Signing::With(Key::Rotated),
            ..with_claims(claims)
        };
        let token = provider.at_jwt_with(spec);
        assert_invalid_token(&browser.bearer("/api", &token).await);
    }
    assert_eq!(
        provider.counts().jwks,
        jwks_before,
        "refused by its unverified `iss`/`exp` before any key was looked for"
    );
}
