//! The relying party as a resource server: routes behind `BearerToken` and
//! `Identity`, a count of handler runs, and helpers to send bearer requests
//! and read RFC 6750 challenges.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rocket::http::{Accept, Header, Method, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::Json;
use rocket::{Build, Rocket, State, get, routes};
use rocket_openidconnect::{BearerToken, DefaultProvider, Identity, Oidc, TokenIdentity, scopes};
use serde_json::{Value, json};

use super::app::{Second, describe};
use super::{Browser, Resp, TestProvider, assert_error, oidc_config, rp};

scopes!(
    /// What `/api/write` and `/either/write` require.
    pub ReadWrite = "read", "write"
);

/// How many times a protected handler ran: a refused request must not
/// reach the handler at all.
#[derive(Default)]
pub struct HandlerRuns(AtomicUsize);

impl HandlerRuns {
    pub fn ran(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What a handler sees of a bearer token.
pub fn describe_token(token: &TokenIdentity) -> Value {
    json!({
        "provider": token.provider(),
        "validation": format!("{:?}", token.validation()),
        "sub": token.subject(),
        "client_id": token.client_id(),
        "scopes": token.scopes().iter().collect::<Vec<_>>(),
        "expires_at": token.expires_at().map(|t| t.unix_timestamp()),
        "claims": token.claims(),
        "claims_json": token.claims_json().get(),
    })
}

fn describe_bearer<S: rocket_openidconnect::RequiredScopes, P: rocket_openidconnect::ProviderName>(
    token: &BearerToken<P, S>,
) -> Value {
    let mut value = describe_token(token);
    value["token"] = json!(token.token().secret());
    value
}

fn describe_identity<S: rocket_openidconnect::RequiredScopes>(
    who: &Identity<rocket_openidconnect::DefaultProvider, S>,
) -> Value {
    match who {
        Identity::Token(token) => json!({
            "via": who.via(),
            "sub": who.subject(),
            "token": describe_bearer(token),
        }),
        Identity::Session(user) => json!({
            "via": who.via(),
            "sub": who.subject(),
            "session": describe(user),
        }),
    }
}

#[get("/api")]
pub fn api(token: BearerToken, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(describe_bearer(&token))
}

#[get("/api/write")]
pub fn api_write(token: BearerToken<DefaultProvider, ReadWrite>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(describe_bearer(&token))
}

#[get("/api/second")]
pub fn api_second(token: BearerToken<Second>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(describe_bearer(&token))
}

#[get("/either")]
pub fn either(who: Identity, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(describe_identity(&who))
}

#[get("/either/write")]
pub fn either_write(who: Identity<DefaultProvider, ReadWrite>, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(describe_identity(&who))
}

/// A route whose first segment is the caller's to choose (a tenant).
#[get("/<tenant>/orders")]
pub fn tenant_orders(tenant: &str, token: BearerToken, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    let mut value = describe_bearer(&token);
    value["tenant"] = json!(tenant);
    Json(value)
}

/// Two guards asking about the same token.
#[get("/both")]
pub fn both(token: BearerToken, who: Identity, runs: &State<HandlerRuns>) -> Json<Value> {
    runs.ran();
    Json(json!({ "token": describe_bearer(&token), "identity": describe_identity(&who) }))
}

/// Every route above except `/api/second` (which needs a `second` provider),
/// plus `/profile` and `/public`.
pub fn api_routes() -> Vec<rocket::Route> {
    let mut routes = routes![api, api_write, either, either_write, both, tenant_orders];
    routes.extend(super::default_routes());
    routes
}

/// The relying party with the API routes and a [`HandlerRuns`] counter.
pub fn api_app(oidc: Value) -> Rocket<Build> {
    api_app_with_routes(oidc, api_routes())
}

pub fn api_app_with_routes(oidc: Value, routes: Vec<rocket::Route>) -> Rocket<Build> {
    rp(oidc, routes).manage(HandlerRuns::default())
}

/// [`api_app`] on an app whose clock is `clock`.
pub fn api_app_on(clock: &super::ManualClock, oidc: Value) -> Rocket<Build> {
    super::rp_on(clock, oidc, api_routes()).manage(HandlerRuns::default())
}

/// [`oidc_config`] with the default provider's `bearer` table set to `bearer`.
pub fn bearer_config(provider: &TestProvider, bearer: Value) -> Value {
    let mut config = oidc_config(provider);
    config["providers"]["default"]["bearer"] = bearer;
    config
}

/// The API app for `provider` with the `bearer` table given.
pub async fn api_browser(provider: &TestProvider, bearer: Value) -> Browser {
    Browser::new(api_app(bearer_config(provider, bearer))).await
}

/// [`api_browser`] on an app whose clock is `clock`.
pub async fn api_browser_on(clock: &super::ManualClock, provider: &TestProvider, bearer: Value) -> Browser {
    Browser::new(api_app_on(clock, bearer_config(provider, bearer))).await
}

/// The `Oidc` state of the app `browser` talks to.
pub fn oidc_of(browser: &Browser) -> Oidc {
    browser
        .client
        .rocket()
        .state::<Oidc>()
        .expect("the Oidc fairing manages its state")
        .clone()
}

impl Browser {
    /// An API call (`Accept: application/json`) with `Authorization: Bearer <token>`.
    pub async fn bearer(&mut self, uri: &str, token: &str) -> Resp {
        let authorization = format!("Bearer {token}");
        self.send(
            Method::Get,
            uri,
            &[
                ("Authorization", authorization.as_str()),
                ("Accept", "application/json"),
            ],
            None,
        )
        .await
    }

    /// An API call with these exact `Authorization` header values (none,
    /// one, or several headers).
    pub async fn authorization(&mut self, uri: &str, values: &[&str]) -> Resp {
        let mut headers: Vec<(&str, &str)> = values.iter().map(|v| ("Authorization", *v)).collect();
        headers.push(("Accept", "application/json"));
        self.send(Method::Get, uri, &headers, None).await
    }

    /// How many times a protected handler of the app has run.
    pub fn handler_runs(&self) -> usize {
        self.client
            .rocket()
            .state::<HandlerRuns>()
            .expect("the app manages HandlerRuns (use api_app)")
            .0
            .load(Ordering::SeqCst)
    }
}

/// Sends `n` bearer requests for `uri` with `token` at once (each on its own
/// task) and returns their statuses.
pub async fn concurrent_bearer_requests(client: &Arc<Client>, uri: &str, token: &str, n: usize) -> Vec<Status> {
    let tokens = vec![token.to_string(); n];
    concurrent_requests_with_tokens(client, uri, &tokens).await
}

/// Sends one bearer request for `uri` per token, all at once (each on its
/// own task), and returns their statuses in order.
pub async fn concurrent_requests_with_tokens(client: &Arc<Client>, uri: &str, tokens: &[String]) -> Vec<Status> {
    let n = tokens.len();
    let mut tasks = Vec::with_capacity(n);
    for token in tokens {
        let client = client.clone();
        let uri = uri.to_string();
        let authorization = format!("Bearer {token}");
        tasks.push(rocket::tokio::spawn(async move {
            client
                .get(uri)
                .header(Header::new("Authorization", authorization))
                .header(Accept::JSON)
                .dispatch()
                .await
                .status()
        }));
    }
    let mut statuses = Vec::with_capacity(n);
    for task in tasks {
        statuses.push(task.await.expect("request task"));
    }
    statuses
}

/// An RFC 6750 §3 `WWW-Authenticate` challenge, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses `scheme 1#( name "=" quoted-string )`; panics on anything else.
    pub fn parse(header: &str) -> Challenge {
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let mut params = Vec::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ' ' || *c == ',') {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let mut name = String::new();
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                name.push(c);
            }
            assert_eq!(
                chars.next(),
                Some('"'),
                "attribute `{name}` is not a quoted string in {header:?}"
            );
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => value.push(chars.next().expect("escaped char")),
                    Some(c) => value.push(c),
                    None => panic!("unterminated quoted string in {header:?}"),
                }
            }
            params.push((name.trim().to_string(), value));
        }
        Challenge {
            scheme: scheme.to_string(),
            params,
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn names(&self) -> Vec<&str> {
        self.params.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// The one `WWW-Authenticate` challenge of `resp`, parsed.
#[track_caller]
pub fn challenge(resp: &Resp) -> Challenge {
    let values = resp.headers_named("WWW-Authenticate");
    assert_eq!(
        values.len(),
        1,
        "expected exactly one WWW-Authenticate header: {resp:#?}"
    );
    Challenge::parse(values[0])
}

/// Asserts a refused bearer request: status, JSON `error`, and a `Bearer`
/// challenge in realm `default` naming the same `error`.
#[track_caller]
pub fn assert_bearer_error(resp: &Resp, status: Status, error: &str) {
    assert_error(resp, status, error);
    let challenge = challenge(resp);
    assert_eq!(challenge.scheme, "Bearer", "{resp:#?}");
    assert_eq!(challenge.param("realm"), Some("default"), "{resp:#?}");
    assert_eq!(challenge.param("error"), Some(error), "{resp:#?}");
}

/// Asserts `401 invalid_token` with its challenge.
#[track_caller]
pub fn assert_invalid_token(resp: &Resp) {
    assert_bearer_error(resp, Status::Unauthorized, "invalid_token");
}
