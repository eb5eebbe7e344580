//! Rate limits on sign-up, login, password reset and creation, per client address and per
//! account. Kept in memory (a restart forgets them, which only ever helps the client) and
//! pruned by the lifecycle task so they stay small under a flood of distinct keys.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::{Limit, RateLimits};
use crate::error::FarmError;

/// Where a request came from: the client's address, when known (the CLI has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Source(pub Option<IpAddr>);

impl Source {
    pub fn cli() -> Self {
        Self(None)
    }

    /// For the audit log.
    pub fn label(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }

    /// The client of an HTTP request: the peer, or, when the peer is a trusted proxy, the
    /// last address it added to `X-Forwarded-For`.
    pub fn of_request(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted_proxies: &[IpAddr]) -> Self {
        let trusted = peer.is_some_and(|ip| trusted_proxies.contains(&ip));
        let forwarded = forwarded_for
            .filter(|_| trusted)
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        Self(forwarded.or(peer))
    }

    fn key(&self) -> String {
        self.label().unwrap_or_else(|| "local".into())
    }
}

/// An action that is rate limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Signup,
    Login,
    PasswordReset,
    Create,
}

struct KeyedLimit(Option<DefaultKeyedRateLimiter<String>>);

impl KeyedLimit {
    fn new(limit: Limit) -> Self {
        let Some(count) = NonZeroU32::new(limit.count) else { return Self(None) };
        let period = limit.per / limit.count;
        let quota = Quota::with_period(period.max(std::time::Duration::from_nanos(1)))
            .map(|q| q.allow_burst(count))
            .unwrap_or_else(|| Quota::per_second(count));
        Self(Some(governor::RateLimiter::keyed(quota)))
    }

    fn check(&self, key: &str) -> Result<(), FarmError> {
        let Some(limiter) = &self.0 else { return Ok(()) };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            FarmError::RateLimited { retry_after_secs: wait.as_secs().max(1) }
        })
    }

    fn prune(&self) {
        if let Some(limiter) = &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

pub struct RateLimiter {
    signup_per_source: KeyedLimit,
    login_per_source: KeyedLimit,
    login_per_account: KeyedLimit,
    reset_per_source: KeyedLimit,
    reset_per_account: KeyedLimit,
    create_per_source: KeyedLimit,
    create_per_account: KeyedLimit,
}

impl RateLimiter {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            signup_per_source: KeyedLimit::new(limits.signup_per_source),
            login_per_source: KeyedLimit::new(limits.login_per_source),
            login_per_account: KeyedLimit::new(limits.login_per_account),
            reset_per_source: KeyedLimit::new(limits.password_reset_per_source),
            reset_per_account: KeyedLimit::new(limits.password_reset_per_account),
            create_per_source: KeyedLimit::new(limits.create_per_source),
            create_per_account: KeyedLimit::new(limits.create_per_account),
        }
    }

    /// Counts one `action` from `source`, for `account` (a user name or address key) if the
    /// action concerns one. The account's allowance is counted per source too: a flood from
    /// one address cannot use up what the account's owner has elsewhere.
    pub fn check(&self, action: Action, source: &Source, account: Option<&str>) -> Result<(), FarmError> {
        let (per_source, per_account) = match action {
            Action::Signup => (&self.signup_per_source, None),
            Action::Login => (&self.login_per_source, Some(&self.login_per_account)),
            Action::PasswordReset => (&self.reset_per_source, Some(&self.reset_per_account)),
            Action::Create => (&self.create_per_source, Some(&self.create_per_account)),
        };
        per_source.check(&source.key())?;
        if let (Some(limit), Some(account)) = (per_account, account) {
            limit.check(&format!("{account}\u{0}{}", source.key()))?;
        }
        Ok(())
    }

    /// Forgets keys whose allowance is full again.
    pub fn prune(&self) {
        for limit in [
            &self.signup_per_source,
            &self.login_per_source,
            &self.login_per_account,
            &self.reset_per_source,
            &self.reset_per_account,
            &self.create_per_source,
            &self.create_per_account,
        ] {
            limit.prune();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(last: u8) -> Source {
        Source(Some(IpAddr::from([127, 0, 0, last])))
    }

    #[test]
    fn limits_are_per_source_and_per_account_from_a_source() {
        let limits = RateLimits {
            login_per_source: Limit::new(5, 3600),
            login_per_account: Limit::new(2, 3600),
            ..RateLimits::default()
        };
        let limiter = RateLimiter::new(&limits);
        assert!(limiter.check(Action::Login, &source(1), Some("alice")).is_ok());
        assert!(limiter.check(Action::Login, &source(1), Some("alice")).is_ok());
        let refused = limiter.check(Action::Login, &source(1), Some("alice")).expect_err("third try");
        assert!(matches!(refused, FarmError::RateLimited { retry_after_secs } if retry_after_secs >= 1));
        // Alice from elsewhere, and others from the same source, still get in.
        assert!(limiter.check(Action::Login, &source(2), Some("alice")).is_ok());
        assert!(limiter.check(Action::Login, &source(1), Some("bob")).is_ok());
        // The source's own allowance runs out (5: 3 alice + 1 bob + this one).
        assert!(limiter.check(Action::Login, &source(1), Some("carol")).is_ok());
        assert!(limiter.check(Action::Login, &source(1), Some("dave")).is_err());
        assert!(limiter.check(Action::Login, &source(3), Some("dave")).is_ok());
    }

    #[test]
    fn a_zero_count_turns_a_limit_off() {
        let limits = RateLimits { signup_per_source: Limit::new(0, 1), ..RateLimits::default() };
        let limiter = RateLimiter::new(&limits);
        for _ in 0..1000 {
            assert!(limiter.check(Action::Signup, &source(1), None).is_ok());
        }
    }
}
