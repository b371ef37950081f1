//! Shared test support: a misbehaving in-process OpenID Provider
//! ([`provider::TestProvider`]), a cookie-keeping browser around Rocket's
//! local client ([`Browser`]) and the relying-party apps under test
//! ([`app`]).
#![allow(dead_code)]

/// One test per store (as `tower-sessions` generates its store suites):
///
/// ```ignore
/// per_store! {
///     /// What every store must do.
///     async fn a_session_ends(store) in [cookie, memory, redis] {
///         // `store` is "cookie", "memory" or "redis"
///     }
/// }
/// ```
///
/// makes `a_session_ends::cookie`, `a_session_ends::memory` and
/// `a_session_ends::redis`: each store passes or fails on its own, and
/// one store's failure hides no other's.
#[allow(unused_macros)]
macro_rules! per_store {
    ($(#[doc = $doc:literal])* async fn $name:ident($store:ident) in [$($kind:ident),+ $(,)?] $body:block) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($store: &'static str) $body

            $(
                #[rocket::async_test]
                async fn $kind() {
                    run(stringify!($kind)).await
                }
            )+
        }
    };
}

pub mod api;
pub mod dpop;
pub mod faulty;
pub mod instances;
pub mod jwt;
pub mod lifecycle;
pub mod logs;
pub mod provider;
pub mod redis;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Header, Method, Status};
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket};
use serde_json::{Value, json};

#[allow(unused_imports)]
pub use provider::{Behaviour, ClientAuth, Signing, TestProvider, TokenFailure};
#[allow(unused_imports)]
pub use rocket_openidconnect::testing::ManualClock;

/// The relying party's `redirect_uri` (the local client ignores the host).
pub const REDIRECT_URI: &str = "http://127.0.0.1:8000/redirect_uri";
pub const CALLBACK_PATH: &str = "/redirect_uri";

/// `Accept` of a top-level browser navigation.
pub const ACCEPT_HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A base64 `secret_key` of 64 bytes derived from `seed`.
pub fn secret_key(seed: u8) -> String {
    let bytes: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(31).wrapping_add(seed)).collect();
    STANDARD.encode(bytes)
}

/// The `oidc` configuration table for a relying party whose `default`
/// provider is `provider`.
pub fn oidc_config(provider: &TestProvider) -> Value {
    oidc_config_with_default(provider.rp_provider_config())
}

/// The `oidc` configuration table for a relying party whose `default`
/// provider is `first` and whose `second` provider is `second`.
pub fn oidc_config_with_second(first: &TestProvider, second: &TestProvider) -> Value {
    let mut config = oidc_config(first);
    config["providers"]["second"] = second.rp_provider_config();
    config
}

/// An `oidc` configuration whose default provider's issuer is `issuer`.
pub fn oidc_config_for_issuer(issuer: &str) -> Value {
    oidc_config_with_default(provider::rp_provider_config_for(
        issuer,
        provider::CLIENT_ID,
        provider::CLIENT_SECRET,
    ))
}

/// A browser on the relying party (default routes) whose `default` provider
/// is `provider`, with the provider table's `key` set to `value`.
pub async fn browser_with_provider_setting(provider: &TestProvider, key: &str, value: Value) -> Browser {
    let mut config = oidc_config(provider);
    config["providers"]["default"][key] = value;
    Browser::new(rp(config, default_routes())).await
}

/// The test `oidc` table around the `default` provider's table.
fn oidc_config_with_default(default_provider: Value) -> Value {
    json!({
        "redirect_uri": REDIRECT_URI,
        "clock_skew_seconds": 60,
        // The launch doctor reads every provider at liftoff; the tests that
        // count provider calls must not see it (tests/launch_doctor.rs does).
        "doctor": false,
        "http_timeout_seconds": 2,
        "providers": { "default": default_provider },
    })
}

/// A figment with Rocket's debug defaults (no `Rocket.toml`, no `ROCKET_*`
/// environment: the tests must not depend on the developer's machine), the
/// given secret key and `oidc` table.
pub fn figment_with_secret(oidc: Value, secret_key: &str) -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("secret_key", secret_key))
        .merge(("cli_colors", false))
        .merge(("oidc", oidc))
}

pub fn figment(oidc: Value) -> Figment {
    figment_with_secret(oidc, &secret_key(1))
}

/// The relying party: the fairing plus the given routes.
pub fn rp(oidc: Value, routes: Vec<rocket::Route>) -> Rocket<Build> {
    rp_with_figment(figment(oidc), routes)
}

pub fn rp_with_figment(figment: Figment, routes: Vec<rocket::Route>) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(rocket_openidconnect::Oidc::fairing())
        .mount("/", routes)
}

