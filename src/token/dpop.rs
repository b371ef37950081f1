//! DPoP proofs at the resource server (RFC 9449 §4.3, §7): the proof JWT
//! of a request is checked against the request and the access token, and
//! the key it carries is named by its RFC 7638 thumbprint, which a bound
//! token's `cnf.jkt` must equal. Server nonces (§9) are derived from a
//! key, so every instance issues and accepts the same ones. The signature
//! is checked by `openidconnect`'s JWK code, asymmetric algorithms only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::client_key::jwk_thumbprint as thumbprint;
use crate::error::OidcError;
use crate::token::jws::{CompactJws, ASYMMETRIC_ALGS};

/// The `algs` of a DPoP challenge: what a proof may be signed with.
pub(crate) const PROOF_ALGS: &str = "ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA";

/// The longest proof read (a proof is a few hundred bytes; an RSA key makes it larger).
const MAX_PROOF_BYTES: usize = 8 * 1024;

/// How long a server nonce is good for: the window it was issued in and the next.
const NONCE_WINDOW_SECONDS: i64 = 300;

/// A proof that checked out: its key's thumbprint and its `jti`.
#[derive(Debug, Clone)]
pub(crate) struct Proof {
    /// RFC 7638 thumbprint of the proof's public key.
    pub(crate) jkt: String,
    pub(crate) jti: String,
    pub(crate) iat: i64,
}

/// What a proof must match: the request and the token it accompanies.
pub(crate) struct Expected<'a> {
    /// The request's method (`htm`).
    pub(crate) method: &'a str,
    /// The request's URL as the client addressed it: the public origin and
    /// the path (`htu`, without query and fragment).
    pub(crate) url: &'a Url,
    /// The access token the proof is for (`ath`).
    pub(crate) access_token: &'a str,
    pub(crate) now: i64,
    pub(crate) skew: i64,
    /// With server nonces: the nonce source.
    pub(crate) nonces: Option<&'a Nonces>,
}

fn invalid(why: &str) -> OidcError {
    OidcError::InvalidDpopProof(why.to_string())
}

/// The `htu` a proof names, as compared: scheme, host, port and path.
fn comparable(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// Checks the `DPoP` header value `proof` against `expected` (RFC 9449 §4.3).
pub(crate) fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, OidcError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid("the proof is too large"));
    }
    let jws = CompactJws::parse(proof).ok_or_else(|| invalid("the proof is not a compact JWS"))?;
    if jws.typ().as_deref() != Some("dpop+jwt") {
        return Err(invalid("the proof's `typ` is not `dpop+jwt`"));
    }
    let alg: CoreJwsSigningAlgorithm = jws
        .header
        .get("alg")
        .cloned()
        .and_then(|alg| serde_json::from_value(alg).ok())
        .filter(|alg| ASYMMETRIC_ALGS.contains(alg))
        .ok_or_else(|| invalid("the proof's `alg` is not an accepted asymmetric algorithm"))?;
    let jwk = jws
        .header
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("the proof carries no `jwk`"))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|private| jwk.contains_key(*private))
    {
        return Err(invalid("the proof's `jwk` holds a private key"));
    }
    let jkt = thumbprint(jwk).ok_or_else(|| invalid("the proof's `jwk` is not an RSA, EC or OKP public key"))?;
    let key: CoreJsonWebKey =
        serde_json::from_value(Value::Object(jwk.clone())).map_err(|_| invalid("the proof's `jwk` cannot be read"))?;
    jws.verify_with(&key, &alg)
        .map_err(|_| invalid("the proof's signature does not verify with its `jwk`"))?;

    let claims = jws
        .unverified_claims()
        .ok_or_else(|| invalid("the proof's claims are not a JSON object"))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|jti| !jti.is_empty() && jti.len() <= 256)
        .ok_or_else(|| invalid("the proof has no usable `jti`"))?;
    if text("htm") != Some(expected.method) {
        return Err(invalid("the proof's `htm` is not this request's method"));
    }
    let htu = text("htu")
        .and_then(|htu| Url::parse(htu).ok())
        .ok_or_else(|| invalid("the proof has no `htu` URL"))?;
    if comparable(&htu) != comparable(expected.url) {
        return Err(invalid("the proof's `htu` is not this request's URL"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("the proof has no `iat`"))?;
    if iat > expected.now.saturating_add(expected.skew) || iat < expected.now.saturating_sub(expected.skew) {
        return Err(invalid("the proof's `iat` is not recent"));
    }
    let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(expected.access_token.as_bytes()));
    if text("ath") != Some(ath.as_str()) {
        return Err(invalid("the proof's `ath` is not the hash of this access token"));
    }
    if let Some(nonces) = expected.nonces {
        if !text("nonce").is_some_and(|nonce| nonces.accepts(nonce, expected.now)) {
            return Err(OidcError::UseDpopNonce(nonces.issue(expected.now)));
        }
    }
    Ok(Proof {
        jkt,
        jti: jti.to_string(),
        iat,
    })
}

