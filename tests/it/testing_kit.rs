//! The test kit (`rocket_openidconnect::testing`, feature `testing`): an
//! app's tests log users in and mint bearer tokens with an in-process
//! issuer, and every check of the crate still runs: a token or login the
//! crate would refuse from a real provider is refused here too.

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::Json;
use rocket::{Build, Rocket, get, routes};
use rocket_openidconnect::testing::{TestIssuer, TestUser, TestingError};
use rocket_openidconnect::{BearerToken, DefaultProvider, Oidc, OidcUser, provider, scopes};
use serde_json::{Value, json};

provider!(Second = "second");
scopes!(Read = "read");
scopes!(ReadWrite = "read", "write");

#[get("/me")]
fn me(user: OidcUser) -> Json<Value> {
    Json(json!({
        "sub": user.subject(),
        "claims": user.id_token_claims(),
        "userinfo": user.userinfo(),
    }))
}

#[get("/second")]
fn second(user: OidcUser<Second>) -> String {
    user.subject().to_string()
}

#[get("/read")]
fn read(token: BearerToken<DefaultProvider, Read>) -> String {
    token.identity().subject().unwrap_or_default().to_string()
}

#[get("/write")]
fn write(token: BearerToken<DefaultProvider, ReadWrite>) -> String {
    token.identity().subject().unwrap_or_default().to_string()
}

/// The app under test: no `Rocket.toml`, only what the test gives it.
fn app(oidc: Value) -> Rocket<Build> {
    let figment = rocket::Config::figment()
        .select("debug")
        .merge(("secret_key", crate::support::secret_key(7)))
        .merge(("log_level", "off"))
        .merge(("oidc", oidc));
    rocket::custom(figment)
        .attach(Oidc::fairing())
        .mount("/", routes![me, second, read, write])
}

fn session_config(store: &str) -> Value {
    json!({ "session": { "store": store }, "doctor": false })
}

async fn me_of(client: &Client) -> (Status, Value) {
    let response = client.get("/me").dispatch().await;
    let status = response.status();
    let body = response.into_string().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn get_with_token(client: &Client, path: &str, token: &str) -> Status {
    client
        .get(path.to_string())
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await
        .status()
}

#[rocket::async_test]
async fn a_user_logged_in_through_the_kit_reaches_the_handler_with_their_claims_and_userinfo() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let client = Client::tracked(issuer.configure(app(session_config("cookie"))))
        .await
        .expect("valid app");
    assert_eq!(me_of(&client).await.0, Status::Unauthorized, "no session yet");

    let alice = TestUser::new("alice")
        .claim("email", "alice@example.com")
        .claim("groups", ["admins"])
        .userinfo_claim("locale", "fr");
    issuer.login_as(&client, alice).await.expect("logged in");

    let (status, me) = me_of(&client).await;
    assert_eq!(status, Status::Ok, "{me}");
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["claims"]["email"], "alice@example.com");
    assert_eq!(me["claims"]["groups"], json!(["admins"]));
    // A real, validated ID token: its issuer and audience are the issuer's
    // and the client's, and it carries the nonce the crate checked.
    assert_eq!(me["claims"]["iss"], issuer.url());
    assert_eq!(me["claims"]["aud"], json!(issuer.client_id()));
    assert!(me["claims"]["nonce"].is_string(), "{me}");
    // Userinfo was fetched with the access token of the login.
    assert_eq!(me["userinfo"], json!({ "sub": "alice", "locale": "fr" }));

    // A second client is another browser: not logged in.
    let stranger = Client::tracked(issuer.configure(app(session_config("cookie"))))
        .await
        .expect("valid app");
    assert_eq!(me_of(&stranger).await.0, Status::Unauthorized);
}

#[rocket::async_test]
async fn the_kit_works_with_the_cookie_the_memory_and_the_redis_store() {
    let redis = crate::support::redis::RedisServer::start();
    let issuer = TestIssuer::start().await.expect("issuer");
    for (store, extra) in [
        ("cookie", json!({})),
        ("memory", json!({})),
        ("redis", json!({ "redis": redis.config() })),
    ] {
        let mut oidc = session_config(store);
        if let Some(extra) = extra.as_object() {
            for (key, value) in extra {
                oidc[key] = value.clone();
            }
        }
        let client = Client::tracked(issuer.configure(app(oidc))).await.expect("valid app");
        issuer
            .login_as(&client, format!("user-of-{store}").as_str())
            .await
            .expect("logged in");
        let (status, me) = me_of(&client).await;
        assert_eq!(status, Status::Ok, "{store}: {me}");
        assert_eq!(me["sub"], format!("user-of-{store}"), "{store}");
    }
    assert!(
        redis.keys().iter().any(|key| key.contains("session")),
        "the redis store kept the session in Redis: {:?}",
        redis.keys()
    );
}

#[rocket::async_test]
async fn several_providers_each_log_in_their_own_users() {
    let (first, other) = (
        TestIssuer::start().await.expect("issuer"),
        TestIssuer::start().await.expect("issuer"),
    );
    let rocket = other.configure_as("second", first.configure(app(session_config("memory"))));
    let client = Client::tracked(rocket).await.expect("valid app");

    other
        .login_as(&client, "bob")
        .await
        .expect("logged in at the second provider");
    assert_eq!(
        me_of(&client).await.0,
        Status::Unauthorized,
        "a session of `second` is none for `default`"
    );
    let response = client.get("/second").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.as_deref(), Some("bob"));

    first
        .login_as(&client, "alice")
        .await
        .expect("logged in at the default provider");
    assert_eq!(me_of(&client).await.1["sub"], "alice");
}

