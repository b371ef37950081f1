//! The issuer's fault hook, for the crate's own tests and not part of the
//! API: how it signs, how its endpoints fail or lag, what it answers
//! instead of the right thing, and what it was sent. An app's tests have
//! [`TestIssuer`](super::TestIssuer)'s public methods; the crate's tests
//! reach the misbehaviour a real provider would not show through here.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Map, Value, json};

use crate::jose::{self, Alg};

/// Back-Channel Logout 1.0 §2.4: the event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key the issuer may sign with and publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// The issuer's own ES256 key, fresh for every issuer.
    Issuer,
    /// An RSA key, the same for every issuer of the process (made once).
    Current,
    /// Another RSA key, what a provider rotates to.
    Rotated,
}

impl Key {
    /// The `kid` it is published under (`Issuer`: see the issuer's JWKS).
    pub fn kid(self) -> &'static str {
        match self {
            Key::Issuer => "",
            Key::Current => "test-key-current",
            Key::Rotated => "test-key-rotated",
        }
    }

    /// The private key of `Current` or `Rotated`: RSA-2048, made once per
    /// process from the system's generator, and only when a test asks for
    /// one (a kit user signing with the issuer's own key never pays it).
    ///
    /// # Panics
    ///
    /// For `Issuer`, whose key is the issuer's own (see its JWKS).
    pub fn signing_key(self) -> &'static jose::Key {
        static CURRENT: OnceLock<jose::Key> = OnceLock::new();
        static ROTATED: OnceLock<jose::Key> = OnceLock::new();
        let cell = match self {
            Key::Current => &CURRENT,
            Key::Rotated => &ROTATED,
            Key::Issuer => panic!("Key::Issuer is the issuer's own key, not one of the fixed RSA pair"),
        };
        cell.get_or_init(|| match rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048) {
            Ok(key) => jose::Key::Rsa(Box::new(key)),
            Err(error) => panic!("no RSA test key: {error}"),
        })
    }

    /// The public JWK of `Current` or `Rotated`, as published.
    pub fn jwk(self) -> Value {
        let mut jwk = self.signing_key().public_members();
        jwk.insert("use".into(), json!("sig"));
        jwk.insert("alg".into(), json!("RS256"));
        jwk.insert("kid".into(), json!(self.kid()));
        Value::Object(jwk)
    }

    /// The public key of `Current` or `Rotated` as an SPKI PEM document:
    /// the bytes an attacker uses as an HMAC secret in the RS256 → HS256
    /// confusion attack.
    pub fn public_key_pem(self) -> String {
        match self.signing_key() {
            jose::Key::Rsa(key) => match key.to_public_key().to_public_key_pem(LineEnding::LF) {
                Ok(pem) => pem,
                Err(error) => panic!("the RSA test key has no PEM: {error}"),
            },
            jose::Key::P256(_) => panic!("the fixed test keys are RSA keys"),
        }
    }
}

/// How the issuer signs a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signing {
    /// With the active key ([`Behaviour::signing_key`]) under its algorithm.
    Active,
    /// RS256 with this key, which may be absent from the JWKS. The `kid`
    /// header stays the active key's unless overridden.
    With(Key),
    /// A valid signature of the active key with one bit flipped.
    CorruptSignature,
    /// `alg: none`, empty signature.
    None,
    /// HS256 keyed with the PEM of the active RSA public key (key confusion).
    Hs256WithPublicKeyPem,
    /// HS256 keyed with the client secret (legitimate only when advertised).
    Hs256WithClientSecret,
    /// The active key, over claims that name `sub` a second time with this
    /// value (a JSON text no object can be).
    DuplicateSub(String),
}

/// How an endpoint fails, if it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `500 Internal Server Error` with a text body.
    ServerError,
    /// A success status, `Content-Type: application/json`, a body that is
    /// not JSON.
    Garbage,
    /// An RFC 6749 §5.2 error response with this status and `error` code.
    OAuthError {
        /// The HTTP status.
        status: u16,
        /// The `error` code.
        error: String,
    },
    /// Answer normally, but only after this long.
    Delay(Duration),
}

impl Failure {
    /// An RFC 6749 §5.2 error response with this status and `error` code.
    pub fn oauth(status: u16, error: &str) -> Self {
        Failure::OAuthError {
            status,
            error: error.into(),
        }
    }
}

