//! Server-side state in this process's memory: every ledger bounded by
//! `[oidc.limits]`, expiring entries dropped in order of expiry.
//!
//! The single-use and logout ledgers refuse new entries when full of live
//! ones (the request gets `503`) rather than forget one: forgetting a used
//! `state`, a logout token id or a logged-out session would let it in
//! again. And no one client fills them for everyone: what an anonymous
//! request can leave (the `state` of a callback whose code was not yet
//! redeemed) gives way to newer entries, and what an account or the DPoP
//! tokens of one subject leave is bounded by its share (`*_per_subject`):
//! past it, that client is refused (`429`), nobody else is. Sessions too
//! are never taken from another user: a login makes room from its own
//! user's sessions (past `sessions_per_subject` the oldest ends) and from
//! expired ones, and a store still full refuses it.
//!
//! A restart forgets what the process knew, unless its logouts are written
//! down (`session.logout_records_path`): without that record, a cookie
//! session authenticated before the process started (its epoch) is refused
//! once, as it may have been logged out unrecorded.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{AppClock, UnixMillis, UnixTime};
use crate::config::LimitsConfig;
use crate::session::UserSession;
use crate::store::ledger::{Full, Ledger};
use crate::store::logout_file::{LogoutFile, Unusable};
use crate::store::logout_records::{LogoutRecords, Record};
use crate::store::quota::{QuotaLedger, Refusal};
use crate::store::{
    LogoutRecord, LogoutTarget, Once, RefreshClaim, RefreshKey, RefreshLease, SharedStore, StoreError, digest,
};
use crate::telemetry;

/// Bound on shared refresh results and claims (coordination only: losing
/// one costs a token request, so these evict rather than refuse).
const REFRESH_ENTRIES: usize = 10_000;

/// Bytes a line of the logout records file may take, to bound what is read.
const MAX_LINE_BYTES: u64 = 200;

type Digest = [u8; 32];

pub(crate) struct LocalStore {
    /// The `state`s of callbacks, from the moment they come: anyone can
    /// send one, so when full the oldest gives way (what the entry guards,
    /// a code's single redemption, the provider guards too, and
    /// `logins_of_states` keeps every state that gave a login).
    callback_states: Mutex<Ledger<Digest>>,
    /// The `state`s whose code gave a login, by user.
    logins_of_states: Mutex<QuotaLedger<Digest, Digest>>,
    logout_tokens: Arc<Mutex<Ledger<Digest>>>,
    /// DPoP proofs, by who their token speaks for.
    dpop_proofs: Mutex<QuotaLedger<Digest, Digest>>,
    logouts: Arc<Mutex<LogoutRecords>>,
    /// Where the logouts are written down, if anywhere.
    logout_file: Option<Arc<LogoutFile>>,
    /// False until the first logout record: most apps never have one, and
    /// their requests then skip the lock.
    any_revoked: AtomicBool,
    /// When the logouts kept began to be kept: the process's start, or
    /// the start of the record on disk.
    epoch: UnixMillis,
    /// With a record on disk, what its cookie sessions are stamped with
    /// (`file:<epoch>`): a session stamped otherwise was made where this
    /// record did not see its logout (another record, none, Redis).
    stamp: Option<String>,
    /// When this process started: the single-use ledgers know nothing
    /// from before.
    started: UnixMillis,
    sessions: Mutex<SessionTable>,
    /// Refresh results and leases live for less than a second or two:
    /// they count in milliseconds.
    refresh_results: Mutex<Ledger<RefreshKey, Arc<UserSession>, UnixMillis>>,
    refresh_leases: Mutex<Ledger<RefreshKey, String, UnixMillis>>,
    /// The app's clock.
    clock: AppClock,
}

fn locked<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    mutex
        .lock()
        .map_err(|_| StoreError::Unavailable("an in-process lock was poisoned".into()))
}

fn full(ledger: &'static str, capacity: usize, key: &'static str) -> impl FnOnce(Full) -> StoreError {
    move |_| StoreError::Full { ledger, capacity, key }
}

