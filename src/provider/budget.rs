//! How many calls anonymous requests may make a provider answer: a token
//! bucket per provider and process (`limits.provider_calls_per_second`).
//! An anonymous navigation can cause a pushed authorization request (and
//! a client assertion signed for it), an anonymous bearer request the
//! introspection of a token never seen; a flood of those would exhaust the
//! provider's rate limits for every user of the client. Past the budget, a
//! login falls back to a front-channel request where the provider allows
//! it, and otherwise the request is answered `503` at once, never sent to
//! the provider. (Code redemptions are not budgeted: a budget anyone can
//! spend would refuse the callbacks of real users who just signed in, and
//! each redemption already needs a login started in its browser.)

use std::sync::Mutex;
use std::time::Instant;

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

pub(crate) struct CallBudget {
    /// Calls per second; 0: no limit.
    rate: f64,
    /// Calls available now, and when that was reckoned.
    bucket: Mutex<(f64, Instant)>,
}

impl CallBudget {
    /// `per_second` calls a second, and as many again in a burst (0: no
    /// limit).
    pub(crate) fn new(per_second: u32) -> CallBudget {
        let rate = f64::from(per_second);
        CallBudget {
            rate,
            bucket: Mutex::new((rate * 2.0, Instant::now())),
        }
    }

    /// Takes one call from the budget: false when there is none left now.
    pub(crate) fn take(&self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let Ok(mut bucket) = self.bucket.lock() else {
            return false;
        };
        let (available, since) = *bucket;
        let refilled =
            (available + now.saturating_duration_since(since).as_secs_f64() * self.rate).min(self.rate * 2.0);
        if refilled < 1.0 {
            *bucket = (refilled, now);
            return false;
        }
        *bucket = (refilled - 1.0, now);
        true
    }
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

    #[test]
    fn a_burst_of_twice_the_rate_then_the_rate() {
        let budget = CallBudget::new(10);
        let start = Instant::now();
        let taken = (0..100).filter(|_| budget.take_at(start)).count();
        assert_eq!(taken, 20, "a burst of two seconds' worth");
        assert!(!budget.take_at(start + Duration::from_millis(50)));
        assert!(
            budget.take_at(start + Duration::from_millis(110)),
            "one more every 100 ms"
        );
        let later = start + Duration::from_secs(60);
        assert_eq!(
            (0..100).filter(|_| budget.take_at(later)).count(),
            20,
            "never more than the burst"
        );
        let unlimited = CallBudget::new(0);
        assert!((0..10_000).all(|_| unlimited.take_at(start)));
    }
}
