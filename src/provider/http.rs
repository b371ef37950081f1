//! The one HTTP client used for every call to a provider (outgoing only;
//! the helpers for requests the app receives are in `web::request`).

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::telemetry::{self, Call};

/// Largest provider response body read (discovery, JWKS, tokens, userinfo).
const MAX_BODY_BYTES: usize = 1024 * 1024;

pub(crate) use crate::error::HttpError;

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
pub(crate) async fn json<T: DeserializeOwned>(
    call: Call<'_>,
    request: reqwest::RequestBuilder,
) -> Result<T, HttpError> {
    let (status, body) = send(call, request).await?;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status(status));
    }
    serde_json::from_slice(&body).map_err(|e| HttpError::malformed(&e))
}

/// Sends `request` and parses a JSON body of a successful answer, with
/// how long the answer may be reused by its `Cache-Control` (`max-age`;
/// `Some(ZERO)` for `no-cache` or `no-store`; `None` when it does not say).
pub(crate) async fn json_with_max_age<T: DeserializeOwned>(
    call: Call<'_>,
    request: reqwest::RequestBuilder,
) -> Result<(T, Option<Duration>), HttpError> {
    let (status, body, max_age) = send_reading(call, request).await?;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status(status));
    }
    let value = serde_json::from_slice(&body).map_err(|e| HttpError::malformed(&e))?;
    Ok((value, max_age))
}

/// The `max-age` of a `Cache-Control` header value (see [`json_with_max_age`]).
pub(crate) fn max_age(cache_control: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-cache" || directive == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            max_age = seconds.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    max_age
}

/// Sends `request` and reads at most [`MAX_BODY_BYTES`] of its body.
pub(crate) async fn send(call: Call<'_>, request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), HttpError> {
    send_reading(call, request)
        .await
        .map(|(status, body, _)| (status, body))
}

/// [`send`], counted and timed in the metrics as `call`.
async fn send_reading(
    call: Call<'_>,
    request: reqwest::RequestBuilder,
) -> Result<(u16, Vec<u8>, Option<Duration>), HttpError> {
    let started = std::time::Instant::now();
    let result = read(request).await;
    let status = match &result {
        Ok((status, _, _)) => Some(*status),
        Err(HttpError::Status(status)) => Some(*status),
        Err(_) => None,
    };
    telemetry::provider_call(call, status, started.elapsed());
    result
}

async fn read(request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>, Option<Duration>), HttpError> {
    let mut response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| HttpError::Unreachable(without_url(e)))?;
    let status = response.status().as_u16();
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(max_age);
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
    Ok((status, body, max_age))
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

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(crate::test_fuzz::cases(512))]

        #[test]
        fn fuzz_any_cache_control_is_read_without_panic(value in crate::test_fuzz::nasty_text()) {
            let _ = max_age(&value);
        }
    }

    #[test]
    fn cache_control_gives_the_max_age() {
        assert_eq!(max_age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(max_age("max-age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("max-age=600, no-cache"), Some(Duration::ZERO));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=forever"), None);
    }
}
