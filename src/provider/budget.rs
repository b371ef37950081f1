//! How many calls requests may make a provider answer: a token bucket
//! per provider and process (`limits.provider_calls_per_second`) for the
//! requests nobody authenticated, of which one source address may spend a
//! quarter; and one as large for logged-in users, of which each may spend
//! a quarter a minute.
//!
//! An anonymous navigation can cause a pushed authorization request (and
//! a client assertion signed for it), an anonymous bearer request the
//! introspection of a token never seen; a flood of those would exhaust the
//! provider's rate limits for every user of the client. Past the budget, a
//! login falls back to a front-channel request where the provider allows
//! it, and otherwise the request is refused at once, never sent to the
//! provider: `429` when its source spent its share, `503` when the whole
//! budget is spent (by many sources). So one client flooding from one
//! address leaves three quarters to everyone else. A logged-in user's
//! silent re-checks and step-ups spend the users' budget: an anonymous
//! flood never refuses them. One account is held to its own share, a
//! burst of half the per-second rate and then a quarter of it a minute
//! (a real user re-checks once per `session_refresh_interval_seconds` and
//! steps up at a human pace); many accounts together to the users' budget.
//!
//! The address is Rocket's `client_ip()`: the `ip_header` (`X-Real-IP` by
//! default) when a request has it. An app reached without a proxy that
//! sets that header must set Rocket's `ip_header = false`, or one client
//! can claim a new address per request (launch warns in release). IPv6
//! addresses count by their /64, which one host commonly holds.
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
    /// The app on its own, or a step of a call already counted (the
    /// interactive login after a failed silent check): not counted.
    App,
    /// A logged-in user (a silent re-check, a step-up), by a digest of
    /// their provider and `sub`: their own share.
    User([u8; 32]),
    /// A request nobody authenticated, from this address if known.
    Anonymous(Option<IpAddr>),
}

/// Who spends a share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Spender {
    Address(IpAddr),
    User([u8; 32]),
}

/// The address a share is kept under: IPv6 by its /64.
fn spender_address(address: IpAddr) -> Spender {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Spender::Address(IpAddr::V4(v4)),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                Spender::Address(IpAddr::from([a, b, c, d, 0, 0, 0, 0]))
            }
        },
        v4 => Spender::Address(v4),
    }
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
    /// Pushed authorization requests (RFC 9126): of navigations without a
    /// session, and of logged-in users' silent re-checks and step-ups.
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

/// The most source addresses (and, apart, logged-in users) whose shares
/// are remembered; the least recently seen is forgotten first (a client
/// with ever new addresses meets the whole budget, no more).
const SOURCES: usize = 4096;

/// What one source may spend: a quarter of the budget.
const SOURCE_SHARE: f64 = 0.25;

/// Calls available now, and when that was reckoned.
type Bucket = (f64, Instant);

pub(crate) struct CallBudget {
    /// Calls per second; 0: no limit.
    rate: f64,
    /// The anonymous requests' budget.
    bucket: Mutex<Bucket>,
    /// The logged-in users' budget: as large, and apart, so an anonymous
    /// flood refuses no user and the users together no anonymous login.
    users_bucket: Mutex<Bucket>,
    /// Each source address's share of the anonymous budget.
    sources: Mutex<LruCache<Spender, Bucket>>,
    /// Each logged-in user's share of theirs. Apart from the addresses, so
    /// a flood of new addresses forgets no user's spending.
    users: Mutex<LruCache<Spender, Bucket>>,
}

impl CallBudget {
    /// `per_second` calls a second, and as many again in a burst (0: no
    /// limit).
    pub(crate) fn new(per_second: u32) -> CallBudget {
        let rate = f64::from(per_second);
        let sources = NonZeroUsize::new(SOURCES).unwrap_or(NonZeroUsize::MIN);
        let now = Instant::now();
        CallBudget {
            rate,
            bucket: Mutex::new((rate * 2.0, now)),
            users_bucket: Mutex::new((rate * 2.0, now)),
            sources: Mutex::new(LruCache::new(sources)),
            users: Mutex::new(LruCache::new(sources)),
        }
    }

