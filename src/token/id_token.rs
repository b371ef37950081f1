//! ID token validation, OpenID Connect Core 1.0 §3.1.3.7.
//!
//! The signature, `iss`, `aud` and `exp` checks are `openidconnect`'s; we
//! add what it leaves to the client: the algorithm allow-list from the
//! provider's metadata, `azp` for several audiences, `iat` and `exp` with
//! our clock skew, and key rotation (it never refetches a key set).

use std::str::FromStr;

use chrono::{TimeDelta, Utc};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{ClaimsVerificationError, ClientId, ClientSecret, IssuerUrl, Nonce, SignatureVerificationError};
use serde_json::{Map, Value};

use crate::error::OidcError;
use crate::provider::{Provider, ProviderMetadata};
use crate::registration::RegisteredClient;
use crate::token::jws::decode_object;
use crate::token::IdTokenJwt;

/// An ID token whose every check passed.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedIdToken {
    pub(crate) jwt: IdTokenJwt,
    pub(crate) subject: String,
    /// All claims, as sent (including those `openidconnect` has no type for).
    pub(crate) claims: Map<String, Value>,
}

fn invalid(why: impl Into<String>) -> OidcError {
    OidcError::InvalidIdToken(why.into())
}

/// What the `nonce` claim must be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NonceRule<'a> {
    /// A login: the nonce sent in the authorization request, required.
    Login(&'a Nonce),
    /// A refresh (Core §12.2): absent, or the original login's.
    Refresh(Option<&'a str>),
}

/// Validates `raw` as an ID token from `provider` under `nonce`.
pub(crate) async fn verify(
    provider: &Provider,
    metadata: &ProviderMetadata,
    raw: &str,
    nonce: NonceRule<'_>,
    clock_skew_seconds: u64,
) -> Result<VerifiedIdToken, OidcError> {
    let token = CoreIdToken::from_str(raw)
        .map_err(|_| invalid("the ID token is not a signed JWT with the required claims (iss, sub, aud, exp, iat)"))?;
    let keys = provider.keys().await?;
    let client = provider.client().await?;
    let subject = match check(&client, metadata, &token, &keys, nonce, clock_skew_seconds) {
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
            // A key we do not know: the provider may have rotated its keys.
            let kid = token_kid(raw);
            match provider.refetch_keys(kid.as_deref(), &keys).await? {
                Some(fresh) => check(&client, metadata, &token, &fresh, nonce, clock_skew_seconds),
                None => Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )),
            }
        }
        other => other,
    }
    .map_err(|e| invalid(describe(&e)))?;
    let claims = payload(raw).ok_or_else(|| invalid("the ID token payload is not a JSON object"))?;
    Ok(VerifiedIdToken {
        jwt: IdTokenJwt::new(raw),
        subject,
        claims,
    })
}

fn check(
    client: &RegisteredClient,
    metadata: &ProviderMetadata,
    token: &CoreIdToken,
    keys: &CoreJsonWebKeySet,
    nonce: NonceRule<'_>,
    clock_skew_seconds: u64,
) -> Result<String, ClaimsVerificationError> {
    let client_id = ClientId::new(client.client_id.clone());
    let issuer = IssuerUrl::new(metadata.issuer.clone())
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
        .set_allowed_algs(allowed_algs(metadata))
        // Several audiences are acceptable only with `azp` = our client_id,
        // which `authorized_party` below enforces (Core §3.1.3.7 steps 4-5).
        .set_other_audience_verifier_fn(|_| true)
        // `exp` with leeway: the token is still valid while now - skew < exp.
        .set_time_fn(move || Utc::now() - skew)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > Utc::now() + skew {
                Err(format!("issued in the future ({iat})"))
            } else {
                Ok(())
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

/// The algorithms the provider says it signs ID tokens with, that we
/// implement. `none` is never among them; HMAC ones are verified with the
/// client secret only (so a token MACed with a public key never passes).
fn allowed_algs(metadata: &ProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    metadata
        .id_token_signing_alg_values_supported
        .iter()
        .filter(|alg| alg.as_str() != "none")
        .filter_map(|alg| serde_json::from_value(Value::String(alg.clone())).ok())
        .filter(|alg| !matches!(alg, CoreJwsSigningAlgorithm::None))
        .collect()
}

fn describe(error: &ClaimsVerificationError) -> String {
    match error {
        ClaimsVerificationError::Expired(why) => format!("expired or not yet valid: {why}"),
        ClaimsVerificationError::InvalidAudience(why) => format!("wrong audience: {why}"),
        ClaimsVerificationError::InvalidIssuer(why) => format!("wrong issuer: {why}"),
        ClaimsVerificationError::InvalidNonce(why) => format!("bad nonce: {why}"),
        ClaimsVerificationError::SignatureVerification(e) => format!("bad signature: {e}"),
        other => other.to_string(),
    }
}

/// The `kid` of a compact JWS header, if any.
fn token_kid(raw: &str) -> Option<String> {
    let header = decode_object(raw.split('.').next()?)?;
    header.get("kid")?.as_str().map(str::to_string)
}

/// The claims of a compact JWS, decoded without verification: call only on
/// a token that passed [`verify`].
fn payload(raw: &str) -> Option<Map<String, Value>> {
    decode_object(raw.split('.').nth(1)?)
}
