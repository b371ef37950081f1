//! The cost of the `OidcUser` guard alone, per session store: the same
//! request (`GET /ping`, the session cookie included) without and with the
//! guard (`GET /ping/user`), dispatched in process (no sockets, no wrk), so
//! regressions show. `cargo bench --bench guard`; the ratio of the two
//! times is what the guard costs.
//!
//! Also: the guard with 1 and with 100,000 sessions in the `memory` store
//! (its cost must not grow with the number of sessions).

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
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

struct Setup {
    client: Arc<Client>,
    jar: BTreeMap<String, String>,
    _provider: TestProvider,
    _redis: Option<RedisServer>,
}

async fn setup(store: &str, extra_sessions: usize) -> Setup {
    let provider = TestProvider::start().await;
    let mut config = oidc_config(&provider);
    let redis = store.contains("redis").then(RedisServer::start);
    config["session"] = json!({ "store": if store == "cookie+redis" { "cookie" } else { store } });
    if let Some(redis) = &redis {
        config["redis"] = redis.config();
    }
    config["limits"] = json!({ "sessions_per_subject": 1_000_000, "sessions": 1_000_000 });
    let routes = rocket::routes![ping, ping_user, app::profile];
    let figment = support::figment(config).merge(("log_level", "off"));
    let mut browser = Browser::new(rp_with_figment(figment, routes)).await;
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

fn guard(c: &mut Criterion) {
    let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let only = std::env::var("GUARD_BENCH_STORES").unwrap_or_else(|_| "cookie memory redis cookie+redis".into());
    let mut group = c.benchmark_group("guard");
    for store in only.split_whitespace() {
        let s = runtime.block_on(setup(store, 0));
        for uri in ["/ping", "/ping/user"] {
            group.bench_function(format!("{store} {uri}"), |b| {
                b.to_async(&runtime).iter(|| get(&s.client, &s.jar, uri));
            });
        }
    }
    group.finish();
}

fn many_sessions(c: &mut Criterion) {
    let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let count: usize = std::env::var("GUARD_BENCH_SESSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let mut group = c.benchmark_group("memory store size");
    for sessions in [0, count] {
        let s = runtime.block_on(setup("memory", sessions));
        group.bench_function(format!("{} sessions /ping/user", sessions + 1), |b| {
            b.to_async(&runtime).iter(|| get(&s.client, &s.jar, "/ping/user"));
        });
    }
    group.finish();
}

criterion_group!(benches, guard, many_sessions);
criterion_main!(benches);
