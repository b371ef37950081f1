//! The crate's cookies of one request: the sealed values the browser sent
//! and the cookies to send back.
//!
//! Only the names the crate can have issued count (the session chunks, the
//! session id, the logout state, and pending logins named by a 16-digit hex
//! tag): anything else is ignored, so a request with thousands of junk
//! cookies costs no more than one with none, and no response carries more
//! than a few `Set-Cookie`s. Lookups are by name, O(1).
//!
//! On https every cookie is named with the `__Host-` prefix (RFC 6265bis
//! §4.1.3.2): browsers accept such a cookie only from this very origin,
//! `Secure`, with `Path=/` and no `Domain`, so a sibling subdomain cannot
//! plant a session or a pending login ("cookie tossing"); unprefixed
//! cookies are then ignored. Names below are the logical ones; the prefix
//! is added and removed here only.
//!
//! Outgoing cookies reach the response whoever answers it (a route or a
//! catcher): the fairing's response hook adds them. The jar is built once
//! per request and shared, so a guard's value can still update the session
//! from inside the handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocket::http::{Cookie, SameSite};
use time::OffsetDateTime;

use crate::session::cipher::{Cipher, Unsealed};

/// The prefix browsers enforce for origin-bound cookies (https only).
const HOST_PREFIX: &str = "__Host-";
/// Session chunks: `oidc_session_0` ... `oidc_session_{MAX_CHUNKS - 1}`.
#[cfg(test)]
const SESSION_CHUNK_PREFIX: &str = "oidc_session_";
/// The most cookies one session may use.
pub(crate) const MAX_CHUNKS: usize = crate::config::MAX_COOKIE_CHUNKS;
/// The id of a server-side session.
pub(crate) const SESSION_ID: &str = "oidc_sid";
/// The `state` of a logout in progress.
pub(crate) const LOGOUT_STATE: &str = "oidc_logout";
/// Pending logins: `oidc_auth_` and a tag of 16 lower-case hex digits.
pub(crate) const PENDING_PREFIX: &str = "oidc_auth_";
const PENDING_TAG_LEN: usize = 16;
/// The most pending-login cookies one request's cleanup looks at.
const MAX_TRACKED_PENDING: usize = 8;

/// The slot of a cookie the crate names in advance: the session chunks,
/// then the session id and the logout state.
fn fixed_slot(name: &str) -> Option<usize> {
    match name {
        SESSION_ID => Some(MAX_CHUNKS),
        LOGOUT_STATE => Some(MAX_CHUNKS + 1),
        _ => SESSION_CHUNKS.iter().position(|chunk| *chunk == name),
    }
}

