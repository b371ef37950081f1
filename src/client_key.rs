//! The key a client authenticates with when it has no shared secret to
//! send (RFC 7523 client assertions, OIDC Core §9): an RSA or P-256
//! private key from a PEM file or an inline JWK, or, for
//! `client_secret_jwt`, the client secret as an HMAC key. The cryptography
//! is RustCrypto's (`rsa`, `p256`, `hmac`), the crates `openidconnect`
//! verifies with.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A JWS algorithm a client assertion can be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssertionAlg {
    Rs256,
    Ps256,
    Es256,
    Hs256,
}

impl AssertionAlg {
    /// The `alg` name (RFC 7518 §3.1).
    pub(crate) fn name(self) -> &'static str {
        match self {
            AssertionAlg::Rs256 => "RS256",
            AssertionAlg::Ps256 => "PS256",
            AssertionAlg::Es256 => "ES256",
            AssertionAlg::Hs256 => "HS256",
        }
    }

    /// The algorithm named `name`, if this crate signs with it.
    pub(crate) fn named(name: &str) -> Option<AssertionAlg> {
        [
            AssertionAlg::Rs256,
            AssertionAlg::Ps256,
            AssertionAlg::Es256,
            AssertionAlg::Hs256,
        ]
        .into_iter()
        .find(|alg| alg.name() == name)
    }
}

enum Material {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
}

/// A private key for `private_key_jwt`, with its `kid`. `Debug` shows only
/// the key type and `kid`.
pub(crate) struct PrivateKey {
    material: Material,
    kid: String,
    /// The `alg` the JWK named, if any.
    alg: Option<AssertionAlg>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.material {
            Material::Rsa(_) => "RSA",
            Material::P256(_) => "EC P-256",
        };
        f.debug_struct("PrivateKey")
            .field("type", &kind)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("has no `{name}` member"))
}

fn bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(member(jwk, name)?)
        .map_err(|_| format!("`{name}` is not base64url"))
}