/// Records `value` for `owner` in a ledger of shares; `names` are what the
/// ledger holds and the keys of its capacity and of its shares, for the
/// refusals.
fn record_owned(
    ledger: &Mutex<QuotaLedger<Digest, Digest>>,
    value: Digest,
    owner: Digest,
    expires_at: UnixTime,
    now: UnixTime,
    names: (&'static str, &'static str, &'static str),
) -> Result<bool, StoreError> {
    let (what, capacity_key, share_key) = names;
    let mut ledger = locked(ledger)?;
    let (capacity, share) = (ledger.capacity(), ledger.share());
    ledger
        .insert_new(value, owner, expires_at, now)
        .map_err(|refusal| match refusal {
            Refusal::Full => StoreError::Full {
                ledger: what,
                capacity,
                key: capacity_key,
            },
            Refusal::OwnerFull => StoreError::OwnerFull {
                ledger: what,
                share,
                key: share_key,
            },
        })
}

impl LocalStore {
    /// The state for `limits`, its logouts written down at
    /// `logout_records_path` when given (read back, and the file taken for
    /// this process: the error says why it cannot be).
    pub(crate) fn new(
        limits: &LimitsConfig,
        logout_records_path: Option<&Path>,
        clock: AppClock,
    ) -> Result<LocalStore, Unusable> {
        let started = clock.time_ms();
        let mut logouts = LogoutRecords::new(limits.revocations, limits.revocations_per_subject);
        let mut logout_tokens = Ledger::new(limits.logout_tokens);
        let (logout_file, epoch) = match logout_records_path {
            None => (None, started),
            Some(path) => {
                let lines = limits
                    .revocations
                    .saturating_mul(6)
                    .saturating_add(limits.logout_tokens.saturating_mul(2))
                    .saturating_add(2_000);
                let max_bytes = u64::try_from(lines).unwrap_or(u64::MAX).saturating_mul(MAX_LINE_BYTES);
                let (file, read_back) = LogoutFile::open(path, clock.time(), started, max_bytes)?;
                let mut epoch = read_back.epoch;
                if let Some(why) = &read_back.started_anew {
                    event!(
                        error,
                        "oidc: the logout records could not be read back ({why}): they start again, and every \
                         cookie session authenticated before now is refused once"
                    );
                }
                let now = clock.time();
                let kept_all = read_back.records.into_iter().all(|record| match record {
                    Record::UsedToken { token, until } => logout_tokens.insert_new(token, until, (), now).is_ok(),
                    record => logouts.keep(record, now).is_ok(),
                });
                if !kept_all {
                    // More live records than the limits hold: rather than
                    // forget some, start again from now, on disk too.
                    event!(
                        error,
                        "oidc: the logout records hold more live records than `limits.revocations` (or \
                         `limits.logout_tokens`): they start again, and every cookie session authenticated before \
                         now is refused once; raise the limit"
                    );
                    logouts = LogoutRecords::new(limits.revocations, limits.revocations_per_subject);
                    logout_tokens = Ledger::new(limits.logout_tokens);
                    file.start_anew(started)?;
                    epoch = started;
                }
                (Some(Arc::new(file)), epoch)
            }
        };
        Ok(LocalStore {
            callback_states: Mutex::new(Ledger::new(limits.used_states)),
            logins_of_states: Mutex::new(QuotaLedger::new(limits.used_states, limits.used_states_per_subject)),
            logout_tokens: Arc::new(Mutex::new(logout_tokens)),
            dpop_proofs: Mutex::new(QuotaLedger::new(limits.dpop_proofs, limits.dpop_proofs_per_subject)),
            any_revoked: AtomicBool::new(logouts.len() > 0),
            logouts: Arc::new(Mutex::new(logouts)),
            stamp: logout_file.as_ref().map(|_| format!("file:{}", epoch.millis())),
            logout_file,
            epoch,
            started,
            sessions: Mutex::new(SessionTable::new(limits.sessions, limits.sessions_per_subject)),
            refresh_results: Mutex::new(Ledger::new(REFRESH_ENTRIES)),
            refresh_leases: Mutex::new(Ledger::new(REFRESH_ENTRIES)),
            clock,
        })
    }

    /// Keeps `record`, and writes down what was kept before the logout
    /// that made it answers.
    async fn keep(&self, record: Record) -> Result<(), StoreError> {
        let kept = {
            let mut logouts = locked(&self.logouts)?;
            let capacity = logouts.capacity();
            logouts.keep(record, self.clock.time()).map_err(full(
                "logged-out sessions",
                capacity,
                "oidc.limits.revocations",
            ))?
        };
        self.any_revoked.store(true, Ordering::Release);
        self.write_down(kept).await
    }

    /// Writes `record` in the file, if there is one (and, now and then,
    /// the file anew with what is live).
    async fn write_down(&self, record: Record) -> Result<(), StoreError> {
        let Some(file) = self.logout_file.clone() else {
            return Ok(());
        };
        let (logouts, tokens, clock) = (self.logouts.clone(), self.logout_tokens.clone(), self.clock.clone());
        let written = rocket::tokio::task::spawn_blocking(move || {
            file.append(&[record])?;
            let kept = logouts.lock().map(|l| l.len()).unwrap_or(0) + tokens.lock().map(|t| t.len()).unwrap_or(0);
            file.compact_if_long(kept, || {
                let now = clock.time();
                let mut live = logouts.lock().ok()?.live(now);
                let tokens = tokens.lock().ok()?;
                live.extend(
                    tokens
                        .live(now)
                        .map(|(token, until, ())| Record::UsedToken { token: *token, until }),
                );
                Some(live)
            })
        })
        .await;
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StoreError::Unwritten(error.to_string())),
            Err(_) => Err(StoreError::Unwritten("the writing task failed".into())),
        }
    }

    /// Whether a logout record ends `session`.
    fn ended(&self, session: &UserSession, by_id: bool) -> Result<bool, StoreError> {
        if !self.any_revoked.load(Ordering::Acquire) {
            return Ok(false);
        }
        let now = self.clock.time();
        let logouts = locked(&self.logouts)?;
        let subject = digest(&[&session.provider, &session.sub]);
        let sid = session.sid().map(|sid| digest(&[&session.provider, sid]));
        let login = session.last_authenticated;
        Ok(if by_id {
            logouts.ends(&digest(&[&session.id]), sid.as_ref(), &subject, login, now)
        } else {
            logouts.ends_by_provider(sid.as_ref(), &subject, login, now)
        })
    }
}

