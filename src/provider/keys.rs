//! Signing keys: where token validation gets them from ([`KeySource`]),
//! and the provider's JWKS cache with rate-limited refetches on key
//! rotation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use rocket::tokio::sync::Mutex as AsyncMutex;

use crate::error::OidcError;
use crate::provider::{http, Provider};

/// The keys a token's signature is checked with. Token validation takes
/// one of these rather than a whole provider, so it can be tested with a
/// fixed set ([`StaticKeys`]).
#[rocket::async_trait]
pub(crate) trait KeySource: Send + Sync {
    /// The current key set.
    async fn keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError>;

    /// A newer key set after a token named a key that `seen` lacks (key
    /// rotation); `None` when no newer set can be had now.
    async fn refetch(
        &self,
        kid: Option<&str>,
        seen: &Arc<CoreJsonWebKeySet>,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, OidcError>;
}

/// A fixed key set that never changes.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct StaticKeys(pub(crate) Arc<CoreJsonWebKeySet>);

#[rocket::async_trait]
impl KeySource for StaticKeys {
    async fn keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        Ok(self.0.clone())
    }

    async fn refetch(
        &self,
        _: Option<&str>,
        _: &Arc<CoreJsonWebKeySet>,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, OidcError> {
        Ok(None)
    }
}

/// How long an unknown `kid` is remembered after it caused a refetch.
const KID_MEMORY: Duration = Duration::from_secs(300);
/// At most this many refetches in [`REFETCH_WINDOW`].
const REFETCH_BURST: usize = 10;
const REFETCH_WINDOW: Duration = Duration::from_secs(60);
/// Bound on the remembered unknown `kid`s.
const MAX_REMEMBERED_KIDS: usize = 256;

#[derive(Default)]
pub(crate) struct KeyCache {
    keys: RwLock<Option<Arc<CoreJsonWebKeySet>>>,
    fetching: AsyncMutex<()>,
    limiter: Mutex<RefetchLimiter>,
}

#[derive(Default)]
struct RefetchLimiter {
    unknown_kids: HashMap<String, Instant>,
    recent: Vec<Instant>,
}

impl KeyCache {
    fn current(&self) -> Option<Arc<CoreJsonWebKeySet>> {
        self.keys.read().ok().and_then(|keys| keys.clone())
    }

    fn set(&self, keys: Arc<CoreJsonWebKeySet>) {
        if let Ok(mut slot) = self.keys.write() {
            *slot = Some(keys);
        }
    }

    fn allow_refetch(&self, kid: &str) -> bool {
        let Ok(mut limiter) = self.limiter.lock() else {
            return false;
        };
        let now = Instant::now();
        limiter.recent.retain(|t| now.duration_since(*t) < REFETCH_WINDOW);
        limiter.unknown_kids.retain(|_, t| now.duration_since(*t) < KID_MEMORY);
        if limiter.unknown_kids.contains_key(kid) || limiter.recent.len() >= REFETCH_BURST {
            return false;
        }
        if limiter.unknown_kids.len() >= MAX_REMEMBERED_KIDS {
            // Refusing is the safe side here: the burst limit still allows
            // real rotations, and a forged `kid` only costs its sender.
            return false;
        }
        limiter.unknown_kids.insert(kid.to_string(), now);
        limiter.recent.push(now);
        true
    }
}

impl Provider {
    async fn fetch_keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        let metadata = self.metadata().await?;
        let keys: CoreJsonWebKeySet = http::json(self.http().get(metadata.jwks_uri.clone()))
            .await
            .map_err(|e| self.unavailable(&format!("jwks {e}")))?;
        let keys = Arc::new(keys);
        self.keys.set(keys.clone());
        Ok(keys)
    }
}

#[rocket::async_trait]
impl KeySource for Provider {
    /// The signing keys, fetched on first use.
    async fn keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        if let Some(keys) = self.keys.current() {
            return Ok(keys);
        }
        let _guard = self.keys.fetching.lock().await;
        if let Some(keys) = self.keys.current() {
            return Ok(keys);
        }
        self.fetch_keys().await
    }

    /// Refetches the keys after a token named a key we do not have.
    /// Returns `None` when the refetch is refused by the rate limit: one
    /// refetch per unknown `kid` per [`KID_MEMORY`], and at most
    /// [`REFETCH_BURST`] refetches per minute, so forged `kid`s cannot make
    /// us hammer the provider.
    async fn refetch(
        &self,
        kid: Option<&str>,
        seen: &Arc<CoreJsonWebKeySet>,
    ) -> Result<Option<Arc<CoreJsonWebKeySet>>, OidcError> {
        let _guard = self.keys.fetching.lock().await;
        if let Some(current) = self.keys.current() {
            if !Arc::ptr_eq(&current, seen) {
                // Someone refetched while we waited.
                return Ok(Some(current));
            }
        }
        if !self.keys.allow_refetch(kid.unwrap_or("")) {
            return Ok(None);
        }
        self.fetch_keys().await.map(Some)
    }
}
