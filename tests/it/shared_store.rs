//! Many instances, one truth: instances of one app started with the same
//! configuration and `secret_key` and sharing one Redis (`[oidc.redis]`)
//! behave as one, with sessions in cookies or in Redis. A login started
//! on one finishes on another; a `state` or a logout token is accepted
//! once; a logout or back-channel logout received by one is honoured by
//! all; concurrent refreshes make one token request.

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{Method, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;

use crate::support::instances::*;
use crate::support::lifecycle::*;
use crate::support::redis::RedisServer;
use crate::support::*;

struct Setup {
    provider: TestProvider,
    redis: RedisServer,
    browser: Browser,
    a: Arc<Client>,
    b: Arc<Client>,
}

async fn setup(store: &str) -> Setup {
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let (browser, b) = two_instances(shared_config(&provider, &redis, store)).await;
    let a = browser.client.clone();
    Setup {
        provider,
        redis,
        browser,
        a,
        b,
    }
}

/// [`setup`] with both instances on `clock`.
async fn setup_on(store: &str, clock: &ManualClock) -> Setup {
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let config = shared_config(&provider, &redis, store);
    let a = instance_on(clock, config.clone()).await;
    let b = instance_on(clock, config).await;
    let browser = Browser {
        client: a.clone(),
        jar: Default::default(),
    };
    Setup {
        provider,
        redis,
        browser,
        a,
        b,
    }
}

/// Logs `s.browser` in on instance A as `sub` with the provider session `sid`.
async fn log_in(s: &mut Setup, sub: &str, sid: &str) {
    s.provider.behave(|b| {
        b.subject = sub.into();
        b.claims.insert("sid".into(), json!(sid));
    });
    s.browser.switch_to(&s.a);
    s.browser.login_ok(&s.provider, "/profile").await;
}

/// The browser's profile on `instance`, if it has a session there.
async fn profile_on(browser: &Browser, instance: &Arc<Client>) -> Option<serde_json::Value> {
    let mut there = browser.with_jar(browser.jar.clone());
    there.switch_to(instance);
    there.profile().await
}

per_store! {
    async fn a_login_started_on_one_instance_finishes_on_another(store) in [cookie, redis] {
        let mut s = setup(store).await;
        let auth = s.browser.start_login("/profile").await;
        s.browser.switch_to(&s.b);
        let resp = s.browser.approve(&s.provider, &auth, Mode::Navigate).await;
        assert_callback_completed(&resp, &s.provider);
        assert_eq!(resp.location(), "/profile", "{store}");
        for instance in [&s.a, &s.b] {
            let profile = profile_on(&s.browser, instance).await;
            assert_eq!(profile.expect("logged in on both")["sub"], "alice", "{store}");
        }
    }
}

per_store! {
    async fn a_state_used_on_one_instance_is_refused_on_the_other(store) in [cookie, redis] {
        let mut s = setup(store).await;
        let auth = s.browser.start_login("/profile").await;
        let code = s.provider.issue_code(&auth);
        let params = [
            ("code", code.as_str()),
            ("state", auth.state()),
            ("iss", s.provider.issuer.as_str()),
        ];
        let before = s.browser.jar.clone();

        s.browser.switch_to(&s.b);
        let resp = s.browser.callback(&params, Mode::Navigate).await;
        assert_callback_completed(&resp, &s.provider);

        // The same authorization response, with the cookie it came with,
        // replayed on the other instance.
        let mut replay = s.browser.with_jar(before);
        replay.switch_to(&s.a);
        let resp = replay.callback(&params, Mode::Navigate).await;
        assert_error(&resp, Status::BadRequest, "invalid_state");
        assert_eq!(
            s.provider.token_requests().len(),
            1,
            "the replay never reached the provider ({store})"
        );
    }
}

per_store! {
    async fn a_logout_token_is_accepted_once_across_instances(store) in [cookie, redis] {
        let mut s = setup(store).await;
        log_in(&mut s, "alice", "s1").await;
        let token = s.provider.logout_token(json!({ "sub": "alice", "sid": "s1" }));
        let first = s.browser.backchannel_logout(&token).await;
        assert_eq!(first.status, Status::Ok, "{store}: {first:#?}");
        s.browser.switch_to(&s.b);
        let replay = s.browser.backchannel_logout(&token).await;
        assert_error(&replay, Status::BadRequest, "invalid_request");
        assert!(replay.body.contains("already used"), "{store}: {replay:#?}");
    }
}

per_store! {
    async fn a_logout_on_one_instance_refuses_the_old_cookies_on_every_instance(store) in [cookie, redis] {
        let mut s = setup(store).await;
        log_in(&mut s, "alice", "s1").await;
        let captured = s.browser.jar.clone();
        assert!(
            profile_on(&s.browser, &s.b).await.is_some(),
            "{store}: the session works on B"
        );

        let resp = s.browser.logout(Method::Post).await;
        assert_eq!(resp.status, Status::SeeOther, "{store}: {resp:#?}");

        let thief = s.browser.with_jar(captured);
        assert!(
            profile_on(&thief, &s.a).await.is_none(),
            "{store}: the instance that logged out refuses the copied cookie at once"
        );
        // The other instance drops what it kept as soon as it hears the
        // announcement of the change (milliseconds), well before
        // `redis.local_cache_seconds` (2 s) would: it refuses within 1 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while profile_on(&thief, &s.b).await.is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "{store}: instance B still accepts the copied cookie 1 s after the logout"
            );
            rocket::tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

per_store! {
    async fn a_back_channel_logout_received_by_one_instance_ends_the_session_on_all(store) in [cookie, redis] {
        for claims in [json!({ "sid": "s1", "sub": null }), json!({ "sub": "alice" })] {
            let mut s = setup(store).await;
            log_in(&mut s, "alice", "s1").await;
            let mut bob = s.browser.other_browser();
            s.provider.behave(|b| {
                b.subject = "bob".into();
                b.claims.insert("sid".into(), json!("s2"));
            });
            bob.login_ok(&s.provider, "/profile").await;
            // Both instances have read alice's session: each keeps what it
            // read for `redis.local_cache_seconds`, unless told of a change.
            for instance in [&s.b, &s.a] {
                assert!(profile_on(&s.browser, instance).await.is_some(), "{store}");
            }

            let token = s.provider.logout_token(claims.clone());
            let resp = s.browser.backchannel_logout(&token).await;
            assert_eq!(resp.status, Status::Ok, "{store} {claims}: {resp:#?}");

            // B hears of the logout A received within milliseconds, well
            // before what it kept would have gone stale (2 s).
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while profile_on(&s.browser, &s.b).await.is_some() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{store} {claims}: B still accepts alice 1 s after the logout at A"
                );
                rocket::tokio::time::sleep(Duration::from_millis(10)).await;
            }
            for instance in [&s.b, &s.a] {
                assert!(
                    profile_on(&s.browser, instance).await.is_none(),
                    "{store} {claims}: alice is logged out"
                );
                assert!(
                    profile_on(&bob, instance).await.is_some(),
                    "{store} {claims}: bob is not"
                );
            }
        }
    }
}

