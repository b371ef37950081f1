//! User sessions: what a login leaves behind ([`UserSession`]), the
//! per-request cookie jar the crate reads and writes its cookies through,
//! the cipher that seals them, and the codec that keeps a whole session in
//! cookies. Where a session lives (cookies, this process, Redis) is chosen
//! by `state::sessions`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::{UnixMillis, UnixTime};
use crate::secret::{AccessToken, IdTokenJwt, RefreshToken};
use crate::token::authorization::{ClaimsView, signed_only};

pub(crate) mod cipher;
pub(crate) mod cookie;
pub(crate) mod decoded;
pub(crate) mod jar;
mod stored;

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
#[derive(Clone)]
pub struct UserSession {
    /// Random identifier of this session (a new one at every login).
    pub(crate) id: String,
    pub(crate) provider: String,
    pub(crate) sub: String,
    pub(crate) id_token_jwt: IdTokenJwt,
    pub(crate) id_token_claims: LazyObject,
    pub(crate) access_token: Option<AccessToken>,
    pub(crate) access_token_expires_at: Option<UnixTime>,
    /// When the access token was obtained: with its expiry, its lifetime,
    /// which bounds how early it counts as expiring.
    pub(crate) access_token_obtained_at: Option<UnixTime>,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) userinfo: Option<LazyObject>,
    /// In milliseconds: back-channel logout compares sessions with a
    /// logout that may happen in the same second.
    pub(crate) last_authenticated: UnixMillis,
    pub(crate) expires_at: UnixTime,
    /// When the session was last used, renewed coarsely (the epoch in
    /// sessions stored before it existed: the login time counts).
    pub(crate) last_seen: UnixTime,
    /// The record of logouts in force when this cookie session began
    /// (`redis:<epoch>`, `file:<epoch>`): another one in force now may
    /// lack this session's logout (Redis lost its data, the record was
    /// started again, or was not in use), and the session is refused.
    pub(crate) epoch: Option<String>,
    /// The inactivity timeout in force when this session began (seconds;
    /// none: off then, or a session from before it was stamped). One
    /// configured later holds only where shorter: a copy of a logged-out
    /// cookie stays idle no longer than its logout record, sized by this,
    /// lasts (raising the timeout must not bring it back).
    pub(crate) idle_seconds: Option<i64>,
    /// When userinfo was last read, if since the login
    /// (`userinfo_refresh_seconds`); none: at the login.
    pub(crate) userinfo_read_at: Option<UnixTime>,
    /// Claims resolved from aggregated and distributed claim sources
    /// (OIDC Core §5.6.2), when the ID token or userinfo pointed to some.
    pub(crate) sourced_claims: Option<LazyObject>,
}

