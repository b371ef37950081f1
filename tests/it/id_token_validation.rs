//! ID token validation (OpenID Connect Core §3.1.3.7): every failure is
//! `401 invalid_id_token` and creates no session.

use rocket::http::Status;
use serde_json::{Value, json};

use crate::support::jwt::Key;
use crate::support::provider::now;
use crate::support::*;

/// Logs in once with the provider behaving as `configure` says; returns the
/// callback's response (asked for as JSON) with the browser.
async fn login_with(configure: impl FnOnce(&mut Behaviour)) -> (TestProvider, Browser, Resp) {
    let provider = TestProvider::start().await;
    provider.behave(configure);
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    (provider, browser, resp)
}

async fn assert_rejected(configure: impl FnOnce(&mut Behaviour)) {
    let (provider, mut browser, resp) = login_with(configure).await;
    assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    assert_eq!(
        provider.counts().token,
        1,
        "the code was redeemed, then the ID token refused"
    );
    assert_no_session(&mut browser).await;
    assert!(
        session_cookies(&browser).is_empty(),
        "no session cookie: {:?}",
        browser.jar
    );
}

async fn assert_accepted(configure: impl FnOnce(&mut Behaviour)) {
    let (provider, mut browser, resp) = login_with(configure).await;
    assert_callback_completed(&resp, &provider);
    assert_eq!(browser.profile().await.expect("a session")["sub"], "alice");
}

fn claim(b: &mut Behaviour, name: &str, value: Value) {
    b.claims.insert(name.to_string(), value);
}

#[rocket::async_test]
async fn a_token_with_a_corrupted_signature_is_rejected() {
    assert_rejected(|b| b.signing = Signing::CorruptSignature).await;
}

#[rocket::async_test]
async fn a_token_signed_by_a_key_outside_the_jwks_is_rejected() {
    // Signed with the rotated key, but the header names the published key.
    assert_rejected(|b| b.signing = Signing::With(Key::Rotated)).await;
}

#[rocket::async_test]
async fn an_unsigned_alg_none_token_is_rejected() {
    assert_rejected(|b| b.signing = Signing::None).await;
}

#[rocket::async_test]
async fn an_unsigned_alg_none_token_is_rejected_even_when_the_provider_lists_none() {
    assert_rejected(|b| {
        b.signing = Signing::None;
        b.discovery
            .insert("id_token_signing_alg_values_supported".into(), json!(["RS256", "none"]));
    })
    .await;
}

#[rocket::async_test]
async fn hs256_keyed_with_the_rsa_public_key_is_rejected() {
    // The RS256 -> HS256 key-confusion attack: the public key's PEM as an
    // HMAC secret, with the published key's `kid`.
    assert_rejected(|b| b.signing = Signing::Hs256WithPublicKeyPem).await;
}

#[rocket::async_test]
async fn hs256_keyed_with_the_rsa_public_key_is_rejected_even_when_hs256_is_advertised() {
    // With HS256 allowed, the only acceptable HMAC key is the client secret
    // (Core §10.1), never key material from the JWKS.
    assert_rejected(|b| {
        b.signing = Signing::Hs256WithPublicKeyPem;
        b.discovery.insert(
            "id_token_signing_alg_values_supported".into(),
            json!(["RS256", "HS256"]),
        );
    })
    .await;
}

#[rocket::async_test]
async fn hs256_keyed_with_the_client_secret_is_rejected_when_not_advertised() {
    // Discovery lists only RS256.
    assert_rejected(|b| b.signing = Signing::Hs256WithClientSecret).await;
}

#[rocket::async_test]
async fn a_token_that_is_not_a_jwt_is_rejected() {
    assert_rejected(|b| {
        b.token_response.insert("id_token".into(), json!("this.is-not.a-jwt"));
    })
    .await;
}

#[rocket::async_test]
async fn a_token_response_without_an_id_token_is_rejected() {
    assert_rejected(|b| {
        b.token_response.insert("id_token".into(), Value::Null);
    })
    .await;
}

#[rocket::async_test]
async fn a_token_from_another_issuer_is_rejected() {
    assert_rejected(|b| claim(b, "iss", json!("http://evil.example"))).await;
}

