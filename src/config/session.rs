//! The `[default.oidc.session]` table: where sessions live and for how long.

use serde::Deserialize;

use super::error::Problems;
use super::{MAX_CACHE_ENTRIES, MAX_LIFETIME_SECONDS};
/// The `[default.oidc.session]` table.
///
/// ```rust
/// use rocket_openidconnect::config::SessionConfig;
///
/// let session = SessionConfig::default();
/// assert_eq!(session.lifetime_seconds, 31 * 24 * 3600);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionConfig {
    /// `store` (default `"cookie"`): where sessions live. `"cookie"` keeps
    /// them in encrypted cookies, split across several when large.
    #[serde(default)]
    pub store: SessionStoreKind,
    /// `lifetime_seconds` (default `2678400`, 31 days): absolute lifetime of
    /// a session from the login that created it.
    #[serde(default = "default_session_lifetime")]
    pub lifetime_seconds: u64,
    /// `inactivity_timeout_seconds` (default `0`, off): a session unused
    /// this long ends. Its activity stamp is renewed at most every tenth of
    /// the timeout (between 1 s and 5 min), so most requests store nothing.
    /// A session keeps the timeout it began with: it is held to the shorter
    /// of that and the one configured now, so turning the timeout off (or
    /// raising it) frees no session begun under a shorter one, nor a copy of
    /// one logged out.
    #[serde(default)]
    pub inactivity_timeout_seconds: u64,
    /// `cache_entries` (default `10000`, `0`: off, at most `10000000`): session cookies this
    /// process remembers having opened, by their exact sealed value, so a
    /// logged-in request costs no decryption and no parse. Expiry and
    /// logouts are still checked on every request.
    #[serde(default = "default_session_cache_entries")]
    pub cache_entries: usize,
    /// `max_cookie_chunks` (default `8`, from 1 to 8): how many cookies of
    /// about 4 KB a session of the `cookie` store may take. Proxies and
    /// servers commonly refuse a `Cookie` header past 8 KB (`431`, or a
    /// silent login loop); `2` keeps the session under it. A login whose
    /// session needs more is answered `502 session_too_large`, naming what
    /// takes the room, and never loops.
    #[serde(default = "default_max_cookie_chunks")]
    pub max_cookie_chunks: usize,
    /// `logout_records_path` (optional; the `cookie` store without
    /// `[oidc.redis]`): a file
    /// where this process writes down its logouts, so that they outlive a
    /// restart. One process per file (a lock refuses a second), written
    /// owner-only. Without it (and without Redis), a restart forgets the
    /// logouts of the `cookie` store, so every cookie session authenticated
    /// before the restart is refused once (the users log in again).
    #[serde(default)]
    pub logout_records_path: Option<std::path::PathBuf>,
}

fn default_max_cookie_chunks() -> usize {
    MAX_COOKIE_CHUNKS
}

/// The most cookies one session may use (`session.max_cookie_chunks`).
pub(crate) const MAX_COOKIE_CHUNKS: usize = 8;

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            store: SessionStoreKind::default(),
            lifetime_seconds: default_session_lifetime(),
            inactivity_timeout_seconds: 0,
            cache_entries: default_session_cache_entries(),
            max_cookie_chunks: default_max_cookie_chunks(),
            logout_records_path: None,
        }
    }
}

/// The value of `session.store`.
///
/// ```rust
/// use rocket_openidconnect::config::SessionStoreKind;
///
/// assert_eq!(SessionStoreKind::default(), SessionStoreKind::Cookie);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionStoreKind {
    /// Encrypted, authenticated cookies (Rocket's `secret_key` derives the key).
    #[default]
    Cookie,
    /// In this process's memory, bounded, with only a session id in the
    /// cookie: logout makes a captured cookie worthless, and back-channel
    /// logout ends sessions at once. Sessions do not survive a restart,
    /// and other instances of the app do not see them.
    Memory,
    /// In Redis (`[oidc.redis]`), with only a session id in the cookie:
    /// like `"memory"`, for every instance of the app at once.
    Redis,
}

fn default_session_lifetime() -> u64 {
    31 * 24 * 3600
}

fn default_session_cache_entries() -> usize {
    10_000
}

impl SessionConfig {
    /// What serde cannot check of this table.
    pub(super) fn problems(&self, problems: &mut Problems<'_>) {
        // Browsers keep a cookie 400 days at most (RFC 6265bis §5.6).
        if self.lifetime_seconds == 0 || self.lifetime_seconds > MAX_LIFETIME_SECONDS {
            problems.add("lifetime_seconds", "must be between 1 and 34560000 (400 days)");
        }
        if !(1..=MAX_COOKIE_CHUNKS).contains(&self.max_cookie_chunks) {
            problems.add(
                "max_cookie_chunks",
                &format!("must be between 1 and {MAX_COOKIE_CHUNKS}"),
            );
        }
        if self.cache_entries > MAX_CACHE_ENTRIES {
            problems.add("cache_entries", "must be at most 10000000");
        }
        if self.inactivity_timeout_seconds > self.lifetime_seconds {
            problems.add(
                "inactivity_timeout_seconds",
                "must not be longer than `session.lifetime_seconds`",
            );
        }
    }
}
