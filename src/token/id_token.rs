//! ID token validation, OpenID Connect Core 1.0 §3.1.3.7.
//!
//! The signature, `iss`, `aud` and `exp` checks are `openidconnect`'s; we
//! add what it leaves to the client: the algorithm allow-list from the
//! provider's metadata, `azp` for several audiences, `iat` and `exp` with
//! our clock skew, and key rotation (it never refetches a key set).

use crate::clock::AppClock;
use std::str::FromStr;

use chrono::TimeDelta;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClaimsVerificationError, ClientId, ClientSecret, IssuerUrl, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};

use crate::config::{ProviderMetadata, Tenants};
use crate::error::{IdTokenError, OidcError};
use crate::jose::CompactJws;
use crate::provider::keys::KeySource;
use crate::provider::registration::RegisteredClient;
use crate::secret::IdTokenJwt;
use crate::token::claims;
use crate::token::jws;

/// An ID token whose every check passed.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedIdToken {
    pub(crate) jwt: IdTokenJwt,
    pub(crate) subject: String,
    /// All claims, as sent (including those `openidconnect` has no type for).
    pub(crate) claims: Map<String, Value>,
}

fn invalid(why: IdTokenError) -> OidcError {
    OidcError::InvalidIdToken(why)
}

/// What the `nonce` claim must be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NonceRule<'a> {
    /// A login: the nonce sent in the authorization request, required.
    Login(&'a Nonce),
    /// A refresh (Core §12.2): absent, or the original login's.
    Refresh(Option<&'a str>),
}

/// What an ID token is held to besides its issuer, audience and keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    /// What its `nonce` must be.
    pub(crate) nonce: NonceRule<'a>,
    /// The leeway for `exp` and `iat`.
    pub(crate) clock_skew_seconds: u64,
    /// The app's clock.
    pub(crate) clock: &'a AppClock,
    /// A multi-tenant provider's issuer template and tenants: the token's
    /// `iss` must be the template with its own, allowed, `tid`.
    pub(crate) tenancy: Option<(&'a str, &'a Tenants)>,
}

/// Validates `raw` as an ID token issued to `client` by the provider of
/// `metadata`, signed with a key of `keys`, under `rules`.
pub(crate) async fn verify(
    keys: &dyn KeySource,
    client: &RegisteredClient,
    metadata: &ProviderMetadata,
    raw: &str,
    rules: Rules<'_>,
) -> Result<VerifiedIdToken, OidcError> {
    // One reading of the claims for every check below and for the session:
    // a token with a member twice (two `sub`s...) is refused before two
    // parsers can disagree about it (RFC 7519 §4).
    let claims = CompactJws::parse(raw)
        .and_then(|jws| jws.unverified_claims())
        .ok_or(invalid(IdTokenError::NotCompact))?;
    let token = CoreIdToken::from_str(raw).map_err(|_| invalid(IdTokenError::MissingClaims))?;
    // Step 2, per tenant: with a template, the issuer to hold the token to
    // is its own tenant's, and only for a tenant the app serves (the
    // provider's keys sign every tenant's tokens).
    let issuer = match rules.tenancy {
        Some((template, tenants)) => tenants
            .check(template, &claims)
            .map(|tid| Tenants::issuer_of(template, tid))
            .map_err(|why| invalid(IdTokenError::Tenant(why)))?,
        None => metadata.issuer.clone(),
    };
    let asked = keys.instant();
    let current = keys.keys().await?;
    let subject = match check(client, metadata, &issuer, &token, &current, rules) {
        // A key we do not know, or a known one that does not verify: the
        // provider may have rotated its keys (possibly keeping the `kid`).
        Err(ClaimsVerificationError::SignatureVerification(
            failure @ (SignatureVerificationError::NoMatchingKey | SignatureVerificationError::CryptoError(_)),
        )) => match keys.refetch(asked).await? {
            Some(fresh) if !std::sync::Arc::ptr_eq(&fresh, &current) => {
                check(client, metadata, &issuer, &token, &fresh, rules)
            }
            _ => Err(ClaimsVerificationError::SignatureVerification(failure)),
        },
        other => other,
    }
    .map_err(|e| invalid(IdTokenError::Claims(e)))?;
    meaningful(&claims).map_err(|why| invalid(IdTokenError::MeaninglessClaim(why)))?;
    Ok(VerifiedIdToken {
        jwt: IdTokenJwt::new(raw),
        subject,
        claims,
    })
}

