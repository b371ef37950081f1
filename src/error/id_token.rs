//! Why an ID token was refused (OpenID Connect Core 1.0 §3.1.3.7:
//! `401 invalid_id_token`).

use openidconnect::ClaimsVerificationError;

use super::tenant::TenantError;

/// Why an ID token was refused. The signature, `iss`, `aud`, `exp`, `iat`
/// and `nonce` steps are `openidconnect`'s, whose error is kept as the
/// [source](std::error::Error::source).
///
/// ```rust
/// use rocket_openidconnect::error::IdTokenError;
///
/// assert_eq!(IdTokenError::Missing.to_string(), "the token response has no ID token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Core §3.1.3.3: a token response without an `id_token`.
    #[error("the token response has no ID token")]
    Missing,
    /// Not a compact JWS whose header and claims are JSON objects, each
    /// member once (RFC 7519 §4: two `sub`s, two parsers, two users).
    #[error("the ID token is not a compact JWS whose header and claims are JSON objects with unique member names")]
    NotCompact,
    /// Core §2: a required claim is missing or of the wrong type.
    #[error("the ID token is not a signed JWT with the required claims (iss, sub, aud, exp, iat)")]
    MissingClaims,
    /// Core §3.1.3.7 steps 2-11: `iss`, `aud`/`azp`, the signature, `exp`,
    /// `iat` or `nonce` failed.
    #[error("{}", describe(.0))]
    Claims(#[source] ClaimsVerificationError),
    /// A multi-tenant provider's token of a tenant not served, or whose
    /// `iss` is another tenant's (Core §3.1.3.7 step 2, per tenant).
    #[error("wrong tenant: {0}")]
    Tenant(#[source] TenantError),
    /// Core §2: a claim that names someone names nobody (`"sub": ""`...).
    #[error("meaningless claim: {0}")]
    MeaninglessClaim(String),
    /// Core §3.1.3.7 step 13: `max_age` was requested, no `auth_time` came.
    #[error("`max_age` was requested but the ID token has no `auth_time`")]
    NoAuthTime,
    /// Core §3.1.3.7 step 13: `auth_time` is older than the `max_age` requested.
    #[error("the user authenticated longer ago than the requested `max_age` of {max_age} s")]
    AuthenticatedTooLongAgo {
        /// The `max_age` requested, in seconds.
        max_age: i64,
    },
    /// Core §3.1.3.7 step 12: `acr_values` were requested, another `acr` came.
    #[error("`acr_values` `{requested}` were requested but the ID token's `acr` is {acr}")]
    WrongAcr {
        /// The `acr_values` requested.
        requested: String,
        /// The `acr` received, quoted, or `missing`.
        acr: String,
    },
}

/// Which check of `openidconnect` failed, in words an operator searches for.
fn describe(error: &ClaimsVerificationError) -> String {
    match error {
        ClaimsVerificationError::Expired(why) => format!("expired or not yet valid: {why}"),
        ClaimsVerificationError::InvalidAudience(why) => format!("wrong audience: {why}"),
        ClaimsVerificationError::InvalidIssuer(why) => format!("wrong issuer: {why}"),
        ClaimsVerificationError::InvalidNonce(why) => format!("bad nonce: {why}"),
        ClaimsVerificationError::SignatureVerification(e) => format!("bad signature: {e}"),
        other => other.to_string(),
    }
}
