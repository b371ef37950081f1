//! What the test issuer knows and decides, without HTTP: its client, the
//! authorization codes it issued, the tokens it minted, its users'
//! sessions, and the fault hook's knobs and journal (`faults.rs`).
//! `server.rs` puts it on the network; `mod.rs` gives it to app tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use super::TestUser;
use super::faults::{
    BACKCHANNEL_LOGOUT_EVENT, Behaviour, ClientAuth, Failure, JWT_BEARER, Journal, Key, Signing, find_param, merge,
    record,
};
use super::signer::{Signer, random_token};
use crate::clock::AppClock;
use crate::jose::{self, Alg, CompactJws};

/// How long an authorization code may wait for its redemption.
const CODE_SECONDS: i64 = 60;
/// How long a pushed authorization request stands (RFC 9126 §2.2 `expires_in`).
pub(crate) const PUSHED_SECONDS: i64 = 60;
/// How long an ID token is valid.
const ID_TOKEN_SECONDS: i64 = 600;
/// The subject of the fault hook's users and minted tokens by default.
pub(crate) const SUBJECT: &str = "alice";
/// Above this many minted tokens, expired ones are forgotten.
const TOKEN_CAPACITY: usize = 10_000;

/// The client the issuer was started with.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
}

/// A login the issuer granted: what a code and a refresh token stand for.
#[derive(Clone)]
pub(crate) struct Grant {
    /// Who logged in; `None` for a code of the fault hook's `issue_code`:
    /// then the user named by `Behaviour::subject` when it is redeemed.
    pub(crate) user: Option<Arc<TestUser>>,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) nonce: Option<String>,
    /// `code_challenge` and `code_challenge_method` (RFC 7636 §4.3).
    pub(crate) challenge: Option<(String, Option<String>)>,
    pub(crate) scope: String,
    /// The login session at the issuer (none for `issue_code`).
    pub(crate) sid: Option<String>,
    pub(crate) auth_time: i64,
    /// The first of the requested `acr_values`: the ID token's `acr`.
    pub(crate) acr: Option<String>,
}

/// A refresh token's grant; `active` is false once revoked or rotated away.
#[derive(Clone)]
struct RefreshGrant {
    grant: Grant,
    active: bool,
}

/// A minted access token: its introspection answer, and the user it
/// speaks for (none for client credentials and minted tokens).
#[derive(Clone)]
pub(crate) struct Minted {
    pub(crate) claims: Map<String, Value>,
    pub(crate) user: Option<Arc<TestUser>>,
    pub(crate) revoked: bool,
}

/// A login session at the issuer, for back-channel logout.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) sid: String,
    pub(crate) subject: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) started: i64,
}

#[derive(Default)]
struct Ledger {
    codes: HashMap<String, (Grant, i64, bool)>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    tokens: HashMap<String, Minted>,
    sessions: Vec<Session>,
    /// Browsers logged in at the issuer (its own cookie), for `prompt=none`.
    browsers: HashMap<String, Arc<TestUser>>,
    /// Origins of the redirect URIs seen: where a logout may return.
    origins: HashSet<String>,
    /// Dynamically registered clients (RFC 7591): id → secret.
    registered: HashMap<String, String>,
    /// Pushed authorization requests (RFC 9126), by `request_uri`, with
    /// when they expire.
    pushed: HashMap<String, (Vec<(String, String)>, i64)>,
}

/// An error answer: OAuth's (RFC 6749 §5.2), or a raw body a broken
/// provider would send.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    /// The `error` code (`raw <status>` for a raw body).
    pub(crate) error: String,
    pub(crate) description: String,
    /// A raw answer instead of the JSON error: content type and body.
    pub(crate) raw: Option<(&'static str, String)>,
}

pub(crate) fn refuse(status: u16, error: &str, description: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error: error.into(),
        description: description.into(),
        raw: None,
    }
}

/// The error an endpoint told to fail with `failure` answers (`Delay`:
/// none, the route waits); `Garbage` comes with `garbage_status`.
pub(crate) fn told_to_fail(failure: &Option<Failure>, garbage_status: u16) -> Result<(), Refusal> {
    let raw = |status: u16, content_type: &'static str, body: &str| Refusal {
        status,
        error: format!("raw {status}"),
        description: String::new(),
        raw: Some((content_type, body.into())),
    };
    match failure {
        Some(Failure::ServerError) => Err(raw(500, "text/plain", "internal server error")),
        Some(Failure::Garbage) => Err(raw(garbage_status, "application/json", "<html>this is not json")),
        Some(Failure::OAuthError { status, error }) => Err(refuse(*status, error, "the test issuer was told to fail")),
        Some(Failure::Delay(_)) | None => Ok(()),
    }
}

/// Where the browser goes after the authorization endpoint.
#[derive(Debug)]
pub(crate) struct AuthorizationResponse {
    /// The client's redirect URI.
    pub(crate) redirect_uri: String,
    /// `code`, `state`, `iss` (or `error`, `error_description`, ...).
    pub(crate) params: Vec<(String, String)>,
    /// `response_mode=form_post`: a POST of `params` rather than a query.
    pub(crate) form_post: bool,
}