    /// Takes one call for `caller` from the budget, `now` on the app's
    /// monotonic clock.
    pub(crate) fn spend_at(&self, caller: Caller, now: Instant) -> Spend {
        if self.rate == 0.0 {
            return Spend::Allowed;
        }
        let share = (self.rate * SOURCE_SHARE).max(1.0);
        // (who spends, in which ledger, at what rate, with what burst; and
        // the budget they spend together)
        let (spender, shares, refill, burst, budget) = match caller {
            Caller::App => return Spend::Allowed,
            Caller::User(user) => (
                Some(Spender::User(user)),
                &self.users,
                share / 60.0,
                (share * 2.0).max(2.0),
                &self.users_bucket,
            ),
            Caller::Anonymous(source) => (
                source.map(spender_address),
                &self.sources,
                share,
                share * 2.0,
                &self.bucket,
            ),
        };
        if let Some(spender) = spender {
            let Ok(mut shares) = shares.lock() else {
                return Spend::AllSpent;
            };
            let bucket = shares.get_or_insert_mut(spender, || (burst, now));
            if !take(bucket, refill, burst, now) {
                return Spend::SourceSpent;
            }
        }
        let Ok(mut bucket) = budget.lock() else {
            return Spend::AllSpent;
        };
        if take(&mut bucket, self.rate, self.rate * 2.0, now) {
            Spend::Allowed
        } else {
            Spend::AllSpent
        }
    }
}

/// Takes one call from `bucket` (refilled at `rate` a second, up to
/// `burst`): false when there is none left now.
fn take(bucket: &mut Bucket, rate: f64, burst: f64, now: Instant) -> bool {
    let (available, since) = *bucket;
    let refilled = (available + now.saturating_duration_since(since).as_secs_f64() * rate).min(burst);
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
        // Logged-in users spend a budget of their own, never the anonymous
        // one (spent by now).
        assert_eq!(budget.spend_at(Caller::User([2; 32]), start), Spend::Allowed);
        assert_eq!(budget.spend_at(Caller::App, start), Spend::Allowed);
    }

    #[test]
    fn one_user_spends_a_burst_then_a_quarter_a_minute_and_all_users_the_budget() {
        let budget = CallBudget::new(20);
        let start = Instant::now();
        let alice = Caller::User([1; 32]);
        let spent: Vec<Spend> = (0..12).map(|_| budget.spend_at(alice, start)).collect();
        assert!(spent[..10].iter().all(|s| *s == Spend::Allowed), "a burst: {spent:?}");
        assert!(spent[10..].iter().all(|s| *s == Spend::SourceSpent), "{spent:?}");
        let later = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(budget.spend_at(alice, later(10)), Spend::SourceSpent, "5 a minute");
        assert_eq!(budget.spend_at(alice, later(13)), Spend::Allowed, "one every 12 s");
        // A flood of new addresses forgets no user's spending.
        for n in 0..(SOURCES as u32 + 10) {
            budget.spend_at(Caller::Anonymous(Some(IpAddr::from(n.to_be_bytes()))), later(13));
        }
        assert_eq!(budget.spend_at(alice, later(14)), Spend::SourceSpent);
        // Users together spend the users' budget (two seconds' worth, full
        // again by now), and no more.
        let others = (2..=60u8)
            .filter(|n| budget.spend_at(Caller::User([*n; 32]), later(14)) == Spend::Allowed)
            .count();
        assert_eq!(others, 40);
        assert_eq!(budget.spend_at(Caller::User([99; 32]), later(14)), Spend::AllSpent);
    }

    #[test]
    fn an_ipv4_address_seen_through_ipv6_is_that_ipv4_address() {
        let budget = CallBudget::new(20);
        let start = Instant::now();
        let mapped = |last: u8| {
            Caller::Anonymous(Some(IpAddr::from(
                std::net::Ipv4Addr::new(10, 0, 0, last).to_ipv6_mapped(),
            )))
        };
        let spent: Vec<Spend> = (0..12).map(|_| budget.spend_at(mapped(1), start)).collect();
        assert_eq!(spent.iter().filter(|s| **s == Spend::Allowed).count(), 10, "{spent:?}");
        assert_eq!(budget.spend_at(from(1), start), Spend::SourceSpent, "one source");
        assert_eq!(budget.spend_at(mapped(2), start), Spend::Allowed, "another");
    }

    #[test]
    fn an_ipv6_host_is_one_source_by_its_slash_64() {
        let budget = CallBudget::new(20);
        let start = Instant::now();
        let host = |n: u16| Caller::Anonymous(Some(IpAddr::from([0x2001, 0xdb8, 7, 9, 0, 0, n, 1])));
        let spent: Vec<Spend> = (0..12).map(|n| budget.spend_at(host(n), start)).collect();
        assert_eq!(spent.iter().filter(|s| **s == Spend::Allowed).count(), 10, "{spent:?}");
        let elsewhere = Caller::Anonymous(Some(IpAddr::from([0x2001, 0xdb8, 7, 10, 0, 0, 0, 1])));
        assert_eq!(budget.spend_at(elsewhere, start), Spend::Allowed);
    }
}
