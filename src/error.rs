//! The errors a login, a session or a guard can end with, and the HTTP
//! status and OAuth-style `error` code each one is shown with.

use std::fmt;
use std::sync::Mutex;

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};

/// Why a request could not be authenticated.
///
/// Guards and the callback route keep the error in the request's local
/// cache; a catcher (the crate's or your own) reads it back with
/// [`OidcError::of`].
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
    InvalidIdToken(String),
    /// The userinfo response cannot be trusted (`401 invalid_userinfo`).
    InvalidUserinfo(String),
    /// The provider is unreachable, failing or answered nonsense (`502 provider_unavailable`).
    ProviderUnavailable(String),
    /// The session does not fit in the cookies allowed for it (`502 session_too_large`).
    SessionTooLarge {
        /// Bytes the session needs.
        size: usize,
        /// Bytes the store can keep.
        limit: usize,
    },
}

impl OidcError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> Status {
        match self {
            OidcError::InvalidRequest(_) | OidcError::InvalidState(_) => Status::BadRequest,
            OidcError::LoginRequired
            | OidcError::Provider { .. }
            | OidcError::InvalidIssuer(_)
            | OidcError::InvalidIdToken(_)
            | OidcError::InvalidUserinfo(_) => Status::Unauthorized,
            OidcError::ProviderUnavailable(_) | OidcError::SessionTooLarge { .. } => {
                Status::BadGateway
            }
        }
    }

    /// The `error` code shown to clients (RFC 6749 §5.2 style).
    pub fn code(&self) -> &str {
        match self {
            OidcError::LoginRequired => "login_required",
            OidcError::InvalidRequest(_) => "invalid_request",
            OidcError::InvalidState(_) => "invalid_state",
            OidcError::Provider { error, .. } => error,
            OidcError::InvalidIssuer(_) => "invalid_issuer",
            OidcError::InvalidIdToken(_) => "invalid_id_token",
            OidcError::InvalidUserinfo(_) => "invalid_userinfo",
            OidcError::ProviderUnavailable(_) => "provider_unavailable",
            OidcError::SessionTooLarge { .. } => "session_too_large",
        }
    }

    /// The human-readable `error_description`.
    pub fn description(&self) -> String {
        match self {
            OidcError::Provider {
                description: Some(d),
                ..
            } => d.clone(),
            other => other.to_string(),
        }
    }

    /// The error a guard or the callback failed with on this request, if any.
    ///
    /// ```rust
    /// use rocket::{catch, Request};
    /// use rocket_openidconnect::OidcError;
    ///
    /// #[catch(502)]
    /// fn provider_down(request: &Request) -> String {
    ///     match OidcError::of(request) {
    ///         Some(error) => format!("sign-in is unavailable: {error}"),
    ///         None => "bad gateway".into(),
    ///     }
    /// }
    /// ```
    pub fn of(request: &Request<'_>) -> Option<OidcError> {
        request
            .local_cache(ErrorSlot::default)
            .0
            .lock()
            .ok()?
            .clone()
    }

    /// Keeps this error for the catcher of this request.
    pub(crate) fn stash(&self, request: &Request<'_>) {
        if let Ok(mut slot) = request.local_cache(ErrorSlot::default).0.lock() {
            *slot = Some(self.clone());
        }
    }
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OidcError::LoginRequired => write!(f, "login required"),
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
            OidcError::SessionTooLarge { size, limit } => {
                write!(f, "the session needs {size} bytes but the cookie store keeps at most {limit}; use a server-side session store or fewer claims")
            }
        }
    }
}

impl std::error::Error for OidcError {}

/// Answering with an `OidcError` hands it to the catcher of its status.
impl<'r> Responder<'r, 'static> for OidcError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        self.stash(request);
        Err(self.status())
    }
}

#[derive(Default)]
struct ErrorSlot(Mutex<Option<OidcError>>);
