//! The `[default.oidc.redis]` table: the Redis every instance shares.

use std::fmt;

use serde::Deserialize;
use url::Url;

use super::error::Problems;
/// The `[default.oidc.redis]` table: Redis as the state every instance of
/// the app shares (sessions with `session.store = "redis"`, used states,
/// back-channel logout token ids, logged-out sessions, refresh locks).
///
/// ```rust
/// use rocket_openidconnect::config::RedisConfig;
///
/// let redis: RedisConfig = rocket::serde::json::from_str(r#"{ "url": "redis://127.0.0.1:6379/0" }"#).unwrap();
/// assert_eq!(redis.key_prefix, "oidc:");
/// assert_eq!(redis.timeout_ms, 1000);
/// assert_eq!(format!("{:?}", rocket::serde::json::from_str::<RedisConfig>(
///     r#"{ "url": "redis://:hunter2@127.0.0.1/0" }"#).unwrap().url), r#"RedisUrl("redis://:[redacted]@127.0.0.1/0")"#);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `url` (required): `redis://[user:password@]host[:port][/db]`, or
    /// `rediss://...` for TLS.
    pub url: RedisUrl,
    /// `key_prefix` (default `"oidc:"`): every key the crate writes starts
    /// with it, so several apps can share one Redis.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// `timeout_ms` (default `1000`): the most a connection attempt or a
    /// command may take; past it the request answers `503`.
    #[serde(default = "default_redis_timeout")]
    pub timeout_ms: u64,
    /// `ca_certificate_path` (optional, `rediss://` only): a PEM file of the
    /// certificate authorities to trust instead of the system's.
    #[serde(default)]
    pub ca_certificate_path: Option<std::path::PathBuf>,
    /// `local_cache_seconds` (default `2`, at most `60`; `0`: off): each
    /// instance keeps what it read from Redis (sessions, "not logged out")
    /// this long, dropped as soon as another instance announces a change
    /// (Redis pub/sub), so a logged-in request needs no round trip. A
    /// logout is honoured everywhere once Redis has delivered the
    /// announcement (normally within milliseconds), and after this long at
    /// the latest; `0` asks Redis on every request.
    #[serde(default = "default_local_cache_seconds")]
    pub local_cache_seconds: u64,
}

/// A Redis URL; its password prints as `[redacted]`.
///
/// ```rust
/// use rocket_openidconnect::config::RedisUrl;
///
/// let url: RedisUrl = rocket::serde::json::from_str(r#""rediss://app:s3cret@redis.internal:6380/2""#).unwrap();
/// assert_eq!(url.secret(), "rediss://app:s3cret@redis.internal:6380/2");
/// assert!(!format!("{url:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL itself, password included. Never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("[redacted]"));
                url.to_string().replace("%5Bredacted%5D", "[redacted]")
            }
            Ok(url) => url.to_string(),
            Err(_) => "[unparsable]".to_string(),
        };
        f.debug_tuple("RedisUrl").field(&shown).finish()
    }
}

fn default_key_prefix() -> String {
    "oidc:".into()
}

fn default_local_cache_seconds() -> u64 {
    2
}

fn default_redis_timeout() -> u64 {
    1000
}

impl RedisConfig {
    /// What serde cannot check of this table.
    pub(super) fn problems(&self, problems: &mut Problems<'_>) {
        let scheme = Url::parse(self.url.secret()).map(|u| (u.scheme().to_string(), u.has_host()));
        match scheme {
            Ok((scheme, true)) if scheme == "redis" || scheme == "rediss" => {}
            _ => problems.add("url", "must be a `redis://host[:port][/db]` or `rediss://...` URL"),
        }
        if self.local_cache_seconds > 60 {
            problems.add("local_cache_seconds", "must be at most 60");
        }
        if self.timeout_ms == 0 || self.timeout_ms > 60_000 {
            problems.add("timeout_ms", "must be between 1 and 60000");
        }
        if self.key_prefix.is_empty() || !self.key_prefix.bytes().all(|b| b.is_ascii_graphic()) {
            problems.add("key_prefix", "must be non-empty printable ASCII without spaces");
        }
        if self.ca_certificate_path.is_some() && !self.url.secret().starts_with("rediss://") {
            problems.add("ca_certificate_path", "applies only to a `rediss://` url");
        }
    }
}
