//! A client holding a DPoP key (RFC 9449): its public JWK and thumbprint,
//! and the proofs it makes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::provider::{self, now};

/// The public origin of the test app (that of its `redirect_uri`).
pub const ORIGIN: &str = "http://127.0.0.1:8000";

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A client holding a DPoP key.
pub struct Holder {
    pub key: p256::ecdsa::SigningKey,
    pub jwk: Value,
}

impl Holder {
    pub fn new(seed: u8) -> Holder {
        let key = p256::ecdsa::SigningKey::from_slice(&Sha256::digest([seed; 8])).expect("a P-256 key");
        let point = key.verifying_key().to_sec1_point(false);
        let raw = point.as_bytes();
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..65]) });
        Holder { key, jwk }
    }

    /// RFC 7638 thumbprint of the key.
    pub fn jkt(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.jwk["x"].as_str().unwrap_or_default(),
            self.jwk["y"].as_str().unwrap_or_default()
        );
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// A proof for `method` `path` and `token`, with `header` and `claims`
    /// merged over the correct ones (`null` removes a member).
    pub fn proof_with(&self, method: &str, path: &str, token: &str, header: Value, claims: Value) -> String {
        let mut h = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        let mut c = json!({
            "jti": provider::random_token("jti"),
            "htm": method,
            "htu": format!("{ORIGIN}{path}"),
            "iat": now(),
            "ath": b64(&Sha256::digest(token.as_bytes())),
        });
        merge_into(&mut h, &header);
        merge_into(&mut c, &claims);
        let input = format!("{}.{}", b64(h.to_string().as_bytes()), b64(c.to_string().as_bytes()));
        let signature: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }

    pub fn proof(&self, method: &str, path: &str, token: &str) -> String {
        self.proof_with(method, path, token, json!({}), json!({}))
    }
}

pub fn merge_into(target: &mut Value, overrides: &Value) {
    if let (Some(target), Some(overrides)) = (target.as_object_mut(), overrides.as_object()) {
        for (name, value) in overrides {
            if value.is_null() {
                target.remove(name);
            } else {
                target.insert(name.clone(), value.clone());
            }
        }
    }
}
