//! An in-process OpenID Provider that can be told to misbehave.
//!
//! It is a second Rocket on an ephemeral loopback port, running on its own
//! thread and Tokio runtime so it outlives nothing and depends on nothing of
//! the test's runtime. It serves discovery, the JWKS, the token endpoint
//! (authorization code and client credentials), the userinfo endpoint and
//! the introspection endpoint (RFC 7662). It also mints RFC 9068 JWT access
//! tokens with [`TestProvider::at_jwt`]. The authorization endpoint is never used: a test
//! reads the relying party's redirect (`AuthRequest`), asks the provider for
//! a code with [`TestProvider::issue_code`] and sends the callback itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{get, post, routes, State};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::jwt::{self, Key, Signature};
use super::AuthRequest;

pub const CLIENT_ID: &str = "rp";
pub const CLIENT_SECRET: &str = "rp-secret";
pub const SUBJECT: &str = "alice";

/// How the provider signs ID tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signing {
    /// RS256 with the active signing key (see `Behaviour::signing_key`).
    Rs256,
    /// RS256 with the given key, which may be absent from the JWKS. The `kid`
    /// header stays the active key's unless overridden in `Behaviour::header`.
    Rs256With(Key),
    /// A valid RS256 signature with one bit flipped.
    CorruptSignature,
    /// `alg: none`, empty signature.
    None,
    /// HS256 keyed with the PEM of the active RSA public key (key confusion).
    Hs256WithPublicKeyPem,
    /// HS256 keyed with the client secret (legitimate only when advertised).
    Hs256WithClientSecret,
}

/// How the token endpoint fails, if it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenFailure {
    /// `500 Internal Server Error` with a text body.
    ServerError,
    /// `200 OK`, `Content-Type: application/json`, body that is not JSON.
    Garbage,
    /// An RFC 6749 §5.2 error response with this status and `error` code.
    OAuthError { status: u16, error: String },
    /// Answer normally, but only after this long.
    Delay(Duration),
}

/// Which client authentication the token endpoint demands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// The knobs. Change them with [`TestProvider::behave`]; every request reads
/// them afresh.
///
/// In the override maps a `null` value removes the member.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub client_id: String,
    pub client_secret: String,
    pub client_auth: ClientAuth,
    /// `sub` of the ID token and of the default userinfo response.
    pub subject: String,
    /// Merged over the default ID token claims.
    pub claims: Map<String, Value>,
    /// Merged over the default JOSE header of the ID token.
    pub header: Map<String, Value>,
    pub signing: Signing,
    /// The key that signs ID tokens.
    pub signing_key: Key,
    /// The keys published on `jwks_uri`.
    pub jwks: Vec<Key>,
    /// Merged over the default discovery document (e.g. `issuer`,
    /// `authorization_response_iss_parameter_supported`, `token_endpoint`).
    pub discovery: Map<String, Value>,
    pub token_failure: Option<TokenFailure>,
    /// Merged over the default successful token response.
    pub token_response: Map<String, Value>,
    /// Replaces the userinfo response body entirely.
    pub userinfo_body: Option<Value>,
    /// Merged over the default userinfo response.
    pub userinfo_claims: Map<String, Value>,
    /// Merged over the default client-credentials token response
    /// (`access_token`, `token_type`, `expires_in: 3600`, `scope`: the
    /// requested one).
    pub client_credentials_response: Map<String, Value>,
    /// Introspection answers by token: the whole JSON body. A token not
    /// listed is active if this provider issued it (token endpoint or
    /// [`TestProvider::opaque_token`]), else `{"active": false}`.
    pub introspection: HashMap<String, Value>,
    /// How the introspection endpoint fails, if it does (`Delay`: it
    /// answers normally, late).
    pub introspection_failure: Option<TokenFailure>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            client_auth: ClientAuth::Basic,
            subject: SUBJECT.into(),
            claims: Map::new(),
            header: Map::new(),
            signing: Signing::Rs256,
            signing_key: Key::Current,
            jwks: vec![Key::Current],
            discovery: Map::new(),
            token_failure: None,
            token_response: Map::new(),
            userinfo_body: None,
            userinfo_claims: Map::new(),
            client_credentials_response: Map::new(),
            introspection: HashMap::new(),
            introspection_failure: None,
        }
    }
}