per_store! {
    async fn concurrent_refreshes_on_two_instances_make_one_token_request(store) in [cookie, redis] {
        let mut s = setup(store).await;
        // An access token that is already "expired" (within the clock
        // skew), a provider that rotates refresh tokens (a second
        // redemption of the same one would fail), and a slow refresh so
        // that all requests overlap.
        s.provider.behave(|b| {
            b.token_response.insert("expires_in".into(), json!(0));
            b.refresh_rotation = true;
            b.refresh_failure = Some(TokenFailure::Delay(Duration::from_millis(400)));
        });
        log_in(&mut s, "alice", "s1").await;
        let mut on_b = s.browser.with_jar(s.browser.jar.clone());
        on_b.switch_to(&s.b);
        let (from_a, from_b) = rocket::tokio::join!(
            concurrent_api_gets(&s.browser, "/token", 5),
            concurrent_api_gets(&on_b, "/token", 5)
        );
        let mut tokens = Vec::new();
        for resp in from_a.iter().chain(&from_b) {
            assert_eq!(resp.status, Status::Ok, "{store}: {resp:#?}");
            tokens.push(resp.json()["access_token"].clone());
        }
        assert_eq!(
            s.provider.counts().refresh,
            1,
            "{store}: one token request for 10 requests on 2 instances"
        );
        assert!(
            tokens.windows(2).all(|w| w[0] == w[1]),
            "{store}: every request got the one new token: {tokens:?}"
        );
        drop(s.redis);
    }
}

