//! The fairing: reads the configuration, builds the app's [`Oidc`] state,
//! mounts the routes, registers the catchers, and wires the request and
//! response hooks. Nothing else happens here.

use std::collections::HashSet;
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Orbit, Request, Response, Rocket};

use crate::clock::{AppClock, Clock};
use crate::config::OidcConfig;
use crate::flow::login::uses_form_post;
use crate::oidc::Oidc;
use crate::provider::http;
use crate::secret::key_bytes;
use crate::session::cipher::{self, Cipher};
use crate::web::{catchers, launch, response, routes};

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
        OidcFairing {
            clock: AppClock::default(),
            custom_clock: false,
        }
    }
}

/// The fairing returned by [`Oidc::fairing()`].
///
/// ```rust
/// use rocket_openidconnect::{Oidc, OidcFairing};
///
/// let fairing: OidcFairing = Oidc::fairing();
/// ```
#[derive(Debug, Clone)]
pub struct OidcFairing {
    clock: AppClock,
    /// Whether the app gave a clock of its own (warned of in release).
    custom_clock: bool,
}

impl OidcFairing {
    /// The fairing with `clock` as the app's clock instead of the system's:
    /// for tests that reach an expiry (a session's lifetime or inactivity,
    /// a token's `exp`) by moving the clock instead of waiting.
    ///
    /// ```rust
    /// use rocket_openidconnect::clock::SystemClock;
    /// use rocket_openidconnect::Oidc;
    ///
    /// let rocket = rocket::build().attach(Oidc::fairing().with_clock(SystemClock));
    /// ```
    pub fn with_clock(self, clock: impl Clock) -> OidcFairing {
        OidcFairing {
            clock: AppClock::new(std::sync::Arc::new(clock)),
            custom_clock: true,
        }
    }
}

/// The cipher of the crate's cookies, from Rocket's `secret_key` (and the
/// `previous_secret_keys` it replaced).
fn cipher(rocket: &Rocket<Build>, config: &OidcConfig) -> Option<Cipher> {
    let previous: Vec<Vec<u8>> = config
        .previous_secret_keys
        .iter()
        .filter_map(|key| key_bytes(key.secret()))
        .collect();
    match cipher::secret_key_material(rocket.figment()) {
        Some(material) => Some(Cipher::derive_from(&material).with_previous(previous.iter().map(Vec::as_slice))),
        None => {
            let cipher = Cipher::random();
            if cipher.is_some() {
                event!(
                    warn,
                    "oidc: no usable `secret_key`; sessions will not survive a restart"
                );
            }
            cipher
        }
    }
}

#[rocket::async_trait]
impl Fairing for OidcFairing {
    fn info(&self) -> Info {
        Info {
            name: "OpenID Connect",
            // Attached twice, it runs once (the last one attached).
            kind: Kind::Ignite | Kind::Liftoff | Kind::Request | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let config = match OidcConfig::from_figment(rocket.figment()) {
            Ok(config) => config,
            Err(errors) => {
                for error in errors {
                    event!(error, "oidc configuration: {error}");
                }
                return Err(rocket);
            }
        };
        let Some(cipher) = cipher(&rocket, &config) else {
            event!(error, "oidc: no `secret_key` and no randomness to make one");
            return Err(rocket);
        };
        let http = match http::client(Duration::from_secs(config.http_timeout_seconds)) {
            Ok(http) => http,
            Err(error) => {
                event!(error, "oidc: {error}");
                return Err(rocket);
            }
        };
        let routes = routes::routes(
            &config.callback_paths(),
            &config.logout_path,
            &config.backchannel_logout_path,
            &config
                .resource
                .as_ref()
                .map(|resource| resource.metadata_paths())
                .unwrap_or_default(),
        );
        let oidc = match Oidc::build(config, cipher, http, self.clock.clone()) {
            Ok(oidc) => oidc,
            Err(error) => {
                event!(error, "oidc configuration: `{}`: {}", error.key, error.message);
                return Err(rocket);
            }
        };
        if self.custom_clock && rocket.figment().profile() == "release" {
            // Every expiry (sessions, tokens, logout records) and every
            // cache lifetime and budget reads this clock: a test clock
            // shipped by mistake would keep them valid.
            event!(
                warn,
                "oidc: the app runs on a clock of its own (`Oidc::fairing().with_clock`), not the \
                 system's: every session and token expiry, and how long signing keys and token \
                 checks are kept, reads it; in production, use the default"
            );
        }
        if !oidc.config().cookies_secure() {
            for provider in oidc.providers().filter(|p| uses_form_post(p)) {
                event!(
                    warn,
                    "oidc: provider `{}` uses response_mode=form_post, which needs an https \
                     `redirect_uri` (browsers send the state cookie on a cross-site POST only \
                     with SameSite=None; Secure)",
                    provider.name
                );
            }
        }
        // Apps may render errors themselves: keep their catchers at `/`.
        let taken: HashSet<u16> = rocket
            .catchers()
            .filter(|c| c.base.path() == "/")
            .filter_map(|c| c.code)
            .collect();
        let catchers = catchers::catchers(catchers::STATUSES.into_iter().filter(|c| !taken.contains(c)));
        Ok(rocket.manage(oidc).mount("/", routes).register("/", catchers))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        if let Some(oidc) = rocket.state::<Oidc>() {
            launch::report(rocket, oidc).await;
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut rocket::Data<'_>) {
        crate::web::request::note_head(request);
        if let Some(oidc) = request.rocket().state::<Oidc>() {
            routes::on_request(oidc, request);
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        response::finish(request, response);
    }
}
