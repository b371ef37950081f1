//! How many calls anonymous requests may make a provider answer: a token
//! bucket per provider and process (`limits.provider_calls_per_second`),
//! of which one source address may spend a quarter.
//!
//! An anonymous navigation can cause a pushed authorization request (and
//! a client assertion signed for it), an anonymous bearer request the
//! introspection of a token never seen; a flood of those would exhaust the
//! provider's rate limits for every user of the client. Past the budget, a
//! login falls back to a front-channel request where the provider allows
//! it, and otherwise the request is refused at once, never sent to the
//! provider: `429` when its source spent its share, `503` when the whole
//! budget is spent (by many sources). So one client flooding from one
//! address leaves three quarters to everyone else. The address is Rocket's
//! `client_ip()`: behind a proxy, Rocket's `ip_header` must name the
//! header the proxy sets, or one client can claim to be many.
//! (Code redemptions are not budgeted: a budget anyone can spend would
//! refuse the callbacks of real users who just signed in, and each
//! redemption already needs a login started in its browser.)

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Instant;

use lru::LruCache;

/// Who a provider call is made for, as far as budgets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A logged-in user (a silent re-check, a step-up), or the app itself:
    /// not counted.
    User,
    /// A request nobody authenticated, from this address if known.
    Anonymous(Option<IpAddr>),
}

/// What a budget says to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spend {
    /// Make the call.
    Allowed,
    /// This source spent its share: refuse it (`429`).
    SourceSpent,
    /// The whole budget is spent: refuse (`503`).
    AllSpent,
}

/// The budgets of one provider, one per kind of call: a flood of one kind
/// leaves the other its own.
#[derive(Default)]
pub(crate) struct CallBudgets {
    /// Pushed authorization requests (RFC 9126) of navigations without a
    /// session (a logged-in user's silent re-check or step-up is not
    /// anonymous, and not counted).
    pub(crate) pushed_requests: CallBudget,
    /// Introspection of tokens not seen before (RFC 7662).
    pub(crate) introspections: CallBudget,
}

impl CallBudgets {
    /// Budgets of `per_second` calls a second each (0: no limit).
    pub(crate) fn new(per_second: u32) -> CallBudgets {
        CallBudgets {
            pushed_requests: CallBudget::new(per_second),
            introspections: CallBudget::new(per_second),
        }
    }
}

/// The most source addresses whose shares are remembered; the least
/// recently seen is forgotten first (a client with ever new addresses
/// meets the whole budget, no more).
const SOURCES: usize = 4096;

/// What one source may spend: a quarter of the budget.
const SOURCE_SHARE: f64 = 0.25;

pub(crate) struct CallBudget {
    /// Calls per second; 0: no limit.
    rate: f64,
    /// Calls available now, and when that was reckoned.
    bucket: Mutex<(f64, Instant)>,
    /// The same, for each source address.
    sources: Mutex<LruCache<IpAddr, (f64, Instant)>>,
}

impl CallBudget {
    /// `per_second` calls a second, and as many again in a burst (0: no
    /// limit).
    pub(crate) fn new(per_second: u32) -> CallBudget {
        let rate = f64::from(per_second);
        let sources = NonZeroUsize::new(SOURCES).unwrap_or(NonZeroUsize::MIN);
        CallBudget {
            rate,
            bucket: Mutex::new((rate * 2.0, Instant::now())),
            sources: Mutex::new(LruCache::new(sources)),
        }
    }

    /// Takes one call for `caller` from the budget.
    pub(crate) fn spend(&self, caller: Caller) -> Spend {
        self.spend_at(caller, Instant::now())
    }

    fn spend_at(&self, caller: Caller, now: Instant) -> Spend {
        let Caller::Anonymous(source) = caller else {
            return Spend::Allowed;
        };
        if self.rate == 0.0 {
            return Spend::Allowed;
        }
        if let Some(source) = source {
            let share = (self.rate * SOURCE_SHARE).max(1.0);
            let Ok(mut sources) = self.sources.lock() else {
                return Spend::AllSpent;
            };
            let bucket = sources.get_or_insert_mut(source, || (share * 2.0, now));
            if !take(bucket, share, now) {
                return Spend::SourceSpent;
            }
        }
        let Ok(mut bucket) = self.bucket.lock() else {
            return Spend::AllSpent;
        };
        if take(&mut bucket, self.rate, now) {
            Spend::Allowed
        } else {
            Spend::AllSpent
        }
    }
}

/// Takes one call from `bucket` (refilled at `rate` a second, up to twice
/// that): false when there is none left now.
fn take(bucket: &mut (f64, Instant), rate: f64, now: Instant) -> bool {
    let (available, since) = *bucket;
    let refilled = (available + now.saturating_duration_since(since).as_secs_f64() * rate).min(rate * 2.0);
    if refilled < 1.0 {
        *bucket = (refilled, now);
        return false;
    }
    *bucket = (refilled - 1.0, now);
    true
}

impl Default for CallBudget {
    fn default() -> Self {
        CallBudget::new(0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOBODY: Caller = Caller::Anonymous(None);

    fn from(last: u8) -> Caller {
        Caller::Anonymous(Some(IpAddr::from([10, 0, 0, last])))
    }

    #[test]
    fn a_burst_of_twice_the_rate_then_the_rate() {
        let budget = CallBudget::new(10);
        let start = Instant::now();
        let allowed = |budget: &CallBudget, at| budget.spend_at(NOBODY, at) == Spend::Allowed;
        let taken = (0..100).filter(|_| allowed(&budget, start)).count();
        assert_eq!(taken, 20, "a burst of two seconds' worth");
        assert!(!allowed(&budget, start + Duration::from_millis(50)));
        assert!(
            allowed(&budget, start + Duration::from_millis(110)),
            "one more every 100 ms"
        );
        let later = start + Duration::from_secs(60);
        assert_eq!(
            (0..100).filter(|_| allowed(&budget, later)).count(),
            20,
            "never more than the burst"
        );
        let unlimited = CallBudget::new(0);
        assert!((0..10_000).all(|_| allowed(&unlimited, start)));
    }

    #[test]
    fn one_source_spends_a_quarter_and_leaves_the_rest_to_others() {
        let budget = CallBudget::new(20);
        let start = Instant::now();
        let spent: Vec<Spend> = (0..40).map(|_| budget.spend_at(from(1), start)).collect();
        assert!(spent[..10].iter().all(|s| *s == Spend::Allowed), "{spent:?}");
        assert!(spent[10..].iter().all(|s| *s == Spend::SourceSpent), "{spent:?}");
        let others = (2..40)
            .filter(|n| budget.spend_at(from(*n), start) == Spend::Allowed)
            .count();
        assert_eq!(others, 30, "what the flooding source could not spend");
        assert_eq!(budget.spend_at(from(99), start), Spend::AllSpent);
        assert_eq!(
            budget.spend_at(Caller::User, start),
            Spend::Allowed,
            "users are not counted"
        );
    }
}