/// What the provider remembers of an authorization request it "approved".
#[derive(Clone, Debug)]
struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: String,
    used: bool,
}

/// One call to the token endpoint, as received.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub params: Vec<(String, String)>,
    /// `"ok"` or the OAuth error code the provider answered with.
    pub outcome: String,
    /// The access token issued, on success.
    pub access_token: Option<String>,
}

impl TokenRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One call to the userinfo endpoint, as received.
#[derive(Clone, Debug)]
pub struct UserinfoRequest {
    pub method: String,
    pub authorization: Option<String>,
    pub body: String,
}

/// One call to the introspection endpoint, as received.
#[derive(Clone, Debug)]
pub struct IntrospectionRequest {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub params: Vec<(String, String)>,
}

impl IntrospectionRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Per-endpoint request counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub discovery: usize,
    pub jwks: usize,
    pub token: usize,
    pub userinfo: usize,
    pub authorize: usize,
    pub introspection: usize,
}

/// An RFC 9068 JWT access token to mint with [`TestProvider::at_jwt_with`].
#[derive(Clone, Debug)]
pub struct AccessTokenJwt {
    /// Merged over the default claims (`iss`, `sub`, `aud: CLIENT_ID`,
    /// `client_id`, `exp: now + 600`, `iat`, `jti`, `scope: "read write"`);
    /// `null` removes one.
    pub claims: Map<String, Value>,
    /// Merged over the default header (`alg` of `signing`, `typ: at+jwt`,
    /// `kid` of the signing key); `null` removes one.
    pub header: Map<String, Value>,
    pub signing: Signing,
}

impl Default for AccessTokenJwt {
    fn default() -> Self {
        AccessTokenJwt {
            claims: Map::new(),
            header: Map::new(),
            signing: Signing::Rs256,
        }
    }
}

#[derive(Default)]
struct Shared {
    issuer: Mutex<String>,
    behaviour: Mutex<Behaviour>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    /// access token -> subject
    access_tokens: Mutex<HashMap<String, String>>,
    /// Introspection answers of the access tokens this provider issued.
    issued: Mutex<HashMap<String, Value>>,
    counts: Mutex<Counts>,
    token_requests: Mutex<Vec<TokenRequest>>,
    userinfo_requests: Mutex<Vec<UserinfoRequest>>,
    introspection_requests: Mutex<Vec<IntrospectionRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A fresh opaque value (codes, tokens).
pub fn random_token(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let digest = Sha256::digest(format!("{prefix}/{n}/{nanos}/{:?}", std::thread::current().id()));
    format!("{prefix}-{}", jwt::b64(&digest[..18]))
}

/// A loopback port that nothing listens on (at the time of the call).
pub fn reserve_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

pub struct TestProvider {
    shared: Arc<Shared>,
    pub issuer: String,
    pub port: u16,
    shutdown: rocket::Shutdown,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

impl TestProvider {
    /// Starts a provider on an ephemeral port; returns once it accepts
    /// connections.
    pub async fn start() -> TestProvider {
        Self::launch(0).await.expect("test provider launches")
    }

    /// Starts a provider on `port` (e.g. one from [`reserve_port`] that a
    /// relying party was already configured with).
    pub async fn start_on(port: u16) -> TestProvider {
        Self::launch(port)
            .await
            .expect("test provider launches on the given port")
    }

