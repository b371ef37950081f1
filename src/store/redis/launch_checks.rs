//! What the store checks at launch: whether Redis may lose the crate's
//! keys (eviction, no persistence), and whether it answers at all.

use super::{RedisStore, describe};

impl RedisStore {
    /// Checks, once, whether Redis may lose the crate's keys (evicting
    /// them under memory pressure, or keeping too little across a restart),
    /// which would forget used states and logouts, and logs what it finds.
    /// A Redis that is down is reported; one that refuses `CONFIG`
    /// (managed services) is not.
    pub(crate) async fn check_config(&self) {
        let mut command = redis::cmd("CONFIG");
        command.arg("GET").arg("maxmemory*");
        let mut connection = self.connection.clone();
        let reply =
            rocket::tokio::time::timeout(self.timeout, command.query_async::<Vec<String>>(&mut connection)).await;
        match reply {
            Ok(Ok(pairs)) => {
                let value = |name: &str| {
                    pairs
                        .chunks(2)
                        .find(|pair| pair.first().map(String::as_str) == Some(name))
                        .and_then(|pair| pair.get(1).cloned())
                        .unwrap_or_default()
                };
                let (limit, policy) = (value("maxmemory"), value("maxmemory-policy"));
                self.check_persistence().await;
                if limit != "0" && !limit.is_empty() && policy != "noeviction" {
                    event!(
                        warn,
                        "oidc: Redis has `maxmemory {limit}` with `maxmemory-policy {policy}`: under memory \
                         pressure it may evict used states and logged-out sessions, letting them in again; \
                         `noeviction` makes it refuse writes instead (requests then answer 503)"
                    );
                }
            }
            Ok(Err(error)) if matches!(error.kind(), redis::ErrorKind::Server(_) | redis::ErrorKind::Extension) => {}
            Ok(Err(error)) => event!(
                warn,
                "oidc: Redis is unavailable at launch ({}); requests that need it answer 503 until it is back",
                describe(&error)
            ),
            Err(_) => event!(
                warn,
                "oidc: Redis is unavailable at launch (timed out); requests that need it answer 503 until it is back"
            ),
        }
    }

    /// Says at launch when Redis keeps nothing across a restart (no
    /// append-only file, no snapshots): a restart then forgets every
    /// logout, and every cookie session from before it is refused.
    async fn check_persistence(&self) {
        let get = |name: &'static str| {
            let mut command = redis::cmd("CONFIG");
            command.arg("GET").arg(name);
            let mut connection = self.connection.clone();
            async move {
                let pairs =
                    rocket::tokio::time::timeout(self.timeout, command.query_async::<Vec<String>>(&mut connection))
                        .await
                        .ok()?
                        .ok()?;
                pairs.get(1).cloned()
            }
        };
        let (appendonly, save) = (get("appendonly").await, get("save").await);
        if appendonly.as_deref() == Some("no") {
            let kept = if save.as_deref() == Some("") {
                "keeps no data across a restart (`appendonly no`, no `save` snapshots): a restart forgets every \
                 logout, so every cookie session from before it is then refused (users log in again)"
            } else {
                "keeps only snapshots (`appendonly no`): a crash brings back an older snapshot, without the \
                 logouts recorded since, and logged-out cookies of that time would be accepted again"
            };
            event!(
                warn,
                "oidc: Redis {kept}; sessions kept in Redis are lost too; turn on `appendonly yes`"
            );
        }
    }
}
