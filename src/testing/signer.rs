//! The test issuer's signing key: ES256 (ECDSA on P-256 with SHA-256),
//! fresh for every issuer, published as a JWK. The cryptography is the
//! RustCrypto `p256` crate that `openidconnect` verifies with.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Map, Value, json};

/// A private signing key and its `kid`.
pub(crate) struct Signer {
    key: SigningKey,
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

use crate::random::bytes as random_bytes;

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
            let bytes = random_bytes(32);
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                let kid = random_token()[..12].to_string();
                return Some(Signer { key, kid });
            }
        }
        None
    }

    /// The public key as a JWK (RFC 7517/7518 §6.2).
    pub(crate) fn public_jwk(&self) -> Value {
        let point = self.key.verifying_key().to_sec1_point(false);
        // Uncompressed SEC1: 0x04 || x (32 bytes) || y (32 bytes).
        let bytes = point.as_bytes();
        let (x, y) = bytes.get(1..33).zip(bytes.get(33..65)).unwrap_or_default();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        })
    }

    /// A compact JWS of `claims` with the header `typ` (and `alg`, `kid`).
    pub(crate) fn sign(&self, typ: &str, claims: &Map<String, Value>) -> String {
        let header = json!({ "alg": "ES256", "typ": typ, "kid": self.kid });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
        );
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_the_published_key_and_no_other() {
        use p256::ecdsa::VerifyingKey;
        use p256::ecdsa::signature::Verifier as _;

        let signer = Signer::generate().expect("a key");
        let other = Signer::generate().expect("another key");
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        let jws = signer.sign("JWT", &claims);
        let (input, signature) = jws.rsplit_once('.').expect("three parts");
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).expect("b64")).expect("64 bytes");

        let jwk = signer.public_jwk();
        let coordinate = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[name].as_str().expect("coordinate"))
                .expect("b64")
        };
        let mut sec1 = vec![4u8];
        sec1.extend(coordinate("x"));
        sec1.extend(coordinate("y"));
        let public = VerifyingKey::from_sec1_bytes(&sec1).expect("a P-256 point");
        assert!(public.verify(input.as_bytes(), &signature).is_ok());
        assert!(other.key.verifying_key().verify(input.as_bytes(), &signature).is_err());
        assert_ne!(jwk["kid"], other.public_jwk()["kid"]);
        assert!(!format!("{signer:?}").contains(&format!("{:?}", signer.key.to_bytes())));
    }
}
