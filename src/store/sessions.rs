//! Where sessions live (`session.store`): in the browser's cookies (the
//! default), or server-side (`memory`, `redis`) with only a sealed random
//! session id in the browser. Either way, a logout is honoured: cookie
//! sessions are refused through recorded revocations, server-side ones are
//! deleted.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::clock::{AppClock, UnixTime};
use crate::config::{SessionConfig, SessionStoreKind};
use crate::error::OidcError;
use crate::session::UserSession;
use crate::session::cookie::{self, FromCookies, MAX_SESSION_BYTES, Opened, PROXY_HEADER_BYTES};
use crate::session::decoded::Decoded;
use crate::session::jar::{Jar, SESSION_ID, session_chunk};
use crate::store::{LogoutRecord, LogoutTarget, SharedStore};

/// How long a login may take at the provider (its pending state lives as
/// long): a logout recorded for a server-side store only has to outlive a
/// login that began before it.
pub(crate) const LOGIN_SECONDS: i64 = 600;

pub(crate) struct SessionStore {
    kind: SessionStoreKind,
    state: Arc<dyn SharedStore>,
    lifetime_seconds: i64,
    /// `session.inactivity_timeout_seconds` (0: off).
    inactivity_seconds: i64,
    /// `http_timeout_seconds`: how long each token request of a login may
    /// take.
    http_timeout_seconds: i64,
    /// `session.max_cookie_chunks`.
    max_cookie_chunks: usize,
    /// Session cookies opened before (the cookie store).
    opened: Option<Decoded<Opened>>,
    /// Session id cookies opened before (the server-side stores), and
    /// whether they were sealed under a previous key.
    ids: Option<Decoded<(Arc<str>, bool)>>,
    /// The providers whose sessions were said to be too large for proxies
    /// (once each).
    warned_large: Mutex<HashSet<String>>,
    clock: AppClock,
}

impl SessionStore {
    pub(crate) fn new(
        config: &SessionConfig,
        http_timeout_seconds: u64,
        state: Arc<dyn SharedStore>,
        clock: AppClock,
    ) -> SessionStore {
        SessionStore {
            kind: config.store,
            state,
            lifetime_seconds: i64::try_from(config.lifetime_seconds).unwrap_or(i64::MAX),
            inactivity_seconds: i64::try_from(config.inactivity_timeout_seconds).unwrap_or(i64::MAX),
            http_timeout_seconds: i64::try_from(http_timeout_seconds).unwrap_or(i64::MAX),
            max_cookie_chunks: config.max_cookie_chunks,
            opened: Decoded::new("session", config.cache_entries),
            ids: Decoded::new("session_id", config.cache_entries),
            warned_large: Mutex::new(HashSet::new()),
            clock,
        }
    }

    /// The id in the session id cookie of `jar`, and whether the cookie was
    /// sealed under a previous key.
    fn session_id(&self, jar: &Jar) -> Option<(Arc<str>, bool)> {
        let open = || jar.get_checked(SESSION_ID).map(|id| (Arc::from(id.value), id.stale));
        let Some(ids) = &self.ids else {
            return open();
        };
        let sealed = jar.sealed(SESSION_ID)?;
        if let Some(id) = ids.get(sealed) {
            return Some(id);
        }
        let id = open()?;
        ids.put(sealed, id.clone());
        Some(id)
    }

    /// The cached copy of the sealed `value` of the cookie `name`, if this
    /// store opened exactly these bytes before (see [`Jar::sharing`]).
    pub(crate) fn known_sealed(&self, name: &str, value: &str) -> Option<Arc<str>> {
        match name {
            SESSION_ID => self.ids.as_ref()?.bytes(value),
            _ if name == session_chunk(0) => self.opened.as_ref()?.bytes(value),
            _ => None,
        }
    }

    fn server_side(&self) -> bool {
        self.kind != SessionStoreKind::Cookie
    }

    /// The session of the browser behind `jar`, if it has a valid one.
    /// Unreadable cookies count as no session; a store that cannot
    /// answer is an error (`503`), never a session let through unchecked.
    pub(crate) async fn load(&self, jar: &Jar) -> Result<Option<Arc<UserSession>>, OidcError> {
        let Some(session) = self.load_stored(jar).await? else {
            return Ok(None);
        };
        // The lifetime configured now holds, not only the one stamped at
        // login: a lifetime made shorter ends the sessions it would have
        // ended, copies of logged-out ones included (their logout records
        // last as long as that lifetime, no longer).
        if self.outlived(&session, self.clock.time()) {
            if self.server_side() {
                jar.remove(SESSION_ID);
            } else {
                cookie::remove(jar);
            }
            return Ok(None);
        }
        let Some(timeout) = self.idle_timeout(&session) else {
            return Ok(Some(session));
        };
        let now = self.clock.time();
        let idle = now.secs_since(session.seen_at());
        // The rare paths run in futures of their own, so that the guards'
        // futures stay small (one is allocated on every request).
        if idle > timeout {
            // The session ends; copies of its cookies are refused for the
            // little while they could still be in use. Should that record
            // fail (a full ledger, Redis down), this request still has no
            // session: refusing is never the unsafe side.
            if let Err(error) = Box::pin(self.end(jar)).await {
                event!(
                    warn,
                    "oidc: an idle session ended, but its end could not be recorded: {error}"
                );
            }
            return Ok(None);
        }
        // The activity stamp is renewed coarsely: a tenth of the timeout,
        // between 1 s and 5 minutes.
        if idle < (timeout / 10).clamp(1, 300) {
            return Ok(Some(session));
        }
        let mut seen = (*session).clone();
        seen.last_seen = now;
        let seen = Arc::new(seen);
        if Box::pin(self.update(jar, &seen)).await? {
            Ok(Some(seen))
        } else {
            Ok(None)
        }
    }

