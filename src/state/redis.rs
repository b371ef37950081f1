//! Server-side state in Redis, shared by every instance of the app.
//!
//! One multiplexed connection per process, made lazily (the app starts
//! while Redis is down) and remade by itself after a failure. Every command
//! is bounded by `redis.timeout_ms`; a failure is a [`StateError`] (the
//! request answers `503`), never a value let through unchecked.
//!
//! Keys (all under `key_prefix`, every one with a TTL no longer than what
//! it protects; ids, `sid`s and `sub`s appear only as SHA-256 digests):
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `once:state:<h>` | `1` | until the login's state expires (10 min) |
//! | `once:logout_token:<h>` | `1` | until the logout token's `exp` (+ skew) |
//! | `revoked:session:<h>` | `1` | until the session would have expired |
//! | `revoked:sid:<h>` / `revoked:sub:<h>` | `1` / logout time (ms) | the session lifetime |
//! | `session:<h>` | the session, sealed | until the session expires |
//! | `subject:<h>` | sorted set of the user's sessions | the session lifetime |
//! | `sid:<h>` | set of the sessions with that `sid` | the session lifetime |
//! | `refresh:lock:<h>` / `refresh:result:<h>` | lease / the refreshed session, sealed | the lease / 60 s at most |
//!
//! Single-use checks are `SET NX`; storing a new session with its indexes
//! and its user's cap, ending sessions by `sid`/`sub`, and releasing a
//! refresh lease are Lua scripts (atomic). Values are sealed (AES-GCM,
//! bound to their key) with the key the cookies use, so what Redis holds is
//! unreadable and unforgeable without the app's `secret_key`.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use lru::LruCache;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisError, Script};
use rocket::futures::StreamExt;
use rocket::tokio::sync::Notify;

use crate::clock;
use crate::config::{LimitsConfig, RedisConfig};
use crate::session::cipher::Cipher;
use crate::session::UserSession;
use crate::state::{
    digest, hex, Claim, Lease, LogoutTarget, Once, RefreshKey, Revocation, SharedState, StateError, StateSetupError,
};
use crate::telemetry;

/// Stores a new session: the session itself, the user's index (sorted by
/// login time, capped: the user's oldest sessions beyond the cap end) and
/// the `sid` index. Members of the user's index whose session is gone
/// (expired, logged out) are dropped first.
const INSERT_SESSION: &str = r"
local session_prefix = ARGV[1]
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', session_prefix .. member) == 0 then
    redis.call('ZREM', KEYS[2], member)
  end
end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
local ended = 0
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[6]) do
  -- The user's oldest, never the session just stored (instances' clocks differ).
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 1)
  local victim = oldest[1]
  if victim == ARGV[4] then victim = oldest[2] end
  redis.call('ZREM', KEYS[2], victim)
  redis.call('DEL', session_prefix .. victim)
  redis.call('PUBLISH', ARGV[9], 's:' .. victim)
  ended = ended + 1
end
local ttl = tonumber(ARGV[7])
if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
if ARGV[8] == '1' then
  redis.call('SADD', KEYS[3], ARGV[4])
  if redis.call('TTL', KEYS[3]) < ttl then redis.call('EXPIRE', KEYS[3], ttl) end
end
return ended
";

/// Ends the sessions of an index: a `sid` set (`mode` "sid"; "sid+sub"
/// keeps only members also in the user's index KEYS[2]) or a user's
/// sorted set (`mode` "sub": those authenticated until ARGV[4], in ms);
/// announces each one on ARGV[3].
const END_SESSIONS: &str = r"
local session_prefix = ARGV[1]
local mode = ARGV[2]
local members
if mode == 'sub' then
  members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
else
  members = redis.call('SMEMBERS', KEYS[1])
end
local ended = 0
for _, member in ipairs(members) do
  if mode ~= 'sid+sub' or redis.call('ZSCORE', KEYS[2], member) then
    if redis.call('DEL', session_prefix .. member) == 1 then
      ended = ended + 1
      redis.call('PUBLISH', ARGV[3], 's:' .. member)
    end
    if mode == 'sub' then redis.call('ZREM', KEYS[1], member) else redis.call('SREM', KEYS[1], member) end
  end
