//! The one clock: every "now" of the crate comes from the [`Clock`] the
//! app's [`Oidc`](crate::Oidc) holds ([`SystemClock`] unless the app gives
//! another, such as the test kit's `ManualClock`), read through
//! `AppClock` as Unix time.

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// Where the crate reads the time: session expiry and inactivity, token
/// `exp`, `iat` and `nbf` checks, logout records, DPoP proof windows
/// ([`now`](Clock::now)), and how long caches keep what they learned
/// ([`instant`](Clock::instant)).
///
/// An app never needs one but the default, [`SystemClock`]; its tests can
/// give [`Oidc::fairing()`](crate::Oidc::fairing) another (the test kit's
/// `ManualClock`) to reach an expiry without waiting for it.
///
/// ```rust
/// use std::time::SystemTime;
/// use rocket_openidconnect::clock::Clock;
///
/// /// A clock an hour ahead (to see what a session looks like then).
/// #[derive(Debug)]
/// struct AnHourAhead;
///
/// impl Clock for AnHourAhead {
///     fn now(&self) -> SystemTime {
///         SystemTime::now() + std::time::Duration::from_secs(3600)
///     }
/// }
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, on the calendar.
    fn now(&self) -> SystemTime;

    /// Now, on a clock that never goes back: what the crate measures
    /// intervals with (how long signing keys, valid and refused bearer
    /// tokens and service tokens are kept, back-offs after a provider
    /// failed, the provider-call budgets). The machine's monotonic clock
    /// unless a test clock moves it too. A clock that lags the machine's
    /// keeps those longer and relaxes the budgets: only a test clock, which
    /// runs ahead, should replace it. (The Redis store's local copies and
    /// real network timeouts keep the machine's clock.)
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The operating system's clock: what the crate reads unless told otherwise.
///
/// ```rust
/// use rocket_openidconnect::clock::{Clock, SystemClock};
///
/// assert!(SystemClock.now() > std::time::UNIX_EPOCH);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The app's clock, as the crate reads it (cheap to clone: one `Arc`).
#[derive(Clone)]
pub(crate) struct AppClock(Arc<dyn Clock>);

impl fmt::Debug for AppClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Default for AppClock {
    fn default() -> AppClock {
        AppClock(Arc::new(SystemClock))
    }
}

impl AppClock {
    /// The crate reading `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> AppClock {
        AppClock(clock)
    }

    /// Now, in Unix seconds (read without making a calendar date: every
    /// logged-in request asks).
    pub(crate) fn now(&self) -> i64 {
        match self.0.now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }

    /// Now, on the calendar, in seconds.
    pub(crate) fn time(&self) -> UnixTime {
        UnixTime(self.now())
    }

    /// Now, on the calendar, in milliseconds.
    pub(crate) fn time_ms(&self) -> UnixMillis {
        UnixMillis(self.now_ms())
    }

    /// Now, in Unix milliseconds (login times, compared with back-channel
    /// logouts that may happen in the same second).
    pub(crate) fn now_ms(&self) -> i64 {
        match self.0.now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        }
    }

    /// Now, as the `chrono` time `openidconnect`'s checks take.
    pub(crate) fn utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::<chrono::Utc>::from(self.0.now())
    }

    /// Now, as a system time (compared with a provider's `Date` header).
    pub(crate) fn system(&self) -> SystemTime {
        self.0.now()
    }

    /// Now, on the monotonic clock (see [`Clock::instant`]).
    pub(crate) fn instant(&self) -> Instant {
        self.0.instant()
    }

    /// [`instant`](Self::instant) as a function, for the generic caches.
    pub(crate) fn instants(&self) -> Arc<dyn Fn() -> Instant + Send + Sync> {
        let clock = self.0.clone();
        Arc::new(move || clock.instant())
    }
}

/// A moment on the calendar, in whole seconds since the Unix epoch: a
/// JWT's NumericDate (RFC 7519 §2), and when sessions end. Typed so that a
/// second is never taken for a millisecond ([`UnixMillis`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct UnixTime(i64);

/// A moment on the calendar, in milliseconds since the Unix epoch: when a
/// login or a logout happened, told apart within one second (a back-channel
/// logout and the next login may fall in the same one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct UnixMillis(i64);

impl UnixTime {
    /// `seconds` since the epoch.
    pub(crate) const fn from_secs(seconds: i64) -> UnixTime {
        UnixTime(seconds)
    }

