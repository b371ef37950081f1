//! A clock a test moves by hand: expiry, inactivity and token lifetimes
//! reached at once instead of waited for.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

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
/// assert!(clock.instant() >= std::time::Instant::now() + Duration::from_secs(3599));
/// ```
///
/// Its [`instant`](Clock::instant) is the machine's monotonic clock plus
/// every advance, so what the crate keeps for a while (signing keys, a
/// refused token, a service token, a back-off) is also reached at once.
#[derive(Debug, Clone)]
pub struct ManualClock {
    at: Arc<Mutex<(SystemTime, Duration)>>,
}

impl ManualClock {
    /// A clock standing at the system's now.
    pub fn new() -> ManualClock {
        ManualClock::starting_at(SystemTime::now())
    }

    /// A clock standing at `calendar`.
    pub fn starting_at(calendar: SystemTime) -> ManualClock {
        ManualClock {
            at: Arc::new(Mutex::new((calendar, Duration::ZERO))),
        }
    }

    /// Moves the clock `by` ahead.
    pub fn advance(&self, by: Duration) {
        let mut at = self.at.lock().unwrap_or_else(PoisonError::into_inner);
        let (calendar, advanced) = *at;
        *at = (
            calendar.checked_add(by).unwrap_or(calendar),
            advanced.checked_add(by).unwrap_or(advanced),
        );
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.at.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    fn instant(&self) -> Instant {
        let advanced = self.at.lock().unwrap_or_else(PoisonError::into_inner).1;
        let now = Instant::now();
        now.checked_add(advanced).unwrap_or(now)
    }
}