#[rocket::async_test]
async fn minted_tokens_pass_or_fail_as_the_app_requires() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let client = Client::tracked(issuer.configure(app(session_config("cookie"))))
        .await
        .expect("valid app");

    let reader_jwt = issuer.access_token().subject("svc").scopes(["read"]).jwt();
    let writer_opaque = issuer.access_token().subject("svc").scopes(["read", "write"]).opaque();
    let revoked = issuer.access_token().scopes(["read"]).opaque();
    issuer.revoke(&revoked);
    let cases = [
        ("a JWT with the scope", "/read", reader_jwt.clone(), Status::Ok),
        (
            "a JWT without a required scope",
            "/write",
            reader_jwt,
            Status::Forbidden,
        ),
        ("an opaque token with both scopes", "/write", writer_opaque, Status::Ok),
        (
            "an expired JWT",
            "/read",
            issuer.access_token().scopes(["read"]).expired().jwt(),
            Status::Unauthorized,
        ),
        (
            "an expired opaque token",
            "/read",
            issuer.access_token().scopes(["read"]).expired().opaque(),
            Status::Unauthorized,
        ),
        (
            "a JWT for another audience",
            "/read",
            issuer.access_token().scopes(["read"]).audience("another-api").jwt(),
            Status::Unauthorized,
        ),
        (
            "an opaque token for another audience",
            "/read",
            issuer.access_token().scopes(["read"]).audience("another-api").opaque(),
            Status::Unauthorized,
        ),
        (
            "a JWT from another issuer",
            "/read",
            issuer
                .access_token()
                .scopes(["read"])
                .claim("iss", "https://elsewhere.example")
                .jwt(),
            Status::Unauthorized,
        ),
        (
            "a JWT signed by a key the issuer never published",
            "/read",
            issuer.access_token().scopes(["read"]).signed_by_unknown_key().jwt(),
            Status::Unauthorized,
        ),
        ("a revoked opaque token", "/read", revoked, Status::Unauthorized),
        (
            "a token the issuer never issued",
            "/read",
            "made-up-token".to_string(),
            Status::Unauthorized,
        ),
    ];
    for (what, path, token, expected) in cases {
        assert_eq!(get_with_token(&client, path, &token).await, expected, "{what}");
    }
}

#[rocket::async_test]
async fn a_login_the_crate_would_refuse_fails_with_the_apps_answer() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let client = Client::tracked(issuer.configure(app(session_config("cookie"))))
        .await
        .expect("valid app");

    // The ID token names another audience: the crate's validation refuses it.
    let error = issuer
        .login_as(&client, TestUser::new("mallory").claim("aud", "another-client"))
        .await
        .expect_err("the app refuses the login");
    match error {
        TestingError::LoginFailed { status, body } => {
            assert_eq!(status, 401, "{body}");
            assert!(body.contains("invalid_id_token") || body.contains("audience"), "{body}");
        }
        other => panic!("expected LoginFailed, got {other:?}"),
    }
    // An expired ID token likewise.
    let error = issuer
        .login_as(&client, TestUser::new("mallory").claim("exp", 1_000_000_000))
        .await
        .expect_err("the app refuses the login");
    assert!(
        matches!(error, TestingError::LoginFailed { status: 401, .. }),
        "{error:?}"
    );
    assert_eq!(me_of(&client).await.0, Status::Unauthorized, "no session was created");
}

#[rocket::async_test]
async fn a_backchannel_logout_at_the_issuer_ends_the_session() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let client = Client::tracked(issuer.configure(app(session_config("cookie"))))
        .await
        .expect("valid app");
    issuer.login_as(&client, "alice").await.expect("logged in");
    assert_eq!(me_of(&client).await.0, Status::Ok);

    assert_eq!(
        issuer.backchannel_logout(&client, "alice").await.expect("a session"),
        Status::Ok
    );
    assert_eq!(
        me_of(&client).await.0,
        Status::Unauthorized,
        "the copied cookie is refused too"
    );
    assert!(matches!(
        issuer.backchannel_logout(&client, "alice").await,
        Err(TestingError::NoSession { .. })
    ));
}

#[rocket::async_test]
async fn mistakes_in_using_the_kit_are_named() {
    let issuer = TestIssuer::start().await.expect("issuer");

    let untracked = Client::untracked(issuer.configure(app(session_config("cookie"))))
        .await
        .expect("valid app");
    let error = issuer.login_as(&untracked, "alice").await.expect_err("no cookies kept");
    assert!(matches!(error, TestingError::UntrackedClient), "{error:?}");
    assert!(error.to_string().contains("Client::tracked"), "{error}");

    let elsewhere = TestIssuer::start().await.expect("issuer");
    let client = Client::tracked(elsewhere.configure(app(session_config("cookie"))))
        .await
        .expect("valid app");
    let error = issuer
        .login_as(&client, "alice")
        .await
        .expect_err("not this app's issuer");
    assert!(error.to_string().contains(issuer.url()), "{error}");
    assert!(error.to_string().contains("TestIssuer::configure"), "{error}");
}
