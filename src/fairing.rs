//! The fairing and the state it manages.

use std::collections::{BTreeMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::{Cookie, SameSite, Status};
use rocket::{Build, Ignite, Orbit, Request, Response, Rocket};

use crate::cache::FlightCache;
use crate::config::{OidcConfig, SessionStoreKind};
use crate::error::OidcError;
use crate::login::callback::Callback;
use crate::login::UsedStates;
use crate::logout::Revocations;
use crate::provider::Provider;
use crate::request_state::{self, RequestState};
use crate::session::cipher::{self, CookieCipher};
use crate::session::{self, CookieStore, LoadedSession, MemoryStore, SessionCookies, SessionStore, UserSession};

/// The OpenID Connect state of an application: its configuration, its
/// providers and its session store. Managed by [`Oidc::fairing()`]; a
/// handler can ask for it as `&State<Oidc>`.
///
/// ```rust
/// # #[macro_use] extern crate rocket;
/// use rocket::State;
/// use rocket_openidconnect::Oidc;
///
/// #[get("/providers")]
/// fn providers(oidc: &State<Oidc>) -> String {
///     oidc.provider_names().collect::<Vec<_>>().join(", ")
/// }
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build().attach(Oidc::fairing()).mount("/", routes![providers])
/// }
/// ```
#[derive(Clone)]
pub struct Oidc {
    inner: Arc<Inner>,
}

struct Inner {
    config: OidcConfig,
    providers: BTreeMap<String, Provider>,
    store: Box<dyn SessionStore>,
    cipher: Arc<CookieCipher>,
    used_states: UsedStates,
    refreshes: FlightCache<[u8; 32], Arc<UserSession>>,
    revocations: Revocations,
    post_logout_path: String,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("providers", &self.inner.providers.keys())
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// The fairing that reads `[default.oidc]`, mounts the callback route at
    /// the path of `redirect_uri`, registers the error catchers and manages
    /// the [`Oidc`] state.
    ///
    /// ```rust
    /// use rocket_openidconnect::Oidc;
    ///
    /// let rocket = rocket::build().attach(Oidc::fairing());
    /// ```
    pub fn fairing() -> OidcFairing {
        OidcFairing
    }

    /// The validated configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.inner.config
    }

    /// The names of the configured providers.
    pub fn provider_names(&self) -> impl Iterator<Item = &str> {
        self.inner.providers.keys().map(String::as_str)
    }

    pub(crate) fn provider(&self, name: &str) -> Option<&Provider> {
        self.inner.providers.get(name)
    }

    pub(crate) fn store(&self) -> &dyn SessionStore {
        &*self.inner.store
    }

    pub(crate) fn cipher(&self) -> &Arc<CookieCipher> {
        &self.inner.cipher
    }

    pub(crate) fn used_states(&self) -> &UsedStates {
        &self.inner.used_states
    }

    pub(crate) fn refreshes(&self) -> &FlightCache<[u8; 32], Arc<UserSession>> {
        &self.inner.refreshes
    }

    /// The path of `post_logout_redirect_uri`, where logout returns are checked.
    pub(crate) fn post_logout_path(&self) -> &str {
        &self.inner.post_logout_path
    }

    pub(crate) fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// The session of `request`, read from the store once per request.
    pub(crate) async fn session(&self, request: &Request<'_>) -> Option<Arc<UserSession>> {
        request
            .local_cache_async(async {
                let cookies = SessionCookies::of(request, self.cipher(), self.config().cookies_secure());
                let session = self.store().load(&cookies).await;
                // Back-channel logout of a session the store could not delete.
                let session = session.filter(|s| !self.revocations().refuses(s));
                LoadedSession(session)
            })
            .await
            .0
            .clone()
    }

    /// A `Set-Cookie` for `name` holding the sealed `value`.
    pub(crate) fn sealed_cookie(&self, name: &str, value: &str, max_age_seconds: i64) -> Cookie<'static> {
        let sealed = self.cipher().seal(name, value).unwrap_or_default();
        self.cookie(name, sealed)
            .max_age(time::Duration::seconds(max_age_seconds))
            .build()
    }

    /// A `Set-Cookie` that removes `name`.
    pub(crate) fn removal_cookie(&self, name: &str) -> Cookie<'static> {
        self.cookie(name, String::new())
            .max_age(time::Duration::ZERO)
            .expires(time::OffsetDateTime::UNIX_EPOCH)
            .build()
    }

    fn cookie(&self, name: &str, value: String) -> cookie::CookieBuilder<'static> {
        Cookie::build((name.to_string(), value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.config().cookies_secure())
    }
}

/// The fairing returned by [`Oidc::fairing()`].
///
/// ```rust
/// use rocket_openidconnect::{Oidc, OidcFairing};
///
/// let fairing: OidcFairing = Oidc::fairing();
/// ```
#[derive(Debug, Clone, Copy)]
pub struct OidcFairing;

