//! What the test issuer knows and decides, without HTTP: clients, the
//! authorization codes it issued, the tokens it minted, its users' sessions.
//! `server.rs` puts it on the network; `mod.rs` gives it to app tests.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use super::TestUser;
use super::signer::{Signer, random_token};
use crate::clock::AppClock;

/// Back-Channel Logout 1.0 §2.4: the event a logout token carries.
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long an authorization code may wait for its redemption.
const CODE_SECONDS: i64 = 60;
/// How long an ID token is valid.
const ID_TOKEN_SECONDS: i64 = 600;
/// Above this many minted tokens, expired ones are forgotten.
const TOKEN_CAPACITY: usize = 10_000;

/// A client the issuer knows.
#[derive(Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: String,
}

/// A login the issuer granted: what a code, a refresh token and an access
/// token from a login stand for.
#[derive(Clone)]
pub(crate) struct Grant {
    pub(crate) user: Arc<TestUser>,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) nonce: Option<String>,
    pub(crate) challenge: Option<String>,
    pub(crate) scope: String,
    pub(crate) sid: String,
    pub(crate) auth_time: i64,
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
    codes: HashMap<String, (Grant, i64)>,
    refresh_tokens: HashMap<String, Grant>,
    tokens: HashMap<String, Minted>,
    sessions: Vec<Session>,
    /// Browsers logged in at the issuer (its own cookie), for `prompt=none`.
    browsers: HashMap<String, Arc<TestUser>>,
    /// Origins of the redirect URIs seen: where a logout may return.
    origins: HashSet<String>,
}

/// An OAuth error answer (RFC 6749 §5.2) or a refusal of a request.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

fn refuse(status: u16, error: &'static str, description: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        description: description.into(),
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
    pub(crate) clients: Vec<Client>,
    pub(crate) signer: Signer,
    /// A key never published: what a forged token is signed with.
    pub(crate) stray: Signer,
    pub(crate) access_token_seconds: i64,
    pub(crate) backchannel_logout_uri: Option<String>,
    ledger: Mutex<Ledger>,
    pub(crate) clock: AppClock,
}

impl Core {
    pub(crate) fn new(
        clients: Vec<Client>,
        access_token_seconds: i64,
        backchannel_logout_uri: Option<String>,
        clock: AppClock,
    ) -> Option<Core> {
        Some(Core {
            issuer: OnceLock::new(),
            clients,
            signer: Signer::generate()?,
            stray: Signer::generate()?,
            access_token_seconds,
            backchannel_logout_uri,
            ledger: Mutex::new(Ledger::default()),
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
        // A panic while holding the lock leaves consistent maps: carry on.
        self.ledger.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer())
    }

    /// The discovery document (OpenID Connect Discovery 1.0 §3).
    pub(crate) fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer(),
            "authorization_endpoint": self.endpoint("/authorize"),
            "token_endpoint": self.endpoint("/token"),
            "jwks_uri": self.endpoint("/jwks"),
            "userinfo_endpoint": self.endpoint("/userinfo"),
            "introspection_endpoint": self.endpoint("/introspect"),
            "revocation_endpoint": self.endpoint("/revoke"),
            "end_session_endpoint": self.endpoint("/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        })
    }

    /// The public keys (RFC 7517 §5).
    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": [self.signer.public_jwk()] })
    }

    /// The client with this id and secret, compared in constant time.
    pub(crate) fn authenticate(&self, id: &str, secret: &str) -> Result<&Client, Refusal> {
        self.clients
            .iter()
            .find(|client| client.id == id && bool::from(client.secret.as_bytes().ct_eq(secret.as_bytes())))
            .ok_or_else(|| refuse(401, "invalid_client", "unknown client or wrong secret"))
    }