    async fn load_stored(&self, jar: &Jar) -> Result<Option<Arc<UserSession>>, OidcError> {
        if self.server_side() {
            let Some((id, stale)) = self.session_id(jar) else {
                return Ok(None);
            };
            let session = self.state.load_session(&id).await?;
            match &session {
                // Logged out, expired or evicted: the cookie is of no use.
                None => jar.remove(SESSION_ID),
                // Sealed under a previous key (a key rotation): sealed again.
                Some(session) if stale => jar.set(SESSION_ID, &id, self.max_age(session)),
                Some(_) => {}
            }
            return Ok(session);
        }
        let loaded = match &self.opened {
            Some(opened) => cookie::load_cached(jar, opened, self.clock.time()),
            None => cookie::load_uncached(jar, self.clock.time()),
        };
        let Some(FromCookies { session, stale }) = loaded else {
            return Ok(None);
        };
        if self.state.is_logged_out(&session).await? {
            cookie::remove(jar);
            return Ok(None);
        }
        if stale {
            self.save(jar, &session)?;
        }
        Ok(Some(session))
    }

    /// Writes a cookie-store session into `jar`; the first time a
    /// provider's sessions make a `Cookie` header too large for common
    /// proxies, says so in the log, with what made them large.
    fn save(&self, jar: &Jar, session: &UserSession) -> Result<(), OidcError> {
        let size = cookie::save(
            jar,
            session,
            self.lifetime_seconds,
            self.max_cookie_chunks,
            self.clock.time(),
        )?;
        let (chunks, bytes) = cookie::cookie_cost(size, self.max_cookie_chunks);
        if bytes > PROXY_HEADER_BYTES {
            let first = self
                .warned_large
                .lock()
                .map(|mut warned| warned.insert(session.provider.clone()))
                .unwrap_or(false);
            if first {
                event!(
                    warn,
                    "oidc: sessions of provider `{}` take {bytes} bytes of `Cookie` header in {chunks} cookies, more than \
                     the {PROXY_HEADER_BYTES} many proxies accept (they answer 431 before the app sees the request); \
                     largest parts: {}. Keep fewer claims (`providers.{}.session.drop_claims`), or keep sessions \
                     server-side (`session.store = \"memory\"` or `\"redis\"`)",
                    session.provider,
                    session.size_report(),
                    session.provider,
                );
            }
        }
        Ok(())
    }

    /// Keeps the session of a new login as this browser's only session.
    pub(crate) async fn start(&self, jar: &Jar, session: UserSession) -> Result<(), OidcError> {
        // Whatever session this browser had (another provider's, an older
        // login) ends here, copies of its cookies included.
        self.end(jar).await?;
        let mut session = session;
        session.idle_seconds = (self.inactivity_seconds > 0).then_some(self.inactivity_seconds);
        if !self.server_side() {
            session.epoch = self.state.note_login(&session).await?;
            return self.save(jar, &session);
        }
        check_size(&session)?;
        let (id, max_age) = (session.id.clone(), self.max_age(&session));
        let session = Arc::new(session);
        self.state.insert_session(session.clone()).await?;
        // A back-channel logout of this `sid` or `sub` that arrived while
        // the login finished found nothing stored to delete; its record
        // ends the session now (it records before deleting, so one of the
        // two always sees the other).
        if self.state.ended_by_logout(&session).await? {
            self.state.remove_session(&id).await?;
            return Err(OidcError::SessionEnded(
                "a logout at the provider arrived while the login finished".into(),
            ));
        }
        jar.set(SESSION_ID, &id, max_age);
        Ok(())
    }

    /// Stores a refreshed session. False, storing nothing, when the session
    /// ended while it was refreshed (a logout): a refresh never brings a
    /// logged-out session back.
    pub(crate) async fn update(&self, jar: &Jar, session: &Arc<UserSession>) -> Result<bool, OidcError> {
        if self.server_side() {
            check_size(session)?;
            return Ok(self.state.replace_session(session.clone()).await?);
        }
        if self.state.is_logged_out(session).await? {
            return Ok(false);
        }
        self.save(jar, session)?;
        Ok(true)
    }

