//! `OidcUser<P, R, A>`: the logged-in browser user of provider `P`, whose
//! login meets `R` and who is authorized by `A`.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};
use time::OffsetDateTime;

use crate::clock::UnixTime;
use crate::config::{
    Authorization, ClaimPath, DefaultProvider, NoAuthorization, NoRequirement, ProviderName, Requirement,
};
use crate::error::OidcError;
use crate::flow::login::{self, Prompt, StepUp};
use crate::flow::refresh::refresh_and_store;
use crate::flow::userinfo_refresh;
use crate::oidc::Oidc;
use crate::provider::budget::Caller;
use crate::secret::AccessToken;
use crate::session::UserSession;
use crate::session::jar::Jar;
use crate::web::request::is_navigation;
use crate::web::request_memo::{self, RequestMemo};

/// A request guard for a user logged in with provider `P` (the provider
/// named `default` when omitted).
///
/// Without a session of `P`, a browser navigation is redirected to the
/// provider to log in and comes back to the same URL; any other request
/// gets `401` with `{"error":"login_required"}`. A session of another
/// provider counts as none. Dereferences to [`UserSession`].
///
/// With `session_refresh_interval_seconds`, a navigation after that
/// interval is first re-checked at the provider with `prompt=none`; with
/// `refresh_before_expiry_seconds`, an access token about to expire is
/// refreshed first (and the session ends if that fails).
///
/// With an [`Authorization`] `A` (declared with
/// [`authorization!`](crate::authorization!)), a logged-in user who lacks
/// a role, a group or a claim value it asks for gets `403 access_denied`
/// (an HTML page for a navigation, JSON otherwise): never a login, which
/// would bring them back without the role, in a loop. Roles and groups are
/// read where the provider's `roles_claim` and `groups_claim` say, in the
/// ID token's claims with userinfo's over them.
///
/// Using the guard without [`Oidc::fairing()`], or with a provider missing
/// from the configuration, aborts launch.
///
/// ```rust
/// use rocket::get;
/// use rocket_openidconnect::{authorization, provider, DefaultProvider, NoRequirement, OidcUser};
///
/// provider!(Second = "second");
/// authorization!(Admins { roles: any ["admin"] });
///
/// #[get("/admin")]
/// fn admin(user: OidcUser<DefaultProvider, NoRequirement, Admins>) -> String {
///     format!("{} may administer", user.subject())
/// }
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
pub struct OidcUser<
    P: ProviderName = DefaultProvider,
    R: Requirement = NoRequirement,
    A: Authorization = NoAuthorization,
> {
    session: Arc<UserSession>,
    oidc: Oidc,
    jar: Arc<Jar>,
    provider: PhantomData<(P, R, A)>,
}

/// An access token known to be valid now, from
/// [`OidcUser::valid_access_token`].
///
/// ```rust
/// use rocket_openidconnect::ValidAccessToken;
///
/// fn header(token: &ValidAccessToken) -> String {
///     format!("Bearer {}", token.access_token().secret())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct ValidAccessToken {
    access_token: AccessToken,
    expires_at: Option<OffsetDateTime>,
    refreshed: bool,
}

impl ValidAccessToken {
    /// The token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// When it expires, when the provider said.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }

    /// Whether it was just obtained with the refresh token.
    pub fn refreshed(&self) -> bool {
        self.refreshed
    }
}

impl<P: ProviderName, R: Requirement, A: Authorization> OidcUser<P, R, A> {
    /// The session behind this guard.
    pub fn session(&self) -> &UserSession {
        &self.session
    }

    /// The user's roles, read where the provider's `roles_claim` says
    /// (userinfo over the ID token; a string or an array of strings,
    /// anything else is none).
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_openidconnect::OidcUser;
    ///
    /// #[get("/whoami")]
    /// fn whoami(user: OidcUser) -> String {
    ///     format!("{} with roles {:?} in groups {:?}", user.subject(), user.roles(), user.groups())
    /// }
    /// ```
    pub fn roles(&self) -> Vec<&str> {
        self.claim_paths()
            .map(|(roles, _)| self.session.claims_view().strings(roles))
            .unwrap_or_default()
    }

    /// The user's groups, read where the provider's `groups_claim` says.
    pub fn groups(&self) -> Vec<&str> {
        self.claim_paths()
            .map(|(_, groups)| self.session.claims_view().strings(groups))
            .unwrap_or_default()
    }

