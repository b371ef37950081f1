//! Bearer access tokens at a resource server: reading them from the
//! request (RFC 6750 §2.1) and validating them by introspection (RFC 7662)
//! or locally as JWTs (RFC 9068).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::clock::UnixTime;
use crate::config::{Authorization, BearerMode, ClaimPath, ResourceConfig};
use crate::error::{AuthorizationError, BearerError, OidcError};
use crate::jose::CompactJws;
use crate::provider::Provider;
use crate::provider::budget::Caller;
use crate::secret::AccessToken;
use crate::telemetry;
use crate::token::authorization::{self, ClaimsView};
use crate::token::claims;

mod caches;
mod checks;
mod header;
mod introspection;
mod rfc9068;

pub(crate) use caches::BearerCaches;
use checks::Checks;
pub(crate) use header::{SentToken, bearer_token};

/// How long an inactive introspection answer is remembered (at most).
const INACTIVE_SECONDS: u64 = 5;

/// How a bearer token was found valid.
///
/// ```rust
/// use rocket_openidconnect::TokenValidation;
///
/// assert_ne!(TokenValidation::Introspection, TokenValidation::Jwt);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenValidation {
    /// The provider's introspection endpoint said it is active (RFC 7662).
    Introspection,
    /// Its signature and claims were checked locally (RFC 9068).
    Jwt,
}

/// Who a valid bearer token speaks for: Flask-pyoidc's `current_token_identity`.
///
/// ```rust
/// use rocket_openidconnect::TokenIdentity;
///
/// fn describe(identity: &TokenIdentity) -> String {
///     format!(
///         "{} via client {} with scopes {:?}",
///         identity.subject().unwrap_or("a service"),
///         identity.client_id().unwrap_or("?"),
///         identity.scopes(),
///     )
/// }
/// ```
#[derive(Debug, Clone)]
pub struct TokenIdentity {
    /// The token itself, kept with its answer so that a cache hit copies
    /// nothing ([`BearerToken::token`](crate::BearerToken::token)).
    token: AccessToken,
    provider: String,
    validation: TokenValidation,
    subject: Option<String>,
    client_id: Option<String>,
    scopes: BTreeSet<String>,
    expires_at: Option<UnixTime>,
    claims: Map<String, Value>,
    claims_json: Box<RawValue>,
    /// The tenant (`tid`) of a multi-tenant provider's token.
    tenant: Option<String>,
    /// Where the provider puts roles and groups (`roles_claim`,
    /// `groups_claim`).
    roles_claim: ClaimPath,
    groups_claim: ClaimPath,
}

impl TokenIdentity {
    /// The token these claims are of.
    pub(crate) fn token(&self) -> &AccessToken {
        &self.token
    }

    /// The RFC 7638 thumbprint of the key the token is bound to
    /// (`cnf.jkt`, RFC 9449 §6), if it is DPoP-bound.
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        // Checked when the token was validated: a `cnf` of any other shape
        // was refused then.
        sender_constraint(&self.claims).ok().flatten()
    }

    /// The provider that issued the token.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// How the token was validated.
    pub fn validation(&self) -> TokenValidation {
        self.validation
    }

    /// `sub`: the user (absent for client-credentials tokens at some providers).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// `client_id`: the client the token was issued to.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The token's scopes.
    pub fn scopes(&self) -> &BTreeSet<String> {
        &self.scopes
    }

    /// `exp`, when the token says.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t.secs()).ok())
    }

    /// The whole introspection response, or the JWT's claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// [`claims`](Self::claims) as JSON text, written once when the token
    /// was validated: a response can embed it as it is, without
    /// serialising the map again on every request.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket::response::content::RawJson;
    /// use rocket_openidconnect::BearerToken;
    ///
    /// #[get("/api/claims")]
    /// fn claims(token: BearerToken) -> RawJson<String> {
    ///     RawJson(token.claims_json().get().to_owned())
    /// }
    /// ```
    pub fn claims_json(&self) -> &RawValue {
        &self.claims_json
    }

    /// The issuer of the token: its `iss`, checked (a trusted issuer's, or
    /// the provider's), or none for an introspection answer without one.
    /// With `bearer.trusted_issuers`, `sub` is unique only per issuer: key
    /// users by `(issuer, subject)`.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The tenant (`tid`) the token is of, when its provider is
    /// multi-tenant (`tenants`): one of those allowed, and the one its
    /// `iss` names.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The claim at a dotted `path` (`realm_access.roles`), if there.
    ///
    /// ```rust
    /// use rocket_openidconnect::TokenIdentity;
    ///
    /// fn tenant(identity: &TokenIdentity) -> Option<&str> {
    ///     identity.claim("tid")?.as_str()
    /// }
    /// ```
    pub fn claim(&self, path: &str) -> Option<&Value> {
        ClaimsView::of(&self.claims).find(path)
    }

    /// The claims as the app's own type.
    ///
    /// ```rust
    /// use rocket_openidconnect::TokenIdentity;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Claims {
    ///     sub: String,
    ///     #[serde(default)]
    ///     roles: Vec<String>,
    /// }
    ///
    /// fn subject(identity: &TokenIdentity) -> Option<String> {
    ///     identity.claims_as::<Claims>().ok().map(|claims| claims.sub)
    /// }
    /// ```
    pub fn claims_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.claims_json.get())
    }

    /// The token's roles, read where the provider's `roles_claim` says (a
    /// string or an array of strings; anything else is none).
    pub fn roles(&self) -> Vec<&str> {
        ClaimsView::of(&self.claims).strings(&self.roles_claim)
    }

    /// The token's groups, read where the provider's `groups_claim` says.
    pub fn groups(&self) -> Vec<&str> {
        ClaimsView::of(&self.claims).strings(&self.groups_claim)
    }

    /// Whether the token's roles hold `role`, exactly (no case folding).
    ///
    /// ```rust
    /// use rocket_openidconnect::TokenIdentity;
    ///
    /// fn may_delete(identity: &TokenIdentity) -> bool {
    ///     identity.has_role("admin") || identity.in_group("operators")
    /// }
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        ClaimsView::of(&self.claims).has(&self.roles_claim, role)
    }

    /// Whether the token's groups hold `group`, exactly.
    pub fn in_group(&self, group: &str) -> bool {
        ClaimsView::of(&self.claims).has(&self.groups_claim, group)
    }

    /// Whether the token's subject meets `A`.
    pub(crate) fn meets<A: Authorization>(&self) -> Result<(), AuthorizationError> {
        authorization::check::<A>(ClaimsView::of(&self.claims), &self.roles_claim, &self.groups_claim)
    }
}

