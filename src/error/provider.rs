//! Why a provider could not be used now (`502 provider_unavailable`, or
//! `503 temporarily_unavailable` in a bearer request).

/// How one HTTP call to a provider failed.
///
/// ```rust
/// use rocket_openidconnect::error::HttpError;
///
/// assert_eq!(HttpError::Status(500).to_string(), "answered with status 500");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The provider could not be reached or did not answer in time.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The provider answered with a status that is not a success.
    #[error("answered with status {0}")]
    Status(u16),
    /// The body is too large or not the JSON expected.
    #[error("sent a malformed response: {0}")]
    Malformed(String),
}

impl HttpError {
    /// A body that is not the JSON expected; the parser's message (which
    /// quotes the provider's text) printable and bounded.
    pub(crate) fn malformed(error: &serde_json::Error) -> HttpError {
        HttpError::Malformed(super::printable(&error.to_string(), 200))
    }
}

/// Why a provider could not be used now: a call that failed, or an answer
/// or a configuration this crate cannot use. The details are for the log;
/// the client is told only that the provider cannot be reached.
///
/// ```rust
/// use rocket_openidconnect::error::{HttpError, ProviderError};
///
/// let error = ProviderError::Call {
///     provider: "default".into(),
///     call: "token endpoint",
///     source: HttpError::Status(503),
/// };
/// assert_eq!(error.to_string(), "provider `default`: token endpoint answered with status 503");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// A call to one of the provider's endpoints failed.
    #[error("provider `{provider}`: {call} {source}")]
    Call {
        /// The provider's name in the configuration.
        provider: String,
        /// Which call (`discovery`, `jwks`, `token endpoint`...).
        call: &'static str,
        /// How it failed.
        #[source]
        source: HttpError,
    },
    /// The provider answered something this crate cannot use, or is not
    /// configured so that it can be used.
    #[error("provider `{provider}`: {why}")]
    Unusable {
        /// The provider's name in the configuration.
        provider: String,
        /// What is wrong.
        why: String,
    },
    /// Anonymous requests used up `limits.provider_calls_per_second`: the
    /// provider was not asked.
    #[error("provider `{provider}`: `limits.provider_calls_per_second` {calls} used up")]
    BudgetSpent {
        /// The provider's name in the configuration.
        provider: String,
        /// Which calls (`introspections`...).
        calls: &'static str,
    },
    /// The `Oidc` fairing is not attached to the Rocket instance.
    #[error("the Oidc fairing is not attached")]
    NotAttached,
}