#[rocket::async_trait]
impl SharedStore for LocalStore {
    async fn first_use(
        &self,
        ledger: Once,
        value: &str,
        owner: Option<&str>,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let now = self.clock.time();
        let value = digest(&[value]);
        let owner = digest(&[owner.unwrap_or("")]);
        match ledger {
            Once::State => {
                // A state that gave a login stays used; one whose code is
                // only about to be redeemed gives way to newer ones when
                // full. A login that could not be recorded as one is
                // refused here, before its code is redeemed.
                let mut logins = locked(&self.logins_of_states)?;
                if logins.contains(&value, now) {
                    return Ok(false);
                }
                if !logins.has_room(now) {
                    return Err(StoreError::Full {
                        ledger: "used states",
                        capacity: logins.capacity(),
                        key: "oidc.limits.used_states",
                    });
                }
                drop(logins);
                let mut callbacks = locked(&self.callback_states)?;
                if callbacks.get(&value, now).is_some() {
                    return Ok(false);
                }
                callbacks.insert_evicting(value, expires_at, (), now);
                Ok(true)
            }
            Once::LoginOfState => record_owned(
                &self.logins_of_states,
                value,
                owner,
                expires_at,
                now,
                (
                    "used states",
                    "oidc.limits.used_states",
                    "oidc.limits.used_states_per_subject",
                ),
            ),
            Once::DpopProof => record_owned(
                &self.dpop_proofs,
                value,
                owner,
                expires_at,
                now,
                (
                    "DPoP proof ids",
                    "oidc.limits.dpop_proofs",
                    "oidc.limits.dpop_proofs_per_subject",
                ),
            ),
            Once::LogoutToken => {
                let first = {
                    let mut used = locked(&self.logout_tokens)?;
                    let capacity = used.capacity();
                    used.insert_new(value, expires_at, (), now).map_err(full(
                        "logout token ids",
                        capacity,
                        "oidc.limits.logout_tokens",
                    ))?
                };
                // Written down too: replayed after a restart, it is still
                // used.
                if first {
                    self.write_down(Record::UsedToken {
                        token: value,
                        until: expires_at,
                    })
                    .await?;
                }
                Ok(first)
            }
        }
    }

    fn remembers_since(&self) -> UnixMillis {
        self.started
    }

    fn logouts_outlive_restarts(&self) -> bool {
        self.stamp.is_some()
    }

    async fn was_used(&self, ledger: Once, value: &str) -> Result<bool, StoreError> {
        let now = self.clock.time();
        let value = digest(&[value]);
        Ok(match ledger {
            Once::State | Once::LoginOfState => {
                locked(&self.logins_of_states)?.contains(&value, now)
                    || locked(&self.callback_states)?.get(&value, now).is_some()
            }
            Once::DpopProof => locked(&self.dpop_proofs)?.contains(&value, now),
            Once::LogoutToken => locked(&self.logout_tokens)?.get(&value, now).is_some(),
        })
    }

