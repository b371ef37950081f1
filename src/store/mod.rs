//! The server-side store: everything one request leaves for later
//! ones that is not in the browser. Used `state`s, back-channel logout
//! token ids, logged-out sessions, sessions of the `memory` and `redis`
//! stores, and refresh coordination all go through [`SharedStore`], which
//! has two implementations: [`local::LocalStore`] (this process, bounded)
//! and [`redis::RedisStore`] (every instance of the app sharing one Redis).
//!
//! Both implementations fail closed: a ledger that cannot record a value
//! (full of live entries, or Redis unreachable) makes the request that
//! needs it fail with [`StoreError`] (`503`), never admits it unchecked.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::clock::{UnixMillis, UnixTime};
use crate::session::UserSession;

pub(crate) mod ledger;
pub(crate) mod local;
pub(crate) mod logout_file;
pub(crate) mod logout_records;
pub(crate) mod quota;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(not(feature = "redis"))]
#[path = "redis_absent.rs"]
pub(crate) mod redis;
pub(crate) mod sessions;

/// Why the state cannot be set up at launch, naming the key at fault (a
/// Redis table that cannot be used, a logout records file that cannot be).
#[derive(Debug)]
pub(crate) struct StoreSetupError {
    pub(crate) key: &'static str,
    pub(crate) message: String,
}

pub(crate) use crate::error::StoreError;

/// The single-use ledgers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Once {
    /// A login's `state`, when its callback comes, before its code is
    /// redeemed (anyone can send a callback: in process, such records give
    /// way to newer ones when the ledger is full, and [`Once::LoginOfState`]
    /// keeps the states that gave a login).
    State,
    /// A login's `state` whose code gave a login; its owner is the user
    /// (provider and `sub`), whose share bounds what one account can hold.
    LoginOfState,
    /// A back-channel logout token's `iss` and `jti`.
    LogoutToken,
    /// A DPoP proof's key thumbprint and `jti`; its owner is whom its
    /// token speaks for (subject and client), whatever the key.
    DpopProof,
}

impl Once {
    /// The ledger's name in Redis keys.
    #[cfg(feature = "redis")]
    fn label(self) -> &'static str {
        match self {
            Once::State | Once::LoginOfState => "state",
            Once::LogoutToken => "logout_token",
            Once::DpopProof => "dpop_proof",
        }
    }
}

/// What a logout ends, for sessions the store cannot delete (the cookie
/// store keeps them in browsers): refused until `until`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LogoutRecord<'a> {
    /// One session (RP-initiated logout, a new login in the same browser,
    /// inactivity): by its id, recorded as one of its user's, who holds at
    /// most a share of single records (past it, they become one record of
    /// the user's sessions authenticated until the latest of them).
    Session {
        id: &'a str,
        provider: &'a str,
        sub: &'a str,
        login: UnixMillis,
        until: UnixTime,
    },
    /// Every session of `provider` whose ID token has this `sid`; logged
    /// out `at`, of `sub` when the provider named one (the record is
    /// then one of that user's, within their share).
    Sid {
        provider: &'a str,
        sid: &'a str,
        sub: Option<&'a str>,
        at: UnixMillis,
        until: UnixTime,
    },
    /// Every session of `provider` and `sub` that started at or before `at`.
    Sub {
        provider: &'a str,
        sub: &'a str,
        at: UnixMillis,
        until: UnixTime,
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
    /// When the logout happened: by `sub` alone, it ends the sessions
    /// authenticated until then, not the user's later logins.
    pub(crate) at: UnixMillis,
}

/// A won claim on a refresh, to hand back with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefreshLease(pub(crate) String);

/// What [`SharedStore::claim_refresh`] found.
#[derive(Debug, Clone)]
pub(crate) enum RefreshClaim {
    /// The refresh was made already: its result.
    Shared(Arc<UserSession>),
    /// This caller makes the token request, and hands the lease back.
    Leased(RefreshLease),
    /// Someone else is making it: look again soon.
    Busy,
}

