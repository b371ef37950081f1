//! A small app as its author would test it: only through the test kit
//! (`rocket_openidconnect::testing`), with no provider to run and nothing
//! of this repository's own test support.

use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_openidconnect::testing::{TestIssuer, TestUser};

/// The app: a notes service with a page for people and an API for programs.
mod notes_app {
    use rocket::http::Status;
    use rocket::serde::json::Json;
    use rocket::{Build, Rocket, get, post, routes};
    use rocket_openidconnect::{BearerToken, DefaultProvider, Oidc, OidcUser, scopes};
    use serde_json::{Value, json};

    scopes!(Read = "notes:read");
    scopes!(Write = "notes:write");

    #[get("/")]
    fn index() -> &'static str {
        "notes"
    }

    #[get("/me")]
    fn me(user: OidcUser) -> String {
        let name = user.id_token_claims().get("name").and_then(Value::as_str);
        format!("Hello, {}!", name.unwrap_or(user.subject()))
    }

    #[get("/admin")]
    fn admin(user: OidcUser) -> Result<&'static str, Status> {
        let groups = user.id_token_claims().get("groups").and_then(Value::as_array);
        match groups {
            Some(groups) if groups.iter().any(|g| g == "admins") => Ok("the admin page"),
            _ => Err(Status::Forbidden),
        }
    }

    #[get("/api/notes")]
    fn list(token: BearerToken<DefaultProvider, Read>) -> Json<Value> {
        Json(json!({ "owner": token.identity().subject(), "notes": ["buy milk"] }))
    }

    #[post("/api/notes")]
    fn add(_token: BearerToken<DefaultProvider, Write>) -> Status {
        Status::Created
    }

    pub fn rocket() -> Rocket<Build> {
        rocket::build()
            .attach(Oidc::fairing())
            .mount("/", routes![index, me, admin, list, add])
    }
}

async fn client(issuer: &TestIssuer) -> Client {
    Client::tracked(issuer.configure(notes_app::rocket()))
        .await
        .expect("the app launches")
}

fn bearer(token: &str) -> Header<'static> {
    Header::new("Authorization", format!("Bearer {token}"))
}

#[rocket::async_test]
async fn a_visitor_is_sent_to_the_provider_to_log_in() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let client = client(&issuer).await;
    let response = client.get("/me").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::Found);
    let location = response.headers().get_one("Location").unwrap_or_default();
    assert!(
        location.starts_with(&format!("{}/authorize?", issuer.url())),
        "{location}"
    );
    assert_eq!(
        client.get("/").dispatch().await.status(),
        Status::Ok,
        "the start page is public"
    );
}

#[rocket::async_test]
async fn a_logged_in_user_is_greeted_by_name() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let client = client(&issuer).await;
    issuer
        .login_as(&client, TestUser::new("u-1").claim("name", "Ada"))
        .await
        .expect("logged in");
    let response = client.get("/me").dispatch().await;
    assert_eq!(response.into_string().await.as_deref(), Some("Hello, Ada!"));
}

#[rocket::async_test]
async fn only_admins_see_the_admin_page() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let admin = client(&issuer).await;
    issuer
        .login_as(&admin, TestUser::new("u-1").claim("groups", ["admins"]))
        .await
        .expect("logged in");
    assert_eq!(admin.get("/admin").dispatch().await.status(), Status::Ok);

    let member = client(&issuer).await;
    issuer
        .login_as(&member, TestUser::new("u-2").claim("groups", ["staff"]))
        .await
        .expect("logged in");
    assert_eq!(member.get("/admin").dispatch().await.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn the_api_needs_a_token_with_the_right_scope() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let client = client(&issuer).await;
    let reader = issuer.access_token().subject("svc-1").scopes(["notes:read"]).jwt();

    let response = client.get("/api/notes").header(bearer(&reader)).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let body: serde_json::Value =
        serde_json::from_str(&response.into_string().await.unwrap_or_default()).expect("json");
    assert_eq!(body["owner"], "svc-1");

    let writer = issuer.access_token().scopes(["notes:read", "notes:write"]).opaque();
    assert_eq!(
        client
            .post("/api/notes")
            .header(bearer(&writer))
            .dispatch()
            .await
            .status(),
        Status::Created
    );
    assert_eq!(
        client
            .post("/api/notes")
            .header(bearer(&reader))
            .dispatch()
            .await
            .status(),
        Status::Forbidden,
        "a reader may not write"
    );
    let expired = issuer.access_token().scopes(["notes:read"]).expired().jwt();
    assert_eq!(
        client
            .get("/api/notes")
            .header(bearer(&expired))
            .dispatch()
            .await
            .status(),
        Status::Unauthorized
    );
    assert_eq!(
        client.get("/api/notes").dispatch().await.status(),
        Status::Unauthorized,
        "no token"
    );
}