impl std::fmt::Debug for UserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSession")
            .field("provider", &self.provider)
            .field("sub", &self.sub)
            .field("last_authenticated", &self.last_authenticated)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
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

    /// The claims of the ID token as JSON text, to embed in a response
    /// without parsing and serialising them again.
    ///
    /// ```rust
    /// use rocket_openidconnect::UserSession;
    ///
    /// fn claims_json(session: &UserSession) -> String {
    ///     format!(r#"{{"sub":"{}","claims":{}}}"#, session.subject().escape_default(), session.id_token_claims_json())
    /// }
    /// ```
    pub fn id_token_claims_json(&self) -> &RawValue {
        self.id_token_claims.raw()
    }

    /// The claim at a dotted `path` (`realm_access.roles`): from the
    /// sourced claims, else userinfo, else the ID token, whichever first
    /// has the top-level claim: the claims route requirements are checked
    /// against.
    ///
    /// ```rust
    /// use rocket_openidconnect::UserSession;
    ///
    /// fn tenant(session: &UserSession) -> Option<&str> {
    ///     session.claim("tid")?.as_str()
    /// }
    /// ```
    pub fn claim(&self, path: &str) -> Option<&Value> {
        self.claims_view().find(path)
    }

    /// The ID token's claims with userinfo's and the sourced claims over
    /// them (as [`claim`](Self::claim) reads them), as the app's own type.
    ///
    /// ```rust
    /// use rocket_openidconnect::UserSession;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Profile {
    ///     email: Option<String>,
    ///     #[serde(default)]
    ///     groups: Vec<String>,
    /// }
    ///
    /// fn groups(session: &UserSession) -> Vec<String> {
    ///     session.claims_as::<Profile>().map(|p| p.groups).unwrap_or_default()
    /// }
    /// ```
    pub fn claims_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let mut claims = self.id_token_claims().clone();
        for over in [self.userinfo(), self.sourced_claims()].into_iter().flatten() {
            claims.extend(
                over.iter()
                    .filter(|(name, _)| !signed_only(name))
                    .map(|(name, value)| (name.clone(), value.clone())),
            );
        }
        serde_json::from_value(Value::Object(claims))
    }

    /// The claims resolved from the aggregated and distributed claim
    /// sources the ID token or userinfo named (OIDC Core §5.6.2), from
    /// `claim_sources` only; none when they named none.
    ///
    /// ```rust
    /// use rocket_openidconnect::UserSession;
    ///
    /// fn overage_groups(session: &UserSession) -> usize {
    ///     session
    ///         .sourced_claims()
    ///         .and_then(|claims| claims.get("groups")?.as_array().map(Vec::len))
    ///         .unwrap_or(0)
    /// }
    /// ```
    pub fn sourced_claims(&self) -> Option<&Map<String, Value>> {
        self.sourced_claims.as_ref().map(LazyObject::get)
    }

    /// The claims authorization reads: the sourced claims over userinfo
    /// over the ID token.
    pub(crate) fn claims_view(&self) -> ClaimsView<'_> {
        ClaimsView::merged(self.id_token_claims(), self.userinfo(), self.sourced_claims())
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
        self.access_token_expires_at.map(UnixTime::date)
    }

    /// The refresh token, if the provider issued one.
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// The userinfo claims, unless userinfo is disabled or unavailable.
    pub fn userinfo(&self) -> Option<&Map<String, Value>> {
        self.userinfo.as_ref().map(LazyObject::get)
    }

    /// The userinfo claims as JSON text (see
    /// [`id_token_claims_json`](Self::id_token_claims_json)).
    ///
    /// ```rust
    /// use rocket_openidconnect::UserSession;
    ///
    /// fn userinfo_or_null(session: &UserSession) -> &str {
    ///     session.userinfo_json().map_or("null", |raw| raw.get())
    /// }
    /// ```
    pub fn userinfo_json(&self) -> Option<&RawValue> {
        self.userinfo.as_ref().map(LazyObject::raw)
    }

    /// When the user last logged in at the provider.
    pub fn last_authenticated(&self) -> OffsetDateTime {
        self.last_authenticated.date()
    }

    /// When this session ends regardless of activity.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at.date()
    }

    /// Whether the access token is missing, or expires within `margin`
    /// seconds, a margin of at most half the token's lifetime: a provider
    /// issuing short-lived tokens does not make every request refresh.
    pub(crate) fn access_token_expires_within(&self, margin_seconds: i64, now: UnixTime) -> bool {
        let (Some(_), Some(expires_at)) = (&self.access_token, self.access_token_expires_at) else {
            return self.access_token.is_none();
        };
        let margin = match self.access_token_obtained_at {
            Some(obtained_at) => margin_seconds.min(expires_at.secs_since(obtained_at) / 2),
            None => margin_seconds,
        };
        expires_at.minus_secs(margin.max(0)) <= now
    }

    /// When the session was last used.
    pub(crate) fn seen_at(&self) -> UnixTime {
        if self.last_seen > UnixTime::default() {
            self.last_seen
        } else {
            self.last_authenticated.as_secs()
        }
    }

    pub(crate) fn is_expired(&self, now: UnixTime) -> bool {
        now >= self.expires_at
    }

    /// What takes the room in this session, for one that does not fit:
    /// its parts and its three largest claims, largest first, in bytes
    /// (names and sizes only, never a value).
    pub(crate) fn size_report(&self) -> String {
        let length = |raw: &RawValue| raw.get().len();
        let mut parts = [
            ("ID token", self.id_token_jwt.secret().len()),
            ("ID token claims", length(self.id_token_claims.raw())),
            (
                "access token",
                self.access_token.as_ref().map_or(0, |t| t.secret().len()),
            ),
            (
                "refresh token",
                self.refresh_token.as_ref().map_or(0, |t| t.secret().len()),
            ),
            ("userinfo", self.userinfo.as_ref().map_or(0, |u| length(u.raw()))),
        ];
        parts.sort_by_key(|part| std::cmp::Reverse(part.1));
        let parts: Vec<String> = parts
            .iter()
            .filter(|(_, size)| *size > 0)
            .map(|(part, size)| format!("{part} {size}"))
            .collect();
        let mut claims: Vec<(&str, usize)> = self
            .id_token_claims
            .get()
            .iter()
            .chain(self.userinfo.iter().flat_map(|u| u.get().iter()))
            .map(|(name, value)| (name.as_str(), value.to_string().len()))
            .collect();
        claims.sort_by_key(|claim| std::cmp::Reverse(claim.1));
        let claims: Vec<String> = claims
            .iter()
            .take(3)
            .map(|(name, size)| format!("`{}` {size}", crate::error::printable(name, 64)))
            .collect();
        format!("{}; largest claims: {}", parts.join(", "), claims.join(", "))
    }

    /// The session as stored (JSON); claims and userinfo are embedded as
    /// they were received, not re-serialised.
    pub(crate) fn to_json(&self) -> String {
        stored::to_json(self)
    }

    /// A session read back from [`to_json`](Self::to_json); `None` if it is not one.
    pub(crate) fn from_json(json: &[u8]) -> Option<UserSession> {
        stored::from_json(json)
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

    /// The object as JSON text.
    pub(crate) fn raw(&self) -> &RawValue {
        &self.raw
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
