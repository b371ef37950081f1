//! An in-process OpenID Provider that can be told to misbehave.
//!
//! It is a second Rocket on an ephemeral loopback port, running on its own
//! thread and Tokio runtime so it outlives nothing and depends on nothing of
//! the test's runtime. It serves discovery, the JWKS, the token endpoint
//! (authorization code and client credentials), the userinfo endpoint and
//! the introspection endpoint (RFC 7662), the revocation endpoint (RFC 7009),
//! the registration endpoint (RFC 7591) and an `end_session_endpoint` that
//! only a browser would visit. The token endpoint also serves the
//! `refresh_token` grant. It mints RFC 9068 JWT access tokens with
//! [`TestProvider::at_jwt`] and back-channel logout tokens with
//! [`TestProvider::logout_token`]. The authorization endpoint is never used: a test
//! reads the relying party's redirect (`AuthRequest`), asks the provider for
//! a code with [`TestProvider::issue_code`] and sends the callback itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};
use rocket::{State, get, post, routes};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::AuthRequest;
use super::jwt::{self, Key, Signature};

pub const CLIENT_ID: &str = "rp";
pub const CLIENT_SECRET: &str = "rp-secret";
pub const SUBJECT: &str = "alice";
/// Back-Channel Logout 1.0 §2.4: the event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

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
    /// RS256 with the active key, over claims that name `sub` a second
    /// time with this value (a JSON text no object can be).
    DuplicateSub(String),
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

impl TokenFailure {
    /// An RFC 6749 §5.2 error response with this status and `error` code.
    pub fn oauth(status: u16, error: &str) -> Self {
        TokenFailure::OAuthError {
            status,
            error: error.into(),
        }
    }
}

/// Which client authentication the token endpoint demands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// A client assertion (RFC 7523): signed by the private key whose
    /// public JWK this is (`private_key_jwt`), or with `None`, an HS256
    /// MAC keyed with the client secret (`client_secret_jwt`).
    Assertion(Option<Value>),
}

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The knobs. Change them with [`TestProvider::behave`]; every request reads
/// them afresh.
///
/// In the override maps a `null` value removes the member.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub client_id: String,
    pub client_secret: String,
    pub client_auth: ClientAuth,
    /// The `aud` values a client assertion may have; `None`: the issuer or
    /// the token endpoint.
    pub assertion_audiences: Option<Vec<String>>,
    /// Origins other than the issuer's where its metadata puts endpoints
    /// (see [`TestProvider::also_serves_on`]).
    pub other_origins: Vec<String>,
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
    /// Publishes every key of `jwks` under this `kid` instead of its own
    /// (a rotation that keeps the `kid`).
    pub jwks_kid: Option<String>,
    /// The `Cache-Control` of the JWKS response (default `max-age=3600`).
    pub jwks_cache_control: String,
    /// How the JWKS endpoint fails, if it does.
    pub jwks_failure: Option<TokenFailure>,
    /// Replaces the JWKS document entirely.
    pub jwks_body: Option<Value>,
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
    /// `grant_type=refresh_token`: issue a new refresh token with every
    /// refresh and invalidate the one used (RFC 6749 §6, rotation).
    /// Without rotation the response has no `refresh_token` (the old one
    /// stays valid).
    pub refresh_rotation: bool,
    /// How the refresh grant fails, if it does (`Delay`: it answers
    /// normally, late); the authorization code grant is unaffected.
    pub refresh_failure: Option<TokenFailure>,
    /// Whether a refresh response carries an ID token (default true).
    pub refresh_id_token: bool,
    /// Merged over the claims of the refreshed ID token (`iss`, `sub` of the
    /// grant, `aud`: the client, `exp`, `iat`, `auth_time` of the login,
    /// `name`; no `nonce`).
    pub refresh_claims: Map<String, Value>,
    /// Merged over the refresh response (`access_token`, `token_type`,
    /// `expires_in: 3600`, `scope`, `id_token`, `refresh_token` when rotating).
    pub refresh_response: Map<String, Value>,
    /// How the revocation endpoint fails, if it does.
    pub revocation_failure: Option<TokenFailure>,
    /// How the pushed authorization request endpoint fails, if it does.
    pub par_failure: Option<TokenFailure>,
    /// How the registration endpoint fails, if it does.
    pub registration_failure: Option<TokenFailure>,
    /// The initial access token the registration endpoint demands as
    /// `Authorization: Bearer ...`, if any.
    pub registration_token: Option<String>,
    /// Merged over the registration response (RFC 7591 §3.2.1).
    pub registration_response: Map<String, Value>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            client_auth: ClientAuth::Basic,
            assertion_audiences: None,
            other_origins: Vec::new(),
            subject: SUBJECT.into(),
            claims: Map::new(),
            header: Map::new(),
            signing: Signing::Rs256,
            signing_key: Key::Current,
            jwks: vec![Key::Current],
            jwks_kid: None,
            jwks_cache_control: "public, max-age=3600".into(),
            jwks_failure: None,
            jwks_body: None,
            discovery: Map::new(),
            token_failure: None,
            token_response: Map::new(),
            userinfo_body: None,
            userinfo_claims: Map::new(),
            client_credentials_response: Map::new(),
            introspection: HashMap::new(),
            introspection_failure: None,
            refresh_rotation: false,
            refresh_failure: None,
            refresh_id_token: true,
            refresh_claims: Map::new(),
            refresh_response: Map::new(),
            revocation_failure: None,
            par_failure: None,
            registration_failure: None,
            registration_token: None,
            registration_response: Map::new(),
        }
    }
}

