//! Metrics through the `metrics` facade (rendered here by the Prometheus
//! exporter the demo uses): logins by outcome and cause, provider calls by
//! endpoint and status with their latency, cache hits and misses, bearer
//! judgements, refusals by authorization, refreshes, logouts, sessions in
//! the memory store.
//!
//! One recorder per process: everything is in one test, which reads the
//! counters before and after each step.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rocket::http::{Accept, ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use rocket_openidconnect::testing::{TestIssuer, TestUser};
use rocket_openidconnect::{
    BearerToken, DefaultProvider, NoRequirement, NoScopes, Oidc, OidcError, OidcUser, authorization, provider,
};
use serde_json::json;

provider!(Down = "down");
authorization!(Admins { roles: any["admin"] });
authorization!(Staff { groups: all["staff"] });

#[get("/admin")]
fn admin(user: OidcUser<DefaultProvider, NoRequirement, Admins>) -> String {
    user.subject().to_string()
}

#[get("/api/staff")]
fn api_staff(_token: BearerToken<DefaultProvider, NoScopes, Staff>) -> &'static str {
    "ok"
}
provider!(Misconfigured = "misconfigured");

#[get("/me")]
fn me(user: OidcUser) -> String {
    user.subject().to_string()
}

#[get("/down")]
fn down(user: OidcUser<Down>) -> String {
    user.subject().to_string()
}

#[get("/refresh")]
async fn refresh(user: OidcUser) -> Result<String, OidcError> {
    Ok(user.refreshed_access_token().await?.refreshed().to_string())
}

#[get("/api")]
fn api(_token: BearerToken) -> &'static str {
    "ok"
}

#[get("/api/misconfigured")]
fn api_misconfigured(_token: BearerToken<Misconfigured>) -> &'static str {
    "ok"
}

