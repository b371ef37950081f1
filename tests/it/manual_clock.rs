//! An app's tests move the clock instead of waiting: the app and the test
//! issuer share a `ManualClock` (`Oidc::fairing().with_clock`,
//! `TestIssuerBuilder::clock`), and session lifetime, inactivity and token
//! expiry are reached at once.

use std::time::Duration;

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket, get, routes};
use rocket_openidconnect::testing::{ManualClock, TestIssuer};
use rocket_openidconnect::{BearerToken, DefaultProvider, Oidc, OidcUser, scopes};
use serde_json::{Value, json};

scopes!(Read = "read");

#[get("/me")]
fn me(user: OidcUser) -> String {
    user.subject().to_string()
}

#[get("/read")]
fn read(token: BearerToken<DefaultProvider, Read>) -> String {
    token.identity().subject().unwrap_or_default().to_string()
}

fn app(oidc: Value, clock: &ManualClock) -> Rocket<Build> {
    let figment = rocket::Config::figment()
        .select("debug")
        .merge(("secret_key", crate::support::secret_key(11)))
        .merge(("log_level", "off"))
        .merge(("oidc", oidc));
    rocket::custom(figment)
        .attach(Oidc::fairing().with_clock(clock.clone()))
        .mount("/", routes![me, read])
}

/// An app on `clock` with `session`, logged in as alice through an issuer on the same clock.
async fn logged_in(session: Value, clock: &ManualClock) -> (TestIssuer, Client) {
    let issuer = TestIssuer::builder()
        .clock(clock.clone())
        .start()
        .await
        .expect("issuer");
    let oidc = json!({ "session": session, "doctor": false, "clock_skew_seconds": 30 });
    let client = Client::tracked(issuer.configure(app(oidc, clock)))
        .await
        .expect("valid app");
    issuer.login_as(&client, "alice").await.expect("login");
    assert_eq!(client.get("/me").dispatch().await.status(), Status::Ok);
    (issuer, client)
}

async fn me_status(client: &Client) -> Status {
    client.get("/me").dispatch().await.status()
}

/// `me` after the clock moved `seconds` ahead, as it should answer.
async fn after(clock: &ManualClock, client: &Client, seconds: u64, expected: Status, why: &str) {
    clock.advance(Duration::from_secs(seconds));
    assert_eq!(me_status(client).await, expected, "{why}");
}

per_store! {
    async fn a_session_idle_longer_than_the_inactivity_timeout_is_refused_without_waiting_for_it(store) in [cookie, memory] {
        let clock = ManualClock::new();
        let session = json!({ "store": store, "inactivity_timeout_seconds": 600 });
        let (_issuer, client) = logged_in(session, &clock).await;
        after(&clock, &client, 599, Status::Ok, "active within the timeout").await;
        after(&clock, &client, 599, Status::Ok, "the last request restarted the timeout").await;
        after(&clock, &client, 601, Status::Unauthorized, "idle past the timeout").await;
    }
}

per_store! {
    async fn a_session_older_than_its_lifetime_is_refused_without_waiting_for_it(store) in [cookie, memory] {
        let clock = ManualClock::new();
        let (_issuer, client) = logged_in(json!({ "store": store, "lifetime_seconds": 3600 }), &clock).await;
        after(&clock, &client, 3500, Status::Ok, "within its lifetime").await;
        after(&clock, &client, 101, Status::Unauthorized, "past its lifetime").await;
    }
}

#[rocket::async_test]
async fn a_bearer_token_is_refused_once_the_clock_passes_its_exp_and_the_skew() {
    let clock = ManualClock::new();
    let issuer = TestIssuer::builder()
        .clock(clock.clone())
        .start()
        .await
        .expect("issuer");
    let oidc = json!({ "doctor": false, "clock_skew_seconds": 30 });
    let client = Client::tracked(issuer.configure(app(oidc, &clock)))
        .await
        .expect("valid app");
    let token = issuer
        .access_token()
        .scopes(["read"])
        .expires_in(Duration::from_secs(300))
        .jwt();
    let read = || async {
        client
            .get("/read")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
            .await
            .status()
    };
    assert_eq!(read().await, Status::Ok);
    clock.advance(Duration::from_secs(320));
    assert_eq!(read().await, Status::Ok, "within the clock skew (and from the cache)");
    clock.advance(Duration::from_secs(20));
    assert_eq!(
        read().await,
        Status::Unauthorized,
        "past exp and the skew, though cached as valid"
    );
}
