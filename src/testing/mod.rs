//! Test an app's handlers through the real crate, with an in-process
//! OpenID Provider (cargo feature `testing`).
//!
//! [`TestIssuer::start`] runs a small but real OpenID Provider on a
//! loopback port: a discovery document, a fresh ES256 signing key on its
//! JWKS, the authorization, token (code with PKCE, refresh, client
//! credentials), userinfo, introspection, revocation, end-session,
//! registration (RFC 7591) and pushed authorization request (RFC 9126,
//! not in its discovery document) endpoints. The app under test talks to it over HTTP like to any
//! provider, so everything of the crate runs as in production: the
//! fairing, discovery, key fetch, ID-token and JWT validation, the session
//! codec and its store. Nothing is mocked and no check is skipped.
//!
//! - [`TestIssuer::configure`] points the app's `default` provider (or
//!   [another one](TestIssuer::configure_as)) at the issuer.
//! - [`TestIssuer::login_as`] logs a user in on a tracked
//!   [`Client`] in one call: the crate starts the login, the issuer
//!   approves it for the [`TestUser`] you describe, the callback runs; the
//!   client then carries the session on every later request.
//! - [`TestIssuer::access_token`] mints bearer tokens (JWT or opaque with
//!   introspection) with the subject, scopes, audience and expiry you
//!   choose, and the bad ones your app must refuse.
//! - [`TestIssuer::backchannel_logout`] logs a user out at the provider.
//! - [`ManualClock`], given to [`Oidc::fairing().with_clock`](crate::OidcFairing::with_clock)
//!   and to [`TestIssuerBuilder::clock`], reaches a session's lifetime or
//!   inactivity timeout, or a token's `exp`, by
//!   [`advance`](ManualClock::advance) instead of by waiting.
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! rocket_openidconnect = { version = "0.1", features = ["testing"] }
//! ```
//!
//! # Example
//!
//! ```rust
//! use rocket::{get, routes};
//! use rocket::http::{Header, Status};
//! use rocket::local::asynchronous::Client;
//! use rocket_openidconnect::testing::{TestIssuer, TestUser};
//! use rocket_openidconnect::{BearerToken, DefaultProvider, Oidc, OidcUser, scopes};
//!
//! scopes!(Read = "read");
//!
//! #[get("/hello")]
//! fn hello(user: OidcUser) -> String {
//!     let name = user.id_token_claims().get("name").and_then(|n| n.as_str());
//!     format!("hello, {}", name.unwrap_or("stranger"))
//! }
//!
//! #[get("/api")]
//! fn api(token: BearerToken<DefaultProvider, Read>) -> String {
//!     format!("token of {}", token.identity().subject().unwrap_or("nobody"))
//! }
//!
//! fn app() -> rocket::Rocket<rocket::Build> {
//!     rocket::build().attach(Oidc::fairing()).mount("/", routes![hello, api])
//! }
//!
//! # rocket::async_test(async {
//! let issuer = TestIssuer::start().await?;
//! let client = Client::tracked(issuer.configure(app())).await?;
//!
//! // Without a session, an API call is refused.
//! assert_eq!(client.get("/hello").dispatch().await.status(), Status::Unauthorized);
//!
//! issuer.login_as(&client, TestUser::new("alice").claim("name", "Alice")).await?;
//! let hello = client.get("/hello").dispatch().await;
//! assert_eq!(hello.into_string().await.as_deref(), Some("hello, Alice"));
//!
//! let good = issuer.access_token().subject("svc").scopes(["read"]).jwt();
//! let api = client.get("/api").header(Header::new("Authorization", format!("Bearer {good}")));
//! assert_eq!(api.dispatch().await.status(), Status::Ok);
//!
//! let expired = issuer.access_token().scopes(["read"]).expired().opaque();
//! let api = client.get("/api").header(Header::new("Authorization", format!("Bearer {expired}")));
//! assert_eq!(api.dispatch().await.status(), Status::Unauthorized);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # As a development provider
//!
//! A person can use the issuer too: its authorization endpoint shows a
//! login page where you pick the user and their claims, `/sessions` lists
//! the logins with a button that sends a back-channel logout to the app,
//! and it honours `prompt=none` and RP-initiated logout. Started with a
//! fixed port and client ([`TestIssuerBuilder::port`],
//! [`TestIssuerBuilder::client`]) in a small `main`, it is a development
//! provider in pure Rust:
//!
//! ```rust,no_run
//! use rocket_openidconnect::testing::{TestIssuer, TestingError};
//!
//! #[rocket::main]
//! async fn main() -> Result<(), TestingError> {
//!     let issuer = TestIssuer::builder().port(9000).client("demo", "demo-secret").start().await?;
//!     println!("a development provider at {}", issuer.url());
//!     let _ = rocket::tokio::signal::ctrl_c().await;
//!     Ok(())
//! }
//! ```

