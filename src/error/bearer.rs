//! Why a bearer token was refused (`401 invalid_token`, RFC 6750 §3.1).

use super::jws::JwsError;
use super::tenant::TenantError;

/// Why an access token was refused: by its signature, its claims, the
/// provider's introspection answer or the key it is bound to.
///
/// ```rust
/// use rocket_openidconnect::error::BearerError;
///
/// assert_eq!(BearerError::Expired.to_string(), "the token has expired");
/// assert_eq!(BearerError::MissingClaim("sub").to_string(), "no `sub` claim");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// The token's JWS was refused before its claims were read.
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// RFC 9068 §2.1: a locally validated token says `typ: at+jwt`.
    #[error("not an RFC 9068 access token (`typ` is not at+jwt)")]
    NotRfc9068,
    /// RFC 7662 §2.2: only `"active": true` means valid.
    #[error("the token is not active")]
    Inactive,
    /// The provider says it is an ID or refresh token.
    #[error("the token is not an access token")]
    NotAnAccessToken,
    /// `bearer.require_audience`: the introspection answer names no `aud`.
    #[error("the introspection answer names no audience (`bearer.require_audience`)")]
    NoAudience,
    /// A multi-tenant provider's token of a tenant not served, or whose
    /// `iss` is another tenant's.
    #[error("wrong tenant: {0}")]
    Tenant(#[source] TenantError),
    /// `[oidc.resource]`: the token's `aud` does not name this resource
    /// (RFC 8707 §2).
    #[error("the token is not for this resource (its `aud` lacks `resource.identifier`)")]
    NotForThisResource,
    /// `exp` is past (with the clock skew).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is ahead (with the clock skew).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is ahead (with the clock skew).
    #[error("the token is issued in the future")]
    IssuedInTheFuture,
    /// `iss` names another issuer.
    #[error("the token is from another issuer")]
    WrongIssuer,
    /// `aud` names none of `bearer.audiences`.
    #[error("the token is for another audience")]
    WrongAudience,
    /// RFC 9068 §2.2: a required claim is absent.
    #[error("no `{0}` claim")]
    MissingClaim(&'static str),
    /// A NumericDate claim is not a number.
    #[error("`{0}` is not a number")]
    NotANumber(&'static str),
    /// A claim that names someone names nobody (`"sub": ""`...).
    #[error("meaningless claim: {0}")]
    MeaninglessClaim(String),
    /// RFC 7800 `cnf` binds the token to something this API cannot check
    /// (a TLS client certificate, RFC 8705 §3; a `jwk`...): taken as a plain
    /// bearer token, it would be usable without that key.
    #[error("the token is bound to {0}, which this API cannot check")]
    UncheckableBinding(&'static str),
    /// RFC 9449 §7.1: a DPoP-bound token sent as a bearer token.
    #[error("the token is DPoP-bound: send it with `Authorization: DPoP` and a `DPoP` proof")]
    DpopBoundSentAsBearer,
    /// RFC 9449 §7.1: a DPoP proof with a token bound to no key.
    #[error("the token is not DPoP-bound: send it as Bearer")]
    NotDpopBound,
    /// `bearer.dpop = "required"`: the API takes DPoP-bound tokens only.
    #[error("this API takes DPoP-bound tokens only, with `Authorization: DPoP` and a `DPoP` proof")]
    DpopRequired,
    /// The claims could not be kept for the request.
    #[error("the claims cannot be kept: {0}")]
    Unkeepable(String),
}
