//! Bearer access tokens at a resource server: reading them from the
//! request (RFC 6750 §2.1) and validating them by introspection (RFC 7662)
//! or locally as JWTs (RFC 9068).

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::cache::FlightCache;
use crate::clock;
use crate::config::{BearerMode, ProviderMetadata};
use crate::error::OidcError;
use crate::provider::budget::{Caller, Spend};
use crate::provider::registration::RegisteredClient;
use crate::provider::Provider;
use crate::secret::AccessToken;
use crate::telemetry::{self, Endpoint};
use crate::token::jws::{self, CompactJws};
use crate::token::unique_json;
use crate::token::{claims, endpoint};

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
    expires_at: Option<i64>,
    claims: Map<String, Value>,
    claims_json: Box<RawValue>,
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
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
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
    /// # #[macro_use] extern crate rocket;
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
}

/// `B64TOKEN[b]`: byte `b` may appear in an RFC 6750 b64token (before its
/// trailing `=`s): `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`.
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// A bearer token as a request sent it, not yet checked character by
/// character (see [`SentToken::well_formed`]).
#[derive(Clone, Copy)]
pub(crate) struct SentToken<'h>(&'h str, bool);

impl<'h> SentToken<'h> {
    pub(crate) fn as_str(&self) -> &'h str {
        self.0
    }

    /// Whether it came with the `DPoP` scheme (RFC 9449 §7.1) rather than `Bearer`.
    pub(crate) fn is_dpop(&self) -> bool {
        self.1
    }

    /// The token, if it is an RFC 6750 §2.1 `b64token`; a token found
    /// valid before is the same bytes, so a cache hit skips this.
    pub(crate) fn well_formed(&self) -> Result<AccessToken, OidcError> {
        let body = self.0.trim_end_matches('=');
        if body.is_empty() || !body.bytes().all(|b| B64TOKEN[usize::from(b)]) {
            return Err(OidcError::InvalidBearerRequest(
                "the bearer token is empty or malformed".into(),
            ));
        }
        Ok(AccessToken::new(self.0))
    }
}

impl std::fmt::Debug for SentToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentToken([redacted])")
    }
}

/// The bearer token of a request with these `Authorization` headers:
/// `None` without one; an error when the header is malformed or a token
/// is sent in more than one place (`in_query`: the URL has an
/// `access_token` parameter).
pub(crate) fn bearer_token<'h>(
    mut headers: impl Iterator<Item = &'h str>,
    in_query: bool,
) -> Result<Option<SentToken<'h>>, OidcError> {
    let bad = |why: &str| Err(OidcError::InvalidBearerRequest(why.to_string()));
    // RFC 6750 §2: one method per request; and tokens in URLs leak into
    // logs and Referer headers, so we accept none there.
    if in_query {
        return bad("access tokens are accepted only in the Authorization header");
    }
    let Some(header) = headers.next() else {
        return Ok(None);
    };
    if headers.next().is_some() {
        return bad("more than one Authorization header");
    }
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    let dpop = scheme.eq_ignore_ascii_case("dpop");
    if !dpop && !scheme.eq_ignore_ascii_case("bearer") {
        return bad("the Authorization scheme is not Bearer (or DPoP)");
    }
    let token = token.trim_matches(' ');
    if token.is_empty() || token.len() > 16 * 1024 {
        return bad("the bearer token is empty or malformed");
    }
    Ok(Some(SentToken(token, dpop)))
}

/// The bearer checks of one provider.
pub(crate) struct BearerCaches {
    /// Valid tokens (introspected, or verified JWTs), by the token itself:
    /// a hit costs one hash of the token and one comparison, no digest.
    /// Only tokens found valid get in, at most `bearer.cache_entries`; the
    /// least recently used goes first when full.
    valid: FlightCache<String, Arc<TokenIdentity>, OidcError>,
    /// Introspection refusals, briefly, apart from the valid ones (a flood
    /// of bad tokens never pushes a good one out), by SHA-256 of the token:
    /// a refused token is not kept.
    refused: Mutex<LruCache<[u8; 32], (String, Instant)>>,
    /// When the log last said the provider refused our client (Unix s).
    client_rejected_said: AtomicI64,
}

