//! Rate limits by key (a client address, an account), in this process's
//! memory. They bound how fast one source can try: token guesses on the
//! public pages, passwords across accounts, and how many refusal events one
//! actor can write into the audit log.
//!
//! What they protect is cost, not a decision: the lockout that decides who
//! may log in is stored in the database (and so holds across replicas);
//! with several replicas each one throttles on its own, which multiplies
//! the allowed rate by their number and is documented as such.
//!
//! They read the monotonic clock, not the gateway's injected clock: moving
//! the gateway's time (tests, a clock step) must neither open nor close a
//! throttle.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::http::HttpConfig;

/// So many events per minute per key, with a burst of the same size.
pub struct PerMinute<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> PerMinute<K> {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` when `key` may go on now; otherwise how long it must wait.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets keys that are back to a full allowance, so a flood of
    /// addresses cannot grow the table for ever (called by housekeeping).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Every throttle of the gateway.
pub struct Throttles {
    /// Public pages, per client address.
    pub public: PerMinute<std::net::IpAddr>,
    /// Login attempts, per client address, whatever the account.
    pub login: PerMinute<std::net::IpAddr>,
    /// Refusal events written per actor (see `http::refusals`).
    pub refusal_events: PerMinute<String>,
}

/// Refusal events one actor may write per minute; the rest are counted and
/// the count is carried by the next event written.
const REFUSAL_EVENTS_PER_MINUTE: u32 = 20;

impl Throttles {
    pub fn new(http: &HttpConfig) -> Self {
        Self {
            public: PerMinute::new(http.public_requests_per_minute),
            login: PerMinute::new(http.login_attempts_per_minute),
            refusal_events: PerMinute::new(REFUSAL_EVENTS_PER_MINUTE),
        }
    }

    pub fn forget_idle(&self) {
        self.public.forget_idle();
        self.login.forget_idle();
        self.refusal_events.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_allowance_and_others_are_not() {
        let throttle = PerMinute::new(3);
        for _ in 0..3 {
            assert!(throttle.check(&"a").is_ok());
        }
        let wait = throttle.check(&"a").err();
        assert!(
            wait.is_some_and(|w| w > Duration::ZERO && w <= Duration::from_secs(20)),
            "{wait:?}"
        );
        assert!(throttle.check(&"b").is_ok());
    }
}
