//! Reading a bearer token from a request (RFC 6750 §2.1): one
//! `Authorization` header, a b64token, nothing else.

use crate::error::OidcError;
use crate::secret::AccessToken;

/// `B64TOKEN[b]`: byte `b` may appear in an RFC 6750 b64token (before its
/// trailing `=`s): `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// A bearer token as a request sent it, not yet checked character by
/// character (see [`SentToken::well_formed`]).
#[derive(Clone, Copy)]
pub(crate) struct SentToken<'h>(&'h str, bool);

impl<'h> SentToken<'h> {
    pub(crate) fn as_str(&self) -> &'h str {
        self.0
    }

    /// Whether it came with the `DPoP` scheme (RFC 9449 §7.1) rather than `Bearer`.
    pub(crate) fn is_dpop(&self) -> bool {
        self.1
    }

    /// The token, if it is an RFC 6750 §2.1 `b64token`; a token found
    /// valid before is the same bytes, so a cache hit skips this.
    pub(crate) fn well_formed(&self) -> Result<AccessToken, OidcError> {
        let body = self.0.trim_end_matches('=');
        if body.is_empty() || !body.bytes().all(|b| B64TOKEN[usize::from(b)]) {
            return Err(OidcError::InvalidBearerRequest(
                "the bearer token is empty or malformed".into(),
            ));
        }
        Ok(AccessToken::new(self.0))
    }
}

impl std::fmt::Debug for SentToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentToken([redacted])")
    }
}

/// The bearer token of a request with these `Authorization` headers:
/// `None` without one; an error when the header is malformed or a token
/// is sent in more than one place (`in_query`: the URL has an
/// `access_token` parameter).
pub(crate) fn bearer_token<'h>(
    mut headers: impl Iterator<Item = &'h str>,
    in_query: bool,
) -> Result<Option<SentToken<'h>>, OidcError> {
    let bad = |why: &str| Err(OidcError::InvalidBearerRequest(why.to_string()));
    // RFC 6750 §2: one method per request; and tokens in URLs leak into
    // logs and Referer headers, so we accept none there.
    if in_query {
        return bad("access tokens are accepted only in the Authorization header");
    }
    let Some(header) = headers.next() else {
        return Ok(None);
    };
    if headers.next().is_some() {
        return bad("more than one Authorization header");
    }
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    let dpop = scheme.eq_ignore_ascii_case("dpop");
    if !dpop && !scheme.eq_ignore_ascii_case("bearer") {
        return bad("the Authorization scheme is not Bearer (or DPoP)");
    }
    let token = token.trim_matches(' ');
    if token.is_empty() || token.len() > 16 * 1024 {
        return bad("the bearer token is empty or malformed");
    }
    Ok(Some(SentToken(token, dpop)))
}