end
return ended
";

/// Records a logout of a user: keeps the latest logout time; announces it.
const REVOKE_SUB: &str = r"
local earlier = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > earlier then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], '*')
return 1
";

/// The logout records of a session (KEYS: `revoked:session` (kept by
/// earlier versions), `revoked:sub`, the epoch, the user's
/// `revoked:subject` hash, and `revoked:sid` when it has one; ARGV: the
/// session's field in the hash, and its `sid`'s (`-` without one)), with
/// the epoch: the Redis-made value the logouts kept now began with. Made
/// by a login (see `NOTE_LOGIN`), it is missing after Redis lost its data
/// (a restart without persistence, a flush): then every cookie session is
/// refused until a login makes a new one, and a session stamped with
/// another epoch stays refused (its logout may have been lost).
const IS_REVOKED: &str = r"
local sid = false
if KEYS[5] then sid = redis.call('GET', KEYS[5]) end
local fields = redis.call('HMGET', KEYS[4], ARGV[1], ARGV[2])
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]),
  fields[1], sid, fields[2]}
";

/// A cookie-store login (KEYS: the epoch; ARGV: the session lifetime):
/// makes the epoch from Redis's own clock (in ms) if there is none, and
/// keeps it for at least as long as this login's session may live; the
/// epoch, which the session is stamped with.
const NOTE_LOGIN: &str = r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  local time = redis.call('TIME')
  epoch = string.format('%.0f', tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))
  redis.call('SET', KEYS[1], epoch, 'EX', ARGV[1])
elseif redis.call('TTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return epoch
";

/// Records a logout as one of its user's (KEYS: the user's
/// `revoked:subject` hash, field to `until:at ms`, and `revoked:sub`;
/// ARGV: the field (`s:` a session, `i:` a `sid`), until (Unix s), when
/// (ms: the login for a session, the logout for a `sid`), the user's
/// share, the channel, now (Unix s, this instance's clock: the one
/// `until` was counted by), the announcement). The user's expired records
/// go first; recording one again keeps the later `until`. Past the share,
/// the user's records become one: `revoked:sub` (their sessions
/// authenticated until the latest of them) for as long as the longest.
const REVOKE_SESSION: &str = r"
local now = tonumber(ARGV[6])
local fields = redis.call('HGETALL', KEYS[1])
local count = 0
local until_s = tonumber(ARGV[2])
for i = 1, #fields, 2 do
  local u = tonumber(string.match(fields[i + 1], '^(%-?%d+):'))
  if (not u) or u <= now then
    redis.call('HDEL', KEYS[1], fields[i])
  elseif fields[i] == ARGV[1] then
    until_s = math.max(until_s, u)
  else
    count = count + 1
  end
end
if count < tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', until_s) .. ':' .. ARGV[3])
  local ttl = math.max(until_s - now, 1)
  if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
  redis.call('PUBLISH', ARGV[5], ARGV[7])
  return 0
end
local at_ms = tonumber(ARGV[3])
fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local u, l = string.match(fields[i + 1], '^(%-?%d+):(%-?%d+)$')
  if u then
    until_s = math.max(until_s, tonumber(u))
    at_ms = math.max(at_ms, tonumber(l))
  end
end
local earlier = tonumber(redis.call('GET', KEYS[2]) or '')
if earlier and earlier > at_ms then at_ms = earlier end
local ttl = math.max(until_s - now, redis.call('TTL', KEYS[2]), 1)
redis.call('SET', KEYS[2], string.format('%.0f', at_ms), 'EX', ttl)
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[5], '*')
return 1
";

/// Records a single use (`SET NX` with a token of this call, so that the
/// call's own retry after a lost reply is still the first use).
const FIRST_USE: &str = r"
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if holder == ARGV[1] then return 1 end
return 0
";

