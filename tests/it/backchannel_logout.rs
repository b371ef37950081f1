//! OpenID Connect Back-Channel Logout 1.0: the provider POSTs a logout
//! token to `backchannel_logout_path`; a valid one ends the sessions it
//! names, anything else is refused with `400` and ends nothing.

use std::time::Duration;

use rocket::http::Status;
use serde_json::{Map, Value, json};

use crate::support::jwt::Key;
use crate::support::lifecycle::*;
use crate::support::provider::{BACKCHANNEL_LOGOUT_EVENT, LogoutToken, now, random_token};
use crate::support::*;

/// Logs `browser` in as `sub` with the provider session `sid` (the `sid`
/// claim of the ID token).
async fn login_as(provider: &TestProvider, browser: &mut Browser, sub: &str, sid: &str) {
    provider.behave(|b| {
        b.subject = sub.into();
        b.claims.insert("sid".into(), json!(sid));
    });
    browser.login_ok(provider, "/profile").await;
    let profile = browser.profile().await.expect("logged in");
    assert_eq!(profile["sub"], sub);
    assert_eq!(profile["id_token"]["sid"], sid);
}

/// Three sessions in one app: alice in two browsers (`sid` s1 and s2) and
/// bob (s3).
struct Sessions {
    provider: TestProvider,
    alice_1: Browser,
    alice_2: Browser,
    bob: Browser,
}

async fn three_sessions(oidc: impl FnOnce(&TestProvider) -> Value) -> Sessions {
    let provider = TestProvider::start().await;
    let mut alice_1 = lifecycle_browser(oidc(&provider)).await;
    let mut alice_2 = alice_1.other_browser();
    let mut bob = alice_1.other_browser();
    login_as(&provider, &mut alice_1, "alice", "s1").await;
    login_as(&provider, &mut alice_2, "alice", "s2").await;
    login_as(&provider, &mut bob, "bob", "s3").await;
    Sessions {
        provider,
        alice_1,
        alice_2,
        bob,
    }
}

#[track_caller]
fn assert_accepted(resp: &Resp) {
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert!(
        resp.header("Cache-Control").is_some_and(|v| v.contains("no-store")),
        "Back-Channel Logout §2.8: Cache-Control: no-store: {resp:#?}"
    );
}

async fn has_session(browser: &mut Browser) -> bool {
    browser.profile().await.is_some()
}

#[rocket::async_test]
async fn a_logout_token_with_a_sid_ends_that_session_and_no_other() {
    let mut s = three_sessions(memory_store_config).await;

    let token = s.provider.logout_token(json!({ "sub": "alice", "sid": "s1" }));
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);

    assert!(!has_session(&mut s.alice_1).await, "the session s1 ended");
    let resp = s.alice_1.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "a navigation logs in again: {resp:#?}");
    assert!(has_session(&mut s.alice_2).await, "alice's other session (s2) goes on");
    assert!(has_session(&mut s.bob).await, "bob's session goes on");
}

#[rocket::async_test]
async fn a_logout_token_with_only_a_sid_ends_that_session() {
    let mut s = three_sessions(memory_store_config).await;

    let token = s.provider.logout_token(json!({ "sub": null, "sid": "s2" }));
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);

    assert!(has_session(&mut s.alice_1).await);
    assert!(!has_session(&mut s.alice_2).await, "the session s2 ended");
    assert!(has_session(&mut s.bob).await);
}

#[rocket::async_test]
async fn a_logout_token_with_only_a_sub_ends_every_session_of_that_user() {
    let mut s = three_sessions(memory_store_config).await;

    let token = s.provider.logout_token(json!({ "sub": "alice" }));
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);

    assert!(!has_session(&mut s.alice_1).await, "alice's session s1 ended");
    assert!(!has_session(&mut s.alice_2).await, "alice's session s2 ended");
    assert!(has_session(&mut s.bob).await, "bob is not alice");
}

#[rocket::async_test]
async fn a_logout_token_whose_audiences_include_the_client_is_accepted() {
    let mut s = three_sessions(memory_store_config).await;

    let token = s
        .provider
        .logout_token(json!({ "sid": "s1", "aud": ["another-client", crate::support::provider::CLIENT_ID] }));
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);
    assert!(!has_session(&mut s.alice_1).await);
    assert!(has_session(&mut s.alice_2).await);
}

