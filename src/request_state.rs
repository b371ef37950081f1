//! What one request carries from the guards and routes to the catchers and
//! the fairing's response hook: one entry in the request's local cache.

use std::sync::{Arc, Mutex};

use rocket::Request;

use crate::error::OidcError;
use crate::login::LoginRedirect;
use crate::session::OutgoingCookies;

#[derive(Default)]
pub(crate) struct RequestState {
    /// The error a guard or route failed with, for the catchers.
    pub(crate) error: Mutex<Option<OidcError>>,
    /// A login decided by a guard: its 401 becomes this redirect.
    pub(crate) login_redirect: Mutex<Option<LoginRedirect>>,
    /// The provider whose realm a bearer challenge names.
    pub(crate) bearer_realm: Mutex<Option<&'static str>>,
    /// Cookies to add to the response, whoever answers it.
    pub(crate) outgoing: Arc<OutgoingCookies>,
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