/// [`FIRST_USE`] within an owner's share (KEYS: the value's key, the
/// owner's index of what it holds; ARGV: the token, the TTL, the value's
/// expiry and now (Unix s, this instance's clock), the share): what the
/// owner holds that expired goes first; past the share, nothing is
/// recorded and the answer is -1 (that owner is refused, nobody else).
const FIRST_USE_OWNED: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder then
  if holder == ARGV[1] then return 1 end
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1])
if redis.call('TTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return 1
";

/// Claims a refresh (KEYS: result, lock; ARGV: token, lease ms) in one
/// step: the shared result if there is one, else the lease if it is free
/// (or already ours: a retry after a lost reply), else busy.
const CLAIM: &str = r"
local done = redis.call('GET', KEYS[1])
if done then return {'result', done} end
local holder = redis.call('GET', KEYS[2])
if not holder then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return {'won', false}
end
if holder == ARGV[1] then return {'won', false} end
return {'busy', false}
";

/// Releases a refresh lease if it is still ours.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Extends a refresh lease (KEYS: the lock; ARGV: token, lease ms) if it is
/// still ours: its holder is at work.
const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// The longest TTL ever set (a year): provider-sent times cannot make a
/// key live forever or overflow Redis's range.
const MAX_TTL_SECONDS: i64 = 366 * 24 * 3600;

/// What this instance read from Redis, kept briefly (`local_cache_seconds`)
/// and dropped as soon as any instance announces a change on the
/// `<prefix>changes` channel, so a logged-in request needs no round trip.
/// Nothing is served from here unless the announcements are heard and the
/// subscription answered its last heartbeat.
struct LocalCache {
    max_age: Duration,
    /// Subscribed to the announcements, and Redis answering.
    live: AtomicBool,
    /// Bumped by every announcement: a read that began before one is not kept.
    generation: AtomicU64,
    entries: Mutex<Entries>,
    /// Told when the state is dropped: the listener stops.
    closed: Notify,
}

struct Entries {
    /// Sessions of the `redis` store, by session id (not by Redis key: a
    /// hit needs no digest).
    sessions: LruCache<String, (Arc<UserSession>, Instant)>,
    /// Cookie sessions found not logged out, by session id.
    not_revoked: LruCache<String, Instant>,
    /// The session ids above by the digest that announcements name them by.
    ids: LruCache<String, String>,
}

impl Entries {
    fn clear(&mut self) {
        self.sessions.clear();
        self.not_revoked.clear();
        self.ids.clear();
    }
}

/// Bound on each local cache.
const LOCAL_ENTRIES: usize = 10_000;

/// The announcement of a change to every session (a logout by `sid` or `sub`).
const EVERYTHING: &str = "*";

/// The announcement of a change to the session whose index member is `member`.
fn one_session(member: &str) -> String {
    format!("s:{member}")
}

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
    /// `revoked:sub`: sessions authenticated until then (ms) are ended.
    sub_until_ms: Option<i64>,
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
        self.legacy
            || self.session
            || self.sid
            || self
                .sub_until_ms
                .is_some_and(|at_ms| session.last_authenticated_ms <= at_ms)
    }
}

