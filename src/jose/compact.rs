//! Compact JWS serialization (RFC 7515 §7.1): `header.payload.signature`,
//! each part base64url without padding. Read strictly, for every token the
//! crate verifies; written for every JWS it signs.

use hmac::{Hmac, Mac};
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::{Alg, Key, b64, unique_json};

/// The three parts of a compact JWS, decoded; `None` if it is not one.
pub struct CompactJws<'a> {
    /// The JOSE header.
    pub header: Map<String, Value>,
    signing_input: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// The compact JWS `raw`, if it is one: three base64url parts without
    /// padding, and a header that is a JSON object with no member twice
    /// (RFC 7515 §5.2 step 4). Every JWS the crate reads goes through here
    /// (ID tokens' claims, access tokens, logout tokens, DPoP proofs), and
    /// every signature check but the ID token's (`openidconnect`'s, which
    /// refuses `crit` too) through [`CompactJws::verifies_with`], which
    /// refuses what §4.1.11 says to: so these rules hold for all of them
    /// alike.
    pub fn parse(raw: &'a str) -> Option<CompactJws<'a>> {
        let mut parts = raw.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let signing_input = raw.get(..header.len() + 1 + payload.len())?;
        let header = decode_object(header)?;
        Some(CompactJws {
            header,
            signing_input,
            payload,
            signature: super::b64_decode(signature)?,
        })
    }

    /// The payload as a JSON object, NOT verified: only ever a reason to
    /// refuse a token, or the claims of one whose signature
    /// [`CompactJws::verifies_with`] accepted.
    pub fn unverified_claims(&self) -> Option<Map<String, Value>> {
        decode_object(self.payload)
    }

    /// Whether the signature verifies with `key` under `alg`; never for a
    /// JWS that needs an extension understood.
    pub fn verifies_with(&self, key: &CoreJsonWebKey, alg: &CoreJwsSigningAlgorithm) -> bool {
        !self.needs_an_extension()
            && key
                .verify_signature(alg, self.signing_input.as_bytes(), &self.signature)
                .is_ok()
    }

    /// RFC 7515 §4.1.11: a `crit` header lists extensions the recipient
    /// must understand or refuse the JWS. This crate implements none.
    pub fn needs_an_extension(&self) -> bool {
        self.header.contains_key("crit")
    }

    /// The `typ` header, lower-cased, if any.
    pub fn typ(&self) -> Option<String> {
        self.header
            .get("typ")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    }
}

/// A base64url segment of a JWS as a JSON object; `None` if it is not one,
/// or if a member name appears twice in it at any depth (RFC 7515 §5.2,
/// RFC 7519 §4: a parser that kept one of two `sub`s could disagree with
/// another one about who the token names).
pub fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    unique_json::object(&super::b64_decode(segment)?)
}

/// How a JWS written by [`encode`] is signed, whatever its header says.
pub enum Signature<'a> {
    /// With a private key under an algorithm it signs with.
    With(&'a Key, Alg),
    /// HMAC-SHA256 (HS256) keyed with these bytes: a client secret for
    /// `client_secret_jwt` (RFC 7523, OIDC Core §9).
    Hmac(&'a [u8]),
    /// No signature at all: `header.payload.` (`alg: none`, RFC 7518
    /// §3.6; only tests write one, to see it refused).
    #[cfg(any(test, feature = "testing"))]
    Unsigned,
}

/// The compact JWS of `header` and `claims`, signed as `how` says.
pub fn encode(header: &Value, claims: &Value, how: Signature<'_>) -> Result<String, String> {
    encode_text(&header.to_string(), &claims.to_string(), how)
}

/// [`encode`] of a header and claims given as JSON text, which may be what
/// no JSON object can be (a member named twice).
#[cfg_attr(not(any(test, feature = "testing")), allow(dead_code))]
pub fn encode_text(header: &str, claims: &str, how: Signature<'_>) -> Result<String, String> {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = match how {
        Signature::With(key, alg) => key.sign(alg, input.as_bytes())?,
        Signature::Hmac(secret) => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "the secret is no HMAC key".to_string())?;
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        #[cfg(any(test, feature = "testing"))]
        Signature::Unsigned => Vec::new(),
    };
    Ok(format!("{input}.{}", b64(signature)))
}