per_store! {
    async fn every_key_lives_under_the_prefix_with_a_ttl_no_longer_than_what_it_protects(store) in [cookie, redis] {
        let mut s = setup(store).await;
        log_in(&mut s, "alice", "s1").await;
        let profile = s.browser.profile().await.expect("logged in");
        let captured = s.browser.jar.clone();
        s.browser.logout(Method::Post).await;
        let token = s.provider.logout_token(json!({ "sub": "alice", "sid": "s1" }));
        s.browser.backchannel_logout(&token).await;
        let mut other = s.browser.with_jar(captured);
        other.navigate("/profile").await;

        let keys = s.redis.keys();
        assert!(!keys.is_empty(), "{store}: the state is in Redis");
        let lifetime = 31 * 24 * 3600;
        for key in &keys {
            assert!(key.starts_with("oidc:"), "{store}: {key} is under the default prefix");
            let ttl = s.redis.ttl(key);
            let limit = if key.starts_with("oidc:once:state:") {
                600
            } else if key.starts_with("oidc:once:logout_token:") {
                120 + 60
            } else {
                lifetime
            };
            assert!(
                ttl > 0 && ttl <= limit,
                "{store}: {key} has TTL {ttl}, expected 1..={limit}"
            );
            for secret in ["alice", "s1", profile["access_token"].as_str().unwrap()] {
                assert!(!key.contains(secret), "{store}: {key} names {secret}");
            }
            let value = s.redis.command(&format!("GET {key}")).unwrap_or_default();
            assert!(
                !value.contains(profile["access_token"].as_str().unwrap()),
                "{store}: {key} holds a token in clear"
            );
        }
        let kinds = ["oidc:once:state:", "oidc:once:logout_token:"];
        for kind in kinds {
            assert!(
                keys.iter().any(|k| k.starts_with(kind)),
                "{store}: a {kind} key in {keys:?}"
            );
        }
        if store == "cookie" {
            assert!(keys.iter().any(|k| k.starts_with("oidc:revoked:subject:")), "{keys:?}");
            // The provider's logout named alice: kept as one of hers, in her
            // share, with her app logout.
            assert!(!keys.iter().any(|k| k.starts_with("oidc:revoked:sid:")), "{keys:?}");
        }
    }
}

per_store! {
    /// The lifetime is shortened (a new release, every instance restarted
    /// with `lifetime_seconds = 2`). A session made under the longer one is
    /// logged out; its logout record lasts the new lifetime only. Once that
    /// has passed, a copy of its cookies must still be refused: loading holds
    /// the lifetime configured now, not only the expiry stamped at login; and
    /// an instance with the longer lifetime (raised again) refuses it too.
    async fn a_shortened_lifetime_ends_older_sessions_and_outlives_their_logout_records(store) in [cookie, redis] {
        let clock = ManualClock::new();
        let mut s = setup_on(store, &clock).await;
        log_in(&mut s, "alice", "s1").await;
        let copy = s.browser.jar.clone();
        let mut shorter = shared_config(&s.provider, &s.redis, store);
        shorter["session"]["lifetime_seconds"] = json!(2);
        let after = instance_on(&clock, shorter).await;
        s.browser.switch_to(&after);
        assert_eq!(s.browser.logout(Method::Post).await.status, Status::SeeOther);
        // The logout record's own Redis TTL must run out: real time, and
        // the instances' clocks move as far.
        rocket::tokio::time::sleep(Duration::from_millis(3200)).await;
        clock.advance(Duration::from_millis(3200));
        let mut thief = s.browser.with_jar(copy.clone());
        thief.switch_to(&after);
        assert_no_session(&mut thief).await;
        // Nor is the copy let in where the longer lifetime is configured
        // (the lifetime raised again): its logout is remembered for the
        // lifetime the session began with.
        let raised = instance_on(&clock, shared_config(&s.provider, &s.redis, store)).await;
        let mut thief = s.browser.with_jar(copy);
        thief.switch_to(&raised);
        assert_no_session(&mut thief).await;
        // And a session simply older than the new lifetime is over too.
        log_in(&mut s, "bob", "s2").await;
        clock.advance(Duration::from_millis(2200));
        assert!(
            profile_on(&s.browser, &after).await.is_none(),
            "{store}: older than 2 s"
        );
        assert!(
            profile_on(&s.browser, &s.a).await.is_some(),
            "{store}: within the old lifetime there"
        );
    }
}