/// [`rp`] on `clock`: a test moves it instead of sleeping.
pub fn rp_on(clock: &ManualClock, oidc: Value, routes: Vec<rocket::Route>) -> Rocket<Build> {
    rocket::custom(figment(oidc))
        .attach(rocket_openidconnect::Oidc::fairing().with_clock(clock.clone()))
        .mount("/", routes)
}

/// Routes of the relying-party apps under test.
pub mod app {
    use rocket::get;
    use rocket::http::uri::{Segments, fmt::Path};
    use rocket::serde::json::Json;
    use rocket_openidconnect::{OidcError, OidcUser, ProviderName, provider};
    use serde_json::{Value, json};

    provider!(pub Second = "second");

    /// The profile JSON of the demo app (CONTRACT §3) plus what tests check.
    pub fn describe<P: ProviderName>(user: &OidcUser<P>) -> Value {
        json!({
            "provider": user.provider(),
            "sub": user.subject(),
            "id_token": user.id_token_claims(),
            "id_token_jwt": user.id_token_jwt().secret(),
            "userinfo": user.userinfo(),
            "access_token": user.access_token().map(|t| t.secret().to_string()),
            "access_token_expires_at": user.access_token_expires_at().map(|t| t.unix_timestamp()),
            "has_refresh_token": user.refresh_token().is_some(),
            "refresh_token": user.refresh_token().map(|t| t.secret().to_string()),
            "last_authenticated": user.last_authenticated().unix_timestamp(),
            "expires_at": user.expires_at().unix_timestamp(),
        })
    }

    /// The demo's `/token` (CONTRACT §3): a valid access token, refreshed
    /// when expired or when `?refresh=true` forces it.
    #[get("/token?<refresh>")]
    pub async fn token(user: OidcUser, refresh: Option<bool>) -> Result<Json<Value>, OidcError> {
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

    /// The site root, where the provider sends the browser after logout
    /// (the default `post_logout_redirect_uri`).
    #[get("/")]
    pub fn index() -> &'static str {
        "home"
    }

    #[get("/profile")]
    pub fn profile(user: OidcUser) -> Json<Value> {
        Json(describe(&user))
    }

    #[get("/second")]
    pub fn second(user: OidcUser<Second>) -> Json<Value> {
        Json(describe(&user))
    }

    #[get("/public")]
    pub fn public() -> &'static str {
        "public"
    }

    /// Any other path, behind login: where open-redirect attempts land.
    #[get("/<_path..>", rank = 100)]
    pub fn anything(_path: Segments<'_, Path>, user: OidcUser) -> Json<Value> {
        Json(describe(&user))
    }
}

/// The routes most tests need: `/profile` (default provider) and `/public`.
pub fn default_routes() -> Vec<rocket::Route> {
    rocket::routes![app::profile, app::public]
}

/// A response with everything read out of it.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: Status,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn location(&self) -> &str {
        self.header("Location")
            .unwrap_or_else(|| panic!("no Location header in {self:#?}"))
    }

    /// The raw `Set-Cookie` header values.
    pub fn set_cookie_headers(&self) -> Vec<&str> {
        self.headers_named("Set-Cookie")
    }

    /// Parsed `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<Cookie<'static>> {
        self.set_cookie_headers()
            .into_iter()
            // Values travel percent-encoded; a browser sends them back as
            // they came and Rocket decodes them on the way in, so the jar
            // keeps them decoded.
            .map(|h| Cookie::parse_encoded(h.to_string()).unwrap_or_else(|e| panic!("bad Set-Cookie {h:?}: {e}")))
            .collect()
    }

    /// `Set-Cookie` headers that set (not remove) a cookie whose name starts
    /// with `prefix`.
    pub fn cookies_set_with_prefix(&self, prefix: &str) -> Vec<Cookie<'static>> {
        self.set_cookies()
            .into_iter()
            .filter(|c| c.name().starts_with(prefix) && !is_removal(c))
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("expected a JSON body ({e}) in {self:#?}"))
    }

    pub fn is_html(&self) -> bool {
        self.header("Content-Type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/html"))
    }

    pub fn is_json(&self) -> bool {
        self.header("Content-Type")
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
    }
}

fn is_removal(cookie: &Cookie<'_>) -> bool {
    if cookie.max_age().is_some_and(|age| age.whole_seconds() <= 0) {
        return true;
    }
    if let Some(expires) = cookie.expires_datetime()
        && expires <= rocket::time::OffsetDateTime::now_utc()
    {
        return true;
    }
    false
}

/// The query of the relying party's redirect to the authorization endpoint.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    pub location: String,
    /// The location without its query.
    pub endpoint: String,
    pub params: Vec<(String, String)>,
}

