//! The checks of one token at one provider, whichever way it is validated:
//! how long a verdict is kept, and the identity a valid token gives.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{BearerCaches, INACTIVE_SECONDS, TokenIdentity, TokenValidation, sender_constraint};
use crate::clock::UnixTime;
use crate::config::ProviderMetadata;
use crate::error::BearerError;
use crate::jose::CompactJws;
use crate::provider::Provider;
use crate::provider::budget::Caller;
use crate::provider::registration::RegisteredClient;
use crate::secret::AccessToken;
use crate::token::claims;

pub(super) struct Checks<'a> {
    pub(super) provider: &'a Provider,
    pub(super) caches: &'a BearerCaches,
    pub(super) client: &'a RegisteredClient,
    pub(super) metadata: &'a ProviderMetadata,
    /// `bearer.audiences`, or the resource identifier, or our client_id.
    pub(super) audiences: Vec<String>,
    /// `resource.identifier`, when `resource.require_audience`: every
    /// token's `aud` must name it (RFC 8707 §2, RFC 9068 §4).
    pub(super) resource: Option<&'a str>,
    pub(super) skew: i64,
    /// Who sent the token (introspection budget).
    pub(super) caller: Caller,
}

impl Checks<'_> {
    /// How long a positive answer may be reused: at most
    /// `introspection_cache_seconds`, and never past the token's `exp`.
    pub(super) fn cache_ttl(&self, identity: &TokenIdentity) -> Duration {
        let now = self.provider.clock.time();
        let until_exp = identity
            .expires_at
            .map_or(u64::MAX, |exp| u64::try_from(exp.secs_since(now)).unwrap_or(0));
        Duration::from_secs(self.provider.config.bearer.introspection_cache_seconds.min(until_exp))
    }

    /// How long an introspection refusal is remembered.
    pub(super) fn refusal_ttl(&self) -> Duration {
        Duration::from_secs(
            self.provider
                .config
                .bearer
                .introspection_cache_seconds
                .min(INACTIVE_SECONDS),
        )
    }

    /// A refusal that needs no provider call: a token shaped like a JWT
    /// whose (unverified) `iss` or `exp` already disqualifies it. Nothing
    /// is ever accepted on unverified claims; they can only refuse.
    pub(super) fn refused_locally(&self, token: &AccessToken) -> Option<BearerError> {
        let jws = CompactJws::parse(token.secret())?;
        let claims = jws.unverified_claims()?;
        match claims.get("iss") {
            None => {}
            Some(Value::String(iss)) if self.provider.config.is_issuer(&self.metadata.issuer, iss) => {}
            Some(_) => return Some(BearerError::WrongIssuer),
        }
        let exp = claims
            .get("exp")
            .and_then(|exp| exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64)))
            .map(UnixTime::from_secs);
        if exp.is_some_and(|exp| self.provider.clock.time().minus_secs(self.skew) >= exp) {
            return Some(BearerError::Expired);
        }
        None
    }

    /// The checks shared by both ways: time, issuer and audience.
    pub(super) fn identity(
        &self,
        token: &AccessToken,
        claims: Map<String, Value>,
        validation: TokenValidation,
    ) -> Result<Arc<TokenIdentity>, BearerError> {
        let now = self.provider.clock.time();
        let time = |name: &'static str| -> Result<Option<UnixTime>, BearerError> {
            match claims.get(name) {
                None => Ok(None),
                // RFC 7519 NumericDate: seconds, possibly with a fraction.
                Some(value) => value
                    .as_i64()
                    .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
                    .map(|seconds| Some(UnixTime::from_secs(seconds)))
                    .ok_or(BearerError::NotANumber(name)),
            }
        };
        let exp = time("exp")?;
        if exp.is_some_and(|exp| now.minus_secs(self.skew) >= exp) {
            return Err(BearerError::Expired);
        }
        if time("nbf")?.is_some_and(|nbf| nbf > now.plus_secs(self.skew)) {
            return Err(BearerError::NotYetValid);
        }
        if time("iat")?.is_some_and(|iat| iat > now.plus_secs(self.skew)) {
            return Err(BearerError::IssuedInTheFuture);
        }
        // A multi-tenant provider's token names its tenant, one the app
        // serves, and that tenant's issuer (the keys sign every tenant's).
        let tenant = match self.provider.config.tenancy() {
            Some((template, tenants)) => Some(
                tenants
                    .check(template, &claims)
                    .map_err(BearerError::Tenant)?
                    .to_string(),
            ),
            None => {
                match claims.get("iss") {
                    None => {}
                    Some(Value::String(iss)) if iss == &self.metadata.issuer => {}
                    Some(_) => return Err(BearerError::WrongIssuer),
                }
                None
            }
        };
        // Who the token speaks for must say something when it is there:
        // `"sub": ""` is nobody, and every empty one the same nobody.
        claims::optional_texts(&claims, &["sub", "client_id", "jti", "acr"])
            .and_then(|()| claims::optional_list(&claims, "amr").map(drop))
            .map_err(BearerError::MeaninglessClaim)?;
        let audiences = &self.audiences;
        let named = claims::audiences(&claims).map_err(BearerError::MeaninglessClaim)?;
        match &named {
            None => {}
            Some(named) if named.iter().any(|aud| audiences.iter().any(|a| a == aud)) => {}
            Some(_) => return Err(BearerError::WrongAudience),
        }
        // A token for another resource of the same provider must not be
        // replayed here (RFC 8707 §2): with a resource identifier, `aud`
        // must name it, and a token that names no audience is for anyone.
        if let Some(resource) = self.resource
            && !named.is_some_and(|named| named.contains(&resource))
        {
            return Err(BearerError::NotForThisResource);
        }
        sender_constraint(&claims)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(scope)), _) => scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            (None, Some(Value::Array(list))) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => BTreeSet::new(),
        };
        let claims_json =
            serde_json::value::to_raw_value(&claims).map_err(|e| BearerError::Unkeepable(e.to_string()))?;
        Ok(Arc::new(TokenIdentity {
            token: token.clone(),
            claims_json,
            provider: self.provider.name.clone(),
            validation,
            subject: text("sub"),
            client_id: text("client_id"),
            scopes,
            expires_at: exp,
            claims,
            tenant,
            roles_claim: self.provider.config.roles_claim.clone(),
            groups_claim: self.provider.config.groups_claim.clone(),
        }))
    }
}
