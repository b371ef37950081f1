//! The one HTTP client used for every call to a provider (outgoing only;
//! the helpers for requests the app receives are in `web::request`).

use std::time::Duration;

use serde::de::DeserializeOwned;

/// Largest provider response body read (discovery, JWKS, tokens, userinfo).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a call to a provider failed. Messages never contain tokens.
#[derive(Debug, Clone)]
pub(crate) enum HttpError {
    /// The provider could not be reached or did not answer in time.
    Unreachable(String),
    /// The provider answered with a status that is not a success.
    Status(u16),
    /// The body is too large or not the JSON expected.
    Malformed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Unreachable(why) => write!(f, "unreachable: {why}"),
            HttpError::Status(status) => write!(f, "answered with status {status}"),
            HttpError::Malformed(why) => write!(f, "sent a malformed response: {why}"),
        }
    }
}

/// Builds the shared client: bounded time, no redirects (a provider
/// endpoint that redirects elsewhere is not followed: SSRF and token leaks).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rocket_openidconnect/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Sends `request` and parses a JSON body of a successful answer.
pub(crate) async fn json<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, HttpError> {
    let (status, body) = send(request).await?;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status(status));
    }
    serde_json::from_slice(&body).map_err(|e| HttpError::Malformed(e.to_string()))
}

/// Sends `request` and reads at most [`MAX_BODY_BYTES`] of its body.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), HttpError> {
    let mut response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| HttpError::Unreachable(without_url(e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError::Unreachable(without_url(e)))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(HttpError::Malformed("body larger than 1 MiB".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// reqwest errors print the URL, which may carry a token in a query.
fn without_url(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "bad response body"
    } else {
        "request failed"
    };
    kind.to_string()
}
