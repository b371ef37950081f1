//! Redis faults never become a `500` nor a request let through unchecked:
//! with Redis unreachable, stopped or frozen, what needs it answers
//! `503 temporarily_unavailable` within about `timeout_ms`; the app
//! launches while Redis is down and recovers by itself when it returns.
//! `rediss://` works, against a Redis that only speaks TLS.

use std::time::{Duration, Instant};

use rocket::http::Status;
use serde_json::json;

use crate::support::instances::*;
use crate::support::lifecycle::*;
use crate::support::redis::RedisServer;
use crate::support::*;

/// A request that needs Redis answers 503 quickly (never 500, never 200).
#[track_caller]
fn assert_unavailable(resp: &Resp, took: Duration) {
    assert_error(resp, Status::ServiceUnavailable, "temporarily_unavailable");
    assert!(
        took < Duration::from_secs(3),
        "answered in {took:?}, not about timeout_ms"
    );
}

async fn timed_profile(browser: &mut Browser) -> (Resp, Duration) {
    let start = Instant::now();
    let resp = browser.api("/profile").await;
    (resp, start.elapsed())
}

per_store! {
    async fn the_app_launches_while_redis_is_down_and_works_once_it_is_up(store) in [redis, cookie] {
        let provider = TestProvider::start().await;
        let mut redis = RedisServer::start();
        redis.stop();
        let mut browser = Browser {
            client: instance(shared_config(&provider, &redis, store)).await,
            jar: Default::default(),
        };
        assert_eq!(browser.api("/public").await.status, Status::Ok, "{store}");

        // A login can start (its state is in the browser) but not finish.
        let auth = browser.start_login("/profile").await;
        let start = Instant::now();
        let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
        assert_unavailable(&resp, start.elapsed());
        assert!(session_cookies(&browser).is_empty() && !browser.jar.contains_key("oidc_sid"));

        redis.restart();
        browser.login_ok(&provider, "/profile").await;
        assert!(
            browser.profile().await.is_some(),
            "{store}: recovered without a restart of the app"
        );
    }
}

per_store! {
    async fn a_stopped_redis_gives_503_and_a_restarted_one_is_used_again(store) in [redis, cookie] {
        let provider = TestProvider::start().await;
        let mut redis = RedisServer::start();
        let mut browser = Browser {
            client: instance(shared_config(&provider, &redis, store)).await,
            jar: Default::default(),
        };
        browser.login_ok(&provider, "/profile").await;

        redis.stop();
        for _ in 0..3 {
            let (resp, took) = timed_profile(&mut browser).await;
            assert_unavailable(&resp, took);
        }
        let resp = browser.navigate("/profile").await;
        assert_eq!(
            resp.status,
            Status::ServiceUnavailable,
            "{store}: a navigation is not sent to log in: {resp:#?}"
        );

        redis.restart();
        // This Redis kept nothing (no persistence): a session kept there is
        // gone, and one in cookies is refused, because the logouts Redis
        // had recorded are gone too; either way the app answers again.
        assert_no_session(&mut browser).await;
        browser.logout(rocket::http::Method::Post).await;
        browser.login_ok(&provider, "/profile").await;
        assert!(browser.profile().await.is_some(), "{store}");
    }
}

per_store! {
    async fn a_frozen_redis_gives_503_within_the_timeout_and_recovers_when_it_thaws(store) in [redis, cookie] {
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let mut browser = Browser {
            client: instance(shared_config(&provider, &redis, store)).await,
            jar: Default::default(),
        };
        browser.login_ok(&provider, "/profile").await;

        // Accepts connections, never answers.
        redis.pause();
        let (resp, took) = timed_profile(&mut browser).await;
        assert_unavailable(&resp, took);
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_millis(900),
            "{store}: it waited for timeout_ms (500 ms), once: {took:?}"
        );
        redis.resume();

        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let resp = browser.api("/profile").await;
            if resp.status == Status::Ok {
                break;
            }
            assert_eq!(resp.status, Status::ServiceUnavailable, "{store}: {resp:#?}");
            assert!(Instant::now() < deadline, "{store}: recovered after the thaw");
            rocket::tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[rocket::async_test]
async fn a_redis_that_lost_its_data_never_lets_a_logged_out_cookie_back_in() {
    let provider = TestProvider::start().await;
    let mut redis = RedisServer::start();
    let (mut alice, b) = two_instances(shared_config(&provider, &redis, "cookie")).await;
    alice.login_ok(&provider, "/profile").await;
    let stolen = alice.jar.clone();
    let resp = alice.logout(rocket::http::Method::Post).await;
    assert_eq!(resp.status, Status::SeeOther, "{resp:#?}");
    // Each attempt with the stolen cookies afresh (a refusal removes them
    // from the jar that sent them).
    let a = alice.client.clone();
    let thief_on = |instance: &std::sync::Arc<rocket::local::asynchronous::Client>| {
        let mut thief = alice.with_jar(stolen.clone());
        thief.switch_to(instance);
        thief
    };
    assert_no_session(&mut thief_on(&a)).await;

    // Redis restarts without persistence: the record of the logout is gone.
    redis.restart();
    for instance in [&b, &a] {
        assert_no_session(&mut thief_on(instance)).await;
    }
    // A new login works, and the stolen cookie stays refused after it.
    let mut again = alice.other_browser();
    again.login_ok(&provider, "/profile").await;
    assert!(again.profile().await.is_some());
    for instance in [&b, &a] {
        assert_no_session(&mut thief_on(instance)).await;
    }
}

per_store! {
    async fn a_frozen_redis_turns_the_instances_local_copies_off(store) in [redis, cookie] {
        let provider = TestProvider::start().await;
        let redis = RedisServer::start();
        let mut config = shared_config(&provider, &redis, store);
        config["redis"]["local_cache_seconds"] = json!(60);
        let mut browser = Browser {
            client: instance(config).await,
            jar: Default::default(),
        };
        browser.login_ok(&provider, "/profile").await;
        // Read, so that the instance keeps its copy (for up to 60 s).
        assert!(browser.profile().await.is_some());
        assert!(browser.profile().await.is_some());

        redis.pause();
        // The subscription's heartbeat goes unanswered: the copies are off
        // within about 1 s, and requests that need Redis answer 503.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let resp = browser.api("/profile").await;
            if resp.status == Status::ServiceUnavailable {
                break;
            }
            assert_eq!(resp.status, Status::Ok, "{store}: {resp:#?}");
            assert!(
                Instant::now() < deadline,
                "{store}: still served from the local copy 3 s after Redis froze"
            );
            rocket::tokio::time::sleep(Duration::from_millis(50)).await;
        }
        redis.resume();
    }
}