/// The one interface to the server-side store.
#[rocket::async_trait]
pub(crate) trait SharedStore: Send + Sync {
    /// Records `value` in `ledger` until `expires_at`, for
    /// `owner` (who holds at most a share of the ledger): true the first
    /// time, false if it was recorded before.
    async fn first_use(
        &self,
        ledger: Once,
        value: &str,
        owner: Option<&str>,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Since when the single-use ledgers remember: in-process, since the
    /// process started (what came before it may have been used then); with
    /// Redis, always.
    fn remembers_since(&self) -> UnixMillis;

    /// Whether logouts are kept where a restart of this process finds
    /// them (a record on disk, Redis). Where they are not, every cookie
    /// session accepted began in this process, under today's settings.
    fn logouts_outlive_restarts(&self) -> bool;

    /// Whether `value` was recorded in `ledger` and is still live (a
    /// look, recording nothing).
    async fn was_used(&self, ledger: Once, value: &str) -> Result<bool, StoreError>;

    /// Records a logout of sessions kept in browsers.
    async fn record_logout(&self, record: LogoutRecord<'_>) -> Result<(), StoreError>;

    /// Whether a recorded logout ends `session`, a session kept in a
    /// browser (the cookie store); or whether it began before the logouts
    /// kept now began to be kept (the epoch: a restart of this process
    /// without a record of logouts on disk, Redis losing its data), and
    /// may then have been logged out unrecorded.
    async fn is_logged_out(&self, session: &UserSession) -> Result<bool, StoreError>;

    /// Notes the login of `session`, a session kept in a browser; the
    /// epoch to stamp it with, where the store names epochs (Redis: the
    /// one in force, started now if Redis has none).
    async fn note_login(&self, session: &UserSession) -> Result<Option<String>, StoreError>;

    /// Whether a recorded logout by `sid` or `sub` ends `session`, a
    /// session just stored server-side: a back-channel logout that arrived
    /// while its login finished.
    async fn ended_by_logout(&self, session: &UserSession) -> Result<bool, StoreError>;

    /// The stored session with this id, unless it expired.
    async fn load_session(&self, id: &str) -> Result<Option<Arc<UserSession>>, StoreError>;

    /// Stores a new session (a login). Past `sessions_per_subject`, the
    /// oldest session of the same provider and `sub` ends.
    async fn insert_session(&self, session: Arc<UserSession>) -> Result<(), StoreError>;

    /// Replaces a stored session (a refresh); false, storing nothing, when
    /// it is no longer stored (it was logged out meanwhile).
    async fn replace_session(&self, session: Arc<UserSession>) -> Result<bool, StoreError>;

    /// Deletes the session with this id.
    async fn remove_session(&self, id: &str) -> Result<(), StoreError>;

    /// Deletes the stored sessions a back-channel logout names; how many.
    async fn end_sessions(&self, target: LogoutTarget<'_>) -> Result<usize, StoreError>;

    /// In one atomic step: the result of a finished refresh of `key` while
    /// it is shared, or else a claim on making it for `lease`, or else
    /// [`RefreshClaim::Busy`] while someone else holds that claim. (Two steps
    /// would let a caller that looked before a refresh finished claim it
    /// after, and redeem a refresh token the provider already rotated.)
    async fn claim_refresh(&self, key: &RefreshKey, lease: Duration) -> Result<RefreshClaim, StoreError>;

    /// Keeps a won claim for `lease` more, from now, while its holder is
    /// still at work: false when it is no longer this holder's (it ran
    /// out, and someone else may hold it now).
    async fn extend_refresh(
        &self,
        key: &RefreshKey,
        lease: &RefreshLease,
        duration: Duration,
    ) -> Result<bool, StoreError>;

    /// Ends a claim: shares `result` (for `ttl`) when the refresh worked.
    async fn finish_refresh(
        &self,
        key: &RefreshKey,
        lease: RefreshLease,
        result: Option<(&Arc<UserSession>, Duration)>,
    ) -> Result<(), StoreError>;
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
