//! The server-side state layer: everything one request leaves for later
//! ones that is not in the browser. Used `state`s, back-channel logout
//! token ids, logged-out sessions, sessions of the `memory` and `redis`
//! stores, and refresh coordination all go through [`SharedState`], which
//! has two implementations: [`local::LocalState`] (this process, bounded)
//! and [`redis::RedisState`] (every instance of the app sharing one Redis).
//!
//! Both implementations fail closed: a ledger that cannot record a value
//! (full of live entries, or Redis unreachable) makes the request that
//! needs it fail with [`StateError`] (`503`), never admits it unchecked.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::OidcError;
use crate::session::UserSession;

pub(crate) mod ledger;
pub(crate) mod local;
pub(crate) mod redis;
pub(crate) mod sessions;

/// Why the state layer could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StateError {
    /// Redis is unreachable, too slow or failing.
    Unavailable(String),
    /// An in-process ledger is full of entries that have not expired.
    Full {
        /// What the ledger holds.
        ledger: &'static str,
        /// Its capacity, and the configuration key that sets it.
        capacity: usize,
        key: &'static str,
    },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Unavailable(why) => write!(f, "redis is unavailable ({why})"),
            StateError::Full { ledger, capacity, key } => write!(
                f,
                "the ledger of {ledger} is full ({capacity} live entries); raise `{key}`"
            ),
        }
    }
}

impl From<StateError> for OidcError {
    fn from(error: StateError) -> OidcError {
        OidcError::StateUnavailable(error.to_string())
    }
}

/// The single-use ledgers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Once {
    /// A login's `state`.
    State,
    /// A back-channel logout token's `iss` and `jti`.
    LogoutToken,
    /// A DPoP proof's key thumbprint and `jti`.
    DpopProof,
}

impl Once {
    fn label(self) -> &'static str {
        match self {
            Once::State => "state",
            Once::LogoutToken => "logout_token",
            Once::DpopProof => "dpop_proof",
        }
    }
}

/// What a logout ends, for sessions the store cannot delete (the cookie
/// store keeps them in browsers): refused until `until` (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Revocation<'a> {
    /// One session, by its id (RP-initiated logout).
    Session { id: &'a str, until: i64 },
    /// Every session of `provider` whose ID token has this `sid`.
    Sid {
        provider: &'a str,
        sid: &'a str,
        until: i64,
    },
    /// Every session of `provider` and `sub` that started at or before `at_ms`.
    Sub {
        provider: &'a str,
        sub: &'a str,
        at_ms: i64,
        until: i64,
    },
}

/// The sessions a back-channel logout names (Back-Channel Logout 1.0 §2.7):
/// by `sid` when the token has one (and then of `sub` too, when given),
/// otherwise every session of `sub`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogoutTarget<'a> {
    pub(crate) provider: &'a str,
    pub(crate) sid: Option<&'a str>,
    pub(crate) sub: Option<&'a str>,
    /// When the logout happened (Unix ms): by `sub` alone, it ends the
    /// sessions authenticated until then, not the user's later logins.
    pub(crate) at_ms: i64,
}

/// A won claim on a refresh, to hand back with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease(pub(crate) String);

/// What [`SharedState::claim_refresh`] found.
#[derive(Debug, Clone)]
pub(crate) enum Claim {
    /// The refresh was made already: its result.
    Shared(Arc<UserSession>),
    /// This caller makes the token request, and hands the lease back.
    Won(Lease),
    /// Someone else is making it: look again soon.
    Busy,
}

/// The one interface to server-side state.
#[rocket::async_trait]
pub(crate) trait SharedState: Send + Sync {
    /// Records `value` in `ledger` until `expires_at` (Unix seconds):
    /// true the first time, false if it was recorded before.
    async fn first_use(&self, ledger: Once, value: &str, expires_at: i64) -> Result<bool, StateError>;

    /// Whether `value` was recorded in `ledger` and is still live (a
    /// look, recording nothing).
    async fn was_used(&self, ledger: Once, value: &str) -> Result<bool, StateError>;

    /// Records a logout of sessions kept in browsers.
    async fn revoke(&self, revocation: Revocation<'_>) -> Result<(), StateError>;

    /// Whether a recorded logout ends `session`, a session kept in a
    /// browser (the cookie store). With Redis, also whether it was
    /// authenticated before Redis lost its data (and the logouts with it).
    async fn is_revoked(&self, session: &UserSession) -> Result<bool, StateError>;

    /// Notes the login of `session`, a session kept in a browser: with
    /// Redis, it starts the epoch [`SharedState::is_revoked`] checks
    /// against, if Redis has none.
    async fn note_login(&self, session: &UserSession) -> Result<(), StateError>;

    /// Whether a recorded logout by `sid` or `sub` ends `session`, a
    /// session just stored server-side: a back-channel logout that arrived
    /// while its login finished.
    async fn ended_by_logout(&self, session: &UserSession) -> Result<bool, StateError>;

    /// The stored session with this id, unless it expired.
    async fn load_session(&self, id: &str) -> Result<Option<Arc<UserSession>>, StateError>;

    /// Stores a new session (a login). Past `sessions_per_subject`, the
    /// oldest session of the same provider and `sub` ends.
    async fn insert_session(&self, session: Arc<UserSession>) -> Result<(), StateError>;

    /// Replaces a stored session (a refresh); false, storing nothing, when
    /// it is no longer stored (it was logged out meanwhile).
    async fn replace_session(&self, session: Arc<UserSession>) -> Result<bool, StateError>;

    /// Deletes the session with this id.
    async fn remove_session(&self, id: &str) -> Result<(), StateError>;

    /// Deletes the stored sessions a back-channel logout names; how many.
    async fn end_sessions(&self, target: LogoutTarget<'_>) -> Result<usize, StateError>;

    /// In one atomic step: the result of a finished refresh of `key` while
    /// it is shared, or else a claim on making it for `lease`, or else
    /// [`Claim::Busy`] while someone else holds that claim. (Two steps
    /// would let a caller that looked before a refresh finished claim it
    /// after, and redeem a refresh token the provider already rotated.)
    async fn claim_refresh(&self, key: &RefreshKey, lease: Duration) -> Result<Claim, StateError>;

    /// Keeps a won claim for `lease` more, from now, while its holder is
    /// still at work: false when it is no longer this holder's (it ran
    /// out, and someone else may hold it now).
    async fn extend_refresh(&self, key: &RefreshKey, lease: &Lease, duration: Duration) -> Result<bool, StateError>;

    /// Ends a claim: shares `result` (for `ttl`) when the refresh worked.
    async fn finish_refresh(
        &self,
        key: &RefreshKey,
        lease: Lease,
        result: Option<(&Arc<UserSession>, Duration)>,
    ) -> Result<(), StateError>;
}

/// Identifies one refresh: a session, its refresh token and the access
/// token being replaced (a hash; the tokens never become keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RefreshKey(pub(crate) [u8; 32]);

/// SHA-256 of the parts, each followed by a zero byte (so `("ab","c")`
/// and `("a","bc")` differ).
pub(crate) fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}
