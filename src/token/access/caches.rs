//! What a resource server remembers of the tokens it checked: valid ones
//! until they expire, refusals briefly and apart.

use std::num::NonZeroUsize;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use super::TokenIdentity;
use crate::cache::{FlightCache, Now};
use crate::error::{BearerError, OidcError};

/// The bearer checks of one provider.
pub(crate) struct BearerCaches {
    /// Valid tokens (introspected, or verified JWTs), by the token itself:
    /// a hit costs one hash of the token and one comparison, no digest.
    /// Only tokens found valid get in, at most `bearer.cache_entries`; the
    /// least recently used goes first when full.
    pub(super) valid: FlightCache<String, Arc<TokenIdentity>, OidcError>,
    /// Introspection refusals, briefly, apart from the valid ones (a flood
    /// of bad tokens never pushes a good one out), by SHA-256 of the token:
    /// a refused token is not kept.
    pub(super) refused: Mutex<LruCache<[u8; 32], (BearerError, Instant)>>,
    /// When the log last said the provider refused our client (Unix s).
    pub(super) client_rejected_said: AtomicI64,
    /// The app's monotonic clock.
    now: Now,
}

/// How many introspection refusals are remembered (each for at most
/// [`INACTIVE_SECONDS`]).
const REFUSED_ENTRIES: usize = 1024;

impl BearerCaches {
    /// Caches keeping at most `valid_entries` valid tokens, on the clock `now`.
    pub(crate) fn new(valid_entries: usize, now: Now) -> BearerCaches {
        BearerCaches {
            valid: FlightCache::on(valid_entries, now.clone()),
            now,
            refused: Mutex::new(LruCache::new(
                NonZeroUsize::new(REFUSED_ENTRIES).unwrap_or(NonZeroUsize::MIN),
            )),
            client_rejected_said: AtomicI64::new(i64::MIN),
        }
    }

    pub(super) fn refusal(&self, key: &[u8; 32]) -> Option<BearerError> {
        let mut refused = self.refused.lock().ok()?;
        match refused.get(key) {
            Some((why, until)) if (self.now)() < *until => Some(why.clone()),
            Some(_) => {
                refused.pop(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn refuse(&self, key: [u8; 32], why: &BearerError, ttl: Duration) {
        let Some(until) = (self.now)().checked_add(ttl).filter(|_| !ttl.is_zero()) else {
            return;
        };
        if let Ok(mut refused) = self.refused.lock() {
            refused.put(key, (why.clone(), until));
        }
    }
}
