//! Helpers for the session lifecycle: token refresh, logout, back-channel
//! logout, silent re-authentication, server-side session stores and
//! dynamic client registration.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rocket::http::{Accept, ContentType, Cookie, Header, Method};
use serde_json::{Value, json};

use super::{Browser, ManualClock, Resp, TestProvider, app, oidc_config, rp, rp_on};

/// `/profile`, `/public`, `/token` and `/` (the default
/// `post_logout_redirect_uri`).
pub fn lifecycle_routes() -> Vec<rocket::Route> {
    rocket::routes![app::profile, app::public, app::token, app::index]
}

/// A browser on the relying party of `oidc` with [`lifecycle_routes`].
pub async fn lifecycle_browser(oidc: Value) -> Browser {
    Browser::new(rp(oidc, lifecycle_routes())).await
}

/// [`lifecycle_browser`] on an app whose clock is `clock`.
pub async fn lifecycle_browser_on(clock: &ManualClock, oidc: Value) -> Browser {
    Browser::new(rp_on(clock, oidc, lifecycle_routes())).await
}

/// [`oidc_config`] with `session.store = "memory"`.
pub fn memory_store_config(provider: &TestProvider) -> Value {
    let mut config = oidc_config(provider);
    config["session"] = json!({ "store": "memory" });
    config
}

/// The form body `pairs` encode to.
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Browser {
    /// `GET /token` as a script (`?refresh=true` when `force`).
    pub async fn token(&mut self, force: bool) -> Resp {
        let uri = if force { "/token?refresh=true" } else { "/token" };
        self.api(uri).await
    }

    /// `GET /token` that must succeed: its JSON.
    pub async fn token_ok(&mut self, force: bool) -> Value {
        let resp = self.token(force).await;
        assert_eq!(resp.status, rocket::http::Status::Ok, "GET /token: {resp:#?}");
        resp.json()
    }

    /// A form POST from this browser (its cookies go along).
    pub async fn post_form(&mut self, uri: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(Method::Post, uri, &[], Some((ContentType::Form, form(pairs))))
            .await
    }

    /// The user clicks "log out": a navigation to `/logout` with `method`.
    pub async fn logout(&mut self, method: Method) -> Resp {
        let headers = [("Accept", super::ACCEPT_HTML)];
        match method {
            Method::Post => {
                self.send(
                    Method::Post,
                    "/logout",
                    &headers,
                    Some((ContentType::Form, String::new())),
                )
                .await
            }
            _ => self.send(method, "/logout", &headers, None).await,
        }
    }

    /// What the provider sends to `/backchannel_logout`: a form POST, no
    /// cookies, with the raw form `body`.
    pub async fn backchannel_post(&self, body: String) -> Resp {
        self.other_browser()
            .send(
                Method::Post,
                "/backchannel_logout",
                &[("Accept", "application/json")],
                Some((ContentType::Form, body)),
            )
            .await
    }

    /// A back-channel logout with one `logout_token`.
    pub async fn backchannel_logout(&self, logout_token: &str) -> Resp {
        self.backchannel_post(form(&[("logout_token", logout_token)])).await
    }
}

/// `n` script requests for `uri` sent at once with `browser`'s cookies
/// (each on its own task); the responses in order. The jar is not updated.
pub async fn concurrent_api_gets(browser: &Browser, uri: &str, n: usize) -> Vec<Resp> {
    concurrent_gets(browser, uri, Accept::JSON.into(), n).await
}

/// `n` navigations to `uri` at once with `browser`'s cookies.
pub async fn concurrent_navigations(browser: &Browser, uri: &str, n: usize) -> Vec<Resp> {
    let accept = Header::new("Accept", super::ACCEPT_HTML);
    concurrent_gets(browser, uri, accept, n).await
}

async fn concurrent_gets(browser: &Browser, uri: &str, accept: Header<'static>, n: usize) -> Vec<Resp> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let client = browser.client.clone();
        let jar = browser.jar.clone();
        let uri = uri.to_string();
        let accept = accept.clone();
        tasks.push(rocket::tokio::spawn(async move {
            let mut request = client.get(uri).header(accept);
            for (name, value) in jar {
                request = request.cookie(Cookie::new(name, value));
            }
            let response = request.dispatch().await;
            let status = response.status();
            let headers = response
                .headers()
                .iter()
                .map(|h| (h.name().to_string(), h.value().to_string()))
                .collect();
            let body = response.into_string().await.unwrap_or_default();
            Resp { status, headers, body }
        }));
    }
    let mut responses = Vec::with_capacity(n);
    for task in tasks {
        responses.push(task.await.expect("request task"));
    }
    responses
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "rocket_openidconnect-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
