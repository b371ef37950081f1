//! Who may do what (issue "Who may do what", part 1): a route names the
//! roles, groups and claim values it needs with `authorization!`, as the
//! third parameter of `OidcUser`, `BearerToken` and `Identity`. Roles and
//! groups are read where `providers.<name>.roles_claim` and `groups_claim`
//! point. An authenticated user or token without them gets `403
//! access_denied`: never `401`, never a login (which would loop), and
//! never the required values in the answer.

use rocket::State;
use rocket::get;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket_openidconnect::{BearerToken, DefaultProvider, Identity, NoRequirement, NoScopes, OidcUser, authorization};
use serde_json::{Value, json};

use crate::support::api::*;
use crate::support::*;

authorization!(
    /// Either of two roles.
    Admins { roles: any ["admin", "owner"] }
);
authorization!(
    /// Both groups.
    StaffEngineers { groups: all ["staff", "eng"] }
);
authorization!(
    /// Claim values, one of them nested.
    GoldTenant { claims: { "tid" = "t-1", "plan.level" = "gold" } }
);

fn user_json<R: rocket_openidconnect::Requirement, A: rocket_openidconnect::Authorization>(
    user: &OidcUser<DefaultProvider, R, A>,
) -> Value {
    json!({
        "sub": user.subject(),
        "roles": user.roles(),
        "groups": user.groups(),
        "is_admin": user.has_role("admin"),
        "in_staff": user.in_group("staff"),
        "level": user.claim("plan.level"),
    })
}

#[get("/admin")]
fn admin(user: OidcUser<DefaultProvider, NoRequirement, Admins>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(user_json(&user))
}

#[get("/staff")]
fn staff(user: OidcUser<DefaultProvider, NoRequirement, StaffEngineers>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(user_json(&user))
}

#[get("/gold")]
fn gold(user: OidcUser<DefaultProvider, NoRequirement, GoldTenant>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(user_json(&user))
}

#[get("/whoami")]
fn whoami(user: OidcUser) -> Json<Value> {
    Json(user_json(&user))
}

#[get("/api/admin")]
fn api_admin(token: BearerToken<DefaultProvider, NoScopes, Admins>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(json!({ "sub": token.subject(), "roles": token.roles(), "groups": token.groups() }))
}

#[get("/api/staff")]
fn api_staff(token: BearerToken<DefaultProvider, NoScopes, StaffEngineers>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(json!({ "sub": token.subject(), "groups": token.groups(), "in_eng": token.in_group("eng") }))
}

#[get("/either/admin")]
fn either_admin(
    who: Identity<DefaultProvider, NoScopes, NoRequirement, Admins>,
    runs: &State<HandlerRuns>,
) -> Json<Value> {
    runs.ran();
    Json(json!({ "via": who.via(), "sub": who.subject(), "is_admin": who.has_role("admin") }))
}

fn routes() -> Vec<rocket::Route> {
    let mut routes = rocket::routes![admin, staff, gold, whoami, api_admin, api_staff, either_admin];
    routes.extend(api_routes());
    routes
}

/// The app, with `settings` merged into the default provider's table.
async fn app(provider: &TestProvider, settings: Value) -> Browser {
    let mut config = bearer_config(provider, json!({}));
    if let (Some(table), Some(settings)) = (config["providers"]["default"].as_object_mut(), settings.as_object()) {
        table.extend(settings.clone());
    }
    Browser::new(api_app_with_routes(config, routes())).await
}

/// A browser logged in as a user whose ID token carries `claims`.
async fn logged_in_with(claims: Value) -> (TestProvider, Browser) {
    logged_in_with_settings(claims, json!({})).await
}

async fn logged_in_with_settings(claims: Value, settings: Value) -> (TestProvider, Browser) {
    let provider = TestProvider::start().await;
    provider.behave(|b| b.claims.extend(claims.as_object().cloned().unwrap_or_default()));
    let mut browser = app(&provider, settings).await;
    browser.login_ok(&provider, "/profile").await;
    (provider, browser)
}

/// Asserts a `403 access_denied` that names none of `required`.
#[track_caller]
fn assert_denied(resp: &Resp, required: &[&str]) {
    assert_error(resp, Status::Forbidden, "access_denied");
    assert!(resp.header("Location").is_none(), "no login: {resp:#?}");
    for value in required {
        assert!(!resp.body.contains(value), "the answer names `{value}`: {resp:#?}");
        for challenge in resp.headers_named("WWW-Authenticate") {
            assert!(!challenge.contains(value), "the challenge names `{value}`: {challenge}");
        }
    }
}