    /// Whether the user's roles hold `role`, exactly (no case folding).
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_openidconnect::OidcUser;
    ///
    /// #[get("/reports")]
    /// fn reports(user: OidcUser) -> &'static str {
    ///     if user.has_role("auditor") || user.in_group("finance") { "all reports" } else { "your reports" }
    /// }
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        self.claim_paths()
            .is_some_and(|(roles, _)| self.session.claims_view().has(roles, role))
    }

    /// Whether the user's groups hold `group`, exactly.
    pub fn in_group(&self, group: &str) -> bool {
        self.claim_paths()
            .is_some_and(|(_, groups)| self.session.claims_view().has(groups, group))
    }

    /// The user's tenant (`tid`), when provider `P` is multi-tenant
    /// (`tenants`): one of those allowed, checked against the ID token's
    /// `iss` at login.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_openidconnect::OidcUser;
    ///
    /// #[get("/tenant")]
    /// fn tenant(user: OidcUser) -> String {
    ///     user.tenant().unwrap_or("a single-tenant provider").to_string()
    /// }
    /// ```
    pub fn tenant(&self) -> Option<&str> {
        self.oidc.provider(P::NAME)?.config.tenancy()?;
        self.session.id_token_claims().get("tid")?.as_str()
    }

    /// Where provider `P` puts roles and groups.
    fn claim_paths(&self) -> Option<(&ClaimPath, &ClaimPath)> {
        let config = &self.oidc.provider(P::NAME)?.config;
        Some((&config.roles_claim, &config.groups_claim))
    }

    /// A valid access token (Flask-pyoidc's `valid_access_token`): the
    /// session's token while it is valid (with `clock_skew_seconds` to
    /// spare), else a new one obtained with the refresh token and stored
    /// in the session.
    ///
    /// Fails with [`OidcError::RefreshFailed`] (`401 login_required`) when
    /// the session has no refresh token or the provider refuses it; a
    /// refreshed ID token for another `iss`, `sub` or `aud` also ends the
    /// session. Concurrent calls for one session make one token request.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_openidconnect::{OidcError, OidcUser};
    ///
    /// #[get("/call-api")]
    /// async fn call_api(user: OidcUser) -> Result<String, OidcError> {
    ///     let token = user.valid_access_token().await?;
    ///     Ok(format!("refreshed: {}", token.refreshed()))
    /// }
    /// ```
    pub async fn valid_access_token(&self) -> Result<ValidAccessToken, OidcError> {
        let skew = i64::try_from(self.oidc.config().clock_skew_seconds).unwrap_or(0);
        if !expires_within(&self.session, skew, self.oidc.clock().time())
            && let Some(token) = &self.session.access_token
        {
            return Ok(ValidAccessToken {
                access_token: token.clone(),
                expires_at: self.session.access_token_expires_at(),
                refreshed: false,
            });
        }
        self.refreshed_access_token().await
    }

    /// A new access token, obtained with the refresh token and stored in
    /// the session whether or not the current one is still valid (after an
    /// API refused it, say). Fails as [`valid_access_token`](Self::valid_access_token)
    /// does; concurrent calls for one session make one token request.
    ///
    /// ```rust
    /// use rocket::get;
    /// use rocket_openidconnect::{OidcError, OidcUser};
    ///
    /// #[get("/call-api-again")]
    /// async fn call_api_again(user: OidcUser) -> Result<String, OidcError> {
    ///     let token = user.refreshed_access_token().await?;
    ///     assert!(token.refreshed());
    ///     Ok(token.access_token().secret().len().to_string())
    /// }
    /// ```
    pub async fn refreshed_access_token(&self) -> Result<ValidAccessToken, OidcError> {
        let fresh = refresh_and_store(&self.oidc, &self.jar, &self.session).await?;
        let access_token = fresh
            .access_token
            .clone()
            .ok_or_else(|| OidcError::RefreshFailed("the provider issued no access token".into()))?;
        Ok(ValidAccessToken {
            access_token,
            expires_at: fresh.access_token_expires_at(),
            refreshed: true,
        })
    }
}

