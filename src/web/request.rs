//! Helpers for the requests the app receives: what kind of request it is,
//! reading a form body, and the `303` the routes answer with.

use rocket::data::ToByteUnit;
use rocket::http::{Header, Status};
use rocket::{Request, Response};

use crate::error::OidcError;

/// Largest form body read from a request (form_post responses, logout tokens).
const MAX_FORM_BYTES: u64 = 64 * 1024;

/// Whether `request` is a browser navigation: a page load
/// that may be redirected to the provider, as opposed to an API or XHR
/// call, which gets a 401 instead.
pub(crate) fn is_navigation(request: &Request<'_>) -> bool {
    // Only what can follow a login is one: not a `HEAD` (nobody reads its
    // answer), nor a prefetch or prerender (`Sec-Purpose`, or the older
    // `Purpose`/`X-Purpose`), which no user asked for and which would
    // start a login, and a pushed request to the provider, for nothing.
    if request.method() == rocket::http::Method::Head || request.local_cache(|| WasHead(false)).0 {
        return false;
    }
    let headers = request.headers();
    let speculative = ["Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"].iter().any(|name| {
        headers
            .get(name)
            .any(|v| v.to_ascii_lowercase().contains("prefetch") || v.to_ascii_lowercase().contains("prerender"))
    });
    if speculative {
        return false;
    }
    if headers
        .get("X-Requested-With")
        .any(|v| v.eq_ignore_ascii_case("XMLHttpRequest"))
    {
        return false;
    }
    if let Some(mode) = headers.get_one("Sec-Fetch-Mode")
        && !mode.eq_ignore_ascii_case("navigate")
    {
        return false;
    }
    headers.get("Accept").any(|accept| {
        accept
            .split(',')
            .any(|media| media.trim().to_ascii_lowercase().starts_with("text/html"))
    })
}

/// Whether the request came as a `HEAD`: Rocket routes an unmatched `HEAD`
/// to the `GET` route, and the guards then see `GET`. The fairing's request
/// hook, which sees the method as sent, notes it here.
pub(crate) struct WasHead(pub(crate) bool);

/// Notes a `HEAD` request (the fairing's request hook).
pub(crate) fn note_head(request: &Request<'_>) {
    if request.method() == rocket::http::Method::Head {
        request.local_cache(|| WasHead(true));
    }
}

/// Whether the URL of `request` has an `access_token` parameter.
pub(crate) fn access_token_in_query(request: &Request<'_>) -> bool {
    request
        .uri()
        .query()
        .is_some_and(|q| q.segments().any(|(name, _)| name == "access_token"))
}

/// The `application/x-www-form-urlencoded` body of a request, as text.
pub(crate) async fn read_form(data: rocket::Data<'_>) -> Result<String, OidcError> {
    let bad = |why: &str| OidcError::InvalidRequest(why.to_string());
    let body = data
        .open(MAX_FORM_BYTES.bytes())
        .into_string()
        .await
        .map_err(|_| bad("unreadable form body"))?;
    if !body.is_complete() {
        return Err(bad("form body too large"));
    }
    Ok(body.into_inner())
}

/// A `303 See Other` to `location`, never cached.
pub(crate) fn see_other(location: String) -> Response<'static> {
    Response::build()
        .status(Status::SeeOther)
        .header(Header::new("Location", location))
        .header(Header::new("Cache-Control", "no-store"))
        .finalize()
}
