//! `OidcUser<P>`: the logged-in browser user of provider `P`.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::error::OidcError;
use crate::fairing::Oidc;
use crate::guard::is_navigation;
use crate::provider::{DefaultProvider, ProviderName};
use crate::session::UserSession;

/// A request guard for a user logged in with provider `P` (the provider
/// named `default` when omitted).
///
/// Without a session of `P`, a browser navigation is redirected to the
/// provider to log in and comes back to the same URL; any other request
/// gets `401` with `{"error":"login_required"}`. A session of another
/// provider counts as none. Dereferences to [`UserSession`].
///
/// Using the guard without [`Oidc::fairing()`], or with a provider missing
/// from the configuration, aborts launch.
///
/// ```rust
/// # #[macro_use] extern crate rocket;
/// use rocket_openidconnect::{provider, OidcUser};
///
/// provider!(Second = "second");
///
/// #[get("/profile")]
/// fn profile(user: OidcUser) -> String {
///     format!("{} logged in with {}", user.subject(), user.provider())
/// }
///
/// #[get("/second")]
/// fn second(user: OidcUser<Second>) -> Option<String> {
///     user.userinfo()?.get("email")?.as_str().map(String::from)
/// }
/// ```
pub struct OidcUser<P: ProviderName = DefaultProvider> {
    session: Arc<UserSession>,
    provider: PhantomData<P>,
}

impl<P: ProviderName> OidcUser<P> {
    /// The session behind this guard.
    pub fn session(&self) -> &UserSession {
        &self.session
    }
}

impl<P: ProviderName> Deref for OidcUser<P> {
    type Target = UserSession;

    fn deref(&self) -> &UserSession {
        &self.session
    }
}

impl<P: ProviderName> std::fmt::Debug for OidcUser<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OidcUser").field(&*self.session).finish()
    }
}

#[rocket::async_trait]
impl<'r, P: ProviderName> FromRequest<'r> for OidcUser<P> {
    type Error = OidcError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let Some(oidc) = request.rocket().state::<Oidc>() else {
            // Unreachable when launched: the sentinel refuses to launch without the fairing.
            return Outcome::Error((Status::InternalServerError, OidcError::LoginRequired));
        };
        if let Some(session) = oidc.session(request).await {
            if session.provider == P::NAME {
                return Outcome::Success(OidcUser {
                    session,
                    provider: PhantomData,
                });
            }
        }
        let error = match oidc.provider(P::NAME) {
            Some(provider) if is_navigation(request) => {
                match crate::login::begin(oidc, request, provider).await {
                    Ok(()) => OidcError::LoginRequired,
                    Err(error) => error,
                }
            }
            _ => OidcError::LoginRequired,
        };
        error.stash(request);
        Outcome::Error((error.status(), error))
    }
}

impl<P: ProviderName> Sentinel for OidcUser<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        crate::fairing::provider_missing(rocket, P::NAME, "OidcUser")
    }
}