mod fault_hook;
#[doc(hidden)]
pub mod faults;
mod issuer;
mod manual_clock;
mod pages;
mod server;
mod signer;

use std::sync::Arc;
use std::time::Duration;

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{Build, Rocket};
use serde_json::{Map, Value, json};

pub use self::manual_clock::ManualClock;

/// The crate's one JOSE module, for the crate's own tests (they sign what
/// a provider or a client would, and forgeries): not part of the API.
#[doc(hidden)]
pub mod jose {
    pub use crate::jose::{Alg, CompactJws, Key, Signature, b64, b64_decode, encode, encode_text, jwk_thumbprint};
}

use self::issuer::{Core, Decision};
use crate::clock::{AppClock, Clock};
use crate::error::OidcError;
use crate::flow::login::{self, Prompt};
use crate::oidc::Oidc;
use crate::session::jar::Jar;

/// The client id of a [`TestIssuer`] unless [`TestIssuerBuilder::client`]
/// sets another.
pub const CLIENT_ID: &str = "test-client";

/// What went wrong in the test kit; lower-case messages that say what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum TestingError {
    /// The issuer could not start (no free port, no random numbers).
    Launch(String),
    /// The client's Rocket has no [`Oidc::fairing()`] attached.
    NoFairing,
    /// No provider of the app is configured with this issuer.
    NotConfigured {
        /// The issuer's URL.
        issuer: String,
    },
    /// The crate could not start the login (e.g. the issuer is stopped).
    Login(OidcError),
    /// The issuer refused the authorization request.
    Refused {
        /// The OAuth error code.
        error: String,
        /// Why.
        description: String,
    },
    /// The app's callback did not create a session.
    LoginFailed {
        /// The callback's status.
        status: u16,
        /// The callback's body.
        body: String,
    },
    /// The client does not keep cookies: use `Client::tracked`.
    UntrackedClient,
    /// The issuer has no login session of this subject.
    NoSession {
        /// The subject.
        subject: String,
    },
}

impl std::fmt::Display for TestingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestingError::Launch(why) => write!(f, "the test issuer could not start: {why}"),
            TestingError::NoFairing => write!(f, "the client's rocket has no `Oidc::fairing()` attached"),
            TestingError::NotConfigured { issuer } => write!(
                f,
                "no provider of the app has `issuer = \"{issuer}\"`: build the rocket with `TestIssuer::configure`"
            ),
            TestingError::Login(error) => write!(f, "the login could not start: {error}"),
            TestingError::Refused { error, description } => {
                write!(
                    f,
                    "the test issuer refused the authorization request: {error}: {description}"
                )
            }
            TestingError::LoginFailed { status, body } => {
                write!(
                    f,
                    "the app's callback answered {status} instead of creating a session: {body}"
                )
            }
            TestingError::UntrackedClient => {
                write!(f, "the client keeps no cookies, so no session: use `Client::tracked`")
            }
            TestingError::NoSession { subject } => write!(f, "`{subject}` is not logged in at the test issuer"),
        }
    }
}

impl std::error::Error for TestingError {}

/// A user the [`TestIssuer`] logs in: a subject, the ID token's claims and
/// the userinfo answer.
///
/// Without [`userinfo_claim`](TestUser::userinfo_claim), userinfo answers
/// `sub` and the ID token's claims, as most providers do.
///
/// ```rust
/// use rocket_openidconnect::testing::TestUser;
///
/// let alice = TestUser::new("alice")
///     .claim("email", "alice@example.com")
///     .claim("groups", ["admins"])
///     .userinfo_claim("locale", "fr");
/// let bob: TestUser = "bob".into();
/// ```
#[derive(Debug, Clone)]
pub struct TestUser {
    subject: String,
    claims: Map<String, Value>,
    userinfo: Option<Map<String, Value>>,
}

impl TestUser {
    /// A user with this `sub` and no other claim.
    pub fn new(subject: impl Into<String>) -> TestUser {
        TestUser {
            subject: subject.into(),
            claims: Map::new(),
            userinfo: None,
        }
    }