/// Whether the session's access token is missing or expires within
/// `seconds` (at most half its lifetime).
fn expires_within(session: &UserSession, seconds: i64, now: UnixTime) -> bool {
    session.access_token_expires_within(seconds, now)
}

impl<P: ProviderName, R: Requirement, A: Authorization> Deref for OidcUser<P, R, A> {
    type Target = UserSession;

    fn deref(&self) -> &UserSession {
        &self.session
    }
}

impl<P: ProviderName, R: Requirement, A: Authorization> std::fmt::Debug for OidcUser<P, R, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OidcUser").field(&*self.session).finish()
    }
}

/// The logged-in user of `session`, as provider budgets count them.
fn user_caller(session: &UserSession) -> Caller {
    Caller::User(crate::store::digest(&[&session.provider, &session.sub]))
}

/// Starts a login at `provider` back to this request's URL: the guard's
/// 401 becomes the redirect.
async fn login_redirect(
    oidc: &Oidc,
    request: &Request<'_>,
    jar: &Jar,
    provider_name: &str,
    prompt: Prompt<'_>,
    step_up: &StepUp,
    caller: Caller,
) -> OidcError {
    let Some(provider) = oidc.provider(provider_name) else {
        return OidcError::LoginRequired;
    };
    let return_to = request.uri().to_string();
    match login::begin(oidc, jar, provider, &return_to, prompt, step_up, caller).await {
        Ok(redirect) => {
            request_memo::put(&RequestMemo::of(request).login_redirect, redirect);
            OidcError::LoginRequired
        }
        Err(error) => {
            event!(
                warn,
                "oidc: a login at provider `{}` could not start: {error}",
                provider.name
            );
            error
        }
    }
}

/// What a guard does with the session it found. `strict`: the route
/// decides by the user's claims (an `Authorization`), so stale ones must
/// not do.
async fn current_session(
    oidc: &Oidc,
    request: &Request<'_>,
    state: &RequestMemo,
    jar: &Jar,
    provider_name: &str,
    strict: bool,
) -> Result<Option<Arc<UserSession>>, OidcError> {
    let Some(mut session) = state
        .session(request, oidc)
        .await?
        .filter(|s| s.provider == provider_name)
    else {
        return Ok(None);
    };
    let Some(provider) = oidc.provider(provider_name) else {
        return Ok(None);
    };
    let config = &provider.config;

    let interval = i64::try_from(config.session_refresh_interval_seconds).unwrap_or(i64::MAX);
    if interval > 0 && oidc.clock().time().secs_since(session.last_authenticated.as_secs()) >= interval {
        // Only a navigation can be re-checked silently; anything else waits
        // for one (a script gets 401 and can navigate), so a stolen cookie
        // used by a script does not outlive the interval.
        if is_navigation(request) {
            let none = StepUp::default();
            let silent = Prompt::Silent {
                id_token_hint: session.id_token_jwt.secret(),
            };
            return Err(Box::pin(login_redirect(
                oidc,
                request,
                jar,
                provider_name,
                silent,
                &none,
                user_caller(&session),
            ))
            .await);
        }
        return Err(OidcError::LoginRequired);
    }

    let ahead = i64::try_from(config.refresh_before_expiry_seconds).unwrap_or(i64::MAX);
    // Without a refresh token there is nothing to refresh with: the token
    // is used until it expires, as without this option.
    if ahead > 0 && session.refresh_token.is_some() && expires_within(&session, ahead, oidc.clock().time()) {
        // The rare paths run in futures of their own, so that the guard's
        // own future stays small (it is allocated on every request).
        session = match Box::pin(refresh_and_store(oidc, jar, &session)).await {
            Ok(fresh) => fresh,
            Err(error @ OidcError::StoreUnavailable(_)) => return Err(error),
            // The provider refused the refresh, or its answer did not
            // validate: the session was ended.
            Err(error @ OidcError::SessionEnded(_)) => {
                event!(info, "oidc: proactive refresh failed ({error}); the session ends");
                Box::pin(oidc.sessions().end(jar)).await?;
                return Ok(None);
            }
            // A provider that is down (or keys that cannot be fetched now)
            // ends nothing, even once the token has expired: the user is
            // still logged in, and the next request tries again.
            Err(error) => {
                event!(info, "oidc: proactive refresh postponed: {error}");
                session
            }
        };
    }

    if userinfo_refresh::due(config.userinfo_refresh_seconds, &session, oidc.clock().time()) {
        return match Box::pin(userinfo_refresh::reread_and_store(oidc, jar, session.clone())).await {
            Ok(fresh) => Ok(Some(fresh)),
            // Ended already (the provider no longer answers for it, or a
            // logout came meanwhile): log in again.
            Err(error @ OidcError::SessionEnded(_)) => {
                event!(
                    info,
                    "oidc: userinfo could not be read again ({error}); the session ends"
                );
                Ok(None)
            }
            Err(error @ OidcError::StoreUnavailable(_)) => Err(error),
            // The provider cannot be asked now: a route deciding by the
            // user's claims must not decide on stale ones (`502`); any
            // other goes on, and the next request asks again.
            Err(error) if strict => Err(error),
            Err(error) => {
                event!(info, "oidc: userinfo refresh postponed: {error}");
                Ok(Some(session))
            }
        };
    }
    Ok(Some(session))
}

