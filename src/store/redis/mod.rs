//! Server-side state in Redis, shared by every instance of the app.
//!
//! One multiplexed connection per process, made lazily (the app starts
//! while Redis is down) and remade by itself after a failure. Every command
//! is bounded by `redis.timeout_ms`; a failure is a [`StoreError`] (the
//! request answers `503`), never a value let through unchecked.
//!
//! Keys: all under `key_prefix`, each with a TTL no longer than what it
//! protects; ids, `sid`s and `sub`s appear only as SHA-256 digests. Their
//! table is in the crate docs, once.
//!
//! Single-use checks are `SET NX`; storing a new session with its indexes
//! and its user's cap, ending sessions by `sid`/`sub`, recording logouts
//! and the refresh lease are Lua scripts (atomic), one file each in
//! `scripts/` saying its keys and arguments. What this instance read is
//! kept briefly (`local_cache`); what launch checks is in `launch_checks`.
//! Values are sealed (AES-GCM, bound to their key) with the key the cookies
//! use, so what Redis holds is unreadable and unforgeable without the app's
//! `secret_key`.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisError, Script};

use crate::clock::{AppClock, UnixMillis, UnixTime};
use crate::config::{LimitsConfig, RedisConfig};
use crate::session::UserSession;
use crate::session::cipher::Cipher;
use crate::store::{
    LogoutRecord, LogoutTarget, Once, RefreshClaim, RefreshKey, RefreshLease, SharedStore, StoreError, StoreSetupError,
    digest, hex,
};
use crate::telemetry;

mod launch_checks;
mod local_cache;
mod scripts;

use local_cache::{EVERYTHING, LocalCache, listen, one_session};
use scripts::{
    CLAIM, END_SESSIONS, EXTEND, FIRST_USE, FIRST_USE_OWNED, INSERT_SESSION, IS_REVOKED, NOTE_LOGIN, RELEASE,
    REVOKE_SESSION, REVOKE_SUB,
};

/// The longest TTL ever set (a year): provider-sent times cannot make a
/// key live forever or overflow Redis's range.
const MAX_TTL_SECONDS: i64 = 366 * 24 * 3600;

/// A logged-out session's field in its user's `revoked:subject` hash.
fn session_field(member: &str) -> String {
    format!("s:{member}")
}

/// A logged-out `sid`'s field in its user's `revoked:subject` hash.
fn sid_field(digest: &str) -> String {
    format!("i:{digest}")
}

/// The logout records that may name one session, as `IS_REVOKED` read them.
struct Records {
    /// `revoked:session`, kept by earlier versions.
    legacy: bool,
    /// `revoked:sub`: sessions authenticated until then are ended.
    sub_until: Option<UnixMillis>,
    /// The epoch of the logouts kept.
    epoch: Option<String>,
    /// The session's own field in its user's hash.
    session: bool,
    /// Its `sid`, recorded by itself or in its user's hash.
    sid: bool,
}

impl Records {
    /// Whether a logout recorded here ends `session`.
    fn ends(&self, session: &UserSession) -> bool {
        self.legacy || self.session || self.sid || self.sub_until.is_some_and(|at| session.last_authenticated <= at)
    }
}

pub(crate) struct RedisStore {
    connection: ConnectionManager,
    local: Arc<LocalCache>,
    changes: String,
    prefix: String,
    timeout: Duration,
    cipher: Arc<Cipher>,
    lifetime_seconds: i64,
    per_subject: usize,
    insert_session: Script,
    end_sessions: Script,
    revoke_sub: Script,
    release: Script,
    extend: Script,
    claim: Script,
    first_use: Script,
    first_use_owned: Script,
    is_revoked: Script,
    note_login: Script,
    revoke_session: Script,
    /// `limits.revocations_per_subject`.
    revocations_per_subject: usize,
    /// `limits.dpop_proofs_per_subject`.
    dpop_proofs_per_subject: usize,
    /// The app's clock.
    clock: AppClock,
}