/// The refresh lease was 2T+1 (T = `http_timeout_seconds`), while its
/// holder may need the token request, then a key set, then a key refetch
/// that waits for its turn (one per 2 s): longer than the lease. Another
/// instance then took the lease over and redeemed the refresh token the
/// provider had just rotated, ending the session. A holder now keeps its
/// lease for as long as it works, and another instance waits for it as
/// long: one token request, both instances served.
#[rocket::async_test]
async fn a_refresh_that_takes_longer_than_its_lease_is_never_taken_over() {
    use crate::support::jwt::Key;
    use crate::support::provider::{LogoutToken, Signing};

    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let mut config = shared_config(&provider, &redis, "cookie");
    config["http_timeout_seconds"] = json!(2);
    let (mut browser, b) = two_instances(config).await;
    provider.behave(|x| x.refresh_rotation = true);
    browser.login_ok(&provider, "/profile").await;

    // From now on: each call to the token endpoint and the key set takes
    // 1.75 s (the timeout is 2 s, the lease 5 s), and refreshed ID tokens
    // are signed with a key the provider has not published yet.
    let slow = Some(TokenFailure::Delay(Duration::from_millis(1750)));
    provider.behave(|x| {
        x.refresh_failure = slow.clone();
        x.jwks_failure = slow.clone();
        x.signing_key = Key::Rotated;
    });
    let start = std::time::Instant::now();
    let at = |millis: u64| rocket::tokio::time::sleep_until((start + Duration::from_millis(millis)).into());
    let on_a = browser.with_jar(browser.jar.clone());
    let mut on_b = browser.with_jar(browser.jar.clone());
    on_b.switch_to(&b);
    let junk = provider.logout_token_with(LogoutToken {
        header: serde_json::from_value(json!({ "kid": "junk" })).expect("an object"),
        signing: Signing::With(Key::Rotated),
        ..LogoutToken::with_claims(json!({ "sid": "s1" }))
    });
    let (holder, _, _, waiter) = rocket::tokio::join!(
        // Instance A refreshes: its token request takes until 1.75 s.
        async { concurrent_api_gets(&on_a, "/token?refresh=true", 1).await },
        // A token naming an unknown key makes A refetch keys at 1.6 s: A's
        // own refetch, for the refreshed ID token, must then wait for its
        // turn until 3.6 s, and takes until 5.35 s.
        async {
            at(1600).await;
            on_a.backchannel_logout(&junk).await
        },
        // The provider publishes its new key at 2.5 s.
        async {
            at(2500).await;
            provider.behave(|x| x.jwks = vec![Key::Current, Key::Rotated]);
        },
        // Instance B wants the same refresh at 0.2 s, and waits for A
        // (longer than a lease: A is alive, extending it).
        async {
            at(200).await;
            concurrent_api_gets(&on_b, "/token?refresh=true", 1).await
        },
    );
    let (holder, waiter) = (&holder[0], &waiter[0]);
    assert_eq!(holder.status, Status::Ok, "{holder:#?}");
    assert!(
        start.elapsed() > Duration::from_secs(5),
        "A outlived the 5 s lease: {:?}",
        start.elapsed()
    );
    assert_eq!(waiter.status, Status::Ok, "B got A's result: {waiter:#?}");
    assert_eq!(holder.json()["access_token"], waiter.json()["access_token"]);
    assert_eq!(provider.counts().refresh, 1, "the refresh token was redeemed once");
}
