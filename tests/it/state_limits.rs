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

#[rocket::async_test]
async fn a_full_memory_store_refuses_a_new_user_rather_than_end_another_users_session() {
    let provider = TestProvider::start().await;
    let app = lifecycle_browser(with_limits(
        &provider,
        "memory",
        json!({ "sessions": 3, "sessions_per_subject": 2 }),
    ))
    .await;
    let mut others = Vec::new();
    for user in ["bob", "carol"] {
        let mut browser = app.other_browser();
        provider.behave(|b| b.subject = user.into());
        browser.login_ok(&provider, "/profile").await;
        others.push(browser);
    }
    // Alice takes the last place, then logs in again and again.
    provider.behave(|b| b.subject = "alice".into());
    for _ in 0..4 {
        app.other_browser().login_ok(&provider, "/profile").await;
    }
    for other in &mut others {
        assert!(
            other.profile().await.is_some(),
            "alice's logins end only her own sessions"
        );
    }
    // A new user finds the store full of other users' live sessions.
    provider.behave(|b| b.subject = "erin".into());
    let mut erin = app.other_browser();
    let (_, resp) = erin.login(&provider, "/profile", Mode::Navigate).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
    assert!(!erin.jar.contains_key("oidc_sid"), "{resp:#?}");
    for other in &mut others {
        assert!(other.profile().await.is_some(), "nobody was pushed out for erin");
    }
}

/// Logs a new browser of `app` in as `sub` with the provider session `sid`.
async fn logged_in(app: &Browser, provider: &TestProvider, sub: &str, sid: &str) -> Browser {
    provider.behave(|b| {
        b.subject = sub.into();
        b.claims.insert("sid".into(), json!(sid));
    });
    let mut browser = app.other_browser();
    browser.login_ok(provider, "/profile").await;
    browser
}

#[rocket::async_test]
async fn full_ledgers_of_logged_out_sids_and_subs_refuse_new_back_channel_logouts_and_forget_none() {
    for by in ["sid", "sub"] {
        let provider = TestProvider::start().await;
        let app = lifecycle_browser(with_limits(&provider, "cookie", json!({ "revocations": 2 }))).await;
        let mut logged_out = Vec::new();
        for n in 0..3 {
            let (sub, sid) = (format!("user-{n}"), format!("sid-{n}"));
            let browser = logged_in(&app, &provider, &sub, &sid).await;
            let claims = if by == "sid" {
                json!({ "sid": sid, "sub": null })
            } else {
                json!({ "sub": sub })
            };
            let resp = app.backchannel_logout(&provider.logout_token(claims)).await;
            if n < 2 {
                assert_eq!(resp.status, Status::Ok, "{by}: {resp:#?}");
                logged_out.push(browser);
            } else {
                assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");
            }
        }
        for browser in &mut logged_out {
            assert_no_session(browser).await;
        }
    }
}

#[rocket::async_test]
async fn a_back_channel_logout_refused_for_want_of_room_ends_the_session_when_the_provider_sends_it_again() {
    let provider = TestProvider::start().await;
    let mut config = with_limits(&provider, "cookie", json!({ "revocations": 2 }));
    config["session"]["lifetime_seconds"] = json!(5);
    let app = lifecycle_browser(config).await;
    // Two logouts fill the ledger of logged-out `sid`s for 5 s (the
    // session lifetime: no session they name lives longer).
    let filled = std::time::Instant::now();
    for n in 0..2 {
        let token = provider.logout_token(json!({ "sid": format!("gone-{n}"), "sub": null }));
        assert_eq!(app.backchannel_logout(&token).await.status, Status::Ok);
    }
    rocket::tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut alice = logged_in(&app, &provider, "alice", "s1").await;
    let token = provider.logout_token(json!({ "sid": "s1", "sub": null }));
    let resp = app.backchannel_logout(&token).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");

    // Room again; alice's session (5 s from its login) still lives.
    let room = std::time::Duration::from_millis(5300).saturating_sub(filled.elapsed());
    rocket::tokio::time::sleep(room).await;
    assert!(alice.profile().await.is_some(), "alice is still logged in");
    // The provider sends the same logout token again, as a provider does
    // after a 503: the token was not spent by the failed attempt.
    let resp = app.backchannel_logout(&token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_no_session(&mut alice).await;
    let resp = app.backchannel_logout(&token).await;
    assert_error(&resp, Status::BadRequest, "invalid_request");
}
