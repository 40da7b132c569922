//! When and how long to wait before sending a failed call again.
//!
//! Retried: 5xx, 429 and calls that got no answer. Every call of the contract
//! is safe to repeat: PATCH and DELETE are idempotent, and a repeated
//! bulk-create item answers `already_assigned`, which the apply reports as
//! already in place.

use std::time::{Duration, SystemTime};

use backon::ExponentialBuilder;

/// The first wait. Short, because most failures of a healthy service are
/// single dropped connections or brief overloads.
const BASE_DELAY: Duration = Duration::from_millis(100);
/// The longest computed wait; with the base above and doubling, the sixth
/// retry reaches it, so a run rides out about half a minute of outage.
const MAX_DELAY: Duration = Duration::from_secs(8);
/// Attempts in all, the first included.
const MAX_ATTEMPTS: usize = 7;
/// The longest `Retry-After` honoured; a service asking for more is treated
/// as down rather than letting one run stall for an hour.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Policy {
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_attempts: usize,
    pub max_retry_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            base_delay: BASE_DELAY,
            max_delay: MAX_DELAY,
            max_attempts: MAX_ATTEMPTS,
            max_retry_after: MAX_RETRY_AFTER,
        }
    }
}

impl Policy {
    /// Exponential backoff with jitter, so that concurrent calls that failed
    /// together do not come back together.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1))
            .with_jitter()
    }

    /// The wait before the next attempt: what the service asked for, capped,
    /// or else the backoff's own.
    pub fn delay_for(&self, retry_after: Option<Duration>, backoff: Duration) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => backoff,
        }
    }
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let soon = SystemTime::now() + Duration::from_secs(30);
        let parsed = parse_retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(parsed <= Duration::from_secs(30) && parsed >= Duration::from_secs(28));
        let past = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH);
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn retry_after_is_capped() {
        let policy = Policy::default();
        assert_eq!(
            policy.delay_for(Some(Duration::from_secs(3600)), Duration::ZERO),
            MAX_RETRY_AFTER
        );
        assert_eq!(
            policy.delay_for(None, Duration::from_millis(5)),
            Duration::from_millis(5)
        );
    }
}
