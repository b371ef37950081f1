//! Signature verification of compact JWS tokens other than ID tokens
//! (RFC 9068 access tokens), with the provider's keys and the same
//! rotation handling as ID tokens. The cryptography is `openidconnect`'s.

use std::sync::Arc;

use openidconnect::core::{CoreJsonWebKeySet, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm};
use serde_json::{Map, Value};

use crate::error::{BearerError, JwsError, OidcError};
use crate::jose::CompactJws;
use crate::provider::keys::KeySource;

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

/// The algorithms of `supported` (a provider's metadata) this crate will
/// verify with: never `none`; HMAC ones only where `hmac` (an ID token is
/// MACed with the client secret; a logout or access token never is, and a
/// MAC keyed with a public key is the algorithm-confusion forgery).
pub(crate) fn allowed_algs(supported: &[String], hmac: bool) -> Vec<CoreJwsSigningAlgorithm> {
    supported
        .iter()
        .filter(|alg| alg.as_str() != "none")
        .filter_map(|alg| serde_json::from_value(Value::String(alg.clone())).ok())
        .filter(|alg| !matches!(alg, CoreJwsSigningAlgorithm::None))
        .filter(|alg| hmac || ASYMMETRIC_ALGS.contains(alg))
        .collect()
}

/// A token whose signature verified.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedJws {
    pub(crate) claims: Map<String, Value>,
}