impl AuthorizationResponse {
    /// The redirect URI with `params` in its query.
    pub(crate) fn location(&self) -> String {
        let mut url = match Url::parse(&self.redirect_uri) {
            Ok(url) => url,
            Err(_) => return self.redirect_uri.clone(),
        };
        url.query_pairs_mut().extend_pairs(&self.params);
        url.into()
    }
}

/// What the user decided at the authorization endpoint.
pub(crate) enum Decision {
    Approve(Arc<TestUser>),
    Deny,
    /// No interaction: `prompt=none` with the user the browser is logged in as, if any.
    Silent(Option<Arc<TestUser>>),
}

/// The issuer's state. Shared by its HTTP routes and the test API.
pub(crate) struct Core {
    issuer: OnceLock<String>,
    /// The client it was started with.
    pub(crate) client: Client,
    pub(crate) signer: Signer,
    /// A key never published: what a forged token is signed with.
    pub(crate) stray: Signer,
    pub(crate) access_token_seconds: i64,
    pub(crate) backchannel_logout_uri: Option<String>,
    ledger: Mutex<Ledger>,
    behaviour: Mutex<Behaviour>,
    journal: Mutex<Journal>,
    pub(crate) clock: AppClock,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent maps: carry on.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Core {
    pub(crate) fn new(
        client: Client,
        access_token_seconds: i64,
        backchannel_logout_uri: Option<String>,
        clock: AppClock,
    ) -> Option<Core> {
        Some(Core {
            issuer: OnceLock::new(),
            behaviour: Mutex::new(Behaviour::new(&client.id, &client.secret)),
            client,
            signer: Signer::generate()?,
            stray: Signer::generate()?,
            access_token_seconds,
            backchannel_logout_uri,
            ledger: Mutex::new(Ledger::default()),
            journal: Mutex::new(Journal::default()),
            clock,
        })
    }

    pub(crate) fn set_issuer(&self, issuer: String) {
        let _ = self.issuer.set(issuer);
    }

    /// The issuer identifier (`http://127.0.0.1:<port>`).
    pub(crate) fn issuer(&self) -> &str {
        self.issuer.get().map(String::as_str).unwrap_or_default()
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        lock(&self.ledger)
    }

    /// The fault hook's knobs, as they are now.
    pub(crate) fn behaviour(&self) -> Behaviour {
        lock(&self.behaviour).clone()
    }

    /// Changes the knobs.
    pub(crate) fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut lock(&self.behaviour));
    }

    /// What the issuer was sent.
    pub(crate) fn journal(&self) -> MutexGuard<'_, Journal> {
        lock(&self.journal)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// The discovery document (OpenID Connect Discovery 1.0 §3).
    pub(crate) fn discovery(&self) -> Value {
        let b = self.behaviour();
        let basic_or_post = json!(["client_secret_basic", "client_secret_post"]);
        let mut doc = json!({
            "issuer": self.issuer(),
            "authorization_endpoint": self.endpoint("/authorize"),
            "token_endpoint": self.endpoint("/token"),
            "jwks_uri": self.endpoint("/jwks"),
            "userinfo_endpoint": self.endpoint("/userinfo"),
            "introspection_endpoint": self.endpoint("/introspect"),
            "revocation_endpoint": self.endpoint("/revoke"),
            "end_session_endpoint": self.endpoint("/logout"),
            "registration_endpoint": self.endpoint("/register"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [b.alg().name()],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "email"],
            "token_endpoint_auth_methods_supported": basic_or_post,
            "introspection_endpoint_auth_methods_supported": basic_or_post,
            "revocation_endpoint_auth_methods_supported": basic_or_post,
            "code_challenge_methods_supported": ["S256"],
            "claims_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        });
        merge(&mut doc, &b.discovery);
        doc
    }

    /// The public keys (RFC 7517 §5).
    pub(crate) fn jwks(&self, b: &Behaviour) -> Value {
        if let Some(body) = &b.jwks_body {
            return body.clone();
        }
        let keys: Vec<Value> = b
            .jwks
            .iter()
            .map(|key| {
                let mut jwk = match key {
                    Key::Issuer => self.signer.public_jwk(),
                    key => key.jwk(),
                };
                if let Some(kid) = &b.jwks_kid {
                    jwk["kid"] = json!(kid);
                }
                jwk
            })
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` as `signing` says, with a header `{alg, typ, kid}`
    /// and `header_overrides` merged over it.
    pub(crate) fn sign(
        &self,
        b: &Behaviour,
        signing: &Signing,
        typ: &str,
        header_overrides: &Map<String, Value>,
        claims: &Value,
    ) -> String {
        let with = |key: Key| match key {
            Key::Issuer => (Alg::Es256.name(), jose::Signature::With(self.signer.key(), Alg::Es256)),
            key => (Alg::Rs256.name(), jose::Signature::With(key.signing_key(), Alg::Rs256)),
        };
        // The key-confusion secret: the active key's public half as the
        // attacker reads it (PEM for RSA; the issuer's own key as its JWK).
        let public = match (signing, b.signing_key) {
            (Signing::Hs256WithPublicKeyPem, Key::Issuer) => self.signer.public_jwk().to_string(),
            (Signing::Hs256WithPublicKeyPem, key) => key.public_key_pem(),
            _ => String::new(),
        };
        let (alg, how) = match signing {
            Signing::Active | Signing::DuplicateSub(_) | Signing::CorruptSignature => with(b.signing_key),
            Signing::With(key) => with(*key),
            Signing::None => ("none", jose::Signature::Unsigned),
            Signing::Hs256WithPublicKeyPem => ("HS256", jose::Signature::Hmac(public.as_bytes())),
            Signing::Hs256WithClientSecret => ("HS256", jose::Signature::Hmac(b.client_secret.as_bytes())),
        };
        let mut header = json!({ "alg": alg, "typ": typ });
        if !matches!(signing, Signing::None | Signing::Hs256WithClientSecret) {
            header["kid"] = json!(match b.signing_key {
                Key::Issuer => self.signer.kid(),
                key => key.kid(),
            });
        }
        merge(&mut header, header_overrides);
        let mut text = claims.to_string();
        if let Signing::DuplicateSub(second) = signing {
            text = format!("{},\"sub\":{}}}", text.trim_end_matches('}'), json!(second));
        }
        // Every mode pairs a key with an algorithm it signs: a failure is a
        // bug of the kit, and an empty token would make refusal tests pass
        // for the wrong reason.
        let jws = match jose::encode_text(&header.to_string(), &text, how) {
            Ok(jws) => jws,
            Err(error) => panic!("the test issuer could not sign ({signing:?}): {error}"),
        };
        if *signing != Signing::CorruptSignature {
            return jws;
        }
        let Some((input, signature)) = jws.rsplit_once('.') else {
            return jws;
        };
        let mut signature = jose::b64_decode(signature).unwrap_or_default();
        let middle = signature.len() / 2;
        if let Some(byte) = signature.get_mut(middle) {
            *byte ^= 0x01;
        }
        format!("{input}.{}", jose::b64(signature))
    }

    /// Whether `id`/`secret` is the client or a registered one, compared in
    /// constant time.
    fn known_client(&self, b: &Behaviour, id: &str, secret: &str) -> bool {
        let same = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
        (id == b.client_id && same(secret, &b.client_secret))
            || self
                .ledger()
                .registered
                .get(id)
                .is_some_and(|known| same(secret, known))
    }

    /// Authenticates the client of a request; its `client_id`.
    pub(crate) fn check_client(
        &self,
        b: &Behaviour,
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<String, Refusal> {
        let param = |name: &str| find_param(form, name);
        let invalid_client = || refuse(401, "invalid_client", "client authentication failed");
        // RFC 6749 §2.3: a client MUST NOT use more than one method.
        let two_methods = || refuse(400, "invalid_request", "more than one client authentication method");
        let basic = || -> Result<Option<(String, String)>, Refusal> {
            let Some(value) = authorization else { return Ok(None) };
            let encoded = value.strip_prefix("Basic ").ok_or_else(invalid_client)?;
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded first.
            Ok(Some((form_decode(id), form_decode(secret))))
        };
        let post = || param("client_id").zip(param("client_secret"));
        let checked = |id: String, secret: &str| {
            if self.known_client(b, &id, secret) {
                Ok(id)
            } else {
                Err(invalid_client())
            }
        };
        match &b.client_auth {
            ClientAuth::Either => match (basic()?, post()) {
                (Some(_), Some(_)) => Err(two_methods()),
                (Some((id, secret)), None) => checked(id, &secret),
                (None, Some((id, secret))) => checked(id.to_string(), secret),
                (None, None) => Err(invalid_client()),
            },
            ClientAuth::Basic => {
                let (id, secret) = basic()?.ok_or_else(invalid_client)?;
                let id = checked(id, &secret)?;
                if param("client_secret").is_some() {
                    return Err(two_methods());
                }
                Ok(id)
            }
            ClientAuth::Post => {
                if authorization.is_some() {
                    return Err(two_methods());
                }
                let (id, secret) = post().ok_or_else(invalid_client)?;
                checked(id.to_string(), secret)
            }
            ClientAuth::Assertion(jwk) => {
                if authorization.is_some() || param("client_secret").is_some() {
                    return Err(two_methods());
                }
                if param("client_assertion_type") != Some(JWT_BEARER) {
                    return Err(invalid_client());
                }
                let assertion = param("client_assertion").ok_or_else(invalid_client)?;
                record(&mut self.journal().raw_assertions, assertion.to_string());
                let (header, claims) = self
                    .check_assertion(b, jwk.as_ref(), assertion)
                    .ok_or_else(invalid_client)?;
                record(&mut self.journal().assertions, (header, claims.clone()));
                let id = claims["sub"].as_str().unwrap_or_default().to_string();
                if param("client_id").is_some_and(|sent| sent != id) {
                    return Err(invalid_client());
                }
                Ok(id)
            }
        }
    }

    /// The header and claims of a client assertion that verifies and is
    /// well-formed (RFC 7523 §3), its `jti` never seen before.
    fn check_assertion(&self, b: &Behaviour, jwk: Option<&Value>, assertion: &str) -> Option<(Value, Value)> {
        use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
        let jws = CompactJws::parse(assertion)?;
        let header = Value::Object(jws.header.clone());
        let claims = Value::Object(jws.unverified_claims()?);
        let verified = match jwk {
            Some(jwk) => {
                let key: CoreJsonWebKey = serde_json::from_value(jwk.clone()).ok()?;
                let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).ok()?;
                !matches!(alg, CoreJwsSigningAlgorithm::None | CoreJwsSigningAlgorithm::HmacSha256)
                    && jws.verifies_with(&key, &alg)
            }
            None => {
                use hmac::Mac;
                let (input, signature) = assertion.rsplit_once('.')?;
                let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b.client_secret.as_bytes()).ok()?;
                mac.update(input.as_bytes());
                header["alg"] == "HS256" && mac.verify_slice(&jose::b64_decode(signature)?).is_ok()
            }
        };
        let now = self.clock.now();
        let fresh = claims["exp"].as_i64().is_some_and(|exp| exp > now && exp <= now + 300);
        let jti = claims["jti"].as_str()?.to_string();
        let unseen = !self.journal().assertions.iter().any(|(_, c)| c["jti"] == jti.as_str());
        let ok = verified
            && fresh
            && unseen
            && claims["iss"] == b.client_id.as_str()
            && claims["sub"] == b.client_id.as_str()
            && self.accepts_audience(b, &claims["aud"]);
        ok.then_some((header, claims))
    }

    /// Whether a client assertion's `aud` names this issuer: its identifier
    /// (draft-ietf-oauth-rfc7523bis) or, as many servers still accept, its
    /// token endpoint; or exactly what `Behaviour::assertion_audiences` lists.
    fn accepts_audience(&self, b: &Behaviour, aud: &Value) -> bool {
        let accepted = b
            .assertion_audiences
            .clone()
            .unwrap_or_else(|| vec![self.issuer().to_string(), self.endpoint("/token")]);
        aud.as_str().is_some_and(|aud| accepted.iter().any(|a| a == aud))
    }

    /// The authorization endpoint (OIDC Core §3.1.2): checks the request and
    /// applies the user's decision. `Err` when the request is too broken to
    /// answer the client at all (unknown client, bad redirect URI).
    pub(crate) fn authorize(
        &self,
        params: &HashMap<String, String>,
        decision: Decision,
    ) -> Result<AuthorizationResponse, Refusal> {
        let mut params = params.clone();
        // RFC 9126 §4: a pushed request stands in for the parameters (only
        // its own), once, within its lifetime, for the client that pushed it.
        if let Some(request_uri) = params.get("request_uri") {
            let (pushed, expires) = self
                .ledger()
                .pushed
                .remove(request_uri)
                .ok_or_else(|| refuse(400, "invalid_request_uri", "unknown or used request_uri"))?;
            let pushed: HashMap<String, String> = pushed.into_iter().collect();
            if expires <= self.clock.now() {
                return Err(refuse(400, "invalid_request_uri", "expired request_uri"));
            }
            if params.get("client_id") != pushed.get("client_id") {
                return Err(refuse(
                    400,
                    "invalid_request",
                    "client_id differs from the pushed request's",
                ));
            }
            params = pushed;
        }
        let param = |name: &str| params.get(name).map(String::as_str);
        let client_id = param("client_id").ok_or_else(|| refuse(400, "invalid_request", "no client_id"))?;
        let b = self.behaviour();
        if client_id != b.client_id && !self.ledger().registered.contains_key(client_id) {
            return Err(refuse(400, "invalid_client", format!("unknown client `{client_id}`")));
        }
        let redirect_uri = param("redirect_uri").ok_or_else(|| refuse(400, "invalid_request", "no redirect_uri"))?;
        let redirect = Url::parse(redirect_uri)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.fragment().is_none())
            .ok_or_else(|| refuse(400, "invalid_request", "redirect_uri is not an absolute http(s) URL"))?;

        let response = AuthorizationResponse {
            redirect_uri: redirect_uri.to_string(),
            params: Vec::new(),
            form_post: param("response_mode") == Some("form_post"),
        };
        let state = param("state").map(str::to_string);
        let finish = |mut response: AuthorizationResponse, mut params: Vec<(String, String)>| {
            if let Some(state) = &state {
                params.push(("state".into(), state.clone()));
            }
            params.push(("iss".into(), self.issuer().to_string()));
            response.params = params;
            response
        };
        let error = |response: AuthorizationResponse, error: &str, description: &str| {
            finish(
                response,
                vec![
                    ("error".into(), error.to_string()),
                    ("error_description".into(), description.to_string()),
                ],
            )
        };

        if param("response_type") != Some("code") {
            return Ok(error(response, "unsupported_response_type", "only response_type=code"));
        }
        let scope = param("scope").unwrap_or_default();
        if !scope.split(' ').any(|s| s == "openid") {
            return Ok(error(response, "invalid_scope", "the scope must contain openid"));
        }
        if param("code_challenge").is_some() && param("code_challenge_method") != Some("S256") {
            return Ok(error(response, "invalid_request", "code_challenge_method must be S256"));
        }
        let user = match decision {
            Decision::Approve(user) => user,
            Decision::Deny => return Ok(error(response, "access_denied", "the user refused")),
            Decision::Silent(Some(user)) => user,
            Decision::Silent(None) => return Ok(error(response, "login_required", "nobody is logged in here")),
        };

        let now = self.clock.now();
        let sid = random_token();
        let mut grant = grant_of(|name| param(name), now);
        grant.user = Some(user.clone());
        grant.sid = Some(sid.clone());
        let code = random_token();
        {
            let mut ledger = self.ledger();
            ledger.origins.insert(redirect.origin().ascii_serialization());
            ledger.sessions.push(Session {
                sid,
                subject: user.subject.clone(),
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                started: now,
            });
            ledger.codes.retain(|_, (_, expires, _)| *expires > now);
            ledger.codes.insert(code.clone(), (grant, now + CODE_SECONDS, false));
        }
        Ok(finish(response, vec![("code".into(), code)]))
    }

    /// The fault hook's shortcut past the authorization endpoint: a code for
    /// these authorization request parameters, unchecked, for the user
    /// `Behaviour::subject` names when it is redeemed.
    pub(crate) fn issue_code(&self, params: &[(String, String)]) -> String {
        let now = self.clock.now();
        let grant = grant_of(|name| find_param(params, name), now);
        let code = random_token();
        let mut ledger = self.ledger();
        if let Some(origin) = Url::parse(&grant.redirect_uri)
            .ok()
            .map(|url| url.origin().ascii_serialization())
        {
            ledger.origins.insert(origin);
        }
        ledger.codes.retain(|_, (_, expires, _)| *expires > now);
        ledger.codes.insert(code.clone(), (grant, now + CODE_SECONDS, false));
        code
    }

    /// The parameters a pushed `request_uri` stands for (without using it).
    pub(crate) fn pushed(&self, request_uri: &str) -> Option<Vec<(String, String)>> {
        self.ledger().pushed.get(request_uri).map(|(params, _)| params.clone())
    }

    /// The token endpoint (RFC 6749 §4.1.3, §6, §4.4).
    pub(crate) fn token(&self, authorization: Option<&str>, form: &[(String, String)]) -> Result<Value, Refusal> {
        let b = self.behaviour();
        told_to_fail(&b.token_failure, 200)?;
        for (name, _) in form {
            if form.iter().filter(|(k, _)| k == name).count() > 1 {
                return Err(refuse(400, "invalid_request", "repeated parameter"));
            }
        }
        let client_id = self.check_client(&b, authorization, form)?;
        let param = |name: &str| find_param(form, name);
        match param("grant_type") {
            Some("authorization_code") => self.redeem(&b, &client_id, form),
            Some("refresh_token") => self.refresh(&b, &client_id, form),
            Some("client_credentials") => Ok(self.client_credentials(&b, &client_id, form)),
            _ => Err(refuse(
                400,
                "unsupported_grant_type",
                "authorization_code, refresh_token or client_credentials",
            )),
        }
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.6: the code's tokens, once.
    fn redeem(&self, b: &Behaviour, client_id: &str, form: &[(String, String)]) -> Result<Value, Refusal> {
        let param = |name: &str| find_param(form, name);
        let code = param("code").ok_or_else(|| refuse(400, "invalid_request", "no code"))?;
        let grant = {
            let mut ledger = self.ledger();
            let (grant, expires, used) = ledger
                .codes
                .get_mut(code)
                .ok_or_else(|| refuse(400, "invalid_grant", "unknown code"))?;
            if *used {
                return Err(refuse(400, "invalid_grant", "code already used"));
            }
            *used = true;
            if *expires <= self.clock.now() {
                return Err(refuse(400, "invalid_grant", "expired code"));
            }
            grant.clone()
        };
        // RFC 6749 §4.1.3: the code's client, authenticated, and the same
        // `client_id` if the form names one besides the authentication.
        if grant.client_id != client_id || param("client_id").is_some_and(|sent| sent != grant.client_id) {
            return Err(refuse(400, "invalid_grant", "code issued to another client"));
        }
        if param("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Err(refuse(
                400,
                "invalid_grant",
                "redirect_uri differs from the authorization request",
            ));
        }
        match (&grant.challenge, param("code_verifier")) {
            (Some((challenge, method)), Some(verifier)) => {
                let computed = jose::b64(Sha256::digest(verifier.as_bytes()));
                if method.as_deref() != Some("S256") || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                    return Err(refuse(400, "invalid_grant", "PKCE verification failed"));
                }
            }
            (Some(_), None) => return Err(refuse(400, "invalid_grant", "missing code_verifier")),
            (None, Some(_)) => return Err(refuse(400, "invalid_grant", "unexpected code_verifier")),
            (None, None) => return Err(refuse(400, "invalid_request", "PKCE is required")),
        }
        let user = self.user_of(b, &grant);
        let now = self.clock.now();
        let mut claims = self.id_token_claims(&grant, &user, now);
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = json!(nonce);
        }
        merge(&mut claims, &b.claims);
        let mut response = json!({
            "access_token": self.user_access_token(&grant, &user),
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
            "refresh_token": random_token(),
            "scope": grant.scope,
            "id_token": self.sign(b, &b.signing, "JWT", &b.header, &claims),
        });
        merge(&mut response, &b.token_response);
        if let Some(refresh_token) = response.get("refresh_token").and_then(Value::as_str) {
            let mut grant = grant.clone();
            grant.user = Some(user);
            self.ledger()
                .refresh_tokens
                .insert(refresh_token.to_string(), RefreshGrant { grant, active: true });
        }
        Ok(response)
    }

    /// RFC 6749 §6 and OpenID Connect Core §12: new tokens for a refresh
    /// token issued to this client.
    fn refresh(&self, b: &Behaviour, client_id: &str, form: &[(String, String)]) -> Result<Value, Refusal> {
        told_to_fail(&b.refresh_failure, 200)?;
        let used =
            find_param(form, "refresh_token").ok_or_else(|| refuse(400, "invalid_request", "no refresh_token"))?;
        let grant = {
            let mut ledger = self.ledger();
            let refresh = ledger
                .refresh_tokens
                .get_mut(used)
                .ok_or_else(|| refuse(400, "invalid_grant", "unknown refresh token"))?;
            if !refresh.active {
                return Err(refuse(400, "invalid_grant", "refresh token revoked or rotated"));
            }
            if refresh.grant.client_id != client_id {
                return Err(refuse(400, "invalid_grant", "refresh token issued to another client"));
            }
            if b.refresh_rotation {
                refresh.active = false;
            }
            refresh.grant.clone()
        };
        let user = self.user_of(b, &grant);
        let mut response = json!({
            "access_token": self.user_access_token(&grant, &user),
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
            "scope": grant.scope,
        });
        if b.refresh_rotation {
            response["refresh_token"] = json!(random_token());
        }
        if b.refresh_id_token {
            let mut claims = self.id_token_claims(&grant, &user, self.clock.now());
            merge(&mut claims, &b.refresh_claims);
            response["id_token"] = json!(self.sign(b, &b.signing, "JWT", &b.header, &claims));
        }
        merge(&mut response, &b.refresh_response);
        if let Some(issued) = response.get("refresh_token").and_then(Value::as_str)
            && issued != used
        {
            self.ledger()
                .refresh_tokens
                .insert(issued.to_string(), RefreshGrant { grant, active: true });
        }
        Ok(response)
    }

    /// RFC 6749 §4.4.3: a token for the client itself (no `sub`, no ID
    /// token, no refresh token). Extra parameters (`resource`, `audience`)
    /// are echoed in the token's introspection answer.
    fn client_credentials(&self, b: &Behaviour, client_id: &str, form: &[(String, String)]) -> Value {
        let mut response = json!({
            "access_token": random_token(),
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
        });
        if let Some(scope) = find_param(form, "scope") {
            response["scope"] = json!(scope);
        }
        merge(&mut response, &b.client_credentials_response);
        let now = self.clock.now();
        let mut claims = Map::new();
        claims.insert("client_id".into(), json!(client_id));
        claims.insert("aud".into(), json!(client_id));
        claims.insert("iss".into(), json!(self.issuer()));
        claims.insert("iat".into(), json!(now));
        if let Some(scope) = response.get("scope").and_then(Value::as_str) {
            claims.insert("scope".into(), json!(scope));
        }
        if let Some(expires_in) = response.get("expires_in").and_then(Value::as_i64) {
            claims.insert("exp".into(), json!(now.saturating_add(expires_in)));
        }
        for (k, v) in form {
            if !["grant_type", "scope", "client_id", "client_secret"].contains(&k.as_str()) {
                claims.insert(k.clone(), json!(v));
            }
        }
        if let Some(token) = response.get("access_token").and_then(Value::as_str) {
            self.remember(token.to_string(), claims, None);
        }
        response
    }

    /// The user a grant speaks for: its own, or for a code of the fault
    /// hook, `Behaviour::subject` with a name and an email.
    fn user_of(&self, b: &Behaviour, grant: &Grant) -> Arc<TestUser> {
        grant.user.clone().unwrap_or_else(|| {
            Arc::new(
                TestUser::new(b.subject.clone())
                    .claim("name", "Alice Example")
                    .userinfo_claim("name", "Alice Example")
                    .userinfo_claim("email", "alice@example.test")
                    .userinfo_claim("email_verified", true),
            )
        })
    }

    /// The claims of an ID token for a grant, issued `now` (no `nonce`).
    fn id_token_claims(&self, grant: &Grant, user: &TestUser, now: i64) -> Value {
        let mut claims = json!({
            "iss": self.issuer(),
            "aud": grant.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
            "auth_time": grant.auth_time,
        });
        if let Some(sid) = &grant.sid {
            claims["sid"] = json!(sid);
        }
        if let Some(acr) = &grant.acr {
            claims["acr"] = json!(acr);
        }
        merge(&mut claims, &user.claims);
        claims["sub"] = json!(user.subject);
        claims
    }

    /// An access token for a login, that userinfo and introspection accept.
    fn user_access_token(&self, grant: &Grant, user: &Arc<TestUser>) -> String {
        let mut claims = self.access_claims(&user.subject, &grant.client_id, &grant.scope);
        claims.insert("aud".into(), json!(grant.client_id));
        self.register(claims, Some(user.clone()))
    }

    /// The claims of an access token (RFC 9068 §2.2, RFC 7662 §2.2).
    pub(crate) fn access_claims(&self, subject: &str, client_id: &str, scope: &str) -> Map<String, Value> {
        let now = self.clock.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer()));
        claims.insert("sub".into(), json!(subject));
        claims.insert("client_id".into(), json!(client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now.saturating_add(self.access_token_seconds)));
        claims.insert("jti".into(), json!(random_token()));
        claims.insert("scope".into(), json!(scope));
        claims
    }

    /// Remembers an access token for introspection (and userinfo, with a
    /// user); returns its opaque value.
    pub(crate) fn register(&self, claims: Map<String, Value>, user: Option<Arc<TestUser>>) -> String {
        let token = random_token();
        self.remember(token.clone(), claims, user);
        token
    }

    /// Remembers `token` (opaque or a JWT) under these claims.
    pub(crate) fn remember(&self, token: String, claims: Map<String, Value>, user: Option<Arc<TestUser>>) {
        let mut ledger = self.ledger();
        if ledger.tokens.len() >= TOKEN_CAPACITY {
            let now = self.clock.now();
            ledger.tokens.retain(|_, minted| expiry(&minted.claims) > now);
        }
        ledger.tokens.insert(
            token,
            Minted {
                claims,
                user,
                revoked: false,
            },
        );
    }

    /// The introspection answer for `token` (RFC 7662 §2.2): the fault
    /// hook's, else the minted token's.
    pub(crate) fn introspect(&self, b: &Behaviour, token: Option<&str>) -> Value {
        let Some(token) = token else {
            return json!({ "active": false });
        };
        if let Some(answer) = b.introspection.get(token) {
            return answer.clone();
        }
        match self.active(token) {
            Some(minted) => {
                let mut answer = minted.claims;
                answer.insert("active".into(), json!(true));
                answer.insert("token_type".into(), json!("Bearer"));
                Value::Object(answer)
            }
            None => json!({ "active": false }),
        }
    }

    fn active(&self, token: &str) -> Option<Minted> {
        let minted = self.ledger().tokens.get(token).cloned()?;
        (!minted.revoked && expiry(&minted.claims) > self.clock.now()).then_some(minted)
    }

    /// Whether an access token is minted here and neither revoked nor expired.
    pub(crate) fn is_active(&self, token: &str) -> bool {
        self.active(token).is_some()
    }

    /// Whether a refresh token is issued here and still usable.
    pub(crate) fn refresh_token_is_active(&self, token: &str) -> bool {
        self.ledger()
            .refresh_tokens
            .get(token)
            .is_some_and(|refresh| refresh.active)
    }

    /// The refresh tokens issued so far, in no order.
    pub(crate) fn refresh_tokens(&self) -> Vec<String> {
        self.ledger().refresh_tokens.keys().cloned().collect()
    }

    /// The userinfo answer for an access token (OIDC Core §5.3).
    pub(crate) fn userinfo(&self, b: &Behaviour, token: &str) -> Option<Value> {
        let user = self.active(token)?.user?;
        if let Some(body) = &b.userinfo_body {
            return Some(body.clone());
        }
        let mut claims = Value::Object(user.userinfo_claims());
        merge(&mut claims, &b.userinfo_claims);
        Some(claims)
    }

    /// Revokes an access or refresh token (RFC 7009 §2.1) for `client_id`
    /// (any client: `None`).
    pub(crate) fn revoke(&self, token: &str, client_id: Option<&str>) {
        let mut ledger = self.ledger();
        if let Some(minted) = ledger.tokens.get_mut(token) {
            minted.revoked = true;
        }
        if let Some(refresh) = ledger.refresh_tokens.get_mut(token)
            && client_id.is_none_or(|id| refresh.grant.client_id == id)
        {
            refresh.active = false;
        }
    }

    /// RFC 9126 §2: remembers a pushed request; its `request_uri`.
    pub(crate) fn push(&self, client_id: String, params: &[(String, String)]) -> Result<String, Refusal> {
        if find_param(params, "request_uri").is_some() {
            return Err(refuse(400, "invalid_request", "request_uri is not allowed here"));
        }
        let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_token());
        let mut pushed = params.to_vec();
        pushed.retain(|(k, _)| !k.starts_with("client_"));
        pushed.push(("client_id".into(), client_id));
        let now = self.clock.now();
        let mut ledger = self.ledger();
        ledger.pushed.retain(|_, (_, expires)| *expires > now);
        if ledger.pushed.len() >= TOKEN_CAPACITY {
            return Err(refuse(503, "temporarily_unavailable", "too many pushed requests"));
        }
        ledger
            .pushed
            .insert(request_uri.clone(), (pushed, now + PUSHED_SECONDS));
        Ok(request_uri)
    }

    /// RFC 7591 §3: registers a client from JSON metadata.
    pub(crate) fn register_client(&self, authorization: Option<&str>, body: &str) -> Result<Value, Refusal> {
        let b = self.behaviour();
        told_to_fail(&b.registration_failure, 201)?;
        if let Some(expected) = &b.registration_token
            && !authorization
                .is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(format!("Bearer {expected}").as_bytes())))
        {
            return Err(refuse(401, "invalid_token", "an initial access token is required"));
        }
        let metadata: Value =
            serde_json::from_str(body).map_err(|_| refuse(400, "invalid_client_metadata", "the body is not JSON"))?;
        let redirect_uris = metadata
            .get("redirect_uris")
            .and_then(Value::as_array)
            .filter(|uris| !uris.is_empty() && uris.iter().all(Value::is_string))
            .cloned()
            .ok_or_else(|| refuse(400, "invalid_redirect_uri", "redirect_uris is required"))?;
        let mut response = json!({
            "client_id": format!("dyn-{}", random_token()),
            "client_secret": random_token(),
            "client_id_issued_at": self.clock.now(),
            "client_secret_expires_at": 0,
            "redirect_uris": redirect_uris,
            "response_types": metadata.get("response_types").cloned().unwrap_or(json!(["code"])),
            "grant_types": metadata.get("grant_types").cloned().unwrap_or(json!(["authorization_code"])),
            "token_endpoint_auth_method": metadata
                .get("token_endpoint_auth_method")
                .cloned()
                .unwrap_or(json!("client_secret_basic")),
        });
        if let Some(uris) = metadata.get("post_logout_redirect_uris") {
            response["post_logout_redirect_uris"] = uris.clone();
        }
        merge(&mut response, &b.registration_response);
        if let (Some(id), Some(secret)) = (
            response.get("client_id").and_then(Value::as_str),
            response.get("client_secret").and_then(Value::as_str),
        ) {
            self.accept_client(id, secret);
        }
        Ok(response)
    }

    /// Makes `id`/`secret` a client the endpoints accept.
    pub(crate) fn accept_client(&self, id: &str, secret: &str) {
        let mut ledger = self.ledger();
        if ledger.registered.len() >= TOKEN_CAPACITY {
            ledger.registered.clear(); // a development convenience only: register again
        }
        ledger.registered.insert(id.into(), secret.into());
    }

    /// Ends the login sessions of `subject` (all when `None`) for a
    /// back-channel logout; returns them.
    pub(crate) fn end_sessions(&self, subject: Option<&str>, sid: Option<&str>) -> Vec<Session> {
        let mut ledger = self.ledger();
        let (ended, kept): (Vec<Session>, Vec<Session>) = ledger.sessions.drain(..).partition(|session| {
            subject.is_none_or(|subject| session.subject == subject) && sid.is_none_or(|sid| session.sid == sid)
        });
        ledger.sessions = kept;
        ledger.refresh_tokens.retain(|_, refresh| {
            !ended
                .iter()
                .any(|session| refresh.grant.sid.as_deref() == Some(session.sid.as_str()))
        });
        ended
    }

    /// The login sessions at the issuer, oldest first.
    pub(crate) fn sessions(&self) -> Vec<Session> {
        self.ledger().sessions.clone()
    }

    /// A logout token (Back-Channel Logout 1.0 §2.4) with `overrides`
    /// merged over the default claims (`sub`: [`SUBJECT`]).
    pub(crate) fn logout_token_with(
        &self,
        overrides: &Map<String, Value>,
        header: &Map<String, Value>,
        signing: &Signing,
    ) -> String {
        let b = self.behaviour();
        let now = self.clock.now();
        let mut claims = json!({
            "iss": self.issuer(),
            "aud": b.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": random_token(),
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
            "sub": SUBJECT,
        });
        merge(&mut claims, overrides);
        self.sign(&b, signing, "logout+jwt", header, &claims)
    }

    /// A logout token for a session at the issuer.
    pub(crate) fn logout_token(&self, session: &Session) -> String {
        let mut claims = Map::new();
        claims.insert("aud".into(), json!(session.client_id));
        claims.insert("sub".into(), json!(session.subject));
        claims.insert("sid".into(), json!(session.sid));
        self.logout_token_with(&claims, &Map::new(), &Signing::Active)
    }

    /// Remembers a browser as logged in as `user`; returns its cookie value.
    pub(crate) fn remember_browser(&self, user: Arc<TestUser>) -> String {
        let id = random_token();
        let mut ledger = self.ledger();
        if ledger.browsers.len() >= TOKEN_CAPACITY {
            ledger.browsers.clear(); // a development convenience only: prompt=none then asks again
        }
        ledger.browsers.insert(id.clone(), user);
        id
    }

    /// The user a browser is logged in as, by its cookie value.
    pub(crate) fn browser(&self, id: &str) -> Option<Arc<TestUser>> {
        self.ledger().browsers.get(id).cloned()
    }

    /// Forgets a browser's login.
    pub(crate) fn forget_browser(&self, id: &str) {
        self.ledger().browsers.remove(id);
    }

    /// Whether a logout may send the browser to `uri`: only to the origin
    /// of a redirect URI a client used.
    pub(crate) fn may_return_to(&self, uri: &str) -> bool {
        Url::parse(uri).is_ok_and(|url| self.ledger().origins.contains(&url.origin().ascii_serialization()))
    }
}

/// The grant an authorization request's parameters describe, at `now`.
fn grant_of<'a>(param: impl Fn(&str) -> Option<&'a str>, now: i64) -> Grant {
    Grant {
        user: None,
        client_id: param("client_id").unwrap_or_default().to_string(),
        redirect_uri: param("redirect_uri").unwrap_or_default().to_string(),
        nonce: param("nonce").map(str::to_string),
        challenge: param("code_challenge").map(|c| (c.to_string(), param("code_challenge_method").map(str::to_string))),
        scope: param("scope").unwrap_or_default().to_string(),
        sid: None,
        auth_time: now,
        acr: param("acr_values")
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_string),
    }
}

/// One `application/x-www-form-urlencoded` component, decoded.
pub(crate) fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

fn expiry(claims: &Map<String, Value>) -> i64 {
    claims.get("exp").and_then(Value::as_i64).unwrap_or(i64::MAX)
}