/// Which client authentication the issuer's endpoints demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic`, or the id and secret in the form.
    Either,
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))` only.
    Basic,
    /// `client_id` and `client_secret` in the form only.
    Post,
    /// A client assertion (RFC 7523): signed by the private key whose public
    /// JWK this is (`private_key_jwt`), or with `None`, an HS256 MAC keyed
    /// with the client secret (`client_secret_jwt`).
    Assertion(Option<Value>),
}

/// The knobs. Every request reads them afresh. In the override maps a
/// `null` value removes the member.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// The client the endpoints accept (besides dynamically registered ones).
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// How clients authenticate.
    pub client_auth: ClientAuth,
    /// The `aud` values a client assertion may have; `None`: the issuer or
    /// the token endpoint.
    pub assertion_audiences: Option<Vec<String>>,
    /// Origins other than the issuer's where its metadata puts endpoints.
    pub other_origins: Vec<String>,
    /// `sub` of the ID token of a code from `issue_code`, read when the
    /// code is redeemed.
    pub subject: String,
    /// Merged over the ID token's claims.
    pub claims: Map<String, Value>,
    /// Merged over the ID token's JOSE header.
    pub header: Map<String, Value>,
    /// How ID tokens are signed.
    pub signing: Signing,
    /// The key that signs ID tokens.
    pub signing_key: Key,
    /// The keys published on `jwks_uri`.
    pub jwks: Vec<Key>,
    /// Publishes every key of `jwks` under this `kid` instead of its own.
    pub jwks_kid: Option<String>,
    /// The `Cache-Control` of the JWKS response.
    pub jwks_cache_control: String,
    /// How the JWKS endpoint fails, if it does.
    pub jwks_failure: Option<Failure>,
    /// Replaces the JWKS document entirely.
    pub jwks_body: Option<Value>,
    /// Merged over the discovery document.
    pub discovery: Map<String, Value>,
    /// How the token endpoint fails, if it does (every grant).
    pub token_failure: Option<Failure>,
    /// Merged over a successful authorization code response.
    pub token_response: Map<String, Value>,
    /// Replaces the userinfo response body entirely.
    pub userinfo_body: Option<Value>,
    /// Merged over the userinfo response.
    pub userinfo_claims: Map<String, Value>,
    /// Merged over a client credentials response.
    pub client_credentials_response: Map<String, Value>,
    /// Introspection answers by token (the whole body), before any other.
    pub introspection: HashMap<String, Value>,
    /// How the introspection endpoint fails, if it does.
    pub introspection_failure: Option<Failure>,
    /// A refresh issues a new refresh token and invalidates the one used
    /// (RFC 6749 §6); without, the response has no `refresh_token`.
    pub refresh_rotation: bool,
    /// How the refresh grant fails, if it does.
    pub refresh_failure: Option<Failure>,
    /// Whether a refresh response carries an ID token.
    pub refresh_id_token: bool,
    /// Merged over the claims of a refreshed ID token.
    pub refresh_claims: Map<String, Value>,
    /// Merged over a refresh response.
    pub refresh_response: Map<String, Value>,
    /// How the revocation endpoint fails, if it does.
    pub revocation_failure: Option<Failure>,
    /// How the pushed authorization request endpoint fails, if it does.
    pub par_failure: Option<Failure>,
    /// How the registration endpoint fails, if it does.
    pub registration_failure: Option<Failure>,
    /// The initial access token the registration endpoint demands, if any.
    pub registration_token: Option<String>,
    /// Merged over the registration response (RFC 7591 §3.2.1).
    pub registration_response: Map<String, Value>,
}

impl Behaviour {
    /// The behaviour of a well-behaved issuer with this client.
    pub(crate) fn new(client_id: &str, client_secret: &str) -> Behaviour {
        Behaviour {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            client_auth: ClientAuth::Either,
            assertion_audiences: None,
            other_origins: Vec::new(),
            subject: super::issuer::SUBJECT.into(),
            claims: Map::new(),
            header: Map::new(),
            signing: Signing::Active,
            signing_key: Key::Issuer,
            jwks: vec![Key::Issuer],
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

    /// The algorithm of the active key.
    pub(crate) fn alg(&self) -> Alg {
        match self.signing_key {
            Key::Issuer => Alg::Es256,
            Key::Current | Key::Rotated => Alg::Rs256,
        }
    }
}

/// One call to the token endpoint, as received.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The form.
    pub params: Vec<(String, String)>,
    /// `"ok"` or the OAuth error code the issuer answered with.
    pub outcome: String,
    /// The access token issued, on success.
    pub access_token: Option<String>,
}

impl TokenRequest {
    /// The first parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }
}

/// One call to the userinfo endpoint, as received.
#[derive(Clone, Debug)]
pub struct UserinfoRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body.
    pub body: String,
}

/// One call to a form-encoded endpoint (introspection, revocation, PAR).
#[derive(Clone, Debug)]
pub struct FormRequest {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The form.
    pub params: Vec<(String, String)>,
}

impl FormRequest {
    /// The first parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }
}

/// One call to the registration endpoint, as received.
#[derive(Clone, Debug)]
pub struct RegistrationRequest {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The raw body.
    pub body: String,
    /// The client registered, when the request succeeded.
    pub client_id: Option<String>,
}

impl RegistrationRequest {
    /// The body as JSON (`null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Requests received, per endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Discovery documents.
    pub discovery: usize,
    /// JWKS.
    pub jwks: usize,
    /// Every token endpoint call, whatever the grant.
    pub token: usize,
    /// Token endpoint calls with `grant_type=refresh_token`.
    pub refresh: usize,
    /// Userinfo.
    pub userinfo: usize,
    /// Authorization endpoint visits.
    pub authorize: usize,
    /// Introspection.
    pub introspection: usize,
    /// Revocation.
    pub revocation: usize,
    /// Registration.
    pub registration: usize,
    /// `end_session_endpoint` visits (only browsers go there).
    pub end_session: usize,
}

