//! The daemon's Prometheus metrics, rendered on its own `/metrics`.
//!
//! Each daemon owns its recorder instead of installing a global one, so
//! that two daemons in one process (tests) keep their figures apart. Every
//! name starts with `grantsync_`.

use std::time::Duration;

use jiff::Timestamp;
use metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::report::EnvironmentReport;

const SYNCS: &str = "grantsync_syncs_total";
const ITEMS: &str = "grantsync_items_total";
const LAST_SUCCESS: &str = "grantsync_last_success_timestamp_seconds";
const DURATION: &str = "grantsync_sync_duration_seconds";
const API_REQUESTS: &str = "grantsync_api_requests_total";
const WATCHED_FILES: &str = "grantsync_watched_files";
const DESIRED_GRANTS: &str = "grantsync_desired_grants";
const DESIRED_VALID: &str = "grantsync_desired_state_valid";

/// Sync durations run from well under a second (nothing to change) to
/// minutes (a first sync of tens of thousands of grants through a slow
/// service); the buckets span that.
const DURATION_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), &DURATION_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let describe = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            (name, unit, SharedString::const_str(help))
        };
        for (name, unit, help) in [
            describe(
                SYNCS,
                None,
                "Syncs per environment, by result (success, items_failed, refused, error, interrupted).",
            ),
            describe(ITEMS, None, "Items applied per environment, by outcome."),
            describe(
                LAST_SUCCESS,
                Some(Unit::Seconds),
                "When the environment last synced with every item in place (Unix time).",
            ),
            describe(
                DURATION,
                Some(Unit::Seconds),
                "How long an environment's sync took.",
            ),
            describe(
                API_REQUESTS,
                None,
                "Requests to the access service, attempts included, by HTTP status (transport: no answer).",
            ),
            describe(
                WATCHED_FILES,
                None,
                "Files the daemon reads and watches: the config, sources and mappings.",
            ),
            describe(
                DESIRED_GRANTS,
                None,
                "Grants the environment's sources declare.",
            ),
            describe(
                DESIRED_VALID,
                None,
                "1 while the config and every source are valid, else 0.",
            ),
        ] {
            match name {
                DURATION => recorder.describe_histogram(name.into(), unit, help),
                SYNCS | ITEMS | API_REQUESTS => recorder.describe_counter(name.into(), unit, help),
                _ => recorder.describe_gauge(name.into(), unit, help),
            }
        }
        Metrics { recorder, handle }
    }

    /// Records one environment's part of a finished sync.
    pub fn record_environment(
        &self,
        env: &EnvironmentReport,
        result: &'static str,
        duration: Duration,
        finished_at: Timestamp,
    ) {
        let environment = || Label::new("environment", env.name.clone());
        self.counter(SYNCS, vec![environment(), Label::new("result", result)])
            .increment(1);
        for (outcome, count) in env.outcomes.iter().flatten() {
            self.counter(ITEMS, vec![environment(), Label::new("outcome", *outcome)])
                .increment(*count as u64);
        }
        for (status, count) in env.calls.iter().flat_map(|calls| &calls.by_status) {
            let labels = vec![environment(), Label::new("status", status.clone())];
            self.counter(API_REQUESTS, labels).increment(*count);
        }
        self.recorder
            .register_histogram(&Key::from_parts(DURATION, vec![environment()]), &METADATA)
            .record(duration.as_secs_f64());
        if result == "success" {
            self.gauge(LAST_SUCCESS, vec![environment()])
                .set(finished_at.as_millisecond() as f64 / 1000.0);
        }
    }

    pub fn set_watched_files(&self, count: usize) {
        self.gauge(WATCHED_FILES, Vec::new()).set(count as f64);
    }

    pub fn set_desired_grants(&self, environment: &str, count: usize) {
        let labels = vec![Label::new("environment", environment.to_owned())];
        self.gauge(DESIRED_GRANTS, labels).set(count as f64);
    }

    pub fn set_desired_valid(&self, valid: bool) {
        self.gauge(DESIRED_VALID, Vec::new())
            .set(if valid { 1.0 } else { 0.0 });
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> metrics::Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: Vec<Label>) -> metrics::Gauge {
        self.recorder
            .register_gauge(&Key::from_parts(name, labels), &METADATA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_sync_shows_up_in_the_exposition() {
        let metrics = Metrics::new();
        let mut env = EnvironmentReport::failed("Production", String::new());
        env.error = None;
        env.outcomes = Some(BTreeMap::from([("created", 3), ("failed", 1)]));
        env.calls = Some(crate::api::CallCounts {
            reads: 4,
            writes: 1,
            retries: 0,
            by_status: BTreeMap::from([("200".to_owned(), 4), ("207".to_owned(), 1)]),
        });
        let at: Timestamp = "2026-12-04T10:00:00Z".parse().unwrap();
        metrics.record_environment(&env, "items_failed", Duration::from_millis(1500), at);
        metrics.set_watched_files(3);
        metrics.set_desired_grants("Production", 42);
        let text = metrics.render();
        for line in [
            "grantsync_syncs_total{environment=\"Production\",result=\"items_failed\"} 1",
            "grantsync_items_total{environment=\"Production\",outcome=\"created\"} 3",
            "grantsync_api_requests_total{environment=\"Production\",status=\"207\"} 1",
            "grantsync_sync_duration_seconds_bucket{environment=\"Production\",le=\"2.5\"} 1",
            "grantsync_sync_duration_seconds_count{environment=\"Production\"} 1",
            "grantsync_watched_files 3",
            "grantsync_desired_grants{environment=\"Production\"} 42",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // Not a success: the last-success time is not set.
        assert!(
            !text.contains("grantsync_last_success_timestamp_seconds{"),
            "{text}"
        );
        metrics.record_environment(&env, "success", Duration::from_secs(1), at);
        assert!(metrics.render().contains(
            "grantsync_last_success_timestamp_seconds{environment=\"Production\"} 1796378400"
        ));
    }
}