#[rocket::async_test]
async fn an_issuer_that_differs_only_by_a_trailing_slash_is_rejected() {
    // `iss` is compared exactly (Core §3.1.3.7 step 2).
    let provider = TestProvider::start().await;
    let issuer = format!("{}/", provider.issuer);
    provider.behave(|b| claim(b, "iss", json!(issuer)));
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
    assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    assert_no_session(&mut browser).await;
}

#[rocket::async_test]
async fn a_token_for_another_audience_is_rejected() {
    assert_rejected(|b| claim(b, "aud", json!("someone-else"))).await;
}

#[rocket::async_test]
async fn a_second_audience_without_azp_is_rejected() {
    assert_rejected(|b| claim(b, "aud", json!(["rp", "someone-else"]))).await;
}

#[rocket::async_test]
async fn a_second_audience_with_azp_naming_another_client_is_rejected() {
    assert_rejected(|b| {
        claim(b, "aud", json!(["rp", "someone-else"]));
        claim(b, "azp", json!("someone-else"));
    })
    .await;
}

#[rocket::async_test]
async fn a_second_audience_with_azp_naming_this_client_is_accepted() {
    assert_accepted(|b| {
        claim(b, "aud", json!(["rp", "someone-else"]));
        claim(b, "azp", json!("rp"));
    })
    .await;
}

#[rocket::async_test]
async fn an_audience_array_with_only_this_client_is_accepted() {
    assert_accepted(|b| claim(b, "aud", json!(["rp"]))).await;
}

#[rocket::async_test]
async fn an_expired_token_is_rejected() {
    // Ten minutes past `exp`, clock skew 60 s.
    let now = now();
    assert_rejected(|b| {
        claim(b, "exp", json!(now - 600));
        claim(b, "iat", json!(now - 1200));
        claim(b, "auth_time", json!(now - 1200));
    })
    .await;
}

#[rocket::async_test]
async fn a_token_just_past_exp_but_within_the_clock_skew_is_accepted() {
    let now = now();
    assert_accepted(|b| {
        claim(b, "exp", json!(now - 20));
        claim(b, "iat", json!(now - 300));
    })
    .await;
}

#[rocket::async_test]
async fn a_token_without_exp_is_rejected() {
    assert_rejected(|b| claim(b, "exp", Value::Null)).await;
}

#[rocket::async_test]
async fn a_token_issued_in_the_future_is_rejected() {
    // `iat` ten minutes ahead, clock skew 60 s.
    let now = now();
    assert_rejected(|b| {
        claim(b, "iat", json!(now + 600));
        claim(b, "exp", json!(now + 1200));
    })
    .await;
}

#[rocket::async_test]
async fn a_token_with_another_nonce_is_rejected() {
    assert_rejected(|b| claim(b, "nonce", json!("a-nonce-from-another-login"))).await;
}

#[rocket::async_test]
async fn a_token_without_nonce_is_rejected() {
    assert_rejected(|b| claim(b, "nonce", Value::Null)).await;
}

#[rocket::async_test]
async fn a_token_without_sub_is_rejected() {
    assert_rejected(|b| claim(b, "sub", Value::Null)).await;
}

#[rocket::async_test]
async fn after_a_key_rotation_a_token_signed_with_the_new_key_is_accepted_after_one_jwks_refetch() {
    let provider = TestProvider::start().await;
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    browser.login_ok(&provider, "/profile").await;
    let fetches_before = provider.counts().jwks;
    assert!(fetches_before >= 1);

    provider.rotate_keys();
    browser.jar.clear();
    let auth = browser.start_login("/profile?after=rotation").await;
    let resp = browser.approve(&provider, &auth, Mode::Api).await;
    assert_eq!(
        resp.status,
        Status::SeeOther,
        "a token signed with the new key is accepted: {resp:#?}"
    );
    assert_eq!(
        provider.counts().jwks,
        fetches_before + 1,
        "exactly one JWKS refetch for the new `kid`"
    );

    // The refreshed key set is kept: the next login needs no fetch.
    browser.jar.clear();
    let auth = browser.start_login("/profile").await;
    let resp = browser.approve(&provider, &auth, Mode::Api).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    assert_eq!(provider.counts().jwks, fetches_before + 1);
}