#[rocket::async_test]
async fn a_user_with_one_of_the_roles_passes_and_the_handler_sees_their_roles() {
    let (_provider, mut browser) = logged_in_with(json!({ "roles": ["owner", "user"], "groups": "staff" })).await;
    let resp = browser.navigate("/admin").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    let body = resp.json();
    assert_eq!(body["roles"], json!(["owner", "user"]));
    assert_eq!(body["groups"], json!(["staff"]), "one string is one group");
    assert_eq!(body["is_admin"], false);
    assert_eq!(body["in_staff"], true);
    assert_eq!(browser.handler_runs(), 1);
}

#[rocket::async_test]
async fn a_logged_in_user_without_the_role_is_403_access_denied_and_never_sent_to_log_in_again() {
    let (_provider, mut browser) = logged_in_with(json!({ "roles": ["user"] })).await;

    let page = browser.navigate("/admin").await;
    assert_denied(&page, &["owner"]);
    assert!(page.is_html(), "a navigation gets a page: {page:#?}");
    assert!(page.body.contains("Access denied"), "{}", page.body);

    let api = browser.api("/admin").await;
    assert_denied(&api, &["owner", "admin"]);
    assert!(
        api.header("WWW-Authenticate").is_none(),
        "a session is not a bearer request: {api:#?}"
    );

    for resp in [&page, &api] {
        assert!(
            resp.headers_named("Set-Cookie").is_empty(),
            "no login was started (no state cookie): {resp:#?}"
        );
    }
    assert_eq!(browser.handler_runs(), 0);
    // The session itself is untouched.
    assert_eq!(browser.navigate("/whoami").await.status, Status::Ok);
}

#[rocket::async_test]
async fn without_a_session_the_route_asks_for_a_login_first_like_any_other() {
    let provider = TestProvider::start().await;
    let mut browser = app(&provider, json!({})).await;
    assert_error(&browser.api("/admin").await, Status::Unauthorized, "login_required");
    let auth = browser.start_login("/admin").await;
    assert_eq!(auth.param("client_id"), Some(provider.client_id()));
}

#[rocket::async_test]
async fn roles_are_read_where_roles_claim_points_as_keycloak_nests_them() {
    let keycloak = json!({
        "roles": ["admin"],
        "realm_access": { "roles": ["user"] },
        "resource_access": { "my-app": { "roles": ["owner"] }, "other-app": { "roles": ["admin"] } },
    });
    // Realm roles: `user` only, whatever the top-level `roles` says.
    let (_provider, mut browser) =
        logged_in_with_settings(keycloak.clone(), json!({ "roles_claim": "realm_access.roles" })).await;
    assert_denied(&browser.api("/admin").await, &["owner"]);
    assert_eq!(browser.api("/whoami").await.json()["roles"], json!(["user"]));

    // This client's roles: `owner`; another client's `admin` counts for nothing.
    let (_provider, mut browser) =
        logged_in_with_settings(keycloak, json!({ "roles_claim": "resource_access.my-app.roles" })).await;
    let resp = browser.api("/admin").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["roles"], json!(["owner"]));
}

#[rocket::async_test]
async fn userinfo_is_the_provider_s_later_word_over_the_id_token() {
    // The ID token says admin; userinfo, read at login, no longer does.
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.claims.insert("roles".into(), json!(["admin"]));
        b.userinfo_claims.insert("roles".into(), json!(["user"]));
    });
    let mut browser = app(&provider, json!({})).await;
    browser.login_ok(&provider, "/profile").await;
    assert_denied(&browser.api("/admin").await, &["owner"]);

    // Roles only userinfo gives count too.
    let provider = TestProvider::start().await;
    provider.behave(|b| {
        b.userinfo_claims.insert("roles".into(), json!(["admin"]));
    });
    let mut browser = app(&provider, json!({})).await;
    browser.login_ok(&provider, "/profile").await;
    assert_eq!(browser.api("/admin").await.status, Status::Ok);
}

#[rocket::async_test]
async fn all_of_the_groups_are_needed_where_the_route_asks_all() {
    let (_provider, mut browser) = logged_in_with(json!({ "groups": ["staff"] })).await;
    assert_denied(&browser.api("/staff").await, &["eng"]);
    let (_provider, mut browser) = logged_in_with(json!({ "groups": ["eng", "staff", "ops"] })).await;
    assert_eq!(browser.api("/staff").await.status, Status::Ok);
}

