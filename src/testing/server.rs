//! The test issuer on the network: a Rocket of its own on a loopback port,
//! on its own thread and Tokio runtime, so it serves the app under test
//! whatever runtime the test uses, and stops when the issuer is dropped.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rocket::http::{ContentType, Cookie, CookieJar, Header, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Redirect, Responder, Response};
use rocket::{State, get, post, routes};
use serde_json::{Map, Value, json};

use super::issuer::{Client, Core, Decision, Refusal};
use super::{TestUser, TestingError, pages};

/// The issuer's cookie: which user a browser is logged in as here.
const BROWSER_COOKIE: &str = "test_issuer_login";

/// A running issuer's handle: its port and how to stop it.
pub(crate) struct Running {
    pub(crate) port: u16,
    pub(crate) shutdown: rocket::Shutdown,
}

/// Launches the issuer's Rocket on `port` (`0`: any free port) and returns
/// once it accepts connections.
pub(crate) async fn launch(core: Arc<Core>, port: u16) -> Result<Running, TestingError> {
    let config = rocket::Config {
        address: Ipv4Addr::LOCALHOST.into(),
        port,
        workers: 2,
        // Rocket's logger is the process's: the issuer's Rocket must not
        // choose it for the app under test.
        log_level: rocket::config::LogLevel::Off,
        cli_colors: false,
        shutdown: rocket::config::Shutdown {
            // Many issuers may run in one process: no signal handlers.
            ctrlc: false,
            #[cfg(unix)]
            signals: Default::default(),
            grace: 1,
            mercy: 1,
            ..Default::default()
        },
        secret_key: rocket::config::SecretKey::generate()
            .ok_or_else(|| TestingError::Launch("no random numbers for a secret key".into()))?,
        ..rocket::Config::debug_default()
    };

    type Ready = Result<(u16, rocket::Shutdown), String>;
    let (tx, rx) = rocket::tokio::sync::oneshot::channel::<Ready>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let send = {
        let tx = tx.clone();
        move |ready: Ready| {
            if let Some(tx) = tx.lock().ok().and_then(|mut tx| tx.take()) {
                let _ = tx.send(ready);
            }
        }
    };
    let send_ready = send.clone();
    let ready_core = core.clone();
    let rocket = rocket::custom(config)
        .manage(core)
        .mount(
            "/",
            routes![
                discovery,
                jwks,
                authorize_page,
                authorize_form,
                token,
                userinfo_get,
                userinfo_post,
                introspect,
                revoke,
                end_session,
                sessions,
                backchannel_logout
            ],
        )
        .attach(rocket::fairing::AdHoc::on_liftoff("test issuer ready", move |rocket| {
            Box::pin(async move {
                let port = rocket.config().port;
                ready_core.set_issuer(format!("http://127.0.0.1:{port}"));
                send_ready(Ok((port, rocket.shutdown())));
            })
        }));

    std::thread::Builder::new()
        .name("test-issuer".into())
        .spawn(move || {
            let runtime = match rocket::tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("test-issuer-worker")
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => return send(Err(error.to_string())),
            };
            if let Err(error) = runtime.block_on(rocket.launch()) {
                send(Err(error.to_string()));
            }
            runtime.shutdown_timeout(Duration::from_millis(100));
        })
        .map_err(|error| TestingError::Launch(error.to_string()))?;

    let (port, shutdown) = rx
        .await
        .map_err(|_| TestingError::Launch("the issuer's thread ended".into()))?
        .map_err(TestingError::Launch)?;
    Ok(Running { port, shutdown })
}

/// A JSON answer with `Cache-Control: no-store` (RFC 6749 §5.1).
struct Answer {
    status: Status,
    body: Value,
    challenge: Option<String>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: Status::Ok,
            body,
            challenge: None,
        }
    }
}

impl From<Refusal> for Answer {
    fn from(refusal: Refusal) -> Answer {
        Answer {
            status: Status::from_code(refusal.status).unwrap_or(Status::BadRequest),
            body: json!({ "error": refusal.error, "error_description": refusal.description }),
            challenge: (refusal.status == 401)
                .then(|| format!("Basic realm=\"test issuer\", error=\"{}\"", refusal.error)),
        }
    }
}

impl<'r> Responder<'r, 'static> for Answer {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = self.body.to_string();
        let mut response = Response::build();
        response
            .status(self.status)
            .header(ContentType::JSON)
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(body.len(), std::io::Cursor::new(body));
        if let Some(challenge) = self.challenge {
            response.header(Header::new("WWW-Authenticate", challenge));
        }
        response.ok()
    }
}

/// An HTML page with a status.
struct Html(Status, String);

impl<'r> Responder<'r, 'static> for Html {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Response::build()
            .status(self.0)
            .header(ContentType::HTML)
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(self.1.len(), std::io::Cursor::new(self.1))
            .ok()
    }
}

