//! `Identity<P, S, R>`: a bearer token when the request sends one, otherwise
//! the browser session (Flask-pyoidc's `access_control`).

use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::config::{DefaultProvider, NoRequirement, ProviderName, Requirement};
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
/// not apply to browser sessions).
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
pub enum Identity<P: ProviderName = DefaultProvider, S: RequiredScopes = NoScopes, R: Requirement = NoRequirement> {
    /// The request carried a valid bearer token.
    Token(BearerToken<P, S>),
    /// The request came from a logged-in browser.
    Session(OidcUser<P, R>),
}

impl<P: ProviderName, S: RequiredScopes, R: Requirement> Identity<P, S, R> {
    /// `"token"` or `"session"`.
    pub fn via(&self) -> &'static str {
        match self {
            Identity::Token(_) => "token",
            Identity::Session(_) => "session",
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
impl<'r, P: ProviderName, S: RequiredScopes, R: Requirement> FromRequest<'r> for Identity<P, S, R> {
    type Error = OidcError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let sends_token = request.headers().contains("Authorization") || access_token_in_query(request);
        if sends_token {
            BearerToken::<P, S>::from_request(request).await.map(Identity::Token)
        } else {
            OidcUser::<P, R>::from_request(request).await.map(Identity::Session)
        }
    }
}

impl<P: ProviderName, S: RequiredScopes, R: Requirement> Sentinel for Identity<P, S, R> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::provider_missing(rocket, P::NAME, "Identity")
    }
}
