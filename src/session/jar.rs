//! The crate's cookies of one request: the sealed values the browser sent
//! (names starting with `oidc_`) and the cookies to send back.
//!
//! Outgoing cookies reach the response whoever answers it (a route or a
//! catcher): the fairing's response hook adds them. The jar is built once
//! per request and shared, so a guard's value can still update the session
//! from inside the handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocket::http::{Cookie, SameSite};
use time::OffsetDateTime;

use crate::session::cipher::Cipher;

/// Prefix of every cookie the crate sets.
pub(crate) const COOKIE_PREFIX: &str = "oidc_";

pub(crate) struct Jar {
    /// The request's `oidc_*` cookies by name, still sealed.
    incoming: HashMap<String, String>,
    outgoing: Mutex<Vec<Cookie<'static>>>,
    cipher: Arc<Cipher>,
    secure: bool,
}

impl Jar {
    /// A jar of the `(name, sealed value)` cookies a request carried;
    /// cookies not named `oidc_*` are not the crate's and are left out.
    pub(crate) fn new<'c>(cookies: impl Iterator<Item = (&'c str, &'c str)>, cipher: Arc<Cipher>, secure: bool) -> Jar {
        let incoming = cookies
            .filter(|(name, _)| name.starts_with(COOKIE_PREFIX))
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Jar {
            incoming,
            outgoing: Mutex::new(Vec::new()),
            cipher,
            secure,
        }
    }

    /// The opened value of the cookie `name`; `None` if absent or not sealed by us.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let sealed = self.incoming.get(name)?;
        self.cipher.open(name, sealed)
    }

    /// Whether the request carried a cookie `name` (readable or not).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.incoming.contains_key(name)
    }

    /// The names of this request's cookies that start with `prefix`.
    pub(crate) fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.incoming
            .keys()
            .filter(|name| name.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Sets the cookie `name` to the sealed `value` for `max_age_seconds`.
    pub(crate) fn set(&self, name: &str, value: &str, max_age_seconds: i64) {
        if let Some(cookie) = self.sealed_cookie(name, value, max_age_seconds) {
            self.push(cookie);
        }
    }

    /// Removes the cookie `name` from the browser.
    pub(crate) fn remove(&self, name: &str) {
        self.push(self.removal_cookie(name));
    }

    /// A `Set-Cookie` for `name` holding the sealed `value`, not added to
    /// this jar's response: `HttpOnly`, `SameSite=Lax` (the provider's
    /// redirect back is a top-level cross-site navigation), `Secure` on
    /// https, path `/`.
    pub(crate) fn sealed_cookie(&self, name: &str, value: &str, max_age_seconds: i64) -> Option<Cookie<'static>> {
        let sealed = self.cipher.seal(name, value)?;
        Some(
            self.cookie(name, sealed)
                .max_age(time::Duration::seconds(max_age_seconds))
                .build(),
        )
    }

    /// A `Set-Cookie` that removes `name`, not added to this jar's response.
    pub(crate) fn removal_cookie(&self, name: &str) -> Cookie<'static> {
        self.cookie(name, String::new())
            .max_age(time::Duration::ZERO)
            .expires(OffsetDateTime::UNIX_EPOCH)
            .build()
    }

    fn cookie(&self, name: &str, value: String) -> cookie::CookieBuilder<'static> {
        Cookie::build((name.to_string(), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
    }

    fn push(&self, cookie: Cookie<'static>) {
        if let Ok(mut cookies) = self.outgoing.lock() {
            cookies.retain(|c| c.name() != cookie.name());
            cookies.push(cookie);
        }
    }

    /// The cookies to add to this request's response (taken once).
    pub(crate) fn take_outgoing(&self) -> Vec<Cookie<'static>> {
        self.outgoing
            .lock()
            .map(|mut cookies| std::mem::take(&mut *cookies))
            .unwrap_or_default()
    }
}
