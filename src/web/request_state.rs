//! What one request carries from the guards and routes to the catchers and
//! the fairing's response hook, in the request's local cache: the error to
//! render, a login redirect, the bearer realm, the cookie jar, and the
//! session (loaded once however many guards ask).

use std::sync::{Arc, Mutex};

use rocket::request::Request;
use rocket::response::{self, Responder};

use crate::error::OidcError;
use crate::flow::login::LoginRedirect;
use crate::oidc::Oidc;
use crate::session::jar::Jar;
use crate::session::UserSession;
use crate::token::access::TokenIdentity;

/// A bearer check's outcome: who the token speaks for (the token with it).
pub(crate) type BearerChecked = Result<Arc<TokenIdentity>, OidcError>;

#[derive(Default)]
pub(crate) struct RequestState {
    /// The error a guard or route failed with, for the catchers.
    pub(crate) error: Mutex<Option<OidcError>>,
    /// A login decided by a guard: its 401 becomes this redirect.
    pub(crate) login_redirect: Mutex<Option<LoginRedirect>>,
    /// The provider whose realm a bearer challenge names.
    pub(crate) bearer_realm: Mutex<Option<&'static str>>,
    /// Bearer checks done on this request, by provider: a token is
    /// validated once per request however many guards ask. (A request's
    /// guards run one after the other, so no check waits for another.)
    pub(crate) bearer_checks: Mutex<Vec<(&'static str, BearerChecked)>>,
}

impl RequestState {
    pub(crate) fn of<'r>(request: &'r Request<'_>) -> &'r RequestState {
        request.local_cache(RequestState::default)
    }
}

/// Stores `value` in `slot` (a poisoned lock only loses the value).
pub(crate) fn put<T>(slot: &Mutex<Option<T>>, value: T) {
    if let Ok(mut slot) = slot.lock() {
        *slot = Some(value);
    }
}

/// Takes the value out of `slot`.
pub(crate) fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().ok().and_then(|mut slot| slot.take())
}

/// The request's jar, once made.
struct RequestJar(Option<Arc<Jar>>);

/// The crate's cookie jar of `request` (made once per request).
pub(crate) fn jar(request: &Request<'_>, oidc: &Oidc) -> Arc<Jar> {
    let made = request.local_cache(|| {
        let cookies = request.cookies();
        let jar = Jar::new(
            cookies.iter().map(|c| (c.name(), c.value())),
            oidc.cipher().clone(),
            oidc.config().cookies_secure(),
        );
        RequestJar(Some(Arc::new(jar)))
    });
    match &made.0 {
        Some(jar) => jar.clone(),
        // `local_cache` only ever holds the value made above.
        None => Arc::new(Jar::new(
            std::iter::empty(),
            oidc.cipher().clone(),
            oidc.config().cookies_secure(),
        )),
    }
}

/// The cookies the jar of `request` sends back, if the request made one.
pub(crate) fn outgoing_cookies(request: &Request<'_>) -> Vec<rocket::http::Cookie<'static>> {
    match &request.local_cache(|| RequestJar(None)).0 {
        Some(jar) => jar.take_outgoing(),
        None => Vec::new(),
    }
}

/// The session of `request`, read from the store once per request.
struct LoadedSession(Result<Option<Arc<UserSession>>, OidcError>);

/// The session of `request`, loaded once however many guards ask.
pub(crate) async fn session(request: &Request<'_>, oidc: &Oidc) -> Result<Option<Arc<UserSession>>, OidcError> {
    request
        .local_cache_async(async {
            let jar = jar(request, oidc);
            LoadedSession(oidc.sessions().load(&jar).await)
        })
        .await
        .0
        .clone()
}

impl OidcError {
    /// The error a guard or the callback failed with on this request, if any.
    ///
    /// ```rust
    /// use rocket::{catch, Request};
    /// use rocket_openidconnect::OidcError;
    ///
    /// #[catch(502)]
    /// fn provider_down(request: &Request) -> String {
    ///     match OidcError::of(request) {
    ///         Some(error) => format!("sign-in is unavailable: {error}"),
    ///         None => "bad gateway".into(),
    ///     }
    /// }
    /// ```
    pub fn of(request: &Request<'_>) -> Option<OidcError> {
        RequestState::of(request).error.lock().ok()?.clone()
    }

    /// Keeps this error for the catcher of this request.
    pub(crate) fn stash(&self, request: &Request<'_>) {
        put(&RequestState::of(request).error, self.clone());
    }
}

/// Answering with an `OidcError` hands it to the catcher of its status.
impl<'r> Responder<'r, 'static> for OidcError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        self.stash(request);
        Err(self.status())
    }
}
