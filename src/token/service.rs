//! Tokens the app obtains for itself (the client-credentials grant).

use std::time::{Duration, Instant};

use crate::clock::AppClock;
use crate::secret::AccessToken;

/// An access token obtained with the client-credentials grant.
///
/// ```rust
/// use rocket_openidconnect::ServiceToken;
///
/// fn header(token: &ServiceToken) -> String {
///     format!("Bearer {}", token.access_token().secret())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceToken {
    pub(crate) access_token: AccessToken,
    pub(crate) scope: Option<String>,
    pub(crate) expires_at: Option<Instant>,
    /// The app's clock, which `expires_at` is on.
    pub(crate) clock: AppClock,
}

impl ServiceToken {
    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// The granted scopes, space-separated, when the provider said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Time left before the token expires, when the provider said.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_at
            .map(|at| at.saturating_duration_since(self.clock.instant()))
    }
}