#[rocket::async_test]
async fn a_logout_or_back_channel_logout_that_cannot_be_recorded_is_503() {
    let provider = TestProvider::start().await;
    let mut redis = RedisServer::start();
    let mut browser = Browser {
        client: instance(shared_config(&provider, &redis, "cookie")).await,
        jar: Default::default(),
    };
    browser.login_ok(&provider, "/profile").await;
    redis.stop();

    let token = provider.logout_token(json!({ "sub": "alice" }));
    let resp = browser.backchannel_logout(&token).await;
    assert_error(&resp, Status::ServiceUnavailable, "temporarily_unavailable");

    let resp = browser.logout(rocket::http::Method::Post).await;
    assert_eq!(resp.status, Status::ServiceUnavailable, "{resp:#?}");
    assert!(
        session_cookies(&browser).is_empty(),
        "the browser's cookies go anyway: {resp:#?}"
    );
}

/// A CA and a server certificate for 127.0.0.1, as PEM files in `dir`.
fn certificates(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let server_params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    let (ca, cert, key) = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server-key.pem"));
    std::fs::write(&ca, ca_cert.pem()).expect("write CA");
    std::fs::write(&cert, server_cert.pem()).expect("write certificate");
    std::fs::write(&key, server_key.serialize_pem()).expect("write key");
    (ca, cert, key)
}

#[rocket::async_test]
async fn rediss_urls_speak_tls() {
    let dir = TempDir::new("rediss");
    let (ca, cert, key) = certificates(&dir);
    let redis = RedisServer::start_tls(&cert, &key, &ca);
    let provider = TestProvider::start().await;

    let mut config = shared_config(&provider, &redis, "redis");
    config["redis"]["ca_certificate_path"] = json!(ca);
    let (mut browser, other) = two_instances(config).await;
    browser.login_ok(&provider, "/profile").await;
    browser.switch_to(&other);
    assert!(browser.profile().await.is_some(), "the session is shared over TLS");

    // The same port without TLS, or TLS without trusting the CA, is no Redis.
    for url in [redis.url().replace("rediss://", "redis://"), redis.url()] {
        let mut config = shared_config(&provider, &redis, "redis");
        config["redis"]["url"] = json!(url);
        let mut browser = Browser {
            client: instance(config).await,
            jar: Default::default(),
        };
        let auth = browser.start_login("/profile").await;
        let start = Instant::now();
        let resp = browser.approve(&provider, &auth, Mode::Navigate).await;
        assert_unavailable(&resp, start.elapsed());
    }
}

/// The epoch (when the logouts Redis holds began to be kept) is made by
/// Redis's own clock when a login finds none, and stamped in the session.
/// It was the finishing login's start, taken before its code exchange:
/// a session authenticated during that exchange, logged out, and whose
/// logout Redis then lost, came after that "epoch" and was let back in.
#[rocket::async_test]
async fn a_session_whose_logout_redis_lost_is_refused_whatever_a_slow_login_began_with() {
    use crate::support::provider::TokenFailure;
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let mut config = shared_config(&provider, &redis, "cookie");
    config["http_timeout_seconds"] = json!(5);
    let app = instance(config).await;
    let mut alice = Browser {
        client: app.clone(),
        jar: Default::default(),
    };
    let mut carol = alice.other_browser();
    let auth = alice.start_login("/profile").await;
    // Room for carol's whole login and logout on a busy machine.
    provider.behave(|b| b.token_failure = Some(TokenFailure::Delay(Duration::from_millis(3000))));
    let (finished, copy) = rocket::tokio::join!(
        // Alice's code exchange takes 3 s.
        async { alice.approve(&provider, &auth, Mode::Navigate).await },
        // Meanwhile carol logs in and out, and Redis loses its data.
        async {
            rocket::tokio::time::sleep(Duration::from_millis(200)).await;
            provider.behave(|b| {
                b.token_failure = None;
                b.subject = "carol".into();
            });
            carol.login_ok(&provider, "/profile").await;
            let copy = carol.jar.clone();
            assert_eq!(carol.logout(rocket::http::Method::Post).await.status, Status::SeeOther);
            redis.command("FLUSHALL");
            copy
        },
    );
    assert_callback_completed(&finished, &provider);
    assert!(
        alice.profile().await.is_some(),
        "the login that made the new epoch works"
    );
    let mut thief = alice.with_jar(copy);
    assert_no_session(&mut thief).await;
}