fn check(
    client: &RegisteredClient,
    metadata: &ProviderMetadata,
    issuer: &str,
    token: &CoreIdToken,
    keys: &CoreJsonWebKeySet,
    Rules {
        nonce,
        clock_skew_seconds,
        clock,
        tenancy: _,
    }: Rules<'_>,
) -> Result<String, ClaimsVerificationError> {
    let client_id = ClientId::new(client.client_id.clone());
    let issuer = IssuerUrl::new(issuer.to_string())
        .map_err(|_| ClaimsVerificationError::InvalidIssuer("the provider's issuer is not a URL".into()))?;
    let keys = keys.clone();
    let verifier = match &client.client_secret {
        Some(secret) => CoreIdTokenVerifier::new_confidential_client(
            client_id,
            ClientSecret::new(secret.secret().to_string()),
            issuer,
            keys,
        ),
        None => CoreIdTokenVerifier::new_public_client(client_id, issuer, keys),
    };
    let skew = TimeDelta::seconds(i64::try_from(clock_skew_seconds).unwrap_or(i64::MAX / 2_000));
    let verifier = verifier
        .set_allowed_algs(jws::allowed_algs(&metadata.id_token_signing_alg_values_supported, true))
        // Several audiences are acceptable only with `azp` = our client_id,
        // which `authorized_party` below enforces (Core §3.1.3.7 steps 4-5).
        .set_other_audience_verifier_fn(|_| true)
        // `exp` with leeway: the token is still valid while now - skew < exp.
        .set_time_fn({
            let clock = clock.clone();
            move || clock.utc() - skew
        })
        .set_issue_time_verifier_fn({
            let clock = clock.clone();
            move |iat| {
                if iat > clock.utc() + skew {
                    Err(format!("issued in the future ({iat})"))
                } else {
                    Ok(())
                }
            }
        });
    let claims = match nonce {
        NonceRule::Login(nonce) => token.claims(&verifier, nonce)?,
        NonceRule::Refresh(original) => token.claims(&verifier, |claim: Option<&Nonce>| match (claim, original) {
            (None, _) => Ok(()),
            (Some(claim), Some(original)) if claim.secret() == original => Ok(()),
            (Some(_), _) => Err("a refreshed ID token's nonce differs from the login's".to_string()),
        })?,
    };
    let audiences = claims.audiences();
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != client.client_id => {
            return Err(ClaimsVerificationError::InvalidAudience(format!(
                "`azp` is `{}`, not our client",
                azp.as_str()
            )));
        }
        None if audiences.len() > 1 => {
            return Err(ClaimsVerificationError::InvalidAudience(
                "several audiences and no `azp` claim".into(),
            ));
        }
        _ => {}
    }
    Ok(claims.subject().to_string())
}

/// Core §2: the claims that identify (`iss`, `sub`, `aud`) must name
/// someone, and those that tie the token to a login or session (`nonce`,
/// `sid`, `azp`, `acr`, `amr`, the hashes) say something when present. A signed
/// `"sub": ""` is no user: every empty one would be the same user.
fn meaningful(claims: &Map<String, Value>) -> Result<(), String> {
    claims::required_text(claims, "iss")?;
    claims::required_text(claims, "sub")?;
    claims::audiences(claims)?.ok_or("no `aud`")?;
    claims::optional_list(claims, "amr")?;
    claims::optional_texts(claims, &["nonce", "sid", "azp", "acr", "at_hash", "c_hash"])
}

#[cfg(test)]
mod tests {
    //! The checks of Core §3.1.3.7 against a fixed key set: no provider,
    //! no HTTP.

    use serde_json::json;

    use super::*;
    use crate::config::TokenEndpointAuthMethod;
    use crate::token::jws::tests::{current_keys, jwt};

    const ISSUER: &str = "https://op.example";

    fn client() -> RegisteredClient {
        RegisteredClient {
            client_id: "app".into(),
            client_secret: None,
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        }
    }

