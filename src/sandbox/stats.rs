//! Request statistics: what the sandbox was asked and what it answered, so
//! tests can assert how many calls a run made ("a second apply makes no
//! write"). Read them through `Sandbox::stats` or `GET /_sandbox/stats`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Counts since the sandbox started. `GET /_sandbox/stats` itself is not
/// counted, so reading the numbers does not change them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every request answered (or cut), faults included.
    pub requests: u64,
    /// Requests with a write method (POST, PUT, PATCH, DELETE), whatever their answer.
    pub writes: u64,
    /// By method and route pattern, e.g. `PATCH /api/v1/assignments/{id}`;
    /// a path that matches no route counts as e.g. `GET (unmatched)`.
    pub by_route: BTreeMap<String, u64>,
    /// By HTTP status of the answer; a cut answer counts with the status it
    /// would have had.
    pub by_status: BTreeMap<u16, u64>,
    pub faults: FaultCounts,
}

/// How often each fault was injected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    pub unavailable: u64,
    pub rate_limited: u64,
    /// Answers cut after the write was handled.
    pub dropped: u64,
    /// Bulk items failed on purpose.
    pub failed_items: u64,
}

/// What happened to one request, as the front door saw it.
pub(crate) struct Outcome<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub write: bool,
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Unavailable,
    RateLimited,
    Dropped,
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    stats: Mutex<Stats>,
}

impl Recorder {
    pub fn record(&self, outcome: Outcome<'_>) {
        let mut stats = self.lock();
        stats.requests += 1;
        if outcome.write {
            stats.writes += 1;
        }
        *stats
            .by_route
            .entry(format!("{} {}", outcome.method, outcome.route))
            .or_default() += 1;
        *stats.by_status.entry(outcome.status).or_default() += 1;
        match outcome.fault {
            Some(Fault::Unavailable) => stats.faults.unavailable += 1,
            Some(Fault::RateLimited) => stats.faults.rate_limited += 1,
            Some(Fault::Dropped) => stats.faults.dropped += 1,
            None => {}
        }
    }

    pub fn record_failed_items(&self, count: u64) {
        self.lock().faults.failed_items += count;
    }

    pub fn snapshot(&self) -> Stats {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        // Counters stay meaningful after a panic elsewhere: nothing here can
        // leave them half-updated in a way that matters.
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}