impl PrivateKey {
    /// A key from a PEM text: PKCS#8 (`PRIVATE KEY`, RSA or P-256), or
    /// PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub(crate) fn from_pem(pem: &str) -> Result<PrivateKey, String> {
        let material = if pem.contains("BEGIN RSA PRIVATE KEY") {
            RsaPrivateKey::from_pkcs1_pem(pem)
                .map(|key| Material::Rsa(Box::new(key)))
                .map_err(|_| "is not a readable RSA private key (PKCS#1 PEM)".to_string())?
        } else if pem.contains("BEGIN EC PRIVATE KEY") {
            p256::SecretKey::from_sec1_pem(pem)
                .map(|key| Material::P256(key.into()))
                .map_err(|_| "is not a readable P-256 private key (SEC1 PEM)".to_string())?
        } else if pem.contains("BEGIN PRIVATE KEY") {
            match RsaPrivateKey::from_pkcs8_pem(pem) {
                Ok(key) => Material::Rsa(Box::new(key)),
                Err(_) => <p256::SecretKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_pem(pem)
                    .map(|key| Material::P256(key.into()))
                    .map_err(|_| "is neither an RSA nor a P-256 private key (PKCS#8 PEM)".to_string())?,
            }
        } else {
            return Err("is not a PEM private key (`-----BEGIN PRIVATE KEY-----`)".into());
        };
        Ok(PrivateKey::with_thumbprint(material, None))
    }

    /// A key from a private JWK (RFC 7517/7518): RSA with `n`, `e`, `d`,
    /// `p`, `q`, or EC P-256 with `d` (and `x`, `y`, which must match).
    pub(crate) fn from_jwk(jwk: &Map<String, Value>) -> Result<PrivateKey, String> {
        let alg = match jwk.get("alg").and_then(Value::as_str) {
            None => None,
            Some(name) => Some(
                AssertionAlg::named(name)
                    .filter(|alg| *alg != AssertionAlg::Hs256)
                    .ok_or_else(|| format!("names `alg` \"{name}\"; RS256, PS256 and ES256 are supported"))?,
            ),
        };
        let material = match member(jwk, "kty")? {
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
                Material::Rsa(Box::new(key))
            }
            "EC" => {
                if member(jwk, "crv")? != "P-256" {
                    return Err("names a curve other than P-256".into());
                }
                let key = p256::ecdsa::SigningKey::from_slice(&bytes(jwk, "d")?)
                    .map_err(|_| "has a `d` that is not a P-256 private key".to_string())?;
                let point = key.verifying_key().to_sec1_point(false);
                if jwk.contains_key("x") || jwk.contains_key("y") {
                    let derived = point.as_bytes();
                    if derived.get(1..33) != Some(&bytes(jwk, "x")?[..])
                        || derived.get(33..65) != Some(&bytes(jwk, "y")?[..])
                    {
                        return Err("has `x`/`y` that do not belong to its `d`".into());
                    }
                }
                Material::P256(key)
            }
            other => return Err(format!("has `kty` \"{other}\"; RSA and EC keys are supported")),
        };
        match (&material, alg) {
            (Material::Rsa(_), Some(AssertionAlg::Es256))
            | (Material::P256(_), Some(AssertionAlg::Rs256 | AssertionAlg::Ps256)) => {
                return Err("names an `alg` that does not fit its key type".into());
            }
            _ => {}
        }
        let kid = jwk.get("kid").and_then(Value::as_str).map(String::from);
        let mut key = PrivateKey::with_thumbprint(material, kid);
        key.alg = alg;
        Ok(key)
    }

    fn with_thumbprint(material: Material, kid: Option<String>) -> PrivateKey {
        let mut key = PrivateKey {
            material,
            kid: String::new(),
            alg: None,
        };
        key.kid = kid.unwrap_or_else(|| key.thumbprint());
        key
    }

    /// The public key as a JWK (with `kid` and `use`), to register at the provider.
    pub(crate) fn public_jwk(&self) -> Value {
        let mut jwk = self.public_members();
        jwk.insert("kid".into(), json!(self.kid));
        jwk.insert("use".into(), json!("sig"));
        Value::Object(jwk)
    }

    /// The required members of the public JWK, in RFC 7638 order.
    fn public_members(&self) -> Map<String, Value> {
        let mut jwk = Map::new();
        match &self.material {
            Material::Rsa(key) => {
                jwk.insert("e".into(), json!(b64(&key.e().to_bytes_be())));
                jwk.insert("kty".into(), json!("RSA"));
                jwk.insert("n".into(), json!(b64(&key.n().to_bytes_be())));
            }
            Material::P256(key) => {
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

    /// The RFC 7638 thumbprint of the public key (base64url SHA-256).
    pub(crate) fn thumbprint(&self) -> String {
        // The members are those of an RSA or EC key: always a thumbprint.
        jwk_thumbprint(&self.public_members()).unwrap_or_default()
    }

    /// The algorithm to sign with: `configured`, else the JWK's, else the
    /// key type's first that the provider accepts (`supported` empty: the
    /// provider does not say).
    pub(crate) fn alg(&self, configured: Option<AssertionAlg>, supported: &[String]) -> AssertionAlg {
        if let Some(alg) = configured.or(self.alg) {
            return alg;
        }
        let candidates: &[AssertionAlg] = match self.material {
            Material::Rsa(_) => &[AssertionAlg::Rs256, AssertionAlg::Ps256],
            Material::P256(_) => &[AssertionAlg::Es256],
        };
        candidates
            .iter()
            .copied()
            .find(|alg| supported.iter().any(|s| s == alg.name()))
            .unwrap_or(candidates[0])
    }

    /// Whether this key can sign with `alg`.
    pub(crate) fn signs_with(&self, alg: AssertionAlg) -> bool {
        matches!(
            (&self.material, alg),
            (Material::Rsa(_), AssertionAlg::Rs256 | AssertionAlg::Ps256) | (Material::P256(_), AssertionAlg::Es256)
        )
    }

    /// Signs `input`. Every RSA signature is blinded with randomness from
    /// `rng` (RUSTSEC-2023-0071, the Marvin timing attack: an unblinded
    /// private-key operation leaks the key through its timing), RS256 as
    /// well as PS256; the PKCS#1 v1.5 signature itself stays deterministic.
    fn sign(
        &self,
        alg: AssertionAlg,
        input: &[u8],
        rng: &mut impl rsa::rand_core::CryptoRngCore,
    ) -> Result<Vec<u8>, String> {
        use rsa::signature::{RandomizedSigner, SignatureEncoding};
        match (&self.material, alg) {
            (Material::Rsa(key), AssertionAlg::Rs256) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.as_ref().clone());
                Ok(signer.sign_with_rng(rng, input).to_vec())
            }
            (Material::Rsa(key), AssertionAlg::Ps256) => {
                let signer = rsa::pss::BlindedSigningKey::<Sha256>::new(key.as_ref().clone());
                Ok(signer.sign_with_rng(rng, input).to_vec())
            }
            (Material::P256(key), AssertionAlg::Es256) => {
                let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, input);
                Ok(signature.to_bytes().to_vec())
            }
            _ => Err(format!("a {} key cannot sign {}", self.kind(), alg.name())),
        }
    }

    fn kind(&self) -> &'static str {
        match self.material {
            Material::Rsa(_) => "RSA",
            Material::P256(_) => "P-256",
        }
    }
}

