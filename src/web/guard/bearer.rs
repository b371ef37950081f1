//! `BearerToken<P, S, A>`: an API request carrying a valid access token
//! with the scopes `S`, issued by provider `P`, whose subject `A`
//! authorizes.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::config::{Authorization, DefaultProvider, DpopMode, NoAuthorization, ProviderName};
use crate::error::{BearerError, DpopError, OidcError, ProviderError};
use crate::oidc::Oidc;
use crate::provider::budget::Caller;
use crate::secret::AccessToken;
use crate::store::Once;
use crate::token::access::{self, TokenIdentity};
use crate::token::dpop;
use crate::web::request::access_token_in_query;
use crate::web::request_memo::{self, BearerChecked, RequestMemo};

/// Scopes a resource requires, named at the type level. Declare one with
/// [`scopes!`](crate::scopes!).
///
/// ```rust
/// use rocket_openidconnect::{NoScopes, RequiredScopes};
///
/// assert!(NoScopes::SCOPES.is_empty());
/// ```
pub trait RequiredScopes: Send + Sync + 'static {
    /// Every one of these must be granted to the token.
    const SCOPES: &'static [&'static str];
}

/// No scope required: [`BearerToken`] alone.
///
/// ```rust
/// use rocket_openidconnect::{BearerToken, DefaultProvider, NoScopes};
///
/// fn same(_: BearerToken) -> Option<BearerToken<DefaultProvider, NoScopes>> { None }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NoScopes;

impl RequiredScopes for NoScopes {
    const SCOPES: &'static [&'static str] = &[];
}

/// Declares a zero-sized type naming the scopes a resource requires.
///
/// ```rust
/// use rocket::post;
/// use rocket_openidconnect::{BearerToken, DefaultProvider, RequiredScopes, scopes};
///
/// scopes!(
///     /// Reading and writing documents.
///     pub ReadWrite = "read", "write"
/// );
///
/// assert_eq!(ReadWrite::SCOPES, ["read", "write"]);
///
/// #[post("/documents")]
/// fn create(token: BearerToken<DefaultProvider, ReadWrite>) -> String {
///     format!("created for {:?}", token.subject())
/// }
/// ```
#[macro_export]
macro_rules! scopes {
    ($(#[$meta:meta])* $vis:vis $name:ident = $($scope:literal),+ $(,)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::RequiredScopes for $name {
            const SCOPES: &'static [&'static str] = &[$($scope),+];
        }
    };
}

/// A request guard for an API call with `Authorization: Bearer <token>`,
/// where the token was issued by provider `P` (default: `default`) and
/// grants every scope of `S` (default: none).
///
/// The token is validated by introspection (RFC 7662, cached) or locally as
/// an RFC 9068 JWT, as `[oidc.providers.<name>.bearer]` says. Failures
/// answer per RFC 6750: `401` with a `WWW-Authenticate: Bearer` challenge
/// without a token, `400 invalid_request` for a malformed header, `401
/// invalid_token`, `403 insufficient_scope`, and `503` when the provider
/// cannot be asked. Dereferences to [`TokenIdentity`].
///
/// With an [`Authorization`] `A` (declared with
/// [`authorization!`](crate::authorization!)), a valid token whose claims
/// (the JWT's, or the introspection answer) lack a role, a group or a
/// claim value it asks for gets `403 access_denied`, with a `Bearer`
/// challenge saying so and not which values were required. Not
/// `insufficient_scope`: no scope would help, and a client that asks
/// again for more scope on it (as MCP clients do) would loop.
///
/// ```rust
/// use rocket::get;
/// use rocket::serde::json::{Json, Value};
/// use rocket_openidconnect::{authorization, scopes, BearerToken, DefaultProvider, NoScopes};
///
/// scopes!(Read = "read");
///
/// #[get("/api")]
/// fn api(token: BearerToken) -> Json<Value> {
///     Json(Value::Object(token.claims().clone()))
/// }
///
/// #[get("/api/documents")]
/// fn documents(token: BearerToken<DefaultProvider, Read>) -> String {
///     format!("documents of {}", token.subject().unwrap_or("a service"))
/// }
///
/// authorization!(Admins { roles: any ["admin"] });
///
/// #[get("/api/admin")]
/// fn admin(token: BearerToken<DefaultProvider, NoScopes, Admins>) -> String {
///     format!("{:?} may administer", token.subject())
/// }
/// ```
pub struct BearerToken<
    P: ProviderName = DefaultProvider,
    S: RequiredScopes = NoScopes,
    A: Authorization = NoAuthorization,
> {
    identity: Arc<TokenIdentity>,
    marker: PhantomData<(S, P, A)>,
}

impl<P: ProviderName, S: RequiredScopes, A: Authorization> BearerToken<P, S, A> {
    /// The access token itself (to call another API on the user's behalf).
    pub fn token(&self) -> &AccessToken {
        self.identity.token()
    }

    /// Who the token speaks for.
    pub fn identity(&self) -> &TokenIdentity {
        &self.identity
    }
}

impl<P: ProviderName, S: RequiredScopes, A: Authorization> Deref for BearerToken<P, S, A> {
    type Target = TokenIdentity;

    fn deref(&self) -> &TokenIdentity {
        &self.identity
    }
}

impl<P: ProviderName, S: RequiredScopes, A: Authorization> std::fmt::Debug for BearerToken<P, S, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("token", self.token())
            .field("identity", &self.identity)
            .finish()
    }
}