    /// Adds a claim to the ID token (and to userinfo, unless userinfo
    /// claims are set). A claim can also replace a protocol claim
    /// (`acr`, `amr`, `auth_time`, even `aud` or `exp`) to test what the
    /// crate then does; `sub` is always the subject.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> TestUser {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Adds a claim that only userinfo answers.
    pub fn userinfo_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> TestUser {
        self.userinfo
            .get_or_insert_with(Map::new)
            .insert(name.into(), value.into());
        self
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    fn userinfo_claims(&self) -> Map<String, Value> {
        let mut claims = self.userinfo.clone().unwrap_or_else(|| self.claims.clone());
        claims.insert("sub".into(), json!(self.subject));
        claims
    }
}

impl From<&str> for TestUser {
    fn from(subject: &str) -> TestUser {
        TestUser::new(subject)
    }
}

/// How a [`TestIssuer`] starts: its port, client, token lifetime, and
/// whether a person uses it.
///
/// ```rust
/// use rocket_openidconnect::testing::TestIssuer;
///
/// # rocket::async_test(async {
/// let issuer = TestIssuer::builder()
///     .client("demo", "demo-secret")
///     .access_token_lifetime(std::time::Duration::from_secs(60))
///     .start()
///     .await?;
/// assert_eq!(issuer.client_id(), "demo");
/// # Ok::<(), rocket_openidconnect::testing::TestingError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct TestIssuerBuilder {
    port: u16,
    client_id: String,
    client_secret: String,
    access_token_seconds: i64,
    backchannel_logout_uri: Option<String>,
    clock: AppClock,
}

impl TestIssuerBuilder {
    /// Reads the time from `clock` (default: the system's): give it the
    /// [`ManualClock`] the app has, so that tokens are issued and expire
    /// on the app's time.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = AppClock::new(Arc::new(clock));
        self
    }

    /// Listens on this loopback port (default `0`: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The client the app is (default [`CLIENT_ID`] with a random secret).
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = secret.into();
        self
    }

    /// How long access tokens from a login or client credentials live
    /// (default one hour).
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_seconds = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Where the sessions page sends back-channel logout tokens (default:
    /// the origin of the client's redirect URI with `/backchannel_logout`).
    pub fn backchannel_logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.backchannel_logout_uri = Some(uri.into());
        self
    }

    /// Starts the issuer; returns once it answers.
    pub async fn start(self) -> Result<TestIssuer, TestingError> {
        let client = issuer::Client {
            id: self.client_id,
            secret: self.client_secret,
        };
        let core = Core::new(
            client,
            self.access_token_seconds,
            self.backchannel_logout_uri,
            self.clock,
        )
        .map(Arc::new)
        .ok_or_else(|| TestingError::Launch("no random numbers for a key".into()))?;
        let running = server::launch(core.clone(), self.port).await?;
        Ok(TestIssuer { core, running })
    }
}

/// An in-process OpenID Provider for an app's tests (see the
/// [module documentation](self)). It stops when dropped.
///
/// ```rust
/// use rocket_openidconnect::testing::TestIssuer;
///
/// # rocket::async_test(async {
/// let issuer = TestIssuer::start().await?;
/// assert!(issuer.url().starts_with("http://127.0.0.1:"));
/// # Ok::<(), rocket_openidconnect::testing::TestingError>(())
/// # }).unwrap();
/// ```
pub struct TestIssuer {
    core: Arc<Core>,
    running: server::Running,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.url())
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.running.shutdown.clone().notify();
    }
}

impl TestIssuer {
    /// Starts an issuer on a free loopback port with client [`CLIENT_ID`].
    pub async fn start() -> Result<TestIssuer, TestingError> {
        TestIssuer::builder().start().await
    }