/// The query parameters of a request.
struct Query(HashMap<String, String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Query {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let query = request.uri().query().map(|q| q.as_str()).unwrap_or_default();
        Outcome::Success(Query(parse_form(query)))
    }
}

/// The credentials of `Authorization: Basic` (RFC 6749 §2.3.1), if sent.
struct Basic(Option<(String, String)>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Basic {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let credentials = request
            .headers()
            .get_one("Authorization")
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                let (id, secret) = text.split_once(':')?;
                Some((form_decode(id), form_decode(secret)))
            });
        Outcome::Success(Basic(credentials))
    }
}

/// The access token of `Authorization: Bearer`, if sent.
struct Bearer(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Bearer {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let token = request
            .headers()
            .get_one("Authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| token.trim().to_string());
        Outcome::Success(Bearer(token))
    }
}

fn parse_form(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

/// One `application/x-www-form-urlencoded` component, decoded.
fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// The client a request authenticates as: Basic, or `client_id` and
/// `client_secret` in the form.
fn client<'a>(core: &'a Core, basic: &Basic, form: &HashMap<String, String>) -> Result<&'a Client, Refusal> {
    match (&basic.0, form.get("client_id"), form.get("client_secret")) {
        (Some((id, secret)), _, _) => core.authenticate(id, secret),
        (None, Some(id), Some(secret)) => core.authenticate(id, secret),
        _ => core.authenticate("", "\u{0}"),
    }
}

#[get("/.well-known/openid-configuration")]
fn discovery(core: &State<Arc<Core>>) -> Answer {
    Answer::ok(core.discovery())
}

#[get("/jwks")]
fn jwks(core: &State<Arc<Core>>) -> Answer {
    Answer::ok(core.jwks())
}

/// Where the browser goes after a decision: the client's redirect URI, by
/// a redirect or a self-submitting form.
fn answer_client(core: &Core, params: &HashMap<String, String>, decision: Decision) -> Result<Redirect, Html> {
    match core.authorize(params, decision) {
        Ok(response) if response.form_post => Err(Html(Status::Ok, pages::form_post(&response))),
        Ok(response) => Ok(Redirect::to(response.location())),
        Err(refusal) => Err(Html(
            Status::BadRequest,
            pages::message("Bad authorization request", &refusal.description),
        )),
    }
}

/// The login page, or (`prompt=none`) the answer to the client at once.
#[derive(rocket::Responder)]
enum PageOrAnswer {
    Page(Html),
    Answer(Box<Result<Redirect, Html>>),
}

#[get("/authorize")]
fn authorize_page(core: &State<Arc<Core>>, query: Query, cookies: &CookieJar<'_>) -> PageOrAnswer {
    let params = query.0;
    if params
        .get("prompt")
        .is_some_and(|prompt| prompt.split(' ').any(|p| p == "none"))
    {
        let user = cookies
            .get(BROWSER_COOKIE)
            .and_then(|cookie| core.browser(cookie.value()));
        return PageOrAnswer::Answer(Box::new(answer_client(core, &params, Decision::Silent(user))));
    }
    PageOrAnswer::Page(Html(Status::Ok, pages::login(&params, core.issuer())))
}

#[post("/authorize", data = "<body>")]
fn authorize_form(core: &State<Arc<Core>>, body: String, cookies: &CookieJar<'_>) -> Result<Redirect, Html> {
    let mut params = parse_form(&body);
    let decision = params.remove("login_decision");
    let subject = params.remove("login_subject").unwrap_or_default();
    let name = params.remove("login_name").unwrap_or_default();
    let email = params.remove("login_email").unwrap_or_default();
    let claims = params.remove("login_claims").unwrap_or_default();
    if decision.as_deref() != Some("approve") {
        return answer_client(core, &params, Decision::Deny);
    }
    let extra: Map<String, Value> = match serde_json::from_str(if claims.trim().is_empty() { "{}" } else { &claims }) {
        Ok(extra) => extra,
        Err(error) => {
            return Err(Html(
                Status::BadRequest,
                pages::message("Claims are not a JSON object", &error.to_string()),
            ));
        }
    };
    if subject.trim().is_empty() {
        return Err(Html(
            Status::BadRequest,
            pages::message("No subject", "the subject (sub) may not be empty"),
        ));
    }
    let mut user = TestUser::new(subject.trim());
    if !name.is_empty() {
        user = user.claim("name", name);
    }
    if !email.is_empty() {
        user = user.claim("email", email).claim("email_verified", true);
    }
    for (claim, value) in extra {
        user = user.claim(claim, value);
    }
    let user = Arc::new(user);
    let browser = core.remember_browser(user.clone());
    cookies.add(
        Cookie::build((BROWSER_COOKIE, browser))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/"),
    );
    answer_client(core, &params, Decision::Approve(user))
}

