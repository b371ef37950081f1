//! The test issuer on the network: a Rocket of its own on a loopback port,
//! on its own thread and Tokio runtime, so it serves the app under test
//! whatever runtime the test uses, and stops when the issuer is dropped.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::http::{ContentType, Cookie, CookieJar, Header, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Redirect, Responder, Response};
use rocket::{State, get, post, routes};
use serde_json::{Map, Value, json};

use super::faults::{Failure, FormRequest, RegistrationRequest, TokenRequest, UserinfoRequest, find_param, record};
use super::issuer::{Core, Decision, Refusal, told_to_fail};
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
                par,
                register,
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

/// An answer with `Cache-Control: no-store` (RFC 6749 §5.1): JSON, or
/// the raw body a broken provider sends.
struct Answer {
    status: Status,
    content_type: ContentType,
    body: String,
    headers: Vec<Header<'static>>,
}

impl Answer {
    fn json(status: Status, body: Value) -> Answer {
        Answer {
            status,
            content_type: ContentType::JSON,
            body: body.to_string(),
            headers: vec![Header::new("Cache-Control", "no-store")],
        }
    }

    fn ok(body: Value) -> Answer {
        Answer::json(Status::Ok, body)
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.retain(|h| !h.name().as_str().eq_ignore_ascii_case(name));
        self.headers.push(Header::new(name, value.into()));
        self
    }
}

impl From<Refusal> for Answer {
    fn from(refusal: Refusal) -> Answer {
        let status = Status::from_code(refusal.status).unwrap_or(Status::BadRequest);
        if let Some((content_type, body)) = refusal.raw {
            return Answer {
                status,
                content_type: ContentType::parse_flexible(content_type).unwrap_or(ContentType::Plain),
                body,
                headers: vec![Header::new("Cache-Control", "no-store")],
            };
        }
        let answer = Answer::json(
            status,
            json!({ "error": refusal.error, "error_description": refusal.description }),
        );
        match refusal.status {
            401 => answer.header(
                "WWW-Authenticate",
                format!("Basic realm=\"test issuer\", error=\"{}\"", refusal.error),
            ),
            _ => answer,
        }
    }
}

impl<'r> Responder<'r, 'static> for Answer {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .status(self.status)
            .header(self.content_type)
            .sized_body(self.body.len(), std::io::Cursor::new(self.body));
        for header in self.headers {
            response.header(header);
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
        Outcome::Success(Query(parse_form(query).into_iter().collect()))
    }
}