    async fn record_logout(&self, record: LogoutRecord<'_>) -> Result<(), StoreError> {
        let record = match record {
            LogoutRecord::Session {
                id,
                provider,
                sub,
                login,
                until,
            } => Record::Session {
                session: digest(&[id]),
                subject: digest(&[provider, sub]),
                login,
                until,
            },
            LogoutRecord::Sid {
                provider,
                sid,
                sub,
                at,
                until,
            } => Record::Sid {
                sid: digest(&[provider, sid]),
                subject: sub.map(|sub| digest(&[provider, sub])),
                at,
                until,
            },
            LogoutRecord::Sub {
                provider,
                sub,
                at,
                until,
            } => Record::Sub {
                subject: digest(&[provider, sub]),
                at,
                until,
            },
        };
        self.keep(record).await
    }

    async fn is_logged_out(&self, session: &UserSession) -> Result<bool, StoreError> {
        // A session from before the logouts kept here began to be kept, or
        // made where this record did not see its logouts (stamped with
        // another, or none), may have been logged out unrecorded.
        let unseen = match &self.stamp {
            Some(stamp) => session.epoch.as_ref() != Some(stamp),
            None => session.epoch.is_some() || session.last_authenticated < self.epoch,
        };
        if unseen {
            return Ok(true);
        }
        self.ended(session, true)
    }

    async fn note_login(&self, _session: &UserSession) -> Result<Option<String>, StoreError> {
        Ok(self.stamp.clone())
    }

    async fn ended_by_logout(&self, session: &UserSession) -> Result<bool, StoreError> {
        self.ended(session, false)
    }
    async fn load_session(&self, id: &str) -> Result<Option<Arc<UserSession>>, StoreError> {
        Ok(locked(&self.sessions)?.get(id, self.clock.time()))
    }

    async fn insert_session(&self, session: Arc<UserSession>) -> Result<(), StoreError> {
        let mut sessions = locked(&self.sessions)?;
        let capacity = sessions.capacity;
        sessions
            .insert(session, self.clock.time())
            .map_err(full("sessions", capacity, "oidc.limits.sessions"))?;
        telemetry::sessions_stored("memory", sessions.len());
        Ok(())
    }

    async fn replace_session(&self, session: Arc<UserSession>) -> Result<bool, StoreError> {
        Ok(locked(&self.sessions)?.replace(session, self.clock.time()))
    }

    async fn remove_session(&self, id: &str) -> Result<(), StoreError> {
        let mut sessions = locked(&self.sessions)?;
        sessions.remove(id);
        telemetry::sessions_stored("memory", sessions.len());
        Ok(())
    }

    async fn end_sessions(&self, target: LogoutTarget<'_>) -> Result<usize, StoreError> {
        let mut sessions = locked(&self.sessions)?;
        let ended = sessions.end(target);
        telemetry::sessions_stored("memory", sessions.len());
        Ok(ended)
    }

    async fn claim_refresh(&self, key: &RefreshKey, lease: Duration) -> Result<RefreshClaim, StoreError> {
        let now = self.clock.time_ms();
        // The results' lock is held while the lease is looked at:
        // `finish_refresh` shares a result before it releases the lease, so
        // a free lease here means no result was shared meanwhile.
        let results = locked(&self.refresh_results)?;
        if let Some(done) = results.get(key, now) {
            return Ok(RefreshClaim::Shared(done.clone()));
        }
        let mut leases = locked(&self.refresh_leases)?;
        if leases.get(key, now).is_some() {
            return Ok(RefreshClaim::Busy);
        }
        let until = now.plus(lease);
        let token = crate::random::token();
        leases.insert_evicting(*key, until, token.clone(), now);
        Ok(RefreshClaim::Leased(RefreshLease(token)))
    }

    async fn extend_refresh(
        &self,
        key: &RefreshKey,
        lease: &RefreshLease,
        duration: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.time_ms();
        let mut leases = locked(&self.refresh_leases)?;
        if leases.get(key, now) != Some(&lease.0) {
            return Ok(false);
        }
        let until = now.plus(duration);
        leases.insert_evicting(*key, until, lease.0.clone(), now);
        Ok(true)
    }

    async fn finish_refresh(
        &self,
        key: &RefreshKey,
        lease: RefreshLease,
        result: Option<(&Arc<UserSession>, Duration)>,
    ) -> Result<(), StoreError> {
        let now = self.clock.time_ms();
        if let Some((session, ttl)) = result {
            let until = now.plus(ttl);
            locked(&self.refresh_results)?.insert_evicting(*key, until, session.clone(), now);
        }
        let mut leases = locked(&self.refresh_leases)?;
        if leases.get(key, now) == Some(&lease.0) {
            leases.remove(key);
        }
        Ok(())
    }
}