/// Whether `name` is a pending-login cookie's (logical name).
fn is_pending(name: &str) -> bool {
    name.strip_prefix(PENDING_PREFIX)
        .is_some_and(|tag| tag.len() == PENDING_TAG_LEN && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

pub(crate) struct Jar {
    /// The request's cookies of the fixed names, by slot, still sealed.
    fixed: [Option<Arc<str>>; MAX_CHUNKS + 2],
    /// Its pending-login cookies by name, still sealed (a map only when
    /// there are some).
    pending: Option<HashMap<Box<str>, Box<str>>>,
    /// Some of the pending-login names, for cleanup.
    tracked: Vec<String>,
    outgoing: Mutex<Outgoing>,
    cipher: Arc<Cipher>,
    secure: bool,
}

/// The cookies to send, at most one per name, in the order first set.
#[derive(Default)]
struct Outgoing {
    cookies: Vec<Cookie<'static>>,
    by_name: HashMap<String, usize>,
}

impl Jar {
    /// A jar of the `(name, sealed value)` cookies a request carried;
    /// `secure`: the site is https (cookies are `__Host-` prefixed and
    /// `Secure`).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn new<'c>(cookies: impl Iterator<Item = (&'c str, &'c str)>, cipher: Arc<Cipher>, secure: bool) -> Jar {
        Jar::sharing(cookies, |_, _| None, cipher, secure)
    }

    /// [`Jar::new`], holding the copy `known(name, value)` gives of a
    /// cookie of a fixed name (the same bytes, cached elsewhere) instead of
    /// a copy of its own: a logged-in request then copies no session.
    pub(crate) fn sharing<'c>(
        cookies: impl Iterator<Item = (&'c str, &'c str)>,
        known: impl Fn(&str, &str) -> Option<Arc<str>>,
        cipher: Arc<Cipher>,
        secure: bool,
    ) -> Jar {
        let mut fixed: [Option<Arc<str>>; MAX_CHUNKS + 2] = Default::default();
        let mut pending: Option<HashMap<Box<str>, Box<str>>> = None;
        for (wire, value) in cookies {
            let logical = if secure {
                wire.strip_prefix(HOST_PREFIX)
            } else {
                Some(wire)
            };
            let Some(name) = logical else {
                continue;
            };
            if let Some(slot) = fixed_slot(name) {
                fixed[slot] = Some(known(name, value).unwrap_or_else(|| value.into()));
            } else if is_pending(name) {
                pending
                    .get_or_insert_with(HashMap::new)
                    .insert(name.into(), value.into());
            }
        }
        let mut tracked: Vec<String> = pending
            .iter()
            .flat_map(|pending| pending.keys())
            .map(|name| name.to_string())
            .collect();
        // Which ones a flood leaves out does not matter; the choice is stable.
        tracked.sort_unstable();
        tracked.truncate(MAX_TRACKED_PENDING);
        Jar {
            fixed,
            pending,
            tracked,
            outgoing: Mutex::new(Outgoing::default()),
            cipher,
            secure,
        }
    }

    /// The opened value of the cookie `name`; `None` if absent or not sealed by us.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.cipher.open(name, self.sealed(name)?)
    }

    /// [`Jar::get`], saying whether the value was sealed under a previous
    /// key (and should be sealed again).
    pub(crate) fn get_checked(&self, name: &str) -> Option<Unsealed> {
        self.cipher.open_checked(name, self.sealed(name)?)
    }

    /// The sealed value of the cookie `name`, as the browser sent it.
    pub(crate) fn sealed(&self, name: &str) -> Option<&str> {
        match fixed_slot(name) {
            Some(slot) => self.fixed[slot].as_deref(),
            None => self.pending.as_ref()?.get(name).map(|value| &**value),
        }
    }

    /// Whether the request carried a cookie `name` (readable or not).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.sealed(name).is_some()
    }

    /// The session chunks the request carried, by index.
    pub(crate) fn session_chunks(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_CHUNKS).filter(|i| self.fixed[*i].is_some())
    }

    /// Pending-login cookies the request carried (at most a few of them).
    pub(crate) fn pending_logins(&self) -> &[String] {
        &self.tracked
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
    /// redirect back is a top-level cross-site navigation), `Secure` and
    /// `__Host-` on https, path `/`.
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
        let wire = if self.secure {
            format!("{HOST_PREFIX}{name}")
        } else {
            name.to_string()
        };
        Cookie::build((wire, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
    }

    fn push(&self, cookie: Cookie<'static>) {
        let Ok(mut outgoing) = self.outgoing.lock() else {
            return;
        };
        match outgoing.by_name.get(cookie.name()).copied() {
            Some(index) => outgoing.cookies[index] = cookie,
            None => {
                let index = outgoing.cookies.len();
                outgoing.by_name.insert(cookie.name().to_string(), index);
                outgoing.cookies.push(cookie);
            }
        }
    }

    /// The cookies to add to this request's response (taken once).
    pub(crate) fn take_outgoing(&self) -> Vec<Cookie<'static>> {
        self.outgoing
            .lock()
            .map(|mut outgoing| {
                outgoing.by_name.clear();
                std::mem::take(&mut outgoing.cookies)
            })
            .unwrap_or_default()
    }
}

