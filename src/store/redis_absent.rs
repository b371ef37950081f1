//! A build without the `redis` cargo feature: no Redis client is compiled,
//! and `[oidc.redis]` aborts launch naming the key, so a configuration
//! that expects sessions shared between instances never runs on one that
//! keeps them in this process.

use std::sync::Arc;

use crate::clock::AppClock;
use crate::config::{LimitsConfig, RedisConfig};
use crate::error::StoreError;
use crate::session::cipher::Cipher;
use crate::store::{SharedStore, StoreSetupError};

/// No Redis store can exist in this build.
pub(crate) enum RedisStore {}

impl RedisStore {
    /// Refuses `[oidc.redis]`.
    pub(crate) fn new(
        _config: &RedisConfig,
        _cipher: Arc<Cipher>,
        _lifetime_seconds: u64,
        _limits: &LimitsConfig,
        _clock: AppClock,
    ) -> Result<RedisStore, StoreSetupError> {
        Err(StoreSetupError {
            key: "oidc.redis",
            message: "is set, but this build has no Redis support: enable the cargo feature `redis`".into(),
        })
    }

    pub(crate) fn shared(self: &Arc<Self>) -> Arc<dyn SharedStore> {
        match **self {}
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        match *self {}
    }

    pub(crate) async fn check_config(&self) {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_table_without_the_redis_feature_aborts_launch_naming_the_key() {
        let config: RedisConfig =
            serde_json::from_value(serde_json::json!({ "url": "redis://127.0.0.1:6379" })).expect("a redis table");
        let refused = RedisStore::new(
            &config,
            Arc::new(Cipher::derive_from(&[1; 64])),
            3600,
            &LimitsConfig::default(),
            AppClock::default(),
        );
        let Err(error) = refused else {
            panic!("a Redis store was made without Redis support");
        };
        assert_eq!(error.key, "oidc.redis");
        assert!(error.message.contains("cargo feature `redis`"), "{}", error.message);
    }
}
