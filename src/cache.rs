//! Generic caches; they know nothing of the crate's errors.
//!
//! * [`FlightCache`]: bounded, least-recently-used entries that expire;
//!   concurrent callers asking for the same missing key share one load
//!   (single flight). Failed loads are not kept. Used for bearer-token
//!   checks and client-credentials tokens.
//! * [`Lazy`]: a value made once, on first use. A failure is handed to every
//!   caller that was waiting for the same attempt and kept for a short,
//!   growing back-off, so N requests queued behind a provider that never
//!   answers wait one timeout, not N. Used for discovery and registration.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lru::LruCache;
use rocket::tokio::sync::{Mutex as AsyncMutex, OnceCell};

type Flight<V, E> = Arc<OnceCell<Result<(V, Duration), E>>>;

/// Where a cache reads the monotonic time: the machine's clock, or the
/// app's (`clock::AppClock::instant`, which tests move).
pub(crate) type Now = Arc<dyn Fn() -> Instant + Send + Sync>;

#[cfg(test)]
fn machine_now() -> Now {
    Arc::new(Instant::now)
}

pub(crate) struct FlightCache<K: Hash + Eq, V, E> {
    entries: Mutex<LruCache<K, (V, Instant)>>,
    flights: Mutex<HashMap<K, Flight<V, E>>>,
    now: Now,
}

/// Removes a flight from [`FlightCache::get_or_load`]'s map when dropped,
/// if it is still the one there; [`Landing::land`] stores its value first.
struct Landing<'a, K: Hash + Eq + Clone, V: Clone, E: Clone> {
    cache: &'a FlightCache<K, V, E>,
    key: K,
    flight: Flight<V, E>,
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Landing<'_, K, V, E> {
    /// Stores the flight's value (under the map's lock, so no new flight
    /// starts between the value landing and the flight leaving).
    fn land(self, value: &V, ttl: Duration) {
        if let Ok(flights) = self.cache.flights.lock()
            && flights.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            self.cache.insert(self.key.clone(), value.clone(), ttl);
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone, E: Clone> Drop for Landing<'_, K, V, E> {
    fn drop(&mut self) {
        if let Ok(mut flights) = self.cache.flights.lock()
            && flights.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone, E: Clone> FlightCache<K, V, E> {
    /// A cache of at most `capacity` entries (at least one), on the
    /// machine's clock.
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> Self {
        Self::on(capacity, machine_now())
    }

    /// A cache of at most `capacity` entries (at least one), whose entries
    /// expire on the time `now` reads.
    pub(crate) fn on(capacity: usize, now: Now) -> Self {
        FlightCache {
            entries: Mutex::new(LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))),
            flights: Mutex::new(HashMap::new()),
            now,
        }
    }

    /// The cached value for `key`, or the value `load` yields, kept for the
    /// time-to-live `load` returns with it (zero: not kept). The key is
    /// copied only on a miss.
    pub(crate) async fn get_or_load<Q, F, Fut>(&self, key: &Q, load: F) -> Result<V, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, Duration), E>>,
    {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let flight = match self.flights.lock() {
            Ok(mut flights) => {
                // Looked up again under the lock: a flight that just landed
                // has stored its value before leaving `flights`.
                if let Some(value) = self.get(key) {
                    return Ok(value);
                }
                flights.entry(key.to_owned()).or_default().clone()
            }
            Err(_) => Flight::default(),
        };
        // The flight leaves the map when this caller is done with it, and
        // also when its request is dropped midway (a client that went
        // away): the map holds only flights some caller is waiting on.
        let landing = Landing {
            cache: self,
            key: key.to_owned(),
            flight,
        };
        let result = landing.flight.get_or_init(load).await.clone();
        if let Ok((value, ttl)) = &result {
            landing.land(value, *ttl);
        }
        result.map(|(value, _)| value)
    }

    /// The live value of `key`, marked as recently used.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((value, expires)) if (self.now)() < *expires => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    fn insert(&self, key: K, value: V, ttl: Duration) {
        let Some(expires) = (self.now)().checked_add(ttl).filter(|_| !ttl.is_zero()) else {
            return;
        };
        if let Ok(mut entries) = self.entries.lock() {
            // Full: the least recently used entry makes room.
            entries.put(key, (value, expires));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// After `failures` failed attempts in a row, how long the last failure is
/// handed out before the next attempt: 1 s, 2 s, then 4 s.
pub(crate) fn back_off(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(2))
}

pub(crate) struct Lazy<T, E> {
    value: OnceLock<T>,
    attempts: AsyncMutex<Failures<E>>,
    now: Now,
}

struct Failures<E> {
    last: Option<(Instant, E)>,
    in_a_row: u32,
}

impl<T: Clone, E: Clone> Lazy<T, E> {
    /// A value to be made on first use; back-offs on the time `now` reads.
    pub(crate) fn on(now: Now) -> Self {
        Lazy {
            value: OnceLock::new(),
            attempts: AsyncMutex::new(Failures {
                last: None,
                in_a_row: 0,
            }),
            now,
        }
    }

    /// A value known from the start (`None`: made on first use).
    pub(crate) fn with(value: Option<T>, now: Now) -> Self {
        let lazy = Self::on(now);
        if let Some(value) = value {
            let _ = lazy.value.set(value);
        }
        lazy
    }

