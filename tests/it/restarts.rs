//! What a restart of the app forgets, and what it must not: a logout
//! outlives a restart in every store and configuration.
//!
//! | store | where logouts are kept | after a restart |
//! |---|---|---|
//! | `cookie`, no Redis, no file | this process | every cookie session from before is refused once |
//! | `cookie` + `session.logout_records_path` | a file of this process | logouts hold; other sessions go on |
//! | `cookie` + `[oidc.redis]` | Redis | logouts hold; other sessions go on |
//! | `memory` | this process | every session is gone (they lived in the process) |
//! | `redis` | Redis | logged-out sessions are deleted there; others go on |

use rocket::http::{Method, Status};
use serde_json::{Value, json};

use crate::support::instances::*;
use crate::support::lifecycle::*;
use crate::support::redis::RedisServer;
use crate::support::*;

/// The app of `oidc` started again (the same configuration and secret
/// key), once the running one is gone (no browser of it may be left: it
/// holds the process, and its record of logouts, open).
/// Now on `clock`, in Unix seconds.
fn unix_seconds(clock: &ManualClock) -> i64 {
    let now = rocket_openidconnect::clock::Clock::now(clock);
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn restart(oidc: &Value, running: Browser) -> Browser {
    drop(running);
    start(oidc).await
}

/// [`restart`] on `clock`.
async fn restart_on(clock: &ManualClock, oidc: &Value, running: Browser) -> Browser {
    drop(running);
    start_with(|| rp_on(clock, oidc.clone(), lifecycle_routes())).await
}

/// The app of `oidc` started. The last tasks of one just stopped (a
/// logout's token revocations) may hold its record of logouts a moment
/// longer; a real restart ends them with the process.
async fn start(oidc: &Value) -> Browser {
    start_with(|| rp(oidc.clone(), lifecycle_routes())).await
}

async fn start_with(app: impl Fn() -> rocket::Rocket<rocket::Build>) -> Browser {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match rocket::local::asynchronous::Client::untracked(app()).await {
            Ok(client) => {
                return Browser {
                    client: std::sync::Arc::new(client),
                    jar: Default::default(),
                };
            }
            Err(error) => {
                let kind = format!("{:?}", error.kind());
                assert!(
                    std::time::Instant::now() < deadline,
                    "the app did not start again: {kind}"
                );
                rocket::tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// [`restart`], with `meanwhile` done while no app runs.
async fn restart_after(oidc: &Value, running: Browser, meanwhile: impl FnOnce()) -> Browser {
    // Once a new one could start, the old one is gone; the new one, idle,
    // leaves nothing behind.
    drop(restart(oidc, running).await);
    meanwhile();
    start(oidc).await
}

/// The cookies of `browser`, which is let go (it holds the app open).
fn jar_of(browser: Browser) -> std::collections::BTreeMap<String, String> {
    browser.jar
}

/// Logs `browser` in as `sub` with the provider session `sid`.
async fn log_in(provider: &TestProvider, browser: &mut Browser, sub: &str, sid: &str) {
    provider.behave(|b| {
        b.subject = sub.into();
        b.claims.insert("sid".into(), json!(sid));
    });
    browser.login_ok(provider, "/profile").await;
}

/// The browser of `jar` on the app `app` talks to: its profile, if it has
/// a session there.
async fn profile_with(app: &Browser, jar: &std::collections::BTreeMap<String, String>) -> Option<Value> {
    app.with_jar(jar.clone()).profile().await
}

/// The default configuration: cookie sessions, no Redis. A restart forgets
/// what the process knew of logouts, so it refuses every cookie session
/// authenticated before it, once: a logged-out session's copy is not let
/// back in (it was: the reproduction), and users log in again.
#[rocket::async_test]
async fn without_redis_or_a_record_on_disk_a_restart_refuses_every_older_cookie_session_once() {
    let provider = TestProvider::start().await;
    let oidc = oidc_config(&provider);
    let mut app = lifecycle_browser(oidc.clone()).await;
    log_in(&provider, &mut app, "alice", "a1").await;
    let copy = app.jar.clone();
    assert_eq!(app.logout(Method::Post).await.status, Status::SeeOther);
    assert!(profile_with(&app, &copy).await.is_none(), "refused before the restart");
    let mut bob = app.other_browser();
    log_in(&provider, &mut bob, "bob", "b1").await;
    let bob_jar = bob.jar.clone();
    drop(bob);

    let app = restart(&oidc, app).await;
    assert!(
        profile_with(&app, &copy).await.is_none(),
        "the logged-out copy stays refused"
    );
    assert!(
        profile_with(&app, &bob_jar).await.is_none(),
        "a session from before the restart is refused once (its logout could have been forgotten)"
    );
    let mut bob = app.with_jar(bob_jar);
    log_in(&provider, &mut bob, "bob", "b2").await;
    assert!(bob.profile().await.is_some(), "logging in again works");
}

/// With `session.logout_records_path`, the logouts are written down: after
/// a restart, an RP-initiated logout and a back-channel logout still hold,
/// and a session nobody logged out goes on.
#[rocket::async_test]
async fn with_a_record_on_disk_logouts_outlive_a_restart_and_other_sessions_go_on() {
    let provider = TestProvider::start().await;
    let dir = TempDir::new("logouts");
    let mut oidc = oidc_config(&provider);
    oidc["session"] = json!({ "logout_records_path": dir.join("logouts") });
    let mut app = lifecycle_browser(oidc.clone()).await;

    log_in(&provider, &mut app, "alice", "a1").await;
    let alice = app.jar.clone();
    assert_eq!(app.logout(Method::Post).await.status, Status::SeeOther);
    let mut carol = app.other_browser();
    log_in(&provider, &mut carol, "carol", "c1").await;
    let token = provider.logout_token(json!({ "sid": "c1", "sub": "carol" }));
    assert_eq!(app.backchannel_logout(&token).await.status, Status::Ok);
    let carol = jar_of(carol);
    let mut bob = app.other_browser();
    log_in(&provider, &mut bob, "bob", "b1").await;
    let bob = jar_of(bob);

    let app = restart(&oidc, app).await;
    assert!(
        profile_with(&app, &alice).await.is_none(),
        "alice logged out before the restart"
    );
    assert!(
        profile_with(&app, &carol).await.is_none(),
        "carol's provider logged her out"
    );
    let bob_profile = profile_with(&app, &bob).await.expect("bob goes on");
    assert_eq!(bob_profile["sub"], "bob");

    // And across a second restart, with the record written anew.
    let app = restart(&oidc, app).await;
    assert!(profile_with(&app, &alice).await.is_none());
    assert!(profile_with(&app, &bob).await.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("logouts"))
            .expect("the record")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the record is the app user's own");
    }
}

/// What a local attacker (or an accident) does to a file.
type Tampering = Box<dyn Fn(&std::path::Path)>;

/// What cannot be trusted is not guessed at: a record someone else may
/// read or write, a symlink planted in its place, or one that is not ours,
/// starts again from now (every older cookie session is refused once),
/// written anew, owner-only.
#[rocket::async_test]
async fn a_record_on_disk_that_cannot_be_trusted_starts_again_and_refuses_older_sessions() {
    let provider = TestProvider::start().await;
    let dir = TempDir::new("logouts");
    let path = dir.join("logouts");
    let mut oidc = oidc_config(&provider);
    oidc["session"] = json!({ "logout_records_path": path });
    #[cfg(unix)]
    let tamperings: Vec<(&str, Tampering)> = vec![
        (
            "readable by others",
            Box::new(|path| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            }),
        ),
        (
            "replaced by a symlink",
            Box::new(|path| {
                let elsewhere = path.with_file_name("elsewhere");
                std::fs::copy(path, &elsewhere).expect("copy");
                std::fs::remove_file(path).expect("rm");
                std::os::unix::fs::symlink(&elsewhere, path).expect("symlink");
            }),
        ),
        (
            "not a record",
            Box::new(|path| std::fs::write(path, "garbage\n").expect("write")),
        ),
    ];
    #[cfg(not(unix))]
    let tamperings: Vec<(&str, Tampering)> = vec![(
        "not a record",
        Box::new(|path| std::fs::write(path, "garbage\n").expect("write")),
    )];
    for (what, tamper) in tamperings {
        let mut app = lifecycle_browser(oidc.clone()).await;
        let mut bob = app.other_browser();
        log_in(&provider, &mut bob, "bob", "b1").await;
        let bob = jar_of(bob);
        log_in(&provider, &mut app, "alice", "a1").await;
        let alice = app.jar.clone();
        assert_eq!(app.logout(Method::Post).await.status, Status::SeeOther);
        let app = restart_after(&oidc, app, || tamper(&path)).await;
        assert!(
            profile_with(&app, &alice).await.is_none(),
            "{what}: alice stays logged out"
        );
        assert!(
            profile_with(&app, &bob).await.is_none(),
            "{what}: refused once, for safety"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let metadata = std::fs::symlink_metadata(&path).expect("the record");
            assert!(metadata.is_file(), "{what}: written anew, not through a symlink");
            assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{what}");
        }
    }
}

/// In every store, a logged-out session's copy stays refused after a
/// restart of the app; with Redis, a session nobody logged out goes on.
#[rocket::async_test]
async fn in_every_store_a_logout_outlives_a_restart() {
    for (store, with_redis) in [("memory", false), ("redis", true), ("cookie", true)] {
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let oidc = if with_redis {
            shared_config(&provider, &redis, store)
        } else {
            let mut oidc = oidc_config(&provider);
            oidc["session"] = json!({ "store": store });
            oidc
        };
        let mut app = lifecycle_browser(oidc.clone()).await;
        log_in(&provider, &mut app, "alice", "a1").await;
        let alice = app.jar.clone();
        assert_eq!(app.logout(Method::Post).await.status, Status::SeeOther);
        let mut bob = app.other_browser();
        log_in(&provider, &mut bob, "bob", "b1").await;
        let bob = jar_of(bob);

        let app = restart(&oidc, app).await;
        assert!(
            profile_with(&app, &alice).await.is_none(),
            "{store}: alice stays logged out"
        );
        assert_eq!(
            profile_with(&app, &bob).await.is_some(),
            with_redis,
            "{store}: bob's session lives where the store keeps it"
        );
    }
}

/// A logout token carries its `jti` once. Replayed after a restart it is
/// refused where the used ones were written down
/// (`session.logout_records_path`), and the login made since goes on.
/// Where they were not, the restarted process forgot it: the replay is
/// honoured as a logout arriving now (a provider's clock is not trusted to
/// tell a replay from a late delivery), and the user logs in again.
#[rocket::async_test]
async fn a_logout_token_replayed_after_a_restart_is_refused_where_used_ones_are_written_down() {
    for written_down in [true, false] {
        let clock = ManualClock::new();
        let provider = TestProvider::start_with_clock(&clock).await;
        let dir = TempDir::new("logouts");
        let mut oidc = oidc_config(&provider);
        if written_down {
            oidc["session"] = json!({ "logout_records_path": dir.join("logouts") });
        }
        // With a skew of 60 s, a token issued in the last minute before a
        // restart could be one of this process's; 1 s makes the test short.
        oidc["clock_skew_seconds"] = json!(1);
        let mut app = lifecycle_browser_on(&clock, oidc.clone()).await;
        log_in(&provider, &mut app, "alice", "a1").await;
        // A token issued a second ago, after the app started.
        clock.advance(std::time::Duration::from_millis(2100));
        let iat = unix_seconds(&clock) - 1;
        let token = provider.logout_token(json!({ "sid": null, "sub": "alice", "iat": iat, "exp": iat + 120 }));
        assert_eq!(app.backchannel_logout(&token).await.status, Status::Ok);
        assert!(app.profile().await.is_none());

        let mut app = restart_on(&clock, &oidc, app).await;
        // The new login comes after the logout (time passes while a
        // process restarts).
        clock.advance(std::time::Duration::from_millis(100));
        log_in(&provider, &mut app, "alice", "a2").await;
        let resp = app.backchannel_logout(&token).await;
        if written_down {
            assert_eq!(resp.status, Status::BadRequest, "written down, still used: {resp:#?}");
            assert!(resp.body.contains("already used"), "{resp:#?}");
        } else {
            assert_eq!(resp.status, Status::Ok, "{resp:#?}");
        }
        assert_eq!(
            app.profile().await.is_some(),
            written_down,
            "written down: {written_down}: whether the login after the restart goes on"
        );
    }
}

/// A DPoP proof is single-use, and an in-process ledger forgets at a
/// restart: a proof made before the restart is refused after it.
#[rocket::async_test]
async fn a_dpop_proof_made_before_a_restart_is_refused_after_it() {
    use crate::support::api::*;
    let clock = ManualClock::new();
    let provider = TestProvider::start().await;
    let holder = crate::support::dpop::Holder::new(21);
    let token = provider.opaque_token(json!({ "cnf": { "jkt": holder.jkt() } }));
    let config = bearer_config(&provider, json!({}));
    let mut app = Browser::new(api_app_on(&clock, config.clone())).await;
    let at = |clock: &ManualClock| json!({ "iat": unix_seconds(clock) });
    let proof = holder.proof_with("GET", "/api", &token, json!({}), at(&clock));
    let authorization = format!("DPoP {token}");
    let headers = [("Authorization", authorization.as_str()), ("DPoP", proof.as_str())];
    assert_eq!(app.send(Method::Get, "/api", &headers, None).await.status, Status::Ok);
    assert_eq!(
        app.send(Method::Get, "/api", &headers, None).await.status,
        Status::Unauthorized
    );

    drop(app);
    clock.advance(std::time::Duration::from_millis(1100));
    let mut app = Browser::new(api_app_on(&clock, config)).await;
    let resp = app.send(Method::Get, "/api", &headers, None).await;
    assert_eq!(resp.status, Status::Unauthorized, "{resp:#?}");
    assert_eq!(resp.json()["error"], "invalid_dpop_proof");
    let fresh = holder.proof_with("GET", "/api", &token, json!({}), at(&clock));
    let headers = [("Authorization", authorization.as_str()), ("DPoP", fresh.as_str())];
    assert_eq!(app.send(Method::Get, "/api", &headers, None).await.status, Status::Ok);
}

/// Redis turned off for a while (a rollback, a canary, a mistake) and on
/// again: a session made meanwhile, and logged out meanwhile, had its
/// logout in a process that is gone. It carries no Redis stamp, and Redis
/// refuses it. A session Redis stamped goes on once Redis is back.
#[rocket::async_test]
async fn turning_redis_off_and_on_again_lets_no_logged_out_session_back() {
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let mut with_redis = oidc_config(&provider);
    with_redis["redis"] = redis.config();
    let without_redis = oidc_config(&provider);

    let mut app = lifecycle_browser(with_redis.clone()).await;
    log_in(&provider, &mut app, "alice", "a1").await;
    let alice = jar_of(app);

    let mut app = start(&without_redis).await;
    assert!(
        profile_with(&app, &alice).await.is_none(),
        "without Redis, a session stamped by it is not this record's"
    );
    log_in(&provider, &mut app, "bob", "b1").await;
    let bob = app.jar.clone();
    assert_eq!(app.logout(Method::Post).await.status, Status::SeeOther);

    let app = restart(&with_redis, app).await;
    assert!(
        profile_with(&app, &bob).await.is_none(),
        "its logout was in a process that is gone"
    );
    assert!(profile_with(&app, &alice).await.is_some(), "alice's record holds");
}

per_store! {
    /// The logout record of a cookie session lasts until a copy of it would
    /// be idle too: sized by the inactivity timeout the session began with.
    /// Raising the timeout, or turning it off, in a restart (or a rolling
    /// change of instances on Redis) must not let the copy back in once that
    /// record is gone: a session is held to the shorter of the timeout it
    /// began with and the one configured now.
    async fn raising_the_inactivity_timeout_lets_no_logged_out_copy_back(store) in [in_process, redis] {
        let with_redis = store == "redis";
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let dir = TempDir::new("idle");
        let mut short = oidc_config(&provider);
        if with_redis {
            short["redis"] = redis.config();
        } else {
            short["session"] = json!({ "logout_records_path": dir.join("logouts") });
        }
        short["session"]["inactivity_timeout_seconds"] = json!(2);
        let mut off = short.clone();
        off["session"]["inactivity_timeout_seconds"] = json!(0);

        let clock = ManualClock::new();
        let mut app = lifecycle_browser_on(&clock, short.clone()).await;
        log_in(&provider, &mut app, "alice", "a1").await;
        let copy = app.jar.clone();
        assert_eq!(app.logout(Method::Post).await.status, Status::SeeOther);
        log_in(&provider, &mut app, "bob", "b1").await;
        let bob = app.jar.clone();

        let app = restart_on(&clock, &off, app).await;
        if with_redis {
            // The logout record's own Redis TTL must run out: real time.
            rocket::tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
        }
        clock.advance(std::time::Duration::from_millis(3500));
        assert!(
            profile_with(&app, &copy).await.is_none(),
            "redis {with_redis}: its record is gone, and it is idle all the same"
        );
        assert!(
            profile_with(&app, &bob).await.is_none(),
            "redis {with_redis}: bob began with 2 s, and was idle longer"
        );
        let mut carol = app.other_browser();
        log_in(&provider, &mut carol, "carol", "c1").await;
        clock.advance(std::time::Duration::from_millis(2500));
        assert!(
            carol.profile().await.is_some(),
            "redis {with_redis}: a session begun with no timeout has none"
        );
    }
}
