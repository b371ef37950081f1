//! The private keys the crate signs with (RSA and P-256), read from PEM or
//! from a private JWK, their public JWK members, and the four algorithms
//! it signs with. HMAC (HS256) needs no key object: its key is a secret's
//! bytes (see [`Signature::Hmac`](super::Signature::Hmac)).

use std::fmt;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use super::b64;

/// A JWS algorithm the crate signs with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// HMAC with SHA-256.
    Hs256,
}

impl Alg {
    /// The `alg` name (RFC 7518 §3.1).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
            Alg::Hs256 => "HS256",
        }
    }

    /// The algorithm named `name`, if the crate signs with it.
    pub fn named(name: &str) -> Option<Alg> {
        [Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::Hs256]
            .into_iter()
            .find(|alg| alg.name() == name)
    }
}

/// A private signing key. `Debug` shows only its type.
pub enum Key {
    /// An RSA key (RS256, PS256).
    Rsa(Box<RsaPrivateKey>),
    /// A P-256 key (ES256).
    P256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("type", &self.kind())
            .field("key", &"[redacted]")
            .finish()
    }
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("has no `{name}` member"))
}

fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    super::b64_decode(member(jwk, name)?).ok_or_else(|| format!("`{name}` is not base64url"))
}

impl Key {
    /// A key from a PEM text: PKCS#8 (`PRIVATE KEY`, RSA or P-256), or
    /// PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). The error
    /// completes a sentence about where the text came from.
    pub fn from_pem(pem: &str) -> Result<Key, String> {
        if pem.contains("BEGIN RSA PRIVATE KEY") {
            RsaPrivateKey::from_pkcs1_pem(pem)
                .map(|key| Key::Rsa(Box::new(key)))
                .map_err(|_| "is not a readable RSA private key (PKCS#1 PEM)".to_string())
        } else if pem.contains("BEGIN EC PRIVATE KEY") {
            p256::SecretKey::from_sec1_pem(pem)
                .map(|key| Key::P256(key.into()))
                .map_err(|_| "is not a readable P-256 private key (SEC1 PEM)".to_string())
        } else if pem.contains("BEGIN PRIVATE KEY") {
            match RsaPrivateKey::from_pkcs8_pem(pem) {
                Ok(key) => Ok(Key::Rsa(Box::new(key))),
                Err(_) => <p256::SecretKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem)
                    .map(|key| Key::P256(key.into()))
                    .map_err(|_| "is neither an RSA nor a P-256 private key (PKCS#8 PEM)".to_string()),
            }
        } else {
            Err("is not a PEM private key (`-----BEGIN PRIVATE KEY-----`)".into())
        }
    }

    /// A key from a private JWK (RFC 7517, RFC 7518 §6): RSA with `n`, `e`,
    /// `d`, `p`, `q`, or EC P-256 with `d` (and `x`, `y`, which must match).
    /// `kid`, `alg` and `use` are the caller's to read.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<Key, String> {
        match member(jwk, "kty")? {
            "RSA" => {
                let number = |name: &str| bytes(jwk, name).map(|b| BigUint::from_bytes_be(&b));
                let key = RsaPrivateKey::from_components(
                    number("n")?,
                    number("e")?,
                    number("d")?,
                    vec![number("p")?, number("q")?],
                )
                .map_err(|_| "is not a consistent RSA private key".to_string())?;
                key.validate()
                    .map_err(|_| "is not a consistent RSA private key".to_string())?;
                Ok(Key::Rsa(Box::new(key)))
            }
            "EC" => {
                if member(jwk, "crv")? != "P-256" {
                    return Err("names a curve other than P-256".into());
                }
                let key = p256::ecdsa::SigningKey::from_slice(&bytes(jwk, "d")?)
                    .map_err(|_| "has a `d` that is not a P-256 private key".to_string())?;
                if jwk.contains_key("x") || jwk.contains_key("y") {
                    let point = key.verifying_key().to_sec1_point(false);
                    let derived = point.as_bytes();
                    if derived.get(1..33) != Some(&bytes(jwk, "x")?[..])
                        || derived.get(33..65) != Some(&bytes(jwk, "y")?[..])
                    {
                        return Err("has `x`/`y` that do not belong to its `d`".into());
                    }
                }
                Ok(Key::P256(key))
            }
            other => Err(format!("has `kty` \"{other}\"; RSA and EC keys are supported")),
        }
    }

    /// `RSA` or `P-256`.
    pub fn kind(&self) -> &'static str {
        match self {
            Key::Rsa(_) => "RSA",
            Key::P256(_) => "P-256",
        }
    }

    /// The algorithms this key signs with, the usual one first.
    pub fn algs(&self) -> &'static [Alg] {
        match self {
            Key::Rsa(_) => &[Alg::Rs256, Alg::Ps256],
            Key::P256(_) => &[Alg::Es256],
        }
    }

    /// The required members of the public JWK, in RFC 7638 order (so also
    /// the input of its thumbprint).
    pub fn public_members(&self) -> Map<String, Value> {
        let mut jwk = Map::new();
        match self {
            Key::Rsa(key) => {
                jwk.insert("e".into(), json!(b64(key.e().to_bytes_be())));
                jwk.insert("kty".into(), json!("RSA"));
                jwk.insert("n".into(), json!(b64(key.n().to_bytes_be())));
            }
            Key::P256(key) => {
                // Uncompressed SEC1: 0x04 || x (32 bytes) || y (32 bytes).
                let point = key.verifying_key().to_sec1_point(false);
                let raw = point.as_bytes();
                jwk.insert("crv".into(), json!("P-256"));
                jwk.insert("kty".into(), json!("EC"));
                jwk.insert("x".into(), json!(b64(raw.get(1..33).unwrap_or_default())));
                jwk.insert("y".into(), json!(b64(raw.get(33..65).unwrap_or_default())));
            }
        }
        jwk
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        // The members are those of an RSA or EC key: always a thumbprint.
        super::jwk_thumbprint(&self.public_members()).unwrap_or_default()
    }

    /// Signs `input` with `alg`, blinding RSA with the OS generator.
    pub fn sign(&self, alg: Alg, input: &[u8]) -> Result<Vec<u8>, String> {
        self.sign_with_rng(alg, input, &mut rsa::rand_core::OsRng)
    }

    /// Signs `input`. Every RSA signature is blinded with randomness from
    /// `rng` (RUSTSEC-2023-0071, the Marvin timing attack: an unblinded
    /// private-key operation leaks the key through its timing), RS256 as
    /// well as PS256; the PKCS#1 v1.5 signature itself stays deterministic.
    pub fn sign_with_rng(
        &self,
        alg: Alg,
        input: &[u8],
        rng: &mut impl rsa::rand_core::CryptoRngCore,
    ) -> Result<Vec<u8>, String> {
        use rsa::signature::{RandomizedSigner, SignatureEncoding};
        match (self, alg) {
            (Key::Rsa(key), Alg::Rs256) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.as_ref().clone());
                Ok(signer.sign_with_rng(rng, input).to_vec())
            }
            (Key::Rsa(key), Alg::Ps256) => {
                let signer = rsa::pss::BlindedSigningKey::<Sha256>::new(key.as_ref().clone());
                Ok(signer.sign_with_rng(rng, input).to_vec())
            }
            (Key::P256(key), Alg::Es256) => {
                let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, input);
                Ok(signature.to_bytes().to_vec())
            }
            _ => Err(format!("a {} key cannot sign {}", self.kind(), alg.name())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PKCS8: &str = include_str!("../../tests/data/client-rsa.pem");

    /// Randomness that counts how much was drawn from it.
    struct Counting(u64);

    impl rsa::rand_core::RngCore for Counting {
        fn next_u32(&mut self) -> u32 {
            self.0 += 4;
            rsa::rand_core::OsRng.next_u32()
        }
        fn next_u64(&mut self) -> u64 {
            self.0 += 8;
            rsa::rand_core::OsRng.next_u64()
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            self.0 += dest.len() as u64;
            rsa::rand_core::OsRng.fill_bytes(dest)
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rsa::rand_core::CryptoRng for Counting {}

    #[test]
    fn every_rsa_signature_is_blinded_rs256_included() {
        let key = Key::from_pem(RSA_PKCS8).expect("an RSA key");
        for alg in [Alg::Rs256, Alg::Ps256] {
            let mut rng = Counting(0);
            let signature = key.sign_with_rng(alg, b"input", &mut rng).expect("signed");
            assert!(!signature.is_empty());
            // RSA blinding draws a random blinding factor the size of the
            // modulus; an unblinded signature (RUSTSEC-2023-0071) draws none.
            assert!(rng.0 >= 256, "{}: {} bytes of randomness", alg.name(), rng.0);
        }
        // PKCS#1 v1.5 stays deterministic: blinding changes the timing, not
        // the signature.
        let once = key
            .sign_with_rng(Alg::Rs256, b"input", &mut Counting(0))
            .expect("signed");
        let twice = key
            .sign_with_rng(Alg::Rs256, b"input", &mut Counting(0))
            .expect("signed");
        assert_eq!(once, twice);
    }
}
