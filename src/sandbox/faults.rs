//! Misbehaviour on purpose, for tests of client robustness: latency, 503s,
//! 429s, answers lost after the write committed, bulk items failing on their
//! own, and a small bulk limit.
//!
//! Every decision is a pure function of the seed, the request's number (its
//! place in arrival order) and what is being decided, so a run that sends the
//! same requests in the same order meets the same faults.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

/// The fault knobs, as `grantsync sandbox` flags or the embedded sandbox's
/// section of the config file. Everything defaults to a well-behaved service.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every request before anything else happens.
    pub latency_ms: u64,
    /// Share of requests answered `503 unavailable` before doing anything.
    pub error_rate: f64,
    /// Share of requests answered `429 rate_limited` before doing anything.
    /// `Retry-After` alternates between delay-seconds and an HTTP date.
    pub rate_limit_rate: f64,
    /// Share of write requests (POST, PATCH, DELETE) whose write commits and
    /// whose answer is then lost: the connection is cut.
    pub drop_rate: f64,
    /// Share of bulk-create items that fail on their own with code
    /// `internal` and are not written; a retry of the item may succeed.
    pub item_failure_rate: f64,
    /// Most items one bulk-create call takes; more answer `413
    /// too_many_items`. Default [`DEFAULT_BULK_LIMIT`].
    #[schemars(
        description = "Most items one bulk-create call takes; more answer `413 too_many_items`. Default 500."
    )]
    pub bulk_limit: Option<usize>,
    /// The delay a 429 asks for, in seconds. Default 1.
    pub retry_after_secs: Option<u64>,
    /// Seeds every decision; without one a seed is drawn and logged, so a
    /// failing run can be replayed.
    pub seed: Option<u64>,
}

/// The bulk limit when none is configured.
pub const DEFAULT_BULK_LIMIT: usize = 500;

const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

impl Faults {
    /// Checks that every rate is a share and the limit is positive.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("rate_limit_rate", self.rate_limit_rate),
            ("drop_rate", self.drop_rate),
            ("item_failure_rate", self.item_failure_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} is {rate}, expected a share from 0 to 1"));
            }
        }
        if self.error_rate + self.rate_limit_rate > 1.0 {
            return Err(format!(
                "error_rate {} and rate_limit_rate {} add up to more than 1",
                self.error_rate, self.rate_limit_rate
            ));
        }
        if self.bulk_limit == Some(0) {
            return Err("bulk_limit is 0, expected at least 1".to_owned());
        }
        Ok(())
    }

    pub fn bulk_limit(&self) -> usize {
        self.bulk_limit.unwrap_or(DEFAULT_BULK_LIMIT)
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Handle it; `drop` cuts the connection once the handler is done.
    Proceed {
        request: u64,
        drop: bool,
    },
    Unavailable,
    RateLimited {
        retry_after: RetryAfter,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    Seconds(u64),
    Date(SystemTime),
}

impl RetryAfter {
    pub fn header_value(self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::Date(at) => httpdate::fmt_http_date(at),
        }
    }
}

/// The seeded source of every fault decision.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    faults: Faults,
    seed: u64,
    requests: AtomicU64,
    rate_limited: AtomicU64,
}

/// Keeps the draws for different decisions of one request independent.
mod salt {
    pub const REFUSE: u64 = 1;
    pub const DROP: u64 = 2;
    pub const ITEM: u64 = 3;
}

impl FaultPlan {
    pub fn new(faults: Faults, seed: u64) -> FaultPlan {
        FaultPlan {
            faults,
            seed,
            requests: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Numbers the next request and decides its fate.
    pub fn decide(&self, write: bool) -> Decision {
        let request = self.requests.fetch_add(1, Ordering::Relaxed);

        // One draw for both refusals, so each share is what was configured.
        let refuse = self.draw(request, salt::REFUSE, 0);
        if refuse < self.faults.error_rate {
            return Decision::Unavailable;
        }
        if refuse < self.faults.error_rate + self.faults.rate_limit_rate {
            let delay = self
                .faults
                .retry_after_secs
                .unwrap_or(DEFAULT_RETRY_AFTER_SECS);
            // Alternate the two forms the header allows, so clients meet both.
            let retry_after = if self
                .rate_limited
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(2)
            {
                RetryAfter::Seconds(delay)
            } else {
                // An HTTP date has whole seconds: round up so the client
                // never waits less than asked.
                RetryAfter::Date(SystemTime::now() + Duration::from_secs(delay + 1))
            };
            return Decision::RateLimited { retry_after };
        }
        let drop = write && self.draw(request, salt::DROP, 0) < self.faults.drop_rate;
        Decision::Proceed { request, drop }
    }

    /// Whether item `index` of bulk request `request` fails on its own.
    pub fn item_fails(&self, request: u64, index: usize) -> bool {
        self.faults.item_failure_rate > 0.0
            && self.draw(request, salt::ITEM, index as u64) < self.faults.item_failure_rate
    }

    /// A uniform draw in [0, 1) fixed by its arguments.
    fn draw(&self, request: u64, salt: u64, index: u64) -> f64 {
        let mut x = mix(self.seed ^ mix(request ^ mix(salt ^ mix(index))));
        x = mix(x);
        // The top 53 bits fill an f64 mantissa exactly.
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The SplitMix64 finaliser: a cheap bijection whose output bits each depend
/// on every input bit.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(faults: Faults) -> FaultPlan {
        FaultPlan::new(faults, 7)
    }

    #[test]
    fn same_seed_same_decisions() {
        let faults = Faults {
            error_rate: 0.3,
            drop_rate: 0.3,
            ..Faults::default()
        };
        let run = || {
            let p = plan(faults.clone());
            (0..200).map(|_| p.decide(true)).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
        assert!(run().contains(&Decision::Unavailable));
    }

    #[test]
    fn shares_follow_the_rates() {
        let p = plan(Faults {
            error_rate: 0.1,
            rate_limit_rate: 0.2,
            drop_rate: 0.5,
            ..Faults::default()
        });
        let (mut unavailable, mut limited, mut dropped) = (0, 0, 0);
        for _ in 0..10_000 {
            match p.decide(true) {
                Decision::Unavailable => unavailable += 1,
                Decision::RateLimited { .. } => limited += 1,
                Decision::Proceed { drop: true, .. } => dropped += 1,
                Decision::Proceed { .. } => {}
            }
        }
        assert!((900..1100).contains(&unavailable), "{unavailable}");
        assert!((1800..2200).contains(&limited), "{limited}");
        // Half of the 70% that proceed.
        assert!((3200..3800).contains(&dropped), "{dropped}");
    }

    #[test]
    fn reads_are_never_dropped() {
        let p = plan(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        });
        assert!(matches!(
            p.decide(false),
            Decision::Proceed { drop: false, .. }
        ));
        assert!(matches!(
            p.decide(true),
            Decision::Proceed { drop: true, .. }
        ));
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        let faults = Faults {
            drop_rate: 1.5,
            ..Faults::default()
        };
        assert!(faults.validate().unwrap_err().contains("drop_rate"));
    }

    #[test]
    fn unknown_knobs_are_refused() {
        let error = serde_json::from_str::<Faults>(r#"{"eror_rate": 0.1}"#).unwrap_err();
        assert!(error.to_string().contains("eror_rate"));
    }
}
