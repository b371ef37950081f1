//! The errors a login, a session or a guard can end with, and the HTTP
//! status and OAuth-style `error` code each one is shown with.
//!
//! [`OidcError`] is what a guard or the callback ends with; the variants
//! that have more than one cause carry a typed reason, one enum per check
//! ([`IdTokenError`], [`BearerError`], [`AuthorizationError`], [`JwsError`], [`DpopError`],
//! [`LogoutTokenError`], [`ProviderError`], [`StoreError`]), so that logs
//! and metrics tell causes apart by matching, never by reading messages.
//!
//! ```rust
//! use rocket_openidconnect::error::{BearerError, JwsError};
//! use rocket_openidconnect::OidcError;
//!
//! let error = OidcError::InvalidToken(BearerError::Jws(JwsError::BadSignature));
//! assert_eq!(error.code(), "invalid_token");
//! assert_eq!(error.to_string(), "invalid token: bad signature");
//! assert!(matches!(error, OidcError::InvalidToken(BearerError::Jws(_))));
//! ```

use std::fmt;

use rocket::http::Status;

mod authorization;
mod bearer;
mod dpop;
mod id_token;
mod jws;
mod logout_token;
mod provider;
mod store;
mod tenant;

pub use self::authorization::AuthorizationError;
pub use self::bearer::BearerError;
pub use self::dpop::DpopError;
pub use self::id_token::IdTokenError;
pub use self::jws::JwsError;
pub use self::logout_token::LogoutTokenError;
pub use self::provider::{HttpError, ProviderError};
pub use self::store::StoreError;
pub use self::tenant::TenantError;

/// Why a request could not be authenticated.
///
/// Guards and the callback route keep the error in the request's local
/// cache; a catcher (the crate's or your own) reads it back with
/// `OidcError::of(request)`.
///
/// ```rust
/// use rocket::http::Status;
/// use rocket_openidconnect::OidcError;
///
/// let error = OidcError::InvalidState("the state is unknown or was already used".into());
/// assert_eq!(error.status(), Status::BadRequest);
/// assert_eq!(error.code(), "invalid_state");
/// assert_eq!(error.to_string(), "invalid state: the state is unknown or was already used");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OidcError {
    /// No session for the provider the guard asks for (`401 login_required`).
    LoginRequired,
    /// The session can no longer get tokens (refresh refused, no refresh
    /// token, or a refreshed ID token for someone else): log in again
    /// (`401 login_required`).
    RefreshFailed(String),
    /// A refreshed ID token speaks for another issuer, subject or audience:
    /// the session was ended (`401 login_required`).
    SessionEnded(String),
    /// A malformed callback request (`400 invalid_request`).
    InvalidRequest(String),
    /// The callback's `state` is missing, unknown, expired, already used or
    /// bound to another browser (`400 invalid_state`).
    InvalidState(String),
    /// The provider answered with an OAuth error such as `access_denied`
    /// or `invalid_grant` (`401`, with the provider's code).
    Provider {
        /// The provider's `error` code.
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// The authorization response's `iss` is missing or foreign (RFC 9207, `401 invalid_issuer`).
    InvalidIssuer(String),
    /// The ID token failed validation (`401 invalid_id_token`).
    InvalidIdToken(IdTokenError),
    /// The userinfo response cannot be trusted (`401 invalid_userinfo`).
    InvalidUserinfo(String),
    /// The provider is unreachable, failing or answered nonsense (`502 provider_unavailable`).
    ProviderUnavailable(ProviderError),
    /// A bearer request without an `Authorization` header (`401`, RFC 6750 §3.1: no error code in the challenge).
    MissingToken,
    /// A malformed `Authorization` header, or several tokens (`400 invalid_request`).
    InvalidBearerRequest(String),
    /// The bearer token is inactive, expired, revoked, or fails validation (`401 invalid_token`).
    InvalidToken(BearerError),
    /// The session's login is weaker or older than the route requires
    /// (step-up, RFC 9470): `401 insufficient_user_authentication` for an
    /// API request; a navigation goes back to the provider instead.
    InsufficientUserAuthentication {
        /// The `acr` values accepted, space-separated (empty: any).
        acr_values: String,
        /// The longest time since authentication accepted, in seconds.
        max_age: Option<u64>,
    },
    /// The DPoP proof of a request is missing, malformed or does not match
    /// it (RFC 9449 §7.1): `401 invalid_dpop_proof`.
    InvalidDpopProof(DpopError),
    /// The DPoP proof lacks a current server nonce (RFC 9449 §9): `401
    /// use_dpop_nonce`, with this fresh nonce in `DPoP-Nonce`.
    UseDpopNonce(String),
    /// The bearer token lacks a required scope (`403 insufficient_scope`).
    InsufficientScope {
        /// The scopes the resource requires, space-separated.
        scope: String,
    },
    /// The user (or the token's subject) is authenticated but lacks a
    /// role, a group or a claim value the route requires (`403
    /// access_denied`): never `401`, which would send a browser to log in
    /// again and back, in a loop.
    AccessDenied {
        /// The requirement's type (`std::any::type_name`), for the log.
        requirement: &'static str,
        /// What it asked that was missing.
        reason: AuthorizationError,
    },
    /// The provider could not be asked about a bearer token (`503 temporarily_unavailable`).
    TokenCheckUnavailable(ProviderError),
    /// The provider refused this app's own client credentials when asked
    /// about a bearer token (`invalid_client` at introspection): a
    /// configuration error, answered like an outage (`503
    /// temporarily_unavailable`) but logged and counted as what it is.
    ClientRejected(ProviderError),
    /// The session is larger than a session may be (`502 session_too_large`).
    SessionTooLarge {
        /// Bytes the session needs.
        size: usize,
        /// Bytes a session may take.
        limit: usize,
        /// What takes the room: the parts and the largest claims, by name
        /// and size.
        parts: String,
    },
    /// Too many requests nobody has authenticated yet want the provider's
    /// time right now (`limits.provider_calls_per_second`): `503
    /// temporarily_unavailable`, with `Retry-After`. Nothing was sent.
    Overloaded(String),
    /// This client (one user's account, the tokens of one subject, one
    /// source address) has used up what it may hold of a shared ledger or
    /// spend of a provider budget; others are not affected: `429
    /// too_many_requests`, with `Retry-After`.
    TooManyRequests(String),
    /// The session store cannot answer now: Redis is unreachable or
    /// slow, or an in-process ledger is full of live entries
    /// (`503 temporarily_unavailable`). Nothing is let through unchecked.
    StoreUnavailable(StoreError),
    /// A back-channel logout token was refused (Back-Channel Logout 1.0
    /// §2.6, `400 invalid_request`).
    InvalidLogoutToken(LogoutTokenError),
}

