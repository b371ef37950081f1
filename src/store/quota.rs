//! A ledger that refuses rather than forgets, where each owner (a user's
//! account, the DPoP tokens of one subject) may hold at most a share: one owner who fills its
//! share is refused (`429`) while everyone else still finds room. Only a
//! ledger full of many owners' live entries refuses everyone (`503`).

use std::collections::HashMap;
use std::hash::Hash;

use crate::clock::UnixTime;
use crate::store::ledger::{Full, Ledger};

/// Why an entry could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The ledger is full of live entries.
    Full,
    /// This owner holds its whole share already.
    OwnerFull,
}

impl From<Full> for Refusal {
    fn from(_: Full) -> Refusal {
        Refusal::Full
    }
}

pub(crate) struct QuotaLedger<K, O> {
    entries: Ledger<K, O>,
    /// Live entries per owner.
    held: HashMap<O, usize>,
    share: usize,
}

impl<K: Eq + Hash + Ord + Clone, O: Eq + Hash + Clone> QuotaLedger<K, O> {
    /// At most `capacity` entries in all, `share` of them per owner.
    pub(crate) fn new(capacity: usize, share: usize) -> Self {
        QuotaLedger {
            entries: Ledger::new(capacity),
            held: HashMap::new(),
            share: share.max(1),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    pub(crate) fn share(&self) -> usize {
        self.share
    }

    fn purge(&mut self, now: UnixTime) {
        let held = &mut self.held;
        self.entries.purge_each(now, |_, owner| {
            if let Some(count) = held.get_mut(&owner) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    held.remove(&owner);
                }
            }
        });
    }

    /// Whether `key` is live at `now`.
    pub(crate) fn contains(&self, key: &K, now: UnixTime) -> bool {
        self.entries.get(key, now).is_some()
    }

    /// Whether a new entry would find room at `now`, whoever its owner.
    pub(crate) fn has_room(&mut self, now: UnixTime) -> bool {
        self.purge(now);
        self.entries.has_room(now)
    }

    /// Records `key` for `owner` until `expires_at`: `Ok(true)` if it was
    /// not live, `Ok(false)` if it was (nothing changes), or why not.
    pub(crate) fn insert_new(
        &mut self,
        key: K,
        owner: O,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, Refusal> {
        self.purge(now);
        if self.entries.get(&key, now).is_some() {
            return Ok(false);
        }
        if self.held.get(&owner).copied().unwrap_or(0) >= self.share {
            return Err(Refusal::OwnerFull);
        }
        self.entries.insert_new(key, expires_at, owner.clone(), now)?;
        *self.held.entry(owner).or_insert(0) += 1;
        Ok(true)
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
    fn one_owner_fills_its_share_and_others_still_find_room() {
        let mut ledger: QuotaLedger<u32, &str> = QuotaLedger::new(10, 3);
        for key in 0..3 {
            assert_eq!(ledger.insert_new(key, "mallory", at(100), at(0)), Ok(true));
        }
        assert_eq!(ledger.insert_new(3, "mallory", at(100), at(0)), Err(Refusal::OwnerFull));
        assert_eq!(
            ledger.insert_new(0, "mallory", at(100), at(0)),
            Ok(false),
            "a replay is still seen"
        );
        assert_eq!(ledger.insert_new(4, "alice", at(100), at(0)), Ok(true));
        // Once mallory's entries expire, the share is free again.
        assert_eq!(ledger.insert_new(5, "mallory", at(200), at(100)), Ok(true));
        assert!(!ledger.contains(&0, at(100)));
    }

    #[test]
    fn many_owners_can_still_fill_it_and_then_it_refuses_rather_than_forgets() {
        let mut ledger: QuotaLedger<u32, u32> = QuotaLedger::new(4, 2);
        for key in 0..4 {
            assert_eq!(ledger.insert_new(key, key, at(100), at(0)), Ok(true));
        }
        assert!(!ledger.has_room(at(0)));
        assert_eq!(ledger.insert_new(9, 9, at(100), at(0)), Err(Refusal::Full));
        assert!((0..4).all(|key| ledger.contains(&key, at(50))));
    }
}