/// Validates `sent` as configured for `provider`, with its `caches`.
pub(crate) async fn validate(
    provider: &Provider,
    trusted_issuers: &[Provider],
    caches: &BearerCaches,
    sent: SentToken<'_>,
    caller: Caller,
    clock_skew_seconds: u64,
    resource: Option<&ResourceConfig>,
) -> Result<Arc<TokenIdentity>, OidcError> {
    let skew = i64::try_from(clock_skew_seconds).unwrap_or(0);
    // Valid answers are cached: introspection to spare the provider, JWTs
    // to spare a signature check per request. A hit costs nothing more.
    if let Some(identity) = caches.valid.get(sent.as_str()) {
        telemetry::cache("bearer", true);
        return judged(unexpired(identity, skew, provider.clock.time()));
    }
    telemetry::cache("bearer", false);
    // The rest, apart: a hit's future stays small.
    judged(
        Box::pin(check_uncached(
            provider,
            trusted_issuers,
            caches,
            sent,
            caller,
            skew,
            resource,
        ))
        .await,
    )
}

/// Counts the judgement on a token (its scopes are checked after).
fn judged(result: Result<Arc<TokenIdentity>, OidcError>) -> Result<Arc<TokenIdentity>, OidcError> {
    telemetry::bearer(match &result {
        Ok(_) => "accepted",
        Err(OidcError::ClientRejected(_)) => "client_rejected",
        Err(
            OidcError::TokenCheckUnavailable(_) | OidcError::StoreUnavailable(_) | OidcError::ProviderUnavailable(_),
        ) => "unavailable",
        Err(_) => "refused",
    });
    result
}

