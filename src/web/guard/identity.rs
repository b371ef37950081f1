//! `Identity<P, S, R, A>`: a bearer token when the request sends one, otherwise
//! the browser session (Flask-pyoidc's `access_control`).

use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::config::{Authorization, DefaultProvider, NoAuthorization, NoRequirement, ProviderName, Requirement};
use crate::error::OidcError;
use crate::web::guard::{BearerToken, NoScopes, OidcUser, RequiredScopes};
use crate::web::request::access_token_in_query;

/// A request guard accepting either an API call with a bearer token or a
/// logged-in browser, both of provider `P`.
///
/// A request with an `Authorization` header is judged only as a bearer
/// request (scopes `S` required): an invalid token is refused, never
/// passed on to the browser login. A request without one is judged as
/// [`OidcUser<P, R>`](OidcUser), requirement `R` included (the scopes do
/// not apply to browser sessions). The authorization `A` applies to both:
/// the token's claims, or the session's.
///
/// ```rust
/// use rocket::get;
/// use rocket_openidconnect::Identity;
///
/// #[get("/either")]
/// fn either(who: Identity) -> String {
///     match who {
///         Identity::Token(token) => format!("token of {:?}", token.subject()),
///         Identity::Session(user) => format!("session of {}", user.subject()),
///     }
/// }
/// ```
#[derive(Debug)]
pub enum Identity<
    P: ProviderName = DefaultProvider,
    S: RequiredScopes = NoScopes,
    R: Requirement = NoRequirement,
    A: Authorization = NoAuthorization,
> {
    /// The request carried a valid bearer token.
    Token(BearerToken<P, S, A>),
    /// The request came from a logged-in browser.
    Session(OidcUser<P, R, A>),
}

impl<P: ProviderName, S: RequiredScopes, R: Requirement, A: Authorization> Identity<P, S, R, A> {
    /// `"token"` or `"session"`.
    pub fn via(&self) -> &'static str {
        match self {
            Identity::Token(_) => "token",
            Identity::Session(_) => "session",
        }
    }

    /// Whether the user's (or the token's) roles hold `role`, read where
    /// the provider's `roles_claim` says.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_openidconnect::Identity;
    ///
    /// #[get("/either/admin")]
    /// fn admin(who: Identity) -> &'static str {
    ///     if who.has_role("admin") { "welcome" } else { "read-only" }
    /// }
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        match self {
            Identity::Token(token) => token.has_role(role),
            Identity::Session(user) => user.has_role(role),
        }
    }

    /// Whether the user's (or the token's) groups hold `group`.
    pub fn in_group(&self, group: &str) -> bool {
        match self {
            Identity::Token(token) => token.in_group(group),
            Identity::Session(user) => user.in_group(group),
        }
    }

    /// The tenant (`tid`) of a multi-tenant provider's token or session.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Identity::Token(token) => token.tenant(),
            Identity::Session(user) => user.tenant(),
        }
    }

    /// The claim at a dotted `path`: the token's, or the session's
    /// (userinfo over the ID token).
    pub fn claim(&self, path: &str) -> Option<&serde_json::Value> {
        match self {
            Identity::Token(token) => token.claim(path),
            Identity::Session(user) => user.claim(path),
        }
    }

    /// The user's `sub`, when known (a client-credentials token may have none).
    pub fn subject(&self) -> Option<&str> {
        match self {
            Identity::Token(token) => token.subject(),
            Identity::Session(user) => Some(user.subject()),
        }
    }
}

#[rocket::async_trait]
impl<'r, P: ProviderName, S: RequiredScopes, R: Requirement, A: Authorization> FromRequest<'r>
    for Identity<P, S, R, A>
{
    type Error = OidcError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let sends_token = request.headers().contains("Authorization") || access_token_in_query(request);
        if sends_token {
            BearerToken::<P, S, A>::from_request(request).await.map(Identity::Token)
        } else {
            OidcUser::<P, R, A>::from_request(request).await.map(Identity::Session)
        }
    }
}

impl<P: ProviderName, S: RequiredScopes, R: Requirement, A: Authorization> Sentinel for Identity<P, S, R, A> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::provider_missing(rocket, P::NAME, "Identity")
    }
}
