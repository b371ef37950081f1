//! Hand-built JWTs and JWKs for the test provider, signed by the crate's
//! one JOSE module (`rocket_openidconnect::testing::jose`).
//!
//! The RSA keys are the test issuer's `Key::Current` and `Key::Rotated`.

use rocket_openidconnect::testing::jose::{self, Alg};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The issuer's fixed pair of RSA keys (made once per process).
pub use rocket_openidconnect::testing::faults::Key;

/// How a JWS is signed, whatever its header claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// RS256 (PKCS#1 v1.5 with SHA-256) with this key.
    Rs256(Key),
    /// RS256 with this key, then one bit of the signature flipped.
    Rs256Corrupted(Key),
    /// No signature at all (the `alg: none` attack): `header.payload.`
    Unsigned,
    /// HMAC-SHA256 keyed with these bytes.
    Hs256(Vec<u8>),
}

pub fn b64(bytes: &[u8]) -> String {
    jose::b64(bytes)
}

pub fn b64_decode(text: &str) -> Vec<u8> {
    jose::b64_decode(text).expect("base64url")
}

/// Serializes and signs a compact JWS.
pub fn encode(header: &Value, claims: &Value, signature: &Signature) -> String {
    encode_text(&header.to_string(), &claims.to_string(), signature)
}

/// [`encode`] of a header and claims given as JSON text, which may be what
/// a JSON object cannot be (a member named twice).
pub fn encode_text(header: &str, claims: &str, signature: &Signature) -> String {
    let how = match signature {
        Signature::Rs256(key) | Signature::Rs256Corrupted(key) => jose::Signature::With(key.signing_key(), Alg::Rs256),
        Signature::Unsigned => jose::Signature::Unsigned,
        Signature::Hs256(secret) => jose::Signature::Hmac(secret),
    };
    let jws = jose::encode_text(header, claims, how).expect("signed");
    if !matches!(signature, Signature::Rs256Corrupted(_)) {
        return jws;
    }
    let (input, sig) = jws.rsplit_once('.').expect("a JWS");
    let mut sig = b64_decode(sig);
    let middle = sig.len() / 2;
    sig[middle] ^= 0x01;
    format!("{input}.{}", b64(&sig))
}

/// The claims of a compact JWT, unverified.
pub fn decode_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&b64_decode(payload)).expect("JWT payload is JSON")
}

/// The header of a compact JWT.
pub fn decode_header(jwt: &str) -> Value {
    let header = jwt.split('.').next().expect("a JWT has a header");
    serde_json::from_slice(&b64_decode(header)).expect("JWT header is JSON")
}

/// `BASE64URL(SHA256(verifier))`, the RFC 7636 S256 code challenge.
pub fn s256(verifier: &str) -> String {
    b64(&Sha256::digest(verifier.as_bytes()))
}

/// Deterministic, incompressible filler text (base64url of a SHA-256 chain):
/// session-size tests must not be defeated by compression.
pub fn incompressible_text(len: usize, seed: &str) -> String {
    let mut out = String::with_capacity(len + 43);
    let mut block = Sha256::digest(seed.as_bytes());
    while out.len() < len {
        out.push_str(&b64(&block));
        block = Sha256::digest(block);
    }
    out.truncate(len);
    out
}

/// The public JWK of the client's RSA test key (`tests/data/client-rsa.pem`),
/// as a provider registers it for `private_key_jwt`.
pub fn client_rsa_public_jwk() -> Value {
    let pem = std::fs::read_to_string("tests/data/client-rsa.pem").expect("the test key");
    Value::Object(jose::Key::from_pem(&pem).expect("an RSA key").public_members())
}