impl OidcError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> Status {
        match self {
            OidcError::InvalidRequest(_)
            | OidcError::InvalidState(_)
            | OidcError::InvalidBearerRequest(_)
            | OidcError::InvalidLogoutToken(_) => Status::BadRequest,
            OidcError::MissingToken
            | OidcError::InvalidToken(_)
            | OidcError::InvalidDpopProof(_)
            | OidcError::UseDpopNonce(_)
            | OidcError::InsufficientUserAuthentication { .. } => Status::Unauthorized,
            OidcError::InsufficientScope { .. } | OidcError::AccessDenied { .. } => Status::Forbidden,
            OidcError::TokenCheckUnavailable(_)
            | OidcError::ClientRejected(_)
            | OidcError::StoreUnavailable(_)
            | OidcError::Overloaded(_) => Status::ServiceUnavailable,
            OidcError::TooManyRequests(_) => Status::TooManyRequests,
            OidcError::LoginRequired
            | OidcError::RefreshFailed(_)
            | OidcError::SessionEnded(_)
            | OidcError::Provider { .. }
            | OidcError::InvalidIssuer(_)
            | OidcError::InvalidIdToken(_)
            | OidcError::InvalidUserinfo(_) => Status::Unauthorized,
            OidcError::ProviderUnavailable(_) | OidcError::SessionTooLarge { .. } => Status::BadGateway,
        }
    }

    /// The `error` code shown to clients (RFC 6749 §5.2 style).
    pub fn code(&self) -> &str {
        match self {
            OidcError::LoginRequired | OidcError::RefreshFailed(_) | OidcError::SessionEnded(_) => "login_required",
            OidcError::InvalidRequest(_) | OidcError::InvalidLogoutToken(_) => "invalid_request",
            OidcError::InvalidState(_) => "invalid_state",
            OidcError::Provider { error, .. } => error,
            OidcError::InvalidIssuer(_) => "invalid_issuer",
            OidcError::InvalidIdToken(_) => "invalid_id_token",
            OidcError::InvalidUserinfo(_) => "invalid_userinfo",
            OidcError::ProviderUnavailable(_) => "provider_unavailable",
            OidcError::SessionTooLarge { .. } => "session_too_large",
            OidcError::MissingToken => "missing_token",
            OidcError::InvalidBearerRequest(_) => "invalid_request",
            OidcError::InvalidToken(_) => "invalid_token",
            OidcError::InvalidDpopProof(_) => "invalid_dpop_proof",
            OidcError::UseDpopNonce(_) => "use_dpop_nonce",
            OidcError::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            OidcError::InsufficientScope { .. } => "insufficient_scope",
            OidcError::AccessDenied { .. } => "access_denied",
            OidcError::TokenCheckUnavailable(_)
            | OidcError::ClientRejected(_)
            | OidcError::StoreUnavailable(_)
            | OidcError::Overloaded(_) => "temporarily_unavailable",
            OidcError::TooManyRequests(_) => "too_many_requests",
        }
    }

    /// The human-readable `error_description` shown to whoever made the
    /// request. When a provider or Redis could not answer, it says so
    /// without the details (hosts, timeouts, what the provider said), which
    /// stay in the log (`Display`).
    ///
    /// ```rust
    /// use rocket_openidconnect::error::{HttpError, ProviderError};
    /// use rocket_openidconnect::OidcError;
    ///
    /// let error = OidcError::ProviderUnavailable(ProviderError::Call {
    ///     provider: "default".into(),
    ///     call: "token endpoint",
    ///     source: HttpError::Unreachable("timed out".into()),
    /// });
    /// assert!(error.to_string().contains("timed out"));
    /// assert!(!error.description().contains("timed out"));
    /// ```
    pub fn description(&self) -> String {
        match self {
            OidcError::Provider {
                description: Some(d), ..
            } => d.clone(),
            OidcError::ProviderUnavailable(_) => {
                "the sign-in provider cannot be reached or did not answer as expected; try again later".into()
            }
            OidcError::TokenCheckUnavailable(_) | OidcError::ClientRejected(_) => {
                "the token cannot be checked right now; try again later".into()
            }
            OidcError::StoreUnavailable(_) => "sessions cannot be checked right now; try again later".into(),
            OidcError::Overloaded(_) => {
                "too many requests are waiting for the sign-in provider; try again in a moment".into()
            }
            OidcError::TooManyRequests(_) => "too many requests from this client or account; try again later".into(),
            OidcError::AccessDenied { reason, .. } => reason.description().into(),
            OidcError::SessionTooLarge { .. } => {
                "the sign-in provider gave more than a session can hold; the log says what".into()
            }
            other => other.to_string(),
        }
    }

    /// When to try again (`Retry-After`, in seconds), for a refusal that
    /// passes with time.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            OidcError::Overloaded(_) => Some(1),
            OidcError::TooManyRequests(_) => Some(30),
            _ => None,
        }
    }

    /// The RFC 9470 §3 challenge of a step-up refusal, if this is one.
    pub(crate) fn step_up_challenge(&self) -> Option<String> {
        let OidcError::InsufficientUserAuthentication { acr_values, max_age } = self else {
            return None;
        };
        let mut challenge = format!(
            "Bearer error=\"insufficient_user_authentication\", error_description=\"{}\"",
            quotable(&self.description())
        );
        if !acr_values.is_empty() {
            challenge.push_str(&format!(", acr_values=\"{}\"", quotable(acr_values)));
        }
        if let Some(max_age) = max_age {
            challenge.push_str(&format!(", max_age=\"{max_age}\""));
        }
        Some(challenge)
    }

    /// The RFC 9449 §7.1 `WWW-Authenticate: DPoP` challenge for a bearer
    /// error, naming the proof algorithms accepted (`algs`).
    pub(crate) fn dpop_challenge(&self, algs: &str) -> Option<String> {
        self.challenge(format!("DPoP algs=\"{algs}\""))
    }

    /// The RFC 6750 §3 `WWW-Authenticate` challenge for a bearer error in `realm`.
    ///
    /// ```rust
    /// use rocket_openidconnect::OidcError;
    ///
    /// let error = OidcError::InsufficientScope { scope: "read write".into() };
    /// assert_eq!(
    ///     error.www_authenticate("api").as_deref(),
    ///     Some(r#"Bearer realm="api", error="insufficient_scope", error_description="the token lacks a required scope (needs `read write`)", scope="read write""#),
    /// );
    /// assert_eq!(OidcError::MissingToken.www_authenticate("api").as_deref(), Some(r#"Bearer realm="api""#));
    /// assert_eq!(OidcError::LoginRequired.www_authenticate("api"), None);
    /// ```
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        self.challenge(format!("Bearer realm=\"{}\"", quotable(realm)))
    }

    /// `scheme` (a scheme and its first parameter) with the error's
    /// `error`, `error_description` and `scope` parameters, for the errors
    /// an API refusal can have (RFC 6750 §3, RFC 9449 §7.1).
    fn challenge(&self, mut challenge: String) -> Option<String> {
        match self {
            OidcError::MissingToken => return Some(challenge),
            OidcError::InvalidBearerRequest(_)
            | OidcError::InvalidToken(_)
            | OidcError::InvalidDpopProof(_)
            | OidcError::UseDpopNonce(_)
            | OidcError::InsufficientScope { .. }
            | OidcError::AccessDenied { .. }
            | OidcError::TokenCheckUnavailable(_)
            | OidcError::ClientRejected(_) => {}
            _ => return None,
        }
        challenge.push_str(&format!(
            ", error=\"{}\", error_description=\"{}\"",
            self.code(),
            quotable(&self.description())
        ));
        if let OidcError::InsufficientScope { scope } = self {
            challenge.push_str(&format!(", scope=\"{}\"", quotable(scope)));
        }
        Some(challenge)
    }
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OidcError::LoginRequired => write!(f, "login required"),
            OidcError::RefreshFailed(why) => write!(f, "login required: {why}"),
            OidcError::SessionEnded(why) => write!(f, "the session ended: {why}"),
            OidcError::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            OidcError::InvalidState(why) => write!(f, "invalid state: {why}"),
            OidcError::Provider {
                error,
                description: None,
            } => write!(f, "the provider answered `{error}`"),
            OidcError::Provider {
                error,
                description: Some(d),
            } => write!(f, "the provider answered `{error}`: {d}"),
            OidcError::InvalidIssuer(why) => write!(f, "invalid issuer: {why}"),
            OidcError::InvalidIdToken(why) => write!(f, "invalid ID token: {why}"),
            OidcError::InvalidUserinfo(why) => write!(f, "invalid userinfo: {why}"),
            OidcError::ProviderUnavailable(why) => write!(f, "provider unavailable: {why}"),
            OidcError::MissingToken => write!(f, "a bearer token is required"),
            OidcError::InvalidBearerRequest(why) => write!(f, "invalid bearer request: {why}"),
            OidcError::InvalidToken(why) => write!(f, "invalid token: {why}"),
            OidcError::InvalidDpopProof(why) => write!(f, "invalid DPoP proof: {why}"),
            OidcError::UseDpopNonce(_) => write!(f, "the DPoP proof must carry the nonce in `DPoP-Nonce`"),
            OidcError::InsufficientUserAuthentication { acr_values, max_age } => {
                write!(f, "a stronger or more recent login is required")?;
                if !acr_values.is_empty() {
                    write!(f, " (acr: {acr_values})")?;
                }
                if let Some(max_age) = max_age {
                    write!(f, " (within {max_age} s)")?;
                }
                Ok(())
            }
            OidcError::InsufficientScope { scope } => {
                write!(f, "the token lacks a required scope (needs `{scope}`)")
            }
            OidcError::AccessDenied { requirement, reason } => write!(f, "access denied by `{requirement}`: {reason}"),
            OidcError::TokenCheckUnavailable(why) => write!(f, "cannot check the token now: {why}"),
            OidcError::ClientRejected(why) => write!(f, "the provider refused this app's client credentials: {why}"),
            OidcError::SessionTooLarge { size, limit, parts } => {
                write!(
                    f,
                    "the session needs {size} bytes but a session may take at most {limit} ({parts}); request fewer claims or scopes"
                )
            }
            OidcError::StoreUnavailable(why) => write!(f, "the session store is unavailable: {why}"),
            OidcError::InvalidLogoutToken(why) => write!(f, "invalid request: {why}"),
            OidcError::Overloaded(why) => write!(f, "overloaded: {why}"),
            OidcError::TooManyRequests(why) => write!(f, "too many requests: {why}"),
        }
    }
}