/// Whether the user of `session` meets `A`: `403 access_denied`, said in
/// the log and the metrics, when not.
fn authorized<A: Authorization>(
    oidc: &Oidc,
    request: &Request<'_>,
    provider_name: &str,
    session: &UserSession,
) -> Result<(), OidcError> {
    // Most routes ask nothing: no lookup on their hot path.
    if crate::token::authorization::asks_nothing::<A>() {
        return Ok(());
    }
    let Some(provider) = oidc.provider(provider_name) else {
        return Err(OidcError::LoginRequired);
    };
    let config = &provider.config;
    crate::token::authorization::check::<A>(session.claims_view(), &config.roles_claim, &config.groups_claim)
        .map_err(|reason| super::access_denied::<A>(request, "session", provider_name, reason))
}

#[rocket::async_trait]
impl<'r, P: ProviderName, R: Requirement, A: Authorization> FromRequest<'r> for OidcUser<P, R, A> {
    type Error = OidcError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let Some(oidc) = request.rocket().state::<Oidc>() else {
            // Unreachable when launched: the sentinel refuses to launch without the fairing.
            return Outcome::Error((Status::InternalServerError, OidcError::LoginRequired));
        };
        let state = RequestMemo::of(request);
        let jar = state.jar(request, oidc);
        let required = !R::ACR_VALUES.is_empty() || R::MAX_AGE.is_some();
        let strict = !crate::token::authorization::asks_nothing::<A>();
        let error = match current_session(oidc, request, state, &jar, P::NAME, strict).await {
            Ok(Some(session))
                if !required
                    || StepUp::satisfied_by(
                        R::ACR_VALUES,
                        R::MAX_AGE,
                        session.id_token_claims(),
                        oidc.clock().time(),
                        oidc.skew_seconds(),
                    ) =>
            {
                match authorized::<A>(oidc, request, P::NAME, &session) {
                    Ok(()) => {
                        return Outcome::Success(OidcUser {
                            session,
                            oidc: oidc.clone(),
                            jar,
                            provider: PhantomData,
                        });
                    }
                    Err(denied) => denied,
                }
            }
            // No session, or one weaker or older than the route asks: a
            // navigation logs in (asking for what the route needs) and comes
            // back; anything else gets 401, RFC 9470's challenge for a weak one.
            Ok(found) => {
                let step_up = StepUp::of(R::ACR_VALUES, R::MAX_AGE);
                let weak = found.is_some();
                if is_navigation(request) {
                    match Box::pin(login_redirect(
                        oidc,
                        request,
                        &jar,
                        P::NAME,
                        Prompt::Interactive,
                        &step_up,
                        if let Some(session) = found.as_deref() {
                            user_caller(session)
                        } else {
                            Caller::Anonymous(request.client_ip())
                        },
                    ))
                    .await
                    {
                        OidcError::LoginRequired if weak => step_up.refusal(),
                        other => other,
                    }
                } else if weak {
                    step_up.refusal()
                } else {
                    OidcError::LoginRequired
                }
            }
            Err(error) => error,
        };
        error.stash(request);
        Outcome::Error((error.status(), error))
    }
}

impl<P: ProviderName, R: Requirement, A: Authorization> Sentinel for OidcUser<P, R, A> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::provider_missing(rocket, P::NAME, "OidcUser")
    }
}