/// The RFC 7638 thumbprint of a public JWK (RSA, EC or OKP), or `None`
/// for another key type or a JWK that lacks a required member.
pub(crate) fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    // serde_json writes these objects with their keys in the order given,
    // which is the lexicographic order RFC 7638 §3.2 asks for.
    let canonical = match member("kty")? {
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            json!(member("e")?),
            json!(member("n")?)
        ),
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            json!(member("crv")?),
            json!(member("x")?),
            json!(member("y")?)
        ),
        "OKP" => format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            json!(member("crv")?),
            json!(member("x")?)
        ),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// What signs a client assertion: a private key, or the client secret.
pub(crate) enum AssertionKey<'a> {
    Private(&'a PrivateKey),
    Secret(&'a str),
}

/// A client assertion (RFC 7523 §3, OIDC Core §9): `iss` = `sub` = the
/// client id, `aud` the `audience` (one string), a unique `jti`, valid 60 s.
pub(crate) fn assertion(
    key: AssertionKey<'_>,
    alg: AssertionAlg,
    client_id: &str,
    audience: &str,
    now: i64,
) -> Result<String, String> {
    let mut header = Map::new();
    header.insert("alg".into(), json!(alg.name()));
    header.insert("typ".into(), json!("JWT"));
    if let AssertionKey::Private(key) = key {
        header.insert("kid".into(), json!(key.kid));
    }
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": crate::random::text(24),
        "iat": now,
        "exp": now.saturating_add(60),
    });
    let input = format!(
        "{}.{}",
        b64(Value::Object(header).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = match key {
        AssertionKey::Private(key) => key.sign(alg, input.as_bytes(), &mut rsa::rand_core::OsRng)?,
        AssertionKey::Secret(secret) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .map_err(|_| "the client secret is no HMAC key".to_string())?;
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    Ok(format!("{input}.{}", b64(&signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PKCS8: &str = include_str!("../tests/data/client-rsa.pem");
    const EC_PKCS8: &str = include_str!("../tests/data/client-ec.pem");

    fn verify(jwt: &str, jwk: &Value) -> bool {
        use openidconnect::JsonWebKey;
        use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
        let key: CoreJsonWebKey = serde_json::from_value(jwk.clone()).expect("a public JWK");
        let (input, signature) = jwt.rsplit_once('.').expect("a JWS");
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(input.split('.').next().unwrap_or_default())
                .expect("b64"),
        )
        .expect("json");
        let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).expect("alg");
        key.verify_signature(&alg, input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).expect("b64"))
            .is_ok()
    }

    #[test]
    fn rsa_and_ec_keys_from_pem_sign_assertions_their_public_jwk_verifies() {
        for (pem, algs) in [
            (RSA_PKCS8, &[AssertionAlg::Rs256, AssertionAlg::Ps256][..]),
            (EC_PKCS8, &[AssertionAlg::Es256][..]),
        ] {
            let key = PrivateKey::from_pem(pem).expect("a key");
            let jwk = key.public_jwk();
            for alg in algs {
                let jwt =
                    assertion(AssertionKey::Private(&key), *alg, "app", "https://op/token", 1_000).expect("signed");
                assert!(verify(&jwt, &jwk), "{alg:?}");
                let claims: Value = serde_json::from_slice(
                    &URL_SAFE_NO_PAD
                        .decode(jwt.split('.').nth(1).expect("claims"))
                        .expect("b64"),
                )
                .expect("json");
                assert_eq!(claims["iss"], "app");
                assert_eq!(claims["sub"], "app");
                assert_eq!(claims["aud"], "https://op/token");
                assert_eq!(claims["exp"], 1_060);
            }
            assert!(!format!("{key:?}").contains("MII"), "Debug shows no key");
        }
    }

    #[test]
    fn a_jwk_gives_the_same_key_as_its_pem_and_kid_defaults_to_the_thumbprint() {
        let from_pem = PrivateKey::from_pem(EC_PKCS8).expect("a key");
        // RFC 7638 §3.1's example thumbprint is for an RSA key; ours is checked
        // for stability and against the kid a JWK without one gets.
        let thumbprint = from_pem.thumbprint();
        assert_eq!(thumbprint.len(), 43);
        assert_eq!(from_pem.kid, thumbprint);
        let public = from_pem.public_jwk();
        let mut private: Map<String, Value> = public.as_object().cloned().unwrap_or_default();
        private.remove("kid");
        let Material::P256(ec) = &from_pem.material else {
            panic!("EC")
        };
        private.insert("d".into(), json!(b64(&ec.to_bytes())));
        let from_jwk = PrivateKey::from_jwk(&private).expect("the same key");
        assert_eq!(from_jwk.kid, thumbprint);
        let mut wrong = private.clone();
        wrong.insert("x".into(), json!(b64(&[7u8; 32])));
        assert!(PrivateKey::from_jwk(&wrong).is_err(), "x/y of another key");
        let mut named = private.clone();
        named.insert("kid".into(), json!("k1"));
        named.insert("alg".into(), json!("RS256"));
        assert!(PrivateKey::from_jwk(&named).is_err(), "RS256 on an EC key");
    }

    #[test]
    fn the_algorithm_follows_the_configuration_then_the_provider() {
        let rsa = PrivateKey::from_pem(RSA_PKCS8).expect("a key");
        assert_eq!(rsa.alg(None, &[]), AssertionAlg::Rs256);
        assert_eq!(rsa.alg(None, &["PS256".into()]), AssertionAlg::Ps256);
        assert_eq!(
            rsa.alg(Some(AssertionAlg::Ps256), &["RS256".into()]),
            AssertionAlg::Ps256
        );
        assert!(!rsa.signs_with(AssertionAlg::Es256));
    }

    #[test]
    fn client_secret_jwt_is_an_hmac_with_the_secret() {
        let jwt = assertion(AssertionKey::Secret("s3cret"), AssertionAlg::Hs256, "app", "aud", 5).expect("signed");
        let (input, signature) = jwt.rsplit_once('.').expect("a JWS");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
        mac.update(input.as_bytes());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(signature).expect("b64"),
            mac.finalize().into_bytes().to_vec()
        );
        assert!(!jwt.contains("kid"));
    }

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
        let key = PrivateKey::from_pem(RSA_PKCS8).expect("an RSA key");
        for alg in [AssertionAlg::Rs256, AssertionAlg::Ps256] {
            let mut rng = Counting(0);
            let signature = key.sign(alg, b"input", &mut rng).expect("signed");
            assert!(!signature.is_empty());
            // RSA blinding draws a random blinding factor the size of the
            // modulus; an unblinded signature (RUSTSEC-2023-0071) draws none.
            assert!(rng.0 >= 256, "{}: {} bytes of randomness", alg.name(), rng.0);
        }
        // PKCS#1 v1.5 stays deterministic: blinding changes the timing, not
        // the signature.
        let once = key
            .sign(AssertionAlg::Rs256, b"input", &mut Counting(0))
            .expect("signed");
        let twice = key
            .sign(AssertionAlg::Rs256, b"input", &mut Counting(0))
            .expect("signed");
        assert_eq!(once, twice);
    }

    #[test]
    fn what_is_not_a_key_is_said() {
        assert!(PrivateKey::from_pem("hello").unwrap_err().contains("not a PEM"));
        assert!(PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
        let jwk = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(
            PrivateKey::from_jwk(&jwk(json!({ "kty": "oct", "k": "AAAA" })))
                .unwrap_err()
                .contains("kty")
        );
        assert!(PrivateKey::from_jwk(&jwk(json!({ "kty": "EC", "crv": "P-384", "d": "AAAA" }))).is_err());
        assert!(
            PrivateKey::from_jwk(&jwk(json!({ "kty": "RSA", "n": "AQAB" })))
                .unwrap_err()
                .contains("`e`")
        );
    }
}
