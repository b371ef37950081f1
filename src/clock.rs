//! The one clock: every "now" of the crate comes from here, as Unix time.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// Now, in Unix seconds (read without making a calendar date: every
/// logged-in request asks).
pub(crate) fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Now, in Unix milliseconds (login times, compared with back-channel
/// logouts that may happen in the same second).
pub(crate) fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Now, as the `chrono` time `openidconnect`'s checks take.
pub(crate) fn utc() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Now, as a system time (compared with a provider's `Date` header).
pub(crate) fn system() -> SystemTime {
    SystemTime::now()
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

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_the_calendar_clock_in_seconds() {
        let calendar = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((super::now() - calendar).abs() <= 1);
        assert!((super::now_ms() / 1000 - calendar).abs() <= 1);
    }
}
