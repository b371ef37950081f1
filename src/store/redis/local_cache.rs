//! What this instance read from Redis, kept briefly and dropped as soon as
//! any instance announces a change: so a logged-in request needs no round
//! trip, and no instance serves what another changed.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use lru::LruCache;
use rocket::futures::StreamExt;
use rocket::tokio::sync::Notify;

#[cfg(test)]
use crate::clock::AppClock;
use crate::clock::UnixTime;
use crate::session::UserSession;

/// What this instance read from Redis, kept briefly (`local_cache_seconds`)
/// and dropped as soon as any instance announces a change on the
/// `<prefix>changes` channel, so a logged-in request needs no round trip.
/// Nothing is served from here unless the announcements are heard and the
/// subscription answered its last heartbeat.
pub(super) struct LocalCache {
    max_age: Duration,
    /// Subscribed to the announcements, and Redis answering.
    live: AtomicBool,
    /// Bumped by every announcement: a read that began before one is not kept.
    generation: AtomicU64,
    entries: Mutex<Entries>,
    /// Told when the state is dropped: the listener stops.
    pub(super) closed: Notify,
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
pub(super) const EVERYTHING: &str = "*";

/// The announcement of a change to the session whose index member is `member`.
pub(super) fn one_session(member: &str) -> String {
    format!("s:{member}")
}

impl LocalCache {
    pub(super) fn new(max_age: Duration) -> LocalCache {
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

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Something changed: the session an announcement names is not served
    /// again (every session, for [`EVERYTHING`] or anything unknown), nor
    /// is anything read before it.
    pub(super) fn changed(&self, announcement: &str) {
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

    pub(super) fn session(&self, id: &str, now: UnixTime) -> Option<Arc<UserSession>> {
        if !self.enabled() {
            return None;
        }
        let mut entries = self.entries.lock().ok()?;
        match entries.sessions.get(id) {
            Some((session, at)) if self.fresh(*at) && !session.is_expired(now) => Some(session.clone()),
            _ => None,
        }
    }

    /// Keeps what a read that began at `generation` found, unless a change
    /// was announced meanwhile; `member` is the session's digest.
    pub(super) fn keep_session(&self, id: &str, member: String, session: Arc<UserSession>, generation: u64) {
        self.keep(id, member, generation, |entries| {
            entries.sessions.put(id.to_string(), (session, Instant::now()));
        });
    }

    pub(super) fn not_revoked(&self, id: &str) -> bool {
        if !self.enabled() {
            return false;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        entries.not_revoked.get(id).is_some_and(|at| self.fresh(*at))
    }

    pub(super) fn keep_not_revoked(&self, id: &str, member: String, generation: u64) {
        self.keep(id, member, generation, |entries| {
            entries.not_revoked.put(id.to_string(), Instant::now());
        });
    }

    fn keep(&self, id: &str, member: String, generation: u64, put: impl FnOnce(&mut Entries)) {
        if !self.enabled() || self.generation() != generation {
            return;
        }
        if let Ok(mut entries) = self.entries.lock()
            && self.generation() == generation
        {
            // A session whose mapping falls out of `ids` could not be
            // named by an announcement any more: its copies go with it.
            if let Some((_, evicted)) = entries.ids.push(member, id.to_string())
                && evicted != id
            {
                entries.sessions.pop(&evicted);
                entries.not_revoked.pop(&evicted);
            }
            put(&mut entries);
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
pub(super) async fn listen(cache: Weak<LocalCache>, client: redis::Client, channel: String, timeout: Duration) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{digest, hex};

    fn session(id: &str) -> Arc<UserSession> {
        let json = serde_json::json!({
            "id": id, "provider": "default", "sub": "alice", "id_token_jwt": "x",
            "id_token_claims": { "sub": "alice" }, "access_token": null,
            "access_token_expires_at": null, "refresh_token": null, "userinfo": null,
            "last_authenticated_ms": 1, "expires_at": i64::MAX
        });
        Arc::new(UserSession::from_json(json.to_string().as_bytes()).unwrap())
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
        assert!(cache.session("a", AppClock::default().time()).is_none() && !cache.not_revoked("a"));
        assert!(cache.session("b", AppClock::default().time()).is_some() && cache.not_revoked("b"));
        cache.changed(EVERYTHING);
        assert!(cache.session("b", AppClock::default().time()).is_none() && !cache.not_revoked("b"));
    }

    #[test]
    fn a_read_that_began_before_an_announcement_is_not_kept() {
        let cache = LocalCache::new(Duration::from_secs(60));
        cache.live.store(true, Ordering::Release);
        let before = cache.generation();
        cache.changed(&one_session("unrelated"));
        cache.keep_session("a", hex(&digest(&["a"])), session("a"), before);
        assert!(cache.session("a", AppClock::default().time()).is_none());
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
            cache.session("busy", AppClock::default().time()).is_none(),
            "a copy no announcement could reach is not served"
        );
    }

    #[test]
    fn nothing_is_served_while_not_subscribed() {
        let cache = LocalCache::new(Duration::from_secs(60));
        cache.keep_session("a", hex(&digest(&["a"])), session("a"), cache.generation());
        assert!(cache.session("a", AppClock::default().time()).is_none());
    }
}