/// Verifies `raw` with the keys of `keys` under the algorithms `allowed`.
pub(crate) async fn verify(
    keys: &dyn KeySource,
    raw: &str,
    allowed: &[CoreJwsSigningAlgorithm],
) -> Result<VerifiedJws, OidcError> {
    let invalid = |why: JwsError| OidcError::InvalidToken(BearerError::Jws(why));
    let jws = CompactJws::parse(raw).ok_or(invalid(JwsError::NotCompact))?;
    if jws.needs_an_extension() {
        return Err(invalid(JwsError::CriticalHeader));
    }
    let alg: CoreJwsSigningAlgorithm = jws
        .header
        .get("alg")
        .cloned()
        .and_then(|alg| serde_json::from_value(alg).ok())
        .ok_or(invalid(JwsError::UnknownAlgorithm))?;
    if !allowed.contains(&alg) {
        return Err(invalid(JwsError::AlgorithmNotAllowed));
    }
    let kid = jws.header.get("kid").and_then(Value::as_str);
    let asked = keys.instant();
    let current = keys.keys().await?;
    let verified = match check_signature(&current, &jws, &alg, kid) {
        // An unknown key, or a known one that does not verify: the provider
        // may have rotated its keys (possibly keeping the `kid`).
        failed @ (Signature::NoKey | Signature::Invalid) => match keys.refetch(asked).await? {
            Some(fresh) if !Arc::ptr_eq(&fresh, &current) => check_signature(&fresh, &jws, &alg, kid),
            _ => failed,
        },
        Signature::Valid => Signature::Valid,
    };
    match verified {
        Signature::Valid => {}
        Signature::NoKey => return Err(invalid(JwsError::UnknownKey)),
        Signature::Invalid => return Err(invalid(JwsError::BadSignature)),
    }
    let claims = jws.unverified_claims().ok_or(invalid(JwsError::PayloadNotAnObject))?;
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
    let valid = candidates.iter().any(|key| jws.verifies_with(key, alg));
    if valid { Signature::Valid } else { Signature::Invalid }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Signature checks against a fixed key set: no provider, no HTTP.

    use openidconnect::core::CoreJsonWebKeySet;
    use serde_json::{Value, json};

    use super::*;
    use crate::provider::keys::StaticKeys;

    pub(crate) use crate::test_jwt as jwt;
    use jwt::{Key, Signature};

    /// The published keys of the test provider: only `Key::Current`.
    pub(crate) fn current_keys() -> StaticKeys {
        let set: CoreJsonWebKeySet = serde_json::from_value(json!({ "keys": [Key::Current.jwk()] })).expect("a JWKS");
        StaticKeys(Arc::new(set))
    }

    fn signed(header: Value, signature: Signature) -> String {
        jwt::encode(
            &header,
            &json!({ "iss": "https://op.example", "sub": "alice" }),
            &signature,
        )
    }

    #[test]
    fn a_provider_may_offer_none_and_hmac_and_only_what_fits_is_allowed() {
        let supported: Vec<String> = ["none", "HS256", "RS256", "ES256", "XX999"].map(String::from).to_vec();
        let id_tokens = allowed_algs(&supported, true);
        assert_eq!(
            id_tokens,
            [
                CoreJwsSigningAlgorithm::HmacSha256,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256
            ]
        );
        let others = allowed_algs(&supported, false);
        assert_eq!(
            others,
            [
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256
            ]
        );
    }

    async fn verified(raw: &str) -> Result<Map<String, Value>, String> {
        verify(&current_keys(), raw, ASYMMETRIC_ALGS)
            .await
            .map(|v| v.claims)
            .map_err(|e| e.to_string())
    }

    proptest::proptest! {
        #![proptest_config(crate::test_fuzz::cases(512))]

        #[test]
        fn fuzz_any_text_is_a_compact_jws_or_not(raw in crate::test_fuzz::nasty_text()) {
            if let Some(jws) = CompactJws::parse(&raw) {
                let _ = (jws.typ(), jws.unverified_claims());
            }
        }
    }

    proptest::proptest! {
        // Signing with RSA is slow in a debug build: fewer cases.
        #![proptest_config(crate::test_fuzz::cases(48))]

        /// Signed tokens with headers and claims of any shape: verified or
        /// refused, never a panic; refused unless the header names an
        /// allowed algorithm.
        #[test]
        fn fuzz_signed_tokens_of_any_shape_verify_or_are_refused(
            header in crate::test_fuzz::claims_like(&["alg", "kid", "typ", "crit", "jku", "x5u"]),
            claims in crate::test_fuzz::json_value(),
        ) {
            let raw = jwt::encode(&Value::Object(header.clone()), &claims, &Signature::Rs256(Key::Current));
            let runtime = rocket::tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let outcome = runtime.block_on(verify(&current_keys(), &raw, ASYMMETRIC_ALGS));
            if outcome.is_ok() {
                proptest::prop_assert!(header.get("alg").is_some_and(|a| a.as_str().is_some()));
                proptest::prop_assert!(!header.contains_key("crit"));
            }
        }
    }

    #[rocket::async_test]
    async fn a_token_signed_with_a_published_key_verifies() {
        let raw = signed(
            json!({ "alg": "RS256", "kid": Key::Current.kid() }),
            Signature::Rs256(Key::Current),
        );
        assert_eq!(verified(&raw).await.unwrap()["sub"], "alice");
        // Without a `kid`, every published key of the algorithm is tried.
        let raw = signed(json!({ "alg": "RS256" }), Signature::Rs256(Key::Current));
        assert!(verified(&raw).await.is_ok());
    }

    #[rocket::async_test]
    async fn forged_and_unverifiable_tokens_are_refused() {
        let cases = [
            (
                signed(
                    json!({ "alg": "RS256", "kid": Key::Current.kid() }),
                    Signature::Rs256Corrupted(Key::Current),
                ),
                "bad signature",
            ),
            (
                signed(
                    json!({ "alg": "RS256", "kid": Key::Rotated.kid() }),
                    Signature::Rs256(Key::Rotated),
                ),
                "unknown key",
            ),
            (signed(json!({ "alg": "none" }), Signature::Unsigned), "not allowed"),
            (
                signed(
                    json!({ "alg": "HS256" }),
                    Signature::Hs256(Key::Current.public_key_pem().into_bytes()),
                ),
                "not allowed",
            ),
            (
                signed(
                    json!({ "alg": "RS256", "kid": Key::Current.kid(), "crit": ["exp"] }),
                    Signature::Rs256(Key::Current),
                ),
                "critical",
            ),
            ("a.b".to_string(), "not a compact JWS"),
        ];
        for (raw, why) in cases {
            let error = verified(&raw).await.expect_err(why);
            assert!(error.contains(why), "{error:?} should say {why:?}");
        }
    }
}
