//! The cost of the `OidcUser` guard alone, per session store: the same
//! request (`GET /ping`, the session cookie included) without and with the
//! guard (`GET /ping/user`), dispatched in process (no sockets, no wrk), so
//! regressions show. `cargo bench --bench guard`; the ratio of the two
//! times is what the guard costs.
//!
//! `GET /ping/admin` and `GET /ping/token/admin` are the guards with an
//! [`authorization!`](rocket_openidconnect::authorization!) requirement
//! (the role `admin`) that the session or token meets: what the check adds.
//!
//! And a multi-tenant provider's tenant check with 1 and 1,000 allowed
//! tenants (`tenants`), which must not grow.
//!
//! Also: the guard with 1 and with 100,000 sessions in the `memory` store
//! (its cost must not grow with the number of sessions).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rocket::http::{Cookie, Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;

use support::redis::RedisServer;
use support::*;

#[rocket::get("/ping")]
fn ping() -> &'static str {
    "pong"
}

#[rocket::get("/ping/user")]
fn ping_user(_user: rocket_openidconnect::OidcUser) -> &'static str {
    "pong"
}

#[rocket::get("/ping/token")]
fn ping_token(_token: rocket_openidconnect::BearerToken) -> &'static str {
    "pong"
}

rocket_openidconnect::authorization!(Admins { roles: any["admin"] });

#[rocket::get("/ping/admin")]
fn ping_admin(
    _user: rocket_openidconnect::OidcUser<
        rocket_openidconnect::DefaultProvider,
        rocket_openidconnect::NoRequirement,
        Admins,
    >,
) -> &'static str {
    "pong"
}

#[rocket::get("/ping/token/admin")]
fn ping_token_admin(
    _token: rocket_openidconnect::BearerToken<
        rocket_openidconnect::DefaultProvider,
        rocket_openidconnect::NoScopes,
        Admins,
    >,
) -> &'static str {
    "pong"
}

struct Setup {
    client: Arc<Client>,
    jar: BTreeMap<String, String>,
    _provider: TestProvider,
    _redis: Option<RedisServer>,
}

async fn setup(store: &str, extra_sessions: usize) -> Setup {
    setup_with(store, extra_sessions, json!({})).await
}

/// The resident memory of this process, in bytes (Linux).
fn resident_bytes() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn setup_with(store: &str, extra_sessions: usize, session: serde_json::Value) -> Setup {
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.claims.insert("roles".into(), json!(["user", "admin"]));
    });
    let mut config = oidc_config(&provider);
    let redis = store.contains("redis").then(RedisServer::start);
    config["session"] = json!({ "store": if store == "cookie+redis" { "cookie" } else { store } });
    for (key, value) in session.as_object().into_iter().flatten() {
        config["session"][key] = value.clone();
    }
    if let Some(redis) = &redis {
        config["redis"] = redis.config();
    }
    // Every login uses a `state`: 100,000 logins fill the default ledger.
    config["limits"] = json!({
        "sessions_per_subject": 1_000_000,
        "sessions": 1_000_000,
        "used_states": 1_000_000,
        "used_states_per_subject": 1_000_000,
    });
    let routes = rocket::routes![ping, ping_user, ping_admin, ping_token, app::profile];
    let figment = support::figment(config).merge(("log_level", "off"));
    let mut browser = Browser::new(rp_with_figment(figment, routes)).await;
    if extra_sessions > 0 {
        // Many logins: HMAC-signed ID tokens, so the provider is quick.
        provider.behave(|b| {
            b.signing = support::provider::Signing::Hs256WithClientSecret;
            b.discovery.insert(
                "id_token_signing_alg_values_supported".into(),
                json!(["HS256", "RS256"]),
            );
        });
    }
    for _ in 0..extra_sessions {
        let mut other = browser.other_browser();
        other.login_ok(&provider, "/profile").await;
    }
    browser.login_ok(&provider, "/profile").await;
    Setup {
        client: browser.client.clone(),
        jar: browser.jar.clone(),
        _provider: provider,
        _redis: redis,
    }
}

async fn get(client: &Client, jar: &BTreeMap<String, String>, uri: &'static str) {
    let mut request = client.get(uri).header(Header::new("Accept", "application/json"));
    for (name, value) in jar {
        request = request.cookie(Cookie::new(name.clone(), value.clone()));
    }
    let response = request.dispatch().await;
    assert_eq!(response.status(), Status::Ok, "{uri}");
}