    async fn launch(port: u16) -> Result<TestProvider, String> {
        let shared = Arc::new(Shared::default());
        // No signal handlers (many providers run in one process) and a quick
        // graceful shutdown.
        let shutdown_config = rocket::config::Shutdown {
            ctrlc: false,
            #[cfg(unix)]
            signals: Default::default(),
            grace: 1,
            mercy: 1,
            ..Default::default()
        };
        let config = rocket::Config {
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            port,
            workers: 2,
            log_level: rocket::config::LogLevel::Off,
            cli_colors: false,
            shutdown: shutdown_config,
            ..rocket::Config::debug_default()
        };

        let (tx, rx) = rocket::tokio::sync::oneshot::channel::<Result<(u16, rocket::Shutdown), String>>();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let ready_tx = tx.clone();
        let ready_shared = shared.clone();
        let rocket = rocket::custom(config)
            .manage(shared.clone())
            .mount(
                "/",
                routes![
                    discovery,
                    jwks,
                    token,
                    userinfo_get,
                    userinfo_post,
                    authorize,
                    introspect
                ],
            )
            .attach(rocket::fairing::AdHoc::on_liftoff(
                "test provider ready",
                move |rocket| {
                    Box::pin(async move {
                        let port = rocket.config().port;
                        *lock(&ready_shared.issuer) = format!("http://127.0.0.1:{port}");
                        if let Some(tx) = lock(&ready_tx).take() {
                            let _ = tx.send(Ok((port, rocket.shutdown())));
                        }
                    })
                },
            ));

        std::thread::Builder::new()
            .name(format!("test-provider-{port}"))
            .spawn(move || {
                let runtime = rocket::tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("rocket-worker-test-provider")
                    .enable_all()
                    .build()
                    .expect("provider runtime");
                let result = runtime.block_on(rocket.launch());
                if let Err(e) = result {
                    let message = e.to_string();
                    if let Some(tx) = lock(&tx).take() {
                        let _ = tx.send(Err(message));
                    }
                }
                runtime.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("spawn provider thread");

        let (port, shutdown) = rx.await.map_err(|_| "provider thread ended".to_string())??;
        // Liftoff runs after the listener is bound; still, make sure.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let issuer = lock(&shared.issuer).clone();
        Ok(TestProvider {
            shared,
            issuer,
            port,
            shutdown,
        })
    }

    /// Changes the provider's behaviour from now on.
    pub fn behave(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut lock(&self.shared.behaviour));
    }

    pub fn behaviour(&self) -> Behaviour {
        lock(&self.shared.behaviour).clone()
    }

    /// Publishes only the rotated key and signs with it from now on.
    pub fn rotate_keys(&self) {
        self.behave(|b| {
            b.jwks = vec![Key::Rotated];
            b.signing_key = Key::Rotated;
        });
    }

    pub fn counts(&self) -> Counts {
        *lock(&self.shared.counts)
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.token_requests).clone()
    }

    pub fn userinfo_requests(&self) -> Vec<UserinfoRequest> {
        lock(&self.shared.userinfo_requests).clone()
    }

    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.issuer)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    pub fn introspection_endpoint(&self) -> String {
        format!("{}/introspect", self.issuer)
    }

    pub fn introspection_requests(&self) -> Vec<IntrospectionRequest> {
        lock(&self.shared.introspection_requests).clone()
    }

    /// The introspection answer of an active token as this provider gives
    /// it by default, with `overrides` merged over it (`null` removes a
    /// member): `active`, `sub`, `client_id`, `scope: "read write"`, `iss`,
    /// `aud: CLIENT_ID`, `exp: now + 600`, `iat`, `token_type`.
    pub fn active_answer(&self, overrides: Value) -> Value {
        let now = now();
        let mut answer = json!({
            "active": true,
            "sub": SUBJECT,
            "client_id": CLIENT_ID,
            "scope": "read write",
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "exp": now + 600,
            "iat": now,
            "token_type": "Bearer",
        });
        merge(&mut answer, as_object(&overrides));
        answer
    }

    /// A fresh opaque access token that introspects as
    /// [`active_answer(overrides)`](Self::active_answer).
    pub fn opaque_token(&self, overrides: Value) -> String {
        let token = random_token("opaque");
        let answer = self.active_answer(overrides);
        self.answer_introspection(&token, answer);
        token
    }

    /// A fresh opaque access token whose introspection answer is exactly
    /// `answer`.
    pub fn token_answering(&self, answer: Value) -> String {
        let token = random_token("opaque");
        self.answer_introspection(&token, answer);
        token
    }

    /// From now on, introspecting `token` answers `answer` (the whole body).
    pub fn answer_introspection(&self, token: &str, answer: Value) {
        self.behave(|b| {
            b.introspection.insert(token.to_string(), answer);
        });
    }

    /// An RFC 9068 access token (`typ: at+jwt`, RS256 with the active
    /// signing key) with `claims` merged over the default claims.
    pub fn at_jwt(&self, claims: Value) -> String {
        self.at_jwt_with(AccessTokenJwt {
            claims: as_object(&claims).clone(),
            ..AccessTokenJwt::default()
        })
    }

