//! Why a compact JWS signed by a provider (an RFC 9068 access token, a
//! logout token) was refused, before any of its claims is read.

/// Why a provider-signed JWS was refused (RFC 7515).
///
/// ```rust
/// use rocket_openidconnect::error::JwsError;
///
/// assert_eq!(JwsError::UnknownKey.to_string(), "signed with an unknown key");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// Not three base64url segments whose header and payload are JSON
    /// objects, each member once (RFC 7515 §5.2, RFC 7519 §4).
    #[error("not a compact JWS (or a header member twice)")]
    NotCompact,
    /// RFC 7515 §4.1.11: a `crit` header names an extension this crate
    /// does not implement.
    #[error("unsupported critical header (`crit`)")]
    CriticalHeader,
    /// The `alg` header is missing or names no known algorithm.
    #[error("missing or unknown `alg`")]
    UnknownAlgorithm,
    /// The algorithm is not one the provider's metadata allows (RFC 8725 §3.1).
    #[error("signing algorithm not allowed")]
    AlgorithmNotAllowed,
    /// No key of the provider's key set, even refetched, fits the header.
    #[error("signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify with the keys that fit.
    #[error("bad signature")]
    BadSignature,
    /// The payload is not one JSON object.
    #[error("the payload is not a JSON object")]
    PayloadNotAnObject,
}