/// The names of the session chunks, by index.
const SESSION_CHUNKS: [&str; MAX_CHUNKS] = [
    "oidc_session_0",
    "oidc_session_1",
    "oidc_session_2",
    "oidc_session_3",
    "oidc_session_4",
    "oidc_session_5",
    "oidc_session_6",
    "oidc_session_7",
];

/// The name of session chunk `index` (`index < MAX_CHUNKS`).
pub(crate) fn session_chunk(index: usize) -> &'static str {
    SESSION_CHUNKS.get(index).copied().unwrap_or("oidc_session_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_value_is_shared_not_copied() {
        let cached: Arc<str> = "sealed-id".into();
        let jar = Jar::sharing(
            [("oidc_sid", "sealed-id"), ("oidc_session_0", "other")].into_iter(),
            |name, value| (name == SESSION_ID && value == &*cached).then(|| cached.clone()),
            Arc::new(Cipher::derive_from(&[1; 64])),
            false,
        );
        assert!(std::ptr::eq(jar.sealed(SESSION_ID).unwrap(), &*cached));
        assert_eq!(jar.sealed("oidc_session_0"), Some("other"));
    }

    fn jar(cookies: &[(&str, &str)], secure: bool) -> Jar {
        Jar::new(cookies.iter().copied(), Arc::new(Cipher::derive_from(&[1; 64])), secure)
    }

    #[test]
    fn the_session_chunk_names_are_the_prefix_and_the_index() {
        for index in 0..MAX_CHUNKS {
            assert_eq!(session_chunk(index), format!("{SESSION_CHUNK_PREFIX}{index}"));
        }
    }

    #[test]
    fn only_names_the_crate_issues_are_read() {
        let jar = jar(
            &[
                ("oidc_session_0", "a"),
                ("oidc_session_7", "b"),
                ("oidc_session_8", "c"),
                ("oidc_session_00", "d"),
                ("oidc_auth_0123456789abcdef", "e"),
                ("oidc_auth_0123456789ABCDEF", "f"),
                ("oidc_auth_x", "g"),
                ("oidc_sid", "h"),
                ("oidc_other", "i"),
                ("session", "j"),
            ],
            false,
        );
        assert_eq!(jar.session_chunks().collect::<Vec<_>>(), [0, 7]);
        assert_eq!(jar.pending_logins(), ["oidc_auth_0123456789abcdef"]);
        assert!(jar.has("oidc_sid") && !jar.has("oidc_other") && !jar.has("oidc_session_8"));
    }

    #[test]
    fn on_https_only_host_prefixed_cookies_count_and_all_are_set_so() {
        let planted = jar(&[("oidc_sid", "x"), ("__Host-oidc_session_0", "y")], true);
        assert!(
            !planted.has("oidc_sid"),
            "an unprefixed cookie could come from a sibling subdomain"
        );
        assert!(planted.has("oidc_session_0"));
        planted.set("oidc_sid", "value", 60);
        planted.remove("oidc_session_0");
        let names: Vec<String> = planted.take_outgoing().iter().map(|c| c.name().to_string()).collect();
        assert_eq!(names, ["__Host-oidc_sid", "__Host-oidc_session_0"]);
        let plain = jar(&[("__Host-oidc_sid", "x")], false);
        assert!(!plain.has("oidc_sid"));
    }

    #[test]
    fn a_flood_of_junk_is_bounded() {
        let names: Vec<String> = (0..10_000).map(|n| format!("oidc_auth_{n:016x}")).collect();
        let cookies: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "junk")).collect();
        let jar = jar(&cookies, false);
        assert_eq!(jar.pending_logins().len(), MAX_TRACKED_PENDING);
        for name in jar.pending_logins() {
            jar.remove(name);
            jar.remove(name);
        }
        assert_eq!(
            jar.take_outgoing().len(),
            MAX_TRACKED_PENDING,
            "one Set-Cookie per name"
        );
    }
}
