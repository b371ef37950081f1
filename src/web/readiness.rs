//! Readiness for a load balancer or an orchestrator: can this instance log
//! users in and check tokens right now?

use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use std::collections::BTreeMap;

use rocket::serde::json::serde_json;
use serde::Serialize;

use crate::oidc::Oidc;
use crate::provider::keys::KeySource;

/// What [`Oidc::readiness`] found. As a responder it answers `200` when
/// ready and `503` otherwise, with the report as JSON:
/// `{"ready": bool, "providers": {"<name>": {"discovered": bool, "keys":
/// bool}}, "redis": {"reachable": bool}}` (`redis` only when configured).
/// Why a check failed goes to the log (debug), not to the caller: like
/// every `5xx` of the crate, the answer names no host and no timeout.
///
/// ```rust
/// use rocket::get;
/// use rocket::State;
/// use rocket_openidconnect::{Oidc, Readiness};
///
/// #[get("/ready")]
/// async fn ready(oidc: &State<Oidc>) -> Readiness {
///     oidc.readiness().await
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// Each provider's checks, by name.
    pub providers: BTreeMap<String, ProviderReadiness>,
    /// Whether every provider is discovered with its keys, and Redis (when
    /// configured) answers.
    pub ready: bool,
    /// Redis's check, when `[oidc.redis]` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisReadiness>,
}

/// One provider's part of a [`Readiness`] report.
///
/// ```rust
/// use rocket_openidconnect::{Readiness, ProviderReadiness};
///
/// fn keys_missing(readiness: &Readiness) -> Vec<&str> {
///     readiness
///         .providers
///         .iter()
///         .filter(|(_, p)| p.discovered && !p.keys)
///         .map(|(name, _)| name.as_str())
///         .collect()
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProviderReadiness {
    /// Its metadata could be had (discovered, or configured).
    pub discovered: bool,
    /// Its signing keys could be had.
    pub keys: bool,
}

/// Redis's part of a [`Readiness`] report.
///
/// ```rust
/// use rocket_openidconnect::Readiness;
///
/// fn redis_down(readiness: &Readiness) -> bool {
///     readiness.redis.is_some_and(|redis| !redis.reachable)
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RedisReadiness {
    /// It answered a `PING` within `redis.timeout_ms`.
    pub reachable: bool,
}

impl Readiness {
    /// Whether every provider is discovered with its keys, and Redis (when
    /// configured) answers.
    pub fn is_ready(&self) -> bool {
        self.ready
    }
}

impl Oidc {
    /// Checks, now, that every provider's metadata and signing keys can be
    /// had (discovering and fetching them if that has not happened yet, so
    /// a readiness probe also warms the instance up) and that Redis answers
    /// a `PING` when configured. Each check is bounded by the configured
    /// timeouts.
    ///
    /// ```rust
    /// use rocket_openidconnect::Oidc;
    ///
    /// async fn log_readiness(oidc: &Oidc) {
    ///     let readiness = oidc.readiness().await;
    ///     println!("ready: {} ({:?})", readiness.is_ready(), readiness.providers);
    /// }
    /// ```
    pub async fn readiness(&self) -> Readiness {
        let mut ready = true;
        let mut providers = BTreeMap::new();
        for provider in self.providers() {
            let (discovered, keys) = match provider.metadata().await {
                Err(error) => {
                    event!(debug, "oidc: readiness: provider `{}`: {error}", provider.name);
                    (false, false)
                }
                Ok(_) => match provider.keys().await {
                    Ok(_) => (true, true),
                    Err(error) => {
                        event!(debug, "oidc: readiness: provider `{}`: {error}", provider.name);
                        (true, false)
                    }
                },
            };
            ready &= discovered && keys;
            providers.insert(provider.name.clone(), ProviderReadiness { discovered, keys });
        }
        let mut redis = None;
        if let Some(store) = self.redis() {
            let reachable = store.ping().await.is_ok();
            ready &= reachable;
            redis = Some(RedisReadiness { reachable });
        }
        Readiness {
            ready,
            providers,
            redis,
        }
    }
}

impl<'r> Responder<'r, 'static> for Readiness {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = serde_json::to_string(&self).unwrap_or_else(|_| r#"{"ready":false}"#.into());
        Response::build()
            .status(if self.ready {
                Status::Ok
            } else {
                Status::ServiceUnavailable
            })
            .header(ContentType::JSON)
            .raw_header("Cache-Control", "no-store")
            .sized_body(body.len(), std::io::Cursor::new(body))
            .ok()
    }
}
