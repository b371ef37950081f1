//! The state kept in one process is bounded (`[oidc.limits]`), and a full
//! ledger never lets anything in again: a used `state`, a replayed logout
//! token or a logged-out session stays refused, and what no longer fits
//! gets `503 temporarily_unavailable`. Server-side sessions (in memory or
//! in Redis) are capped per user, and bounded in size: one user's logins
//! never end another user's session.

use rocket::http::{Method, Status};
use serde_json::{Value, json};

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

per_store! {
    async fn one_user_past_the_cap_ends_only_their_own_oldest_session(store) in [memory, redis] {
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

per_store! {
    async fn a_server_side_session_is_bounded_like_a_cookie_session(store) in [memory, redis] {
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
    let clock = ManualClock::new();
    let app = lifecycle_browser_on(&clock, config).await;
    // Two logouts fill the ledger of logged-out `sid`s for 5 s (the
    // session lifetime: no session they name lives longer).
    for n in 0..2 {
        let token = provider.logout_token(json!({ "sid": format!("gone-{n}"), "sub": null }));
        assert_eq!(app.backchannel_logout(&token).await.status, Status::Ok);
    }
    clock.advance(std::time::Duration::from_millis(1500));
    let mut alice = logged_in(&app, &provider, "alice", "s1").await;
    let token = provider.logout_token(json!({ "sid": "s1", "sub": null }));
    let resp = app.backchannel_logout(&token).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");

    // Room again; alice's session (5 s from its login) still lives.
    clock.advance(std::time::Duration::from_millis(5300 - 1500));
    assert!(alice.profile().await.is_some(), "alice is still logged in");
    // The provider sends the same logout token again, as a provider does
    // after a 503: the token was not spent by the failed attempt.
    let resp = app.backchannel_logout(&token).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_no_session(&mut alice).await;
    let resp = app.backchannel_logout(&token).await;
    assert_error(&resp, Status::BadRequest, "invalid_request");
}

// --- no one client fills a ledger for everyone ----------------------------

/// The stores whose ledgers one client could fill: in process (the
/// `cookie` and `memory` stores without Redis) and in Redis.
fn flood_config(
    provider: &TestProvider,
    store: &str,
    redis: &crate::support::redis::RedisServer,
    limits: Value,
) -> Value {
    let mut config = with_limits(provider, store, limits);
    config["limits"]["provider_calls_per_second"] = json!(0);
    if store == "redis" {
        config["redis"] = redis.config();
    }
    config
}

per_store! {
    /// Anyone can start a login and answer its callback: with an error (no
    /// code), or with a code the provider refuses. 60 such callbacks on a
    /// ledger of 40 used states leave it open for the next real user, whose
    /// state stays single-use.
    async fn a_flood_of_anonymous_callbacks_fills_the_used_states_for_nobody(store) in [cookie, memory, redis] {
        let provider = TestProvider::start().await;
        let redis = crate::support::redis::RedisServer::start();
        let app = lifecycle_browser(flood_config(&provider, store, &redis, json!({ "used_states": 40 }))).await;
        for n in 0..60 {
            let mut anonymous = app.other_browser();
            let auth = anonymous.start_login("/profile").await;
            let resp = if n % 3 == 0 {
                let junk = format!("junk-{n}");
                anonymous
                    .callback(
                        &[("code", &junk), ("state", auth.state()), ("iss", &provider.issuer)],
                        Mode::Api,
                    )
                    .await
            } else {
                anonymous
                    .refuse(&provider, &auth, "access_denied", None, Mode::Api)
                    .await
            };
            assert_eq!(resp.status, Status::Unauthorized, "{store}: {resp:#?}");
        }
        let mut user = app.other_browser();
        let auth = user.start_login("/profile").await;
        let code = provider.issue_code(&auth);
        let params = [
            ("code", code.as_str()),
            ("state", auth.state()),
            ("iss", provider.issuer.as_str()),
        ];
        let replay = user.jar.clone();
        assert_callback_completed(&user.callback(&params, Mode::Navigate).await, &provider);
        assert!(user.profile().await.is_some(), "{store}");
        let resp = app.with_jar(replay).callback(&params, Mode::Navigate).await;
        assert_error(&resp, Status::BadRequest, "invalid_state");
    }
}

/// One account logging in again and again holds at most its share of the
/// used states (`used_states_per_subject`): past it, that account is
/// refused (`429`), and everyone else logs in.
#[rocket::async_test]
async fn one_account_logging_in_again_and_again_fills_the_used_states_for_nobody() {
    let provider = TestProvider::start().await;
    let redis = crate::support::redis::RedisServer::start();
    let limits = json!({ "used_states": 40, "used_states_per_subject": 5 });
    let app = lifecycle_browser(flood_config(&provider, "cookie", &redis, limits)).await;
    provider.behave(|b| b.subject = "mallory".into());
    let mut refused = 0;
    for _ in 0..45 {
        let (_, resp) = app.other_browser().login(&provider, "/profile", Mode::Api).await;
        match resp.status {
            Status::SeeOther => {}
            Status::TooManyRequests => {
                assert_error(&resp, Status::TooManyRequests, "too_many_requests");
                assert!(resp.header("Retry-After").is_some(), "{resp:#?}");
                refused += 1;
            }
            other => panic!("{other}: {resp:#?}"),
        }
    }
    assert_eq!(refused, 40, "five logins, then refused");
    provider.behave(|b| b.subject = "bob".into());
    let mut bob = app.other_browser();
    bob.login_ok(&provider, "/profile").await;
    assert!(bob.profile().await.is_some(), "bob is not refused for mallory");
}

per_store! {
    /// Each login ends the browser's previous session, and a logout ends the
    /// current one: both are records of logged-out sessions. One account
    /// logging in (and out) in a loop holds at most its share of single
    /// records; past it, its records become one (its sessions authenticated
    /// until the latest of them), so the record never fills for others, and
    /// every copy of that account's sessions stays refused.
    async fn one_account_logging_in_and_out_in_a_loop_fills_the_logout_records_for_nobody(store) in [in_process, redis] {
        let with_redis = store == "redis";
        let provider = TestProvider::start().await;
        let redis = crate::support::redis::RedisServer::start();
        let mut config = flood_config(
            &provider,
            "cookie",
            &redis,
            json!({ "revocations": 40, "revocations_per_subject": 5 }),
        );
        if with_redis {
            config["redis"] = redis.config();
        }
        let app = lifecycle_browser(config.clone()).await;
        // With Redis, two instances behind a load balancer: the records
        // one writes, the other honours.
        let other = if with_redis {
            lifecycle_browser(config).await
        } else {
            app.other_browser()
        };
        let mut carol = logged_in(&app, &provider, "carol", "c1").await;
        provider.behave(|b| {
            b.subject = "mallory".into();
            b.claims.remove("sid");
        });
        let mut mallory = app.other_browser();
        let mut copies = Vec::new();
        for n in 0..46 {
            // A login in this browser, whether it has a session or not (a
            // second tab started it): it ends the session it had.
            let instance = if n % 4 < 2 { &app } else { &other };
            mallory.client = instance.client.clone();
            let mut tab = instance.other_browser();
            let auth = tab.start_login("/profile").await;
            mallory.jar.extend(tab.jar);
            let resp = mallory.approve(&provider, &auth, Mode::Navigate).await;
            assert_callback_completed(&resp, &provider);
            copies.push(mallory.jar.clone());
            if n % 2 == 0 {
                assert_eq!(
                    mallory.logout(Method::Post).await.status,
                    Status::SeeOther,
                    "logout {n}"
                );
            }
        }
        assert!(mallory.profile().await.is_some(), "mallory's last session is alive");
        for copy in &copies[..45] {
            assert_no_session(&mut app.with_jar(copy.clone())).await;
            assert_no_session(&mut other.with_jar(copy.clone())).await;
        }
        // Others: carol is still logged in, and bob's logout is recorded.
        assert!(carol.profile().await.is_some(), "with_redis {with_redis}");
        let mut bob = logged_in(&app, &provider, "bob", "b1").await;
        let copy = bob.jar.clone();
        assert_eq!(bob.logout(Method::Post).await.status, Status::SeeOther);
        assert_no_session(&mut app.with_jar(copy)).await;
    }
}

per_store! {
    /// The holder of DPoP-bound tokens can make as many proofs, and keys, as
    /// it likes; each proof is recorded, and the tokens of one subject hold at
    /// most its share (`dpop_proofs_per_subject`) however many keys they use:
    /// past it, that subject's requests are refused (`429`), and every other
    /// subject's go through, and so do the subject's tokens of another client.
    /// In process, and in Redis with two instances.
    async fn one_subject_fills_the_proof_ledger_for_nobody_with_any_number_of_keys(store) in [in_process, redis] {
        use crate::support::api::{api_app, bearer_config};
        use crate::support::dpop::Holder;
        let with_redis = store == "redis";
        let provider = TestProvider::start().await;
        let redis = crate::support::redis::RedisServer::start();
        let mut config = bearer_config(&provider, json!({}));
        config["limits"] = json!({ "dpop_proofs": 40, "dpop_proofs_per_subject": 10 });
        if with_redis {
            config["redis"] = redis.config();
        }
        let first = Browser::new(api_app(config.clone())).await;
        let second = if with_redis {
            Browser::new(api_app(config)).await
        } else {
            first.other_browser()
        };
        let dpop = |n: usize, holder: &Holder, token: &str| {
            let authorization = format!("DPoP {token}");
            let proof = holder.proof("GET", "/api", token);
            let mut app = if n.is_multiple_of(2) {
                first.other_browser()
            } else {
                second.other_browser()
            };
            async move {
                app.send(
                    Method::Get,
                    "/api",
                    &[("Authorization", &authorization), ("DPoP", &proof)],
                    None,
                )
                .await
            }
        };
        let mut statuses = Vec::new();
        for key in 0..5 {
            let mallory = Holder::new(31 + key);
            let token = provider.opaque_token(json!({ "sub": "mallory", "cnf": { "jkt": mallory.jkt() } }));
            for _ in 0..9 {
                statuses.push(dpop(statuses.len(), &mallory, &token).await.status);
            }
        }
        assert!(
            statuses[..10].iter().all(|s| *s == Status::Ok),
            "redis {with_redis}: {statuses:?}"
        );
        assert!(
            statuses[10..].iter().all(|s| *s == Status::TooManyRequests),
            "redis {with_redis}: a new key is no new share: {statuses:?}"
        );
        for (n, name) in ["alice", "bob"].into_iter().enumerate() {
            let holder = Holder::new(40 + n as u8);
            let token = provider.opaque_token(json!({ "sub": name, "cnf": { "jkt": holder.jkt() } }));
            let resp = dpop(n, &holder, &token).await;
            assert_eq!(
                resp.status,
                Status::Ok,
                "redis {with_redis}: {name} is not refused for mallory's: {resp:#?}"
            );
        }
        // A share is a subject's through one client: what mallory spent
        // through one app leaves her tokens of another app theirs.
        let holder = Holder::new(50);
        let token = provider.opaque_token(
            json!({ "sub": "mallory", "client_id": "mallorys-other-app", "cnf": { "jkt": holder.jkt() } }),
        );
        let resp = dpop(0, &holder, &token).await;
        assert_eq!(resp.status, Status::Ok, "redis {with_redis}: another client: {resp:#?}");
    }
}

per_store! {
    /// Each back-channel logout by `sid` leaves a record, for as long as the
    /// sessions it ends could live. One account that logs in at the app and
    /// out at the provider in a loop makes the provider send one logout token
    /// per loop: when the tokens name the user, the records are the user's,
    /// within their share, and past it become one record of the user. The
    /// ledger never fills for others: another user's back-channel logout is
    /// still recorded, and every copy of the looping account's sessions stays
    /// refused. In every store, and on two instances sharing one Redis.
    async fn one_account_logged_out_by_sid_in_a_loop_fills_the_logout_records_for_nobody(store) in [cookie, memory, redis] {
        let provider = TestProvider::start().await;
        let redis = crate::support::redis::RedisServer::start();
        let limits = json!({ "revocations": 40, "revocations_per_subject": 5 });
        let config = flood_config(&provider, store, &redis, limits);
        let app = lifecycle_browser(config.clone()).await;
        let other = if store == "redis" {
            lifecycle_browser(config).await
        } else {
            app.other_browser()
        };
        let mut copies = Vec::new();
        for n in 0..45_u32 {
            let instance = if n.is_multiple_of(2) { &app } else { &other };
            let sid = format!("mallory-sid-{n}");
            let mallory = logged_in(instance, &provider, "mallory", &sid).await;
            copies.push(mallory.jar.clone());
            let token = provider.logout_token(json!({ "sub": "mallory", "sid": sid }));
            let resp = instance.backchannel_logout(&token).await;
            assert_eq!(resp.status, Status::Ok, "{store}: loop {n}: {resp:#?}");
        }
        for copy in copies {
            assert_no_session(&mut app.with_jar(copy.clone())).await;
            assert_no_session(&mut other.with_jar(copy)).await;
        }
        // Others: bob's back-channel logout is still recorded, and ends him.
        let mut bob = logged_in(&app, &provider, "bob", "bob-sid").await;
        let token = provider.logout_token(json!({ "sub": "bob", "sid": "bob-sid" }));
        let resp = other.backchannel_logout(&token).await;
        assert_eq!(resp.status, Status::Ok, "{store}: {resp:#?}");
        assert_no_session(&mut bob).await;
        // And mallory may still log in.
        let mut mallory = logged_in(&other, &provider, "mallory", "mallory-sid-last").await;
        assert!(mallory.profile().await.is_some(), "{store}");
    }
}

/// Without a record on disk or Redis, every cookie session accepted began
/// in this process, under today's inactivity timeout: a back-channel
/// logout needs remembering only that long (not the whole lifetime), so
/// logout tokens naming only a `sid` (nobody's share) leave the ledger as
/// soon as the sessions they end would have gone idle.
#[rocket::async_test]
async fn in_process_a_logout_by_sid_is_remembered_as_long_as_the_inactivity_timeout() {
    let provider = TestProvider::start().await;
    let mut config = with_limits(&provider, "cookie", json!({ "revocations": 4 }));
    config["session"]["inactivity_timeout_seconds"] = json!(2);
    let clock = ManualClock::new();
    let app = lifecycle_browser_on(&clock, config).await;
    let logout = |n: u32| {
        let token = provider.logout_token(json!({ "sid": format!("sid-{n}") }));
        let app = app.other_browser();
        async move { app.backchannel_logout(&token).await.status }
    };
    for n in 0..4 {
        assert_eq!(logout(n).await, Status::Ok, "{n}");
    }
    assert_eq!(logout(4).await, Status::ServiceUnavailable, "the ledger is full");
    clock.advance(std::time::Duration::from_millis(3200));
    assert_eq!(logout(5).await, Status::Ok, "the records are over with the timeout");
}