    /// A JWT access token with every knob.
    pub fn at_jwt_with(&self, spec: AccessTokenJwt) -> String {
        let b = self.behaviour();
        let now = now();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": SUBJECT,
            "aud": b.client_id,
            "client_id": b.client_id,
            "exp": now + 600,
            "iat": now,
            "jti": random_token("jti"),
            "scope": "read write",
        });
        merge(&mut claims, &spec.claims);
        sign(&b, &spec.signing, "at+jwt", &spec.header, &claims)
    }

    /// The relying party's provider table for this provider.
    pub fn rp_provider_config(&self) -> Value {
        let b = self.behaviour();
        json!({
            "issuer": self.issuer,
            "client_id": b.client_id,
            "client_secret": b.client_secret,
            "scopes": ["openid", "profile"],
            "userinfo_http_method": "GET",
        })
    }

    /// "Approves" the authorization request: remembers its parameters and
    /// returns a fresh single-use code bound to them, as the authorization
    /// endpoint would after the user logged in.
    pub fn issue_code(&self, auth: &AuthRequest) -> String {
        let code = random_token("code");
        let issued = IssuedCode {
            client_id: auth.param("client_id").unwrap_or_default().to_string(),
            redirect_uri: auth.param("redirect_uri").unwrap_or_default().to_string(),
            nonce: auth.param("nonce").map(str::to_string),
            code_challenge: auth.param("code_challenge").map(str::to_string),
            code_challenge_method: auth.param("code_challenge_method").map(str::to_string),
            scope: auth.param("scope").unwrap_or_default().to_string(),
            used: false,
        };
        lock(&self.shared.codes).insert(code.clone(), issued);
        code
    }

    /// An ID token as the provider would issue it now, for `nonce`, with the
    /// current knobs (useful for forging front-channel tokens).
    pub fn id_token(&self, nonce: Option<&str>) -> String {
        let b = self.behaviour();
        self.shared.id_token(&b, &b.subject.clone(), nonce)
    }
}