impl RedisStore {
    /// The state for `config`; no connection is made yet (the app starts
    /// while Redis is down).
    pub(crate) fn new(
        config: &RedisConfig,
        cipher: Arc<Cipher>,
        lifetime_seconds: u64,
        limits: &LimitsConfig,
        clock: AppClock,
    ) -> Result<RedisStore, StoreSetupError> {
        let bad_url = |error: RedisError| StoreSetupError {
            key: "oidc.redis.url",
            message: format!("is not a usable Redis URL ({})", describe(&error)),
        };
        let client = match &config.ca_certificate_path {
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|e| StoreSetupError {
                    key: "oidc.redis.ca_certificate_path",
                    message: format!("cannot be read ({e})"),
                })?;
                if !String::from_utf8_lossy(&root_cert).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(StoreSetupError {
                        key: "oidc.redis.ca_certificate_path",
                        message: "holds no PEM certificate".into(),
                    });
                }
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(config.url.secret(), certificates).map_err(|e| StoreSetupError {
                    key: "oidc.redis.ca_certificate_path",
                    message: format!("is not a usable PEM file of certificates ({})", describe(&e)),
                })?
            }
            None => redis::Client::open(config.url.secret()).map_err(bad_url)?,
        };
        let timeout = Duration::from_millis(config.timeout_ms);
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // One attempt per reconnection: a request never waits through a
            // series of retries; the next request tries again.
            .set_number_of_retries(0);
        let connection = client.get_connection_manager_lazy(manager_config).map_err(bad_url)?;
        let local = Arc::new(LocalCache::new(Duration::from_secs(config.local_cache_seconds)));
        let changes = format!("{}changes", config.key_prefix);
        if config.local_cache_seconds > 0 {
            rocket::tokio::spawn(listen(Arc::downgrade(&local), client, changes.clone(), timeout));
        }
        Ok(RedisStore {
            clock,
            connection,
            local,
            changes,
            prefix: config.key_prefix.clone(),
            timeout,
            cipher,
            lifetime_seconds: i64::try_from(lifetime_seconds).unwrap_or(MAX_TTL_SECONDS),
            per_subject: limits.sessions_per_subject.max(1),
            insert_session: Script::new(INSERT_SESSION),
            end_sessions: Script::new(END_SESSIONS),
            revoke_sub: Script::new(REVOKE_SUB),
            release: Script::new(RELEASE),
            extend: Script::new(EXTEND),
            claim: Script::new(CLAIM),
            first_use: Script::new(FIRST_USE),
            first_use_owned: Script::new(FIRST_USE_OWNED),
            is_revoked: Script::new(IS_REVOKED),
            note_login: Script::new(NOTE_LOGIN),
            revoke_session: Script::new(REVOKE_SESSION),
            revocations_per_subject: limits.revocations_per_subject.max(1),
            dpop_proofs_per_subject: limits.dpop_proofs_per_subject.max(1),
        })
    }

    /// `prefix` + `kind` + `:` + the hex digest of `parts`.
    fn key(&self, kind: &str, parts: &[&str]) -> String {
        format!("{}{kind}:{}", self.prefix, hex(&digest(parts)))
    }

    fn session_key(&self, id: &str) -> String {
        self.key("session", &[id])
    }

    fn subject_key(&self, provider: &str, sub: &str) -> String {
        self.key("subject", &[provider, sub])
    }

    fn sid_key(&self, provider: &str, sid: &str) -> String {
        self.key("sid", &[provider, sid])
    }

    /// The member naming a session in the indexes (its key without the prefix).
    fn member(&self, id: &str) -> String {
        hex(&digest(&[id]))
    }

    /// Reads every logout record that may name `session`.
    async fn records_of(&self, session: &UserSession) -> Result<Records, StoreError> {
        let mut keys = vec![
            self.key("revoked:session", &[&session.id]),
            self.key("revoked:sub", &[&session.provider, &session.sub]),
            format!("{}epoch", self.prefix),
            self.key("revoked:subject", &[&session.provider, &session.sub]),
        ];
        let mut args = [session_field(&self.member(&session.id)), "-".to_string()];
        if let Some(sid) = session.sid() {
            keys.push(self.key("revoked:sid", &[&session.provider, sid]));
            args[1] = sid_field(&self.member(sid));
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let found: Vec<Option<String>> = self.script(&self.is_revoked, &keys, &args).await?;
        let present = |n: usize| found.get(n).is_some_and(Option::is_some);
        Ok(Records {
            legacy: present(0),
            sub_until: found
                .get(1)
                .and_then(|at| at.as_deref())
                .and_then(|at| at.parse::<i64>().ok())
                .map(UnixMillis::from_millis),
            epoch: found.get(2).cloned().flatten(),
            session: present(3),
            sid: present(4) || present(5),
        })
    }

    /// Records a logout in `sub`'s share of `provider`'s (see `REVOKE_SESSION`).
    async fn revoke_in_share(
        &self,
        provider: &str,
        sub: &str,
        field: &str,
        until: UnixTime,
        at: UnixMillis,
        announcement: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        // The scripts take numbers: Unix seconds, and milliseconds for `at`.
        let (until, at_ms) = (until.secs(), at.millis());
        let keys = [
            self.key("revoked:subject", &[provider, sub]),
            self.key("revoked:sub", &[provider, sub]),
        ];
        let args = [
            field.to_string(),
            until.clamp(0, now.saturating_add(MAX_TTL_SECONDS)).to_string(),
            at_ms.to_string(),
            self.revocations_per_subject.to_string(),
            self.changes.clone(),
            now.to_string(),
            announcement.to_string(),
        ];
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let coalesced = self.script::<i64>(&self.revoke_session, &keys, &args).await;
        // This instance hears its own announcement too; what it kept goes
        // now, not a moment later (everything, if the share was full or the
        // answer was lost).
        self.local.changed(match coalesced {
            Ok(0) => announcement,
            _ => EVERYTHING,
        });
        coalesced.map(|_| ())
    }

    /// Whether Redis answers a `PING` within the timeout.
    /// This store as the app's [`SharedStore`].
    pub(crate) fn shared(self: &Arc<Self>) -> Arc<dyn SharedStore> {
        self.clone()
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }

    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        bounded(self.timeout, async {
            match command.query_async(&mut connection).await {
                // The failure made the manager reconnect (Redis restarted,
                // or the connection broke): the command goes on the new
                // connection, within the same time bound.
                Err(error) if lost_connection(&error) => command.query_async(&mut connection).await,
                other => other,
            }
        })
        .await
    }

    async fn script<T: FromRedisValue>(&self, script: &Script, keys: &[&str], args: &[&str]) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.connection.clone();
        bounded(self.timeout, async {
            match invocation.invoke_async(&mut connection).await {
                Err(error) if lost_connection(&error) => invocation.invoke_async(&mut connection).await,
                other => other,
            }
        })
        .await
    }

    /// Runs `command` and announces `announcement` to every instance in one
    /// atomic step (`MULTI`/`EXEC`): a change that reached Redis is always
    /// announced; this instance forgets what it names at once.
    async fn change<T: FromRedisValue>(&self, command: Cmd, announcement: &str) -> Result<T, StoreError> {
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .add_command(command)
            .cmd("PUBLISH")
            .arg(&self.changes)
            .arg(announcement)
            .ignore();
        let mut connection = self.connection.clone();
        let result: Result<(T,), StoreError> = bounded(self.timeout, async {
            match pipeline.query_async(&mut connection).await {
                Err(error) if lost_connection(&error) => pipeline.query_async(&mut connection).await,
                other => other,
            }
        })
        .await;
        self.local.changed(announcement);
        result.map(|(value,)| value)
    }

    fn seal(&self, key: &str, session: &UserSession) -> Result<String, StoreError> {
        self.cipher
            .seal(key, &session.to_json())
            .ok_or_else(|| StoreError::Unavailable("a value could not be sealed".into()))
    }

    /// Seconds from now until `at`, within 1 second and [`MAX_TTL_SECONDS`].
    fn ttl_until(&self, at: UnixTime) -> i64 {
        at.secs_since(self.clock.time()).clamp(1, MAX_TTL_SECONDS)
    }

    /// The session sealed under `key`; anything that does not open, parse
    /// or carry `id` (when given) is no session.
    fn open(&self, key: &str, sealed: &str, id: Option<&str>) -> Option<Arc<UserSession>> {
        let json = self.cipher.open(key, sealed)?;
        let session = UserSession::from_json(json.as_bytes())?;
        let right_id = id.is_none_or(|id| id == session.id);
        (right_id && !session.is_expired(self.clock.time())).then(|| Arc::new(session))
    }
}