/// How many introspection refusals are remembered (each for at most
/// [`INACTIVE_SECONDS`]).
const REFUSED_ENTRIES: usize = 1024;

impl BearerCaches {
    /// Caches keeping at most `valid_entries` valid tokens.
    pub(crate) fn new(valid_entries: usize) -> BearerCaches {
        BearerCaches {
            valid: FlightCache::new(valid_entries),
            refused: Mutex::new(LruCache::new(
                NonZeroUsize::new(REFUSED_ENTRIES).unwrap_or(NonZeroUsize::MIN),
            )),
            client_rejected_said: AtomicI64::new(i64::MIN),
        }
    }

    fn refusal(&self, key: &[u8; 32]) -> Option<String> {
        let mut refused = self.refused.lock().ok()?;
        match refused.get(key) {
            Some((why, until)) if Instant::now() < *until => Some(why.clone()),
            Some(_) => {
                refused.pop(key);
                None
            }
            None => None,
        }
    }

    fn refuse(&self, key: [u8; 32], why: &str, ttl: Duration) {
        let Some(until) = Instant::now().checked_add(ttl).filter(|_| !ttl.is_zero()) else {
            return;
        };
        if let Ok(mut refused) = self.refused.lock() {
            refused.put(key, (why.to_string(), until));
        }
    }
}

/// Validates `sent` as configured for `provider`, with its `caches`.
pub(crate) async fn validate(
    provider: &Provider,
    caches: &BearerCaches,
    sent: SentToken<'_>,
    caller: Caller,
    clock_skew_seconds: u64,
) -> Result<Arc<TokenIdentity>, OidcError> {
    let skew = i64::try_from(clock_skew_seconds).unwrap_or(0);
    // Valid answers are cached: introspection to spare the provider, JWTs
    // to spare a signature check per request. A hit costs nothing more.
    if let Some(identity) = caches.valid.get(sent.as_str()) {
        telemetry::cache("bearer", true);
        return judged(unexpired(identity, skew));
    }
    telemetry::cache("bearer", false);
    // The rest, apart: a hit's future stays small.
    judged(Box::pin(check_uncached(provider, caches, sent, caller, skew)).await)
}

/// Counts the judgement on a token (its scopes are checked after).
fn judged(result: Result<Arc<TokenIdentity>, OidcError>) -> Result<Arc<TokenIdentity>, OidcError> {
    telemetry::bearer(match &result {
        Ok(_) => "accepted",
        Err(OidcError::ClientRejected(_)) => "client_rejected",
        Err(
            OidcError::TokenCheckUnavailable(_) | OidcError::StateUnavailable(_) | OidcError::ProviderUnavailable(_),
        ) => "unavailable",
        Err(_) => "refused",
    });
    result
}