    /// Ends the session of the browser behind `jar` (logout): its cookies
    /// go, and the session is refused from now on wherever a copy of its
    /// cookies turns up. Returns the session if it was valid until now.
    /// The cookies are removed even when the store fails (`503`).
    pub(crate) async fn end(&self, jar: &Jar) -> Result<Option<Arc<UserSession>>, OidcError> {
        if self.server_side() {
            let id = jar.get(SESSION_ID);
            if jar.has(SESSION_ID) {
                jar.remove(SESSION_ID);
            }
            let Some(id) = id else {
                return Ok(None);
            };
            let session = self.state.load_session(&id).await?;
            self.state.remove_session(&id).await?;
            return Ok(session);
        }
        let session = cookie::load(jar, self.clock.time());
        cookie::remove(jar);
        let Some(session) = session else {
            return Ok(None);
        };
        if self.state.is_logged_out(&session).await? {
            return Ok(None);
        }
        let record = LogoutRecord::Session {
            id: &session.id,
            provider: &session.provider,
            sub: &session.sub,
            login: session.last_authenticated,
            until: self.revoked_until(&session),
        };
        self.state.record_logout(record).await?;
        Ok(Some(Arc::new(session)))
    }

    /// Ends every session a back-channel logout names; the number of
    /// stored sessions deleted (cookie sessions are refused instead, when
    /// they come back).
    ///
    /// The logout is recorded for every store, server-side ones included:
    /// a login of that `sid` or `sub` finishing meanwhile is ended by it
    /// (see [`SessionStore::start`]). Recording it again changes nothing,
    /// so a provider may send the same logout again after a failure (`503`).
    pub(crate) async fn end_matching(&self, target: LogoutTarget<'_>) -> Result<usize, OidcError> {
        // Sessions in cookies are refused for as long as they could live;
        // stored ones are deleted below, and the record only has to catch a
        // login finishing meanwhile (a login takes at most as long as its
        // state lives, and its token requests their timeouts).
        let now = self.clock.time();
        let until = if self.server_side() {
            now.plus_secs(LOGIN_SECONDS)
                .plus_secs(self.http_timeout_seconds.saturating_mul(3))
        } else if self.inactivity_seconds > 0 && !self.state.logouts_outlive_restarts() {
            // Every session accepted began in this process, under today's
            // inactivity timeout: none outlives it idle, and a copy of a
            // logged-out one is idle from the logout on.
            now.plus_secs(self.lifetime_seconds.min(self.inactivity_seconds.saturating_add(1)))
        } else {
            // A session of that user may have begun, before a restart, with
            // no inactivity timeout: the lifetime bounds them all.
            now.plus_secs(self.lifetime_seconds)
        };
        let record = match (target.sid, target.sub) {
            (Some(sid), sub) => LogoutRecord::Sid {
                provider: target.provider,
                sid,
                sub,
                at: target.at,
                until,
            },
            (None, Some(sub)) => LogoutRecord::Sub {
                provider: target.provider,
                sub,
                at: target.at,
                until,
            },
            (None, None) => return Ok(0),
        };
        self.state.record_logout(record).await?;
        if self.server_side() {
            return Ok(self.state.end_sessions(target).await?);
        }
        Ok(0)
    }

    /// How long the logout of `session` must be remembered: until it
    /// would have expired, by the lifetime it began with (a lifetime
    /// configured later, shorter or longer, never lets it live past that)
    /// or, sooner, by the inactivity timeout it began with (a copy of a
    /// logged-out cookie is idle from the logout on, and a timeout
    /// configured later only ever shortens its idleness).
    fn revoked_until(&self, session: &UserSession) -> UnixTime {
        let now = self.clock.time();
        let lifetime = session.expires_at;
        match session.idle_seconds.filter(|idle| *idle > 0) {
            Some(idle) => lifetime.min(now.plus_secs(idle).plus_secs(1)),
            None => lifetime,
        }
    }

    /// The inactivity timeout `session` is held to: the one configured now
    /// or the one it began with, whichever is shorter (`None`: neither).
    fn idle_timeout(&self, session: &UserSession) -> Option<i64> {
        let now = (self.inactivity_seconds > 0).then_some(self.inactivity_seconds);
        let then = session.idle_seconds.filter(|idle| *idle > 0);
        match (now, then) {
            (Some(now), Some(then)) => Some(now.min(then)),
            (now, then) => now.or(then),
        }
    }

    /// Whether `session` was authenticated longer ago than the session
    /// lifetime configured now.
    fn outlived(&self, session: &UserSession, now: UnixTime) -> bool {
        let login = session.last_authenticated.as_secs();
        login.plus_secs(self.lifetime_seconds) <= now
    }

    fn max_age(&self, session: &UserSession) -> i64 {
        session
            .expires_at
            .secs_since(self.clock.time())
            .clamp(0, self.lifetime_seconds)
    }
}

/// A server-side session is bounded like a cookie one, so no login can
/// fill the store with one huge session.
fn check_size(session: &UserSession) -> Result<(), OidcError> {
    let size = session.to_json().len();
    if size > MAX_SESSION_BYTES {
        return Err(OidcError::SessionTooLarge {
            size,
            limit: MAX_SESSION_BYTES,
            parts: session.size_report(),
        });
    }
    Ok(())
}