/// Runs a Redis call, its one retry included, within `timeout`: a request
/// that needs Redis has its answer or a `503` within `redis.timeout_ms`.
async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, StoreError> {
    match rocket::tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            telemetry::redis_error(if error.is_timeout() { "timeout" } else { "error" });
            Err(StoreError::Unavailable(describe(&error)))
        }
        Err(_) => {
            telemetry::redis_error("timeout");
            Err(StoreError::Unavailable("timed out".into()))
        }
    }
}

/// Whether `error` means the connection is gone (and is being remade), so
/// that the command is worth sending again on the new one. A timeout is
/// not: the command may have run, and a slow Redis would be asked twice.
fn lost_connection(error: &RedisError) -> bool {
    !error.is_timeout() && (error.is_connection_dropped() || error.is_connection_refusal())
}

/// A Redis error in a few words (never the URL, which may carry a password).
fn describe(error: &RedisError) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connection_refusal() {
        "connection refused".into()
    } else if error.is_connection_dropped() || error.is_io_error() {
        "connection failed".into()
    } else {
        format!("{:?} error", error.kind()).to_lowercase()
    }
}

#[rocket::async_trait]
impl SharedStore for RedisStore {
    async fn first_use(
        &self,
        ledger: Once,
        value: &str,
        owner: Option<&str>,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        // The `state` of a callback was recorded when it came, and Redis
        // never gives a key up before its TTL (launch warns unless
        // `noeviction`): that record keeps it single-use already, and a
        // login is not something one account can make in a flood. A DPoP
        // proof is: one token's holder can send as many as it likes, so
        // what the tokens of one subject hold is bounded, as in process.
        if ledger == Once::LoginOfState {
            return Ok(true);
        }
        let key = self.key(&format!("once:{}", ledger.label()), &[value]);
        let token = crate::random::token();
        let ttl = self.ttl_until(expires_at).to_string();
        let first: i64 = match (ledger, owner) {
            (Once::DpopProof, Some(owner)) => {
                let owned = self.key(&format!("owner:{}", ledger.label()), &[owner]);
                let now = self.clock.now();
                let args = [
                    token,
                    ttl,
                    expires_at
                        .secs()
                        .clamp(now, now.saturating_add(MAX_TTL_SECONDS))
                        .to_string(),
                    now.to_string(),
                    self.dpop_proofs_per_subject.to_string(),
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                self.script(&self.first_use_owned, &[&key, &owned], &args).await?
            }
            _ => self.script(&self.first_use, &[&key], &[&token, &ttl]).await?,
        };
        if first == -1 {
            return Err(StoreError::OwnerFull {
                ledger: "DPoP proof ids",
                share: self.dpop_proofs_per_subject,
                key: "oidc.limits.dpop_proofs_per_subject",
            });
        }
        Ok(first == 1)
    }

    async fn was_used(&self, ledger: Once, value: &str) -> Result<bool, StoreError> {
        let mut command = redis::cmd("EXISTS");
        command.arg(self.key(&format!("once:{}", ledger.label()), &[value]));
        Ok(self.query::<i64>(&command).await? > 0)
    }

    fn remembers_since(&self) -> UnixMillis {
        UnixMillis::from_millis(i64::MIN)
    }

    fn logouts_outlive_restarts(&self) -> bool {
        true
    }

    async fn record_logout(&self, record: LogoutRecord<'_>) -> Result<(), StoreError> {
        match record {
            LogoutRecord::Session {
                id,
                provider,
                sub,
                login,
                until,
            } => {
                let member = self.member(id);
                let announcement = one_session(&member);
                self.revoke_in_share(provider, sub, &session_field(&member), until, login, &announcement)
                    .await
            }
            LogoutRecord::Sid {
                provider,
                sid,
                sub: Some(sub),
                at,
                until,
            } => {
                let field = sid_field(&self.member(sid));
                self.revoke_in_share(provider, sub, &field, until, at, EVERYTHING).await
            }
            // A logout naming no user is nobody's to count: kept by itself,
            // as many as the provider sends (it is the one sending them).
            LogoutRecord::Sid {
                provider,
                sid,
                sub: None,
                until,
                ..
            } => {
                let mut command = redis::cmd("SET");
                command
                    .arg(self.key("revoked:sid", &[provider, sid]))
                    .arg(1)
                    .arg("EX")
                    .arg(self.ttl_until(until));
                self.change::<Option<String>>(command, EVERYTHING).await.map(|_| ())
            }
            LogoutRecord::Sub {
                provider,
                sub,
                at,
                until,
            } => {
                let key = self.key("revoked:sub", &[provider, sub]);
                let ttl = self.ttl_until(until).to_string();
                let result = self
                    .script::<i64>(
                        &self.revoke_sub,
                        &[&key],
                        &[&at.millis().to_string(), &ttl, &self.changes],
                    )
                    .await;
                self.local.changed(EVERYTHING);
                result.map(|_| ())
            }
        }
    }

    async fn is_logged_out(&self, session: &UserSession) -> Result<bool, StoreError> {
        if self.local.not_revoked(&session.id) {
            return Ok(false);
        }
        let generation = self.local.generation();
        let found = self.records_of(session).await?;
        // No epoch: Redis lost its data (and the logouts with it) since the
        // last login; refused until a login makes a new epoch. A session
        // stamped with another epoch, or with none (made by an earlier
        // version, or another store), began before the loss as far as
        // anyone can tell.
        let before_loss = match (&found.epoch, &session.epoch) {
            (Some(current), Some(stamped)) => stamped.strip_prefix("redis:") != Some(current.as_str()),
            _ => true,
        };
        let revoked = found.ends(session) || before_loss;
        if !revoked {
            self.local
                .keep_not_revoked(&session.id, self.member(&session.id), generation);
        }
        Ok(revoked)
    }

    async fn note_login(&self, _session: &UserSession) -> Result<Option<String>, StoreError> {
        let epoch = format!("{}epoch", self.prefix);
        let lifetime = self.lifetime_seconds.clamp(1, MAX_TTL_SECONDS).to_string();
        let stamped: String = self.script(&self.note_login, &[&epoch], &[&lifetime]).await?;
        Ok(Some(format!("redis:{stamped}")))
    }

    async fn ended_by_logout(&self, session: &UserSession) -> Result<bool, StoreError> {
        Ok(self.records_of(session).await?.ends(session))
    }

    async fn load_session(&self, id: &str) -> Result<Option<Arc<UserSession>>, StoreError> {
        if let Some(session) = self.local.session(id, self.clock.time()) {
            return Ok(Some(session));
        }
        let member = self.member(id);
        let key = format!("{}session:{member}", self.prefix);
        let generation = self.local.generation();
        let mut command = redis::cmd("GET");
        command.arg(&key);
        let sealed: Option<String> = self.query(&command).await?;
        let session = sealed.and_then(|sealed| self.open(&key, &sealed, Some(id)));
        if let Some(session) = &session {
            self.local.keep_session(id, member, session.clone(), generation);
        }
        Ok(session)
    }

    async fn insert_session(&self, session: Arc<UserSession>) -> Result<(), StoreError> {
        let key = self.session_key(&session.id);
        let sealed = self.seal(&key, &session)?;
        let subject = self.subject_key(&session.provider, &session.sub);
        let sid = session.sid().map(|sid| self.sid_key(&session.provider, sid));
        let session_prefix = format!("{}session:", self.prefix);
        let args = [
            session_prefix.as_str(),
            &sealed,
            &self.ttl_until(session.expires_at).to_string(),
            &self.member(&session.id),
            &session.last_authenticated.millis().to_string(),
            &self.per_subject.to_string(),
            &self.lifetime_seconds.clamp(1, MAX_TTL_SECONDS).to_string(),
            if sid.is_some() { "1" } else { "0" },
            &self.changes,
        ];
        let keys = [
            key.as_str(),
            subject.as_str(),
            sid.as_deref().unwrap_or(subject.as_str()),
        ];
        let ended: i64 = self.script(&self.insert_session, &keys, &args).await?;
        if ended > 0 {
            event!(
                info,
                "oidc: a login past `sessions_per_subject` ended {ended} older session(s) of that user"
            );
        }
        Ok(())
    }

    async fn replace_session(&self, session: Arc<UserSession>) -> Result<bool, StoreError> {
        let member = self.member(&session.id);
        let key = format!("{}session:{member}", self.prefix);
        let sealed = self.seal(&key, &session)?;
        let mut command = redis::cmd("SET");
        command
            .arg(&key)
            .arg(sealed)
            .arg("EX")
            .arg(self.ttl_until(session.expires_at))
            .arg("XX");
        let replaced: Option<String> = self.change(command, &one_session(&member)).await?;
        Ok(replaced.is_some())
    }

    async fn remove_session(&self, id: &str) -> Result<(), StoreError> {
        let member = self.member(id);
        let mut command = redis::cmd("DEL");
        command.arg(format!("{}session:{member}", self.prefix));
        self.change::<i64>(command, &one_session(&member)).await.map(|_| ())
    }

    async fn end_sessions(&self, target: LogoutTarget<'_>) -> Result<usize, StoreError> {
        let session_prefix = format!("{}session:", self.prefix);
        let (index, filter, mode) = match (target.sid, target.sub) {
            (Some(sid), Some(sub)) => (
                self.sid_key(target.provider, sid),
                self.subject_key(target.provider, sub),
                "sid+sub",
            ),
            (Some(sid), None) => {
                let index = self.sid_key(target.provider, sid);
                (index.clone(), index, "sid")
            }
            (None, Some(sub)) => {
                let index = self.subject_key(target.provider, sub);
                (index.clone(), index, "sub")
            }
            (None, None) => return Ok(0),
        };
        let ended: i64 = self
            .script(
                &self.end_sessions,
                &[&index, &filter],
                &[&session_prefix, mode, &self.changes, &target.at.millis().to_string()],
            )
            .await?;
        if ended > 0 {
            // This instance hears its own announcements too; what it kept of
            // those sessions goes now, not a moment later.
            self.local.changed(EVERYTHING);
        }
        Ok(usize::try_from(ended).unwrap_or(0))
    }

    async fn claim_refresh(&self, key: &RefreshKey, lease: Duration) -> Result<RefreshClaim, StoreError> {
        let result_key = format!("{}refresh:result:{}", self.prefix, hex(&key.0));
        let lock_key = format!("{}refresh:lock:{}", self.prefix, hex(&key.0));
        let token = crate::random::token();
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1).to_string();
        let (kind, value): (String, Option<String>) = self
            .script(&self.claim, &[&result_key, &lock_key], &[&token, &lease_ms])
            .await?;
        Ok(match (kind.as_str(), value) {
            ("result", Some(sealed)) => match self.open(&result_key, &sealed, None) {
                Some(done) => RefreshClaim::Shared(done),
                // A result that does not open is none: wait for the lease.
                None => RefreshClaim::Busy,
            },
            ("won", _) => RefreshClaim::Leased(RefreshLease(token)),
            _ => RefreshClaim::Busy,
        })
    }