#[rocket::async_test]
async fn a_logout_token_signed_with_the_providers_new_key_is_accepted() {
    let mut s = three_sessions(memory_store_config).await;
    s.provider.rotate_keys();

    let token = s.provider.logout_token(json!({ "sid": "s1" }));
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);
    assert!(!has_session(&mut s.alice_1).await);
    assert!(has_session(&mut s.alice_2).await);
}

#[rocket::async_test]
async fn a_logout_token_naming_no_current_session_is_still_200() {
    let mut s = three_sessions(memory_store_config).await;

    let token = s.provider.logout_token(json!({ "sub": "carol", "sid": "s9" }));
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);
    assert!(has_session(&mut s.alice_1).await);
    assert!(has_session(&mut s.alice_2).await);
    assert!(has_session(&mut s.bob).await);
}

#[rocket::async_test]
async fn an_explicit_typ_of_application_logout_jwt_or_none_at_all_is_accepted() {
    let mut s = three_sessions(memory_store_config).await;

    let token = s.provider.logout_token_with(LogoutToken {
        claims: object(json!({ "sid": "s1" })),
        header: object(json!({ "typ": "application/logout+jwt" })),
        ..LogoutToken::default()
    });
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);
    assert!(!has_session(&mut s.alice_1).await);

    let token = s.provider.logout_token_with(LogoutToken {
        claims: object(json!({ "sid": "s2" })),
        header: object(json!({ "typ": null })),
        ..LogoutToken::default()
    });
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);
    assert!(!has_session(&mut s.alice_2).await);
    assert!(has_session(&mut s.bob).await);
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().expect("a JSON object").clone()
}

/// One logged-in session (alice, `sid` s1, memory store) that a valid
/// logout token would end; `body` (a form body) sent to the back-channel
/// route must be refused with `400 invalid_request` and end nothing.
async fn assert_refused_body(s: &mut Sessions, body: String, why: &str) {
    let resp = s.alice_1.backchannel_post(body).await;
    assert_eq!(resp.status, Status::BadRequest, "{why}: {resp:#?}");
    assert!(resp.is_json(), "{why}: {resp:#?}");
    assert_error(&resp, Status::BadRequest, "invalid_request");
    assert!(
        resp.header("Cache-Control").is_some_and(|v| v.contains("no-store")),
        "{why}: {resp:#?}"
    );
    assert!(has_session(&mut s.alice_1).await, "{why}: no session may end");
    assert!(has_session(&mut s.alice_2).await, "{why}: no session may end");
    assert!(has_session(&mut s.bob).await, "{why}: no session may end");
}

/// [`assert_refused_body`] for a logout token minted with `spec`; the
/// token names alice and `sid` s1 unless `spec` says otherwise.
async fn assert_refused(spec: LogoutToken, why: &str) {
    let mut s = three_sessions(memory_store_config).await;
    assert_refused_with(&mut s, spec, why).await;
}

async fn assert_refused_with(s: &mut Sessions, mut spec: LogoutToken, why: &str) {
    for (name, value) in [("sub", json!("alice")), ("sid", json!("s1"))] {
        spec.claims.entry(name).or_insert(value);
    }
    let token = s.provider.logout_token_with(spec);
    assert_refused_body(s, form(&[("logout_token", &token)]), why).await;
}

fn claims(claims: Value) -> LogoutToken {
    LogoutToken {
        claims: object(claims),
        ..LogoutToken::default()
    }
}