#[post("/token", data = "<body>")]
fn token(core: &State<Arc<Core>>, basic: Basic, body: String) -> Answer {
    let form = parse_form(&body);
    match client(core, &basic, &form).and_then(|client| core.token(client, &form)) {
        Ok(answer) => Answer::ok(answer),
        Err(refusal) => refusal.into(),
    }
}

fn userinfo(core: &Core, bearer: Bearer) -> Answer {
    match bearer.0.and_then(|token| core.userinfo(&token)) {
        Some(claims) => Answer::ok(claims),
        None => Answer {
            status: Status::Unauthorized,
            body: json!({ "error": "invalid_token" }),
            challenge: Some("Bearer error=\"invalid_token\"".into()),
        },
    }
}

#[get("/userinfo")]
fn userinfo_get(core: &State<Arc<Core>>, bearer: Bearer) -> Answer {
    userinfo(core, bearer)
}

#[post("/userinfo")]
fn userinfo_post(core: &State<Arc<Core>>, bearer: Bearer) -> Answer {
    userinfo(core, bearer)
}

#[post("/introspect", data = "<body>")]
fn introspect(core: &State<Arc<Core>>, basic: Basic, body: String) -> Answer {
    let form = parse_form(&body);
    if let Err(refusal) = client(core, &basic, &form) {
        return refusal.into();
    }
    match form.get("token") {
        Some(token) => Answer::ok(core.introspect(token)),
        None => Answer::from(Refusal {
            status: 400,
            error: "invalid_request",
            description: "no token".into(),
        }),
    }
}

#[post("/revoke", data = "<body>")]
fn revoke(core: &State<Arc<Core>>, basic: Basic, body: String) -> Answer {
    let form = parse_form(&body);
    if let Err(refusal) = client(core, &basic, &form) {
        return refusal.into();
    }
    if let Some(token) = form.get("token") {
        core.revoke(token);
    }
    Answer::ok(json!({}))
}

/// RP-Initiated Logout 1.0: ends the browser's login here and returns to
/// `post_logout_redirect_uri` (with `state`) when it is a client's origin.
#[get("/logout")]
fn end_session(core: &State<Arc<Core>>, query: Query, cookies: &CookieJar<'_>) -> Result<Redirect, Html> {
    if let Some(cookie) = cookies.get(BROWSER_COOKIE) {
        core.forget_browser(cookie.value());
        cookies.remove(Cookie::build(BROWSER_COOKIE).path("/"));
    }
    match query.0.get("post_logout_redirect_uri") {
        Some(uri) if core.may_return_to(uri) => {
            let mut target = url::Url::parse(uri).map_err(|_| Html(Status::BadRequest, String::new()))?;
            if let Some(state) = query.0.get("state") {
                target.query_pairs_mut().append_pair("state", state);
            }
            Ok(Redirect::to(String::from(target)))
        }
        Some(_) => Err(Html(
            Status::BadRequest,
            pages::message(
                "Logged out",
                "post_logout_redirect_uri is not the origin of a client's redirect URI",
            ),
        )),
        None => Err(Html(
            Status::Ok,
            pages::message("Logged out", "you are logged out at the test issuer"),
        )),
    }
}

#[get("/sessions?<sent>")]
fn sessions(core: &State<Arc<Core>>, sent: Option<&str>) -> Html {
    Html(Status::Ok, pages::sessions(&core.sessions(), sent, core.clock.now()))
}

/// Sends a logout token for one session to its client's back-channel
/// logout URI, and shows the client's answer.
#[post("/sessions/logout", data = "<body>")]
async fn backchannel_logout(core: &State<Arc<Core>>, body: String) -> Result<Redirect, Html> {
    let form = parse_form(&body);
    let sid = form.get("sid").map(String::as_str).unwrap_or_default();
    let Some(session) = core.end_sessions(None, Some(sid)).into_iter().next() else {
        return Err(Html(
            Status::NotFound,
            pages::message("No such session", "it has ended already"),
        ));
    };
    let uri = core.backchannel_logout_uri.clone().unwrap_or_else(|| {
        url::Url::parse(&session.redirect_uri)
            .map(|url| format!("{}/backchannel_logout", url.origin().ascii_serialization()))
            .unwrap_or_default()
    });
    let result = reqwest::Client::new()
        .post(&uri)
        .form(&[("logout_token", core.logout_token(&session))])
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let notice = match result {
        Ok(answer) => format!("{uri} answered {} for {}", answer.status().as_u16(), session.subject),
        Err(error) => format!("{uri} could not be reached: {error}"),
    };
    let mut back =
        url::Url::parse("http://issuer/sessions").map_err(|_| Html(Status::InternalServerError, String::new()))?;
    back.query_pairs_mut().append_pair("sent", &notice);
    Ok(Redirect::to(format!("/sessions?{}", back.query().unwrap_or_default())))
}