    /// Seconds since the epoch.
    pub(crate) const fn secs(self) -> i64 {
        self.0
    }

    /// `seconds` later (earlier when negative), saturating.
    pub(crate) const fn plus_secs(self, seconds: i64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// `seconds` earlier, saturating.
    pub(crate) const fn minus_secs(self, seconds: i64) -> UnixTime {
        UnixTime(self.0.saturating_sub(seconds))
    }

    /// Seconds from `earlier` to this time (negative when it is later).
    pub(crate) const fn secs_since(self, earlier: UnixTime) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// As a date; out of range, the epoch.
    pub(crate) fn date(self) -> OffsetDateTime {
        date(self.0)
    }
}

impl UnixMillis {
    /// `milliseconds` since the epoch.
    pub(crate) const fn from_millis(milliseconds: i64) -> UnixMillis {
        UnixMillis(milliseconds)
    }

    /// Milliseconds since the epoch.
    pub(crate) const fn millis(self) -> i64 {
        self.0
    }

    /// `by` later, saturating.
    pub(crate) fn plus(self, by: std::time::Duration) -> UnixMillis {
        UnixMillis(self.0.saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX)))
    }

    /// The whole second this moment falls in.
    pub(crate) const fn as_secs(self) -> UnixTime {
        UnixTime(self.0.div_euclid(1000))
    }

    /// As a date; out of range, the epoch.
    pub(crate) fn date(self) -> OffsetDateTime {
        date_ms(self.0)
    }
}

/// Unix seconds as a date; out-of-range values become the epoch.
pub(crate) fn date(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Unix milliseconds as a date; out-of-range values become the epoch.
pub(crate) fn date_ms(milliseconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(milliseconds) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The system clock in Unix seconds, for unit tests that build what the
/// crate would at this moment.
#[cfg(test)]
pub(crate) fn now() -> i64 {
    AppClock::default().now()
}

/// The system clock in Unix milliseconds, for unit tests.
#[cfg(test)]
pub(crate) fn now_ms() -> i64 {
    AppClock::default().now_ms()
}

#[cfg(test)]
mod tests {
    #[test]
    fn calendar_times_saturate_and_keep_their_unit() {
        use super::{UnixMillis, UnixTime};
        let t = UnixTime::from_secs(1_000);
        assert_eq!(t.plus_secs(60).secs(), 1_060);
        assert_eq!(t.minus_secs(60).secs(), 940);
        assert_eq!(t.plus_secs(60).secs_since(t), 60);
        assert_eq!(t.secs_since(t.plus_secs(60)), -60);
        // Saturating, never wrapping: a "never" stays never.
        assert_eq!(UnixTime::from_secs(i64::MAX).plus_secs(1).secs(), i64::MAX);
        assert_eq!(UnixTime::from_secs(i64::MIN).minus_secs(1).secs(), i64::MIN);
        // A moment in milliseconds falls in the second that began before it.
        assert_eq!(UnixMillis::from_millis(1_999).as_secs(), UnixTime::from_secs(1));
        assert_eq!(UnixMillis::from_millis(-1).as_secs(), UnixTime::from_secs(-1));
        assert_eq!(
            UnixMillis::from_millis(1_000).plus(std::time::Duration::from_millis(250)),
            UnixMillis::from_millis(1_250)
        );
        // Stored as the bare numbers they always were.
        assert_eq!(serde_json::to_string(&t).ok().as_deref(), Some("1000"));
        assert_eq!(
            serde_json::from_str::<UnixMillis>("1250").ok(),
            Some(UnixMillis::from_millis(1_250))
        );
    }

    use super::*;

    #[test]
    fn the_system_clock_is_the_calendar_clock_in_seconds_and_milliseconds() {
        let calendar = time::OffsetDateTime::now_utc().unix_timestamp();
        let clock = AppClock::default();
        assert!((clock.now() - calendar).abs() <= 1);
        assert!((clock.now_ms() / 1000 - calendar).abs() <= 1);
        assert!((clock.utc().timestamp() - calendar).abs() <= 1);
    }

    #[test]
    fn times_before_the_epoch_are_negative_not_a_panic() {
        #[derive(Debug)]
        struct Before;
        impl Clock for Before {
            fn now(&self) -> SystemTime {
                UNIX_EPOCH - std::time::Duration::from_millis(2500)
            }
        }
        let clock = AppClock::new(Arc::new(Before));
        assert_eq!(clock.now(), -2);
        assert_eq!(clock.now_ms(), -2500);
    }
}