/// The sessions of the `memory` store, indexed for expiry, for each user's
/// cap and for back-channel logout.
struct SessionTable {
    capacity: usize,
    per_subject: usize,
    by_id: HashMap<String, Arc<UserSession>>,
    /// (expires_at, id): the next to expire first.
    by_expiry: BTreeSet<(UnixTime, String)>,
    /// (provider, sub) → (login, id): the user's oldest first.
    by_subject: HashMap<(String, String), BTreeSet<(UnixMillis, String)>>,
    /// (provider, sid) → ids.
    by_sid: HashMap<(String, String), HashSet<String>>,
}

impl SessionTable {
    fn new(capacity: usize, per_subject: usize) -> SessionTable {
        SessionTable {
            capacity: capacity.max(1),
            per_subject: per_subject.max(1),
            by_id: HashMap::new(),
            by_expiry: BTreeSet::new(),
            by_subject: HashMap::new(),
            by_sid: HashMap::new(),
        }
    }

    /// How many sessions it holds (expired ones included until evicted).
    fn len(&self) -> usize {
        self.by_id.len()
    }

    fn get(&self, id: &str, now: UnixTime) -> Option<Arc<UserSession>> {
        self.by_id.get(id).filter(|s| !s.is_expired(now)).cloned()
    }

    /// Stores a login's session. The user's own sessions make room first
    /// (past `per_subject` their oldest ends), then expired ones. A store
    /// still full of other users' live sessions refuses the login: one
    /// user never pushes out another.
    fn insert(&mut self, session: Arc<UserSession>, now: UnixTime) -> Result<(), Full> {
        self.remove(&session.id);
        let subject = (session.provider.clone(), session.sub.clone());
        let own_oldest = |table: &SessionTable, room: usize| match table.by_subject.get(&subject) {
            Some(own) if own.len() >= room => own.first().map(|(_, id)| id.clone()),
            _ => None,
        };
        while let Some(id) = own_oldest(self, self.per_subject) {
            self.remove(&id);
        }
        while let Some((expires_at, id)) = self.by_expiry.first().cloned() {
            if expires_at > now {
                break;
            }
            self.remove(&id);
        }
        if self.by_id.len() >= self.capacity {
            match own_oldest(self, 1) {
                Some(id) => self.remove(&id),
                None => return Err(Full),
            }
        }
        self.index(&session);
        self.by_id.insert(session.id.clone(), session);
        Ok(())
    }

    fn replace(&mut self, session: Arc<UserSession>, now: UnixTime) -> bool {
        if self.get(&session.id, now).is_none() {
            return false;
        }
        self.remove(&session.id);
        self.index(&session);
        self.by_id.insert(session.id.clone(), session);
        true
    }

    fn index(&mut self, session: &UserSession) {
        let id = session.id.clone();
        self.by_expiry.insert((session.expires_at, id.clone()));
        self.by_subject
            .entry((session.provider.clone(), session.sub.clone()))
            .or_default()
            .insert((session.last_authenticated, id.clone()));
        if let Some(sid) = session.sid() {
            self.by_sid
                .entry((session.provider.clone(), sid.to_string()))
                .or_default()
                .insert(id);
        }
    }

    fn remove(&mut self, id: &str) {
        let Some(session) = self.by_id.remove(id) else {
            return;
        };
        self.by_expiry.remove(&(session.expires_at, session.id.clone()));
        let subject = (session.provider.clone(), session.sub.clone());
        if let Some(own) = self.by_subject.get_mut(&subject) {
            own.remove(&(session.last_authenticated, session.id.clone()));
            if own.is_empty() {
                self.by_subject.remove(&subject);
            }
        }
        if let Some(sid) = session.sid() {
            let key = (session.provider.clone(), sid.to_string());
            if let Some(ids) = self.by_sid.get_mut(&key) {
                ids.remove(&session.id);
                if ids.is_empty() {
                    self.by_sid.remove(&key);
                }
            }
        }
    }

    fn end(&mut self, target: LogoutTarget<'_>) -> usize {
        let ids: Vec<String> = match (target.sid, target.sub) {
            (Some(sid), _) => self
                .by_sid
                .get(&(target.provider.to_string(), sid.to_string()))
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default(),
            (None, Some(sub)) => self
                .by_subject
                .get(&(target.provider.to_string(), sub.to_string()))
                .map(|own| {
                    own.iter()
                        .take_while(|(login, _)| *login <= target.at)
                        .map(|(_, id)| id.clone())
                        .collect()
                })
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        let mut ended = 0;
        for id in ids {
            let matches = self
                .by_id
                .get(&id)
                .is_some_and(|s| s.matches_logout(target.provider, target.sid, target.sub));
            if matches {
                self.remove(&id);
                ended += 1;
            }
        }
        ended
    }
}

// Test code: fixed inputs only; a panic here is a failed test.
#[cfg(test)]
mod tests {
    use super::*;

