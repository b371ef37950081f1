//! The test issuer's signing key: ES256 (ECDSA on P-256 with SHA-256),
//! fresh for every issuer, published as a JWK. Signing is the crate's
//! `jose` module's.

use serde_json::{Map, Value, json};

use crate::jose::{self, Alg, Key};

/// A private signing key and its `kid`. `Debug` shows only the `kid`.
pub(crate) struct Signer {
    key: Key,
    kid: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// A random opaque value (codes, tokens, ids): 24 random bytes, base64url.
pub(crate) fn random_token() -> String {
    crate::random::text(24)
}

impl Signer {
    /// A new random key; `None` only if the system's generator fails.
    pub(crate) fn generate() -> Option<Signer> {
        // A random 32-byte string is a valid P-256 scalar but for a
        // negligible fraction (zero or at least the group order): retry.
        for _ in 0..8 {
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&crate::random::bytes(32)) {
                let kid = random_token()[..12].to_string();
                return Some(Signer {
                    key: Key::P256(key),
                    kid,
                });
            }
        }
        None
    }

    /// The private key.
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    /// The `kid` it is published under.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (RFC 7517/7518 §6.2).
    pub(crate) fn public_jwk(&self) -> Value {
        let mut jwk = self.key.public_members();
        jwk.insert("kid".into(), json!(self.kid));
        jwk.insert("use".into(), json!("sig"));
        jwk.insert("alg".into(), json!("ES256"));
        Value::Object(jwk)
    }

    /// A compact JWS of `claims` with the header `typ` (and `alg`, `kid`).
    pub(crate) fn sign(&self, typ: &str, claims: &Map<String, Value>) -> String {
        let header = json!({ "alg": "ES256", "typ": typ, "kid": self.kid });
        // A P-256 key always signs ES256: a failure is a bug of the kit.
        let how = jose::Signature::With(&self.key, Alg::Es256);
        match jose::encode(&header, &Value::Object(claims.clone()), how) {
            Ok(jws) => jws,
            Err(error) => panic!("the test issuer could not sign: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};

    use super::*;

    #[test]
    fn a_signature_verifies_with_the_published_key_and_no_other() {
        let signer = Signer::generate().expect("a key");
        let other = Signer::generate().expect("another key");
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let jws = signer.sign("JWT", &claims);
        let parsed = jose::CompactJws::parse(&jws).expect("a JWS");
        let key = |signer: &Signer| -> CoreJsonWebKey { serde_json::from_value(signer.public_jwk()).expect("a JWK") };
        let alg = CoreJwsSigningAlgorithm::EcdsaP256Sha256;
        assert!(parsed.verifies_with(&key(&signer), &alg));
        assert!(!parsed.verifies_with(&key(&other), &alg));
        assert_ne!(signer.public_jwk()["kid"], other.public_jwk()["kid"]);
        let Key::P256(private) = &signer.key else {
            panic!("a P-256 key")
        };
        assert!(!format!("{signer:?}").contains(&format!("{:?}", private.to_bytes())));
    }
}