/// What the provider remembers of a refresh token it issued.
#[derive(Clone, Debug)]
struct RefreshGrant {
    client_id: String,
    subject: String,
    scope: String,
    auth_time: i64,
    /// False once revoked or rotated away.
    active: bool,
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
    /// The first of the requested `acr_values`: the `acr` the ID token shows.
    acr: Option<String>,
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
        find_param(&self.params, name)
    }
}

/// One call to the userinfo endpoint, as received.
#[derive(Clone, Debug)]
pub struct UserinfoRequest {
    pub method: String,
    pub authorization: Option<String>,
    pub body: String,
}

/// One call to a form-encoded endpoint (introspection, revocation), as
/// received.
#[derive(Clone, Debug)]
pub struct FormRequest {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub params: Vec<(String, String)>,
}

impl FormRequest {
    fn new(headers: &RequestHeaders, params: &[(String, String)]) -> Self {
        FormRequest {
            authorization: headers.authorization.clone(),
            content_type: headers.content_type.clone(),
            params: params.to_vec(),
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }
}

/// One call to the introspection endpoint, as received.
pub type IntrospectionRequest = FormRequest;

/// One call to the revocation endpoint, as received.
pub type RevocationRequest = FormRequest;

/// One call to the registration endpoint, as received.
#[derive(Clone, Debug)]
pub struct RegistrationRequest {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The raw body.
    pub body: String,
    /// The client registered, when the request succeeded.
    pub client_id: Option<String>,
}

impl RegistrationRequest {
    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("registration body is not JSON ({e}): {self:#?}"))
    }
}

/// Per-endpoint request counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub discovery: usize,
    pub jwks: usize,
    /// Every token endpoint call, whatever the grant.
    pub token: usize,
    /// Token endpoint calls with `grant_type=refresh_token`.
    pub refresh: usize,
    pub userinfo: usize,
    pub authorize: usize,
    pub introspection: usize,
    pub revocation: usize,
    pub registration: usize,
    /// Visits of the `end_session_endpoint` (only browsers go there).
    pub end_session: usize,
}

/// A JWT to mint: a [`LogoutToken`] or an [`AccessTokenJwt`].
#[derive(Clone, Debug)]
pub struct JwtSpec {
    /// Merged over the default claims of the kind of token; `null` removes
    /// one.
    pub claims: Map<String, Value>,
    /// Merged over the default header (`alg` of `signing`, `typ` of the kind
    /// of token, `kid` of the signing key); `null` removes one.
    pub header: Map<String, Value>,
    pub signing: Signing,
}

impl Default for JwtSpec {
    fn default() -> Self {
        JwtSpec {
            claims: Map::new(),
            header: Map::new(),
            signing: Signing::Rs256,
        }
    }
}

impl JwtSpec {
    /// The default header and signing, `claims` (an object) merged over the
    /// default claims.
    pub fn with_claims(claims: Value) -> Self {
        JwtSpec {
            claims: as_object(&claims).clone(),
            ..JwtSpec::default()
        }
    }
}

/// A back-channel logout token to mint with [`TestProvider::logout_token_with`]
/// (`typ: logout+jwt`). Default claims: `iss`, `aud: client_id`, `iat: now`,
/// `exp: now + 120`, `jti`, `events: {BACKCHANNEL_LOGOUT_EVENT: {}}`,
/// `sub: SUBJECT`.
pub type LogoutToken = JwtSpec;