/// The request's `DPoP` proof, checked against the request and `token`.
fn dpop_proof(request: &Request<'_>, oidc: &Oidc, nonce: bool, token: &str) -> Result<dpop::Proof, OidcError> {
    let mut headers = request.headers().get("DPoP");
    let (Some(proof), None) = (headers.next(), headers.next()) else {
        return Err(OidcError::InvalidDpopProof(DpopError::NotOneHeader));
    };
    // The URL the client addressed: the public origin (that of
    // `redirect_uri`, right behind a proxy too) and the request's path.
    let url = dpop::request_url(&oidc.config().redirect_uri, request.uri().path().as_str())
        .ok_or(OidcError::InvalidDpopProof(DpopError::UnbuildableUrl))?;
    dpop::verify(
        proof,
        &dpop::Expected {
            method: request.method().as_str(),
            url: &url,
            access_token: token,
            now: oidc.clock().time(),
            skew: i64::try_from(oidc.config().clock_skew_seconds).unwrap_or(0),
            nonces: nonce.then(|| oidc.dpop_nonces()),
        },
    )
}

/// The bearer check of `provider_name` on this request, done once.
async fn check(state: &RequestMemo, request: &Request<'_>, oidc: &Oidc, provider_name: &'static str) -> BearerChecked {
    if let Some(checked) = state
        .bearer_checks
        .lock()
        .ok()
        .and_then(|checks| checks.get(provider_name))
    {
        return checked;
    }
    // Which challenge a refusal carries: how the provider takes DPoP, and
    // whether the request used it (kept for the fairing on refusals only).
    let mut dpop = None;
    let checked = async {
        let entry = oidc.provider_entry(provider_name).ok_or(OidcError::MissingToken)?;
        let mode = entry.provider.config.bearer.dpop;
        dpop = Some((mode, false));
        let headers = request.headers().get("Authorization");
        let sent = access::bearer_token(headers, access_token_in_query(request))?.ok_or(OidcError::MissingToken)?;
        dpop = Some((mode, sent.is_dpop()));
        let proof = match (sent.is_dpop(), mode) {
            (true, DpopMode::Off) => {
                return Err(OidcError::InvalidBearerRequest(
                    "this API does not take DPoP: send the token as Bearer".into(),
                ));
            }
            (false, DpopMode::Required) => return Err(OidcError::InvalidToken(BearerError::DpopRequired)),
            (true, _) => Some(dpop_proof(
                request,
                oidc,
                entry.provider.config.bearer.dpop_nonce,
                sent.as_str(),
            )?),
            (false, _) => None,
        };
        let identity = access::validate(
            &entry.provider,
            &entry.trusted_issuers,
            &entry.bearer_caches,
            sent,
            Caller::Anonymous(request.client_ip()),
            oidc.config().clock_skew_seconds,
            oidc.config().resource.as_ref(),
        )
        .await?;
        dpop::check_binding(identity.dpop_thumbprint(), proof.as_ref())?;
        if let Some(proof) = proof {
            // RFC 9449 §11.1: a proof is used once, on every instance. It is
            // recorded only now, its token found valid and bound to its key
            // (so only a token's holder can add to the ledger, each subject
            // within their share).
            let skew = i64::try_from(oidc.config().clock_skew_seconds).unwrap_or(0);
            let record = dpop::proof_record(&proof, &identity, skew, oidc.store().remembers_since())?;
            let fresh = oidc
                .store()
                .first_use(Once::DpopProof, &record.entry, Some(&record.owner), record.until)
                .await
                .map_err(OidcError::from)?;
            if !fresh {
                return Err(OidcError::InvalidDpopProof(DpopError::Replayed));
            }
        }
        Ok(identity)
    }
    .await;
    if let (Err(_), Some(dpop)) = (&checked, dpop) {
        request_memo::put(&state.bearer_dpop, dpop);
    }
    if let Ok(mut checks) = state.bearer_checks.lock() {
        checks.push(provider_name, checked.clone());
    }
    checked
}

#[rocket::async_trait]
impl<'r, P: ProviderName, S: RequiredScopes, A: Authorization> FromRequest<'r> for BearerToken<P, S, A> {
    type Error = OidcError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let state = RequestMemo::of(request);
        let result = match request.rocket().state::<Oidc>() {
            Some(oidc) => check(state, request, oidc, P::NAME).await,
            None => Err(OidcError::TokenCheckUnavailable(ProviderError::NotAttached)),
        };
        let outcome = result.and_then(|identity| {
            let missing = S::SCOPES.iter().any(|scope| !identity.scopes().contains(*scope));
            if missing {
                return Err(OidcError::InsufficientScope {
                    scope: S::SCOPES.join(" "),
                });
            }
            identity
                .meets::<A>()
                .map_err(|reason| super::access_denied::<A>(request, "bearer", P::NAME, reason))?;
            Ok(BearerToken {
                identity,
                marker: PhantomData,
            })
        });
        match outcome {
            Ok(guard) => Outcome::Success(guard),
            Err(error) => {
                request_memo::put(&state.bearer_realm, P::NAME);
                error.stash(request);
                Outcome::Error((error.status(), error))
            }
        }
    }
}

impl<P: ProviderName, S: RequiredScopes, A: Authorization> Sentinel for BearerToken<P, S, A> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::provider_missing(rocket, P::NAME, "BearerToken")
    }
}