impl AuthRequest {
    pub fn parse(location: &str) -> AuthRequest {
        let url = url::Url::parse(location)
            .unwrap_or_else(|e| panic!("authorization redirect {location:?} is not an absolute URL: {e}"));
        let params = url.query_pairs().into_owned().collect();
        let mut endpoint = url.clone();
        endpoint.set_query(None);
        AuthRequest {
            location: location.to_string(),
            endpoint: endpoint.to_string(),
            params,
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        provider::find_param(&self.params, name)
    }

    pub fn count(&self, name: &str) -> usize {
        self.params.iter().filter(|(k, _)| k == name).count()
    }

    pub fn state(&self) -> &str {
        self.param("state").expect("authorization request has a state")
    }

    pub fn nonce(&self) -> &str {
        self.param("nonce").expect("authorization request has a nonce")
    }

    /// The callback path+query for an authorization response with `params`.
    pub fn callback_uri(&self, params: &[(&str, &str)]) -> String {
        callback_uri(params)
    }
}

/// `params` form-encoded.
pub fn form_encode(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// `/redirect_uri?...` with `params` form-encoded.
pub fn callback_uri(params: &[(&str, &str)]) -> String {
    format!("{CALLBACK_PATH}?{}", form_encode(params))
}

/// What kind of request a browser sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A top-level navigation (`Accept: text/html`).
    Navigate,
    /// A script's request (`Accept: application/json`).
    Api,
}

/// A browser: Rocket's untracked local client plus a cookie jar we control
/// (so tests can snapshot, tamper with and transplant cookies).
pub struct Browser {
    pub client: Arc<Client>,
    pub jar: BTreeMap<String, String>,
}

impl Browser {
    pub async fn new(rocket: Rocket<Build>) -> Browser {
        match Client::untracked(rocket).await {
            Ok(client) => Browser {
                client: Arc::new(client),
                jar: BTreeMap::new(),
            },
            Err(e) => panic!("the relying party failed to launch: {e} ({:?})", e.kind()),
        }
    }

    /// Another browser (empty cookie jar) talking to the same app.
    pub fn other_browser(&self) -> Browser {
        Browser {
            client: self.client.clone(),
            jar: BTreeMap::new(),
        }
    }

    /// Another browser talking to the same app, with a copy of `jar`.
    pub fn with_jar(&self, jar: BTreeMap<String, String>) -> Browser {
        Browser {
            client: self.client.clone(),
            jar,
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<(ContentType, String)>,
    ) -> Resp {
        let mut request = self.client.req(method, uri);
        for (name, value) in &self.jar {
            request = request.cookie(Cookie::new(name.clone(), value.clone()));
        }
        for (name, value) in headers {
            request = request.header(Header::new(name.to_string(), value.to_string()));
        }
        if let Some((content_type, body)) = body {
            request = request.header(content_type).body(body);
        }
        let response = request.dispatch().await;
        let status = response.status();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|h| (h.name().to_string(), h.value().to_string()))
            .collect();
        let body = response.into_string().await.unwrap_or_default();
        let resp = Resp { status, headers, body };
        for cookie in resp.set_cookies() {
            if is_removal(&cookie) {
                self.jar.remove(cookie.name());
            } else {
                self.jar.insert(cookie.name().to_string(), cookie.value().to_string());
            }
        }
        resp
    }

    pub async fn get(&mut self, uri: &str, mode: Mode) -> Resp {
        match mode {
            Mode::Navigate => self.navigate(uri).await,
            Mode::Api => self.api(uri).await,
        }
    }

    /// A top-level browser navigation.
    pub async fn navigate(&mut self, uri: &str) -> Resp {
        self.send(Method::Get, uri, &[("Accept", ACCEPT_HTML)], None).await
    }

    /// A script's request.
    pub async fn api(&mut self, uri: &str) -> Resp {
        self.send(Method::Get, uri, &[("Accept", "application/json")], None)
            .await
    }

    /// Navigates to `uri` without a session: expects the `302` to the
    /// authorization endpoint and returns its parameters.
    pub async fn start_login(&mut self, uri: &str) -> AuthRequest {
        let resp = self.navigate(uri).await;
        assert_eq!(
            resp.status,
            Status::Found,
            "GET {uri} without a session should redirect to the provider: {resp:#?}"
        );
        AuthRequest::parse(resp.location())
    }

    /// Sends the authorization response (callback) with `params`.
    pub async fn callback(&mut self, params: &[(&str, &str)], mode: Mode) -> Resp {
        self.get(&callback_uri(params), mode).await
    }

    /// The provider's answer to `auth` after the user logged in:
    /// `code`, `state`, and `iss` (RFC 9207).
    pub async fn approve(&mut self, provider: &TestProvider, auth: &AuthRequest, mode: Mode) -> Resp {
        let code = provider.issue_code(auth);
        self.callback(
            &[("code", &code), ("state", auth.state()), ("iss", &provider.issuer)],
            mode,
        )
        .await
    }