    /// A builder for an issuer with other settings.
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            port: 0,
            client_id: CLIENT_ID.into(),
            client_secret: signer::random_token(),
            access_token_seconds: 3600,
            backchannel_logout_uri: None,
            clock: AppClock::default(),
        }
    }

    /// The issuer identifier, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        self.core.issuer()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.running.port
    }

    /// The client id the app must use.
    pub fn client_id(&self) -> &str {
        &self.core.client.id
    }

    /// The provider table (`oidc.providers.<name>`) that points at this
    /// issuer: `issuer`, `discovery_url`, `client_id`, `client_secret`,
    /// `token_endpoint_auth_method`.
    pub fn provider_config(&self) -> Value {
        let client = &self.core.client;
        json!({
            "issuer": self.url(),
            "discovery_url": format!("{}/.well-known/openid-configuration", self.url()),
            "client_id": client.id,
            "client_secret": client.secret,
            "token_endpoint_auth_method": "client_secret_basic",
        })
    }

    /// `rocket` with its `default` provider pointed at this issuer.
    pub fn configure(&self, rocket: Rocket<Build>) -> Rocket<Build> {
        self.configure_as("default", rocket)
    }

    /// `rocket` with its provider `name` pointed at this issuer. The rest
    /// of the app's configuration stays: scopes, bearer settings, the
    /// session store, Redis. The provider's table must not use `metadata`,
    /// `registration` or `client_secret_file`, which would conflict. Without
    /// an `oidc.redirect_uri`, `http://127.0.0.1:8000/redirect_uri` is used.
    ///
    /// ```rust
    /// use rocket_openidconnect::testing::TestIssuer;
    /// use rocket_openidconnect::Oidc;
    ///
    /// # rocket::async_test(async {
    /// let (first, second) = (TestIssuer::start().await?, TestIssuer::start().await?);
    /// let rocket = second.configure_as("second", first.configure(rocket::build().attach(Oidc::fairing())));
    /// # let _ = rocket;
    /// # Ok::<(), rocket_openidconnect::testing::TestingError>(())
    /// # }).unwrap();
    /// ```
    pub fn configure_as(&self, name: &str, rocket: Rocket<Build>) -> Rocket<Build> {
        let mut figment = rocket
            .figment()
            .clone()
            .merge((format!("oidc.providers.{name}"), self.provider_config()));
        if figment.find_value("oidc.redirect_uri").is_err() {
            figment = figment.merge(("oidc.redirect_uri", "http://127.0.0.1:8000/redirect_uri"));
        }
        rocket.configure(figment)
    }

    /// Logs `user` in on `client` with the app's provider of this issuer:
    /// the crate starts the login, the issuer approves it, the app's
    /// callback exchanges the code, validates the ID token, fetches
    /// userinfo and stores the session. Every later request of the client
    /// carries the session.
    ///
    /// `client` must be [`Client::tracked`]. Fails with what went wrong
    /// when the app refuses the login.
    pub async fn login_as(&self, client: &Client, user: impl Into<TestUser>) -> Result<(), TestingError> {
        let oidc = client.rocket().state::<Oidc>().ok_or(TestingError::NoFairing)?;
        let provider = oidc
            .providers()
            .find(|provider| provider.config.issuer.as_deref().map(|i| i.trim_end_matches('/')) == Some(self.url()))
            .ok_or_else(|| TestingError::NotConfigured {
                issuer: self.url().to_string(),
            })?;
        let jar = Jar::new(
            std::iter::empty(),
            oidc.cipher().clone(),
            oidc.config().cookies_secure(),
        );
        let redirect = login::begin(
            oidc,
            &jar,
            provider,
            "/",
            Prompt::Interactive,
            &login::StepUp::default(),
            crate::provider::budget::Caller::App,
        )
        .await
        .map_err(TestingError::Login)?;
        let params = url::Url::parse(&redirect.location)
            .map(|url| url.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let answer = self
            .core
            .authorize(&params, Decision::Approve(Arc::new(user.into())))
            .map_err(|refusal| TestingError::Refused {
                error: refusal.error.to_string(),
                description: refusal.description,
            })?;
        if let Some((_, error)) = answer.params.iter().find(|(name, _)| name == "error") {
            return Err(TestingError::Refused {
                error: error.clone(),
                description: answer.location(),
            });
        }
        let callback = url::Url::parse(&answer.redirect_uri).map_err(|_| TestingError::NotConfigured {
            issuer: self.url().to_string(),
        })?;
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&answer.params)
            .finish();
        let mut request = if answer.form_post {
            client
                .post(callback.path().to_string())
                .header(ContentType::Form)
                .body(form)
        } else {
            client.get(format!("{}?{form}", callback.path()))
        };
        request = request.header(Header::new("Accept", "text/html"));
        for cookie in redirect.cookies {
            request = request.cookie(cookie);
        }
        let response = request.dispatch().await;
        if response.status() != Status::SeeOther {
            return Err(TestingError::LoginFailed {
                status: response.status().code,
                body: response.into_string().await.unwrap_or_default(),
            });
        }
        drop(response);
        let has_session = client
            .cookies()
            .iter()
            .any(|cookie| cookie.name().starts_with("oidc_session") || cookie.name() == "oidc_sid");
        if has_session {
            Ok(())
        } else {
            Err(TestingError::UntrackedClient)
        }
    }

    /// Logs `subject` out at the issuer: every login session of theirs
    /// ends, and a signed logout token for each is POSTed to the app's
    /// `backchannel_logout_path` through `client` (Back-Channel Logout
    /// 1.0). Returns the app's answer to the last one (`200` when it
    /// accepted it).
    pub async fn backchannel_logout(&self, client: &Client, subject: &str) -> Result<Status, TestingError> {
        let oidc = client.rocket().state::<Oidc>().ok_or(TestingError::NoFairing)?;
        let path = oidc.config().backchannel_logout_path.clone();
        let mut last = None;
        for session in self.core.end_sessions(Some(subject), None) {
            let token = self.core.logout_token(&session);
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("logout_token", &token)
                .finish();
            let response = client
                .post(path.clone())
                .header(ContentType::Form)
                .body(body)
                .dispatch()
                .await;
            last = Some(response.status());
        }
        last.ok_or_else(|| TestingError::NoSession {
            subject: subject.to_string(),
        })
    }

    /// Revokes an access token (or a refresh token): introspection answers
    /// `active: false` from now on.
    pub fn revoke(&self, token: &str) {
        self.core.revoke(token, None);
    }

    /// Mints an access token; see [`AccessTokenBuilder`].
    pub fn access_token(&self) -> AccessTokenBuilder<'_> {
        let client_id = self.client_id().to_string();
        let mut claims = self.core.access_claims("test-user", &client_id, "");
        claims.insert("aud".into(), json!(client_id));
        AccessTokenBuilder {
            issuer: self,
            claims,
            forged: false,
        }
    }
}