/// An RFC 9068 JWT access token to mint with [`TestProvider::at_jwt_with`]
/// (`typ: at+jwt`). Default claims: `iss`, `sub`, `aud: CLIENT_ID`,
/// `client_id`, `exp: now + 600`, `iat`, `jti`, `scope: "read write"`.
pub type AccessTokenJwt = JwtSpec;

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
    /// refresh token -> grant
    refresh_tokens: Mutex<HashMap<String, RefreshGrant>>,
    revocation_requests: Mutex<Vec<RevocationRequest>>,
    /// Pushed authorization requests (RFC 9126), by `request_uri`.
    pushed: Mutex<HashMap<String, Vec<(String, String)>>>,
    par_requests: Mutex<Vec<FormRequest>>,
    registration_requests: Mutex<Vec<RegistrationRequest>>,
    /// Dynamically registered clients: client_id -> client_secret. The
    /// token, introspection and revocation endpoints accept them besides
    /// `Behaviour::client_id`.
    registered_clients: Mutex<HashMap<String, String>>,
    /// The client assertions received (header and claims), in order.
    assertions: Mutex<Vec<(Value, Value)>>,
    /// Every client assertion received, as sent, before any check: what a
    /// malicious provider would have in hand to replay elsewhere.
    raw_assertions: Mutex<Vec<String>>,
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