    /// The provider's error answer to `auth` (RFC 6749 §4.1.2.1): `error`,
    /// `error_description` if given, `state`, and `iss`.
    pub async fn refuse(
        &mut self,
        provider: &TestProvider,
        auth: &AuthRequest,
        error: &str,
        description: Option<&str>,
        mode: Mode,
    ) -> Resp {
        let mut params = vec![("error", error)];
        params.extend(description.map(|d| ("error_description", d)));
        params.extend([("state", auth.state()), ("iss", provider.issuer.as_str())]);
        self.callback(&params, mode).await
    }

    /// [`approve`](Self::approve) with `response_mode=form_post`: the
    /// browser POSTs the answer to the callback as a navigation.
    pub async fn approve_with_form_post(&mut self, provider: &TestProvider, auth: &AuthRequest) -> Resp {
        let code = provider.issue_code(auth);
        let body = form_encode(&[("code", &code), ("state", auth.state()), ("iss", &provider.issuer)]);
        self.send(
            Method::Post,
            CALLBACK_PATH,
            &[("Accept", ACCEPT_HTML)],
            Some((ContentType::Form, body)),
        )
        .await
    }

    /// The whole login: start at `uri`, approve at the provider, send the
    /// callback with `mode`. Returns the authorization request and the
    /// callback's response.
    pub async fn login(&mut self, provider: &TestProvider, uri: &str, mode: Mode) -> (AuthRequest, Resp) {
        let auth = self.start_login(uri).await;
        let resp = self.approve(provider, &auth, mode).await;
        (auth, resp)
    }

    /// A login that must succeed (`303` back to `uri`).
    pub async fn login_ok(&mut self, provider: &TestProvider, uri: &str) -> AuthRequest {
        let (auth, resp) = self.login(provider, uri, Mode::Navigate).await;
        assert_callback_completed(&resp, provider);
        assert_eq!(
            resp.location(),
            uri,
            "the callback should return to where the login started"
        );
        auth
    }

    /// [`login_ok`](Self::login_ok) through pushed authorization requests
    /// (RFC 9126): the provider approves what was pushed for the front
    /// request's `request_uri`. The pushed request.
    pub async fn login_ok_pushed(&mut self, provider: &TestProvider, uri: &str) -> AuthRequest {
        let front = self.start_login(uri).await;
        let pushed = provider.pushed(&front);
        let resp = self.approve(provider, &pushed, Mode::Navigate).await;
        assert_callback_completed(&resp, provider);
        pushed
    }

    /// `GET /profile` as a script: the JSON profile if there is a session.
    pub async fn profile(&mut self) -> Option<Value> {
        let resp = self.api("/profile").await;
        match resp.status {
            Status::Ok => Some(resp.json()),
            Status::Unauthorized => {
                assert_eq!(resp.json()["error"], "login_required", "{resp:#?}");
                None
            }
            _ => panic!("GET /profile should be 200 or 401: {resp:#?}"),
        }
    }

    /// Cookies in the jar whose name starts with `prefix`.
    pub fn cookies_with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        self.jar
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// Asserts an error response: status, and the `error` code in the JSON body
/// (API requests) or somewhere in the HTML page (navigations).
#[track_caller]
pub fn assert_error(resp: &Resp, status: Status, error: &str) {
    assert_eq!(resp.status, status, "expected {status} `{error}`, got {resp:#?}");
    if resp.is_html() {
        assert!(
            resp.body.contains(error),
            "the HTML error page should name `{error}`: {resp:#?}"
        );
    } else {
        let body = resp.json();
        assert_eq!(body["error"], error, "wrong error code in {resp:#?}");
        assert!(
            body.get("error_description").is_some(),
            "error responses carry error_description: {resp:#?}"
        );
    }
}

/// Asserts that the callback completed the login (`303`), showing the
/// provider's token requests if not.
#[track_caller]
pub fn assert_callback_completed(resp: &Resp, provider: &TestProvider) {
    assert_eq!(
        resp.status,
        Status::SeeOther,
        "the callback should complete the login: {resp:#?}\nprovider token requests: {:#?}",
        provider.token_requests()
    );
}

/// Asserts that the browser has no session: a script's `GET /profile` is
/// `401 login_required`.
pub async fn assert_no_session(browser: &mut Browser) {
    let resp = browser.api("/profile").await;
    assert_error(&resp, Status::Unauthorized, "login_required");
}

/// The session cookies currently in the jar.
pub fn session_cookies(browser: &Browser) -> BTreeMap<String, String> {
    browser.cookies_with_prefix("oidc_session_")
}
