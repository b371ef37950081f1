//! The provider's signing keys are not trusted forever: the key set is
//! fetched again once it is older than its `Cache-Control: max-age`, and
//! (rate-limited) when a token names a key we do not have or a key we have
//! does not verify it. A key the provider removed stops working; a
//! rotation, even one that keeps the `kid`, needs no restart.

use std::time::Duration;

use rocket::http::Status;
use serde_json::{Map, Value, json};

use crate::support::api::*;
use crate::support::jwt::Key;
use crate::support::lifecycle::*;
use crate::support::provider::{AccessTokenJwt, Signing};
use crate::support::*;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// An RFC 9068 token signed with `key`, under `key`'s `kid`.
fn at_jwt_signed_with(provider: &TestProvider, key: Key) -> String {
    provider.at_jwt_with(AccessTokenJwt {
        header: object(json!({ "kid": key.kid() })),
        signing: Signing::With(key),
        ..AccessTokenJwt::default()
    })
}

#[rocket::async_test]
async fn a_key_the_provider_removed_is_refused_once_the_key_set_is_older_than_its_max_age() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.jwks_cache_control = "max-age=2".into());
    let clock = ManualClock::new();
    let mut browser = api_browser_on(&clock, &provider, json!({})).await;
    let resp = browser
        .bearer("/api", &at_jwt_signed_with(&provider, Key::Current))
        .await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    // The provider retires the key (a compromise, say) and publishes another.
    provider.behave(|b| b.jwks = vec![Key::Rotated]);
    clock.advance(Duration::from_millis(2300));
    let resp = browser
        .bearer("/api", &at_jwt_signed_with(&provider, Key::Current))
        .await;
    assert_invalid_token(&resp);
    let resp = browser
        .bearer("/api", &at_jwt_signed_with(&provider, Key::Rotated))
        .await;
    assert_eq!(resp.status, Status::Ok, "the new key works: {resp:#?}");
}

#[rocket::async_test]
async fn a_logout_token_signed_with_a_removed_key_is_refused() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.jwks_cache_control = "max-age=2".into());
    let clock = ManualClock::new();
    let mut browser = lifecycle_browser_on(&clock, memory_store_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    provider.behave(|b| b.jwks = vec![Key::Rotated]);
    clock.advance(Duration::from_millis(2300));

    let token = provider.logout_token(json!({ "sub": "alice" }));
    let resp = browser.backchannel_logout(&token).await;
    assert_error(&resp, Status::BadRequest, "invalid_request");
    assert!(browser.profile().await.is_some(), "the forged logout ended nothing");
}

#[rocket::async_test]
async fn without_a_max_age_the_key_set_is_kept_a_while_not_refetched_per_request() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.jwks_cache_control = "private".into());
    let mut browser = api_browser(&provider, json!({})).await;
    for _ in 0..5 {
        let resp = browser
            .bearer("/api", &at_jwt_signed_with(&provider, Key::Current))
            .await;
        assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    }
    assert_eq!(provider.counts().jwks, 1);
}