/// [`validate`] for a token not in the cache of valid ones.
async fn check_uncached(
    provider: &Provider,
    caches: &BearerCaches,
    sent: SentToken<'_>,
    caller: Caller,
    skew: i64,
) -> Result<Arc<TokenIdentity>, OidcError> {
    let token = &sent.well_formed()?;
    let key: [u8; 32] = Sha256::digest(token.secret().as_bytes()).into();
    if let Some(why) = caches.refusal(&key) {
        return Err(OidcError::InvalidToken(why));
    }
    let identity = caches
        .valid
        .get_or_load(token.secret(), || async {
            let metadata = provider.metadata().await.map_err(unavailable)?;
            let client = provider.client().await.map_err(unavailable)?;
            let audiences = match &provider.config.bearer.audiences {
                audiences if audiences.is_empty() => vec![client.client_id.clone()],
                audiences => audiences.clone(),
            };
            let checks = Checks {
                provider,
                caches,
                client: &client,
                metadata: &metadata,
                audiences,
                skew,
                caller,
            };
            let local = match provider.config.bearer.mode {
                BearerMode::Jwt => true,
                BearerMode::Auto => CompactJws::parse(token.secret())
                    .and_then(|jws| jws.typ())
                    .is_some_and(|typ| is_access_token_typ(&typ)),
                BearerMode::Introspection => false,
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
    unexpired(identity, skew)
}

/// A cached answer is reused only while the token has not expired.
fn unexpired(identity: Arc<TokenIdentity>, skew: i64) -> Result<Arc<TokenIdentity>, OidcError> {
    if identity
        .expires_at
        .is_some_and(|exp| clock::now().saturating_sub(skew) >= exp)
    {
        return Err(OidcError::InvalidToken("the token has expired".into()));
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
pub(crate) fn sender_constraint(claims: &Map<String, Value>) -> Result<Option<&str>, String> {
    let Some(cnf) = claims.get("cnf") else {
        return Ok(None);
    };
    let refused = |what: &str| Err(format!("the token is bound to {what}, which this API cannot check"));
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

struct Checks<'a> {
    provider: &'a Provider,
    caches: &'a BearerCaches,
    client: &'a RegisteredClient,
    metadata: &'a ProviderMetadata,
    /// `bearer.audiences`, or our client_id.
    audiences: Vec<String>,
    skew: i64,
    /// Who sent the token (introspection budget).
    caller: Caller,
}

impl Checks<'_> {
    /// Local validation (RFC 9068). A refusal is not cached: a bad token
    /// costs its sender the same work each time.
    async fn jwt(&self, token: &AccessToken) -> Result<(Arc<TokenIdentity>, Duration), OidcError> {
        let identity = self.verify_jwt(token).await?;
        let ttl = self.cache_ttl(&identity);
        Ok((identity, ttl))
    }

    /// How long a positive answer may be reused: at most
    /// `introspection_cache_seconds`, and never past the token's `exp`.
    fn cache_ttl(&self, identity: &TokenIdentity) -> Duration {
        let now = clock::now();
        let until_exp = identity
            .expires_at
            .map_or(u64::MAX, |exp| u64::try_from(exp.saturating_sub(now)).unwrap_or(0));
        Duration::from_secs(self.provider.config.bearer.introspection_cache_seconds.min(until_exp))
    }

    /// How long an introspection refusal is remembered.
    fn refusal_ttl(&self) -> Duration {
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
    fn refused_locally(&self, token: &AccessToken) -> Option<String> {
        let jws = CompactJws::parse(token.secret())?;
        let claims = jws.unverified_claims()?;
        match claims.get("iss") {
            None => {}
            Some(Value::String(iss)) if iss == &self.metadata.issuer => {}
            Some(_) => return Some("the token is from another issuer".into()),
        }
        let exp = claims
            .get("exp")
            .and_then(|exp| exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64)));
        if exp.is_some_and(|exp| clock::now().saturating_sub(self.skew) >= exp) {
            return Some("the token has expired".into());
        }
        None
    }

    async fn verify_jwt(&self, token: &AccessToken) -> Result<Arc<TokenIdentity>, OidcError> {
        let typ = CompactJws::parse(token.secret()).and_then(|jws| jws.typ());
        if !typ.as_deref().is_some_and(is_access_token_typ) {
            return Err(OidcError::InvalidToken(
                "not an RFC 9068 access token (`typ` is not at+jwt)".into(),
            ));
        }
        // A token from another issuer or long expired is refused before
        // any signature check, so it cannot make us refetch keys.
        if let Some(why) = self.refused_locally(token) {
            return Err(OidcError::InvalidToken(why));
        }
        let verified = jws::verify(self.provider, token.secret(), jws::ASYMMETRIC_ALGS)
            .await
            .map_err(unavailable)?;
        let claims = verified.claims;
        // RFC 9068 §2.2: all of these are REQUIRED; a token without `sub`
        // names nobody, just as one with `"sub": ""` does.
        for required in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
            if !claims.contains_key(required) {
                return Err(OidcError::InvalidToken(format!("no `{required}` claim")));
            }
        }
        self.identity(token, claims, TokenValidation::Jwt)
            .map_err(OidcError::InvalidToken)
    }

    /// RFC 7662 introspection; a refusal is `Err(InvalidToken)`.
    async fn introspect(&self, token: &AccessToken) -> Result<(Arc<TokenIdentity>, Duration), OidcError> {
        let provider = self.provider;
        let endpoint = self.metadata.introspection_endpoint.clone().ok_or_else(|| {
            OidcError::TokenCheckUnavailable(format!("provider `{}` has no introspection endpoint", provider.name))
        })?;
        // Anyone can send a token never seen before: past the budget of such
        // calls (its source's share, or all of it), the provider is not
        // asked, so a flood of junk tokens cannot spend its rate limits for
        // every caller. Tokens found valid before are answered from the
        // cache, whatever the budget.
        let why = || {
            format!(
                "provider `{}`: `limits.provider_calls_per_second` introspections used up",
                provider.name
            )
        };
        match provider.budgets.introspections.spend(self.caller) {
            Spend::Allowed => {}
            Spend::SourceSpent => return Err(OidcError::TooManyRequests(format!("{} by this client", why()))),
            Spend::AllSpent => return Err(OidcError::TokenCheckUnavailable(why())),
        }
        let failed = |why: String| {
            OidcError::TokenCheckUnavailable(format!("provider `{}`: introspection {why}", provider.name))
        };
        let (status, body) = endpoint::post_authenticated(
            provider,
            self.client,
            Endpoint::Introspection,
            endpoint,
            &[("token", token.secret()), ("token_type_hint", "access_token")],
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
        if status != 200 {
            // RFC 7662 §2.3, RFC 6749 §5.2: 401, or `invalid_client`, is the
            // provider refusing this app's own credentials: a configuration
            // to fix, not an outage to wait out.
            let said: Value = serde_json::from_slice(&body).unwrap_or_default();
            if status == 401 || said.get("error").and_then(Value::as_str) == Some("invalid_client") {
                return Err(self.client_rejected(status));
            }
            return Err(failed(format!("answered with status {status}")));
        }
        // A member twice (two `sub`s, two `active`s) is no answer: which
        // one counts is exactly what must not be guessed.
        let response = unique_json::object(&body)
            .ok_or_else(|| failed("answered with something other than a JSON object, each member once".into()))?;
        let refused = |why: &str| Err(OidcError::InvalidToken(why.to_string()));
        // RFC 7662 §2.2: only `"active": true` means valid; with anything
        // else nothing in the response is trusted.
        let active = response.get("active") == Some(&Value::Bool(true));
        // Debug: a flood of random tokens must not flood the log (each
        // answer, valid or not, is cached).
        event!(
            debug,
            "oidc: introspected a token at provider `{}`: {}",
            provider.name,
            if active { "active" } else { "not active" }
        );
        if !active {
            return refused("the token is not active");
        }
        // A provider may say an ID or refresh token is active: neither is an
        // access token (RFC 7662 `token_type`, Keycloak's `typ`, Cognito's
        // `token_use`).
        let says = |name: &str| response.get(name).and_then(Value::as_str).map(str::to_ascii_lowercase);
        let token_type = says("token_type").unwrap_or_default();
        let not_access = token_type.contains("refresh")
            || token_type.contains("id_token")
            || says("typ").is_some_and(|typ| matches!(typ.as_str(), "id" | "refresh" | "offline" | "logout"))
            || says("token_use").is_some_and(|used| used != "access");
        if not_access {
            return refused("the token is not an access token");
        }
        if self.provider.config.bearer.require_audience && !response.contains_key("aud") {
            return refused("the introspection answer names no audience (`bearer.require_audience`)");
        }
        let identity = self
            .identity(token, response, TokenValidation::Introspection)
            .map_err(OidcError::InvalidToken)?;
        let ttl = self.cache_ttl(&identity);
        Ok((identity, ttl))
    }

    /// The provider refused our client at introspection: said in the log
    /// as what it is, at most once a minute per provider (each token in a
    /// flood would say it again).
    fn client_rejected(&self, status: u16) -> OidcError {
        let name = &self.provider.name;
        let now = clock::now();
        let last = self.caches.client_rejected_said.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 60
            && self
                .caches
                .client_rejected_said
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            event!(
                error,
                "oidc: provider `{name}` refused this app's client credentials at its introspection endpoint \
                 ({status}, `invalid_client`): check `providers.{name}.client_id` and its secret or key; every \
                 bearer token it would check is answered 503 until it is fixed"
            );
        }
        OidcError::ClientRejected(format!(
            "provider `{name}`: introspection answered {status} (`invalid_client`)"
        ))
    }

    /// The checks shared by both ways: time, issuer and audience.
    fn identity(
        &self,
        token: &AccessToken,
        claims: Map<String, Value>,
        validation: TokenValidation,
    ) -> Result<Arc<TokenIdentity>, String> {
        let now = clock::now();
        let number = |name: &str| -> Result<Option<i64>, String> {
            match claims.get(name) {
                None => Ok(None),
                // RFC 7519 NumericDate: seconds, possibly with a fraction.
                Some(value) => value
                    .as_i64()
                    .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
                    .map(Some)
                    .ok_or_else(|| format!("`{name}` is not a number")),
            }
        };
        let exp = number("exp")?;
        if exp.is_some_and(|exp| now.saturating_sub(self.skew) >= exp) {
            return Err("the token has expired".into());
        }
        if number("nbf")?.is_some_and(|nbf| nbf > now.saturating_add(self.skew)) {
            return Err("the token is not valid yet".into());
        }
        if number("iat")?.is_some_and(|iat| iat > now.saturating_add(self.skew)) {
            return Err("the token is issued in the future".into());
        }
        match claims.get("iss") {
            None => {}
            Some(Value::String(iss)) if iss == &self.metadata.issuer => {}
            Some(_) => return Err("the token is from another issuer".into()),
        }
        // Who the token speaks for must say something when it is there:
        // `"sub": ""` is nobody, and every empty one the same nobody.
        claims::optional_texts(&claims, &["sub", "client_id", "jti", "acr"])
            .and_then(|()| claims::optional_list(&claims, "amr").map(drop))
            .map_err(|why| format!("meaningless claim: {why}"))?;
        let audiences = &self.audiences;
        match claims::audiences(&claims).map_err(|why| format!("meaningless claim: {why}"))? {
            None => {}
            Some(named) if named.iter().any(|aud| audiences.iter().any(|a| a == aud)) => {}
            Some(_) => return Err("the token is for another audience".into()),
        }
        sender_constraint(&claims)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(scope)), _) => scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
            (None, Some(Value::Array(list))) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => BTreeSet::new(),
        };
        let claims_json = serde_json::value::to_raw_value(&claims).map_err(|e| e.to_string())?;
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
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::ProviderConfig;
    use crate::test_fuzz::{cases, claims_like, nasty_text};

    const ISSUER: &str = "https://op.example";

    fn provider() -> Provider {
        let config: ProviderConfig = serde_json::from_value(serde_json::json!({
            "issuer": ISSUER, "client_id": "app", "client_secret": "s"
        }))
        .unwrap();
        Provider::new("default".into(), config, reqwest::Client::new(), Default::default())
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
            let caches = BearerCaches::new(1);
            let checks = Checks { provider: &provider, caches: &caches, client: &client, metadata: &metadata, audiences: vec!["app".into()], skew: 60, caller: Caller::App };
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
            let b64 = |v: &Value| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v.to_string());
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
