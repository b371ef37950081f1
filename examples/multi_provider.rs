//! Two providers in one app: `/profile` logs in with the provider named
//! `default`, `/profile/second` with the one named `second`. One callback
//! serves both. `cargo run --example multi_provider` with the repo's `Rocket.toml`.

#[macro_use]
extern crate rocket;

use rocket::response::content::RawHtml;
use rocket::serde::json::{Json, Value, json};
use rocket_openidconnect::{Oidc, OidcUser, UserSession, provider};

provider!(
    /// The provider configured under `[default.oidc.providers.second]`.
    Second = "second"
);

#[get("/")]
fn index() -> RawHtml<&'static str> {
    RawHtml(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>two providers</title></head>\
         <body><h1>Two providers</h1><ul>\
         <li><a href=\"/profile\">Log in with the default provider</a></li>\
         <li><a href=\"/profile/second\">Log in with the second provider</a></li>\
         </ul></body></html>",
    )
}

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

#[get("/profile/second")]
fn profile_second(user: OidcUser<Second>) -> Json<Value> {
    Json(profile_json(&user))
}

#[rocket::main]
async fn main() -> std::process::ExitCode {
    match rocket().launch().await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The reason (the configuration key) is logged already.
            eprintln!("multi_provider: {}", error.kind());
            std::process::ExitCode::FAILURE
        }
    }
}

fn rocket() -> rocket::Rocket<rocket::Build> {
    rocket::build()
        .attach(Oidc::fairing())
        .mount("/", routes![index, profile, profile_second])
}
