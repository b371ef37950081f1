//! Cookies opened before, by their exact sealed value: equal bytes were
//! authenticated before, so a hit needs no decryption and no parse. A
//! tampered cookie differs in its bytes and never hits. Bounded; the least
//! recently used entry goes first. What a hit gives must still be checked
//! (expiry, logouts) by whoever uses it.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

/// The whole sealed value (shared with the jars of the requests that sent
/// it, see [`Decoded::bytes`]), and what it opened to.
type Entry<V> = (Arc<str>, V);

pub(crate) struct Decoded<V> {
    /// By the end of the sealed value (its authentication tag: as random
    /// as a key needs to be, and short to hash), with the whole value to
    /// compare on a hit.
    entries: Mutex<LruCache<Key, Entry<V>>>,
    /// The `cache` label of its metrics.
    name: &'static str,
}

/// How much of the end of a sealed value keys it.
const KEY_BYTES: usize = 24;

/// The last [`KEY_BYTES`] bytes of a sealed value, kept in the entry
/// itself (a lookup reads no other allocation to compare keys).
type Key = [u8; KEY_BYTES];

/// The key of `sealed`; `None` for a value too short to be sealed by us
/// (it is never cached).
fn key(sealed: &str) -> Option<Key> {
    let start = sealed.len().checked_sub(KEY_BYTES)?;
    sealed.as_bytes().get(start..)?.try_into().ok()
}

/// Whether `cached` and `sealed` are the same bytes: at once when `sealed`
/// is the cached copy itself (a jar that shares it), else compared.
fn same_bytes(cached: &str, sealed: &str) -> bool {
    std::ptr::eq(cached, sealed) || cached == sealed
}

impl<V: Clone> Decoded<V> {
    /// A cache of `capacity` entries; `None` when `capacity` is 0 (off).
    pub(crate) fn new(name: &'static str, capacity: usize) -> Option<Decoded<V>> {
        let capacity = NonZeroUsize::new(capacity)?;
        Some(Decoded {
            entries: Mutex::new(LruCache::new(capacity)),
            name,
        })
    }

    /// What `sealed` was opened to, if it is cached (exactly these bytes).
    pub(crate) fn get(&self, sealed: &str) -> Option<V> {
        let key = key(sealed)?;
        let mut entries = self.entries.lock().ok()?;
        let found = match entries.get(&key) {
            Some((whole, value)) if same_bytes(whole, sealed) => Some(value.clone()),
            _ => None,
        };
        drop(entries);
        crate::telemetry::cache(self.name, found.is_some());
        found
    }

    /// The cached copy of `sealed` (exactly these bytes), so that a
    /// request's jar can hold it instead of a copy of its own; [`get`]
    /// then knows it by its address.
    ///
    /// [`get`]: Decoded::get
    pub(crate) fn bytes(&self, sealed: &str) -> Option<Arc<str>> {
        let key = key(sealed)?;
        let entries = self.entries.lock().ok()?;
        match entries.peek(&key) {
            Some((whole, _)) if same_bytes(whole, sealed) => Some(whole.clone()),
            _ => None,
        }
    }

    /// Remembers what `sealed` opened to.
    pub(crate) fn put(&self, sealed: &str, value: V) {
        let Some(key) = key(sealed) else {
            return;
        };
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(key, (sealed.into(), value));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bytes_hit_and_the_cache_is_bounded() {
        let cache: Decoded<u32> = Decoded::new("test", 2).unwrap();
        let a = format!("{}-the-tag-of-a-sealed-value-a", "x".repeat(100));
        cache.put(&a, 1);
        assert_eq!(cache.get(&a), Some(1));
        // Same end, other bytes: not a hit.
        let forged = format!("{}-the-tag-of-a-sealed-value-a", "y".repeat(100));
        assert_eq!(cache.get(&forged), None);
        assert_eq!(cache.get(&a.to_uppercase()), None);
        assert_eq!(cache.get(&a[1..]), None);
        // The cached copy is handed out only for the same bytes, and is
        // known again by its address.
        let copy = cache.bytes(&a).unwrap();
        assert_eq!(*copy, *a);
        assert!(cache.bytes(&forged).is_none());
        assert_eq!(cache.get(&copy), Some(1));
        let (b, c) = (format!("{}-b", "x".repeat(30)), format!("{}-c", "x".repeat(30)));
        cache.put(&b, 2);
        cache.put(&c, 3);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&a), None, "the least recently used went first");
        // Too short to be sealed: never kept.
        cache.put("short", 4);
        assert_eq!(cache.get("short"), None);
        assert!(Decoded::<u32>::new("test", 0).is_none(), "0 turns it off");
    }
}
