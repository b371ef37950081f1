//! Readiness for a load balancer or an orchestrator: can this instance log
//! users in and check tokens right now?

use rocket::http::{ContentType, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rocket::serde::json::serde_json::{Map, Value, json};

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
#[derive(Debug, Clone)]
pub struct Readiness {
    ready: bool,
    report: Value,
}

impl Readiness {
    /// Whether every provider is discovered with its keys, and Redis (when
    /// configured) answers.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The report, as the JSON the responder sends.
    pub fn report(&self) -> &Value {
        &self.report
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
    ///     println!("ready: {} ({})", readiness.is_ready(), readiness.report());
    /// }
    /// ```
    pub async fn readiness(&self) -> Readiness {
        let mut ready = true;
        let mut providers = Map::new();
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
            providers.insert(provider.name.clone(), json!({ "discovered": discovered, "keys": keys }));
        }
        let mut report = json!({ "providers": providers });
        if let Some(redis) = self.redis() {
            let reachable = redis.ping().await.is_ok();
            ready &= reachable;
            report["redis"] = json!({ "reachable": reachable });
        }
        report["ready"] = Value::Bool(ready);
        Readiness { ready, report }
    }
}

impl<'r> Responder<'r, 'static> for Readiness {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let body = self.report.to_string();
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