    async fn extend_refresh(
        &self,
        key: &RefreshKey,
        lease: &RefreshLease,
        duration: Duration,
    ) -> Result<bool, StoreError> {
        let lock_key = format!("{}refresh:lock:{}", self.prefix, hex(&key.0));
        let lease_ms = u64::try_from(duration.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
            .to_string();
        let extended: i64 = self.script(&self.extend, &[&lock_key], &[&lease.0, &lease_ms]).await?;
        Ok(extended == 1)
    }

    async fn finish_refresh(
        &self,
        key: &RefreshKey,
        lease: RefreshLease,
        result: Option<(&Arc<UserSession>, Duration)>,
    ) -> Result<(), StoreError> {
        if let Some((session, ttl)) = result {
            let result_key = format!("{}refresh:result:{}", self.prefix, hex(&key.0));
            let sealed = self.seal(&result_key, session)?;
            let mut command = redis::cmd("SET");
            command
                .arg(&result_key)
                .arg(sealed)
                .arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
            self.query::<Option<String>>(&command).await?;
        }
        let lock_key = format!("{}refresh:lock:{}", self.prefix, hex(&key.0));
        self.script::<i64>(&self.release, &[&lock_key], &[&lease.0])
            .await
            .map(|_| ())
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // The listener holds a connection; it ends with the state.
        self.local.closed.notify_one();
    }
}

// Test code: fixed inputs only; a panic here is a failed test.