    fn known_client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|client| client.id == id)
    }

    /// The authorization endpoint (OIDC Core §3.1.2): checks the request and
    /// applies the user's decision. `Err` when the request is too broken to
    /// answer the client at all (unknown client, bad redirect URI).
    pub(crate) fn authorize(
        &self,
        params: &HashMap<String, String>,
        decision: Decision,
    ) -> Result<AuthorizationResponse, Refusal> {
        let param = |name: &str| params.get(name).map(String::as_str);
        let client_id = param("client_id").ok_or_else(|| refuse(400, "invalid_request", "no client_id"))?;
        self.known_client(client_id)
            .ok_or_else(|| refuse(400, "invalid_client", format!("unknown client `{client_id}`")))?;
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
        let challenge = match (param("code_challenge"), param("code_challenge_method")) {
            (Some(challenge), Some("S256")) => Some(challenge.to_string()),
            (Some(_), _) => return Ok(error(response, "invalid_request", "code_challenge_method must be S256")),
            (None, _) => None,
        };
        let user = match decision {
            Decision::Approve(user) => user,
            Decision::Deny => return Ok(error(response, "access_denied", "the user refused")),
            Decision::Silent(Some(user)) => user,
            Decision::Silent(None) => return Ok(error(response, "login_required", "nobody is logged in here")),
        };

        let now = self.clock.now();
        let grant = Grant {
            user: user.clone(),
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            nonce: param("nonce").map(str::to_string),
            challenge,
            scope: scope.to_string(),
            sid: random_token(),
            auth_time: now,
        };
        let code = random_token();
        {
            let mut ledger = self.ledger();
            ledger.origins.insert(redirect.origin().ascii_serialization());
            ledger.sessions.push(Session {
                sid: grant.sid.clone(),
                subject: user.subject.clone(),
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                started: now,
            });
            ledger.codes.retain(|_, (_, expires)| *expires > now);
            ledger.codes.insert(code.clone(), (grant, now + CODE_SECONDS));
        }
        Ok(finish(response, vec![("code".into(), code)]))
    }

    /// The token endpoint (RFC 6749 §4.1.3, §6, §4.4) for an authenticated client.
    pub(crate) fn token(&self, client: &Client, form: &HashMap<String, String>) -> Result<Value, Refusal> {
        let param = |name: &str| form.get(name).map(String::as_str);
        match param("grant_type") {
            Some("authorization_code") => {
                let code = param("code").ok_or_else(|| refuse(400, "invalid_request", "no code"))?;
                let (grant, expires) = self
                    .ledger()
                    .codes
                    .remove(code)
                    .ok_or_else(|| refuse(400, "invalid_grant", "unknown or used code"))?;
                if expires <= self.clock.now() || grant.client_id != client.id {
                    return Err(refuse(
                        400,
                        "invalid_grant",
                        "expired code, or issued to another client",
                    ));
                }
                if param("redirect_uri") != Some(grant.redirect_uri.as_str()) {
                    return Err(refuse(
                        400,
                        "invalid_grant",
                        "redirect_uri differs from the authorization request",
                    ));
                }
                match (&grant.challenge, param("code_verifier")) {
                    (Some(challenge), Some(verifier)) => {
                        let computed = crate::jose::b64(Sha256::digest(verifier.as_bytes()));
                        if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                            return Err(refuse(400, "invalid_grant", "the PKCE verifier does not match"));
                        }
                    }
                    (None, None) => {}
                    _ => {
                        return Err(refuse(
                            400,
                            "invalid_grant",
                            "PKCE verifier without challenge, or the reverse",
                        ));
                    }
                }
                Ok(self.tokens_for(&grant, grant.nonce.as_deref(), true))
            }
            Some("refresh_token") => {
                let token = param("refresh_token").ok_or_else(|| refuse(400, "invalid_request", "no refresh_token"))?;
                let grant = self
                    .ledger()
                    .refresh_tokens
                    .get(token)
                    .filter(|grant| grant.client_id == client.id)
                    .cloned()
                    .ok_or_else(|| refuse(400, "invalid_grant", "unknown or revoked refresh token"))?;
                let mut answer = self.tokens_for(&grant, None, false);
                answer["refresh_token"] = json!(token);
                Ok(answer)
            }
            Some("client_credentials") => {
                let scope = param("scope").unwrap_or_default();
                let mut claims = self.access_claims(&client.id, &client.id, scope);
                claims.insert("aud".into(), json!(client.id));
                let token = self.register(claims, None);
                Ok(json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": self.access_token_seconds,
                    "scope": scope,
                }))
            }
            _ => Err(refuse(
                400,
                "unsupported_grant_type",
                "authorization_code, refresh_token or client_credentials",
            )),
        }
    }

    /// ID token, access token (and a new refresh token) for a grant.
    fn tokens_for(&self, grant: &Grant, nonce: Option<&str>, new_refresh_token: bool) -> Value {
        let now = self.clock.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer()));
        claims.insert("aud".into(), json!(grant.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ID_TOKEN_SECONDS));
        claims.insert("auth_time".into(), json!(grant.auth_time));
        claims.insert("sid".into(), json!(grant.sid));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        for (name, value) in &grant.user.claims {
            claims.insert(name.clone(), value.clone());
        }
        claims.insert("sub".into(), json!(grant.user.subject));
        let id_token = self.signer.sign("JWT", &claims);

        let mut access = self.access_claims(&grant.user.subject, &grant.client_id, &grant.scope);
        access.insert("aud".into(), json!(grant.client_id));
        let access_token = self.register(access, Some(grant.user.clone()));
        let mut answer = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_seconds,
            "id_token": id_token,
            "scope": grant.scope,
        });
        if new_refresh_token {
            let refresh_token = random_token();
            self.ledger()
                .refresh_tokens
                .insert(refresh_token.clone(), grant.clone());
            answer["refresh_token"] = json!(refresh_token);
        }
        answer
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

    /// The introspection answer for `token` (RFC 7662 §2.2).
    pub(crate) fn introspect(&self, token: &str) -> Value {
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

    /// The userinfo answer for an access token (OIDC Core §5.3).
    pub(crate) fn userinfo(&self, token: &str) -> Option<Value> {
        let user = self.active(token)?.user?;
        Some(Value::Object(user.userinfo_claims()))
    }

    /// Revokes an access or refresh token (RFC 7009 §2.1).
    pub(crate) fn revoke(&self, token: &str) {
        let mut ledger = self.ledger();
        if let Some(minted) = ledger.tokens.get_mut(token) {
            minted.revoked = true;
        }
        ledger.refresh_tokens.remove(token);
    }

    /// Ends the login sessions of `subject` (all when `None`) for a
    /// back-channel logout; returns them.
    pub(crate) fn end_sessions(&self, subject: Option<&str>, sid: Option<&str>) -> Vec<Session> {
        let mut ledger = self.ledger();
        let (ended, kept): (Vec<Session>, Vec<Session>) = ledger.sessions.drain(..).partition(|session| {
            subject.is_none_or(|subject| session.subject == subject) && sid.is_none_or(|sid| session.sid == sid)
        });
        ledger.sessions = kept;
        ledger
            .refresh_tokens
            .retain(|_, grant| !ended.iter().any(|session| session.sid == grant.sid));
        ended
    }

    /// The login sessions at the issuer, oldest first.
    pub(crate) fn sessions(&self) -> Vec<Session> {
        self.ledger().sessions.clone()
    }

    /// A logout token (Back-Channel Logout 1.0 §2.4) for a session.
    pub(crate) fn logout_token(&self, session: &Session) -> String {
        let now = self.clock.now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer()));
        claims.insert("aud".into(), json!(session.client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 120));
        claims.insert("jti".into(), json!(random_token()));
        claims.insert("sub".into(), json!(session.subject));
        claims.insert("sid".into(), json!(session.sid));
        claims.insert("events".into(), json!({ BACKCHANNEL_LOGOUT_EVENT: {} }));
        self.signer.sign("logout+jwt", &claims)
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

fn expiry(claims: &Map<String, Value>) -> i64 {
    claims.get("exp").and_then(Value::as_i64).unwrap_or(i64::MAX)
}
