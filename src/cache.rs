//! A bounded cache with expiring entries whose misses are loaded once:
//! concurrent callers asking for the same missing key share one load
//! (single-flight). Used for introspection results and client-credentials
//! tokens. Failed loads are not cached. Generic over the error type: it
//! knows nothing of the crate's errors.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocket::tokio::sync::OnceCell;

type Flight<V, E> = Arc<OnceCell<Result<(V, Duration), E>>>;

pub(crate) struct FlightCache<K, V, E> {
    capacity: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
    flights: Mutex<HashMap<K, Flight<V, E>>>,
}

impl<K: Eq + Hash + Clone, V: Clone, E: Clone> FlightCache<K, V, E> {
    pub(crate) fn new(capacity: usize) -> Self {
        FlightCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The cached value for `key`, or the value `load` yields, kept for the
    /// time-to-live `load` returns with it (zero: not kept).
    pub(crate) async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, Duration), E>>,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let flight = match self.flights.lock() {
            Ok(mut flights) => {
                // Looked up again under the lock: a flight that just landed
                // has stored its value before leaving `flights`.
                if let Some(value) = self.get(&key) {
                    return Ok(value);
                }
                flights.entry(key.clone()).or_default().clone()
            }
            Err(_) => Flight::default(),
        };
        let result = flight.get_or_init(load).await.clone();
        if let Ok(mut flights) = self.flights.lock() {
            if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&key);
                if let Ok((value, ttl)) = &result {
                    self.insert(key, value.clone(), *ttl);
                }
            }
        }
        result.map(|(value, _)| value)
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (value, expires) = entries.get(key)?;
        (Instant::now() < *expires).then(|| value.clone())
    }

    fn insert(&self, key: K, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        let Some(expires) = now.checked_add(ttl) else {
            return;
        };
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.capacity {
                // Still full of live entries: start over rather than grow.
                entries.clear();
            }
        }
        entries.insert(key, (value, expires));
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
                    .get_or_load(1, || async {
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

        let failed = cache.get_or_load(2, || async { Err("down".to_string()) }).await;
        assert!(failed.is_err());
        let loaded = cache.get_or_load(2, || async { Ok((9, Duration::from_secs(1))) }).await;
        assert_eq!(loaded.unwrap(), 9);
    }

    #[rocket::async_test]
    async fn entries_expire_and_capacity_is_bounded() {
        let cache: FlightCache<u32, u32, String> = FlightCache::new(4);
        cache
            .get_or_load(1, || async { Ok((1, Duration::from_millis(1))) })
            .await
            .unwrap();
        rocket::tokio::time::sleep(Duration::from_millis(5)).await;
        let again = cache
            .get_or_load(1, || async { Ok((2, Duration::from_secs(60))) })
            .await;
        assert_eq!(again.unwrap(), 2);
        for key in 10..30 {
            cache
                .get_or_load(key, || async move { Ok((key, Duration::from_secs(60))) })
                .await
                .unwrap();
        }
        assert!(cache.entries.lock().unwrap().len() <= 4);
    }
}
