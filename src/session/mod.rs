//! User sessions and where they are kept.
//!
//! A [`UserSession`] is created by a successful login and read by the
//! guards. A [`SessionStore`] keeps it; the default [`CookieStore`] keeps
//! it in the browser, in encrypted cookies.

use std::sync::{Arc, Mutex, OnceLock};

use rocket::http::{Cookie, SameSite};
use rocket::Request;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::OidcError;
use crate::request_state::RequestState;
use crate::token::{AccessToken, IdTokenJwt, RefreshToken};

pub(crate) mod cipher;
mod cookie_store;
mod memory_store;

use self::cipher::CookieCipher;
pub use self::cookie_store::CookieStore;
pub use self::memory_store::MemoryStore;

/// Everything known about a logged-in user of one provider.
///
/// ```rust
/// use rocket_openidconnect::UserSession;
///
/// fn greeting(session: &UserSession) -> String {
///     let name = session.id_token_claims().get("name").and_then(|v| v.as_str());
///     format!("hello {} from {}", name.unwrap_or(session.subject()), session.provider())
/// }
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct UserSession {
    /// Random identifier of this session (a new one at every login).
    pub(crate) id: String,
    pub(crate) provider: String,
    pub(crate) sub: String,
    pub(crate) id_token_jwt: IdTokenJwt,
    pub(crate) id_token_claims: LazyObject,
    pub(crate) access_token: Option<AccessToken>,
    pub(crate) access_token_expires_at: Option<i64>,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) userinfo: Option<LazyObject>,
    /// Unix time in milliseconds (back-channel logout compares sessions
    /// with a logout that may happen in the same second).
    pub(crate) last_authenticated_ms: i64,
    pub(crate) expires_at: i64,
}

impl std::fmt::Debug for UserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSession")
            .field("provider", &self.provider)
            .field("sub", &self.sub)
            .field("last_authenticated_ms", &self.last_authenticated_ms)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn unix(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl UserSession {
    /// The name of the provider the user logged in with.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The user's subject identifier at that provider (`sub`).
    pub fn subject(&self) -> &str {
        &self.sub
    }

    /// The claims of the ID token, as issued.
    pub fn id_token_claims(&self) -> &Map<String, Value> {
        self.id_token_claims.get()
    }

    /// The raw ID token (useful as `id_token_hint`).
    pub fn id_token_jwt(&self) -> &IdTokenJwt {
        &self.id_token_jwt
    }

    /// The access token issued at login, if any.
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.access_token.as_ref()
    }

    /// When the access token expires, when the provider said.
    pub fn access_token_expires_at(&self) -> Option<OffsetDateTime> {
        self.access_token_expires_at.map(unix)
    }

    /// The refresh token, if the provider issued one.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// The userinfo claims, unless userinfo is disabled or unavailable.
    pub fn userinfo(&self) -> Option<&Map<String, Value>> {
        self.userinfo.as_ref().map(LazyObject::get)
    }

    /// When the user last logged in at the provider.
    pub fn last_authenticated(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.last_authenticated_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// When this session ends regardless of activity.
    pub fn expires_at(&self) -> OffsetDateTime {
        unix(self.expires_at)
    }

    pub(crate) fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The provider's session id (`sid` claim of the ID token), if any.
    pub(crate) fn sid(&self) -> Option<&str> {
        self.id_token_claims().get("sid").and_then(Value::as_str)
    }

    /// Whether a back-channel logout of `provider` naming `sid` and/or `sub`
    /// ends this session (Back-Channel Logout 1.0 §2.7: by `sid` when the
    /// token has one, otherwise every session of `sub`).
    pub(crate) fn matches_logout(&self, provider: &str, sid: Option<&str>, sub: Option<&str>) -> bool {
        self.provider == provider
            && match (sid, sub) {
                (Some(sid), sub) => self.sid() == Some(sid) && sub.is_none_or(|sub| sub == self.sub),
                (None, Some(sub)) => sub == self.sub,
                (None, None) => false,
            }
    }
}

/// Now, in Unix milliseconds (the unit of `last_authenticated_ms`).
pub(crate) fn unix_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A JSON object kept as text until it is first read: most requests of a
/// logged-in user never look at the claims, so loading a session does not
/// build them.
#[derive(Clone)]
pub(crate) struct LazyObject {
    raw: Box<RawValue>,
    parsed: OnceLock<Map<String, Value>>,
}

impl LazyObject {
    pub(crate) fn new(map: Map<String, Value>) -> LazyObject {
        // Serializing a map of JSON values cannot fail; `null` would read back empty.
        let raw = serde_json::value::to_raw_value(&map).unwrap_or_else(|_| RawValue::NULL.to_owned());
        LazyObject {
            raw,
            parsed: OnceLock::from(map),
        }
    }

    pub(crate) fn get(&self) -> &Map<String, Value> {
        self.parsed
            .get_or_init(|| serde_json::from_str(self.raw.get()).unwrap_or_default())
    }
}

impl Serialize for LazyObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LazyObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::custom("expected a JSON object"));
        }
        Ok(LazyObject {
            raw,
            parsed: OnceLock::new(),
        })
    }
}

