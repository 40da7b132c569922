//! What the daemon knows about itself, as `/status` shows it and as
//! `/readyz` decides from it.
//!
//! The controller is the only writer; the HTTP handlers take a copy. The
//! readiness rule lives in [`Status::update_readiness`]: ready after the
//! first sync in which every environment ran, and not while the desired
//! state is invalid or the last sync could not reach an environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use crate::api::CallCounts;
use crate::plan::Summary;
use crate::plan::rails::Refusal;
use crate::report::EnvironmentReport;

/// The most failed items `/status` lists per environment; the report on
/// disk has them all.
const MAX_FAILED_ITEMS_SHOWN: usize = 20;

/// Why a sync ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The first sync, at start.
    Start,
    /// A source or the config changed.
    Change,
    /// The periodic rescan found a change that no event announced.
    Rescan,
    /// `daemon.schedule`.
    Schedule,
    /// The last sync could not reach an environment.
    Retry,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Change => "change",
            Reason::Rescan => "rescan",
            Reason::Schedule => "schedule",
            Reason::Retry => "retry",
        }
    }
}

/// Where the desired state of an environment's last sync came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredFrom {
    /// The files as they are.
    Files,
    /// The files are invalid: the last good reading of them.
    LastGood,
    /// The files are invalid and were never good: not synced.
    Nothing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub config: PathBuf,
    pub started_at: Timestamp,
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_ready: Option<String>,
    /// A sync is running now.
    pub syncing: bool,
    /// Syncs finished since start.
    pub syncs: u64,
    pub desired_state: DesiredState,
    pub watch: WatchStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<LastSync>,
    pub environments: Vec<EnvironmentStatus>,
    #[serde(skip)]
    had_good_sync: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DesiredState {
    pub valid: bool,
    /// Every problem, `file:line:column: message` where it has a place.
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_since: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchStatus {
    pub files: usize,
    pub directories: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleStatus {
    pub expression: String,
    pub timezone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastSync {
    pub run_id: String,
    pub reason: Reason,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub duration_seconds: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentStatus {
    pub name: String,
    pub desired_from: DesiredFrom,
    pub desired_grants: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<EnvironmentSync>,
}

/// One environment's part of a sync.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentSync {
    pub run_id: String,
    pub started_at: Timestamp,
    pub duration_seconds: f64,
    /// `success`, `items_failed`, `refused`, `error` or `interrupted`.
    pub result: &'static str,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<BTreeMap<&'static str, usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub row_errors: Vec<String>,
    /// Failed items, `identity node role: code: message`, the first few.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_items: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<CallCounts>,
}

/// How one environment's sync ended, for `/status` and the metrics' `result`.
pub fn result_of(env: &EnvironmentReport, interrupted: bool) -> &'static str {
    if interrupted {
        "interrupted"
    } else if env.error.is_some() {
        "error"
    } else if !env.refusals.is_empty() {
        "refused"
    } else if env.failed_items() > 0 {
        "items_failed"
    } else {
        "success"
    }
}

impl EnvironmentSync {
    pub fn new(
        run_id: &str,
        started_at: Timestamp,
        duration_seconds: f64,
        env: &EnvironmentReport,
        interrupted: bool,
    ) -> EnvironmentSync {
        let failed_items = env
            .items
            .iter()
            .filter_map(|item| {
                let error = item.error.as_ref()?;
                Some(format!(
                    "{} {} {}: {}: {}",
                    item.identity, item.node, item.role, error.code, error.message
                ))
            })
            .take(MAX_FAILED_ITEMS_SHOWN)
            .collect();
        EnvironmentSync {
            run_id: run_id.to_owned(),
            started_at,
            duration_seconds,
            result: result_of(env, interrupted),
            summary: env.summary,
            outcomes: env.outcomes.clone(),
            error: env.error.clone(),
            refusals: env.refusals.clone(),
            row_errors: env.row_errors.clone(),
            failed_items,
            calls: env.calls.clone(),
        }
    }
}

impl Status {
    pub fn new(config: PathBuf, started_at: Timestamp) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION"),
            config,
            started_at,
            ready: false,
            not_ready: Some("no sync has finished yet".into()),
            syncing: false,
            syncs: 0,
            desired_state: DesiredState::default(),
            watch: WatchStatus::default(),
            schedule: None,
            last_sync: None,
            environments: Vec::new(),
            had_good_sync: false,
        }
    }

    /// The status of environment `name`, added when new.
    pub fn environment_mut(&mut self, name: &str) -> &mut EnvironmentStatus {
        let index = match self.environments.iter().position(|e| e.name == name) {
            Some(index) => index,
            None => {
                self.environments.push(EnvironmentStatus {
                    name: name.to_owned(),
                    desired_from: DesiredFrom::Nothing,
                    desired_grants: 0,
                    last_success_at: None,
                    last_sync: None,
                });
                self.environments.len() - 1
            }
        };
        &mut self.environments[index]
    }

    /// Keeps only the environments named, after a config change.
    pub fn retain_environments(&mut self, names: &[String]) {
        self.environments.retain(|env| names.contains(&env.name));
    }

    /// Records that a sync in which every environment ran has finished.
    pub fn mark_good_sync(&mut self) {
        self.had_good_sync = true;
    }

    /// Decides readiness from what the status holds.
    pub fn update_readiness(&mut self) {
        let failed = self.environments.iter().find_map(|env| {
            let sync = env.last_sync.as_ref()?;
            let error = sync.error.as_ref()?;
            Some(format!("environment {}: {error}", env.name))
        });
        let reason = if !self.desired_state.valid {
            let first = self.desired_state.errors.first().cloned();
            Some(format!(
                "the desired state is invalid: {}",
                first.unwrap_or_default()
            ))
        } else if let Some(failed) = failed {
            Some(format!("the last sync failed: {failed}"))
        } else if !self.had_good_sync {
            Some("no sync has finished yet".to_owned())
        } else {
            None
        };
        self.ready = reason.is_none();
        self.not_ready = reason;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced(status: &mut Status, error: Option<&str>) {
        let mut report = EnvironmentReport::failed("Production", String::new());
        report.error = error.map(str::to_owned);
        let sync = EnvironmentSync::new("run", Timestamp::now(), 0.1, &report, false);
        status.environment_mut("Production").last_sync = Some(sync);
    }

    #[test]
    fn ready_only_after_a_good_sync_with_a_valid_desired_state() {
        let mut status = Status::new("grantsync.yaml".into(), Timestamp::now());
        status.desired_state.valid = true;
        status.update_readiness();
        assert!(!status.ready);

        synced(&mut status, None);
        status.mark_good_sync();
        status.update_readiness();
        assert!(status.ready, "{:?}", status.not_ready);

        status.desired_state.valid = false;
        status.desired_state.errors = vec!["access/eng.yaml:3:5: unknown field".into()];
        status.update_readiness();
        assert!(!status.ready);
        assert!(
            status
                .not_ready
                .as_deref()
                .unwrap()
                .contains("access/eng.yaml:3:5"),
        );
    }

    #[test]
    fn an_unreachable_service_makes_the_daemon_not_ready() {
        let mut status = Status::new("grantsync.yaml".into(), Timestamp::now());
        status.desired_state.valid = true;
        status.mark_good_sync();
        synced(&mut status, Some("connection refused"));
        status.update_readiness();
        assert!(!status.ready);
        assert_eq!(
            status.not_ready.as_deref(),
            Some("the last sync failed: environment Production: connection refused")
        );
    }
}
