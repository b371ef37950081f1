//! Why a back-channel logout token was refused (Back-Channel Logout 1.0
//! §2.6: `400 invalid_request`).

use super::jws::JwsError;

/// Why a logout token was refused, by step of Back-Channel Logout §2.6.
///
/// ```rust
/// use rocket_openidconnect::error::LogoutTokenError;
///
/// assert_eq!(LogoutTokenError::Nonce.to_string(), "a logout token must not have a `nonce`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutTokenError {
    /// No `logout_token` parameter, or one that is no JWT.
    #[error("{0}")]
    Malformed(&'static str),
    /// §2.6 step 3: the `iss` is not a configured provider's.
    #[error("the logout token's issuer is not a configured provider")]
    UnknownIssuer,
    /// §2.6 steps 1-2: its signature was refused.
    #[error("the logout token is not valid: invalid token: {0}")]
    Jws(#[source] JwsError),
    /// §2.6 steps 1-2: it could not be verified for another reason.
    #[error("the logout token is not valid: {0}")]
    Unverified(String),
    /// §2.6 step 3: `iss` is not the provider's.
    #[error("wrong `iss`")]
    WrongIssuer,
    /// §2.6 step 3: `aud` does not name this client.
    #[error("wrong or missing `aud`")]
    WrongAudience,
    /// §2.6 step 3: no `iat`.
    #[error("no `iat`")]
    NoIssueTime,
    /// §2.6 step 3: `iat` ahead of this server's clock (with the skew).
    #[error("`iat` is in the future")]
    IssuedInTheFuture,
    /// §2.6 step 3: no `exp`.
    #[error("no `exp`")]
    NoExpiry,
    /// §2.6 step 3: `exp` is past.
    #[error("the logout token has expired")]
    Expired,
    /// §2.6 step 5: no back-channel logout event.
    #[error("no back-channel logout event")]
    NoEvent,
    /// §2.6 step 7: a `nonce`, which would let an ID token pass as one.
    #[error("a logout token must not have a `nonce`")]
    Nonce,
    /// A multi-tenant provider's logout token without `sid`, or whose
    /// `tid` is not the tenant of its `iss`: by `sub` alone it could end
    /// another tenant's sessions of a user with the same `sub`.
    #[error("a multi-tenant provider's logout token must name the session (`sid`) of its own tenant")]
    TenantSessionRequired,
    /// §2.6 step 6: neither `sid` nor `sub`.
    #[error("neither `sid` nor `sub`")]
    NamesNobody,
    /// A claim that names something names nothing (`"sub": ""`).
    #[error("meaningless claim: {0}")]
    MeaninglessClaim(String),
    /// §2.6 step 10: its `jti` was used before.
    #[error("the logout token was already used")]
    Replayed,
}