#[rocket::async_trait]
impl Fairing for OidcFairing {
    fn info(&self) -> Info {
        Info {
            name: "OpenID Connect",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Request | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let config = match OidcConfig::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(errors) => {
                for error in errors {
                    rocket::error!("oidc configuration: {error}");
                }
                return Err(rocket);
            }
        };
        let cipher = match cipher::secret_key_material(rocket.figment()) {
            Some(material) => CookieCipher::derive_from(&material),
            None => match CookieCipher::random() {
                Some(cipher) => {
                    rocket::warn!("oidc: no usable `secret_key`; sessions will not survive a restart");
                    cipher
                }
                None => {
                    rocket::error!("oidc: no `secret_key` and no randomness to make one");
                    return Err(rocket);
                }
            },
        };
        let http = match crate::http::client(Duration::from_secs(config.http_timeout_seconds)) {
            Ok(http) => http,
            Err(error) => {
                rocket::error!("oidc: {error}");
                return Err(rocket);
            }
        };
        let app = Arc::new(config.clone());
        let providers: BTreeMap<String, Provider> = config
            .providers
            .iter()
            .map(|(name, provider)| {
                (
                    name.clone(),
                    Provider::new(name.clone(), provider.clone(), http.clone(), app.clone()),
                )
            })
            .collect();
        let store: Box<dyn SessionStore> = match config.session.store {
            SessionStoreKind::Cookie => Box::new(CookieStore::new(config.session.lifetime_seconds)),
            SessionStoreKind::Memory => Box::new(MemoryStore::new(config.session.lifetime_seconds)),
        };
        if !config.cookies_secure() {
            for provider in providers.values().filter(|p| crate::login::uses_form_post(p)) {
                rocket::warn!(
                    "oidc: provider `{}` uses response_mode=form_post, which needs an https \
                     `redirect_uri` (browsers send the state cookie on a cross-site POST only \
                     with SameSite=None; Secure)",
                    provider.name
                );
            }
        }
        let mut routes = Callback::routes(config.callback_path());
        routes.extend(crate::logout::routes(
            &config.logout_path,
            &config.backchannel_logout_path,
        ));
        // Apps may render errors themselves: keep their catchers at `/`.
        let taken: HashSet<u16> = rocket
            .catchers()
            .filter(|c| c.base.path() == "/")
            .filter_map(|c| c.code)
            .collect();
        let catchers = crate::catchers::catchers(crate::catchers::STATUSES.into_iter().filter(|c| !taken.contains(c)));
        let post_logout_path = config.post_logout_redirect_uri().path().to_string();
        let oidc = Oidc {
            inner: Arc::new(Inner {
                config,
                providers,
                store,
                cipher: Arc::new(cipher),
                used_states: UsedStates::default(),
                refreshes: FlightCache::new(10_000),
                revocations: Revocations::default(),
                post_logout_path,
            }),
        };
        Ok(rocket.manage(oidc).mount("/", routes).register("/", catchers))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        if let Some(oidc) = rocket.state::<Oidc>() {
            let names: Vec<&str> = oidc.provider_names().collect();
            rocket::info!(
                "oidc: providers [{}], callback {} (GET, POST), {:?} sessions",
                names.join(", "),
                oidc.config().callback_path(),
                oidc.config().session.store
            );
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut rocket::Data<'_>) {
        if let Some(oidc) = request.rocket().state::<Oidc>() {
            crate::logout::on_return(oidc, request);
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let state = RequestState::of(request);
        if let Some(redirect) = request_state::take(&state.login_redirect) {
            if response.status() == Status::Unauthorized {
                // The guard decided on a login: whatever catcher rendered the
                // 401, the browser goes to the provider.
                response.set_status(Status::Found);
                response.set_raw_header("Location", redirect.location);
                response.set_raw_header("Cache-Control", "no-store");
                response.remove_header("Content-Type");
                response.set_sized_body(0, Cursor::new(""));
                for cookie in redirect.cookies {
                    response.adjoin_header(cookie);
                }
            }
        }
        // RFC 6750 §3: a refused bearer request carries its challenge,
        // whichever catcher rendered the body.
        let realm = state.bearer_realm.lock().ok().and_then(|r| *r);
        if let (Some(realm), Some(error)) = (realm, OidcError::of(request)) {
            if response.status() == error.status() && !response.headers().contains("WWW-Authenticate") {
                if let Some(challenge) = error.www_authenticate(realm) {
                    response.set_raw_header("WWW-Authenticate", challenge);
                }
            }
        }
        for cookie in session::take_outgoing(request) {
            response.adjoin_header(cookie);
        }
    }
}

/// For guards' sentinels: true (abort launch) when the fairing is missing
/// or `provider` is not configured, after saying why.
pub(crate) fn provider_missing(rocket: &Rocket<Ignite>, provider: &str, guard: &str) -> bool {
    match rocket.state::<Oidc>() {
        None => {
            rocket::error!("`{guard}` is used but `Oidc::fairing()` is not attached (or failed): attach it with `.attach(Oidc::fairing())`");
            true
        }
        Some(oidc) if oidc.provider(provider).is_none() => {
            rocket::error!(
                "`{guard}` names provider `{provider}`, which is missing from `oidc.providers` (configured: {})",
                oidc.provider_names().collect::<Vec<_>>().join(", ")
            );
            true
        }
        Some(_) => false,
    }
}
