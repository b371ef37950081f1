//! A client holding a DPoP key (RFC 9449): its public JWK and thumbprint,
//! and the proofs it makes.

use rocket_openidconnect::testing::jose::{self, Alg};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::provider::{self, now};

/// The public origin of the test app (that of its `redirect_uri`).
pub const ORIGIN: &str = "http://127.0.0.1:8000";

pub fn b64(bytes: &[u8]) -> String {
    jose::b64(bytes)
}

/// A client holding a DPoP key.
pub struct Holder {
    pub key: jose::Key,
    pub jwk: Value,
}

impl Holder {
    pub fn new(seed: u8) -> Holder {
        let key = p256::ecdsa::SigningKey::from_slice(&Sha256::digest([seed; 8])).expect("a P-256 key");
        let key = jose::Key::P256(key);
        let jwk = Value::Object(key.public_members());
        Holder { key, jwk }
    }

    /// RFC 7638 thumbprint of the key.
    pub fn jkt(&self) -> String {
        // RFC 7638 §3.2, written out here rather than asked of the crate:
        // the verifier computes the proof key's thumbprint with the crate's
        // code, and the token's `cnf.jkt` must not come from the same place.
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
        jose::encode(&h, &c, jose::Signature::With(&self.key, Alg::Es256)).expect("signed")
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
