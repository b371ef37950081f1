//! A bounded map whose entries expire, ordered by expiry so that dropping
//! expired entries costs O(log n) each, never a scan.
//!
//! Two policies when it is full of live entries: [`Ledger::insert_new`]
//! refuses (for ledgers whose loss would let something in again: used
//! states, logout token ids, revocations), [`Ledger::insert_evicting`]
//! drops the entry closest to expiry (for coordination data whose loss
//! only costs work).

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use crate::clock::UnixTime;

/// The ledger is full of entries that have not expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Entries expire at a `T`: a [`UnixTime`] (seconds) unless the ledger
/// says otherwise (the refresh leases count in [`UnixMillis`](crate::clock::UnixMillis)).
pub(crate) struct Ledger<K, V = (), T = UnixTime> {
    capacity: usize,
    entries: HashMap<K, (T, V)>,
    by_expiry: BTreeSet<(T, K)>,
}

impl<K: Eq + Hash + Ord + Clone, V, T: Ord + Copy> Ledger<K, V, T> {
    /// A ledger of at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Ledger {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops the entries that expired at `now` (an entry expiring at `t`
    /// is live while `now < t`).
    pub(crate) fn purge(&mut self, now: T) {
        self.purge_each(now, |_, _| {});
    }

    /// [`purge`](Self::purge), handing each dropped entry to `dropped`
    /// (so that an index kept beside the ledger follows it).
    pub(crate) fn purge_each(&mut self, now: T, mut dropped: impl FnMut(K, V)) {
        while let Some((expiry, _)) = self.by_expiry.first() {
            if *expiry > now {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first()
                && let Some((_, value)) = self.entries.remove(&key)
            {
                dropped(key, value);
            }
        }
    }

    /// When the entry `key` expires, if there is one.
    pub(crate) fn expiry(&self, key: &K) -> Option<T> {
        self.entries.get(key).map(|(expiry, _)| *expiry)
    }

    /// How many entries it holds (expired ones included until purged).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether a new key would find room at `now` (after dropping the
    /// expired entries).
    pub(crate) fn has_room(&mut self, now: T) -> bool {
        self.make_room(now).is_ok()
    }

    /// Every live entry at `now`: key, expiry and value.
    pub(crate) fn live(&self, now: T) -> impl Iterator<Item = (&K, T, &V)> {
        self.entries
            .iter()
            .filter(move |(_, (expiry, _))| *expiry > now)
            .map(|(key, (expiry, value))| (key, *expiry, value))
    }

    /// The value of `key` if it is live at `now`.
    pub(crate) fn get(&self, key: &K, now: T) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(expiry, _)| *expiry > now)
            .map(|(_, value)| value)
    }

    /// Records `key` until `expires_at`: `Ok(true)` if it was not live,
    /// `Ok(false)` if it was (the value is left as it was), `Err(Full)`
    /// when there is no room even after dropping expired entries.
    pub(crate) fn insert_new(&mut self, key: K, expires_at: T, value: V, now: T) -> Result<bool, Full> {
        if self.get(&key, now).is_some() {
            return Ok(false);
        }
        self.make_room(now)?;
        self.put(key, expires_at, value);
        Ok(true)
    }

    /// Records `key` until `expires_at`, replacing a live entry; `Err(Full)`
    /// when a new key finds no room even after dropping expired entries.
    pub(crate) fn upsert(&mut self, key: K, expires_at: T, value: V, now: T) -> Result<(), Full> {
        if !self.entries.contains_key(&key) {
            self.make_room(now)?;
        }
        self.put(key, expires_at, value);
        Ok(())
    }

    /// Records `key` until `expires_at`, replacing a live entry; when full,
    /// the entry closest to expiry makes room.
    pub(crate) fn insert_evicting(&mut self, key: K, expires_at: T, value: V, now: T) {
        if !self.entries.contains_key(&key)
            && self.make_room(now).is_err()
            && let Some((_, oldest)) = self.by_expiry.pop_first()
        {
            self.entries.remove(&oldest);
        }
        self.put(key, expires_at, value);
    }

    /// Removes `key`; its value, if it had one.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (expiry, value) = self.entries.remove(key)?;
        self.by_expiry.remove(&(expiry, key.clone()));
        Some(value)
    }

    fn make_room(&mut self, now: T) -> Result<(), Full> {
        if self.entries.len() >= self.capacity {
            self.purge(now);
        }
        if self.entries.len() >= self.capacity {
            Err(Full)
        } else {
            Ok(())
        }
    }

    fn put(&mut self, key: K, expires_at: T, value: V) {
        if let Some((old_expiry, _)) = self.entries.insert(key.clone(), (expires_at, value)) {
            self.by_expiry.remove(&(old_expiry, key.clone()));
        }
        self.by_expiry.insert((expires_at, key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seconds` as a calendar time.
    fn at(seconds: i64) -> UnixTime {
        UnixTime::from_secs(seconds)
    }

    #[test]
    fn a_full_ledger_refuses_rather_than_forgets() {
        let mut ledger: Ledger<u32> = Ledger::new(3);
        for key in 0..3 {
            assert_eq!(ledger.insert_new(key, at(100), (), at(0)), Ok(true));
        }
        assert_eq!(ledger.insert_new(9, at(100), (), at(0)), Err(Full));
        // Every recorded value is still refused as a second use.
        for key in 0..3 {
            assert_eq!(ledger.insert_new(key, at(100), (), at(50)), Ok(false));
        }
        // Once they expire, there is room again.
        assert_eq!(ledger.insert_new(9, at(200), (), at(100)), Ok(true));
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn only_expired_entries_make_room() {
        let mut ledger: Ledger<u32> = Ledger::new(2);
        assert_eq!(ledger.insert_new(1, at(10), (), at(0)), Ok(true));
        assert_eq!(ledger.insert_new(2, at(1000), (), at(0)), Ok(true));
        assert_eq!(ledger.insert_new(3, at(1000), (), at(20)), Ok(true), "1 expired at 10");
        assert_eq!(ledger.insert_new(4, at(1000), (), at(20)), Err(Full));
        assert_eq!(ledger.insert_new(2, at(1000), (), at(20)), Ok(false));
        assert_eq!(ledger.insert_new(3, at(1000), (), at(20)), Ok(false));
        // An expired entry is no longer live, so it may be used again.
        assert_eq!(ledger.get(&1, at(20)), None);
    }

    #[test]
    fn upsert_replaces_and_evicting_inserts_drop_the_closest_expiry() {
        let mut ledger: Ledger<u32, &str> = Ledger::new(2);
        ledger.upsert(1, at(10), "a", at(0)).unwrap();
        ledger.upsert(1, at(30), "b", at(0)).unwrap();
        assert_eq!(ledger.get(&1, at(20)), Some(&"b"), "the new expiry counts");
        ledger.upsert(2, at(20), "c", at(0)).unwrap();
        assert_eq!(ledger.upsert(3, at(40), "d", at(0)), Err(Full));
        ledger.insert_evicting(3, at(40), "d", at(0));
        assert_eq!(ledger.get(&2, at(0)), None, "2 expired soonest");
        assert_eq!(ledger.get(&1, at(0)), Some(&"b"));
        assert_eq!(ledger.remove(&1), Some("b"));
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn purging_a_large_ledger_touches_only_expired_entries() {
        let mut ledger: Ledger<u32> = Ledger::new(200_000);
        for key in 0..100_000 {
            ledger.insert_new(key, at(i64::from(key)), (), at(0)).unwrap();
        }
        ledger.purge(at(50_000));
        assert_eq!(ledger.len(), 49_999);
        assert!(ledger.get(&50_000, at(50_000)).is_none());
        assert!(ledger.get(&50_001, at(50_000)).is_some());
    }
}