    fn metadata() -> ProviderMetadata {
        serde_json::from_value(json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://op.example/auth",
            "token_endpoint": "https://op.example/token",
            "jwks_uri": "https://op.example/jwks",
        }))
        .expect("metadata")
    }

    fn id_token(overrides: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": ISSUER, "sub": "alice", "aud": "app", "nonce": "n-1",
            "iat": now, "exp": now + 300,
        });
        for (name, value) in overrides.as_object().into_iter().flatten() {
            claims[name] = value.clone();
        }
        let header = json!({ "alg": "RS256", "kid": jwt::Key::Current.kid() });
        jwt::encode(&header, &claims, &jwt::Signature::Rs256(jwt::Key::Current))
    }

    async fn check(raw: &str) -> Result<String, String> {
        let nonce = Nonce::new("n-1".into());
        verify(
            &current_keys(),
            &client(),
            &metadata(),
            raw,
            Rules {
                nonce: NonceRule::Login(&nonce),
                clock_skew_seconds: 60,
                clock: &AppClock::default(),
                tenancy: None,
            },
        )
        .await
        .map(|v| v.subject)
        .map_err(|e| e.to_string())
    }

    proptest::proptest! {
        #![proptest_config(crate::test_fuzz::cases(256))]

        /// ID tokens with claims of any type (`exp` as a string, `aud` as an
        /// object, huge numbers...), HMAC-signed with the client secret so
        /// that every claim check is reached: valid or refused, never a
        /// panic; accepted only for our issuer, audience and nonce.
        #[test]
        fn fuzz_id_tokens_with_claims_of_any_shape_are_checked_without_panic(
            claims in crate::test_fuzz::claims_like(&["iss", "sub", "aud", "exp", "iat", "nonce", "azp", "auth_time", "nbf"]),
            valid_iss in proptest::bool::ANY,
            valid_aud in proptest::bool::ANY,
            blank in proptest::option::of((
                proptest::sample::select(&["sub", "sid", "azp", "acr", "at_hash", "aud", "amr"][..]),
                crate::token::claims::tests::meaningless(),
            )),
        ) {
            let now = chrono::Utc::now().timestamp();
            let mut claims = claims;
            if valid_iss { claims.insert("iss".into(), json!(ISSUER)); }
            if valid_aud { claims.insert("aud".into(), json!("app")); }
            claims.entry("exp").or_insert(json!(now + 300));
            claims.entry("iat").or_insert(json!(now));
            claims.entry("sub").or_insert(json!("alice"));
            claims.entry("nonce").or_insert(json!("n-1"));
            // A claim of the right type that names nothing (`"sub": ""`,
            // `"aud": []`...), in an otherwise valid token.
            if let Some((name, value)) = blank {
                claims.insert(name.into(), value);
            }
            let raw = jwt::encode(&json!({ "alg": "HS256" }), &Value::Object(claims.clone()), &jwt::Signature::Hs256(b"the-secret".to_vec()));
            let client = RegisteredClient {
                client_id: "app".into(),
                client_secret: Some(crate::secret::ClientSecret::new("the-secret")),
                token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            };
            let mut metadata = metadata();
            metadata.id_token_signing_alg_values_supported = vec!["HS256".into()];
            let nonce = Nonce::new("n-1".into());
            let runtime = rocket::tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let outcome = runtime.block_on(verify(&current_keys(), &client, &metadata, &raw, Rules { nonce: NonceRule::Login(&nonce), clock_skew_seconds: 60, clock: &AppClock::default(), tenancy: None }));
            if outcome.is_ok() {
                proptest::prop_assert_eq!(claims.get("iss"), Some(&json!(ISSUER)));
                proptest::prop_assert_eq!(claims.get("nonce"), Some(&json!("n-1")));
                // Whatever identifies says something.
                let says = |value: &Value| value.as_str().is_some_and(|text| !text.trim().is_empty());
                proptest::prop_assert!(claims.get("sub").is_some_and(says));
                for name in ["sid", "azp", "acr", "at_hash"] {
                    proptest::prop_assert!(claims.get(name).is_none_or(says), "{} = {:?}", name, claims.get(name));
                }
                proptest::prop_assert!(
                    claims.get("amr").is_none_or(|amr| amr.as_array().is_some_and(|list| !list.is_empty() && list.iter().all(says))),
                    "amr = {:?}", claims.get("amr")
                );
                let aud_ok = match claims.get("aud") {
                    Some(Value::Array(list)) => !list.is_empty() && list.iter().all(says),
                    Some(aud) => says(aud),
                    None => false,
                };
                proptest::prop_assert!(aud_ok, "aud = {:?}", claims.get("aud"));
            }
        }
    }

    #[rocket::async_test]
    async fn a_valid_id_token_passes() {
        assert_eq!(check(&id_token(json!({}))).await, Ok("alice".to_string()));
        // Within the clock skew.
        let now = chrono::Utc::now().timestamp();
        assert!(check(&id_token(json!({ "exp": now - 30 }))).await.is_ok());
        assert!(
            check(&id_token(json!({ "aud": ["app", "other"], "azp": "app" })))
                .await
                .is_ok()
        );
    }

    #[rocket::async_test]
    async fn every_claim_check_refuses_what_it_must() {
        let now = chrono::Utc::now().timestamp();
        let cases = [
            (json!({ "iss": "https://evil.example" }), "wrong issuer"),
            (json!({ "aud": "other" }), "wrong audience"),
            (json!({ "aud": ["app", "other"] }), "no `azp`"),
            (json!({ "aud": ["app", "other"], "azp": "other" }), "`azp` is `other`"),
            (json!({ "exp": now - 120 }), "expired"),
            (json!({ "iat": now + 600 }), "future"),
            (json!({ "nonce": "n-2" }), "nonce"),
            (json!({ "nonce": null }), "nonce"),
            // Core §2: a signed token that names nobody is no login.
            (json!({ "sub": "" }), "`sub` is empty"),
            (json!({ "sub": "  " }), "`sub` is empty"),
            (json!({ "sid": "" }), "`sid` is empty"),
            (json!({ "aud": ["app"], "azp": "" }), "`azp`"),
            (json!({ "acr": "" }), "`acr` is empty"),
            (json!({ "amr": [] }), "`amr` is empty"),
            (json!({ "amr": ["pwd", ""] }), "`amr` has a member"),
        ];
        for (overrides, why) in cases {
            let error = check(&id_token(overrides.clone())).await.expect_err(why);
            assert!(error.contains(why), "{overrides}: {error:?} should say {why:?}");
        }
    }
}