impl Shared {
    fn issuer(&self) -> String {
        lock(&self.issuer).clone()
    }

    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut lock(&self.counts));
    }

    fn discovery_document(&self) -> Value {
        let b = lock(&self.behaviour).clone();
        let issuer = self.issuer();
        let mut doc = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "introspection_endpoint": format!("{issuer}/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "email"],
            "authorization_response_iss_parameter_supported": true,
        });
        merge(&mut doc, &b.discovery);
        doc
    }

    fn id_token(&self, b: &Behaviour, subject: &str, nonce: Option<&str>) -> String {
        let now = now();
        let mut claims = json!({
            "iss": self.issuer(),
            "sub": subject,
            "aud": b.client_id,
            "exp": now + 600,
            "iat": now,
            "auth_time": now,
            "name": "Alice Example",
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        merge(&mut claims, &b.claims);
        sign(b, &b.signing, "JWT", &b.header, &claims)
    }

    fn check_client(
        &self,
        b: &Behaviour,
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<(), OAuthError> {
        let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let invalid_client = || OAuthError::new(401, "invalid_client", "client authentication failed");
        match b.client_auth {
            ClientAuth::Basic => {
                let value = authorization.ok_or_else(invalid_client)?;
                let encoded = value.strip_prefix("Basic ").ok_or_else(invalid_client)?;
                let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid_client())?;
                let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
                let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
                // RFC 6749 §2.3.1: both parts are form-urlencoded first.
                if form_decode(id) != b.client_id || form_decode(secret) != b.client_secret {
                    return Err(invalid_client());
                }
                if param("client_secret").is_some() {
                    // RFC 6749 §2.3: MUST NOT use more than one method.
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "more than one client authentication method",
                    ));
                }
            }
            ClientAuth::Post => {
                if authorization.is_some() {
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "more than one client authentication method",
                    ));
                }
                if param("client_id") != Some(b.client_id.as_str())
                    || param("client_secret") != Some(b.client_secret.as_str())
                {
                    return Err(invalid_client());
                }
            }
        }
        Ok(())
    }

    fn token_response(&self, authorization: Option<&str>, form: &[(String, String)]) -> Result<Value, OAuthError> {
        let b = lock(&self.behaviour).clone();
        match &b.token_failure {
            Some(TokenFailure::ServerError) => return Err(OAuthError::raw(500, "text/plain", "internal server error")),
            Some(TokenFailure::Garbage) => {
                return Err(OAuthError::raw(200, "application/json", "<html>this is not json"))
            }
            Some(TokenFailure::OAuthError { status, error }) => {
                return Err(OAuthError::new(*status, error, "the test provider was told to fail"))
            }
            Some(TokenFailure::Delay(_)) | None => {}
        }
        for (name, _) in form {
            if form.iter().filter(|(k, _)| k == name).count() > 1 {
                return Err(OAuthError::new(400, "invalid_request", "repeated parameter"));
            }
        }
        self.check_client(&b, authorization, form)?;
        let param = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        match param("grant_type") {
            Some("authorization_code") => {}
            Some("client_credentials") => return Ok(self.client_credentials(&b, form)),
            _ => {
                return Err(OAuthError::new(
                    400,
                    "unsupported_grant_type",
                    "only authorization_code and client_credentials",
                ))
            }
        }
        let code = param("code").ok_or_else(|| OAuthError::new(400, "invalid_request", "missing code"))?;
        let issued = {
            let mut codes = lock(&self.codes);
            let issued = codes
                .get_mut(code)
                .ok_or_else(|| OAuthError::new(400, "invalid_grant", "unknown code"))?;
            if issued.used {
                return Err(OAuthError::new(400, "invalid_grant", "code already used"));
            }
            issued.used = true;
            issued.clone()
        };
        if let Some(client_id) = param("client_id") {
            if client_id != issued.client_id {
                return Err(OAuthError::new(400, "invalid_grant", "code issued to another client"));
            }
        }
        if issued.client_id != b.client_id {
            return Err(OAuthError::new(400, "invalid_grant", "code issued to another client"));
        }
        if param("redirect_uri") != Some(issued.redirect_uri.as_str()) {
            return Err(OAuthError::new(400, "invalid_grant", "redirect_uri mismatch"));
        }
        // RFC 7636 §4.6.
        match (&issued.code_challenge, param("code_verifier")) {
            (Some(challenge), Some(verifier)) => {
                if issued.code_challenge_method.as_deref() != Some("S256") || &jwt::s256(verifier) != challenge {
                    return Err(OAuthError::new(400, "invalid_grant", "PKCE verification failed"));
                }
            }
            (Some(_), None) => return Err(OAuthError::new(400, "invalid_grant", "missing code_verifier")),
            (None, Some(_)) => return Err(OAuthError::new(400, "invalid_grant", "unexpected code_verifier")),
            (None, None) => return Err(OAuthError::new(400, "invalid_request", "PKCE is required")),
        }

        let access_token = random_token("at");
        lock(&self.access_tokens).insert(access_token.clone(), b.subject.clone());
        let now = now();
        lock(&self.issued).insert(
            access_token.clone(),
            json!({
                "active": true,
                "sub": b.subject,
                "client_id": b.client_id,
                "scope": issued.scope,
                "iss": self.issuer(),
                "exp": now + 3600,
                "iat": now,
                "token_type": "Bearer",
            }),
        );
        let mut response = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": random_token("rt"),
            "scope": issued.scope,
            "id_token": self.id_token(&b, &b.subject, issued.nonce.as_deref()),
        });
        merge(&mut response, &b.token_response);
        Ok(response)
    }

    /// RFC 6749 §4.4.3: a token for the client itself (no `sub`, no ID
    /// token, no refresh token). Extra parameters (`resource`, `audience`)
    /// are recorded in the token request and echoed in the introspection
    /// answer of the token.
    fn client_credentials(&self, b: &Behaviour, form: &[(String, String)]) -> Value {
        let scope = form.iter().find(|(k, _)| k == "scope").map(|(_, v)| v.clone());
        let access_token = random_token("cc");
        let mut response = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
        });
        if let Some(scope) = &scope {
            response["scope"] = json!(scope);
        }
        merge(&mut response, &b.client_credentials_response);
        let now = now();
        let mut answer = json!({
            "active": true,
            "client_id": b.client_id,
            "iss": self.issuer(),
            "iat": now,
            "token_type": "Bearer",
        });
        if let Some(scope) = response.get("scope").and_then(Value::as_str) {
            answer["scope"] = json!(scope);
        }
        if let Some(expires_in) = response.get("expires_in").and_then(Value::as_i64) {
            answer["exp"] = json!(now + expires_in);
        }
        for (k, v) in form {
            if !["grant_type", "scope", "client_id", "client_secret"].contains(&k.as_str()) {
                answer[k.as_str()] = json!(v);
            }
        }
        lock(&self.issued).insert(access_token, answer);
        response
    }

    fn introspection_answer(&self, token: Option<&str>) -> Value {
        let inactive = json!({ "active": false });
        let Some(token) = token else {
            return inactive;
        };
        if let Some(answer) = lock(&self.behaviour).introspection.get(token) {
            return answer.clone();
        }
        lock(&self.issued).get(token).cloned().unwrap_or(inactive)
    }

    fn userinfo(&self, method: &str, authorization: Option<String>, body: String) -> Reply {
        self.count(|c| c.userinfo += 1);
        let form_token = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.into_owned());
        lock(&self.userinfo_requests).push(UserinfoRequest {
            method: method.into(),
            authorization: authorization.clone(),
            body,
        });
        let token = authorization
            .as_deref()
            .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
            .or(form_token);
        let subject = token.and_then(|t| lock(&self.access_tokens).get(&t).cloned());
        let Some(subject) = subject else {
            return Reply::json(401, json!({ "error": "invalid_token" }))
                .header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
        };
        let b = lock(&self.behaviour).clone();
        if let Some(body) = b.userinfo_body {
            return Reply::json(200, body);
        }
        let mut claims = json!({
            "sub": subject,
            "name": "Alice Example",
            "email": "alice@example.test",
            "email_verified": true,
        });
        merge(&mut claims, &b.userinfo_claims);
        Reply::json(200, claims)
    }
}