#[rocket::async_test]
async fn an_unknown_kid_is_rejected_and_jwks_refetches_are_rate_limited() {
    let provider = TestProvider::start().await;
    // Signed with a key the provider never publishes, under a `kid` it
    // never published either.
    provider.behave(|b| {
        b.signing = Signing::With(Key::Rotated);
        b.header.insert("kid".into(), json!("unknown-kid"));
    });
    let mut browser = Browser::new(rp(oidc_config(&provider), default_routes())).await;
    let start = std::time::Instant::now();
    for attempt in 0..3 {
        let (_, resp) = browser.login(&provider, "/profile", Mode::Api).await;
        assert_error(&resp, Status::Unauthorized, "invalid_id_token");
        assert!(
            provider.counts().jwks <= 1 + attempt,
            "attempt {attempt}: an unknown kid makes one refetch, when the rate allows ({} fetches)",
            provider.counts().jwks
        );
    }
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(1500),
        "the third login's refetch waited for the rate limit"
    );
    assert_no_session(&mut browser).await;
}

// --- what the authorization request asked for ------------------------------

/// A login at `provider` configured with `params`, whose ID token gets
/// `claims` merged in.
async fn login_requesting(params: Value, claims: Value) -> Resp {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        for (name, value) in claims.as_object().into_iter().flatten() {
            b.claims.insert(name.clone(), value.clone());
        }
    });
    let mut browser = browser_with_provider_setting(&provider, "auth_request_params", params).await;
    browser.login(&provider, "/profile", Mode::Api).await.1
}

#[rocket::async_test]
async fn with_max_age_requested_the_id_token_must_show_a_recent_enough_auth_time() {
    let now = crate::support::provider::now();
    let max_age = json!({ "max_age": "300" });
    let resp = login_requesting(max_age.clone(), json!({ "auth_time": null })).await;
    assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    // 300 s + the 60 s of clock skew.
    let resp = login_requesting(max_age.clone(), json!({ "auth_time": now - 400 })).await;
    assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    let resp = login_requesting(max_age, json!({ "auth_time": now - 100 })).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
}

#[rocket::async_test]
async fn with_acr_values_requested_the_id_token_must_carry_one_of_them() {
    let acr = json!({ "acr_values": "urn:example:mfa urn:example:hardware-key" });
    for claims in [
        json!({ "acr": null }),
        json!({ "acr": "urn:example:password" }),
        json!({ "acr": 2 }),
    ] {
        let resp = login_requesting(acr.clone(), claims.clone()).await;
        assert_error(&resp, Status::Unauthorized, "invalid_id_token");
    }
    let resp = login_requesting(acr, json!({ "acr": "urn:example:hardware-key" })).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    // Not requested: not checked.
    let resp = login_requesting(json!({}), json!({ "acr": "anything", "auth_time": null })).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
}

/// OpenID Connect Core §2: `sub` is a locally unique identifier of the
/// user. A validly signed ID token whose `sub` is the empty string (or
/// only blanks) names nobody, and every such token the same nobody: no
/// session comes of it.
#[rocket::async_test]
async fn an_id_token_whose_sub_is_empty_names_nobody_and_makes_no_session() {
    for subject in ["", "   "] {
        assert_rejected(|b| b.subject = subject.to_string()).await;
    }
}

/// The other claims of the right type that say nothing are refused alike:
/// an empty `sid` (a back-channel logout of another empty `sid` would end
/// it), an empty `aud` member, an empty `acr`.
#[rocket::async_test]
async fn an_id_token_with_an_empty_sid_aud_member_or_acr_is_rejected() {
    assert_rejected(|b| claim(b, "sid", json!(""))).await;
    assert_rejected(|b| claim(b, "aud", json!([b.client_id.clone(), ""]))).await;
    assert_rejected(|b| claim(b, "acr", json!(""))).await;
}

/// RFC 7519 §4: a claim named twice is refused, not read one way by one
/// parser and another way by the next.
#[rocket::async_test]
async fn an_id_token_naming_a_claim_twice_is_rejected() {
    assert_rejected(|b| b.signing = Signing::DuplicateSub("mallory".into())).await;
}