    /// The value, if it was made.
    pub(crate) fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, made by `make` if nobody has made it yet. Callers that
    /// arrive while an attempt runs wait for it and share its outcome; a
    /// failure is handed out for a back-off before the next attempt.
    pub(crate) async fn get_or_try_init<F, Fut>(&self, make: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.value.get() {
            return Ok(value.clone());
        }
        let mut failures = self.attempts.lock().await;
        if let Some(value) = self.value.get() {
            return Ok(value.clone());
        }
        if let Some((at, error)) = &failures.last
            && (self.now)().saturating_duration_since(*at) < back_off(failures.in_a_row)
        {
            return Err(error.clone());
        }
        match make().await {
            Ok(value) => {
                let value = self.value.get_or_init(|| value).clone();
                failures.last = None;
                failures.in_a_row = 0;
                Ok(value)
            }
            Err(error) => {
                failures.in_a_row = failures.in_a_row.saturating_add(1);
                failures.last = Some(((self.now)(), error.clone()));
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[rocket::async_test]
    async fn concurrent_misses_load_once_and_errors_are_not_kept() {
        let cache: Arc<FlightCache<u8, u32, String>> = Arc::new(FlightCache::new(10));
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, loads) = (cache.clone(), loads.clone());
            tasks.push(rocket::tokio::spawn(async move {
                cache
                    .get_or_load(&1, || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        rocket::tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok((7, Duration::from_secs(60)))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), 7);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);

        let failed = cache.get_or_load(&2, || async { Err("down".to_string()) }).await;
        assert!(failed.is_err());
        let loaded = cache
            .get_or_load(&2, || async { Ok((9, Duration::from_secs(1))) })
            .await;
        assert_eq!(loaded.unwrap(), 9);
    }

    #[rocket::async_test]
    async fn a_caller_that_goes_away_midway_leaves_no_flight_behind() {
        let cache: FlightCache<u32, u32, String> = FlightCache::new(10);
        for key in 0..100 {
            let never = cache.get_or_load(&key, std::future::pending);
            // Polled once (the flight starts), then dropped, as Rocket drops
            // the request of a client that went away.
            let _ = rocket::tokio::time::timeout(Duration::from_millis(1), never).await;
        }
        assert_eq!(cache.flights.lock().map(|f| f.len()).unwrap_or(usize::MAX), 0);
        assert_eq!(
            cache
                .get_or_load(&1, || async { Ok((5, Duration::from_secs(1))) })
                .await,
            Ok(5)
        );
    }

    #[rocket::async_test]
    async fn entries_expire_and_the_least_recently_used_makes_room() {
        let cache: FlightCache<u32, u32, String> = FlightCache::new(2);
        let load = |v: u32, ttl: Duration| move || async move { Ok((v, ttl)) };
        cache.get_or_load(&1, load(1, Duration::from_millis(1))).await.unwrap();
        rocket::tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            cache.get_or_load(&1, load(2, Duration::from_secs(60))).await.unwrap(),
            2
        );
        cache.get_or_load(&3, load(3, Duration::from_secs(60))).await.unwrap();
        // 1 is used again, so 3 is the least recently used when 4 arrives.
        assert_eq!(
            cache.get_or_load(&1, load(99, Duration::from_secs(60))).await.unwrap(),
            2
        );
        cache.get_or_load(&4, load(4, Duration::from_secs(60))).await.unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.get_or_load(&1, load(99, Duration::from_secs(60))).await.unwrap(),
            2
        );
        assert_eq!(
            cache.get_or_load(&3, load(33, Duration::from_secs(60))).await.unwrap(),
            33
        );
        // A huge time-to-live is kept, not an overflow.
        cache.get_or_load(&5, load(5, Duration::MAX)).await.unwrap();
    }

    #[rocket::async_test]
    async fn a_failure_is_shared_by_its_waiters_and_kept_for_a_back_off() {
        // A clock the test moves: the machine's plus `ahead` milliseconds.
        let ahead = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let now: Now = {
            let ahead = ahead.clone();
            Arc::new(move || Instant::now() + Duration::from_millis(ahead.load(Ordering::SeqCst)))
        };
        let lazy: Arc<Lazy<u32, String>> = Arc::new(Lazy::on(now));
        let attempts = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (lazy, attempts) = (lazy.clone(), attempts.clone());
            tasks.push(rocket::tokio::spawn(async move {
                lazy.get_or_try_init(|| async {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    rocket::tokio::time::sleep(Duration::from_millis(100)).await;
                    Err::<u32, _>("down".to_string())
                })
                .await
            }));
        }
        let start = Instant::now();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Err("down".to_string()));
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "one attempt for eight waiters");
        assert!(start.elapsed() < Duration::from_millis(500));
        // Within the back-off, no new attempt.
        let again = lazy.get_or_try_init(|| async { Ok(1) }).await;
        assert_eq!(again, Err("down".to_string()));
        ahead.fetch_add(back_off(1).as_millis() as u64, Ordering::SeqCst);
        assert_eq!(lazy.get_or_try_init(|| async { Ok(1) }).await, Ok(1));
        assert_eq!(lazy.get(), Some(&1));
        assert_eq!(back_off(10), Duration::from_secs(4));
    }
}