/// An access token to mint, from [`TestIssuer::access_token`]: by default
/// for subject `test-user`, no scope, audience the client id, valid for an
/// hour. Finish with [`jwt`](Self::jwt) (RFC 9068, signed with the
/// issuer's key) or [`opaque`](Self::opaque) (answered by introspection).
///
/// ```rust
/// use std::time::Duration;
/// use rocket_openidconnect::testing::TestIssuer;
///
/// # rocket::async_test(async {
/// let issuer = TestIssuer::start().await?;
/// let good = issuer.access_token().subject("svc").scopes(["read", "write"]).jwt();
/// let short = issuer.access_token().expires_in(Duration::from_secs(5)).opaque();
/// // What an app must refuse:
/// let expired = issuer.access_token().expired().jwt();
/// let elsewhere = issuer.access_token().audience("another-api").jwt();
/// let forged = issuer.access_token().signed_by_unknown_key().jwt();
/// # let _ = (good, short, expired, elsewhere, forged);
/// # Ok::<(), rocket_openidconnect::testing::TestingError>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct AccessTokenBuilder<'a> {
    issuer: &'a TestIssuer,
    claims: Map<String, Value>,
    forged: bool,
}

impl AccessTokenBuilder<'_> {
    /// The `sub`.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", subject.into())
    }

    /// The `scope`, space-separated.
    pub fn scopes<S: AsRef<str>>(self, scopes: impl IntoIterator<Item = S>) -> Self {
        let scope: Vec<String> = scopes.into_iter().map(|s| s.as_ref().to_string()).collect();
        self.claim("scope", scope.join(" "))
    }

    /// The `aud` (default the client id).
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", audience.into())
    }

    /// Valid for this long from now (default an hour).
    pub fn expires_in(self, lifetime: Duration) -> Self {
        let seconds = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        let now = self.issuer.core.clock.now();
        self.claim("exp", now.saturating_add(seconds))
    }

    /// Expired an hour ago (beyond any clock skew).
    pub fn expired(self) -> Self {
        let now = self.issuer.core.clock.now();
        self.claim("iat", now - 7200).claim("exp", now - 3600)
    }

    /// Any other claim (`iss` to test a wrong issuer, `cnf`, `acr`...).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_string(), value.into());
        self
    }

    /// Signed by a key the issuer never published: a forgery.
    pub fn signed_by_unknown_key(mut self) -> Self {
        self.forged = true;
        self
    }

    /// A JWT access token (RFC 9068, `typ: at+jwt`, ES256). Introspection
    /// answers for it too.
    pub fn jwt(self) -> String {
        let core = &self.issuer.core;
        let signer = if self.forged { &core.stray } else { &core.signer };
        let token = signer.sign("at+jwt", &self.claims);
        if !self.forged {
            core.remember(token.clone(), self.claims, None);
        }
        token
    }

    /// An opaque token that the issuer's introspection endpoint answers
    /// for with these claims (`active: false` once expired or revoked).
    pub fn opaque(self) -> String {
        self.issuer.core.register(self.claims, None)
    }
}