    /// `seconds` as a calendar time.
    fn at(seconds: i64) -> UnixTime {
        UnixTime::from_secs(seconds)
    }
    use serde_json::json;

    fn session(id: &str, sub: &str, sid: &str, login_ms: i64, expires_at: i64) -> Arc<UserSession> {
        let json = json!({
            "id": id, "provider": "default", "sub": sub, "id_token_jwt": "x",
            "id_token_claims": { "sid": sid, "sub": sub }, "access_token": null,
            "access_token_expires_at": null, "refresh_token": null, "userinfo": null,
            "last_authenticated_ms": login_ms, "expires_at": expires_at
        });
        Arc::new(UserSession::from_json(json.to_string().as_bytes()).unwrap())
    }

    fn local(limits: &LimitsConfig) -> LocalStore {
        match LocalStore::new(limits, None, AppClock::default()) {
            Ok(state) => state,
            Err(_) => unreachable!("no file, nothing to fail"),
        }
    }

    fn limits(capacity: usize) -> LimitsConfig {
        LimitsConfig {
            sessions: capacity,
            sessions_per_subject: 2,
            used_states: capacity,
            logout_tokens: capacity,
            dpop_proofs: capacity,
            revocations: capacity,
            used_states_per_subject: capacity,
            dpop_proofs_per_subject: capacity,
            revocations_per_subject: capacity,
            provider_calls_per_second: 0,
        }
    }

    #[test]
    fn a_subject_past_its_cap_ends_only_its_own_oldest_session() {
        let mut table = SessionTable::new(10, 2);
        table.insert(session("bob-1", "bob", "b1", 1, i64::MAX), at(0)).unwrap();
        for (n, id) in ["a1", "a2", "a3", "a4"].iter().enumerate() {
            table
                .insert(session(id, "alice", id, n as i64 + 10, i64::MAX), at(0))
                .unwrap();
        }
        assert!(
            table.get("bob-1", at(0)).is_some(),
            "bob's session survives alice's logins"
        );
        assert!(table.get("a1", at(0)).is_none() && table.get("a2", at(0)).is_none());
        assert!(table.get("a3", at(0)).is_some() && table.get("a4", at(0)).is_some());
        assert_eq!(table.by_id.len(), 3);
    }

    #[test]
    fn a_full_store_drops_expired_sessions_first() {
        let mut table = SessionTable::new(2, 5);
        table.insert(session("old", "a", "1", 1, 10), at(0)).unwrap();
        table.insert(session("live", "b", "2", 2, 1000), at(0)).unwrap();
        table.insert(session("new", "c", "3", 3, 1000), at(20)).unwrap();
        assert!(table.get("live", at(20)).is_some());
        assert!(table.get("new", at(20)).is_some());
        assert_eq!(table.by_id.len(), 2);
    }

    #[test]
    fn a_full_store_never_ends_another_users_session() {
        let mut table = SessionTable::new(4, 2);
        for (n, user) in ["bob", "carol", "dave"].iter().enumerate() {
            table
                .insert(session(user, user, user, n as i64, i64::MAX), at(0))
                .unwrap();
        }
        // Alice fills the last place, then logs in again and again: only
        // her own sessions make room.
        for n in 0..6 {
            table
                .insert(session(&format!("a{n}"), "alice", "a", 10 + n, i64::MAX), at(0))
                .unwrap();
        }
        for user in ["bob", "carol", "dave"] {
            assert!(
                table.get(user, at(0)).is_some(),
                "{user}'s session survives alice's logins"
            );
        }
        assert!(table.get("a5", at(0)).is_some());
        assert_eq!(table.by_id.len(), 4);
        // A new user finds no room: refused, nobody is pushed out.
        assert_eq!(
            table.insert(session("erin", "erin", "e", 99, i64::MAX), at(0)),
            Err(Full)
        );
        assert_eq!(table.by_id.len(), 4);
    }

