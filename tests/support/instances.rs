//! Several instances of one relying party: the same configuration and
//! `secret_key`, each its own Rocket, talking to one provider and
//! (usually) one Redis.

use std::sync::Arc;

use rocket::local::asynchronous::Client;
use serde_json::{Value, json};

use super::lifecycle::lifecycle_routes;
use super::redis::RedisServer;
use super::{Browser, TestProvider, oidc_config, rp};

/// [`oidc_config`] with `session.store = store` and `[oidc.redis]` pointing
/// at `redis`.
pub fn shared_config(provider: &TestProvider, redis: &RedisServer, store: &str) -> Value {
    let mut config = oidc_config(provider);
    config["session"] = json!({ "store": store });
    config["redis"] = redis.config();
    config
}

/// A client of one more instance of the app configured by `oidc`.
pub async fn instance(oidc: Value) -> Arc<Client> {
    match Client::untracked(rp(oidc, lifecycle_routes())).await {
        Ok(client) => Arc::new(client),
        Err(e) => panic!("an instance failed to launch: {e} ({:?})", e.kind()),
    }
}

/// [`instance`] on `clock`.
pub async fn instance_on(clock: &super::ManualClock, oidc: Value) -> Arc<Client> {
    match Client::untracked(super::rp_on(clock, oidc, lifecycle_routes())).await {
        Ok(client) => Arc::new(client),
        Err(e) => panic!("an instance failed to launch: {e} ({:?})", e.kind()),
    }
}

/// Two instances of the app configured by `oidc`: a browser on the first,
/// and the second.
pub async fn two_instances(oidc: Value) -> (Browser, Arc<Client>) {
    let a = instance(oidc.clone()).await;
    let b = instance(oidc).await;
    let browser = Browser {
        client: a,
        jar: Default::default(),
    };
    (browser, b)
}

impl Browser {
    /// The same browser (its cookies), now talking to `instance`: what a
    /// load balancer does between two requests.
    pub fn switch_to(&mut self, instance: &Arc<Client>) -> Arc<Client> {
        std::mem::replace(&mut self.client, instance.clone())
    }
}

impl Browser {
    /// Takes in the `Set-Cookie`s of a response received outside
    /// [`Browser::send`] (a concurrent request), as a browser would.
    pub fn absorb(&mut self, resp: &super::Resp) {
        for cookie in resp.set_cookies() {
            let removal = cookie.max_age().is_some_and(|age| age.whole_seconds() <= 0);
            if removal {
                self.jar.remove(cookie.name());
            } else {
                self.jar.insert(cookie.name().to_string(), cookie.value().to_string());
            }
        }
    }
}
