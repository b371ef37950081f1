//! The tests' provider: the public test kit's [`TestIssuer`], started as a
//! provider that signs RS256 with a fixed pair of RSA keys and demands
//! `client_secret_basic` from client `rp`, and told to misbehave through
//! its hidden fault hook (`rocket_openidconnect::testing::faults`).
//!
//! The tests mostly drive the authorization step themselves: they read the
//! relying party's redirect ([`AuthRequest`]), ask for a code with
//! [`TestProvider::issue_code`] and send the callback.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocket_openidconnect::testing::TestIssuer;
// Each test binary uses its own subset.
#[allow(unused_imports)]
pub use rocket_openidconnect::testing::faults::{
    BACKCHANNEL_LOGOUT_EVENT, Behaviour, ClientAuth, Counts, Failure as TokenFailure, FormRequest, JWT_BEARER, JwtSpec,
    Key, RegistrationRequest, Signing, TokenRequest, UserinfoRequest, find_param, merge,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AuthRequest;

pub const CLIENT_ID: &str = "rp";
pub const CLIENT_SECRET: &str = "rp-secret";
pub const SUBJECT: &str = "alice";

/// One call to the introspection endpoint, as received.
pub type IntrospectionRequest = FormRequest;
/// One call to the revocation endpoint, as received.
pub type RevocationRequest = FormRequest;
/// A back-channel logout token to mint (`typ: logout+jwt`).
pub type LogoutToken = JwtSpec;
/// An RFC 9068 JWT access token to mint (`typ: at+jwt`).
pub type AccessTokenJwt = JwtSpec;

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// A fresh opaque value with a readable prefix.
pub fn random_token(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let digest = Sha256::digest(format!("{prefix}/{n}/{nanos}/{:?}", std::thread::current().id()));
    format!("{prefix}-{}", super::jwt::b64(&digest[..18]))
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

/// The kit's issuer, as the tests start it.
pub struct TestProvider {
    kit: TestIssuer,
    pub issuer: String,
    pub port: u16,
}

impl Deref for TestProvider {
    type Target = TestIssuer;

    fn deref(&self) -> &TestIssuer {
        &self.kit
    }
}

impl TestProvider {
    /// Starts a provider on an ephemeral port; returns once it accepts
    /// connections.
    pub async fn start() -> TestProvider {
        Self::start_on(0).await
    }

    /// Starts a provider on `port` (e.g. one from [`reserve_port`] that a
    /// relying party was already configured with).
    pub async fn start_on(port: u16) -> TestProvider {
        Self::launch(TestIssuer::builder().port(port)).await
    }

    /// Starts a provider whose time is `clock` (the app's too, so that
    /// both see a token's `iat` and `exp` alike when the test moves it).
    pub async fn start_with_clock(clock: &super::ManualClock) -> TestProvider {
        Self::launch(TestIssuer::builder().clock(clock.clone())).await
    }

    async fn launch(builder: rocket_openidconnect::testing::TestIssuerBuilder) -> TestProvider {
        let kit = builder
            .client(CLIENT_ID, CLIENT_SECRET)
            .start()
            .await
            .expect("the test issuer launches");
        kit.behave(|b| {
            b.client_auth = ClientAuth::Basic;
            b.signing_key = Key::Current;
            b.jwks = vec![Key::Current];
        });
        TestProvider {
            issuer: kit.url().to_string(),
            port: kit.port(),
            kit,
        }
    }

    /// Stops the provider and returns once its port refuses connections
    /// and connections kept alive by clients are closed.
    pub async fn stop(self) {
        let port = self.port;
        drop(self.kit);
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

    /// "Approves" the authorization request: a fresh single-use code bound
    /// to its parameters, as the authorization endpoint would give after
    /// the user logged in.
    pub fn issue_code(&self, auth: &AuthRequest) -> String {
        self.kit.issue_code_for(&auth.params)
    }

    /// The authorization request a front-channel `auth` (with only
    /// `client_id` and `request_uri`) refers to, as the provider resolves it.
    pub fn pushed(&self, auth: &AuthRequest) -> AuthRequest {
        let request_uri = auth.param("request_uri").expect("a request_uri in the redirect");
        AuthRequest {
            location: auth.location.clone(),
            endpoint: auth.endpoint.clone(),
            params: self
                .kit
                .pushed_params(request_uri)
                .expect("a request_uri the provider issued"),
        }
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
    /// table then lists it in `allowed_endpoint_origins`.
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

    pub fn authorization_endpoint(&self) -> String {
        self.endpoint_url("/authorize")
    }

    pub fn token_endpoint(&self) -> String {
        self.endpoint_url("/token")
    }

    pub fn introspection_endpoint(&self) -> String {
        self.endpoint_url("/introspect")
    }

    pub fn revocation_endpoint(&self) -> String {
        self.endpoint_url("/revoke")
    }

    pub fn end_session_endpoint(&self) -> String {
        self.endpoint_url("/logout")
    }

    pub fn registration_endpoint(&self) -> String {
        self.endpoint_url("/register")
    }

    /// The pushed authorization request endpoint (RFC 9126); advertise it
    /// with `behave(|b| b.discovery.insert(...))`.
    pub fn par_endpoint(&self) -> String {
        self.endpoint_url("/par")
    }
}