impl std::error::Error for OidcError {
    /// The typed reason, for the variants that carry one.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OidcError::InvalidIdToken(why) => Some(why),
            OidcError::InvalidToken(why) => Some(why),
            OidcError::InvalidDpopProof(why) => Some(why),
            OidcError::InvalidLogoutToken(why) => Some(why),
            OidcError::ProviderUnavailable(why)
            | OidcError::TokenCheckUnavailable(why)
            | OidcError::ClientRejected(why) => Some(why),
            OidcError::StoreUnavailable(why) => Some(why),
            OidcError::AccessDenied { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// `text` reduced to what RFC 6750 §3 allows in a quoted attribute value
/// (%x20-21 / %x23-5B / %x5D-7E): no quotes, backslashes or control
/// characters from a token or header can reach the response header.
fn quotable(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .take(200)
        .collect()
}

/// A log line as it is written: control characters (newlines, ANSI
/// escapes) dropped, at most 4,000 characters, whatever a provider or a
/// request put into it. Every line of the crate goes through here.
pub(crate) fn log_line(text: String) -> String {
    const MAX: usize = 4000;
    if text.len() <= MAX && !text.chars().any(char::is_control) {
        return text;
    }
    let mut kept = text.chars().filter(|c| !c.is_control());
    let mut line: String = kept.by_ref().take(MAX).collect();
    if kept.next().is_some() {
        line.push_str("...");
    }
    line
}

/// Text a provider sent, reduced to printable ASCII and at most `max`
/// characters: it ends up in pages and logs, where newlines, escape
/// sequences or megabytes must not.
pub(crate) fn printable(text: &str, max: usize) -> String {
    text.chars().filter(|c| (' '..='~').contains(c)).take(max).collect()
}
