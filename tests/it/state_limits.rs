//! The state kept in one process is bounded (`[oidc.limits]`), and a full
//! ledger never lets anything in again: a used `state`, a replayed logout
//! token or a logged-out session stays refused, and what no longer fits
//! gets `503 temporarily_unavailable`. Server-side sessions (in memory or
//! in Redis) are capped per user, and bounded in size: one user's logins
//! never end another user's session.

use rocket::http::{Method, Status};
use serde_json::{json, Value};

use crate::support::lifecycle::*;
use crate::support::*;

fn with_limits(provider: &TestProvider, store: &str, limits: Value) -> Value {
    let mut config = oidc_config(provider);
    config["session"] = json!({ "store": store });
    config["limits"] = limits;
    config
}

#[rocket::async_test]
async fn a_full_ledger_of_used_states_refuses_new_logins_and_still_refuses_replays() {
    let provider = TestProvider::start().await;
    let mut browser = lifecycle_browser(with_limits(&provider, "cookie", json!({ "used_states": 3 }))).await;
    let mut replays = Vec::new();
    for _ in 0..3 {
        let mut user = browser.other_browser();
        let auth = user.start_login("/profile").await;
        let code = provider.issue_code(&auth);
        let params = vec![
            ("code".to_string(), code),
            ("state".to_string(), auth.state().to_string()),
            ("iss".to_string(), provider.issuer.clone()),
        ];
        let before = user.jar.clone();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_callback_completed(&user.callback(&pairs, Mode::Navigate).await, &provider);
        replays.push((before, params));
    }

    // A fourth login cannot be recorded: refused, not let through.
    let auth = browser.start_login("/profile").await;
    let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
    assert!(
        !resp.body.contains("oidc.limits"),
        "the limit is named in the log, not to the caller: {resp:#?}"
    );
    assert!(session_cookies(&browser).is_empty(), "no session: {resp:#?}");

    // Every used state is still remembered.
    for (jar, params) in replays {
        let mut replay = browser.with_jar(jar);
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let resp = replay.callback(&pairs, Mode::Navigate).await;
        assert_error(&resp, Status::BadRequest, "invalid_state");
    }
    assert_eq!(
        provider.token_requests().len(),
        3,
        "neither the fourth login nor a replay reached the provider"
    );
}

#[rocket::async_test]
async fn a_full_ledger_of_logout_tokens_refuses_new_ones_and_still_refuses_replays() {
    let provider = TestProvider::start().await;
    let browser = lifecycle_browser(with_limits(&provider, "memory", json!({ "logout_tokens": 2 }))).await;
    let tokens: Vec<String> = (0..3)
        .map(|n| provider.logout_token(json!({ "sub": format!("user-{n}") })))
        .collect();
    for token in &tokens[..2] {
        assert_eq!(browser.backchannel_logout(token).await.status, Status::Ok);
    }
    let resp = browser.backchannel_logout(&tokens[2]).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
    for token in &tokens[..2] {
        let resp = browser.backchannel_logout(token).await;
        assert_error(&resp, Status::BadRequest, "invalid_request");
        assert!(resp.body.contains("already used"), "{resp:#?}");
    }
}

#[rocket::async_test]
async fn a_full_ledger_of_logged_out_sessions_refuses_new_logouts_and_forgets_none() {
    let provider = TestProvider::start().await;
    let app = lifecycle_browser(with_limits(&provider, "cookie", json!({ "revocations": 2 }))).await;
    let mut copies = Vec::new();
    for n in 0..3 {
        let mut user = app.other_browser();
        provider.behave(|b| b.subject = format!("user-{n}"));
        user.login_ok(&provider, "/profile").await;
        let copy = user.jar.clone();
        let resp = user.logout(Method::Post).await;
        assert!(
            session_cookies(&user).is_empty(),
            "the browser's cookies go in any case: {resp:#?}"
        );
        if n < 2 {
            assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
            copies.push(copy);
        } else {
            assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
            assert!(!resp.body.contains("oidc.limits"), "{resp:#?}");
        }
    }
    for copy in copies {
        assert_no_session(&mut app.with_jar(copy)).await;
    }
}

#[rocket::async_test]
async fn one_user_past_the_cap_ends_only_their_own_oldest_session() {
    for store in ["memory", "redis"] {
        let provider = TestProvider::start().await;
        let redis = crate::support::redis::RedisServer::start();
        let mut config = with_limits(&provider, store, json!({ "sessions_per_subject": 2 }));
        if store == "redis" {
            config["redis"] = redis.config();
        }
        let app = lifecycle_browser(config).await;
        let mut bob = app.other_browser();
        provider.behave(|b| b.subject = "bob".into());
        bob.login_ok(&provider, "/profile").await;

        provider.behave(|b| b.subject = "alice".into());
        let mut alices = Vec::new();
        for _ in 0..3 {
            let mut alice = app.other_browser();
            alice.login_ok(&provider, "/profile").await;
            alices.push(alice);
        }
        assert_eq!(
            bob.profile().await.expect("bob keeps his session")["sub"],
            "bob",
            "{store}"
        );
        assert!(
            alices[0].profile().await.is_none(),
            "{store}: alice's oldest session ended"
        );
        for alice in &mut alices[1..] {
            assert_eq!(alice.profile().await.expect("alice's newer sessions")["sub"], "alice");
        }
    }
}

#[rocket::async_test]
async fn a_server_side_session_is_bounded_like_a_cookie_session() {
    for store in ["memory", "redis"] {
        let provider = TestProvider::start().await;
        provider.behave(|b| {
            b.userinfo_claims.insert(
                "bio".into(),
                json!(crate::support::jwt::incompressible_text(30_000, "bio")),
            );
        });
        let redis = crate::support::redis::RedisServer::start();
        let mut config = with_limits(&provider, store, json!({}));
        if store == "redis" {
            config["redis"] = redis.config();
        }
        let mut browser = lifecycle_browser(config).await;
        let (_, resp) = browser.login(&provider, "/profile", Mode::Navigate).await;
        assert_error(&resp, Status::BadGateway, "session_too_large");
        assert!(!browser.jar.contains_key("oidc_sid"), "{store}: {resp:#?}");
        if store == "redis" {
            assert!(
                !redis.keys().iter().any(|k| k.contains(":session:")),
                "{store}: nothing stored"
            );
        }
    }
}
