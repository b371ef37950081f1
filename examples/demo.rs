//! The demo app of CONTRACT §3: `cargo run --example demo`, then open
//! <http://127.0.0.1:8000/profile>. It reads everything from `Rocket.toml`
//! or `ROCKET_OIDC`; only a `default` provider is needed.

#[macro_use]
extern crate rocket;

use rocket::response::content::{RawHtml, RawJson};
use rocket::serde::json::serde_json::{self, value::RawValue};
use rocket::serde::json::{json, Json, Value};
use rocket::serde::Serialize;
use rocket::State;
use rocket_openidconnect::{scopes, BearerToken, Identity, Oidc, OidcError, OidcUser, TokenIdentity, UserSession};

scopes!(
    /// What `/api/write` requires.
    ReadWrite = "read", "write"
);

#[get("/")]
fn index() -> RawHtml<&'static str> {
    RawHtml(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>rocket_openidconnect demo</title></head>\
         <body><h1>rocket_openidconnect demo</h1><ul>\
         <li><a href=\"/profile\">Profile</a> (logs you in)</li>\
         <li><a href=\"/token\">Your access token</a></li>\
         <li><a href=\"/either\">Token or session</a></li>\
         <li><a href=\"/service-token\">A client-credentials token</a></li>\
         <li><form method=\"post\" action=\"/logout\"><button>Log out</button></form></li>\
         </ul></body></html>",
    )
}

/// For benchmarks: the same tiny answer without and with the guard, so the
/// difference is what `OidcUser` costs.
#[get("/ping")]
fn ping() -> &'static str {
    "pong"
}

#[get("/ping/user")]
fn ping_user(_user: OidcUser) -> &'static str {
    "pong"
}

/// No guard, and a JSON body of `/api`'s size: the benchmark's measure of
/// what `/api`'s answer costs without the token check.
#[get("/ping/json")]
fn ping_json() -> RawJson<String> {
    RawJson(PING_JSON.to_owned())
}

const PING_JSON: &str = r#"{"active":true,"client_id":"demo","exp":1796140801,"iat":1796137201,"iss":"http://127.0.0.1:9310","scope":"read write","token_type":"Bearer"}"#;

#[get("/ping/token")]
fn ping_token(_token: BearerToken) -> &'static str {
    "pong"
}

/// The JSON shape of `/profile` (CONTRACT §3). The claims are embedded as
/// the provider sent them, not parsed and serialised again.
#[derive(Serialize)]
#[serde(crate = "rocket::serde")]
struct Profile<'a> {
    provider: &'a str,
    sub: &'a str,
    id_token: &'a RawValue,
    userinfo: Option<&'a RawValue>,
    access_token_expires_at: Option<i64>,
    last_authenticated: i64,
}

fn profile_of(session: &UserSession) -> Profile<'_> {
    Profile {
        provider: session.provider(),
        sub: session.subject(),
        id_token: session.id_token_claims_json(),
        userinfo: session.userinfo_json(),
        access_token_expires_at: session.access_token_expires_at().map(|t| t.unix_timestamp()),
        last_authenticated: session.last_authenticated().unix_timestamp(),
    }
}

fn profile_json(session: &UserSession) -> Value {
    serde_json::to_value(profile_of(session)).unwrap_or(Value::Null)
}

#[get("/profile")]
fn profile(user: OidcUser) -> RawJson<String> {
    RawJson(serde_json::to_string(&profile_of(&user)).unwrap_or_default())
}

/// The identity of a bearer token: the introspection response or JWT claims.
fn token_json(identity: &TokenIdentity) -> Value {
    Value::Object(identity.claims().clone())
}

/// That identity as JSON text, as it was written when the token was
/// validated (not serialised again).
fn token_text(identity: &TokenIdentity) -> RawJson<String> {
    RawJson(identity.claims_json().get().to_owned())
}

#[get("/api")]
fn api(token: BearerToken) -> RawJson<String> {
    token_text(&token)
}

#[get("/api/write")]
fn api_write(token: BearerToken<ReadWrite>) -> RawJson<String> {
    token_text(&token)
}

#[get("/either")]
fn either(who: Identity) -> Json<Value> {
    match who {
        Identity::Token(token) => Json(json!({ "via": "token", "token": token_json(&token) })),
        Identity::Session(user) => Json(json!({ "via": "session", "profile": profile_json(&user) })),
    }
}

/// A valid access token, refreshed with the refresh token when expired
/// (or when `?refresh=true`).
#[get("/token?<refresh>")]
async fn token(user: OidcUser, refresh: Option<bool>) -> Result<Json<Value>, OidcError> {
    let token = user.valid_access_token(refresh.unwrap_or(false)).await?;
    Ok(Json(json!({
        "access_token": token.access_token.secret(),
        "expires_at": token.expires_at.map(|t| t.unix_timestamp()),
        "refreshed": token.refreshed,
    })))
}

/// Where the provider sends the browser after logout (see `Rocket.toml`).
#[get("/logged_out")]
fn logged_out() -> RawHtml<&'static str> {
    RawHtml(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>logged out</title></head>\
         <body><h1>You are logged out</h1><p><a href=\"/\">Start page</a></p></body></html>",
    )
}

/// A client-credentials token of the `default` provider; `scope` and
/// `resource` (an RFC 8707 resource indicator) are passed on when given.
#[get("/service-token?<scope>&<resource>")]
async fn service_token(
    oidc: &State<Oidc>,
    scope: Option<&str>,
    resource: Option<&str>,
) -> Result<Json<Value>, OidcError> {
    let scopes: Vec<&str> = scope.unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
    let params: Vec<(&str, &str)> = resource.map(|r| ("resource", r)).into_iter().collect();
    let token = oidc.client_credentials_grant("default", &scopes, &params).await?;
    Ok(Json(json!({
        "access_token": token.access_token().secret(),
        "expires_in": token.expires_in().map(|d| d.as_secs()),
        "scope": token.scope(),
    })))
}

#[launch]
fn rocket() -> _ {
    rocket::build().attach(Oidc::fairing()).mount(
        "/",
        routes![
            index,
            ping,
            ping_user,
            ping_token,
            ping_json,
            profile,
            api,
            api_write,
            either,
            token,
            logged_out,
            service_token
        ],
    )
}
