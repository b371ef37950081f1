//! The one clock: every "now" of the crate comes from here, as Unix time.

use time::OffsetDateTime;

/// Now, in Unix seconds.
pub(crate) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Now, in Unix milliseconds (login times, compared with back-channel
/// logouts that may happen in the same second).
pub(crate) fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
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
