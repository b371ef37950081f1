//! Request guards: [`OidcUser`] for browser sessions, [`BearerToken`] for
//! API calls, [`Identity`] for either.

use rocket::{Ignite, Request, Rocket};

use crate::config::Authorization;
use crate::error::{AuthorizationError, OidcError};

use crate::oidc::Oidc;

pub(crate) mod bearer;
mod identity;
mod user;

pub use self::bearer::{BearerToken, NoScopes, RequiredScopes};
pub use self::identity::Identity;
pub use self::user::{OidcUser, ValidAccessToken};

/// For guards' sentinels: true (abort launch) when the fairing is missing
/// or `provider` is not configured, after saying why.
pub(crate) fn provider_missing(rocket: &Rocket<Ignite>, provider: &str, guard: &str) -> bool {
    match rocket.state::<Oidc>() {
        None => {
            event!(
                error,
                "`{guard}` is used but `Oidc::fairing()` is not attached (or failed): attach it with `.attach(Oidc::fairing())`"
            );
            true
        }
        Some(oidc) if oidc.provider(provider).is_none() => {
            event!(
                error,
                "`{guard}` names provider `{provider}`, which is missing from `oidc.providers` (configured: {})",
                oidc.provider_names().collect::<Vec<_>>().join(", ")
            );
            true
        }
        Some(_) => false,
    }
}

/// The refusal of a request whose user (or token subject) is
/// authenticated but does not meet `A`: logged with what was unmet and
/// counted, answered `403 access_denied` without the required values.
pub(crate) fn access_denied<A: Authorization>(
    request: &Request<'_>,
    guard: &'static str,
    provider: &str,
    reason: AuthorizationError,
) -> OidcError {
    let requirement = std::any::type_name::<A>();
    let short = requirement.rsplit("::").next().unwrap_or(requirement);
    crate::telemetry::access_denied(guard, short, reason.label());
    event!(
        info,
        "oidc: access denied to {} {}: a {guard} of provider `{provider}` does not meet `{requirement}`: {reason}",
        request.method(),
        request.uri().path()
    );
    OidcError::AccessDenied { requirement, reason }
}
