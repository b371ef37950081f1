//! Request guards: [`OidcUser`] for browser sessions, [`BearerToken`] for
//! API calls, [`Identity`] for either.

use rocket::Request;

pub(crate) mod bearer;
mod identity;
mod user;

pub use self::bearer::{BearerToken, NoScopes, RequiredScopes};
pub use self::identity::Identity;
pub use self::user::{OidcUser, ValidAccessToken};

/// Whether `request` is a browser navigation (CONTRACT §2): a page load
/// that may be redirected to the provider, as opposed to an API or XHR
/// call, which gets a 401 instead.
pub(crate) fn is_navigation(request: &Request<'_>) -> bool {
    let headers = request.headers();
    if headers
        .get("X-Requested-With")
        .any(|v| v.eq_ignore_ascii_case("XMLHttpRequest"))
    {
        return false;
    }
    if let Some(mode) = headers.get_one("Sec-Fetch-Mode") {
        if !mode.eq_ignore_ascii_case("navigate") {
            return false;
        }
    }
    headers.get("Accept").any(|accept| {
        accept
            .split(',')
            .any(|media| media.trim().to_ascii_lowercase().starts_with("text/html"))
    })
}