impl LocalCache {
    fn new(max_age: Duration) -> LocalCache {
        let entries = NonZeroUsize::new(LOCAL_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        LocalCache {
            max_age,
            live: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            entries: Mutex::new(Entries {
                sessions: LruCache::new(entries),
                not_revoked: LruCache::new(entries),
                ids: LruCache::new(entries),
            }),
            closed: Notify::new(),
        }
    }

    fn enabled(&self) -> bool {
        !self.max_age.is_zero() && self.live.load(Ordering::Acquire)
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something changed: the session an announcement names is not served
    /// again (every session, for [`EVERYTHING`] or anything unknown), nor
    /// is anything read before it.
    fn changed(&self, announcement: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        match announcement.strip_prefix("s:") {
            Some(member) => {
                if let Some(id) = entries.ids.pop(member) {
                    entries.sessions.pop(&id);
                    entries.not_revoked.pop(&id);
                }
            }
            None => entries.clear(),
        }
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.max_age
    }

    fn session(&self, id: &str) -> Option<Arc<UserSession>> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.entries.lock().ok()?;
        match entries.sessions.get(id) {
            Some((session, at)) if self.fresh(*at) && !session.is_expired(clock::now()) => Some(session.clone()),
            _ => None,
        }
    }

    /// Keeps what a read that began at `generation` found, unless a change
    /// was announced meanwhile; `member` is the session's digest.
    fn keep_session(&self, id: &str, member: String, session: Arc<UserSession>, generation: u64) {
        self.keep(id, member, generation, |entries| {
            entries.sessions.put(id.to_string(), (session, Instant::now()));
        });
    }

    fn not_revoked(&self, id: &str) -> bool {
        if !self.enabled() {
            return false;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        entries.not_revoked.get(id).is_some_and(|at| self.fresh(*at))
    }

    fn keep_not_revoked(&self, id: &str, member: String, generation: u64) {
        self.keep(id, member, generation, |entries| {
            entries.not_revoked.put(id.to_string(), Instant::now());
        });
    }

    fn keep(&self, id: &str, member: String, generation: u64, put: impl FnOnce(&mut Entries)) {
        if !self.enabled() || self.generation() != generation {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if self.generation() == generation {
                // A session whose mapping falls out of `ids` could not be
                // named by an announcement any more: its copies go with it.
                if let Some((_, evicted)) = entries.ids.push(member, id.to_string()) {
                    if evicted != id {
                        entries.sessions.pop(&evicted);
                        entries.not_revoked.pop(&evicted);
                    }
                }
                put(&mut entries);
            }
        }
    }
}

/// How often the listener checks that Redis still answers on its
/// subscription: a Redis that froze or a connection that silently broke
/// turns the local cache off within this and `timeout_ms`.
const HEARTBEAT: Duration = Duration::from_millis(500);

/// Listens to the announcements of changes for as long as the state lives:
/// each one drops what it names from the local cache; while not subscribed
/// (or when a heartbeat goes unanswered), the cache is off and cleared
/// (announcements may have been missed).
async fn listen(cache: Weak<LocalCache>, client: redis::Client, channel: String, timeout: Duration) {
    loop {
        let Some(local) = cache.upgrade() else {
            return;
        };
        let subscribed = async {
            let mut pubsub = rocket::tokio::time::timeout(timeout, client.get_async_pubsub())
                .await
                .ok()?
                .ok()?;
            rocket::tokio::time::timeout(timeout, pubsub.subscribe(&channel))
                .await
                .ok()?
                .ok()?;
            Some(pubsub)
        }
        .await;
        if let Some(pubsub) = subscribed {
            let (mut sink, mut messages) = pubsub.split();
            local.changed(EVERYTHING);
            local.live.store(true, Ordering::Release);
            let mut heartbeat = rocket::tokio::time::interval(HEARTBEAT.min(local.max_age));
            loop {
                rocket::tokio::select! {
                    message = messages.next() => match message {
                        Some(message) if message.get_channel_name() == channel => {
                            local.changed(&message.get_payload::<String>().unwrap_or_default());
                        }
                        Some(_) => {}
                        None => break,
                    },
                    _ = heartbeat.tick() => {
                        let answered = rocket::tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await;
                        if !matches!(answered, Ok(Ok(_))) {
                            break;
                        }
                    }
                    () = local.closed.notified() => return,
                }
            }
            local.live.store(false, Ordering::Release);
            local.changed(EVERYTHING);
        }
        // Not subscribed (Redis down, or the connection broke): try again soon.
        rocket::tokio::select! {
            () = rocket::tokio::time::sleep(Duration::from_secs(1)) => {}
            () = local.closed.notified() => return,
        }
    }
}

pub(crate) struct RedisState {
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
}

impl RedisState {
    /// The state for `config`; no connection is made yet (the app starts
    /// while Redis is down).
    pub(crate) fn new(
        config: &RedisConfig,
        cipher: Arc<Cipher>,
        lifetime_seconds: u64,
        limits: &LimitsConfig,
    ) -> Result<RedisState, StateSetupError> {
        let bad_url = |error: RedisError| StateSetupError {
            key: "oidc.redis.url",
            message: format!("is not a usable Redis URL ({})", describe(&error)),
        };
        let client = match &config.ca_certificate_path {
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|e| StateSetupError {
                    key: "oidc.redis.ca_certificate_path",
                    message: format!("cannot be read ({e})"),
                })?;
                if !String::from_utf8_lossy(&root_cert).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(StateSetupError {
                        key: "oidc.redis.ca_certificate_path",
                        message: "holds no PEM certificate".into(),
                    });
                }
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(config.url.secret(), certificates).map_err(|e| StateSetupError {
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
        Ok(RedisState {
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
    async fn records_of(&self, session: &UserSession) -> Result<Records, StateError> {
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
            sub_until_ms: found
                .get(1)
                .and_then(|at| at.as_deref())
                .and_then(|at| at.parse::<i64>().ok()),
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
        until: i64,
        at_ms: i64,
        announcement: &str,
    ) -> Result<(), StateError> {
        let now = clock::now();
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
    pub(crate) async fn ping(&self) -> Result<(), StateError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }

    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StateError> {
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

    async fn script<T: FromRedisValue>(&self, script: &Script, keys: &[&str], args: &[&str]) -> Result<T, StateError> {
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
    async fn change<T: FromRedisValue>(&self, command: Cmd, announcement: &str) -> Result<T, StateError> {
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .add_command(command)
            .cmd("PUBLISH")
            .arg(&self.changes)
            .arg(announcement)
            .ignore();
        let mut connection = self.connection.clone();
        let result: Result<(T,), StateError> = bounded(self.timeout, async {
            match pipeline.query_async(&mut connection).await {
                Err(error) if lost_connection(&error) => pipeline.query_async(&mut connection).await,
                other => other,
            }
        })
        .await;
        self.local.changed(announcement);
        result.map(|(value,)| value)
    }

    fn seal(&self, key: &str, session: &UserSession) -> Result<String, StateError> {
        self.cipher
            .seal(key, &session.to_json())
            .ok_or_else(|| StateError::Unavailable("a value could not be sealed".into()))
    }

    /// The session sealed under `key`; anything that does not open, parse
    /// or carry `id` (when given) is no session.
    fn open(&self, key: &str, sealed: &str, id: Option<&str>) -> Option<Arc<UserSession>> {
        let json = self.cipher.open(key, sealed)?;
        let session = UserSession::from_json(json.as_bytes())?;
        let right_id = id.is_none_or(|id| id == session.id);
        (right_id && !session.is_expired(clock::now())).then(|| Arc::new(session))
    }

    /// Checks, once, whether Redis may lose the crate's keys (evicting
    /// them under memory pressure, or keeping too little across a restart),
    /// which would forget used states and logouts, and logs what it finds. A Redis that is down is reported; one that refuses
    /// `CONFIG` (managed services) is not.
    pub(crate) async fn check_config(&self) {
        let mut command = redis::cmd("CONFIG");
        command.arg("GET").arg("maxmemory*");
        let mut connection = self.connection.clone();
        let reply =
            rocket::tokio::time::timeout(self.timeout, command.query_async::<Vec<String>>(&mut connection)).await;
        match reply {
            Ok(Ok(pairs)) => {
                let value = |name: &str| {
                    pairs
                        .chunks(2)
                        .find(|pair| pair.first().map(String::as_str) == Some(name))
                        .and_then(|pair| pair.get(1).cloned())
                        .unwrap_or_default()
                };
                let (limit, policy) = (value("maxmemory"), value("maxmemory-policy"));
                self.check_persistence().await;
                if limit != "0" && !limit.is_empty() && policy != "noeviction" {
                    event!(
                        warn,
                        "oidc: Redis has `maxmemory {limit}` with `maxmemory-policy {policy}`: under memory \
                         pressure it may evict used states and logged-out sessions, letting them in again; \
                         `noeviction` makes it refuse writes instead (requests then answer 503)"
                    );
                }
            }
            Ok(Err(error)) if matches!(error.kind(), redis::ErrorKind::Server(_) | redis::ErrorKind::Extension) => {}
            Ok(Err(error)) => event!(
                warn,
                "oidc: Redis is unavailable at launch ({}); requests that need it answer 503 until it is back",
                describe(&error)
            ),
            Err(_) => event!(
                warn,
                "oidc: Redis is unavailable at launch (timed out); requests that need it answer 503 until it is back"
            ),
        }
    }
}

impl RedisState {
    /// Says at launch when Redis keeps nothing across a restart (no
    /// append-only file, no snapshots): a restart then forgets every
    /// logout, and every cookie session from before it is refused.
    async fn check_persistence(&self) {
        let get = |name: &'static str| {
            let mut command = redis::cmd("CONFIG");
            command.arg("GET").arg(name);
            let mut connection = self.connection.clone();
            async move {
                let pairs =
                    rocket::tokio::time::timeout(self.timeout, command.query_async::<Vec<String>>(&mut connection))
                        .await
                        .ok()?
                        .ok()?;
                pairs.get(1).cloned()
            }
        };
        let (appendonly, save) = (get("appendonly").await, get("save").await);
        if appendonly.as_deref() == Some("no") {
            let kept = if save.as_deref() == Some("") {
                "keeps no data across a restart (`appendonly no`, no `save` snapshots): a restart forgets every \
                 logout, so every cookie session from before it is then refused (users log in again)"
            } else {
                "keeps only snapshots (`appendonly no`): a crash brings back an older snapshot, without the \
                 logouts recorded since, and logged-out cookies of that time would be accepted again"
            };
            event!(
                warn,
                "oidc: Redis {kept}; sessions kept in Redis are lost too; turn on `appendonly yes`"
            );
        }
    }
}

/// `seconds` from now until `at`, within 1 second and [`MAX_TTL_SECONDS`].
fn ttl_until(at: i64) -> i64 {
    at.saturating_sub(clock::now()).clamp(1, MAX_TTL_SECONDS)
}

/// Runs a Redis call, its one retry included, within `timeout`: a request
/// that needs Redis has its answer or a `503` within `redis.timeout_ms`.
async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, StateError> {
    match rocket::tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            telemetry::redis_error(if error.is_timeout() { "timeout" } else { "error" });
            Err(StateError::Unavailable(describe(&error)))
        }
        Err(_) => {
            telemetry::redis_error("timeout");
            Err(StateError::Unavailable("timed out".into()))
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
impl SharedState for RedisState {
    async fn first_use(
        &self,
        ledger: Once,
        value: &str,
        owner: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StateError> {
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
        let token = openidconnect::CsrfToken::new_random().secret().clone();
        let ttl = ttl_until(expires_at).to_string();
        let first: i64 = match (ledger, owner) {
            (Once::DpopProof, Some(owner)) => {
                let owned = self.key(&format!("owner:{}", ledger.label()), &[owner]);
                let now = clock::now();
                let args = [
                    token,
                    ttl,
                    expires_at.clamp(now, now.saturating_add(MAX_TTL_SECONDS)).to_string(),
                    now.to_string(),
                    self.dpop_proofs_per_subject.to_string(),
                ];
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                self.script(&self.first_use_owned, &[&key, &owned], &args).await?
            }
            _ => self.script(&self.first_use, &[&key], &[&token, &ttl]).await?,
        };
        if first == -1 {
            return Err(StateError::OwnerFull {
                ledger: "DPoP proof ids",
                share: self.dpop_proofs_per_subject,
                key: "oidc.limits.dpop_proofs_per_subject",
            });
        }
        Ok(first == 1)
    }

    async fn was_used(&self, ledger: Once, value: &str) -> Result<bool, StateError> {
        let mut command = redis::cmd("EXISTS");
        command.arg(self.key(&format!("once:{}", ledger.label()), &[value]));
        Ok(self.query::<i64>(&command).await? > 0)
    }

    fn remembers_since_ms(&self) -> i64 {
        i64::MIN
    }

    fn logouts_outlive_restarts(&self) -> bool {
        true
    }

    async fn revoke(&self, revocation: Revocation<'_>) -> Result<(), StateError> {
        match revocation {
            Revocation::Session {
                id,
                provider,
                sub,
                login_ms,
                until,
            } => {
                let member = self.member(id);
                let announcement = one_session(&member);
                self.revoke_in_share(provider, sub, &session_field(&member), until, login_ms, &announcement)
                    .await
            }
            Revocation::Sid {
                provider,
                sid,
                sub: Some(sub),
                at_ms,
                until,
            } => {
                let field = sid_field(&self.member(sid));
                self.revoke_in_share(provider, sub, &field, until, at_ms, EVERYTHING)
                    .await
            }
            // A logout naming no user is nobody's to count: kept by itself,
            // as many as the provider sends (it is the one sending them).
            Revocation::Sid {
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
                    .arg(ttl_until(until));
                self.change::<Option<String>>(command, EVERYTHING).await.map(|_| ())
            }
            Revocation::Sub {
                provider,
                sub,
                at_ms,
                until,
            } => {
                let key = self.key("revoked:sub", &[provider, sub]);
                let ttl = ttl_until(until).to_string();
                let result = self
                    .script::<i64>(&self.revoke_sub, &[&key], &[&at_ms.to_string(), &ttl, &self.changes])
                    .await;
                self.local.changed(EVERYTHING);
                result.map(|_| ())
            }
        }
    }

    async fn is_revoked(&self, session: &UserSession) -> Result<bool, StateError> {
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

    async fn note_login(&self, _session: &UserSession) -> Result<Option<String>, StateError> {
        let epoch = format!("{}epoch", self.prefix);
        let lifetime = self.lifetime_seconds.clamp(1, MAX_TTL_SECONDS).to_string();
        let stamped: String = self.script(&self.note_login, &[&epoch], &[&lifetime]).await?;
        Ok(Some(format!("redis:{stamped}")))
    }

    async fn ended_by_logout(&self, session: &UserSession) -> Result<bool, StateError> {
        Ok(self.records_of(session).await?.ends(session))
    }

    async fn load_session(&self, id: &str) -> Result<Option<Arc<UserSession>>, StateError> {
        if let Some(session) = self.local.session(id) {
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

    async fn insert_session(&self, session: Arc<UserSession>) -> Result<(), StateError> {
        let key = self.session_key(&session.id);
        let sealed = self.seal(&key, &session)?;
        let subject = self.subject_key(&session.provider, &session.sub);
        let sid = session.sid().map(|sid| self.sid_key(&session.provider, sid));
        let session_prefix = format!("{}session:", self.prefix);
        let args = [
            session_prefix.as_str(),
            &sealed,
            &ttl_until(session.expires_at).to_string(),
            &self.member(&session.id),
            &session.last_authenticated_ms.to_string(),
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

    async fn replace_session(&self, session: Arc<UserSession>) -> Result<bool, StateError> {
        let member = self.member(&session.id);
        let key = format!("{}session:{member}", self.prefix);
        let sealed = self.seal(&key, &session)?;
        let mut command = redis::cmd("SET");
        command
            .arg(&key)
            .arg(sealed)
            .arg("EX")
            .arg(ttl_until(session.expires_at))
            .arg("XX");
        let replaced: Option<String> = self.change(command, &one_session(&member)).await?;
        Ok(replaced.is_some())
    }

    async fn remove_session(&self, id: &str) -> Result<(), StateError> {
        let member = self.member(id);
        let mut command = redis::cmd("DEL");
        command.arg(format!("{}session:{member}", self.prefix));
        self.change::<i64>(command, &one_session(&member)).await.map(|_| ())
    }

    async fn end_sessions(&self, target: LogoutTarget<'_>) -> Result<usize, StateError> {
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
                &[&session_prefix, mode, &self.changes, &target.at_ms.to_string()],
            )
            .await?;
        if ended > 0 {
            // This instance hears its own announcements too; what it kept of
            // those sessions goes now, not a moment later.
            self.local.changed(EVERYTHING);
        }
        Ok(usize::try_from(ended).unwrap_or(0))
    }

    async fn claim_refresh(&self, key: &RefreshKey, lease: Duration) -> Result<Claim, StateError> {
        let result_key = format!("{}refresh:result:{}", self.prefix, hex(&key.0));
        let lock_key = format!("{}refresh:lock:{}", self.prefix, hex(&key.0));
        let token = openidconnect::CsrfToken::new_random().secret().clone();
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1).to_string();
        let (kind, value): (String, Option<String>) = self
            .script(&self.claim, &[&result_key, &lock_key], &[&token, &lease_ms])
            .await?;
        Ok(match (kind.as_str(), value) {
            ("result", Some(sealed)) => match self.open(&result_key, &sealed, None) {
                Some(done) => Claim::Shared(done),
                // A result that does not open is none: wait for the lease.
                None => Claim::Busy,
            },
            ("won", _) => Claim::Won(Lease(token)),
            _ => Claim::Busy,
        })
    }

    async fn extend_refresh(&self, key: &RefreshKey, lease: &Lease, duration: Duration) -> Result<bool, StateError> {
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
        lease: Lease,
        result: Option<(&Arc<UserSession>, Duration)>,
    ) -> Result<(), StateError> {
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

impl Drop for RedisState {
    fn drop(&mut self) {
        // The listener holds a connection; it ends with the state.
        self.local.closed.notify_one();
    }
}

// Test code: fixed inputs only; a panic here is a failed test.
#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> Arc<UserSession> {
        let json = serde_json::json!({
            "id": id, "provider": "default", "sub": "alice", "id_token_jwt": "x",
            "id_token_claims": { "sub": "alice" }, "access_token": null,
            "access_token_expires_at": null, "refresh_token": null, "userinfo": null,
            "last_authenticated_ms": 1, "expires_at": i64::MAX
        });
        Arc::new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn an_announcement_drops_only_the_session_it_names() {
        let cache = LocalCache::new(Duration::from_secs(60));
        cache.live.store(true, Ordering::Release);
        let member = |id: &str| hex(&digest(&[id]));
        for id in ["a", "b"] {
            cache.keep_session(id, member(id), session(id), cache.generation());
            cache.keep_not_revoked(id, member(id), cache.generation());
        }
        cache.changed(&one_session(&member("a")));
        assert!(cache.session("a").is_none() && !cache.not_revoked("a"));
        assert!(cache.session("b").is_some() && cache.not_revoked("b"));
        cache.changed(EVERYTHING);
        assert!(cache.session("b").is_none() && !cache.not_revoked("b"));
    }

    #[test]
    fn a_read_that_began_before_an_announcement_is_not_kept() {
        let cache = LocalCache::new(Duration::from_secs(60));
        cache.live.store(true, Ordering::Release);
        let before = cache.generation();
        cache.changed(&one_session("unrelated"));
        cache.keep_session("a", hex(&digest(&["a"])), session("a"), before);
        assert!(cache.session("a").is_none());
    }

    #[test]
    fn a_copy_whose_name_an_announcement_could_no_longer_find_is_dropped() {
        let cache = LocalCache::new(Duration::from_secs(60));
        cache.live.store(true, Ordering::Release);
        let member = |id: &str| hex(&digest(&[id]));
        cache.keep_session("busy", member("busy"), session("busy"), cache.generation());
        // Many other sessions read since: `busy`'s name falls out of `ids`.
        for n in 0..LOCAL_ENTRIES {
            let id = format!("other-{n}");
            cache.keep_not_revoked(&id, member(&id), cache.generation());
        }
        assert!(
            cache.session("busy").is_none(),
            "a copy no announcement could reach is not served"
        );
    }

    #[test]
    fn nothing_is_served_while_not_subscribed() {
        let cache = LocalCache::new(Duration::from_secs(60));
        cache.keep_session("a", hex(&digest(&["a"])), session("a"), cache.generation());
        assert!(cache.session("a").is_none());
    }
}