/// The value of the series `name{labels}` (labels in the order the crate
/// gives them), 0 when absent.
fn value(rendered: &str, series: &str) -> f64 {
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

struct Metrics(PrometheusHandle);

impl Metrics {
    fn get(&self, series: &str) -> f64 {
        value(&self.0.render(), series)
    }
}

#[rocket::async_test]
async fn the_crate_counts_and_times_what_an_operator_watches() {
    let metrics = Metrics(PrometheusBuilder::new().install_recorder().expect("the only recorder"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let issuer = TestIssuer::start().await.expect("issuer");
    let figment = rocket::Config::figment()
        .select("debug")
        .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
        .merge(("log_level", "off"))
        .merge((
            "oidc",
            json!({
                "doctor": false,
                "session": { "store": "memory" },
                "providers": {
                    "down": { "issuer": format!("http://127.0.0.1:{closed}"), "client_id": "x", "client_secret": "y" },
                    // The issuer's client, with a wrong secret (and a
                    // callback of its own: one issuer, two providers).
                    "misconfigured": {
                        "issuer": issuer.url(), "client_id": issuer.client_id(), "client_secret": "not-the-secret",
                        "redirect_uri": "http://127.0.0.1:8000/callback/misconfigured",
                    },
                },
            }),
        ));
    let app = rocket::custom(figment).attach(Oidc::fairing()).mount(
        "/",
        routes![me, down, refresh, api, api_misconfigured, admin, api_staff],
    );
    let client = Client::tracked(issuer.configure(app)).await.expect("app");

    // A login: success, with its provider calls and duration.
    let logins = r#"oidc_logins_total{provider="default",outcome="success",cause="none"}"#;
    let token_calls = r#"oidc_provider_requests_total{provider="default",endpoint="token",status="200"}"#;
    let userinfo_calls = r#"oidc_provider_requests_total{provider="default",endpoint="userinfo",status="200"}"#;
    let before = (
        metrics.get(logins),
        metrics.get(token_calls),
        metrics.get(userinfo_calls),
    );
    issuer.login_as(&client, "alice").await.expect("logged in");
    assert_eq!(metrics.get(logins), before.0 + 1.0, "{}", metrics.0.render());
    assert_eq!(metrics.get(token_calls), before.1 + 1.0);
    assert_eq!(metrics.get(userinfo_calls), before.2 + 1.0);
    for endpoint in ["discovery", "jwks"] {
        let series =
            format!(r#"oidc_provider_requests_total{{provider="default",endpoint="{endpoint}",status="200"}}"#);
        assert!(metrics.get(&series) >= 1.0, "{series}");
    }
    let latency = r#"oidc_provider_request_duration_seconds_count{provider="default",endpoint="token"}"#;
    assert!(
        metrics.get(latency) >= 1.0,
        "a latency histogram: {}",
        metrics.0.render()
    );
    assert!(metrics.get(r#"oidc_login_duration_seconds_count{provider="default"}"#) >= 1.0);
    assert_eq!(metrics.get(r#"oidc_sessions_stored{store="memory"}"#), 1.0);

    // A logged-in request: a hit of the session-id cache.
    let hits = r#"oidc_cache_requests_total{cache="session_id",result="hit"}"#;
    let before = metrics.get(hits);
    assert_eq!(client.get("/me").dispatch().await.status(), Status::Ok);
    assert_eq!(client.get("/me").dispatch().await.status(), Status::Ok);
    assert!(metrics.get(hits) >= before + 1.0, "{}", metrics.0.render());

    // Access denied, by guard, requirement and what was unmet.
    let denied = r#"oidc_access_denied_total{guard="session",requirement="Admins",unmet="role"}"#;
    let before = metrics.get(denied);
    assert_eq!(client.get("/admin").dispatch().await.status(), Status::Forbidden);
    assert_eq!(metrics.get(denied), before + 1.0, "{}", metrics.0.render());
    let denied = r#"oidc_access_denied_total{guard="bearer",requirement="Staff",unmet="group"}"#;
    let response = client
        .get("/api/staff")
        .header(Header::new(
            "Authorization",
            format!("Bearer {}", issuer.access_token().claim("groups", ["eng"]).jwt()),
        ))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(metrics.get(denied), 1.0, "{}", metrics.0.render());

    // A refresh.
    let refreshes = r#"oidc_refreshes_total{provider="default",outcome="success"}"#;
    let before = metrics.get(refreshes);
    assert_eq!(
        client.get("/refresh").dispatch().await.into_string().await.as_deref(),
        Some("true")
    );
    assert_eq!(metrics.get(refreshes), before + 1.0);

    // A failed login, by cause.
    let wrong_audience = r#"oidc_logins_total{provider="default",outcome="failure",cause="wrong_audience"}"#;
    let before = metrics.get(wrong_audience);
    let stranger = TestUser::new("mallory").claim("aud", "someone-else");
    let fresh = Client::tracked(
        issuer.configure(
            rocket::custom(
                rocket::Config::figment()
                    .select("debug")
                    .merge(("secret_key", "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="))
                    .merge(("log_level", "off"))
                    .merge(("oidc", json!({"doctor": false}))),
            )
            .attach(Oidc::fairing())
            .mount("/", routes![me]),
        ),
    )
    .await
    .expect("app");
    assert!(issuer.login_as(&fresh, stranger).await.is_err());
    assert_eq!(metrics.get(wrong_audience), before + 1.0, "{}", metrics.0.render());

    // A provider that cannot be reached.
    let unreachable = r#"oidc_provider_requests_total{provider="down",endpoint="discovery",status="unreachable"}"#;
    let before = metrics.get(unreachable);
    let response = client.get("/down").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);
    assert!(metrics.get(unreachable) > before);

    // Bearer tokens: accepted (then cached), refused.
    let good = issuer.access_token().jwt();
    let accepted = r#"oidc_bearer_tokens_total{outcome="accepted"}"#;
    let refused = r#"oidc_bearer_tokens_total{outcome="refused"}"#;
    let bearer_hits = r#"oidc_cache_requests_total{cache="bearer",result="hit"}"#;
    let before = (metrics.get(accepted), metrics.get(refused), metrics.get(bearer_hits));
    for token in [&good, &good, &issuer.access_token().expired().jwt()] {
        client
            .get("/api")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
            .await;
    }
    assert_eq!(metrics.get(accepted), before.0 + 2.0);
    assert_eq!(metrics.get(refused), before.1 + 1.0);
    assert_eq!(
        metrics.get(bearer_hits),
        before.2 + 1.0,
        "the second use of a token is a cache hit"
    );

    // The provider refusing this app's own credentials at introspection is
    // a misconfiguration, counted apart from an outage.
    let rejected = r#"oidc_bearer_tokens_total{outcome="client_rejected"}"#;
    let unavailable = r#"oidc_bearer_tokens_total{outcome="unavailable"}"#;
    let before = (metrics.get(rejected), metrics.get(unavailable));
    let response = client
        .get("/api/misconfigured")
        .header(Header::new(
            "Authorization",
            format!("Bearer {}", issuer.access_token().opaque()),
        ))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(metrics.get(rejected), before.0 + 1.0, "{}", metrics.0.render());
    assert_eq!(metrics.get(unavailable), before.1);

    // Logouts: the user's, then the provider's.
    let rp = r#"oidc_logouts_total{kind="rp"}"#;
    let before = metrics.get(rp);
    let response = client.post("/logout").header(ContentType::Form).dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(metrics.get(rp), before + 1.0);
    assert_eq!(metrics.get(r#"oidc_sessions_stored{store="memory"}"#), 0.0);

    issuer.login_as(&client, "bob").await.expect("logged in");
    let backchannel = r#"oidc_logouts_total{kind="backchannel"}"#;
    let before = metrics.get(backchannel);
    assert_eq!(
        issuer.backchannel_logout(&client, "bob").await.expect("a session"),
        Status::Ok
    );
    assert_eq!(metrics.get(backchannel), before + 1.0);

    // Nothing secret in any series.
    let rendered = metrics.0.render();
    assert!(!rendered.contains(&good), "no token in the metrics");
}
