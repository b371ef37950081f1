//! Signature verification of compact JWS tokens other than ID tokens
//! (RFC 9068 access tokens), with the provider's keys and the same
//! rotation handling as ID tokens. The cryptography is `openidconnect`'s.

use base64::Engine;
use openidconnect::core::{CoreJsonWebKeySet, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm};
use serde_json::{Map, Value};

use crate::error::OidcError;
use crate::provider::Provider;

/// Asymmetric algorithms only: no `none`, and no HMAC (we share no secret
/// with the issuer of access tokens, and a MAC keyed with a public key is
/// the classic algorithm-confusion forgery).
pub(crate) const ASYMMETRIC_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// A token whose signature verified.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedJws {
    pub(crate) claims: Map<String, Value>,
}

/// The three parts of a compact JWS, decoded; `None` if it is not one.
pub(crate) struct CompactJws<'a> {
    pub(crate) header: Map<String, Value>,
    signing_input: &'a str,
    payload: &'a str,
    signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    pub(crate) fn parse(raw: &'a str) -> Option<CompactJws<'a>> {
        let mut parts = raw.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let signing_input = raw.get(..header.len() + 1 + payload.len())?;
        Some(CompactJws {
            header: decode_object(header)?,
            signing_input,
            payload,
            signature: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(signature)
                .ok()?,
        })
    }

    /// The `typ` header, lower-cased, if any.
    pub(crate) fn typ(&self) -> Option<String> {
        self.header
            .get("typ")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    }
}

/// Verifies `raw` with `provider`'s keys under the algorithms `allowed`.
pub(crate) async fn verify(
    provider: &Provider,
    raw: &str,
    allowed: &[CoreJwsSigningAlgorithm],
) -> Result<VerifiedJws, OidcError> {
    let invalid = |why: &str| OidcError::InvalidToken(why.to_string());
    let jws = CompactJws::parse(raw).ok_or_else(|| invalid("not a compact JWS"))?;
    // RFC 7515 §4.1.11: extensions we do not understand must be refused.
    if jws.header.contains_key("crit") {
        return Err(invalid("unsupported critical header"));
    }
    let alg: CoreJwsSigningAlgorithm = jws
        .header
        .get("alg")
        .cloned()
        .and_then(|alg| serde_json::from_value(alg).ok())
        .ok_or_else(|| invalid("missing or unknown `alg`"))?;
    if !allowed.contains(&alg) {
        return Err(invalid("signing algorithm not allowed"));
    }
    let kid = jws.header.get("kid").and_then(Value::as_str);
    let keys = provider.keys().await?;
    let verified = match check_signature(&keys, &jws, &alg, kid) {
        Signature::NoKey => match provider.refetch_keys(kid, &keys).await? {
            Some(fresh) => check_signature(&fresh, &jws, &alg, kid),
            None => Signature::NoKey,
        },
        other => other,
    };
    match verified {
        Signature::Valid => {}
        Signature::NoKey => return Err(invalid("signed with an unknown key")),
        Signature::Invalid => return Err(invalid("bad signature")),
    }
    let claims = decode_object(jws.payload).ok_or_else(|| invalid("the payload is not a JSON object"))?;
    Ok(VerifiedJws { claims })
}

enum Signature {
    Valid,
    Invalid,
    NoKey,
}

fn check_signature(
    keys: &CoreJsonWebKeySet,
    jws: &CompactJws<'_>,
    alg: &CoreJwsSigningAlgorithm,
    kid: Option<&str>,
) -> Signature {
    let candidates: Vec<_> = keys
        .keys()
        .iter()
        .filter(|key| kid.is_none_or(|kid| key.key_id().map(|id| id.as_str()) == Some(kid)))
        .filter(|key| !matches!(key.key_use(), Some(CoreJsonWebKeyUse::Encryption)))
        .filter(|key| match key.signing_alg() {
            JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Unsupported => false,
        })
        .collect();
    if candidates.is_empty() {
        return Signature::NoKey;
    }
    let valid = candidates.iter().any(|key| {
        key.verify_signature(alg, jws.signing_input.as_bytes(), &jws.signature)
            .is_ok()
    });
    if valid {
        Signature::Valid
    } else {
        Signature::Invalid
    }
}

pub(crate) fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}
