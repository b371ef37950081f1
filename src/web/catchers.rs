//! The error view: how failed logins and refused requests are shown.
//!
//! Browsers get a small HTML page, everything else JSON; both carry
//! `error` and `error_description`. The fairing registers these catchers
//! for the statuses the crate produces, except those your app registers
//! itself at `/` (read the error with [`OidcError::of`](crate::OidcError::of)).

use std::io::Cursor;

use rocket::Request;
use rocket::catcher::{BoxFuture, Catcher};
use rocket::http::{ContentType, Header, Status};
use rocket::response::Response;

use crate::error::OidcError;
use crate::web::request::is_navigation;

/// The statuses the crate answers with.
pub(crate) const STATUSES: [u16; 6] = [400, 401, 403, 429, 502, 503];

/// The crate's catchers for `codes`.
pub(crate) fn catchers(codes: impl IntoIterator<Item = u16>) -> Vec<Catcher> {
    codes
        .into_iter()
        .map(|code| {
            let mut catcher = Catcher::new(code, handle);
            catcher.name = Some("oidc error view".into());
            catcher
        })
        .collect()
}

fn handle<'r>(status: Status, request: &'r Request<'_>) -> BoxFuture<'r> {
    Box::pin(async move { Ok(error_view(status, request)) })
}

/// The crate's rendering of the error of `request`: HTML for a browser
/// navigation, JSON otherwise. Useful as a fallback in your own catchers.
///
/// ```rust
/// use rocket::{Catcher, Request};
/// use rocket::catcher::BoxFuture;
/// use rocket::http::Status;
///
/// fn my_401<'r>(status: Status, request: &'r Request<'_>) -> BoxFuture<'r> {
///     Box::pin(async move { Ok(rocket_openidconnect::error_view(status, request)) })
/// }
///
/// let rocket = rocket::build().register("/", vec![Catcher::new(401, my_401)]);
/// ```
pub fn error_view(status: Status, request: &Request<'_>) -> Response<'static> {
    let (code, description) = match OidcError::of(request) {
        Some(error) => (error.code().to_string(), error.description()),
        None => (generic_code(status).to_string(), status.reason_lossy().to_lowercase()),
    };
    let (content_type, body) = if is_navigation(request) {
        (ContentType::HTML, html_page(status, &code, &description))
    } else {
        let json = serde_json::json!({ "error": code, "error_description": description });
        (ContentType::JSON, json.to_string())
    };
    Response::build()
        .status(status)
        .header(content_type)
        .header(Header::new("Cache-Control", "no-store"))
        .sized_body(body.len(), Cursor::new(body))
        .finalize()
}

fn generic_code(status: Status) -> &'static str {
    match status.code {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        429 => "too_many_requests",
        502 | 503 => "provider_unavailable",
        _ => "error",
    }
}

fn html_page(status: Status, code: &str, description: &str) -> String {
    // A 403 is no sign-in problem: the user is signed in, and signing in
    // again would not help.
    let heading = if status == Status::Forbidden {
        "Access denied"
    } else {
        "Sign-in problem"
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status}</title></head>\n\
         <body><h1>{heading}</h1>\n<p><strong>{}</strong></p>\n<p>{}</p>\n<p><a href=\"/\">Back to the start page</a></p></body></html>\n",
        escape(code),
        escape(description),
        status = status.code,
    )
}

/// `text` made safe inside HTML text and double- or single-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_escapes_provider_text() {
        let page = super::html_page(rocket::http::Status::Unauthorized, "x", "<script>alert(1)</script>");
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
    }
}