    #[rocket::async_test]
    async fn a_claim_after_a_finished_refresh_gets_its_result_never_a_lease() {
        let state = local(&limits(10));
        let key = RefreshKey([7; 32]);
        let lease = Duration::from_secs(5);
        let Ok(RefreshClaim::Leased(won)) = state.claim_refresh(&key, lease).await else {
            panic!("the first claim wins");
        };
        assert!(matches!(state.claim_refresh(&key, lease).await, Ok(RefreshClaim::Busy)));
        let fresh = session("s1", "alice", "1", 1, i64::MAX);
        state
            .finish_refresh(&key, won, Some((&fresh, Duration::from_secs(60))))
            .await
            .unwrap();
        // The lease is free again, but a caller that looked before the
        // refresh finished must get the result, not redeem the rotated
        // refresh token a second time.
        match state.claim_refresh(&key, lease).await {
            Ok(RefreshClaim::Shared(done)) => assert_eq!(done.id, "s1"),
            other => panic!("expected the shared result, got {other:?}"),
        }
    }

    #[test]
    fn back_channel_logout_ends_by_sid_or_by_sub() {
        let mut table = SessionTable::new(10, 5);
        table
            .insert(session("s1", "alice", "sid-1", 1, i64::MAX), at(0))
            .unwrap();
        table
            .insert(session("s2", "alice", "sid-2", 2, i64::MAX), at(0))
            .unwrap();
        table.insert(session("s3", "bob", "sid-3", 3, i64::MAX), at(0)).unwrap();
        let by_sid = LogoutTarget {
            provider: "default",
            sid: Some("sid-1"),
            sub: None,
            at: UnixMillis::from_millis(i64::MAX),
        };
        assert_eq!(table.end(by_sid), 1);
        let wrong_sub = LogoutTarget {
            provider: "default",
            sid: Some("sid-2"),
            sub: Some("bob"),
            at: UnixMillis::from_millis(i64::MAX),
        };
        assert_eq!(table.end(wrong_sub), 0);
        let by_sub = LogoutTarget {
            provider: "default",
            sid: None,
            sub: Some("alice"),
            at: UnixMillis::from_millis(i64::MAX),
        };
        assert_eq!(table.end(by_sub), 1);
        assert!(table.get("s3", at(0)).is_some());
        assert!(
            table.by_subject.len() == 1 && table.by_sid.len() == 1,
            "indexes are cleaned up"
        );
    }

    #[rocket::async_test]
    async fn a_refresh_never_stores_a_session_that_was_removed() {
        let state = local(&limits(10));
        let s = session("s1", "alice", "1", 1, i64::MAX);
        state.insert_session(s.clone()).await.unwrap();
        assert!(state.replace_session(s.clone()).await.unwrap());
        state.remove_session("s1").await.unwrap();
        assert!(!state.replace_session(s).await.unwrap());
        assert!(state.load_session("s1").await.unwrap().is_none());
    }

