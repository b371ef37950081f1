//! The demo app of CONTRACT §3: `cargo run --example demo`, then open
//! <http://127.0.0.1:8000/profile>. It reads everything from `Rocket.toml`
//! or `ROCKET_OIDC`; only a `default` provider is needed.

#[macro_use]
extern crate rocket;

use rocket::response::content::RawHtml;
use rocket::serde::json::{json, Json, Value};
use rocket_openidconnect::{Oidc, OidcUser, UserSession};

#[get("/")]
fn index() -> RawHtml<&'static str> {
    RawHtml(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>rocket_openidconnect demo</title></head>\
         <body><h1>rocket_openidconnect demo</h1><ul>\
         <li><a href=\"/profile\">Profile</a> (logs you in)</li>\
         </ul></body></html>",
    )
}

/// The JSON shape of `/profile` (CONTRACT §3).
fn profile_json(session: &UserSession) -> Value {
    json!({
        "provider": session.provider(),
        "sub": session.subject(),
        "id_token": session.id_token_claims(),
        "userinfo": session.userinfo(),
        "access_token_expires_at": session.access_token_expires_at().map(|t| t.unix_timestamp()),
        "last_authenticated": session.last_authenticated().unix_timestamp(),
    })
}

#[get("/profile")]
fn profile(user: OidcUser) -> Json<Value> {
    Json(profile_json(&user))
}

#[launch]
fn rocket() -> _ {
    rocket::build()
        .attach(Oidc::fairing())
        .mount("/", routes![index, profile])
}
