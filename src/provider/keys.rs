//! Signing keys: where token validation gets them from ([`KeySource`]),
//! and the provider's JWKS cache: refreshed by its `Cache-Control`, and
//! refetched (rate-limited) when a token names an unknown key or a known
//! key fails to verify it.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use rocket::tokio::sync::Mutex as AsyncMutex;

use crate::cache::back_off;
use crate::error::OidcError;
use crate::provider::{Provider, http};
use crate::telemetry::{Call, Endpoint};

/// The keys a token's signature is checked with. Token validation takes
/// one of these rather than a whole provider, so it can be tested with a
/// fixed set ([`StaticKeys`]).
#[rocket::async_trait]
pub(crate) trait KeySource: Send + Sync {
    /// The current key set.
    async fn keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError>;

    /// The key set as the provider publishes it after `asked` (when the
    /// token's check began), after that token named a key the current set
    /// lacks, or a key of it did not verify the token (key rotation).
    /// `None` when no other set can ever be had (a fixed set); an error
    /// when the provider cannot be asked now: a token is never judged
    /// forged because the keys were not looked at.
    async fn refetch(&self, asked: Instant) -> Result<Option<Arc<CoreJsonWebKeySet>>, OidcError>;

    /// Now, on the monotonic clock the source keeps its keys by (the app's
    /// clock): when a token's check begins.
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A fixed key set that never changes.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct StaticKeys(pub(crate) Arc<CoreJsonWebKeySet>);

#[rocket::async_trait]
impl KeySource for StaticKeys {
    async fn keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        Ok(self.0.clone())
    }

    async fn refetch(&self, _: Instant) -> Result<Option<Arc<CoreJsonWebKeySet>>, OidcError> {
        Ok(None)
    }
}

/// How long a key set is used when its response does not say
/// (`Cache-Control: max-age`).
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// The longest a key set is used without asking again, whatever it says.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The shortest (for `max-age=0`, `no-cache`, `no-store`).
const SHORTEST_MAX_AGE: Duration = Duration::from_secs(2);
/// At most one refetch caused by tokens (an unknown `kid`, or a known one
/// whose signature fails) in this long: forged `kid`s cannot make us hammer
/// the provider. A token that needs one waits for the next (at most this
/// long), shared by every token waiting: so a flood of junk `kid`s delays
/// a real new key by this much at most, and never gets it refused.
const REFETCH_INTERVAL: Duration = Duration::from_secs(2);

/// How long past its freshness a key set is still used while the provider
/// cannot give a new one. After that its keys are refused (`502`): a key
/// the provider removed does not stay trusted for as long as someone can
/// block the JWKS.
const STALE_GRACE: Duration = Duration::from_secs(3600);

struct KeySet {
    keys: Arc<CoreJsonWebKeySet>,
    fresh_until: Instant,
    /// When the request that brought it was sent.
    fetched_at: Instant,
}

#[derive(Default)]
pub(crate) struct KeyCache {
    current: RwLock<Option<KeySet>>,
    fetching: AsyncMutex<Fetches>,
}

#[derive(Default)]
struct Fetches {
    last_refetch: Option<Instant>,
    /// The last failed fetch, handed out during its back-off.
    failure: Option<(Instant, OidcError)>,
    failures_in_a_row: u32,
}

impl KeyCache {
    /// The key set at `now`, and whether it is still fresh; none once it
    /// is past its freshness by more than [`STALE_GRACE`].
    fn current_at(&self, now: Instant) -> Option<(Arc<CoreJsonWebKeySet>, bool)> {
        let current = self.current.read().ok()?;
        let set = current.as_ref()?;
        let usable = set.fresh_until.checked_add(STALE_GRACE).is_none_or(|until| now < until);
        usable.then(|| (set.keys.clone(), now < set.fresh_until))
    }

    /// Keeps `keys`, fetched by a request sent at `fetched_at` and
    /// answered at `now`, for `max_age`.
    fn set(&self, keys: Arc<CoreJsonWebKeySet>, max_age: Option<Duration>, fetched_at: Instant, now: Instant) {
        let max_age = max_age
            .unwrap_or(DEFAULT_MAX_AGE)
            .clamp(SHORTEST_MAX_AGE, LONGEST_MAX_AGE);
        let fresh_until = now.checked_add(max_age).unwrap_or(now);
        if let Ok(mut slot) = self.current.write() {
            *slot = Some(KeySet {
                keys,
                fresh_until,
                fetched_at,
            });
        }
    }

    /// The key set, if the request that brought it was sent at or after
    /// `asked`: what the provider published once the token was there.
    fn fetched_since(&self, asked: Instant) -> Option<Arc<CoreJsonWebKeySet>> {
        let current = self.current.read().ok()?;
        current
            .as_ref()
            .filter(|set| set.fetched_at >= asked)
            .map(|set| set.keys.clone())
    }
}