#[rocket::async_test]
async fn an_unsigned_logout_token_is_refused() {
    assert_refused(
        LogoutToken {
            signing: Signing::None,
            ..LogoutToken::default()
        },
        "alg none",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_maced_with_the_client_secret_is_refused() {
    assert_refused(
        LogoutToken {
            signing: Signing::Hs256WithClientSecret,
            ..LogoutToken::default()
        },
        "HS256 with the client secret",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_maced_with_the_client_secret_is_refused_even_when_the_provider_advertises_hs256() {
    let mut s = three_sessions(|provider| {
        provider.behave(|b| {
            b.discovery.insert(
                "id_token_signing_alg_values_supported".into(),
                json!(["RS256", "HS256"]),
            );
        });
        memory_store_config(provider)
    })
    .await;
    let spec = LogoutToken {
        signing: Signing::Hs256WithClientSecret,
        ..LogoutToken::default()
    };
    assert_refused_with(&mut s, spec, "HS256 advertised, still never for logout tokens").await;
}

#[rocket::async_test]
async fn a_logout_token_maced_with_the_public_key_is_refused() {
    assert_refused(
        LogoutToken {
            signing: Signing::Hs256WithPublicKeyPem,
            ..LogoutToken::default()
        },
        "HS256 keyed with the public key (algorithm confusion)",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_signed_with_an_unknown_key_is_refused() {
    assert_refused(
        LogoutToken {
            signing: Signing::With(Key::Rotated),
            header: object(json!({ "kid": Key::Rotated.kid() })),
            ..LogoutToken::default()
        },
        "a key the provider does not publish",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_signed_with_another_key_under_the_providers_kid_is_refused() {
    assert_refused(
        LogoutToken {
            signing: Signing::With(Key::Rotated),
            ..LogoutToken::default()
        },
        "another key under the published kid",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_with_a_broken_signature_is_refused() {
    assert_refused(
        LogoutToken {
            signing: Signing::CorruptSignature,
            ..LogoutToken::default()
        },
        "a corrupted signature",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_for_another_audience_is_refused() {
    assert_refused(claims(json!({ "aud": "another-client" })), "aud of another client").await;
}

#[rocket::async_test]
async fn a_logout_token_without_an_audience_is_refused() {
    assert_refused(claims(json!({ "aud": null })), "no aud").await;
}

#[rocket::async_test]
async fn a_logout_token_from_an_unknown_issuer_is_refused() {
    assert_refused(claims(json!({ "iss": "https://evil.example" })), "an unknown issuer").await;
}

#[rocket::async_test]
async fn a_logout_token_without_an_issuer_is_refused() {
    assert_refused(claims(json!({ "iss": null })), "no iss").await;
}

#[rocket::async_test]
async fn a_logout_token_without_events_is_refused() {
    assert_refused(claims(json!({ "events": null })), "no events").await;
}

#[rocket::async_test]
async fn a_logout_token_with_another_event_is_refused() {
    assert_refused(
        claims(json!({ "events": { "http://schemas.openid.net/event/other": {} } })),
        "another event",
    )
    .await;
    assert_refused(claims(json!({ "events": {} })), "an empty events object").await;
}

#[rocket::async_test]
async fn a_logout_token_whose_event_is_not_an_object_is_refused() {
    assert_refused(
        claims(json!({ "events": { BACKCHANNEL_LOGOUT_EVENT: "logout" } })),
        "the event's value is a string",
    )
    .await;
    assert_refused(
        claims(json!({ "events": [BACKCHANNEL_LOGOUT_EVENT] })),
        "events is an array",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_with_a_nonce_is_refused() {
    assert_refused(claims(json!({ "nonce": "n-0S6_WzA2Mj" })), "a nonce (an ID token?)").await;
}

#[rocket::async_test]
async fn a_logout_token_naming_neither_sub_nor_sid_is_refused() {
    let mut s = three_sessions(memory_store_config).await;
    let token = s.provider.logout_token(json!({ "sub": null }));
    assert_refused_body(&mut s, form(&[("logout_token", &token)]), "neither sub nor sid").await;
}

/// A claim of the right type that names nothing is no claim: an empty
/// `sub` or `sid` would name every session whose own is empty, an empty
/// `jti` would be one id for every token, an empty `aud` nobody.
#[rocket::async_test]
async fn a_logout_token_whose_sub_sid_jti_or_aud_is_empty_is_refused() {
    let mut s = three_sessions(memory_store_config).await;
    for (overrides, why) in [
        (json!({ "sub": "" }), "an empty sub"),
        (json!({ "sub": " " }), "a blank sub"),
        (json!({ "sid": "" }), "an empty sid"),
        (json!({ "sid": "", "sub": null }), "an empty sid alone"),
        (json!({ "jti": "" }), "an empty jti"),
        (json!({ "aud": [] }), "no audience"),
        (
            json!({ "aud": [s.provider.behaviour().client_id, ""] }),
            "an empty audience",
        ),
    ] {
        assert_refused_with(&mut s, claims(overrides), why).await;
    }
}

/// RFC 7519 §4: a logout token naming `sub` twice is refused.
#[rocket::async_test]
async fn a_logout_token_naming_a_claim_twice_is_refused() {
    assert_refused(
        LogoutToken {
            signing: Signing::DuplicateSub("bob".into()),
            ..LogoutToken::default()
        },
        "sub twice",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_without_a_jti_is_refused() {
    assert_refused(claims(json!({ "jti": null })), "no jti").await;
}

#[rocket::async_test]
async fn a_replayed_logout_token_is_refused() {
    let clock = ManualClock::new();
    let provider = TestProvider::start_with_clock(&clock).await;
    let mut alice = lifecycle_browser_on(&clock, memory_store_config(&provider)).await;
    let mut bob = alice.other_browser();
    login_as(&provider, &mut alice, "alice", "s1").await;
    login_as(&provider, &mut bob, "bob", "s3").await;

    let token = provider.logout_token(json!({ "sub": "alice", "jti": random_token("jti") }));
    assert_accepted(&alice.backchannel_logout(&token).await);
    assert!(!has_session(&mut alice).await);

    // alice logs in again, later; the same token must not end the new session.
    clock.advance(Duration::from_millis(1100));
    login_as(&provider, &mut alice, "alice", "s2").await;
    let resp = alice.backchannel_logout(&token).await;
    assert_error(&resp, Status::BadRequest, "invalid_request");
    assert!(has_session(&mut alice).await, "a replayed logout token ends nothing");
    assert!(has_session(&mut bob).await);
}

#[rocket::async_test]
async fn an_expired_logout_token_is_refused() {
    let now = now();
    assert_refused(
        claims(json!({ "iat": now - 7200, "exp": now - 3600 })),
        "expired an hour ago",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_without_exp_is_refused() {
    assert_refused(claims(json!({ "exp": null })), "no exp").await;
}

#[rocket::async_test]
async fn a_logout_token_issued_in_the_future_is_refused() {
    let now = now();
    assert_refused(
        claims(json!({ "iat": now + 3600, "exp": now + 7200 })),
        "iat an hour from now",
    )
    .await;
}

#[rocket::async_test]
async fn a_logout_token_without_iat_is_refused() {
    assert_refused(claims(json!({ "iat": null })), "no iat").await;
}

#[rocket::async_test]
async fn a_logout_token_typed_as_something_else_is_refused() {
    for typ in ["JWT", "at+jwt", "logout"] {
        assert_refused(
            LogoutToken {
                header: object(json!({ "typ": typ })),
                ..LogoutToken::default()
            },
            &format!("typ {typ}"),
        )
        .await;
    }
}

#[rocket::async_test]
async fn a_request_without_a_logout_token_is_refused() {
    let mut s = three_sessions(memory_store_config).await;
    assert_refused_body(&mut s, String::new(), "an empty body").await;
    assert_refused_body(&mut s, form(&[("token", "x")]), "no logout_token parameter").await;
}

#[rocket::async_test]
async fn a_request_with_two_logout_tokens_is_refused() {
    let mut s = three_sessions(memory_store_config).await;
    let first = s.provider.logout_token(json!({ "sid": "s1" }));
    let second = s.provider.logout_token(json!({ "sid": "s2" }));
    let body = form(&[("logout_token", &first), ("logout_token", &second)]);
    assert_refused_body(&mut s, body, "two logout_tokens").await;
}

#[rocket::async_test]
async fn a_logout_token_that_is_not_a_jwt_is_refused() {
    let mut s = three_sessions(memory_store_config).await;
    assert_refused_body(&mut s, form(&[("logout_token", "not-a-jwt")]), "garbage").await;
    assert_refused_body(&mut s, form(&[("logout_token", "a.b.c")]), "three garbage segments").await;
}

#[rocket::async_test]
async fn a_logout_token_ends_only_sessions_of_its_issuer() {
    let provider = TestProvider::start().await;
    let second = TestProvider::start().await;
    let mut config = memory_store_config(&provider);
    config["providers"]["second"] = second.rp_provider_config();
    let mut alice = lifecycle_browser(config).await;
    login_as(&provider, &mut alice, "alice", "s1").await;

    // Same sub and sid, but from the other provider (which signs with the
    // same test key: the token verifies, it just names nobody here).
    let token = second.logout_token(json!({ "sub": "alice", "sid": "s1" }));
    assert_accepted(&alice.backchannel_logout(&token).await);
    assert!(
        has_session(&mut alice).await,
        "a session of `default` is not `second`'s to end"
    );

    let token = provider.logout_token(json!({ "sub": "alice", "sid": "s1" }));
    assert_accepted(&alice.backchannel_logout(&token).await);
    assert!(!has_session(&mut alice).await);
}

#[rocket::async_test]
async fn with_the_cookie_store_a_logged_out_sid_is_refused_afterwards() {
    let provider = TestProvider::start().await;
    let mut alice = lifecycle_browser(oidc_config(&provider)).await;
    let mut bob = alice.other_browser();
    login_as(&provider, &mut alice, "alice", "s1").await;
    login_as(&provider, &mut bob, "bob", "s3").await;
    let cookie = session_cookies(&alice);

    let token = provider.logout_token(json!({ "sub": "alice", "sid": "s1" }));
    assert_accepted(&alice.backchannel_logout(&token).await);

    assert_eq!(session_cookies(&alice), cookie, "the browser still holds its cookie");
    assert!(!has_session(&mut alice).await, "but the session it holds is refused");
    let resp = alice.navigate("/profile").await;
    assert_eq!(resp.status, Status::Found, "a navigation logs in again: {resp:#?}");
    assert!(has_session(&mut bob).await, "other sessions go on");

    // A new login of the same user (a new provider session) works.
    login_as(&provider, &mut alice, "alice", "s2").await;
    assert!(has_session(&mut alice).await);
}

#[rocket::async_test]
async fn with_the_cookie_store_a_sub_wide_logout_refuses_earlier_sessions_only() {
    let clock = ManualClock::new();
    let provider = TestProvider::start_with_clock(&clock).await;
    let mut alice = lifecycle_browser_on(&clock, oidc_config(&provider)).await;
    let mut bob = alice.other_browser();
    login_as(&provider, &mut alice, "alice", "s1").await;
    login_as(&provider, &mut bob, "bob", "s3").await;

    let token = provider.logout_token(json!({ "sub": "alice" }));
    assert_accepted(&alice.backchannel_logout(&token).await);
    assert!(!has_session(&mut alice).await);
    assert!(has_session(&mut bob).await);

    clock.advance(Duration::from_millis(1100));
    login_as(&provider, &mut alice, "alice", "s2").await;
    assert!(
        has_session(&mut alice).await,
        "a login after the logout is a new session"
    );
}

#[rocket::async_test]
async fn a_login_right_after_a_sub_wide_logout_is_not_refused() {
    // The logout ends sessions that existed when it arrived; a login that
    // completes after it, even within the same second, is a new session.
    // At the beginning of a second, so that the login, the logout 100 ms
    // later and the new login 50 ms after that fall in the same one.
    let second = crate::support::provider::now() as u64 + 1;
    let clock = ManualClock::starting_at(std::time::UNIX_EPOCH + Duration::from_millis(second * 1000 + 20));
    let provider = TestProvider::start_with_clock(&clock).await;
    let mut alice = lifecycle_browser_on(&clock, memory_store_config(&provider)).await;
    login_as(&provider, &mut alice, "alice", "s1").await;
    clock.advance(Duration::from_millis(100));

    let token = provider.logout_token(json!({ "sub": "alice" }));
    assert_accepted(&alice.backchannel_logout(&token).await);
    assert!(!has_session(&mut alice).await);
    clock.advance(Duration::from_millis(50));
    provider.behave(|b| {
        b.claims.insert("sid".into(), json!("s2"));
    });
    alice.login_ok(&provider, "/profile").await;
    assert!(
        has_session(&mut alice).await,
        "the login that followed the back-channel logout is refused"
    );
}

/// Two clients at one provider: one issuer, so each has its own callback
/// (two providers claiming one issuer at one callback do not launch).
#[rocket::async_test]
async fn with_two_clients_at_one_provider_a_logout_token_ends_the_session_of_the_client_it_is_for() {
    let provider = TestProvider::start().await;
    provider.accept_client("second-client", "second-secret");
    let mut config = memory_store_config(&provider);
    config["providers"]["second"] =
        crate::support::provider::rp_provider_config_for(&provider.issuer, "second-client", "second-secret");
    config["providers"]["second"]["redirect_uri"] = json!("http://127.0.0.1:8000/callback/second");
    let mut browser = Browser::new(rp(config, rocket::routes![app::profile, app::second, app::public])).await;
    provider.behave(|b| {
        b.client_id = "second-client".into();
        b.client_secret = "second-secret".into();
        b.claims.insert("sid".into(), json!("s2"));
    });
    let auth = browser.start_login("/second").await;
    let code = provider.issue_code(&auth);
    let query = form_encode(&[("code", &code), ("state", auth.state()), ("iss", &provider.issuer)]);
    let resp = browser.navigate(&format!("/callback/second?{query}")).await;
    assert_callback_completed(&resp, &provider);
    assert_eq!(browser.api("/second").await.status, Status::Ok);

    let token = provider.logout_token(json!({ "sid": "s2", "sub": null, "aud": "second-client" }));
    let resp = browser.backchannel_logout(&token).await;
    assert_accepted(&resp);
    assert_eq!(
        browser.api("/second").await.status,
        Status::Unauthorized,
        "the second client's session ended"
    );
}

/// A provider configured by `discovery_url` alone names its issuer only in
/// its discovery document. An instance that has not read it yet (one just
/// started) reads it when a logout token comes, rather than refuse the
/// token as foreign (`400` would tell the provider not to send it again).
/// A provider that cannot be discovered now is its trouble: `502`.
#[rocket::async_test]
async fn a_provider_known_by_its_discovery_url_alone_is_discovered_for_its_logout_token() {
    let provider = TestProvider::start().await;
    let by_discovery_url = |provider: &TestProvider| {
        let mut config = memory_store_config(provider);
        let table = config["providers"]["default"].as_object_mut().expect("a table");
        table.remove("issuer");
        table.insert(
            "discovery_url".into(),
            json!(format!("{}/.well-known/openid-configuration", provider.issuer)),
        );
        config
    };
    let mut fresh = lifecycle_browser(by_discovery_url(&provider)).await;
    let discoveries = provider.counts().discovery;
    let resp = fresh
        .backchannel_logout(&provider.logout_token(json!({ "sid": "s1" })))
        .await;
    assert_accepted(&resp);
    assert_eq!(provider.counts().discovery, discoveries + 1);
    // The discovered provider works as usual.
    login_as(&provider, &mut fresh, "alice", "s2").await;
    let resp = fresh
        .backchannel_logout(&provider.logout_token(json!({ "sid": "s2" })))
        .await;
    assert_accepted(&resp);
    assert!(!has_session(&mut fresh).await, "the session ended");

    let config = by_discovery_url(&provider);
    let token = provider.logout_token(json!({ "sid": "s3" }));
    provider.stop().await;
    let down = lifecycle_browser(config).await;
    let resp = down.backchannel_logout(&token).await;
    assert_eq!(resp.status, Status::BadGateway, "{resp:#?}");
}

/// A logout by `sub` ends the sessions authenticated until it arrives, on
/// this server's clock: a provider whose clock lags (its `iat` 90 s behind)
/// still ends the session that logged in a moment ago.
#[rocket::async_test]
async fn a_logout_by_sub_from_a_provider_whose_clock_lags_still_ends_a_recent_session() {
    let mut s = three_sessions(memory_store_config).await;
    let iat = now() - 90;
    let token = s
        .provider
        .logout_token(json!({ "sub": "alice", "sid": null, "iat": iat, "exp": now() + 60 }));
    assert_accepted(&s.alice_1.backchannel_logout(&token).await);
    assert!(!has_session(&mut s.alice_1).await && !has_session(&mut s.alice_2).await);
    assert!(has_session(&mut s.bob).await);
}