/// A relying party's provider table for `issuer` and that client.
pub fn rp_provider_config_for(issuer: &str, client_id: &str, client_secret: &str) -> Value {
    json!({
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": client_secret,
        "scopes": ["openid", "profile"],
        "userinfo_http_method": "GET",
    })
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
                    introspect,
                    revoke,
                    par,
                    register,
                    end_session
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

    /// The token endpoint calls with `grant_type=refresh_token`.
    pub fn refresh_requests(&self) -> Vec<TokenRequest> {
        self.token_requests()
            .into_iter()
            .filter(|r| r.param("grant_type") == Some("refresh_token"))
            .collect()
    }

    pub fn revocation_requests(&self) -> Vec<RevocationRequest> {
        lock(&self.shared.revocation_requests).clone()
    }

    /// The revocation requests, once there are `n` of them: a logout
    /// revokes in the background, after its answer. Panics after 5 s.
    pub async fn revocations_once(&self, n: usize) -> Vec<RevocationRequest> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let requests = self.revocation_requests();
            if requests.len() >= n {
                return requests;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} revocation requests, got {requests:#?}"
            );
            rocket::tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn registration_requests(&self) -> Vec<RegistrationRequest> {
        lock(&self.shared.registration_requests).clone()
    }

    /// The refresh tokens issued so far (authorization code and refresh
    /// grants), in no order.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        lock(&self.shared.refresh_tokens).keys().cloned().collect()
    }

    /// Whether `refresh_token` was issued here and is still usable (not
    /// revoked, not rotated away).
    pub fn access_token_is_active(&self, access_token: &str) -> bool {
        lock(&self.shared.issued).contains_key(access_token)
    }

    pub fn refresh_token_is_active(&self, refresh_token: &str) -> bool {
        lock(&self.shared.refresh_tokens)
            .get(refresh_token)
            .is_some_and(|grant| grant.active)
    }

    /// Makes `client_id`/`client_secret` a client the endpoints accept (as
    /// if it had been registered here earlier).
    pub fn accept_client(&self, client_id: &str, client_secret: &str) {
        lock(&self.shared.registered_clients).insert(client_id.into(), client_secret.into());
    }

    pub fn revocation_endpoint(&self) -> String {
        format!("{}/revoke", self.issuer)
    }

    pub fn end_session_endpoint(&self) -> String {
        format!("{}/end_session", self.issuer)
    }

    pub fn registration_endpoint(&self) -> String {
        format!("{}/register", self.issuer)
    }

    /// A back-channel logout token (`typ: logout+jwt`, RS256 with the
    /// active signing key) with `claims` merged over the default claims
    /// (see [`LogoutToken`]).
    pub fn logout_token(&self, claims: Value) -> String {
        self.logout_token_with(LogoutToken::with_claims(claims))
    }

    /// A back-channel logout token with every knob.
    pub fn logout_token_with(&self, spec: LogoutToken) -> String {
        let b = self.behaviour();
        let now = now();
        let mut claims = json!({
            "iss": self.issuer,
            "aud": b.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": random_token("jti"),
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
            "sub": SUBJECT,
        });
        merge(&mut claims, &spec.claims);
        sign(&b, &spec.signing, "logout+jwt", &spec.header, &claims)
    }

    /// Stops the provider and returns once its port refuses connections
    /// and connections kept alive by clients are closed.
    pub async fn stop(self) {
        let port = self.port;
        self.shutdown.clone().notify();
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                break;
            }
            rocket::tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Connections a client keeps alive live through the grace and
        // mercy periods (1 s each).
        rocket::tokio::time::sleep(Duration::from_millis(2300)).await;
    }

    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.issuer)
    }

    /// The pushed authorization request endpoint (RFC 9126); advertise it
    /// with `behave(|b| b.discovery.insert(...))`.
    pub fn par_endpoint(&self) -> String {
        format!("{}/par", self.issuer)
    }

    /// The requests the PAR endpoint received.
    pub fn par_requests(&self) -> Vec<FormRequest> {
        lock(&self.shared.par_requests).clone()
    }

    /// The authorization request a front-channel `auth` (with only
    /// `client_id` and `request_uri`) refers to, as the provider resolves it.
    pub fn pushed(&self, auth: &AuthRequest) -> AuthRequest {
        let request_uri = auth.param("request_uri").expect("a request_uri in the redirect");
        let params = lock(&self.shared.pushed)
            .get(request_uri)
            .cloned()
            .expect("a request_uri the provider issued");
        AuthRequest {
            location: auth.location.clone(),
            endpoint: auth.endpoint.clone(),
            params,
        }
    }

    /// The client assertions received so far: (header, claims).
    pub fn assertions(&self) -> Vec<(Value, Value)> {
        lock(&self.shared.assertions).clone()
    }

    /// Every client assertion received so far, as sent (checked or not).
    pub fn raw_assertions(&self) -> Vec<String> {
        lock(&self.shared.raw_assertions).clone()
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
        self.at_jwt_with(AccessTokenJwt::with_claims(claims))
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
        let mut table = rp_provider_config_for(&self.issuer, &b.client_id, &b.client_secret);
        if !b.other_origins.is_empty() {
            table["allowed_endpoint_origins"] = json!(b.other_origins);
        }
        table
    }

    /// Says that this provider serves some endpoints on `origin` too (as
    /// Google serves its token endpoint elsewhere): the relying party's
    /// table ([`rp_provider_config`](Self::rp_provider_config)) then lists
    /// it in `allowed_endpoint_origins`.
    pub fn also_serves_on(&self, origin: &str) {
        let origin = url::Url::parse(origin)
            .expect("an origin")
            .origin()
            .ascii_serialization();
        self.behave(|b| {
            if !b.other_origins.contains(&origin) {
                b.other_origins.push(origin);
            }
        });
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
            acr: auth
                .param("acr_values")
                .and_then(|v| v.split_whitespace().next())
                .map(str::to_string),
            used: false,
        };
        lock(&self.shared.codes).insert(code.clone(), issued);
        code
    }

    /// An ID token as the provider would issue it now, for `nonce`, with the
    /// current knobs (useful for forging front-channel tokens).
    pub fn id_token(&self, nonce: Option<&str>) -> String {
        let b = self.behaviour();
        self.shared.id_token(&b, &b.client_id, &b.subject, nonce, None)
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
            "revocation_endpoint": format!("{issuer}/revoke"),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "end_session_endpoint": format!("{issuer}/end_session"),
            "registration_endpoint": format!("{issuer}/register"),
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        });
        merge(&mut doc, &b.discovery);
        doc
    }

    /// An access token for `subject` that the userinfo endpoint accepts and
    /// that introspects active for an hour from `now`.
    fn issue_access_token(&self, prefix: &str, subject: &str, client_id: &str, scope: &str, now: i64) -> String {
        let access_token = random_token(prefix);
        lock(&self.access_tokens).insert(access_token.clone(), subject.to_string());
        lock(&self.issued).insert(
            access_token.clone(),
            json!({
                "active": true,
                "sub": subject,
                "client_id": client_id,
                "aud": client_id,
                "scope": scope,
                "iss": self.issuer(),
                "exp": now + 3600,
                "iat": now,
                "token_type": "Bearer",
            }),
        );
        access_token
    }

    /// The default claims of an ID token issued `now` (no `nonce`).
    fn id_token_claims(&self, client_id: &str, subject: &str, now: i64, auth_time: i64) -> Value {
        json!({
            "iss": self.issuer(),
            "sub": subject,
            "aud": client_id,
            "exp": now + 600,
            "iat": now,
            "auth_time": auth_time,
            "name": "Alice Example",
        })
    }

    fn id_token(
        &self,
        b: &Behaviour,
        client_id: &str,
        subject: &str,
        nonce: Option<&str>,
        acr: Option<&str>,
    ) -> String {
        let now = now();
        let mut claims = self.id_token_claims(client_id, subject, now, now);
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(acr) = acr {
            claims["acr"] = json!(acr);
        }
        merge(&mut claims, &b.claims);
        sign(b, &b.signing, "JWT", &b.header, &claims)
    }

    /// Whether `id`/`secret` is the configured client or a registered one.
    fn known_client(&self, b: &Behaviour, id: &str, secret: &str) -> bool {
        (id == b.client_id && secret == b.client_secret)
            || lock(&self.registered_clients).get(id).is_some_and(|s| s == secret)
    }

    /// Authenticates the client of a request; its `client_id`.
    fn check_client(
        &self,
        b: &Behaviour,
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<String, OAuthError> {
        let param = |name: &str| find_param(form, name);
        let invalid_client = || OAuthError::new(401, "invalid_client", "client authentication failed");
        match &b.client_auth {
            ClientAuth::Basic => {
                let value = authorization.ok_or_else(invalid_client)?;
                let encoded = value.strip_prefix("Basic ").ok_or_else(invalid_client)?;
                let decoded = STANDARD.decode(encoded.trim()).map_err(|_| invalid_client())?;
                let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
                let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
                // RFC 6749 §2.3.1: both parts are form-urlencoded first.
                let (id, secret) = (form_decode(id), form_decode(secret));
                if !self.known_client(b, &id, &secret) {
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
                Ok(id)
            }
            ClientAuth::Post => {
                if authorization.is_some() {
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "more than one client authentication method",
                    ));
                }
                let (Some(id), Some(secret)) = (param("client_id"), param("client_secret")) else {
                    return Err(invalid_client());
                };
                if !self.known_client(b, id, secret) {
                    return Err(invalid_client());
                }
                Ok(id.to_string())
            }
            ClientAuth::Assertion(jwk) => {
                if authorization.is_some() || param("client_secret").is_some() {
                    return Err(OAuthError::new(
                        400,
                        "invalid_request",
                        "more than one client authentication method",
                    ));
                }
                if param("client_assertion_type") != Some(JWT_BEARER) {
                    return Err(invalid_client());
                }
                let assertion = param("client_assertion").ok_or_else(invalid_client)?;
                lock(&self.raw_assertions).push(assertion.to_string());
                let (header, claims) = self
                    .check_assertion(b, jwk.as_ref(), assertion)
                    .ok_or_else(invalid_client)?;
                lock(&self.assertions).push((header, claims.clone()));
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
        use openidconnect::JsonWebKey;
        use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
        let (input, signature) = assertion.rsplit_once('.')?;
        let header = jwt::decode_header(assertion);
        let claims = jwt::decode_claims(assertion);
        let signature = jwt::b64_decode(signature);
        let verified = match jwk {
            Some(jwk) => {
                let key: CoreJsonWebKey = serde_json::from_value(jwk.clone()).ok()?;
                let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone()).ok()?;
                !matches!(alg, CoreJwsSigningAlgorithm::None | CoreJwsSigningAlgorithm::HmacSha256)
                    && key.verify_signature(&alg, input.as_bytes(), &signature).is_ok()
            }
            None => {
                use hmac::Mac;
                let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b.client_secret.as_bytes()).ok()?;
                mac.update(input.as_bytes());
                header["alg"] == "HS256" && mac.verify_slice(&signature).is_ok()
            }
        };
        let now = now();
        let fresh = claims["exp"].as_i64().is_some_and(|exp| exp > now && exp <= now + 300);
        let jti = claims["jti"].as_str()?.to_string();
        let unseen = !lock(&self.assertions).iter().any(|(_, c)| c["jti"] == jti.as_str());
        let ok = verified
            && fresh
            && unseen
            && claims["iss"] == b.client_id.as_str()
            && claims["sub"] == b.client_id.as_str()
            && self.accepts_audience(b, &claims["aud"]);
        ok.then_some((header, claims))
    }

    /// Whether a client assertion's `aud` names this provider: its issuer
    /// (draft-ietf-oauth-rfc7523bis) or, as many servers still accept, its
    /// token endpoint; or exactly what `Behaviour::assertion_audiences` lists.
    fn accepts_audience(&self, b: &Behaviour, aud: &Value) -> bool {
        let issuer = lock(&self.issuer).clone();
        let accepted = b
            .assertion_audiences
            .clone()
            .unwrap_or_else(|| vec![issuer.clone(), format!("{issuer}/token")]);
        aud.as_str().is_some_and(|aud| accepted.iter().any(|a| a == aud))
    }

    fn token_response(&self, authorization: Option<&str>, form: &[(String, String)]) -> Result<Value, OAuthError> {
        let b = lock(&self.behaviour).clone();
        told_to_fail(&b.token_failure, 200)?;
        for (name, _) in form {
            if form.iter().filter(|(k, _)| k == name).count() > 1 {
                return Err(OAuthError::new(400, "invalid_request", "repeated parameter"));
            }
        }
        let client_id = self.check_client(&b, authorization, form)?;
        let param = |name: &str| find_param(form, name);
        match param("grant_type") {
            Some("authorization_code") => {}
            Some("client_credentials") => return Ok(self.client_credentials(&b, form)),
            Some("refresh_token") => return self.refresh(&b, &client_id, form),
            _ => {
                return Err(OAuthError::new(
                    400,
                    "unsupported_grant_type",
                    "only authorization_code, refresh_token and client_credentials",
                ));
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
        if let Some(client_id) = param("client_id")
            && client_id != issued.client_id
        {
            return Err(OAuthError::new(400, "invalid_grant", "code issued to another client"));
        }
        if issued.client_id != client_id {
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

        let now = now();
        let access_token = self.issue_access_token("at", &b.subject, &client_id, &issued.scope, now);
        let mut response = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": random_token("rt"),
            "scope": issued.scope,
            "id_token": self.id_token(&b, &client_id, &b.subject, issued.nonce.as_deref(), issued.acr.as_deref()),
        });
        merge(&mut response, &b.token_response);
        if let Some(refresh_token) = response.get("refresh_token").and_then(Value::as_str) {
            lock(&self.refresh_tokens).insert(
                refresh_token.to_string(),
                RefreshGrant {
                    client_id,
                    subject: b.subject.clone(),
                    scope: issued.scope.clone(),
                    auth_time: now,
                    active: true,
                },
            );
        }
        Ok(response)
    }

    /// RFC 6749 §6 and OpenID Connect Core §12: new tokens for a refresh
    /// token issued to this client.
    fn refresh(&self, b: &Behaviour, client_id: &str, form: &[(String, String)]) -> Result<Value, OAuthError> {
        told_to_fail(&b.refresh_failure, 200)?;
        let used = find_param(form, "refresh_token")
            .map(str::to_string)
            .ok_or_else(|| OAuthError::new(400, "invalid_request", "missing refresh_token"))?;
        let grant = {
            let mut grants = lock(&self.refresh_tokens);
            let grant = grants
                .get_mut(&used)
                .ok_or_else(|| OAuthError::new(400, "invalid_grant", "unknown refresh token"))?;
            if !grant.active {
                return Err(OAuthError::new(
                    400,
                    "invalid_grant",
                    "refresh token revoked or rotated",
                ));
            }
            if grant.client_id != client_id {
                return Err(OAuthError::new(
                    400,
                    "invalid_grant",
                    "refresh token issued to another client",
                ));
            }
            if b.refresh_rotation {
                grant.active = false;
            }
            grant.clone()
        };
        let now = now();
        let access_token = self.issue_access_token("at-refreshed", &grant.subject, client_id, &grant.scope, now);
        let mut response = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": grant.scope,
        });
        if b.refresh_rotation {
            response["refresh_token"] = json!(random_token("rt-rotated"));
        }
        if b.refresh_id_token {
            let mut claims = self.id_token_claims(client_id, &grant.subject, now, grant.auth_time);
            merge(&mut claims, &b.refresh_claims);
            response["id_token"] = json!(sign(b, &b.signing, "JWT", &b.header, &claims));
        }
        merge(&mut response, &b.refresh_response);
        if let Some(issued) = response.get("refresh_token").and_then(Value::as_str)
            && issued != used
        {
            lock(&self.refresh_tokens).insert(issued.to_string(), RefreshGrant { active: true, ..grant });
        }
        Ok(response)
    }

    /// RFC 7009 §2: authenticated like the token endpoint; a refresh token
    /// it knows stops working, an access token stops introspecting active.
    fn revoke(&self, authorization: Option<&str>, form: &[(String, String)]) -> Result<(), OAuthError> {
        let b = lock(&self.behaviour).clone();
        told_to_fail(&b.revocation_failure, 200)?;
        let client_id = self.check_client(&b, authorization, form)?;
        let token =
            find_param(form, "token").ok_or_else(|| OAuthError::new(400, "invalid_request", "missing token"))?;
        if let Some(grant) = lock(&self.refresh_tokens).get_mut(token)
            && grant.client_id == client_id
        {
            grant.active = false;
        }
        lock(&self.issued).remove(token);
        lock(&self.access_tokens).remove(token);
        Ok(())
    }

    /// RFC 7591 §3: registers a client from JSON metadata.
    fn register(&self, authorization: Option<&str>, body: &str) -> Result<Value, OAuthError> {
        let b = lock(&self.behaviour).clone();
        told_to_fail(&b.registration_failure, 201)?;
        if let Some(expected) = &b.registration_token
            && authorization != Some(format!("Bearer {expected}").as_str())
        {
            return Err(OAuthError::new(
                401,
                "invalid_token",
                "an initial access token is required",
            ));
        }
        let metadata: Value = serde_json::from_str(body)
            .map_err(|_| OAuthError::new(400, "invalid_client_metadata", "the body is not JSON"))?;
        let redirect_uris = metadata
            .get("redirect_uris")
            .and_then(Value::as_array)
            .filter(|uris| !uris.is_empty() && uris.iter().all(Value::is_string))
            .cloned()
            .ok_or_else(|| OAuthError::new(400, "invalid_redirect_uri", "redirect_uris is required"))?;
        let client_id = random_token("dyn");
        let client_secret = random_token("dyn-secret");
        let mut response = json!({
            "client_id": client_id,
            "client_secret": client_secret,
            "client_id_issued_at": now(),
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
            lock(&self.registered_clients).insert(id.to_string(), secret.to_string());
        }
        Ok(response)
    }

    /// RFC 6749 §4.4.3: a token for the client itself (no `sub`, no ID
    /// token, no refresh token). Extra parameters (`resource`, `audience`)
    /// are recorded in the token request and echoed in the introspection
    /// answer of the token.
    fn client_credentials(&self, b: &Behaviour, form: &[(String, String)]) -> Value {
        let scope = find_param(form, "scope").map(str::to_string);
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
            "aud": b.client_id,
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
        Signing::Rs256 | Signing::DuplicateSub(_) => ("RS256", Signature::Rs256(b.signing_key)),
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
    if let Signing::DuplicateSub(second) = signing {
        let text = claims.to_string();
        let twice = format!("{},\"sub\":{}}}", text.trim_end_matches('}'), json!(second));
        return jwt::encode_text(&header.to_string(), &twice, &signature);
    }
    jwt::encode(&header, claims, &signature)
}

/// The value of the first parameter `name` in `params`.
pub fn find_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse_form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

/// The error an endpoint told to fail with `failure` answers (`Delay`:
/// none, see [`delay`]); `Garbage` comes with `garbage_status`.
fn told_to_fail(failure: &Option<TokenFailure>, garbage_status: u16) -> Result<(), OAuthError> {
    match failure {
        Some(TokenFailure::ServerError) => Err(OAuthError::raw(500, "text/plain", "internal server error")),
        Some(TokenFailure::Garbage) => Err(OAuthError::raw(
            garbage_status,
            "application/json",
            "<html>this is not json",
        )),
        Some(TokenFailure::OAuthError { status, error }) => {
            Err(OAuthError::new(*status, error, "the test provider was told to fail"))
        }
        Some(TokenFailure::Delay(_)) | None => Ok(()),
    }
}

/// Sleeps as long as a `Delay` failure says.
async fn delay(failure: &Option<TokenFailure>) {
    if let Some(TokenFailure::Delay(d)) = failure {
        rocket::tokio::time::sleep(*d).await;
    }
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
async fn jwks(shared: &SharedState) -> Reply {
    shared.count(|c| c.jwks += 1);
    let b = lock(&shared.behaviour).clone();
    if let Err(e) = told_to_fail(&b.jwks_failure, 200) {
        return error_reply(e);
    }
    delay(&b.jwks_failure).await;
    let keys: Vec<Value> = b
        .jwks
        .iter()
        .map(|k| {
            let mut jwk = k.jwk();
            if let Some(kid) = &b.jwks_kid {
                jwk["kid"] = json!(kid);
            }
            jwk
        })
        .collect();
    let body = b.jwks_body.clone().unwrap_or_else(|| json!({ "keys": keys }));
    let mut reply = Reply::json(200, body);
    reply
        .headers
        .retain(|h| !h.name().as_str().eq_ignore_ascii_case("Cache-Control"));
    reply.header("Cache-Control", &b.jwks_cache_control)
}

#[post("/token", data = "<body>")]
async fn token(shared: &SharedState, headers: RequestHeaders, body: String) -> Reply {
    let params = parse_form(&body);
    let refresh = params.iter().any(|(k, v)| k == "grant_type" && v == "refresh_token");
    shared.count(|c| {
        c.token += 1;
        if refresh {
            c.refresh += 1;
        }
    });
    let delay = {
        let b = lock(&shared.behaviour);
        match (&b.token_failure, &b.refresh_failure) {
            (Some(TokenFailure::Delay(d)), _) => Some(*d),
            (_, Some(TokenFailure::Delay(d))) if refresh => Some(*d),
            _ => None,
        }
    };
    if let Some(delay) = delay {
        rocket::tokio::time::sleep(delay).await;
    }
    let result = shared.token_response(headers.authorization.as_deref(), &params);
    let (outcome, access_token, reply) = match result {
        Ok(value) => {
            let at = value["access_token"].as_str().map(str::to_string);
            ("ok".to_string(), at, Reply::json(200, value))
        }
        Err(e) => (e.code.clone(), None, error_reply(e)),
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
    let params = parse_form(&body);
    lock(&shared.introspection_requests).push(FormRequest::new(&headers, &params));
    let b = lock(&shared.behaviour).clone();
    if let Err(e) = told_to_fail(&b.introspection_failure, 200) {
        return error_reply(e);
    }
    delay(&b.introspection_failure).await;
    if let Err(e) = shared.check_client(&b, headers.authorization.as_deref(), &params) {
        return error_reply(e);
    }
    Reply::json(200, shared.introspection_answer(find_param(&params, "token")))
}

fn error_reply(e: OAuthError) -> Reply {
    Reply {
        status: Status::new(e.status),
        content_type: ContentType::parse_flexible(e.content_type).unwrap_or(ContentType::Plain),
        body: e.body,
        headers: vec![Header::new("Cache-Control", "no-store")],
    }
}

/// RFC 7009: `200` with an empty body on success.
#[post("/revoke", data = "<body>")]
async fn revoke(shared: &SharedState, headers: RequestHeaders, body: String) -> Reply {
    shared.count(|c| c.revocation += 1);
    let params = parse_form(&body);
    let failure = lock(&shared.behaviour).revocation_failure.clone();
    delay(&failure).await;
    let revoked = shared.revoke(headers.authorization.as_deref(), &params);
    // Recorded once answered: a test waiting for it sees what it did.
    lock(&shared.revocation_requests).push(FormRequest::new(&headers, &params));
    match revoked {
        Ok(()) => Reply {
            status: Status::Ok,
            content_type: ContentType::Plain,
            body: String::new(),
            headers: vec![Header::new("Cache-Control", "no-store")],
        },
        Err(e) => error_reply(e),
    }
}

/// RFC 9126 §2: `201` with a `request_uri` for the pushed parameters.
#[post("/par", data = "<body>")]
async fn par(shared: &SharedState, headers: RequestHeaders, body: String) -> Reply {
    let params = parse_form(&body);
    lock(&shared.par_requests).push(FormRequest::new(&headers, &params));
    let b = lock(&shared.behaviour).clone();
    delay(&b.par_failure).await;
    let result = told_to_fail(&b.par_failure, 201)
        .and_then(|()| shared.check_client(&b, headers.authorization.as_deref(), &params))
        .and_then(|client_id| {
            if find_param(&params, "request_uri").is_some() {
                return Err(OAuthError::new(
                    400,
                    "invalid_request",
                    "request_uri is not allowed here",
                ));
            }
            let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_token("par"));
            let mut pushed = params.clone();
            pushed.retain(|(k, _)| !k.starts_with("client_"));
            pushed.push(("client_id".into(), client_id));
            lock(&shared.pushed).insert(request_uri.clone(), pushed);
            Ok(request_uri)
        });
    match result {
        Ok(request_uri) => Reply {
            status: Status::Created,
            content_type: ContentType::JSON,
            body: json!({ "request_uri": request_uri, "expires_in": 60 }).to_string(),
            headers: vec![Header::new("Cache-Control", "no-store")],
        },
        Err(e) => error_reply(e),
    }
}

/// RFC 7591: `201` with the client's metadata.
#[post("/register", data = "<body>")]
async fn register(shared: &SharedState, headers: RequestHeaders, body: String) -> Reply {
    shared.count(|c| c.registration += 1);
    let failure = lock(&shared.behaviour).registration_failure.clone();
    delay(&failure).await;
    let result = shared.register(headers.authorization.as_deref(), &body);
    let client_id = result
        .as_ref()
        .ok()
        .and_then(|r| r.get("client_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    lock(&shared.registration_requests).push(RegistrationRequest {
        authorization: headers.authorization,
        content_type: headers.content_type,
        body,
        client_id,
    });
    match result {
        Ok(response) => Reply::json(201, response),
        Err(e) => error_reply(e),
    }
}

/// RP-Initiated Logout: only a browser comes here; the tests read the
/// relying party's redirect instead, so a visit is counted and nothing else.
#[get("/end_session")]
fn end_session(shared: &SharedState) -> Reply {
    shared.count(|c| c.end_session += 1);
    Reply::json(200, json!({ "logged_out": true }))
}
