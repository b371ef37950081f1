//! Why the session store could not answer (`503 temporarily_unavailable`,
//! or `429` for one owner at its share).

/// Why the session store (Redis, or this process's bounded ledgers) could
/// not answer. Nothing is let through unchecked when it cannot.
///
/// ```rust
/// use rocket_openidconnect::error::StoreError;
///
/// assert_eq!(StoreError::Unavailable("timed out".into()).to_string(), "redis is unavailable (timed out)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis is unreachable, too slow or failing.
    #[error("redis is unavailable ({0})")]
    Unavailable(String),
    /// An in-process ledger is full of entries that have not expired.
    #[error("the ledger of {ledger} is full ({capacity} live entries); raise `{key}`")]
    Full {
        /// What the ledger holds.
        ledger: &'static str,
        /// Its capacity.
        capacity: usize,
        /// The configuration key that sets it.
        key: &'static str,
    },
    /// One owner (a user's account, the tokens of one subject) holds its
    /// whole share of a ledger: it is refused, nobody else is.
    #[error("one owner holds its whole share of the ledger of {ledger} ({share} live entries, `{key}`)")]
    OwnerFull {
        /// What the ledger holds.
        ledger: &'static str,
        /// The share.
        share: usize,
        /// The configuration key that sets it.
        key: &'static str,
    },
    /// The logout records cannot be written where they are kept (the
    /// `session.logout_records_path` file).
    #[error("the logout records cannot be written ({0})")]
    Unwritten(String),
    /// Another instance holds the refresh of this session and has not
    /// finished.
    #[error("another instance is refreshing this session and has not finished")]
    RefreshInProgress,
}

impl From<StoreError> for super::OidcError {
    fn from(error: StoreError) -> super::OidcError {
        match error {
            // One owner at its share is refused, not the service (`429`).
            StoreError::OwnerFull { .. } => super::OidcError::TooManyRequests(error.to_string()),
            error => super::OidcError::StoreUnavailable(error),
        }
    }
}
