//! The key a client authenticates with when it has no shared secret to
//! send (RFC 7523 client assertions, OIDC Core §9): an RSA or P-256
//! private key from a PEM file or an inline JWK, or, for
//! `client_secret_jwt`, the client secret as an HMAC key. Reading keys and
//! signing is the `jose` module's.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::jose::{self, Alg, Key, Signature};

/// A private key for `private_key_jwt`, with its `kid`. `Debug` shows only
/// the key type and `kid`.
pub(crate) struct PrivateKey {
    key: Key,
    kid: String,
    /// The `alg` the JWK named, if any.
    alg: Option<Alg>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("type", &self.key.kind())
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl PrivateKey {
    /// A key from a PEM text (see [`Key::from_pem`]); its `kid` is its
    /// RFC 7638 thumbprint.
    pub(crate) fn from_pem(pem: &str) -> Result<PrivateKey, String> {
        let key = Key::from_pem(pem)?;
        Ok(PrivateKey {
            kid: key.thumbprint(),
            key,
            alg: None,
        })
    }

    /// A key from a private JWK (see [`Key::from_jwk`]), with the JWK's
    /// `kid` (else the thumbprint) and `alg`, which must fit the key.
    pub(crate) fn from_jwk(jwk: &Map<String, Value>) -> Result<PrivateKey, String> {
        let alg = match jwk.get("alg").and_then(Value::as_str) {
            None => None,
            Some(name) => Some(
                Alg::named(name)
                    .filter(|alg| *alg != Alg::Hs256)
                    .ok_or_else(|| format!("names `alg` \"{name}\"; RS256, PS256 and ES256 are supported"))?,
            ),
        };
        let key = Key::from_jwk(jwk)?;
        if alg.is_some_and(|alg| !key.algs().contains(&alg)) {
            return Err("names an `alg` that does not fit its key type".into());
        }
        let kid = match jwk.get("kid").and_then(Value::as_str) {
            Some(kid) => kid.to_string(),
            None => key.thumbprint(),
        };
        Ok(PrivateKey { key, kid, alg })
    }

    /// The public key as a JWK (with `kid` and `use`), to register at the provider.
    pub(crate) fn public_jwk(&self) -> Value {
        let mut jwk = self.key.public_members();
        jwk.insert("kid".into(), json!(self.kid));
        jwk.insert("use".into(), json!("sig"));
        Value::Object(jwk)
    }

    /// The algorithm to sign with: `configured`, else the JWK's, else the
    /// key type's first that the provider accepts (`supported` empty: the
    /// provider does not say).
    pub(crate) fn alg(&self, configured: Option<Alg>, supported: &[String]) -> Alg {
        if let Some(alg) = configured.or(self.alg) {
            return alg;
        }
        let candidates = self.key.algs();
        candidates
            .iter()
            .copied()
            .find(|alg| supported.iter().any(|s| s == alg.name()))
            .unwrap_or(candidates[0])
    }

    /// Whether this key can sign with `alg`.
    pub(crate) fn signs_with(&self, alg: Alg) -> bool {
        self.key.algs().contains(&alg)
    }
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
    alg: Alg,
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
    let how = match key {
        AssertionKey::Private(key) => Signature::With(&key.key, alg),
        AssertionKey::Secret(secret) => Signature::Hmac(secret.as_bytes()),
    };
    jose::encode(&Value::Object(header), &claims, how)
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    const RSA_PKCS8: &str = include_str!("../tests/data/client-rsa.pem");
    const EC_PKCS8: &str = include_str!("../tests/data/client-ec.pem");

    fn verify(jwt: &str, jwk: &Value) -> bool {
        use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
        let key: CoreJsonWebKey = serde_json::from_value(jwk.clone()).expect("a public JWK");
        let jws = jose::CompactJws::parse(jwt).expect("a JWS");
        let alg: CoreJwsSigningAlgorithm = serde_json::from_value(jws.header["alg"].clone()).expect("alg");
        jws.verifies_with(&key, &alg)
    }

    #[test]
    fn rsa_and_ec_keys_from_pem_sign_assertions_their_public_jwk_verifies() {
        for (pem, algs) in [
            (RSA_PKCS8, &[Alg::Rs256, Alg::Ps256][..]),
            (EC_PKCS8, &[Alg::Es256][..]),
        ] {
            let key = PrivateKey::from_pem(pem).expect("a key");
            let jwk = key.public_jwk();
            for alg in algs {
                let jwt =
                    assertion(AssertionKey::Private(&key), *alg, "app", "https://op/token", 1_000).expect("signed");
                assert!(verify(&jwt, &jwk), "{alg:?}");
                let claims = jose::CompactJws::parse(&jwt)
                    .and_then(|jws| jws.unverified_claims())
                    .expect("claims");
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
        let thumbprint = from_pem.key.thumbprint();
        assert_eq!(thumbprint.len(), 43);
        assert_eq!(from_pem.kid, thumbprint);
        let public = from_pem.public_jwk();
        let mut private: Map<String, Value> = public.as_object().cloned().unwrap_or_default();
        private.remove("kid");
        let Key::P256(ec) = &from_pem.key else { panic!("EC") };
        private.insert("d".into(), json!(jose::b64(ec.to_bytes())));
        let from_jwk = PrivateKey::from_jwk(&private).expect("the same key");
        assert_eq!(from_jwk.kid, thumbprint);
        let mut wrong = private.clone();
        wrong.insert("x".into(), json!(jose::b64([7u8; 32])));
        assert!(PrivateKey::from_jwk(&wrong).is_err(), "x/y of another key");
        let mut named = private.clone();
        named.insert("kid".into(), json!("k1"));
        named.insert("alg".into(), json!("RS256"));
        assert!(PrivateKey::from_jwk(&named).is_err(), "RS256 on an EC key");
    }

    #[test]
    fn the_algorithm_follows_the_configuration_then_the_provider() {
        let rsa = PrivateKey::from_pem(RSA_PKCS8).expect("a key");
        assert_eq!(rsa.alg(None, &[]), Alg::Rs256);
        assert_eq!(rsa.alg(None, &["PS256".into()]), Alg::Ps256);
        assert_eq!(rsa.alg(Some(Alg::Ps256), &["RS256".into()]), Alg::Ps256);
        assert!(!rsa.signs_with(Alg::Es256));
    }

    #[test]
    fn client_secret_jwt_is_an_hmac_with_the_secret() {
        let jwt = assertion(AssertionKey::Secret("s3cret"), Alg::Hs256, "app", "aud", 5).expect("signed");
        let (input, signature) = jwt.rsplit_once('.').expect("a JWS");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
        mac.update(input.as_bytes());
        assert_eq!(jose::b64_decode(signature), Some(mac.finalize().into_bytes().to_vec()));
        assert!(!jwt.contains("kid"));
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