/// Server-provided nonces (RFC 9449 §9): the time window and a MAC of it,
/// keyed by a key every instance shares.
pub(crate) struct Nonces {
    key: [u8; 32],
}

impl Nonces {
    /// Nonces keyed by a key derived from `secret` (the app's cookie key).
    pub(crate) fn new(secret: &[u8]) -> Nonces {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"rocket_openidconnect DPoP nonce key");
        Nonces {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, window: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(&window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    /// A nonce for now.
    pub(crate) fn issue(&self, now: i64) -> String {
        let window = now.div_euclid(NONCE_WINDOW_SECONDS);
        format!("{window}.{}", self.mac(window))
    }

    /// Whether `nonce` was issued in this window or the one before.
    pub(crate) fn accepts(&self, nonce: &str, now: i64) -> bool {
        let current = now.div_euclid(NONCE_WINDOW_SECONDS);
        let Some((window, mac)) = nonce.split_once('.') else {
            return false;
        };
        let Ok(window) = window.parse::<i64>() else {
            return false;
        };
        (window == current || window == current - 1)
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                self.mac(window).as_bytes(),
                mac.as_bytes(),
            ))
    }
}

/// HMAC takes a key of any length: this cannot happen.
fn unreachable_hmac() -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(&[0u8; 32]) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts a 32-byte key"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638_s_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(jwk.as_object().expect("an object")).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(
            thumbprint(json!({ "kty": "oct", "k": "AAAA" }).as_object().expect("an object")),
            None
        );
    }

    proptest::proptest! {
        // Signing with RSA is slow in a debug build: fewer cases.
        #![proptest_config(crate::test_fuzz::cases(48))]

        /// Any text, and signed proofs with headers and claims of any
        /// shape: checked without a panic, and accepted only when they
        /// match the request.
        #[test]
        fn fuzz_proofs_of_any_shape_are_checked_without_panic(
            raw in crate::test_fuzz::nasty_text(),
            header in crate::test_fuzz::claims_like(&["typ", "alg", "jwk", "kid", "crit"]),
            claims in crate::test_fuzz::claims_like(&["htm", "htu", "iat", "jti", "ath", "nonce"]),
            proper_header in proptest::prelude::any::<bool>(),
        ) {
            use crate::test_jwt::{encode, Key, Signature};
            let url = Url::parse("https://rp.example/api").expect("a URL");
            let expected = Expected {
                method: "GET",
                url: &url,
                access_token: "the-token",
                now: 1_000_000,
                skew: 60,
                nonces: None,
            };
            proptest::prop_assert!(verify(&raw, &expected).is_err() || raw.contains('.'));
            let mut header = header;
            if proper_header {
                header.insert("typ".into(), json!("dpop+jwt"));
                header.insert("alg".into(), json!("RS256"));
                header.insert("jwk".into(), Key::Current.jwk());
            }
            let proof = encode(&Value::Object(header), &Value::Object(claims.clone()), &Signature::Rs256(Key::Current));
            if verify(&proof, &expected).is_ok() {
                proptest::prop_assert_eq!(claims.get("htm").and_then(Value::as_str), Some("GET"));
                proptest::prop_assert!(claims.contains_key("ath") && claims.contains_key("jti"));
            }
        }
    }

    #[test]
    fn a_nonce_is_good_for_its_window_and_the_next_and_only_from_our_key() {
        let nonces = Nonces::new(b"the app's key");
        let nonce = nonces.issue(1_000_000);
        assert!(nonces.accepts(&nonce, 1_000_000));
        assert!(nonces.accepts(&nonce, 1_000_000 + NONCE_WINDOW_SECONDS));
        assert!(!nonces.accepts(&nonce, 1_000_000 + 2 * NONCE_WINDOW_SECONDS));
        assert!(!Nonces::new(b"another key").accepts(&nonce, 1_000_000));
        assert!(!nonces.accepts("3333.abc", 1_000_000));
        assert!(!nonces.accepts("not a nonce", 1_000_000));
    }
}