/// Signs `claims` as `signing` says, with a header `{alg, typ, kid}` and
/// `header_overrides` merged over it.
fn sign(b: &Behaviour, signing: &Signing, typ: &str, header_overrides: &Map<String, Value>, claims: &Value) -> String {
    let (alg, signature) = match signing {
        Signing::Rs256 => ("RS256", Signature::Rs256(b.signing_key)),
        Signing::Rs256With(key) => ("RS256", Signature::Rs256(*key)),
        Signing::CorruptSignature => ("RS256", Signature::Rs256Corrupted(b.signing_key)),
        Signing::None => ("none", Signature::Unsigned),
        Signing::Hs256WithPublicKeyPem => ("HS256", Signature::Hs256(b.signing_key.public_key_pem().into_bytes())),
        Signing::Hs256WithClientSecret => ("HS256", Signature::Hs256(b.client_secret.clone().into_bytes())),
    };
    let mut header = json!({ "alg": alg, "typ": typ });
    if !matches!(signing, Signing::None | Signing::Hs256WithClientSecret) {
        header["kid"] = json!(b.signing_key.kid());
    }
    merge(&mut header, header_overrides);
    jwt::encode(&header, claims, &signature)
}

fn as_object(value: &Value) -> &Map<String, Value> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected a JSON object, got {value}"))
}

/// Merges `overrides` into the object `target`; `null` removes the member.
pub fn merge(target: &mut Value, overrides: &Map<String, Value>) {
    let object = target.as_object_mut().expect("merge into an object");
    for (k, v) in overrides {
        if v.is_null() {
            object.remove(k);
        } else {
            object.insert(k.clone(), v.clone());
        }
    }
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

struct OAuthError {
    status: u16,
    content_type: &'static str,
    body: String,
    code: String,
}

impl OAuthError {
    fn new(status: u16, error: &str, description: &str) -> Self {
        OAuthError {
            status,
            content_type: "application/json",
            body: json!({ "error": error, "error_description": description }).to_string(),
            code: error.to_string(),
        }
    }

    fn raw(status: u16, content_type: &'static str, body: &str) -> Self {
        OAuthError {
            status,
            content_type,
            body: body.to_string(),
            code: format!("raw {status}"),
        }
    }
}

/// A response with an explicit status, content type and headers.
struct Reply {
    status: Status,
    content_type: ContentType,
    body: String,
    headers: Vec<Header<'static>>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status: Status::new(status),
            content_type: ContentType::JSON,
            body: body.to_string(),
            headers: vec![Header::new("Cache-Control", "no-store")],
        }
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push(Header::new(name, value.to_string()));
        self
    }
}

impl<'r> Responder<'r, 'static> for Reply {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .status(self.status)
            .header(self.content_type)
            .sized_body(self.body.len(), std::io::Cursor::new(self.body));
        for header in self.headers {
            response.header(header);
        }
        Ok(response.finalize())
    }
}