    #[rocket::async_test]
    async fn full_ledgers_refuse_new_values_and_keep_the_old_ones() {
        let state = local(&limits(3));
        let later = UnixTime::from_secs(crate::clock::now() + 600);
        // The three states of three users, each used `again` or not.
        let three = |again: bool| {
            let state = &state;
            async move {
                for n in 0..3 {
                    let (value, user) = (format!("s{n}"), format!("user-{n}"));
                    let first = state.first_use(Once::LoginOfState, &value, Some(&user), later).await;
                    assert_eq!(first, Ok(!again), "{value}");
                }
            }
        };
        three(false).await;
        let refused = state.first_use(Once::LoginOfState, "s9", Some("user-9"), later).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Full {
                    key: "oidc.limits.used_states",
                    ..
                })
            ),
            "{refused:?}"
        );
        three(true).await;
        // The other ledgers have their own room.
        assert_eq!(state.first_use(Once::LogoutToken, "s9", None, later).await, Ok(true));
    }

    #[rocket::async_test]
    async fn revocations_refuse_the_sessions_they_name() {
        let state = local(&limits(10));
        let now = crate::clock::now();
        let t = crate::clock::now_ms();
        let a = session("s1", "alice", "sid-1", t + 1_000, i64::MAX);
        let b = session("s2", "alice", "sid-2", t + 5_000, i64::MAX);
        assert!(!state.is_logged_out(&a).await.unwrap());
        state
            .record_logout(LogoutRecord::Session {
                id: "s1",
                provider: "default",
                sub: "alice",
                login: UnixMillis::from_millis(t + 1_000),
                until: UnixTime::from_secs(now + 60),
            })
            .await
            .unwrap();
        assert!(state.is_logged_out(&a).await.unwrap() && !state.is_logged_out(&b).await.unwrap());
        state
            .record_logout(LogoutRecord::Sub {
                provider: "default",
                sub: "alice",
                at: UnixMillis::from_millis(t + 2_000),
                until: UnixTime::from_secs(now + 60),
            })
            .await
            .unwrap();
        assert!(!state.is_logged_out(&b).await.unwrap(), "b started after the logout");
        state
            .record_logout(LogoutRecord::Sid {
                provider: "default",
                sid: "sid-2",
                sub: Some("alice"),
                at: UnixMillis::from_millis(t + 3_000),
                until: UnixTime::from_secs(now + 60),
            })
            .await
            .unwrap();
        assert!(state.is_logged_out(&b).await.unwrap());
    }

    #[rocket::async_test]
    async fn a_cookie_session_from_before_this_process_started_is_refused() {
        let state = local(&limits(10));
        let before = session("s0", "alice", "sid-0", crate::clock::now_ms() - 60_000, i64::MAX);
        assert!(
            state.is_logged_out(&before).await.unwrap(),
            "its logout may have been recorded by the process before, and forgotten"
        );
        let after = session("s1", "alice", "sid-1", crate::clock::now_ms() + 1, i64::MAX);
        assert!(!state.is_logged_out(&after).await.unwrap());
    }

    fn on_file(limits: &LimitsConfig, path: &Path) -> LocalStore {
        match LocalStore::new(limits, Some(path), AppClock::default()) {
            Ok(state) => state,
            Err(why) => panic!("{}", why.0),
        }
    }

    /// A session as the cookie store makes it: stamped at login.
    async fn logged_in(state: &LocalStore, id: &str, sub: &str) -> Arc<UserSession> {
        let mut made = (*session(id, sub, &format!("sid-{id}"), crate::clock::now_ms(), i64::MAX)).clone();
        made.epoch = state.note_login(&made).await.unwrap();
        Arc::new(made)
    }

    async fn log_out(state: &LocalStore, session: &UserSession) {
        let record = LogoutRecord::Session {
            id: &session.id,
            provider: &session.provider,
            sub: &session.sub,
            login: session.last_authenticated,
            until: UnixTime::from_secs(crate::clock::now() + 600),
        };
        state.record_logout(record).await.unwrap();
    }

    /// The record is begun anew when it holds more than the limits: what
    /// it dropped may have ended any session stamped before, so those are
    /// refused, in this run and the next; what was logged out since is
    /// kept, and sessions made since go on.
    #[rocket::async_test]
    async fn a_record_begun_anew_for_want_of_room_refuses_every_older_session_for_good() {
        let dir = crate::store::logout_file::tests::scratch_dir("room");
        let path = dir.join("logouts");
        let first = on_file(&limits(100), &path);
        let old = logged_in(&first, "old", "olga").await;
        for user in ["a", "b", "c"] {
            log_out(&first, &*logged_in(&first, user, user).await).await;
        }
        assert!(!first.is_logged_out(&old).await.unwrap());
        drop(first);

        let second = on_file(&limits(2), &path);
        assert!(
            second.is_logged_out(&old).await.unwrap(),
            "its logout may be among those dropped"
        );
        let ended = logged_in(&second, "ended", "erin").await;
        log_out(&second, &ended).await;
        let alive = logged_in(&second, "alive", "alf").await;
        drop(second);

        let third = on_file(&limits(100), &path);
        assert!(third.is_logged_out(&old).await.unwrap());
        assert!(third.is_logged_out(&ended).await.unwrap(), "logged out since: kept");
        assert!(!third.is_logged_out(&alive).await.unwrap(), "made since: goes on");
    }

    /// A run without the file (a rollback, a canary, a mistake) keeps its
    /// logouts in its process only: a session it made carries no stamp, and
    /// the next run with the file refuses it. And a session stamped by the
    /// file is refused by a run without it (made before its start).
    #[rocket::async_test]
    async fn turning_the_record_off_and_on_again_lets_no_logged_out_session_back() {
        let dir = crate::store::logout_file::tests::scratch_dir("toggle");
        let path = dir.join("logouts");
        let with_file = on_file(&limits(100), &path);
        let filed = logged_in(&with_file, "filed", "fred").await;
        drop(with_file);

        let without = local(&limits(100));
        assert!(without.is_logged_out(&filed).await.unwrap(), "made before this start");
        let unstamped = logged_in(&without, "unstamped", "una").await;
        assert_eq!(unstamped.epoch, None);
        log_out(&without, &unstamped).await;
        drop(without);

        let again = on_file(&limits(100), &path);
        assert!(
            again.is_logged_out(&unstamped).await.unwrap(),
            "its logout was in a process that is gone"
        );
        assert!(
            !again.is_logged_out(&filed).await.unwrap(),
            "the record it was made under holds"
        );
    }
}
