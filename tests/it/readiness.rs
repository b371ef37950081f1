//! A readiness probe for load balancers: `200` when every provider is
//! discovered with its signing keys and Redis (when configured) answers,
//! `503` otherwise. The answer says what is missing, never where (no host).

use rocket::State;
use rocket::http::Status;
use rocket_openidconnect::{Oidc, Readiness};
use serde_json::{Value, json};

use crate::support::redis::RedisServer;
use crate::support::*;

#[rocket::get("/ready")]
async fn ready(oidc: &State<Oidc>) -> Readiness {
    oidc.readiness().await
}

async fn probe(oidc: Value) -> (Status, Value) {
    let client = rocket::local::asynchronous::Client::untracked(rp(oidc, rocket::routes![ready]))
        .await
        .expect("launch");
    let resp = client.get("/ready").dispatch().await;
    let status = resp.status();
    let body: Value = serde_json::from_str(&resp.into_string().await.unwrap_or_default()).expect("JSON");
    (status, body)
}

#[rocket::async_test]
async fn ready_when_the_provider_and_its_keys_can_be_had() {
    let provider = TestProvider::start().await;
    let (status, body) = probe(oidc_config(&provider)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(
        body,
        json!({ "ready": true, "providers": { "default": { "discovered": true, "keys": true } } })
    );
}

#[rocket::async_test]
async fn not_ready_while_a_provider_is_down_and_the_answer_names_no_host() {
    let (status, body) = probe(oidc_config_for_issuer("http://127.0.0.1:9")).await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(body["ready"], false);
    assert_eq!(
        body["providers"]["default"],
        json!({ "discovered": false, "keys": false })
    );
    assert!(!body.to_string().contains("127.0.0.1"), "{body}");
}

#[rocket::async_test]
async fn redis_counts_when_configured() {
    let provider = TestProvider::start().await;
    let redis = RedisServer::start();
    let mut oidc = oidc_config(&provider);
    oidc["redis"] = json!({ "url": redis.url(), "timeout_ms": 500 });
    let (status, body) = probe(oidc.clone()).await;
    assert_eq!(
        (status, &body["redis"]),
        (Status::Ok, &json!({ "reachable": true })),
        "{body}"
    );

    // Nothing listens on port 1.
    oidc["redis"] = json!({ "url": "redis://127.0.0.1:1/0", "timeout_ms": 500 });
    let (status, body) = probe(oidc).await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(body["redis"], json!({ "reachable": false }));
    assert_eq!(body["providers"]["default"]["keys"], true, "the provider is fine");
}