/// The request headers the endpoints look at.
struct RequestHeaders {
    authorization: Option<String>,
    content_type: Option<String>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestHeaders {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let headers = request.headers();
        Outcome::Success(RequestHeaders {
            authorization: headers.get_one("Authorization").map(str::to_string),
            content_type: headers.get_one("Content-Type").map(str::to_string),
        })
    }
}

type SharedState = State<Arc<Shared>>;

#[get("/.well-known/openid-configuration")]
fn discovery(shared: &SharedState) -> Reply {
    shared.count(|c| c.discovery += 1);
    Reply::json(200, shared.discovery_document())
}

#[get("/jwks")]
fn jwks(shared: &SharedState) -> Reply {
    shared.count(|c| c.jwks += 1);
    let keys: Vec<Value> = lock(&shared.behaviour).jwks.iter().map(|k| k.jwk()).collect();
    Reply::json(200, json!({ "keys": keys }))
}

#[post("/token", data = "<body>")]
async fn token(shared: &SharedState, headers: RequestHeaders, body: String) -> Reply {
    shared.count(|c| c.token += 1);
    let delay = match lock(&shared.behaviour).token_failure {
        Some(TokenFailure::Delay(d)) => Some(d),
        _ => None,
    };
    if let Some(delay) = delay {
        rocket::tokio::time::sleep(delay).await;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let result = shared.token_response(headers.authorization.as_deref(), &params);
    let (outcome, access_token, reply) = match result {
        Ok(value) => {
            let at = value["access_token"].as_str().map(str::to_string);
            ("ok".to_string(), at, Reply::json(200, value))
        }
        Err(e) => {
            let reply = Reply {
                status: Status::new(e.status),
                content_type: ContentType::parse_flexible(e.content_type).unwrap_or(ContentType::Plain),
                body: e.body,
                headers: vec![Header::new("Cache-Control", "no-store")],
            };
            (e.code, None, reply)
        }
    };
    lock(&shared.token_requests).push(TokenRequest {
        authorization: headers.authorization,
        content_type: headers.content_type,
        params,
        outcome,
        access_token,
    });
    reply
}

#[get("/userinfo")]
fn userinfo_get(shared: &SharedState, headers: RequestHeaders) -> Reply {
    shared.userinfo("GET", headers.authorization, String::new())
}

#[post("/userinfo", data = "<body>")]
fn userinfo_post(shared: &SharedState, headers: RequestHeaders, body: String) -> Reply {
    shared.userinfo("POST", headers.authorization, body)
}

#[get("/authorize")]
fn authorize(shared: &SharedState) -> Reply {
    shared.count(|c| c.authorize += 1);
    Reply::json(
        501,
        json!({ "error": "the tests drive the authorization step themselves" }),
    )
}

/// RFC 7662: authenticated like the token endpoint; answers per token.
#[post("/introspect", data = "<body>")]
async fn introspect(shared: &SharedState, headers: RequestHeaders, body: String) -> Reply {
    shared.count(|c| c.introspection += 1);
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    lock(&shared.introspection_requests).push(IntrospectionRequest {
        authorization: headers.authorization.clone(),
        content_type: headers.content_type.clone(),
        params: params.clone(),
    });
    let b = lock(&shared.behaviour).clone();
    let error_reply = |e: OAuthError| Reply {
        status: Status::new(e.status),
        content_type: ContentType::parse_flexible(e.content_type).unwrap_or(ContentType::Plain),
        body: e.body,
        headers: vec![Header::new("Cache-Control", "no-store")],
    };
    match &b.introspection_failure {
        Some(TokenFailure::ServerError) => {
            return error_reply(OAuthError::raw(500, "text/plain", "internal server error"))
        }
        Some(TokenFailure::Garbage) => {
            return error_reply(OAuthError::raw(200, "application/json", "<html>this is not json"))
        }
        Some(TokenFailure::OAuthError { status, error }) => {
            return error_reply(OAuthError::new(*status, error, "the test provider was told to fail"))
        }
        Some(TokenFailure::Delay(delay)) => rocket::tokio::time::sleep(*delay).await,
        None => {}
    }
    if let Err(e) = shared.check_client(&b, headers.authorization.as_deref(), &params) {
        return error_reply(e);
    }
    let token = params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str());
    Reply::json(200, shared.introspection_answer(token))
}