/// A JWT to mint: a logout token or an RFC 9068 access token.
#[derive(Clone, Debug)]
pub struct JwtSpec {
    /// Merged over the default claims of the kind of token.
    pub claims: Map<String, Value>,
    /// Merged over the default header (`alg`, `typ`, `kid`).
    pub header: Map<String, Value>,
    /// How it is signed.
    pub signing: Signing,
}

impl Default for JwtSpec {
    fn default() -> Self {
        JwtSpec {
            claims: Map::new(),
            header: Map::new(),
            signing: Signing::Active,
        }
    }
}

impl JwtSpec {
    /// The default header and signing, `claims` (an object) merged over the
    /// default claims.
    pub fn with_claims(claims: Value) -> Self {
        JwtSpec {
            claims: claims.as_object().cloned().unwrap_or_default(),
            ..JwtSpec::default()
        }
    }
}

/// The value of the first parameter `name` in `params`.
pub fn find_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Merges `overrides` into the object `target`; `null` removes the member.
pub fn merge(target: &mut Value, overrides: &Map<String, Value>) {
    if let Some(object) = target.as_object_mut() {
        for (k, v) in overrides {
            if v.is_null() {
                object.remove(k);
            } else {
                object.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The most requests of one kind the journal keeps: the oldest go first
/// (a development provider runs for long).
pub(crate) const JOURNAL_CAPACITY: usize = 10_000;

/// Appends `entry`, dropping the oldest past [`JOURNAL_CAPACITY`].
pub(crate) fn record<T>(entries: &mut Vec<T>, entry: T) {
    if entries.len() >= JOURNAL_CAPACITY {
        entries.drain(..entries.len() / 2);
    }
    entries.push(entry);
}

/// What the issuer was sent, for the tests to read.
#[derive(Default)]
pub(crate) struct Journal {
    pub(crate) counts: Counts,
    pub(crate) token: Vec<TokenRequest>,
    pub(crate) userinfo: Vec<UserinfoRequest>,
    pub(crate) introspection: Vec<FormRequest>,
    pub(crate) revocation: Vec<FormRequest>,
    pub(crate) par: Vec<FormRequest>,
    pub(crate) registration: Vec<RegistrationRequest>,
    /// Client assertions that verified: (header, claims), in order.
    pub(crate) assertions: Vec<(Value, Value)>,
    /// Every client assertion, as sent, before any check.
    pub(crate) raw_assertions: Vec<String>,
}
