//! A clock a test moves by hand: expiry, inactivity and token lifetimes
//! reached at once instead of waited for.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;

/// A [`Clock`] that stands still until moved. Give a clone to
/// [`OidcFairing::with_clock`](crate::OidcFairing::with_clock) and to
/// [`TestIssuerBuilder::clock`](super::TestIssuerBuilder::clock), keep one,
/// and [`advance`](ManualClock::advance) it: the app and the issuer see
/// the same time.
///
/// ```rust
/// use std::time::Duration;
/// use rocket_openidconnect::clock::Clock;
/// use rocket_openidconnect::testing::ManualClock;
///
/// let clock = ManualClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    at: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock standing at the system's now.
    pub fn new() -> ManualClock {
        ManualClock::starting_at(SystemTime::now())
    }

    /// A clock standing at `calendar`.
    pub fn starting_at(calendar: SystemTime) -> ManualClock {
        ManualClock {
            at: Arc::new(Mutex::new(calendar)),
        }
    }

    /// Moves the clock `by` ahead.
    pub fn advance(&self, by: Duration) {
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        *at = at.checked_add(by).unwrap_or(*at);
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.at.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