/// The request headers the endpoints read.
struct Headers {
    authorization: Option<String>,
    content_type: Option<String>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Headers {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, ()> {
        let header = |name: &str| request.headers().get_one(name).map(str::to_string);
        Outcome::Success(Headers {
            authorization: header("Authorization"),
            content_type: header("Content-Type"),
        })
    }
}

impl Headers {
    fn form_request(&self, params: &[(String, String)]) -> FormRequest {
        FormRequest {
            authorization: self.authorization.clone(),
            content_type: self.content_type.clone(),
            params: params.to_vec(),
        }
    }
}

fn parse_form(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

/// Waits as long as a `Delay` failure says.
async fn delay(failure: &Option<Failure>) {
    if let Some(Failure::Delay(lag)) = failure {
        rocket::tokio::time::sleep(*lag).await;
    }
}

#[get("/.well-known/openid-configuration")]
fn discovery(core: &State<Arc<Core>>) -> Answer {
    core.journal().counts.discovery += 1;
    Answer::ok(core.discovery())
}

#[get("/jwks")]
async fn jwks(core: &State<Arc<Core>>) -> Answer {
    core.journal().counts.jwks += 1;
    let b = core.behaviour();
    if let Err(refusal) = told_to_fail(&b.jwks_failure, 200) {
        return refusal.into();
    }
    delay(&b.jwks_failure).await;
    Answer::ok(core.jwks(&b)).header("Cache-Control", b.jwks_cache_control)
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
    core.journal().counts.authorize += 1;
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
    let mut params: HashMap<String, String> = parse_form(&body).into_iter().collect();
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
async fn token(core: &State<Arc<Core>>, headers: Headers, body: String) -> Answer {
    let params = parse_form(&body);
    let refresh = find_param(&params, "grant_type") == Some("refresh_token");
    {
        let mut journal = core.journal();
        journal.counts.token += 1;
        journal.counts.refresh += usize::from(refresh);
    }
    let b = core.behaviour();
    match (&b.token_failure, &b.refresh_failure) {
        (failure @ Some(Failure::Delay(_)), _) => delay(failure).await,
        (_, failure @ Some(Failure::Delay(_))) if refresh => delay(failure).await,
        _ => {}
    }
    let result = core.token(headers.authorization.as_deref(), &params);
    let (outcome, access_token, answer) = match result {
        Ok(value) => {
            let issued = value["access_token"].as_str().map(str::to_string);
            ("ok".to_string(), issued, Answer::ok(value))
        }
        Err(refusal) => (refusal.error.clone(), None, refusal.into()),
    };
    record(
        &mut core.journal().token,
        TokenRequest {
            authorization: headers.authorization,
            content_type: headers.content_type,
            params,
            outcome,
            access_token,
        },
    );
    answer
}

/// OIDC Core §5.3: the token as `Authorization: Bearer` or, in a POST, as
/// the `access_token` form parameter (RFC 6750 §2.2).
fn userinfo(core: &Core, method: &str, headers: Headers, body: String) -> Answer {
    core.journal().counts.userinfo += 1;
    let form_token = find_param(&parse_form(&body), "access_token").map(str::to_string);
    let token = headers
        .authorization
        .as_deref()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_string())
        .or(form_token);
    record(
        &mut core.journal().userinfo,
        UserinfoRequest {
            method: method.into(),
            authorization: headers.authorization,
            body,
        },
    );
    match token.and_then(|token| core.userinfo(&core.behaviour(), &token)) {
        Some(claims) => Answer::ok(claims),
        None => Answer::json(Status::Unauthorized, json!({ "error": "invalid_token" }))
            .header("WWW-Authenticate", "Bearer error=\"invalid_token\""),
    }
}

#[get("/userinfo")]
fn userinfo_get(core: &State<Arc<Core>>, headers: Headers) -> Answer {
    userinfo(core, "GET", headers, String::new())
}

#[post("/userinfo", data = "<body>")]
fn userinfo_post(core: &State<Arc<Core>>, headers: Headers, body: String) -> Answer {
    userinfo(core, "POST", headers, body)
}

/// RFC 7662: authenticated like the token endpoint; answers per token.
#[post("/introspect", data = "<body>")]
async fn introspect(core: &State<Arc<Core>>, headers: Headers, body: String) -> Answer {
    let params = parse_form(&body);
    {
        let mut journal = core.journal();
        journal.counts.introspection += 1;
        record(&mut journal.introspection, headers.form_request(&params));
    }
    let b = core.behaviour();
    if let Err(refusal) = told_to_fail(&b.introspection_failure, 200) {
        return refusal.into();
    }
    delay(&b.introspection_failure).await;
    if let Err(refusal) = core.check_client(&b, headers.authorization.as_deref(), &params) {
        return refusal.into();
    }
    Answer::ok(core.introspect(&b, find_param(&params, "token")))
}

/// RFC 7009 §2: authenticated like the token endpoint; `200` with an empty
/// body, whether the token was known or not.
#[post("/revoke", data = "<body>")]
async fn revoke(core: &State<Arc<Core>>, headers: Headers, body: String) -> Answer {
    core.journal().counts.revocation += 1;
    let params = parse_form(&body);
    let b = core.behaviour();
    delay(&b.revocation_failure).await;
    let revoked = told_to_fail(&b.revocation_failure, 200)
        .and_then(|()| core.check_client(&b, headers.authorization.as_deref(), &params))
        .and_then(|client_id| {
            let token = find_param(&params, "token")
                .ok_or_else(|| super::issuer::refuse(400, "invalid_request", "missing token"))?;
            core.revoke(token, Some(&client_id));
            Ok(())
        });
    // Recorded once answered: a test waiting for it sees what it did.
    record(&mut core.journal().revocation, headers.form_request(&params));
    match revoked {
        Ok(()) => Answer {
            status: Status::Ok,
            content_type: ContentType::Plain,
            body: String::new(),
            headers: vec![Header::new("Cache-Control", "no-store")],
        },
        Err(refusal) => refusal.into(),
    }
}

/// RFC 9126 §2: `201` with a `request_uri` for the pushed parameters.
#[post("/par", data = "<body>")]
async fn par(core: &State<Arc<Core>>, headers: Headers, body: String) -> Answer {
    let params = parse_form(&body);
    record(&mut core.journal().par, headers.form_request(&params));
    let b = core.behaviour();
    delay(&b.par_failure).await;
    let pushed = told_to_fail(&b.par_failure, 201)
        .and_then(|()| core.check_client(&b, headers.authorization.as_deref(), &params))
        .and_then(|client_id| core.push(client_id, &params));
    match pushed {
        Ok(request_uri) => Answer::json(Status::Created, json!({ "request_uri": request_uri, "expires_in": 60 })),
        Err(refusal) => refusal.into(),
    }
}

/// RFC 7591: `201` with the client's metadata.
#[post("/register", data = "<body>")]
async fn register(core: &State<Arc<Core>>, headers: Headers, body: String) -> Answer {
    core.journal().counts.registration += 1;
    delay(&core.behaviour().registration_failure).await;
    let result = core.register_client(headers.authorization.as_deref(), &body);
    let client_id = result
        .as_ref()
        .ok()
        .and_then(|r| r.get("client_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    record(
        &mut core.journal().registration,
        RegistrationRequest {
            authorization: headers.authorization,
            content_type: headers.content_type,
            body,
            client_id,
        },
    );
    match result {
        Ok(response) => Answer::json(Status::Created, response),
        Err(refusal) => refusal.into(),
    }
}

/// RP-Initiated Logout 1.0: ends the browser's login here and returns to
/// `post_logout_redirect_uri` (with `state`) when it is a client's origin.
#[get("/logout")]
fn end_session(core: &State<Arc<Core>>, query: Query, cookies: &CookieJar<'_>) -> Result<Redirect, Html> {
    core.journal().counts.end_session += 1;
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
    let sid = find_param(&form, "sid").unwrap_or_default();
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