/// The `iss` a JWT says it has, unverified: only to choose which listed
/// issuer's keys to check it with.
fn unverified_issuer(token: &AccessToken) -> Option<String> {
    let claims = CompactJws::parse(token.secret())?.unverified_claims()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// [`validate`] for a token not in the cache of valid ones.
async fn check_uncached(
    provider: &Provider,
    trusted_issuers: &[Provider],
    caches: &BearerCaches,
    sent: SentToken<'_>,
    caller: Caller,
    skew: i64,
    resource: Option<&ResourceConfig>,
) -> Result<Arc<TokenIdentity>, OidcError> {
    let token = &sent.well_formed()?;
    let key: [u8; 32] = Sha256::digest(token.secret().as_bytes()).into();
    if let Some(why) = caches.refusal(&key) {
        return Err(OidcError::InvalidToken(why));
    }
    let identity = caches
        .valid
        .get_or_load(token.secret(), || async {
            let local = match provider.config.bearer.mode {
                BearerMode::Jwt => true,
                BearerMode::Auto => CompactJws::parse(token.secret())
                    .and_then(|jws| jws.typ())
                    .is_some_and(|typ| is_access_token_typ(&typ)),
                BearerMode::Introspection => false,
            };
            // A JWT of a trusted issuer is checked with that issuer's
            // metadata and keys; the issuer is read from the unverified
            // claims only to choose among those the configuration lists
            // (an unlisted one is refused by this provider's checks, before
            // any network call but this provider's own).
            let issuer = local.then(|| unverified_issuer(token)).flatten();
            let checked_by = trusted_issuers
                .iter()
                .find(|trusted| trusted.config.issuer.as_deref() == issuer.as_deref())
                .unwrap_or(provider);
            let metadata = checked_by.metadata().await.map_err(unavailable)?;
            let client = provider.client().await.map_err(unavailable)?;
            let audiences = match (&provider.config.bearer.audiences, resource) {
                (audiences, _) if !audiences.is_empty() => audiences.clone(),
                (_, Some(resource)) => vec![resource.identifier.clone()],
                (_, None) => vec![client.client_id.clone()],
            };
            let checks = Checks {
                provider: checked_by,
                caches,
                client: &client,
                metadata: &metadata,
                audiences,
                resource: resource
                    .filter(|resource| resource.require_audience)
                    .map(|resource| resource.identifier.as_str()),
                skew,
                caller,
            };
            if local {
                return checks.jwt(token).await;
            }
            let refusal = match checks.refused_locally(token) {
                Some(why) => Err(OidcError::InvalidToken(why)),
                None => checks.introspect(token).await,
            };
            if let Err(OidcError::InvalidToken(why)) = &refusal {
                caches.refuse(key, why, checks.refusal_ttl());
            }
            refusal
        })
        .await?;
    unexpired(identity, skew, provider.clock.time())
}

/// A cached answer is reused only while the token has not expired.
fn unexpired(identity: Arc<TokenIdentity>, skew: i64, now: UnixTime) -> Result<Arc<TokenIdentity>, OidcError> {
    if identity.expires_at.is_some_and(|exp| now.minus_secs(skew) >= exp) {
        return Err(OidcError::InvalidToken(BearerError::Expired));
    }
    Ok(identity)
}

/// The key a token is bound to (RFC 7800 `cnf`), when it is one this
/// crate can check: a DPoP key thumbprint (`cnf.jkt`, RFC 9449 §6) alone.
/// A token bound to anything else (a TLS client certificate, `x5t#S256`
/// of RFC 8705 §3; a `jwk`, `kid` or `jku`; members this crate does not
/// know), or whose `cnf` says nothing, is refused: accepting it as a
/// plain bearer token would let whoever holds it use it without the key
/// or certificate it demands.
pub(crate) fn sender_constraint(claims: &Map<String, Value>) -> Result<Option<&str>, BearerError> {
    let Some(cnf) = claims.get("cnf") else {
        return Ok(None);
    };
    let refused = |what: &'static str| Err(BearerError::UncheckableBinding(what));
    let Some(cnf) = cnf.as_object() else {
        return refused("a `cnf` that is not an object");
    };
    match (cnf.len(), cnf.get("jkt")) {
        (1, Some(Value::String(jkt))) if claims::meaningful(jkt) => Ok(Some(jkt)),
        (_, _) if cnf.contains_key("x5t#S256") => refused("a TLS client certificate (`cnf.x5t#S256`, RFC 8705)"),
        _ => refused("a confirmation method other than one DPoP key (`cnf.jkt`)"),
    }
}

/// RFC 9068 §4: the `typ` that tells an access token from an ID token.
fn is_access_token_typ(typ: &str) -> bool {
    typ == "at+jwt" || typ == "application/at+jwt"
}

/// In a bearer request, a provider we cannot reach is `503`.
fn unavailable(error: OidcError) -> OidcError {
    match error {
        OidcError::ProviderUnavailable(why) => OidcError::TokenCheckUnavailable(why),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::{ProviderConfig, ProviderMetadata};
    use crate::provider::registration::RegisteredClient;
    use crate::test_fuzz::{cases, claims_like, nasty_text};

    const ISSUER: &str = "https://op.example";

    fn provider() -> Provider {
        let config: ProviderConfig = serde_json::from_value(serde_json::json!({
            "issuer": ISSUER, "client_id": "app", "client_secret": "s"
        }))
        .unwrap();
        Provider::new(
            "default".into(),
            config,
            reqwest::Client::new(),
            Default::default(),
            Default::default(),
        )
    }

    fn metadata() -> ProviderMetadata {
        serde_json::from_value(serde_json::json!({
            "issuer": ISSUER, "authorization_endpoint": "https://op.example/a",
            "token_endpoint": "https://op.example/t", "jwks_uri": "https://op.example/k",
        }))
        .unwrap()
    }

    const CLAIMS: &[&str] = &[
        "active",
        "exp",
        "iat",
        "nbf",
        "iss",
        "aud",
        "scope",
        "scp",
        "sub",
        "client_id",
        "token_type",
        "typ",
        "token_use",
        "jti",
        "cnf",
    ];

    proptest! {
        #![proptest_config(cases(512))]

        #[test]
        fn fuzz_authorization_headers_give_a_token_or_a_400(
            headers in proptest::collection::vec(nasty_text().prop_map(|t| format!("Bearer {t}")), 0..3),
            in_query in any::<bool>(),
        ) {
            match bearer_token(headers.iter().map(String::as_str), in_query).and_then(|t| t.map(|t| t.well_formed()).transpose()) {
                Ok(token) => prop_assert!(token.is_none() || headers.len() == 1),
                Err(error) => prop_assert_eq!(error.code(), "invalid_request"),
            }
        }

        /// Whatever an introspection answer (or a JWT) claims, of whatever
        /// types, the checks accept or refuse it without a panic, and
        /// accept only a matching issuer and audience.
        #[test]
        fn fuzz_claims_of_any_shape_are_checked_without_panic(
            claims in claims_like(CLAIMS),
            blank in proptest::option::of((
                proptest::sample::select(&["sub", "client_id", "jti", "aud"][..]),
                crate::token::claims::tests::meaningless(),
            )),
            bound in proptest::option::of(proptest::sample::select(vec![
                serde_json::json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" }),
                serde_json::json!({ "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "x5t#S256": "bwcK" }),
                serde_json::json!({ "jwk": { "kty": "EC" } }),
                serde_json::json!({}),
                serde_json::json!("jkt"),
            ])),
        ) {
            let provider = provider();
            let metadata = metadata();
            let client = RegisteredClient::configured(&provider.config).unwrap();
            let caches = BearerCaches::new(1, crate::clock::AppClock::default().instants());
            let checks = Checks { provider: &provider, caches: &caches, client: &client, metadata: &metadata, audiences: vec!["app".into()], resource: None, skew: 60, caller: Caller::App };
            let mut claims = claims;
            if let Some((name, value)) = blank {
                claims.insert(name.into(), value);
            }
            if let Some(cnf) = &bound {
                claims.insert("cnf".into(), cnf.clone());
            }
            let accepted = checks.identity(&AccessToken::new("t"), claims.clone(), TokenValidation::Introspection).is_ok();
            if accepted {
                prop_assert!(claims.get("iss").is_none_or(|iss| iss == ISSUER));
                // Whoever the token names, it names someone.
                let says = |value: &Value| value.as_str().is_some_and(|text| !text.trim().is_empty());
                for name in ["sub", "client_id", "jti"] {
                    prop_assert!(claims.get(name).is_none_or(says), "{} = {:?}", name, claims.get(name));
                }
                // Bound to nothing, or to one DPoP key: never to what cannot be checked.
                prop_assert!(bound.is_none());
                prop_assert!(claims.get("cnf").is_none_or(|cnf| cnf.as_object().is_some_and(|cnf| cnf.len() == 1 && cnf.get("jkt").is_some_and(says))));
            }
            let b64 = |v: &Value| crate::jose::b64(v.to_string());
            let token = AccessToken::new(format!("{}.{}.c2ln", b64(&serde_json::json!({ "alg": "RS256" })), b64(&Value::Object(claims))));
            let _ = checks.refused_locally(&token);
        }
    }

    fn token_of(headers: &[&str], in_query: bool) -> Result<Option<String>, String> {
        bearer_token(headers.iter().copied(), in_query)
            .and_then(|t| t.map(|t| t.well_formed()).transpose())
            .map(|t| t.map(|t| t.secret().to_string()))
            .map_err(|e| e.code().to_string())
    }

    #[test]
    fn the_authorization_header_is_the_only_source() {
        assert_eq!(token_of(&[], false), Ok(None));
        assert_eq!(
            token_of(&["Bearer abc.def-_~+/=="], false),
            Ok(Some("abc.def-_~+/==".into()))
        );
        assert_eq!(token_of(&["bearer abc"], false), Ok(Some("abc".into())));
        assert_eq!(token_of(&["BEARER abc"], false), Ok(Some("abc".into())));
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Basic YTpi",
            "Bearer a\"b",
            "Bearerabc",
            "Bearer ==",
        ] {
            assert_eq!(token_of(&[bad], false), Err("invalid_request".into()), "{bad:?}");
        }
        assert_eq!(
            token_of(&["Bearer a", "Bearer b"], false),
            Err("invalid_request".into())
        );
        assert_eq!(token_of(&["Bearer a"], true), Err("invalid_request".into()));
        assert_eq!(token_of(&[], true), Err("invalid_request".into()));
    }
}
