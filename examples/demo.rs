//! The demo app of CONTRACT §3: `cargo run --example demo`, then open
//! <http://127.0.0.1:8000/>: the start page says whether you are logged in,
//! `/session` shows your session as a page, `/metrics` the crate's metrics. It reads everything from `Rocket.toml`
//! or `ROCKET_OIDC`; only a `default` provider is needed.

#[macro_use]
extern crate rocket;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rocket::State;
use rocket::http::{ContentType, Status};
use rocket::response::content::{RawHtml, RawJson};
use rocket::serde::Serialize;
use rocket::serde::json::serde_json::{self, value::RawValue};
use rocket::serde::json::{Json, Value, json};
use rocket_openidconnect::{
    BearerToken, DefaultProvider, Identity, NoRequirement, NoScopes, Oidc, OidcError, OidcUser, TokenIdentity,
    UserSession, authorization, requirement, scopes,
};

scopes!(
    /// What `/api/write` requires.
    ReadWrite = "read", "write"
);

/// `text` made safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> RawHtml<String> {
    RawHtml(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head>\n<body>{body}</body></html>\n",
        escape(title)
    ))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}\
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{border:1px solid #ccc;padding:.3rem .5rem;\
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f4f4f4;width:30%}code{word-break:break-all}\
form{display:inline}button{padding:.4rem .9rem;margin-right:.5rem}.status{padding:.6rem .8rem;background:#eef6ee;\
border:1px solid #9c9}.anonymous{background:#f6f0e6;border-color:#cb9}";

const LOGOUT_BUTTON: &str = "<form method=\"post\" action=\"/logout\"><button id=\"logout\">Log out</button></form>";

/// Who is logged in: the `name` claim, else the subject.
fn display_name(session: &UserSession) -> String {
    let claim = |name: &str| {
        session
            .id_token_claims()
            .get(name)
            .and_then(Value::as_str)
            .map(String::from)
    };
    claim("name")
        .or_else(|| {
            session
                .userinfo()
                .and_then(|u| u.get("name"))
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_else(|| session.subject().to_string())
}

/// The start page: whether you are logged in, as whom, and where to go.
/// It never starts a login itself (a page anyone may see).
#[get("/")]
fn index(user: Option<OidcUser>) -> RawHtml<String> {
    let status = match &user {
        Some(user) => format!(
            "<p class=\"status\" id=\"status\">Logged in as <strong>{}</strong> (<code>{}</code>) with provider <code>{}</code>.</p>\
             <p><a href=\"/session\">Your session</a> {LOGOUT_BUTTON}</p>",
            escape(&display_name(user)),
            escape(user.subject()),
            escape(user.provider()),
        ),
        None => "<p class=\"status anonymous\" id=\"status\">You are not logged in.</p>\
                 <p><a href=\"/session\" id=\"login\">Log in</a></p>"
            .to_string(),
    };
    page(
        "rocket_openidconnect demo",
        &format!(
            "<h1>rocket_openidconnect demo</h1>{status}<h2>Routes</h2><ul>\
             <li><a href=\"/session\">/session</a>: your session as a page (logs you in)</li>\
             <li><a href=\"/profile\">/profile</a>: the same as JSON</li>\
             <li><a href=\"/admin\">/admin</a>: the same, for users with the role <code>admin</code> only</li>\
             <li><a href=\"/token\">/token</a>: a valid access token</li>\
             <li><a href=\"/either\">/either</a>: token or session</li>\
             <li><a href=\"/service-token\">/service-token</a>: a client-credentials token</li>\
             <li><a href=\"/metrics\">/metrics</a>: the crate's metrics (Prometheus)</li></ul>"
        ),
    )
}

/// Rows of a table of claims, values as JSON.
fn claim_rows(claims: &serde_json::Map<String, Value>) -> String {
    claims
        .iter()
        .map(|(name, value)| {
            let shown = match (name.as_str(), value) {
                (_, Value::String(text)) => text.clone(),
                ("exp" | "iat" | "nbf" | "auth_time", Value::Number(n)) => {
                    let at = n
                        .as_i64()
                        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok());
                    format!("{n}: {}", when(at))
                }
                (_, other) => other.to_string(),
            };
            format!(
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                escape(name),
                escape(&shown)
            )
        })
        .collect()
}

/// A time as UTC and how far from now.
fn when(at: Option<time::OffsetDateTime>) -> String {
    let Some(at) = at else {
        return "not said".into();
    };
    let seconds = (at - time::OffsetDateTime::now_utc()).whole_seconds();
    let relative = if seconds >= 0 {
        format!("in {seconds} s")
    } else {
        format!("{} s ago", -seconds)
    };
    let shown = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string());
    format!("{shown} ({relative})")
}

/// The session as a page: claims, userinfo, tokens, with buttons to
/// refresh the tokens and to log out.
#[get("/session?<refresh>")]
async fn session_page(user: OidcUser, refresh: Option<bool>) -> RawHtml<String> {
    let notice = if refresh == Some(true) {
        match user.refreshed_access_token().await {
            Ok(token) if token.refreshed() => {
                "<p class=\"status\" id=\"notice\">The tokens were just refreshed.</p>".to_string()
            }
            Ok(_) => "<p class=\"status\" id=\"notice\">The access token is still valid.</p>".to_string(),
            Err(error) => format!(
                "<p class=\"status anonymous\" id=\"notice\">Refresh failed: {}</p>",
                escape(&error.to_string())
            ),
        }
    } else {
        String::new()
    };
    let userinfo = match user.userinfo() {
        Some(claims) => format!("<table id=\"userinfo\">{}</table>", claim_rows(claims)),
        None => "<p>The provider sent no userinfo.</p>".into(),
    };
    let tokens = format!(
        "<table id=\"tokens\"><tr><th>access token expires</th><td>{}</td></tr>\
         <tr><th>refresh token</th><td>{}</td></tr><tr><th>logged in at the provider</th><td>{}</td></tr>\
         <tr><th>session ends</th><td>{}</td></tr></table>",
        escape(&when(user.access_token_expires_at())),
        if user.refresh_token().is_some() { "yes" } else { "none" },
        escape(&when(Some(user.last_authenticated()))),
        escape(&when(Some(user.expires_at()))),
    );
    page(
        "Your session",
        &format!(
            "<h1>Your session</h1>{notice}<p class=\"status\" id=\"status\">Logged in as <strong>{}</strong> with provider <code>{}</code>.</p>\
             <p><form method=\"get\" action=\"/session\"><input type=\"hidden\" name=\"refresh\" value=\"true\">\
             <button id=\"refresh\">Refresh the tokens</button></form>{LOGOUT_BUTTON} <a href=\"/\">Start page</a></p>\
             <h2>Tokens</h2>{tokens}<h2>ID token claims</h2><table id=\"claims\">{}</table><h2>Userinfo</h2>{userinfo}",
            escape(&display_name(&user)),
            escape(user.provider()),
            claim_rows(user.id_token_claims()),
        ),
    )
}

/// The crate's metrics in the Prometheus text format.
#[get("/metrics")]
fn metrics(handle: &State<Option<PrometheusHandle>>) -> Result<(ContentType, String), Status> {
    let handle = handle.as_ref().ok_or(Status::ServiceUnavailable)?;
    Ok((
        ContentType::new("text", "plain").with_params(("version", "0.0.4")),
        handle.render(),
    ))
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

requirement!(
    /// What `/step-up/mfa` requires: a multi-factor login.
    Mfa { acr: ["urn:example:mfa"] }
);
requirement!(
    /// What `/step-up/recent` requires: a login in the last 30 seconds.
    Recent { max_age: 30 }
);

/// `/profile` for a multi-factor login only (step-up, RFC 9470).
#[get("/step-up/mfa")]
fn step_up_mfa(user: OidcUser<DefaultProvider, Mfa>) -> RawJson<String> {
    RawJson(serde_json::to_string(&profile_of(&user)).unwrap_or_default())
}

/// `/profile` for a login in the last 30 seconds only.
#[get("/step-up/recent")]
fn step_up_recent(user: OidcUser<DefaultProvider, Recent>) -> RawJson<String> {
    RawJson(serde_json::to_string(&profile_of(&user)).unwrap_or_default())
}

authorization!(
    /// What `/admin` and `/api/admin` require: the role `admin`, read
    /// where the provider's `roles_claim` says.
    Admins { roles: any ["admin"] }
);

/// `/profile` for users with the role `admin` only; `403` for others.
#[get("/admin")]
fn admin(user: OidcUser<DefaultProvider, NoRequirement, Admins>) -> RawJson<String> {
    RawJson(serde_json::to_string(&profile_of(&user)).unwrap_or_default())
}

/// `/api` for tokens whose subject has the role `admin`; `403` for others.
#[get("/api/admin")]
fn api_admin(token: BearerToken<DefaultProvider, NoScopes, Admins>) -> RawJson<String> {
    token_text(&token)
}

#[get("/api")]
fn api(token: BearerToken) -> RawJson<String> {
    token_text(&token)
}

#[get("/api/write")]
fn api_write(token: BearerToken<DefaultProvider, ReadWrite>) -> RawJson<String> {
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
    let token = match refresh {
        Some(true) => user.refreshed_access_token().await?,
        _ => user.valid_access_token().await?,
    };
    Ok(Json(json!({
        "access_token": token.access_token().secret(),
        "expires_at": token.expires_at().map(|t| t.unix_timestamp()),
        "refreshed": token.refreshed(),
    })))
}

/// Where the provider sends the browser after logout (see `Rocket.toml`).
#[get("/logged_out")]
fn logged_out() -> RawHtml<String> {
    page(
        "logged out",
        "<h1>You are logged out</h1><p class=\"status anonymous\" id=\"status\">You are not logged in.</p><p><a href=\"/\">Start page</a></p>",
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
    let token = oidc
        .client_credentials::<DefaultProvider>()
        .scopes(scopes.iter().copied())
        .params(params.iter().copied())
        .send()
        .await?;
    Ok(Json(json!({
        "access_token": token.access_token().secret(),
        "expires_in": token.expires_in().map(|d| d.as_secs()),
        "scope": token.scope(),
    })))
}

/// Runs the demo; a configuration it cannot use ends it with the message
/// (already logged, naming the key) and exit status 1, not a panic.
#[rocket::main]
async fn main() -> std::process::ExitCode {
    match rocket().launch().await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: {}", error.kind());
            std::process::ExitCode::FAILURE
        }
    }
}

fn rocket() -> rocket::Rocket<rocket::Build> {
    // The metrics recorder of the process; `/metrics` renders it.
    let metrics = PrometheusBuilder::new()
        .set_buckets(&[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
        .and_then(|builder| builder.install_recorder())
        .ok();
    rocket::build().manage(metrics).attach(Oidc::fairing()).mount(
        "/",
        routes![
            index,
            session_page,
            metrics,
            ping,
            ping_user,
            ping_token,
            ping_json,
            profile,
            step_up_mfa,
            step_up_recent,
            admin,
            api,
            api_admin,
            api_write,
            either,
            token,
            logged_out,
            service_token
        ],
    )
}