/// The runtime every group runs its requests on: two workers, as the demo.
fn runtime() -> rocket::tokio::runtime::Runtime {
    rocket::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn guard(c: &mut Criterion) {
    let runtime = runtime();
    let only = std::env::var("GUARD_BENCH_STORES").unwrap_or_else(|_| "cookie memory redis cookie+redis".into());
    let mut group = c.benchmark_group("guard");
    for store in only.split_whitespace() {
        let s = runtime.block_on(setup(store, 0));
        for uri in ["/ping", "/ping/user", "/ping/admin"] {
            group.bench_function(format!("{store} {uri}"), |b| {
                b.to_async(&runtime).iter(|| get(&s.client, &s.jar, uri));
            });
        }
    }
    group.finish();
}

/// The `memory` store with 1 and with many sessions: the guard's time must
/// not grow, and the memory a session takes is printed (the growth of this
/// process with the sessions in the store, minus the growth with as many
/// logins to the cookie store, which keeps nothing).
fn many_sessions(c: &mut Criterion) {
    let runtime = runtime();
    let count: usize = std::env::var("GUARD_BENCH_SESSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let uncached = json!({ "cache_entries": 0 });
    let before = resident_bytes();
    let control = runtime.block_on(setup_with("cookie", count, uncached.clone()));
    let after_control = resident_bytes();
    let many = runtime.block_on(setup_with("memory", count, uncached.clone()));
    let after_many = resident_bytes();
    let per_session =
        ((after_many - after_control) - (after_control - before)) / i64::try_from(count.max(1)).unwrap_or(1);
    println!(
        "memory store: about {per_session} bytes per session ({count} sessions; this process grew by {} MB with them, by {} MB with as many cookie-store logins)",
        (after_many - after_control) / 1_000_000,
        (after_control - before) / 1_000_000
    );
    drop(control);
    let one = runtime.block_on(setup_with("memory", 0, uncached));
    let mut group = c.benchmark_group("memory store size");
    for (sessions, s) in [(1, &one), (count + 1, &many)] {
        group.bench_function(format!("{sessions} sessions /ping/user"), |b| {
            b.to_async(&runtime).iter(|| get(&s.client, &s.jar, "/ping/user"));
        });
    }
    group.finish();
}

/// `BearerToken` with a cached introspection result and with a verified
/// RFC 9068 JWT, against `/ping` with the same header.
fn bearer(c: &mut Criterion) {
    let runtime = runtime();
    let (provider, client) = runtime.block_on(async {
        let provider = TestProvider::start().await;
        let figment = support::figment(oidc_config(&provider)).merge(("log_level", "off"));
        let rocket = rp_with_figment(figment, rocket::routes![ping, ping_token, ping_token_admin]);
        let client = Client::untracked(rocket).await.expect("launch");
        (provider, client)
    });
    let mut group = c.benchmark_group("bearer");
    for (kind, token) in [
        ("opaque", provider.opaque_token(json!({ "roles": ["user", "admin"] }))),
        ("jwt", provider.at_jwt(json!({ "roles": ["user", "admin"] }))),
    ] {
        let authorization = format!("Bearer {token}");
        for uri in ["/ping", "/ping/token", "/ping/token/admin"] {
            group.bench_function(format!("{kind} {uri}"), |b| {
                b.to_async(&runtime).iter(|| async {
                    let response = client
                        .get(uri)
                        .header(Header::new("Authorization", authorization.clone()))
                        .dispatch()
                        .await;
                    assert_eq!(response.status(), Status::Ok);
                });
            });
        }
    }
    group.finish();
}

/// A multi-tenant provider's tenant check with 1 and with 1,000 allowed
/// tenants: the same time (a set lookup), found or not.
fn tenants(c: &mut Criterion) {
    let mut group = c.benchmark_group("tenants");
    for count in [1usize, 1_000] {
        let listed: Vec<String> = (0..count)
            .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
            .collect();
        let tenants: rocket_openidconnect::config::Tenants = serde_json::from_value(json!(listed)).expect("tenant ids");
        let last = listed.last().cloned().unwrap_or_default();
        group.bench_function(format!("{count} allowed, found"), |b| {
            b.iter(|| std::hint::black_box(tenants.allows(std::hint::black_box(&last))));
        });
        group.bench_function(format!("{count} allowed, not found"), |b| {
            b.iter(|| {
                std::hint::black_box(tenants.allows(std::hint::black_box("ffffffff-0000-4000-8000-000000000000")))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, guard, bearer, many_sessions, tenants);
criterion_main!(benches);
