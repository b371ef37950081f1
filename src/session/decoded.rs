//! Cookies opened before, by their exact sealed value: equal bytes were
//! authenticated before, so a hit needs no decryption and no parse. A
//! tampered cookie differs in its bytes and never hits. Bounded; the least
//! recently used entry goes first. What a hit gives must still be checked
//! (expiry, logouts) by whoever uses it.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

/// The whole sealed value, and what it opened to.
type Entry<V> = (Box<str>, V);

pub(crate) struct Decoded<V> {
    /// By the end of the sealed value (its authentication tag: as random
    /// as a key needs to be, and short to hash), with the whole value to
    /// compare on a hit.
    entries: Mutex<LruCache<Box<str>, Entry<V>>>,
}

/// How much of the end of a sealed value keys it.
const KEY_BYTES: usize = 24;

fn key(sealed: &str) -> &str {
    let mut start = sealed.len().saturating_sub(KEY_BYTES);
    // Index 0 is always a boundary, so this stops before underflowing and
    // the slice below cannot panic.
    while !sealed.is_char_boundary(start) {
        start -= 1;
    }
    &sealed[start..]
}

impl<V: Clone> Decoded<V> {
    /// A cache of `capacity` entries; `None` when `capacity` is 0 (off).
    pub(crate) fn new(capacity: usize) -> Option<Decoded<V>> {
        let capacity = NonZeroUsize::new(capacity)?;
        Some(Decoded {
            entries: Mutex::new(LruCache::new(capacity)),
        })
    }

    /// What `sealed` was opened to, if it is cached (exactly these bytes).
    pub(crate) fn get(&self, sealed: &str) -> Option<V> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key(sealed)) {
            Some((whole, value)) if **whole == *sealed => Some(value.clone()),
            _ => None,
        }
    }

    /// Remembers what `sealed` opened to.
    pub(crate) fn put(&self, sealed: &str, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(key(sealed).into(), (sealed.into(), value));
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
        let cache: Decoded<u32> = Decoded::new(2).unwrap();
        let a = format!("{}-the-tag-of-a-sealed-value-a", "x".repeat(100));
        cache.put(&a, 1);
        assert_eq!(cache.get(&a), Some(1));
        // Same end, other bytes: not a hit.
        let forged = format!("{}-the-tag-of-a-sealed-value-a", "y".repeat(100));
        assert_eq!(cache.get(&forged), None);
        assert_eq!(cache.get(&a.to_uppercase()), None);
        assert_eq!(cache.get(&a[1..]), None);
        cache.put("sealed-b", 2);
        cache.put("sealed-c", 3);
        assert_eq!(cache.len(), 2);
        assert!(Decoded::<u32>::new(0).is_none(), "0 turns it off");
    }
}