#[rocket::async_test]
async fn claim_values_are_required_at_nested_paths_exactly() {
    let (_provider, mut browser) = logged_in_with(json!({ "tid": "t-1", "plan": { "level": "gold" } })).await;
    let resp = browser.api("/gold").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["level"], "gold");

    for (claims, why) in [
        (json!({ "tid": "t-1", "plan": { "level": "Gold" } }), "no case folding"),
        (json!({ "tid": "t-2", "plan": { "level": "gold" } }), "another tenant"),
        (
            json!({ "tid": "t-1", "plan.level": "gold" }),
            "a dotted name is not a path",
        ),
        (
            json!({ "tid": "t-1", "plan": ["level", "gold"] }),
            "an array is no object",
        ),
        (json!({ "tid": "t-1" }), "absent"),
    ] {
        let (_provider, mut browser) = logged_in_with(claims).await;
        let resp = browser.api("/gold").await;
        assert_eq!(resp.status, Status::Forbidden, "{why}: {resp:#?}");
        assert_denied(&resp, &["t-1", "gold"]);
    }
}

#[rocket::async_test]
async fn roles_of_another_shape_or_case_grant_nothing() {
    let (_provider, mut browser) = logged_in_with(json!({ "roles": "admin" })).await;
    assert_eq!(browser.api("/admin").await.status, Status::Ok, "one string is one role");
    for odd in [
        json!(["Admin"]),
        json!("admin owner"),
        json!(["admin", 1]),
        json!({ "admin": true }),
        json!([["admin"]]),
        json!(true),
    ] {
        let (_provider, mut browser) = logged_in_with(json!({ "roles": odd })).await;
        assert_denied(&browser.api("/admin").await, &["owner"]);
    }
}

#[rocket::async_test]
async fn a_token_without_the_role_is_403_access_denied_with_a_bearer_challenge_naming_no_value() {
    let provider = TestProvider::start().await;
    let mut browser = app(&provider, json!({})).await;

    let admin = provider.at_jwt(json!({ "roles": ["admin"] }));
    let resp = browser.bearer("/api/admin", &admin).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["roles"], json!(["admin"]));

    let user = provider.at_jwt(json!({ "roles": ["user"] }));
    let resp = browser.bearer("/api/admin", &user).await;
    assert_denied(&resp, &["owner", "admin"]);
    assert_bearer_error(&resp, Status::Forbidden, "access_denied");
    let challenge = challenge(&resp);
    assert!(
        challenge.param("scope").is_none(),
        "no scope would help, so none is named: {challenge:?}"
    );
    assert_eq!(browser.handler_runs(), 1, "only the admin's request ran");
}

#[rocket::async_test]
async fn an_introspected_token_is_judged_by_its_introspection_answer() {
    let provider = TestProvider::start().await;
    let mut browser = app(&provider, json!({ "groups_claim": "ext.groups" })).await;
    let member = provider.opaque_token(json!({ "ext": { "groups": ["staff", "eng"] } }));
    let resp = browser.bearer("/api/staff", &member).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["in_eng"], true);

    let outsider = provider.opaque_token(json!({ "groups": ["staff", "eng"] }));
    assert_denied(&browser.bearer("/api/staff", &outsider).await, &["eng"]);
}

#[rocket::async_test]
async fn an_invalid_token_is_still_401_and_authentication_comes_first() {
    let provider = TestProvider::start().await;
    let mut browser = app(&provider, json!({})).await;
    let expired = provider.at_jwt(json!({ "roles": ["admin"], "exp": 1 }));
    assert_invalid_token(&browser.bearer("/api/admin", &expired).await);
    let resp = browser.api("/api/admin").await;
    assert_eq!(resp.status, Status::Unauthorized, "no token: {resp:#?}");
    assert_eq!(browser.handler_runs(), 0);
}

#[rocket::async_test]
async fn identity_applies_the_authorization_to_a_token_and_to_a_session_alike() {
    let (provider, mut browser) = logged_in_with(json!({ "roles": ["user"] })).await;
    assert_denied(&browser.api("/either/admin").await, &["owner"]);
    let admin = provider.at_jwt(json!({ "roles": ["owner"] }));
    let resp = browser.bearer("/either/admin", &admin).await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "token");
    let user = provider.at_jwt(json!({ "roles": ["user"] }));
    assert_bearer_error(
        &browser.bearer("/either/admin", &user).await,
        Status::Forbidden,
        "access_denied",
    );

    let (_provider, mut browser) = logged_in_with(json!({ "roles": ["admin"] })).await;
    let resp = browser.api("/either/admin").await;
    assert_eq!(resp.status, Status::Ok, "{resp:#?}");
    assert_eq!(resp.json()["via"], "session");
    assert_eq!(resp.json()["is_admin"], true);
}
