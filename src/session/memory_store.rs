//! A server-side session store in this process's memory (`store = "memory"`).
//!
//! The browser holds only a random session id in an encrypted cookie; the
//! session itself stays here. Removing it (logout, back-channel logout)
//! makes any copy of the cookie worthless at once. Bounded: past
//! [`MAX_SESSIONS`], expired sessions are dropped, then the oldest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::OidcError;
use crate::session::{SessionCookies, SessionStore, UserSession};

/// The cookie holding the session id.
const COOKIE: &str = "oidc_sid";
/// The most sessions kept.
const MAX_SESSIONS: usize = 100_000;

/// Keeps sessions in memory (`store = "memory"`); for one app instance.
///
/// ```rust
/// use rocket_openidconnect::MemoryStore;
///
/// let store = MemoryStore::new(3600);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    lifetime_seconds: i64,
    sessions: Mutex<HashMap<String, Arc<UserSession>>>,
}

impl MemoryStore {
    /// A store whose sessions live at most `lifetime_seconds`.
    pub fn new(lifetime_seconds: u64) -> MemoryStore {
        MemoryStore {
            lifetime_seconds: i64::try_from(lifetime_seconds).unwrap_or(i64::MAX),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

#[rocket::async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, cookies: &SessionCookies) -> Option<Arc<UserSession>> {
        let id = cookies.get(COOKIE)?;
        let sessions = self.sessions.lock().ok()?;
        sessions.get(&id).filter(|s| !s.is_expired(Self::now())).cloned()
    }

    async fn save(&self, cookies: &SessionCookies, session: &UserSession) -> Result<(), OidcError> {
        let now = Self::now();
        if let Ok(mut sessions) = self.sessions.lock() {
            if sessions.len() >= MAX_SESSIONS && !sessions.contains_key(&session.id) {
                sessions.retain(|_, s| !s.is_expired(now));
                if sessions.len() >= MAX_SESSIONS {
                    let oldest = sessions.values().min_by_key(|s| s.expires_at).map(|s| s.id.clone());
                    if let Some(oldest) = oldest {
                        sessions.remove(&oldest);
                    }
                }
            }
            sessions.insert(session.id.clone(), Arc::new(session.clone()));
        }
        let max_age = (session.expires_at - now).clamp(0, self.lifetime_seconds);
        cookies.set(COOKIE, &session.id, max_age);
        Ok(())
    }

    async fn remove(&self, cookies: &SessionCookies) {
        if let Some(id) = cookies.get(COOKIE) {
            if let Ok(mut sessions) = self.sessions.lock() {
                sessions.remove(&id);
            }
        }
        if !cookies.names_with_prefix(COOKIE).is_empty() {
            cookies.remove(COOKIE);
        }
    }

    async fn end_sessions(&self, provider: &str, sid: Option<&str>, sub: Option<&str>) -> usize {
        let Ok(mut sessions) = self.sessions.lock() else {
            return 0;
        };
        let before = sessions.len();
        sessions.retain(|_, session| !session.matches_logout(provider, sid, sub));
        before - sessions.len()
    }
}