#[rocket::async_test]
async fn a_rotation_that_keeps_the_kid_is_picked_up_without_a_restart() {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(oidc_config(&provider)).await;
    browser.login_ok(&provider, "/profile").await;
    let fetches = provider.counts().jwks;

    // A new key under the old `kid`: the cached key no longer verifies.
    provider.behave(|b| {
        b.jwks = vec![Key::Rotated];
        b.jwks_kid = Some(Key::Current.kid().into());
        b.signing_key = Key::Rotated;
        b.header.insert("kid".into(), json!(Key::Current.kid()));
    });
    let mut other = browser.other_browser();
    other.login_ok(&provider, "/profile").await;
    assert_eq!(provider.counts().jwks, fetches + 1, "one refetch");

    // RFC 9068 tokens too: signed with the new key under the old `kid`.
    let same_kid = || {
        provider.at_jwt_with(AccessTokenJwt {
            header: object(json!({ "kid": Key::Current.kid() })),
            signing: Signing::With(Key::Rotated),
            ..AccessTokenJwt::default()
        })
    };
    let clock = ManualClock::new();
    let mut api = api_browser_on(&clock, &provider, json!({})).await;
    provider.behave(|b| b.jwks = vec![Key::Current]);
    assert_invalid_token(&api.bearer("/api", &same_kid()).await);
    provider.behave(|b| b.jwks = vec![Key::Rotated]);
    clock.advance(Duration::from_millis(2100));
    let resp = api.bearer("/api", &same_kid()).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn a_key_published_a_moment_after_a_token_named_it_works_soon() {
    let provider = TestProvider::start().await;
    let clock = ManualClock::new();
    let mut browser = api_browser_on(&clock, &provider, json!({})).await;
    // A token signed with a key the provider has not published yet.
    let early = at_jwt_signed_with(&provider, Key::Rotated);
    assert_invalid_token(&browser.bearer("/api", &early).await);
    assert_eq!(
        provider.counts().jwks,
        1,
        "the first fetch, made after the token arrived, is the answer for its unknown kid"
    );

    provider.behave(|b| b.jwks = vec![Key::Current, Key::Rotated]);
    clock.advance(Duration::from_millis(2100));
    let resp = browser
        .bearer("/api", &at_jwt_signed_with(&provider, Key::Rotated))
        .await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

#[rocket::async_test]
async fn refetches_caused_by_tokens_are_rate_limited() {
    let provider = TestProvider::start().await;
    let browser = api_browser(&provider, json!({})).await;
    let forged: Vec<String> = (0..20)
        .map(|n| {
            provider.at_jwt_with(AccessTokenJwt {
                header: object(json!({ "kid": format!("forged-{n}") })),
                signing: Signing::With(Key::Rotated),
                ..AccessTokenJwt::default()
            })
        })
        .collect();
    for status in concurrent_requests_with_tokens(&browser.client, "/api", &forged).await {
        assert_eq!(status, Status::Unauthorized);
    }
    assert!(
        provider.counts().jwks <= 3,
        "{} fetches for 20 forged kids",
        provider.counts().jwks
    );
}

#[rocket::async_test]
async fn while_the_provider_cannot_give_its_keys_the_last_set_is_used() {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.jwks_cache_control = "max-age=2".into());
    let clock = ManualClock::new();
    let mut browser = api_browser_on(&clock, &provider, json!({})).await;
    assert_eq!(
        browser.bearer("/api", &provider.at_jwt(json!({}))).await.status,
        Status::Ok
    );
    provider.behave(|b| b.jwks_failure = Some(TokenFailure::ServerError));
    clock.advance(Duration::from_millis(2300));
    let resp = browser.bearer("/api", &provider.at_jwt(json!({}))).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
}

/// Refetches are rate-limited (one per 2 s), but a token is never judged
/// forged because the crate chose not to look. A logout token naming a
/// `kid` nobody knows makes a refetch; the provider then publishes a new
/// key and signs with it: within those 2 s, a token signed with the new
/// key waits for the next refetch and is accepted, never `401`.
#[rocket::async_test]
async fn a_key_published_just_after_a_refetch_is_looked_for_not_refused() {
    let provider = TestProvider::start().await;
    let mut browser = api_browser(&provider, json!({})).await;
    let resp = browser
        .bearer("/api", &at_jwt_signed_with(&provider, Key::Current))
        .await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");

    // Anyone may post a logout token whose `kid` nobody knows: a refetch.
    let junk = provider.logout_token_with(crate::support::provider::LogoutToken {
        header: object(json!({ "kid": "nobody-knows" })),
        signing: Signing::With(Key::Rotated),
        ..crate::support::provider::LogoutToken::with_claims(json!({ "sid": "s1" }))
    });
    assert_eq!(browser.backchannel_logout(&junk).await.status, Status::BadRequest);
    let fetches = provider.counts().jwks;

    provider.behave(|b| b.jwks = vec![Key::Current, Key::Rotated]);
    let resp = browser
        .bearer("/api", &at_jwt_signed_with(&provider, Key::Rotated))
        .await;
    assert_eq!(resp.status, Status::Ok, "the new key is looked for: {resp:#?}");
    assert_eq!(
        provider.counts().jwks,
        fetches + 1,
        "one refetch, when the rate allowed"
    );
}

/// A flood of tokens naming random `kid`s cannot keep a new key refused:
/// every token waits for the next refetch and shares it, so the flood
/// costs one refetch per 2 s, and a real token among them is accepted.
#[rocket::async_test]
async fn a_flood_of_unknown_kids_shares_refetches_and_starves_no_real_key() {
    let provider = TestProvider::start().await;
    let browser = api_browser(&provider, json!({})).await;
    let warm = at_jwt_signed_with(&provider, Key::Current);
    assert_eq!(
        concurrent_requests_with_tokens(&browser.client, "/api", &[warm]).await,
        [Status::Ok]
    );
    provider.behave(|b| b.jwks = vec![Key::Current, Key::Rotated]);
    let fetches = provider.counts().jwks;
    let mut tokens: Vec<String> = (0..12)
        .map(|n| {
            provider.at_jwt_with(AccessTokenJwt {
                header: object(json!({ "kid": format!("junk-{n}") })),
                signing: Signing::With(Key::Rotated),
                ..AccessTokenJwt::default()
            })
        })
        .collect();
    tokens.insert(6, at_jwt_signed_with(&provider, Key::Rotated));
    let statuses = concurrent_requests_with_tokens(&browser.client, "/api", &tokens).await;
    for (n, status) in statuses.iter().enumerate() {
        let expected = if n == 6 { Status::Ok } else { Status::Unauthorized };
        assert_eq!(*status, expected, "token {n}: {statuses:?}");
    }
    assert!(
        provider.counts().jwks <= fetches + 2,
        "13 tokens, at most two refetches ({} fetches)",
        provider.counts().jwks - fetches
    );
}

/// A sustained flood: a junk token naming an unknown `kid` every 200 ms,
/// for as long as the test lasts. The provider publishes a new key in the
/// middle of it; real tokens signed with that key, sent a moment later
/// and then again and again, are accepted every time: the flood never
/// keeps the key set from being looked at for them.
#[rocket::async_test]
async fn a_sustained_flood_of_unknown_kids_never_keeps_a_new_key_refused() {
    let provider = TestProvider::start().await;
    let browser = api_browser(&provider, json!({})).await;
    let warm = at_jwt_signed_with(&provider, Key::Current);
    assert_eq!(
        concurrent_requests_with_tokens(&browser.client, "/api", &[warm]).await,
        [Status::Ok]
    );
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = {
        let (client, flooding) = (browser.client.clone(), flooding.clone());
        let junk: Vec<String> = (0..60)
            .map(|n| {
                provider.at_jwt_with(AccessTokenJwt {
                    header: object(json!({ "kid": format!("junk-{n}") })),
                    signing: Signing::With(Key::Current),
                    ..AccessTokenJwt::default()
                })
            })
            .collect();
        rocket::tokio::spawn(async move {
            for token in junk {
                if !flooding.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let client = client.clone();
                rocket::tokio::spawn(async move { concurrent_requests_with_tokens(&client, "/api", &[token]).await });
                rocket::tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    rocket::tokio::time::sleep(Duration::from_millis(900)).await;
    provider.behave(|b| b.jwks = vec![Key::Current, Key::Rotated]);
    for _ in 0..4 {
        rocket::tokio::time::sleep(Duration::from_millis(300)).await;
        let real = at_jwt_signed_with(&provider, Key::Rotated);
        assert_eq!(
            concurrent_requests_with_tokens(&browser.client, "/api", &[real]).await,
            [Status::Ok],
            "a token signed with the new key, amid the flood"
        );
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = flood.await;
}