/// Where sessions are kept between requests.
///
/// The crate ships [`CookieStore`]; server-side stores implement the same
/// trait and keep only a session id in a cookie.
///
/// ```rust
/// use std::sync::Arc;
/// use rocket_openidconnect::{SessionCookies, SessionStore, UserSession, OidcError};
///
/// /// A store that forgets everything (every request is logged out).
/// struct Amnesia;
///
/// #[rocket::async_trait]
/// impl SessionStore for Amnesia {
///     async fn load(&self, _: &SessionCookies) -> Option<Arc<UserSession>> { None }
///     async fn save(&self, _: &SessionCookies, _: &UserSession) -> Result<(), OidcError> { Ok(()) }
///     async fn remove(&self, _: &SessionCookies) {}
/// }
/// ```
#[rocket::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session of this request, if it has a valid, unexpired one.
    /// Anything unreadable counts as no session.
    async fn load(&self, cookies: &SessionCookies) -> Option<Arc<UserSession>>;

    /// Stores `session` as this browser's session, replacing any other.
    async fn save(&self, cookies: &SessionCookies, session: &UserSession) -> Result<(), OidcError>;

    /// Ends this browser's session.
    async fn remove(&self, cookies: &SessionCookies);

    /// Ends, server-side, every session of `provider` matching a
    /// back-channel logout (by `sid`, else by `sub`); the number ended.
    /// Stores that keep sessions in the browser cannot, and return 0 (the
    /// crate then refuses those sessions when they come back).
    async fn end_sessions(&self, provider: &str, sid: Option<&str>, sub: Option<&str>) -> usize {
        let _ = (provider, sid, sub);
        0
    }
}

/// Prefix of every cookie the crate sets.
pub(crate) const COOKIE_PREFIX: &str = "oidc_";

/// The encrypted cookies of one request, as a session store sees them.
///
/// Values are sealed with a key derived from Rocket's `secret_key`; cookies
/// set here reach the response even when a catcher answers it. The handle
/// is owned (one per request, shared), so a guard's value can still update
/// the session from inside the handler.
pub struct SessionCookies {
    /// The request's cookies whose names start with `oidc_`, still sealed.
    incoming: Vec<(String, String)>,
    outgoing: Arc<OutgoingCookies>,
    cipher: Arc<CookieCipher>,
    secure: bool,
}

impl SessionCookies {
    /// The handle of `request` (made once per request).
    pub(crate) fn of(request: &Request<'_>, cipher: &Arc<CookieCipher>, secure: bool) -> Arc<SessionCookies> {
        request
            .local_cache(|| {
                let incoming = request
                    .cookies()
                    .iter()
                    .filter(|c| c.name().starts_with(COOKIE_PREFIX))
                    .map(|c| (c.name().to_string(), c.value().to_string()))
                    .collect();
                RequestCookies(Arc::new(SessionCookies {
                    incoming,
                    outgoing: RequestState::of(request).outgoing.clone(),
                    cipher: cipher.clone(),
                    secure,
                }))
            })
            .0
            .clone()
    }

    /// The opened value of the cookie `name`; `None` if absent or not sealed by us.
    pub fn get(&self, name: &str) -> Option<String> {
        let (_, sealed) = self.incoming.iter().find(|(n, _)| n == name)?;
        self.cipher.open(name, sealed)
    }

    /// The names of this request's cookies that start with `prefix`
    /// (which must start with `oidc_`).
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        self.incoming
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Sets the cookie `name` to the sealed `value` for `max_age_seconds`:
    /// `HttpOnly`, `SameSite=Lax` (the provider's redirect back is a
    /// top-level cross-site navigation), `Secure` on https, path `/`.
    pub fn set(&self, name: &str, value: &str, max_age_seconds: i64) {
        if let Some(sealed) = self.cipher.seal(name, value) {
            let cookie = Cookie::build((name.to_string(), sealed))
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(self.secure)
                .max_age(time::Duration::seconds(max_age_seconds))
                .build();
            self.outgoing.push(cookie);
        }
    }

    /// Removes the cookie `name` from the browser.
    pub fn remove(&self, name: &str) {
        let cookie = Cookie::build((name.to_string(), ""))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(time::Duration::ZERO)
            .expires(OffsetDateTime::UNIX_EPOCH)
            .build();
        self.outgoing.push(cookie);
    }
}

struct RequestCookies(Arc<SessionCookies>);

/// Cookies this request sends back; the fairing adds them to the response
/// whichever route or catcher produced it.
#[derive(Default)]
pub(crate) struct OutgoingCookies(Mutex<Vec<Cookie<'static>>>);

impl OutgoingCookies {
    fn push(&self, cookie: Cookie<'static>) {
        if let Ok(mut cookies) = self.0.lock() {
            cookies.retain(|c| c.name() != cookie.name());
            cookies.push(cookie);
        }
    }
}

/// The cookies to add to this request's response.
pub(crate) fn take_outgoing(request: &Request<'_>) -> Vec<Cookie<'static>> {
    RequestState::of(request)
        .outgoing
        .0
        .lock()
        .map(|mut cookies| std::mem::take(&mut *cookies))
        .unwrap_or_default()
}

/// The session of this request, loaded once however many guards ask.
pub(crate) struct LoadedSession(pub(crate) Option<Arc<UserSession>>);
