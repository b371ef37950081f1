//! Why a DPoP proof was refused (RFC 9449 §4.3, §7.1: `401 invalid_dpop_proof`).

/// Why the `DPoP` proof of a request was refused, by step of RFC 9449 §4.3.
///
/// ```rust
/// use rocket_openidconnect::error::DpopError;
///
/// assert_eq!(DpopError::Replayed.to_string(), "the proof was used before");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// §4.3 step 1: not exactly one `DPoP` header.
    #[error("a DPoP request carries exactly one `DPoP` header")]
    NotOneHeader,
    /// Longer than a proof may be.
    #[error("the proof is too large")]
    TooLarge,
    /// §4.3 step 3: not a compact JWS.
    #[error("the proof is not a compact JWS")]
    NotCompact,
    /// RFC 7515 §4.1.11: `crit` names an extension.
    #[error("the proof needs an extension (`crit`) this API does not implement")]
    CriticalHeader,
    /// §4.3 step 4: `typ` is not `dpop+jwt`.
    #[error("the proof's `typ` is not `dpop+jwt`")]
    WrongType,
    /// §4.3 step 5: `alg` is none, symmetric or unknown.
    #[error("the proof's `alg` is not an accepted asymmetric algorithm")]
    AlgorithmNotAllowed,
    /// §4.2: no `jwk` header.
    #[error("the proof carries no `jwk`")]
    NoKey,
    /// §4.3 step 7: the `jwk` holds a private key.
    #[error("the proof's `jwk` holds a private key")]
    PrivateKey,
    /// The `jwk` is of no type with an RFC 7638 thumbprint here.
    #[error("the proof's `jwk` is not an RSA, EC or OKP public key")]
    UnsupportedKey,
    /// The `jwk` cannot be read as a key.
    #[error("the proof's `jwk` cannot be read")]
    UnreadableKey,
    /// §4.3 step 6: the signature does not verify with the `jwk`.
    #[error("the proof's signature does not verify with its `jwk`")]
    BadSignature,
    /// The payload is not one JSON object.
    #[error("the proof's claims are not a JSON object")]
    ClaimsNotAnObject,
    /// §4.2: `jti` missing, empty or too long.
    #[error("the proof has no usable `jti`")]
    NoJti,
    /// §4.3 step 8: `htm` is not the request's method.
    #[error("the proof's `htm` is not this request's method")]
    WrongMethod,
    /// §4.3 step 9: no `htu`, or not a URL.
    #[error("the proof has no `htu` URL")]
    NoUrl,
    /// §4.3 step 9: `htu` is not the request's URL.
    #[error("the proof's `htu` is not this request's URL")]
    WrongUrl,
    /// The request's URL cannot be rebuilt from the public origin.
    #[error("the request's URL cannot be rebuilt")]
    UnbuildableUrl,
    /// §4.3 step 11: no `iat`.
    #[error("the proof has no `iat`")]
    NoIssueTime,
    /// §4.3 step 11: `iat` outside the accepted window.
    #[error("the proof's `iat` is not recent")]
    Stale,
    /// §4.3 step 12: `ath` is not the hash of the access token.
    #[error("the proof's `ath` is not the hash of this access token")]
    WrongTokenHash,
    /// §7.1: the proof's key is not the one the token is bound to.
    #[error("the proof is signed by another key than the one the token is bound to")]
    WrongKey,
    /// §11.1: the proof's `jti` was used before.
    #[error("the proof was used before")]
    Replayed,
    /// §11.1: made before this process started, when the ledger of used
    /// proofs is this process's own and forgot the older ones.
    #[error("the proof was made before this server started; make a new one")]
    OlderThanTheServer,
}
