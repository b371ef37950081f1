//! What one request carries from the guards and routes to the catchers and
//! the fairing's response hook, in the request's local cache: the error to
//! render, a login redirect, the bearer realm, the cookie jar, and the
//! session (loaded once however many guards ask).

use std::sync::{Arc, Mutex, OnceLock};

use rocket::request::Request;
use rocket::response::{self, Responder};

use crate::config::DpopMode;
use crate::error::OidcError;
use crate::flow::login::LoginRedirect;
use crate::oidc::Oidc;
use crate::session::UserSession;
use crate::session::jar::Jar;
use crate::token::access::TokenIdentity;

/// A bearer check's outcome: who the token speaks for (the token with it).
pub(crate) type BearerChecked = Result<Arc<TokenIdentity>, OidcError>;

#[derive(Default)]
pub(crate) struct RequestMemo {
    /// The error a guard or route failed with, for the catchers.
    pub(crate) error: Mutex<Option<OidcError>>,
    /// A login decided by a guard: its 401 becomes this redirect.
    pub(crate) login_redirect: Mutex<Option<LoginRedirect>>,
    /// The provider whose realm a bearer challenge names.
    pub(crate) bearer_realm: Mutex<Option<&'static str>>,
    /// How that provider takes DPoP, and whether the request used the
    /// `DPoP` scheme: which challenge a refusal carries.
    pub(crate) bearer_dpop: Mutex<Option<(DpopMode, bool)>>,
    /// Bearer checks done on this request, by provider: a token is
    /// validated once per request however many guards ask. (A request's
    /// guards run one after the other, so no check waits for another.)
    pub(crate) bearer_checks: Mutex<BearerChecks>,
    /// The crate's cookie jar, made on first use.
    jar: OnceLock<Arc<Jar>>,
    /// The session, read from the store once however many guards ask.
    session: OnceLock<Result<Option<Arc<UserSession>>, OidcError>>,
}

/// The bearer checks of one request, by provider: the first inline (the
/// usual single provider costs no allocation), any others after it.
#[derive(Default)]
pub(crate) struct BearerChecks {
    first: Option<(&'static str, BearerChecked)>,
    others: Vec<(&'static str, BearerChecked)>,
}

impl BearerChecks {
    /// The check of `provider`'s tokens done on this request, if any.
    pub(crate) fn get(&self, provider: &str) -> Option<BearerChecked> {
        self.first
            .iter()
            .chain(&self.others)
            .find(|(name, _)| *name == provider)
            .map(|(_, checked)| checked.clone())
    }

    /// Records the check of `provider`'s tokens.
    pub(crate) fn push(&mut self, provider: &'static str, checked: BearerChecked) {
        match self.first {
            None => self.first = Some((provider, checked)),
            Some(_) => self.others.push((provider, checked)),
        }
    }
}

impl RequestMemo {
    pub(crate) fn of<'r>(request: &'r Request<'_>) -> &'r RequestMemo {
        request.local_cache(RequestMemo::default)
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

impl RequestMemo {
    /// The crate's cookie jar of `request`, whose state this is (made once
    /// per request).
    pub(crate) fn jar(&self, request: &Request<'_>, oidc: &Oidc) -> Arc<Jar> {
        self.jar
            .get_or_init(|| {
                let cookies = request.cookies();
                let sessions = oidc.sessions();
                Arc::new(Jar::sharing(
                    cookies.iter().map(|c| (c.name(), c.value())),
                    |name, value| sessions.known_sealed(name, value),
                    oidc.cipher().clone(),
                    oidc.config().cookies_secure(),
                ))
            })
            .clone()
    }

    /// The session of `request`, whose state this is, loaded once however
    /// many guards ask. (A request's guards run one after the other, so two
    /// loads never race; if they did, both would find the same session.)
    pub(crate) async fn session(
        &self,
        request: &Request<'_>,
        oidc: &Oidc,
    ) -> Result<Option<Arc<UserSession>>, OidcError> {
        if let Some(session) = self.session.get() {
            return session.clone();
        }
        let session = oidc.sessions().load(&self.jar(request, oidc)).await;
        self.session.get_or_init(|| session).clone()
    }
}

/// The crate's cookie jar of `request` (made once per request).
pub(crate) fn jar(request: &Request<'_>, oidc: &Oidc) -> Arc<Jar> {
    RequestMemo::of(request).jar(request, oidc)
}

/// The cookies the jar of `request` sends back, if the request made one.
pub(crate) fn outgoing_cookies(state: &RequestMemo) -> Vec<rocket::http::Cookie<'static>> {
    match state.jar.get() {
        Some(jar) => jar.take_outgoing(),
        None => Vec::new(),
    }
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
        RequestMemo::of(request).error.lock().ok()?.clone()
    }

    /// Keeps this error for the catcher of this request.
    pub(crate) fn stash(&self, request: &Request<'_>) {
        put(&RequestMemo::of(request).error, self.clone());
    }
}

/// Answering with an `OidcError` hands it to the catcher of its status.
impl<'r> Responder<'r, 'static> for OidcError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        self.stash(request);
        Err(self.status())
    }
}