impl Provider {
    /// Fetches the key set (the caller holds the fetch lock); a failure is
    /// handed out again during its back-off instead of asking again.
    async fn fetch_keys(&self, fetches: &mut Fetches) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        if let Some((at, error)) = &fetches.failure
            && self.clock.instant().saturating_duration_since(*at) < back_off(fetches.failures_in_a_row)
        {
            return Err(error.clone());
        }
        let began = self.clock.instant();
        let fetched = async {
            let metadata = self.metadata().await?;
            let call = Call {
                provider: &self.name,
                endpoint: Endpoint::Jwks,
            };
            http::json_with_max_age::<CoreJsonWebKeySet>(call, self.http().get(metadata.jwks_uri.clone()))
                .await
                .map_err(|e| self.call_failed("jwks", e))
        }
        .await;
        match fetched {
            Ok((keys, max_age)) => {
                event!(
                    info,
                    "oidc: fetched the signing keys of provider `{}` ({} keys)",
                    self.name,
                    keys.keys().len()
                );
                let keys = Arc::new(keys);
                self.keys.set(keys.clone(), max_age, began, self.clock.instant());
                fetches.failure = None;
                fetches.failures_in_a_row = 0;
                Ok(keys)
            }
            Err(error) => {
                fetches.failures_in_a_row = fetches.failures_in_a_row.saturating_add(1);
                fetches.failure = Some((self.clock.instant(), error.clone()));
                Err(error)
            }
        }
    }
}

#[rocket::async_trait]
impl KeySource for Provider {
    /// The signing keys: fetched on first use and again when the set is
    /// older than its `Cache-Control: max-age` (5 minutes when it does not
    /// say, a day at most, 2 seconds at least), so a key the provider
    /// removed is refused soon after. While the provider cannot be asked,
    /// the set it last gave is used.
    async fn keys(&self) -> Result<Arc<CoreJsonWebKeySet>, OidcError> {
        let stale = match self.keys.current_at(self.clock.instant()) {
            Some((keys, true)) => return Ok(keys),
            Some((keys, false)) => Some(keys),
            None => None,
        };
        let mut fetches = match (&stale, self.keys.fetching.try_lock()) {
            (_, Ok(fetches)) => fetches,
            // Someone is fetching: the stale set serves meanwhile.
            (Some(stale), Err(_)) => return Ok(stale.clone()),
            (None, Err(_)) => self.keys.fetching.lock().await,
        };
        if let Some((keys, true)) = self.keys.current_at(self.clock.instant()) {
            return Ok(keys);
        }
        match (self.fetch_keys(&mut fetches).await, stale) {
            (Ok(keys), _) => Ok(keys),
            (Err(error), Some(stale)) => {
                event!(
                    warn,
                    "oidc: keeping the keys of provider `{}` a while longer: {error}",
                    self.name
                );
                Ok(stale)
            }
            (Err(error), None) => Err(error),
        }
    }

    /// Refetches the keys after a token named a key we do not have, or one
    /// whose signature did not verify (key rotation, possibly under the same
    /// `kid`). The answer is always a set fetched after the token arrived:
    /// one fetched meanwhile, or the next refetch, waited for (at most
    /// [`REFETCH_INTERVAL`] after the last one) and shared with every token
    /// waiting. Keys that cannot be fetched are the provider's trouble
    /// (`502`/`503`), never a reason to call the token forged.
    async fn refetch(&self, asked: Instant) -> Result<Option<Arc<CoreJsonWebKeySet>>, OidcError> {
        // Queued here behind the refetch of another token, a token finds
        // its answer in that refetch when it began after this one arrived.
        let mut fetches = self.keys.fetching.lock().await;
        if let Some(fresh) = self.keys.fetched_since(asked) {
            return Ok(Some(fresh));
        }
        if let Some(next) = fetches.last_refetch.and_then(|at| at.checked_add(REFETCH_INTERVAL)) {
            // Never longer than the interval, whatever a custom clock says.
            let wait = next
                .saturating_duration_since(self.clock.instant())
                .min(REFETCH_INTERVAL);
            if !wait.is_zero() {
                rocket::tokio::time::sleep(wait).await;
            }
        }
        fetches.last_refetch = Some(self.clock.instant());
        self.fetch_keys(&mut fetches).await.map(Some)
    }

    fn instant(&self) -> Instant {
        self.clock.instant()
    }
}

// Test code: fixed inputs only; a panic here is a failed test.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_key_set_serves_for_an_hour_past_its_freshness_then_not_at_all() {
        let cache = KeyCache::default();
        let keys: Arc<CoreJsonWebKeySet> = Arc::new(serde_json::from_str(r#"{"keys":[]}"#).expect("a key set"));
        let now = Instant::now();
        cache.set(keys, Some(Duration::from_secs(300)), now, now);
        assert!(matches!(cache.current_at(now), Some((_, true))), "fresh");
        let stale = now + Duration::from_secs(300) + STALE_GRACE - Duration::from_secs(5);
        assert!(matches!(cache.current_at(stale), Some((_, false))), "stale, still used");
        let too_old = now + Duration::from_secs(300) + STALE_GRACE + Duration::from_secs(5);
        assert!(cache.current_at(too_old).is_none(), "past the grace: refused");
    }
}
